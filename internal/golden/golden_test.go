package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder stands in for the test whose output is checked, so that a
// mismatch can be seen to fail it.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "out.txt")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("pinned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		got  string
		fail bool
	}{{"pinned\n", false}, {"pinned", true}, {"other\n", true}} {
		r := &recorder{TB: t}
		CheckString(r, path, tt.got)
		if r.failed != tt.fail {
			t.Errorf("Check(%q): failed %v, want %v", tt.got, r.failed, tt.fail)
		}
	}
	r := &recorder{TB: t}
	Check(r, filepath.Join(t.TempDir(), "missing"), []byte("x"))
	if !r.failed {
		t.Error("a missing golden file passed")
	}
}
