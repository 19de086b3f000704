package cli

import (
	"bytes"
	"strings"
	"testing"
)

type parseGrammar struct {
	Backup struct {
		Compression string `enum:"none,zstd" default:"none" env:"QBACKUP_COMPRESSION"`
		Concurrency int    `default:"1" env:"QBACKUP_CONCURRENCY"`
		Plain       string `enum:"a,b" default:"a"`
	} `cmd:""`
}

func TestParseErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		// kong's enum message names the flag only: the variable is added.
		{"enum from the environment", []string{"backup"}, map[string]string{"QBACKUP_COMPRESSION": "lz4"},
			`--compression must be one of "none","zstd" but got "lz4" (QBACKUP_COMPRESSION) (see qbackup backup --help)`},
		{"enum from a flag", []string{"backup", "--compression=lz4"}, nil, `but got "lz4" (QBACKUP_COMPRESSION) (see`},
		// kong already says where the value came from: nothing added.
		{"int from the environment", []string{"backup"}, map[string]string{"QBACKUP_CONCURRENCY": "x"},
			`(from envar QBACKUP_CONCURRENCY="x") (see qbackup backup --help)`},
		{"a flag without a variable", []string{"backup", "--plain=c"}, nil, `but got "c" (see qbackup backup --help)`},
		// No command chosen yet: the program's help.
		{"an unknown command", []string{"bakup"}, nil, `(see qbackup --help)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var g parseGrammar
			var out, errOut bytes.Buffer
			_, code, ok := Parse(&g, Program{Name: "qbackup", Description: "test", Stdout: &out, Stderr: &errOut}, tc.args)
			if ok || code != ExitUsage {
				t.Fatalf("ok %v, code %d; want a usage error", ok, code)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.want)
			}
		})
	}
}
