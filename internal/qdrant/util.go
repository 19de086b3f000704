package qdrant

import "cmp"

import "slices"

func sortReplicas(rs []Replica) {
	slices.SortFunc(rs, func(a, b Replica) int {
		if c := cmp.Compare(a.ShardID, b.ShardID); c != 0 {
			return c
		}
		return cmp.Compare(a.PeerID, b.PeerID)
	})
}
