package restore

import (
	"errors"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/config"
)

func TestSamePlanOptions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		published *PlanOptions
		mine      PlanOptions
		want      []string // each difference named; none: accepted
	}{
		{name: "a plan from before the options were published", published: nil, mine: PlanOptions{Overwrite: true}},
		{name: "equal", published: &PlanOptions{Shards: 4, Collections: []string{"a", "b"}}, mine: PlanOptions{Shards: 4, Collections: []string{"a", "b"}}},
		{name: "collections in another order", published: &PlanOptions{Collections: []string{"b", "a"}}, mine: PlanOptions{Collections: []string{"a", "b"}}},
		{name: "auto strategy given or left out", published: &PlanOptions{Strategy: StrategyAuto, Rename: Rename{Map: map[string]string{}}}, mine: PlanOptions{}},
		{
			name: "shards and target node", published: &PlanOptions{AutoShards: true}, mine: PlanOptions{Shards: 6, TargetNode: "qdrant-0"},
			want: []string{`--target-node none, this attempt's "qdrant-0"`, "--shards auto, this attempt's 6"},
		},
		{
			name: "rename and replication factor", published: &PlanOptions{Rename: Rename{Suffix: "_drill"}}, mine: PlanOptions{ReplicationFactor: 2, Rename: Rename{Map: map[string]string{"a": "b"}}},
			want: []string{"--replication-factor 0, this attempt's 2", "--rename _drill, this attempt's a=b"},
		},
		{
			name: "strategy", published: &PlanOptions{Strategy: StrategyDirect}, mine: PlanOptions{},
			want: []string{"--strategy direct, this attempt's auto"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := samePlanOptions("job-uid", tc.published, tc.mine)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, config.ErrInvalidInput) {
				t.Fatalf("error %v, want invalid input", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "set job-uid") || !strings.Contains(err.Error(), "new set id") {
				t.Errorf("error %q names neither the set nor what to do", err)
			}
		})
	}
}
