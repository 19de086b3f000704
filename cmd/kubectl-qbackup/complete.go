package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/kube"
)

// completeCommand is the hidden command shells and kubectl call for
// candidates. It speaks cobra's protocol, which kubectl's plugin
// completion expects from the kubectl_complete-qbackup helper: the
// arguments typed so far, the word under the cursor last (empty after a
// space); out come the candidates, one a line ("value\tdescription"),
// then ":<directive>".
const completeCommand = "__complete"

// Directives of cobra's completion protocol (cobra.ShellCompDirective).
const (
	directiveDefault   = 0  // the shell may complete file names
	directiveError     = 1  // completion failed; offer nothing
	directiveNoFile    = 4  // no file names: the candidates are all there is
	directiveKeepOrder = 32 // keep the candidates' order (newest first)
)

// completionTimeout bounds the API and storage reads one Tab may cost:
// a shell that hangs is worse than one that offers nothing.
const completionTimeout = 5 * time.Second

// pathFlags take a file: the shell completes file names.
var pathFlags = map[string]bool{"kubeconfig": true, "certificate-authority": true, "client-certificate": true, "client-key": true}

// completer answers __complete. client connects with the kubectl flags
// typed so far; it is a field so tests can put a fake cluster behind it.
type completer struct {
	client func(kubeFlags) (kubernetes.Interface, string, error)
	// env looks up environment variables (QBACKUP_STORAGE, ...), as kong
	// does when it parses a command.
	env func(string) (string, bool)
}

func newCompleter() *completer {
	return &completer{client: kubeFlags.client, env: os.LookupEnv}
}

// typed is what the words before the cursor say: the command, the flags
// given (by long name) and the positional arguments.
type typed struct {
	node  *kong.Node
	flags map[string][]string
	args  []string
	// pending is the flag whose value is the word under the cursor
	// (`--target-node <TAB>`).
	pending *kong.Flag
}

// complete writes the candidates for args (the last one being the word
// under the cursor) and the directive.
func (c *completer) complete(ctx context.Context, args []string, stdout io.Writer) {
	cands, directive := c.candidates(ctx, args)
	for _, s := range cands {
		fmt.Fprintln(stdout, s)
	}
	fmt.Fprintf(stdout, ":%d\n", directive)
}

func (c *completer) candidates(ctx context.Context, args []string) ([]string, int) {
	parser, err := kong.New(&app{}, kong.Name("kubectl qbackup"))
	if err != nil {
		return nil, directiveError
	}
	cur := ""
	if len(args) > 0 {
		cur, args = args[len(args)-1], args[:len(args)-1]
	}
	t := parse(parser.Model.Node, args)
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()

	if t.pending != nil {
		return c.flagValues(ctx, t, t.pending, "", cur)
	}
	if strings.HasPrefix(cur, "--") && strings.Contains(cur, "=") {
		name, val, _ := strings.Cut(cur[2:], "=")
		if f := findFlag(t.node, name); f != nil && !f.IsBool() {
			return c.flagValues(ctx, t, f, "--"+name+"=", val)
		}
		return nil, directiveNoFile
	}
	if strings.HasPrefix(cur, "-") {
		return flagNames(t.node, cur), directiveNoFile
	}
	if cmds := subcommands(t.node, cur); len(cmds) > 0 || len(t.node.Positional) == 0 {
		return cmds, directiveNoFile
	}
	if len(t.args) >= len(t.node.Positional) {
		return nil, directiveNoFile
	}
	return c.argValues(ctx, t, t.node.Positional[len(t.args)], cur)
}

// parse walks the words as kong would: flags (with their values) of the
// command reached so far or its parents, subcommands, then positional
// arguments. Unknown flags are skipped: completion must not fail on a
// typo earlier on the line.
func parse(root *kong.Node, words []string) typed {
	t := typed{node: root, flags: map[string][]string{}}
	dashdash := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" && !dashdash {
			dashdash = true
			continue
		}
		if !dashdash && len(w) > 1 && w[0] == '-' {
			name, val, hasVal := "", "", false
			var f *kong.Flag
			if strings.HasPrefix(w, "--") {
				name, val, hasVal = strings.Cut(w[2:], "=")
				f = findFlag(t.node, name)
			} else {
				f = findShort(t.node, rune(w[1]))
				if len(w) > 2 {
					val, hasVal = strings.TrimPrefix(w[2:], "="), true
				}
			}
			if f == nil {
				continue
			}
			if !hasVal && !f.IsBool() && !f.IsCounter() {
				if i+1 == len(words) {
					t.pending = f
					break
				}
				i++
				val = words[i]
			}
			t.flags[f.Name] = append(t.flags[f.Name], val)
			continue
		}
		if len(t.args) == 0 {
			if child := findChild(t.node, w); child != nil {
				t.node = child
				continue
			}
		}
		t.args = append(t.args, w)
	}
	return t
}

