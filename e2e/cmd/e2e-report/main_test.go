package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantFailed bool
		want       []string // regexps the output must match
		notWant    []string
	}{
		{
			name: "passing scenarios with metrics, subtests folded",
			in: `{"Action":"run","Package":"p","Test":"TestMission"}
{"Action":"output","Package":"p","Test":"TestMission","Output":"    x_test.go:1: e2e-metric kind=backup bytes=2097152 seconds=2.000\n"}
{"Action":"output","Package":"p","Test":"TestMission","Output":"    x_test.go:2: e2e-metric kind=restore bytes=1048576 seconds=4.000\n"}
{"Action":"output","Package":"p","Test":"TestMission","Output":"    x_test.go:3: e2e-metric kind=restore bytes=1048576 seconds=1.500\n"}
{"Action":"pass","Package":"p","Test":"TestMission","Elapsed":12.5}
{"Action":"run","Package":"p","Test":"TestKill"}
{"Action":"run","Package":"p","Test":"TestKill/SIGTERM"}
{"Action":"pass","Package":"p","Test":"TestKill/SIGTERM","Elapsed":30.25}
{"Action":"pass","Package":"p","Test":"TestKill","Elapsed":0}
{"Action":"pass","Package":"p","Elapsed":40}
`,
			want: []string{
				`(?m)^TestKill\s+PASS\s+30\.25s\s+-\s+-\s+-\s+-\s+-$`,
				`(?m)^TestMission\s+PASS\s+12\.5s\s+2097152\s+1\.00\s+2097152\s+0\.36\s+4s$`,
				`2 scenarios: 2 passed, 0 failed, 0 skipped; the longest took 30\.25s`,
			},
			notWant: []string{"e2e-metric"},
		},
		{
			name: "a failed subtest fails its scenario and shows its output",
			in: `{"Action":"run","Package":"p","Test":"TestBad"}
{"Action":"output","Package":"p","Test":"TestBad/case","Output":"    x_test.go:9: exit 0, want 2\n"}
{"Action":"fail","Package":"p","Test":"TestBad/case","Elapsed":1}
{"Action":"pass","Package":"p","Test":"TestBad","Elapsed":1}
{"Action":"fail","Package":"p","Elapsed":2}
`,
			wantFailed: true,
			want:       []string{`=== FAIL TestBad\n.*exit 0, want 2`, `(?m)^TestBad\s+FAIL\s`, `0 passed, 1 failed`},
		},
		{
			name: "a test cut short by a panic is reported as not finished",
			in: `{"Action":"run","Package":"p","Test":"TestHang"}
{"Action":"output","Package":"p","Output":"panic: test timed out after 1m0s\n"}
{"Action":"fail","Package":"p","Elapsed":60}
`,
			wantFailed: true,
			want:       []string{`(?m)^TestHang\s+RUNNING\s`, `panic: test timed out`, `1 did not finish`},
		},
		{name: "no test at all", in: "# p\nbuild failed\n", wantFailed: true, want: []string{"no test ran"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			failed, err := report(strings.NewReader(tt.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if failed != tt.wantFailed {
				t.Errorf("failed = %v, want %v", failed, tt.wantFailed)
			}
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(out.String()) {
					t.Errorf("output does not match %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output contains %q:\n%s", w, out.String())
				}
			}
		})
	}
}
