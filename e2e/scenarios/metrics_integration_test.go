//go:build integration

package scenarios

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// restoreDone is the restore's final report line: its time (the RTO) and
// the bytes it read.
var restoreDone = regexp.MustCompile(`done in (\S+) \(RTO\): .*, ([0-9.]+) (B|KiB|MiB|GiB|TiB)\s*$`)

// logMetrics logs one e2e-metric line per backup and restore that a Job's
// output reports, for the table of `make e2e` (e2e/cmd/e2e-report): the
// backup's "backup complete" log record (bytes, elapsed), the restore's
// final report line.
func logMetrics(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") {
			var rec struct {
				Msg     string `json:"msg"`
				Bytes   int64  `json:"bytes"`
				Elapsed string `json:"elapsed"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "backup complete" {
				continue
			}
			if d, err := time.ParseDuration(rec.Elapsed); err == nil {
				t.Logf("e2e-metric kind=backup bytes=%d seconds=%.3f", rec.Bytes, d.Seconds())
			}
			continue
		}
		if m := restoreDone.FindStringSubmatch(line); m != nil {
			d, err := time.ParseDuration(m[1])
			n, err2 := strconv.ParseFloat(m[2], 64)
			if err != nil || err2 != nil {
				continue
			}
			// The report rounds to 0.1 of the unit: close enough for a rate.
			scale := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[3]]
			t.Logf("e2e-metric kind=restore bytes=%d seconds=%.3f", int64(n*scale), d.Seconds())
		}
	}
}
