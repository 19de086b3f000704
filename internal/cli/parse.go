package cli

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/alecthomas/kong"
)

// exitRequest carries kong's own exit (after --help) out of the parser, so
// only main calls os.Exit.
type exitRequest int

// Program is what Parse tells kong about the binary.
type Program struct {
	// Name is the program's name as typed: "qbackup", "kubectl qbackup".
	Name string
	// Description heads the help; the exit codes follow it.
	Description    string
	Stdout, Stderr io.Writer
}

// Parse parses args into grammar, a kong command struct, with the settings
// both binaries share: the program's name, its description followed by
// the exit codes, compact help, and its streams. When kong exits by
// itself (--help) or the arguments are wrong, ok is false and code is
// what the program must exit with; a parse error has already been printed
// to stderr. opts add to the shared settings, e.g. the kong.Vars the
// grammar's tags interpolate.
func Parse(grammar any, p Program, args []string, opts ...kong.Option) (kctx *kong.Context, code int, ok bool) {
	name, stderr := p.Name, p.Stderr
	prog := strings.ReplaceAll(name, " ", "-")
	parser, err := kong.New(grammar, append([]kong.Option{
		kong.Name(name),
		kong.Description(p.Description + "\n\nExit codes: " + ExitCodesHelp),
		kong.Writers(p.Stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	}, opts...)...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return nil, ExitFailure, false
	}
	defer func() {
		if r := recover(); r != nil {
			e, isExit := r.(exitRequest)
			if !isExit {
				panic(r)
			}
			kctx, code, ok = nil, int(e), false
		}
	}()
	kctx, err = parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v%s (see %s --help)\n", prog, err, envHint(parser.Model.Node, err), helpPath(name, err))
		return nil, ExitUsage, false
	}
	return kctx, ExitOK, true
}

// flagInError is the flag a kong error starts with ("--compression must
// be one of ...").
var flagInError = regexp.MustCompile(`^--([a-z0-9][a-z0-9-]*)\b`)

// envHint names the environment variables of the flag a parse error is
// about, when kong's message does not: in a Job the value comes from a
// ConfigMap, whose key is what the user must fix.
func envHint(root *kong.Node, err error) string {
	msg := err.Error()
	m := flagInError.FindStringSubmatch(msg)
	if m == nil || strings.Contains(msg, "envar") {
		return ""
	}
	var envs []string
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.Name == m[1] && len(envs) == 0 {
				envs = f.Envs
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(root)
	if len(envs) == 0 {
		return ""
	}
	return " (" + strings.Join(envs, ", ") + ")"
}

// helpPath is the command whose help answers a parse error: the
// subcommand the arguments had selected when it failed ("qbackup
// restore"), whose help lists the flags and arguments the error is
// about, else the program.
func helpPath(name string, err error) string {
	var pe *kong.ParseError
	if !errors.As(err, &pe) || pe.Context == nil {
		return name
	}
	n := pe.Context.Selected()
	if n == nil || n.Type != kong.CommandNode {
		return name
	}
	return n.FullPath()
}
