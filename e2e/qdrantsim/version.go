package qdrantsim

import (
	"fmt"
	"strconv"
	"strings"
)

// version is an emulated Qdrant release; it selects the behaviour set.
type version struct {
	major, minor, patch int
	text                string
}

func parseVersion(s string) (version, error) {
	if s == "" {
		s = "1.19.0"
	}
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) != 3 {
		return version{}, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return version{}, fmt.Errorf("version %q: bad number %q", s, p)
		}
		n[i] = v
	}
	if n[0] != 1 || n[1] < 15 || n[1] > 19 {
		return version{}, fmt.Errorf("version %q: only 1.15.x to 1.19.x are emulated", s)
	}
	return version{major: n[0], minor: n[1], patch: n[2], text: strings.TrimPrefix(s, "v")}, nil
}

func (v version) atLeast(major, minor, patch int) bool {
	if v.major != major {
		return v.major > major
	}
	if v.minor != minor {
		return v.minor > minor
	}
	return v.patch >= patch
}

// hasLocks: the global write lock API was removed in 1.16.
func (v version) hasLocks() bool { return !v.atLeast(1, 16, 0) }

// hasManualRecovery: ManualRecovery (and ActiveRead, from 1.16) states are
// emulated from 1.17, when collection recovery starts using them.
func (v version) hasManualRecovery() bool { return v.atLeast(1, 17, 0) }

// confinesFileRecovery: file:// collection recovery must stay inside the
// snapshots directory from 1.17.1.
func (v version) confinesFileRecovery() bool { return v.atLeast(1, 17, 1) }

// defaultTransferMethod is snapshot from 1.18, stream_records before.
func (v version) defaultTransferMethod() string {
	if v.atLeast(1, 18, 0) {
		return MethodSnapshot
	}
	return MethodStreamRecords
}

// hasShardKeysList: GET /collections/{c}/shards exists from 1.18.
func (v version) hasShardKeysList() bool { return v.atLeast(1, 18, 0) }

// restoresSkippedShards: from 1.17.1 collection recovery puts shards the
// snapshot has no data for back into their previous state (PR #8179).
func (v version) restoresSkippedShards() bool { return v.atLeast(1, 17, 1) }
