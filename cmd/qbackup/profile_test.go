package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/cli"
)

func TestCPUProfileEnv(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		path       string
		wantCode   int
		wantStderr string
		wantFile   bool
	}{
		{name: "a writable path gets a gzipped pprof profile", path: filepath.Join(dir, "cpu.pprof"), wantCode: cli.ExitOK, wantFile: true},
		{name: "an unwritable path is a usage error naming the variable", path: filepath.Join(dir, "missing", "cpu.pprof"), wantCode: cli.ExitUsage, wantStderr: cpuProfileEnv + ": cannot create the profile file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(cpuProfileEnv, tt.path)
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"--log-format=text", "version"}, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstderr: %s", code, tt.wantCode, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tt.wantStderr)
			}
			b, err := os.ReadFile(tt.path)
			switch {
			case !tt.wantFile && err == nil:
				t.Errorf("%s was created", tt.path)
			case tt.wantFile && err != nil:
				t.Fatal(err)
			case tt.wantFile && !bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
				// pprof writes gzip-compressed protobuf.
				t.Errorf("%s is not a pprof profile: % x", tt.path, b[:min(len(b), 8)])
			}
		})
	}
}
