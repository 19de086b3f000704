package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/qbackup/qbackup/internal/cli"
)

// flagDefaults maps every flag of every qbackup command to its default as
// --help shows it.
func flagDefaults(t *testing.T) map[string]string {
	t.Helper()
	parser, err := kong.New(&app{}, kong.Name("qbackup"), defaultVars())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if prev, ok := out[f.Name]; ok && prev != f.Default {
				t.Errorf("--%s has default %q in one command and %q in another", f.Name, prev, f.Default)
			}
			out[f.Name] = f.Default
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
	return out
}

// TestREADMEDefaultsMatchTheFlags reads the README's configuration table
// and checks every default it states against the flag's own default: the
// two were written separately and drifted before.
func TestREADMEDefaultsMatchTheFlags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defaults := flagDefaults(t)
	flagRe := regexp.MustCompile("`(--[a-z0-9-]+(?:/-[a-z]+)*)`")
	// Words the README uses for defaults that are not flag values.
	described := map[string]bool{"": true, "AWS": true, "off": true, "own namespace": true, "recorded": true}
	checked := 0
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `--") {
			continue
		}
		var flags []string
		for _, m := range flagRe.FindAllStringSubmatch(cells[0], -1) {
			// --keep-last/-daily/-weekly/-monthly
			parts := strings.Split(m[1], "/-")
			stem := parts[0][:strings.LastIndex(parts[0], "-")+1]
			flags = append(flags, parts[0])
			for _, p := range parts[1:] {
				flags = append(flags, stem+p)
			}
		}
		vals := strings.Split(cells[2], ", ")
		for i, f := range flags {
			v := vals[0]
			if len(vals) == len(flags) {
				v = vals[i]
			}
			v = strings.Trim(strings.TrimSpace(v), "`")
			if described[v] {
				continue
			}
			got, ok := defaults[strings.TrimPrefix(f, "--")]
			if !ok {
				t.Errorf("README documents %s, which no command has", f)
				continue
			}
			if got != v {
				t.Errorf("README says %s defaults to %q, --help says %q", f, v, got)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d defaults checked: is the README table still there?", checked)
	}
}

// TestHelpNamesTheSecrets checks that every command that reads a secret
// says which variables hold it: secrets are never flags, so the flag list
// alone would not mention them.
func TestHelpNamesTheSecrets(t *testing.T) {
	tests := []struct {
		cmd  []string
		want []string
	}{
		{[]string{"backup"}, []string{"QBACKUP_QDRANT_API_KEY", "QBACKUP_CATALOG_DSN", "AWS_ACCESS_KEY_ID", "_FILE"}},
		{[]string{"restore"}, []string{"QBACKUP_QDRANT_API_KEY", "QBACKUP_CATALOG_DSN", "AWS_SECRET_ACCESS_KEY"}},
		{[]string{"list"}, []string{"QBACKUP_CATALOG_DSN", "AWS_ACCESS_KEY_ID"}},
		{[]string{"describe"}, []string{"QBACKUP_CATALOG_DSN", "AWS_ACCESS_KEY_ID"}},
		{[]string{"verify"}, []string{"QBACKUP_CATALOG_DSN", "AWS_ACCESS_KEY_ID"}},
		{[]string{"prune"}, []string{"QBACKUP_CATALOG_DSN", "AWS_ACCESS_KEY_ID"}},
		{[]string{"catalog", "sync"}, []string{"QBACKUP_CATALOG_DSN", "AWS_ACCESS_KEY_ID"}},
		{[]string{"catalog", "migrate"}, []string{"QBACKUP_CATALOG_DSN"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cmd, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), append(tt.cmd, "--help"), &out, &errOut); code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("--help does not name %s:\n%s", w, out.String())
				}
			}
		})
	}
}
