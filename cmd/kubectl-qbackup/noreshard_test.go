package main

import (
	"testing"

	"github.com/qbackup/qbackup/internal/kube"
)

// TestNoReshardKeepsTheRecordedCounts: --no-reshard wins over the
// installation's QBACKUP_SHARDS=auto and gives the Job --shards=keep;
// without it the installation's choice stands.
func TestNoReshardKeepsTheRecordedCounts(t *testing.T) {
	installed := &kube.Installed{Source: "configmap/qbackup-config", Values: map[string]string{"QBACKUP_SHARDS": "auto"}}
	for _, tc := range []struct {
		name      string
		cmd       restoreCmd
		wantFlag  string
		wantCount uint32
		wantAuto  bool
	}{
		{name: "the installation's auto", cmd: restoreCmd{}, wantFlag: "", wantAuto: true},
		{name: "--no-reshard", cmd: restoreCmd{NoReshard: true}, wantFlag: "keep"},
		{name: "--no-reshard --shards=keep", cmd: restoreCmd{NoReshard: true, Shards: "keep"}, wantFlag: "keep"},
		{name: "--shards=6", cmd: restoreCmd{Shards: "6"}, wantFlag: "6", wantCount: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cmd.shardsFlag(); got != tc.wantFlag {
				t.Errorf("the Job's --shards %q, want %q", got, tc.wantFlag)
			}
			n, auto, err := tc.cmd.shards(installed)
			if err != nil || n != tc.wantCount || auto != tc.wantAuto {
				t.Errorf("shards = %d, auto %t, %v; want %d, auto %t", n, auto, err, tc.wantCount, tc.wantAuto)
			}
		})
	}
}
