package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/storage"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version prints the version", args: []string{"version"}, wantCode: cli.ExitOK, wantStdout: "qbackup "},
		{name: "help exits zero and lists exit codes", args: []string{"--help"}, wantCode: cli.ExitOK, wantStdout: "3 lock held"},
		{name: "an unknown command is a usage error", args: []string{"bogus"}, wantCode: cli.ExitUsage, wantStderr: "unexpected argument bogus"},
		{name: "a bad enum value is a usage error", args: []string{"--log-level=loud", "version"}, wantCode: cli.ExitUsage, wantStderr: "--log-level"},
		{name: "a malformed storage URL is a usage error", args: []string{"--log-format=text", "list", "--storage=backups/prod"}, wantCode: cli.ExitUsage, wantStderr: `storage URL "backups/prod"`},
		{name: "a negative number of S3 attempts is a usage error", args: []string{"--log-format=text", "list", "--storage=s3://bucket/p", "--s3-max-attempts=-1"}, wantCode: cli.ExitUsage, wantStderr: "--s3-max-attempts -1"},
		{name: "an S3 URL without a bucket is a usage error", args: []string{"--log-format=text", "list", "--storage=s3:///prod"}, wantCode: cli.ExitUsage, wantStderr: "no bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.wantStdout)
			}
			if !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tt.wantStderr)
			}
		})
	}
}

func TestRejectedCredentialsAndMissingBucketsAreInputErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"a bucket that does not exist", storage.ErrBucketNotFound},
		{"S3 credentials the server rejects", storage.ErrAccessDenied},
		{"a Qdrant API key the peer rejects", qdrant.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("open storage: %w", tt.err)
			if got := cli.ExitCode(context.Background(), err); got != cli.ExitUsage {
				t.Fatalf("exit code %d, want %d", got, cli.ExitUsage)
			}
		})
	}
}

func TestAnExplicitZeroOrphanGraceMeansNone(t *testing.T) {
	env := &runEnv{}
	if got := (retentionFlags{OrphanGrace: 0}).pruneOptions("prod", false, env).OrphanGrace; got != prune.NoOrphanGrace {
		t.Fatalf("--orphan-grace=0 gives grace %v, want none", got)
	}
	if got := (retentionFlags{OrphanGrace: time.Hour}).pruneOptions("prod", false, env).OrphanGrace; got != time.Hour {
		t.Fatalf("--orphan-grace=1h gives grace %v", got)
	}
}