func findChild(n *kong.Node, name string) *kong.Node {
	for _, c := range n.Children {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

// visibleFlags are the flags usable at n: its own and its parents'.
func visibleFlags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for ; n != nil; n = n.Parent {
		out = append(out, n.Flags...)
	}
	return out
}

func findFlag(n *kong.Node, name string) *kong.Flag {
	for _, f := range visibleFlags(n) {
		if f.Name == name || slices.Contains(f.Aliases, name) {
			return f
		}
	}
	return nil
}

func findShort(n *kong.Node, r rune) *kong.Flag {
	for _, f := range visibleFlags(n) {
		if f.Short == r {
			return f
		}
	}
	return nil
}

// flagNames completes a word that starts with a dash: the long names,
// and the short ones too while the word is a single dash.
func flagNames(n *kong.Node, cur string) []string {
	var out []string
	for _, f := range visibleFlags(n) {
		if f.Hidden || f.Name == "help" {
			continue
		}
		if long := "--" + f.Name; strings.HasPrefix(long, cur) {
			out = append(out, long+"\t"+oneLineHelp(f.Help))
		}
		if f.Short != 0 && cur == "-" {
			out = append(out, "-"+string(f.Short)+"\t"+oneLineHelp(f.Help))
		}
	}
	sort.Strings(out)
	return out
}

func subcommands(n *kong.Node, cur string) []string {
	var out []string
	for _, c := range n.Children {
		if !c.Hidden && strings.HasPrefix(c.Name, cur) {
			out = append(out, c.Name+"\t"+oneLineHelp(c.Help))
		}
	}
	return out
}

// oneLineHelp is a help text on one line, for the description shells
// show beside a candidate.
func oneLineHelp(s string) string {
	return strings.TrimSuffix(strings.Join(strings.Fields(s), " "), ".")
}

// withPrefix keeps the candidates that start with cur, each prefixed by
// prefix (the "--flag=" of a `--flag=value` word).
func withPrefix(cands []string, prefix, cur string) []string {
	var out []string
	for _, s := range cands {
		if strings.HasPrefix(s, cur) {
			out = append(out, prefix+s)
		}
	}
	return out
}

// flagValues completes the value of flag f.
func (c *completer) flagValues(ctx context.Context, t typed, f *kong.Flag, prefix, cur string) ([]string, int) {
	if pathFlags[f.Name] {
		return nil, directiveDefault
	}
	if f.Enum != "" {
		return withPrefix(nonEmpty(f.EnumSlice()), prefix, cur), directiveNoFile
	}
	var vals []string
	switch f.Name {
	case "context", "cluster", "user":
		vals = kubeconfigNames(c.kubeFlags(t), f.Name)
	case "namespace":
		vals = c.namespaces(ctx, t)
	case "target-node":
		vals = c.qdrantPods(ctx, t)
	}
	return withPrefix(vals, prefix, cur), directiveNoFile
}

// argValues completes a positional argument, by command and name.
func (c *completer) argValues(ctx context.Context, t typed, arg *kong.Value, cur string) ([]string, int) {
	if arg.Enum != "" {
		return withPrefix(nonEmpty(arg.EnumSlice()), "", cur), directiveNoFile
	}
	switch t.node.Name + " " + arg.Name {
	case "restore backup", "verify backup", "describe backup":
		return withPrefix(append([]string{"latest"}, c.backupIDs(ctx, t)...), "", cur), directiveNoFile | directiveKeepOrder
	case "logs job":
		return withPrefix(append([]string{"latest"}, c.jobNames(ctx, t)...), "", cur), directiveNoFile | directiveKeepOrder
	}
	return nil, directiveNoFile
}

func nonEmpty(s []string) []string {
	return slices.DeleteFunc(s, func(x string) bool { return x == "" })
}

// kubeFlags are the kubectl connection flags typed so far.
func (c *completer) kubeFlags(t typed) kubeFlags {
	var k kubeFlags
	setFields(reflect.ValueOf(&k).Elem(), t.flags, nil)
	return k
}

// setFields sets the fields of the struct v whose kong name was typed
// (flags, by long name) or, for the fields with an env tag, is in the
// environment (lookupEnv may be nil). Values that do not parse are left
// out: a half-typed line must still complete.
func setFields(v reflect.Value, flags map[string][]string, lookupEnv func(string) (string, bool)) {
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		vals, ok := flags[sf.Tag.Get("name")]
		if !ok && lookupEnv != nil && sf.Tag.Get("env") != "" {
			if x, found := lookupEnv(sf.Tag.Get("env")); found {
				vals, ok = []string{x}, true
			}
		}
		if !ok || len(vals) == 0 {
			continue
		}
		last := vals[len(vals)-1]
		f := v.Field(i)
		switch p := f.Addr().Interface().(type) {
		case *string:
			*p = last
		case *[]string:
			*p = vals
		case *bool:
			*p = last == "" || last == "true"
		case *time.Duration:
			*p, _ = time.ParseDuration(last)
		case **string:
			*p = &last
		case **bool:
			b := last == "" || last == "true"
			*p = &b
		case **int:
			if n, err := strconv.Atoi(last); err == nil {
				*p = &n
			}
		}
	}
}

