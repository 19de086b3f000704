// Command e2e-report reads `go test -json` output on stdin and ends with a
// table: each top-level test (scenario), its result and duration, and for
// scenarios that ran backups or restores the bytes, the throughput and the
// restore time (RTO) they logged as metric lines (see metricLine). It
// prints the output of failed tests as `go test` does, and exits 1 when a
// test failed or the input holds no test.
//
//	go test -json -tags integration ./e2e/scenarios/ | go run ./e2e/cmd/e2e-report
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-report:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// metricLine is what a scenario logs per backup or restore it ran:
// "e2e-metric kind=backup bytes=96768 seconds=8.281".
var metricLine = regexp.MustCompile(`e2e-metric kind=(backup|restore) bytes=(\d+) seconds=([0-9.]+)`)

// scenario is one top-level test with its subtests folded in.
type scenario struct {
	name    string
	result  string // PASS, FAIL, SKIP, or RUNNING when the run ended first
	elapsed time.Duration
	output  []string
	// backup and restore totals over the scenario's runs.
	backupBytes, restoreBytes     int64
	backupSeconds, restoreSeconds float64
	restores                      int
	rto                           float64 // the longest restore
}

func report(in io.Reader, out io.Writer) (bool, error) {
	byName := map[string]*scenario{}
	var order []string
	// Output outside any test (build errors, a panic's trace, the final
	// FAIL line), shown only when the package failed.
	var pkgOutput []string
	pkgFailed := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Action == "" {
			pkgOutput = append(pkgOutput, sc.Text()+"\n")
			continue
		}
		if ev.Test == "" {
			switch ev.Action {
			case "fail":
				pkgFailed = true
			case "output", "build-output":
				pkgOutput = append(pkgOutput, ev.Output)
			}
			continue
		}
		top, _, sub := strings.Cut(ev.Test, "/")
		s := byName[top]
		if s == nil {
			s = &scenario{name: top, result: "RUNNING"}
			byName[top] = s
			order = append(order, top)
		}
		switch ev.Action {
		case "output":
			s.output = append(s.output, ev.Output)
			if m := metricLine.FindStringSubmatch(ev.Output); m != nil {
				s.addMetric(m[1], m[2], m[3])
			}
		case "pass", "fail", "skip":
			if d := time.Duration(ev.Elapsed * float64(time.Second)); d > s.elapsed {
				s.elapsed = d
			}
			switch {
			case ev.Action == "fail":
				s.result = "FAIL"
			case !sub && s.result != "FAIL":
				s.result = strings.ToUpper(ev.Action)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return true, fmt.Errorf("read go test -json: %w", err)
	}
	failed := pkgFailed
	for _, name := range order {
		if s := byName[name]; s.result == "FAIL" || s.result == "RUNNING" {
			failed = true
			fmt.Fprintf(out, "=== %s %s\n%s", s.result, s.name, strings.Join(s.output, ""))
		}
	}
	if pkgFailed {
		fmt.Fprint(out, strings.Join(pkgOutput, ""))
	}
	if len(order) == 0 {
		fmt.Fprintln(out, "no test ran")
		return true, nil
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i] < order[j] })
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRESULT\tDURATION\tBACKUP BYTES\tBACKUP MiB/s\tRESTORE BYTES\tRESTORE MiB/s\tRTO")
	var total time.Duration
	counts := map[string]int{}
	for _, name := range order {
		s := byName[name]
		counts[s.result]++
		total = max(total, s.elapsed)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.name, s.result, s.elapsed.Round(10*time.Millisecond),
			bytesCol(s.backupBytes, s.backupSeconds), rate(s.backupBytes, s.backupSeconds),
			bytesCol(s.restoreBytes, s.restoreSeconds), rate(s.restoreBytes, s.restoreSeconds), rtoCol(s))
	}
	if err := tw.Flush(); err != nil {
		return true, err
	}
	fmt.Fprintf(out, "\n%d scenarios: %d passed, %d failed, %d skipped", len(order), counts["PASS"], counts["FAIL"], counts["SKIP"])
	if n := counts["RUNNING"]; n > 0 {
		fmt.Fprintf(out, ", %d did not finish", n)
	}
	fmt.Fprintf(out, "; the longest took %s\n", total.Round(10*time.Millisecond))
	return failed, nil
}

func (s *scenario) addMetric(kind, bytes, seconds string) {
	b, _ := strconv.ParseInt(bytes, 10, 64)
	sec, _ := strconv.ParseFloat(seconds, 64)
	if kind == "backup" {
		s.backupBytes += b
		s.backupSeconds += sec
		return
	}
	s.restoreBytes += b
	s.restoreSeconds += sec
	s.restores++
	s.rto = max(s.rto, sec)
}

func bytesCol(b int64, sec float64) string {
	if sec == 0 {
		return "-"
	}
	return strconv.FormatInt(b, 10)
}

func rate(b int64, sec float64) string {
	if sec == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(b)/(1<<20)/sec)
}

func rtoCol(s *scenario) string {
	if s.restores == 0 {
		return "-"
	}
	return (time.Duration(s.rto * float64(time.Second))).Round(time.Millisecond).String()
}
