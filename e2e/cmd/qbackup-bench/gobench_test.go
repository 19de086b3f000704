package main

import (
	"strings"
	"testing"
)

func TestControlPlaneGoalsFromGoBenchOutput(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/qbackup/qbackup/internal/restore
cpu: AMD EPYC
BenchmarkPlan/1000x12-onto-1-pods-2         	       3	 352345678 ns/op	         0.3523 goal-share	 1234 B/op	  12 allocs/op
BenchmarkPlan/1000x12-onto-6-pods-2         	       1	1200000000 ns/op	         1.200 goal-share
BenchmarkChooseReplicas-2   	  500	   2400000 ns/op	  100 B/op
PASS
pkg: github.com/qbackup/qbackup/internal/catalog
BenchmarkListBackups-2     	      20	  61000000 ns/op	         0.3050 goal-share
BenchmarkRecordLargeSet    	       2	 900000000 ns/op	         0.1800 goal-share
`
	figs, err := parseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 4 {
		t.Fatalf("%d figures, want the 4 with a goal-share: %+v", len(figs), figs)
	}
	goals := controlPlaneGoals(figs)
	want := []goal{
		{Goal: "control plane: plan a restore of 1,000 collections × 12 shards (1000x12-onto-1-pods)", Target: "≤ 1 s", Measured: "352.3 ms (0.35 of the goal)", Met: true},
		{Goal: "control plane: plan a restore of 1,000 collections × 12 shards (1000x12-onto-6-pods)", Target: "≤ 1 s", Measured: "1.20 s (1.20 of the goal)", Met: false},
		{Goal: "control plane: list 10,000 catalog rows (MariaDB)", Target: "≤ 200 ms", Measured: "61.0 ms (0.30 of the goal)", Met: true},
		{Goal: "control plane: record a 10,000-shard set in the catalog (MariaDB)", Target: "≤ 5 s", Measured: "900.0 ms (0.18 of the goal)", Met: true},
	}
	for i, g := range goals {
		if g != want[i] {
			t.Errorf("goal %d: %+v, want %+v", i, g, want[i])
		}
	}
}
