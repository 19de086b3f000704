package qdrant

import (
	"strings"
	"testing"
)

// TestSimReshardingGateAndRefusal: telemetry reports
// cluster.resharding_enabled from 1.17 (false on open-source Qdrant) and
// not before; start_resharding is refused with Qdrant's message and the
// collection reports no resharding.
func TestSimReshardingGateAndRefusal(t *testing.T) {
	for _, tc := range []struct {
		version string
		known   bool
	}{{"1.15.0", false}, {"1.19.0", true}} {
		t.Run(tc.version, func(t *testing.T) {
			sim, clients := simCluster(t, tc.version, 2)
			c := clients[0]
			on, known, err := c.ReshardingEnabled(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if on || known != tc.known {
				t.Errorf("ReshardingEnabled = %v, known %v; want false, %v", on, known, tc.known)
			}
			loadPoints(t, sim, c, 10)
			err = c.ClusterOperation(ctx(t), "docs", map[string]any{"start_resharding": map[string]any{"direction": ReshardUp}})
			if err == nil || !strings.Contains(err.Error(), "resharding is only supported in Qdrant Cloud") {
				t.Errorf("start_resharding: %v", err)
			}
			cc, err := c.CollectionCluster(ctx(t), "docs")
			if err != nil {
				t.Fatal(err)
			}
			if ops, err := cc.Resharding(); err != nil || len(ops) != 0 {
				t.Errorf("resharding operations %v, %v", ops, err)
			}
		})
	}
}