// kubeconfigNames lists the contexts, clusters or users of the
// kubeconfig the flags load.
func kubeconfigNames(k kubeFlags, what string) []string {
	raw, err := k.clientConfig().RawConfig()
	if err != nil {
		return nil
	}
	var names []string
	switch what {
	case "context":
		for n := range raw.Contexts {
			names = append(names, n)
		}
	case "cluster":
		for n := range raw.Clusters {
			names = append(names, n)
		}
	case "user":
		for n := range raw.AuthInfos {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func (c *completer) namespaces(ctx context.Context, t typed) []string {
	cs, _, err := c.client(c.kubeFlags(t))
	if err != nil {
		return nil
	}
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range list.Items {
		out = append(out, n.Name)
	}
	return out
}

// qdrantPods are the names of the Qdrant pods --target-node can name:
// those of -l, else of the installation's selector.
func (c *completer) qdrantPods(ctx context.Context, t typed) []string {
	cs, ns, err := c.client(c.kubeFlags(t))
	if err != nil {
		return nil
	}
	var r restoreCmd
	setFields(reflect.ValueOf(&r).Elem(), t.flags, nil)
	in, _ := kube.ReadInstalled(ctx, cs, ns)
	nodes, err := kube.CountNodes(ctx, cs, ns, r.selector(ctx, cs, ns, in))
	if err != nil {
		return nil
	}
	out := slices.Clone(nodes.Ready)
	sort.Strings(out)
	return out
}

// jobNames are the installation's Jobs, newest first, without the
// previews' query Jobs (gone within a minute).
func (c *completer) jobNames(ctx context.Context, t typed) []string {
	cs, ns, err := c.client(c.kubeFlags(t))
	if err != nil {
		return nil
	}
	jobs, err := kube.ListJobs(ctx, cs, ns)
	if err != nil {
		return nil
	}
	var out []string
	for _, j := range jobs {
		if j.IsQuery() {
			continue
		}
		out = append(out, j.Job+"\t"+j.Component+", "+j.Phase)
	}
	return out
}

// backupIDs are the complete sets `list` would show, newest first, read
// where list reads them: the summaries in the namespace, else the
// installation's storage (or the flags').
func (c *completer) backupIDs(ctx context.Context, t typed) []string {
	var sf storeFlags
	setFields(reflect.ValueOf(&sf).Elem(), t.flags, c.env)
	k := c.kubeFlags(t)
	all, _, err := listBackups(ctx, sf, func() (kubernetes.Interface, string, error) { return c.client(k) }, false, io.Discard)
	if err != nil {
		return nil
	}
	var out []string
	for _, b := range all {
		if b.Status == catalog.StatusComplete {
			out = append(out, b.BackupID)
		}
	}
	return out
}
