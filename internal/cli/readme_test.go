package cli

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEExitCodesMatchTheMapping keeps the README's exit-code table,
// which scripts are written against, identical to ExitCodes, which --help
// prints and ExitCode returns.
func TestREADMEExitCodesMatchTheMapping(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "**Exit codes**")
	if !ok {
		t.Fatal("README has no **Exit codes** section")
	}
	row := regexp.MustCompile(`^\| (\d+) \| (.+) \|$`)
	var got []ExitCodeDoc
	for _, line := range strings.Split(after, "\n")[1:] {
		line = strings.TrimSpace(line)
		if line == "" && len(got) > 0 {
			break
		}
		if m := row.FindStringSubmatch(line); m != nil {
			code, _ := strconv.Atoi(m[1])
			got = append(got, ExitCodeDoc{Code: code, Doc: m[2]})
		}
	}
	if len(got) != len(ExitCodes) {
		t.Fatalf("README lists %d exit codes, the mapping has %d: %+v", len(got), len(ExitCodes), got)
	}
	for i, want := range ExitCodes {
		if got[i].Code != want.Code || got[i].Doc != want.Doc {
			t.Errorf("README row %d is %d %q, want %d %q", i, got[i].Code, got[i].Doc, want.Code, want.Doc)
		}
		if !strings.Contains(ExitCodesHelp, strconv.Itoa(want.Code)+" "+want.Short) {
			t.Errorf("--help summary %q lacks %d %s", ExitCodesHelp, want.Code, want.Short)
		}
	}
}
