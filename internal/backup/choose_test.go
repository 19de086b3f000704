package backup

import (
	"fmt"
	"slices"
	"testing"
)

func rep(peer uint64, state string, points uint64) ReplicaInfo {
	return ReplicaInfo{PeerID: peer, State: state, PointsCount: points}
}

func shardOf(coll string, id uint32, rs ...ReplicaInfo) ShardReplicas {
	return ShardReplicas{Collection: coll, ShardID: id, Replicas: rs}
}

func TestChooseReplicas(t *testing.T) {
	inTransfer := rep(1, "Active", 5)
	inTransfer.InTransfer = true
	undiscovered := rep(9, "Active", 5)
	undiscovered.Unreachable = true
	conflicting := rep(2, "Active", 5)
	conflicting.Conflict = []string{"Dead"}

	cases := []struct {
		name        string
		shards      []ShardReplicas
		want        []string // "collection/shard@peer"
		unavailable []string // "collection/shard"
	}{
		{
			name:   "the only Active replica is chosen over Partial, Dead and Initializing ones",
			shards: []ShardReplicas{shardOf("c", 0, rep(1, "Partial", 9), rep(2, "Dead", 9), rep(3, "Active", 9), rep(4, "Initializing", 0))},
			want:   []string{"c/0@3"},
		},
		{
			name: "Recovery, ManualRecovery, ActiveRead, Resharding and Listener replicas are never chosen",
			shards: []ShardReplicas{shardOf("c", 0, rep(1, "Recovery", 1), rep(2, "ManualRecovery", 1), rep(3, "ActiveRead", 1),
				rep(4, "Resharding", 1), rep(5, "Listener", 1), rep(6, "PartialSnapshot", 1))},
			unavailable: []string{"c/0"},
		},
		{
			name:   "a ReshardingScaleDown replica is acceptable",
			shards: []ShardReplicas{shardOf("c", 0, rep(1, "ReshardingScaleDown", 3), rep(2, "Dead", 3))},
			want:   []string{"c/0@1"},
		},
		{
			name:   "Active is preferred to ReshardingScaleDown on equally loaded peers",
			shards: []ShardReplicas{shardOf("c", 0, rep(1, "ReshardingScaleDown", 3), rep(2, "Active", 3))},
			want:   []string{"c/0@2"},
		},
		{
			name:   "a replica in a transfer is not chosen",
			shards: []ShardReplicas{shardOf("c", 0, inTransfer, rep(2, "Active", 5))},
			want:   []string{"c/0@2"},
		},
		{
			name:        "a replica on an undiscovered peer is not chosen",
			shards:      []ShardReplicas{shardOf("c", 0, undiscovered)},
			unavailable: []string{"c/0"},
		},
		{
			name:   "a replica the peers disagree on is not chosen",
			shards: []ShardReplicas{shardOf("c", 0, conflicting, rep(3, "Active", 5))},
			want:   []string{"c/0@3"},
		},
		{
			name:        "a shard without replicas is unavailable",
			shards:      []ShardReplicas{shardOf("c", 0)},
			unavailable: []string{"c/0"},
		},
		{
			name: "shards are spread so every peer gets one when it can",
			shards: []ShardReplicas{
				shardOf("c", 0, rep(1, "Active", 10), rep(2, "Active", 10)),
				shardOf("c", 1, rep(2, "Active", 20), rep(3, "Active", 20)),
				shardOf("c", 2, rep(3, "Active", 30), rep(1, "Active", 30)),
			},
			want: []string{"c/0@2", "c/1@3", "c/2@1"},
		},
		{
			name: "the largest shards are placed first, on the least loaded peers",
			shards: []ShardReplicas{
				shardOf("a", 0, rep(1, "Active", 1), rep(2, "Active", 1)),
				shardOf("a", 1, rep(1, "Active", 1), rep(2, "Active", 1)),
				shardOf("b", 0, rep(1, "Active", 100), rep(2, "Active", 100)),
			},
			// b/0 goes to peer 1; both small shards then fit on peer 2.
			want: []string{"a/0@2", "a/1@2", "b/0@1"},
		},
		{
			name: "across collections the work evens out",
			shards: []ShardReplicas{
				shardOf("a", 0, rep(1, "Active", 0), rep(2, "Active", 0)),
				shardOf("a", 1, rep(1, "Active", 0), rep(2, "Active", 0)),
				shardOf("b", 0, rep(1, "Active", 0), rep(2, "Active", 0)),
				shardOf("b", 1, rep(1, "Active", 0), rep(2, "Active", 0)),
			},
			want: []string{"a/0@1", "a/1@2", "b/0@1", "b/1@2"},
		},
		{
			name: "available shards are still chosen when another one is not",
			shards: []ShardReplicas{
				shardOf("c", 0, rep(1, "Dead", 0)),
				shardOf("c", 1, rep(1, "Active", 0)),
			},
			want:        []string{"c/1@1"},
			unavailable: []string{"c/0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chosen, missing := ChooseReplicas(tc.shards)
			var got, gotMissing []string
			for _, c := range chosen {
				got = append(got, fmt.Sprintf("%s/%d@%d", c.Collection, c.ShardID, c.PeerID))
			}
			for _, u := range missing {
				gotMissing = append(gotMissing, fmt.Sprintf("%s/%d", u.Collection, u.ShardID))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("chosen %v, want %v", got, tc.want)
			}
			if !slices.Equal(gotMissing, tc.unavailable) {
				t.Errorf("unavailable %v, want %v", gotMissing, tc.unavailable)
			}
		})
	}
}

func TestUnavailableNamesCollectionShardAndStates(t *testing.T) {
	u := Unavailable{Collection: "docs", ShardID: 4, Replicas: []ReplicaInfo{rep(1, "Dead", 0), rep(2, "Partial", 0)}}
	want := `collection "docs" shard 4 has no Active replica (replicas: peer 1 Dead, peer 2 Partial)`
	if u.String() != want {
		t.Fatalf("got %q\nwant %q", u.String(), want)
	}
}
