package restore

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/qbackup/qbackup/internal/manifest"
	pl "github.com/qbackup/qbackup/internal/placement"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// peerPlan is the plan-wide decision: which peers receive snapshots, which
// peers hold the collections in the end, and how source peers map onto
// target peers.
type peerPlan struct {
	strategy   Strategy
	reason     string
	targetNode *uint64
	// restoreSet receives the snapshots and holds the replicas once
	// recovery has settled.
	restoreSet []uint64
	// finalSet holds the replicas after redistribution.
	finalSet []uint64
	// bounded caps the shards per peer and collection at an even share;
	// a direct restore keeps the recorded placement instead.
	bounded bool
	// peerMap maps a source peer id to the target peer standing in for it.
	peerMap map[uint64]uint64
	// order ranks target peers for deterministic tie-breaks.
	order pl.Order
	names map[uint64]string
	// finalLoad counts the replicas per peer of the collections planned
	// so far once redistribution is done; it breaks ties between peers.
	finalLoad loadMap
	// sourcePods is the number of pods in the backup.
	sourcePods int
}

func (pp *peerPlan) name(id uint64) string {
	if n := pp.names[id]; n != "" {
		return "pod " + n
	}
	return "peer " + strconv.FormatUint(id, 10)
}

func (pp *peerPlan) redistributes() bool { return !slices.Equal(pp.restoreSet, pp.finalSet) }

// planPeers resolves the strategy from pods then (N) and now (M).
func planPeers(m *manifest.Manifest, peers []TargetPeer, opts PlanOptions) (*peerPlan, error) {
	n, mm := len(m.Peers), len(peers)
	pp := &peerPlan{order: pl.Order{}, names: map[uint64]string{}, sourcePods: n}
	all := make([]uint64, 0, mm)
	for i, p := range peers {
		pp.order[p.ID] = i
		pp.names[p.ID] = p.Pod
		all = append(all, p.ID)
	}
	pp.peerMap = mapPeers(m.Peers, peers)
	then := fmt.Sprintf("backup had %d pods, cluster has %d", n, mm)

	if opts.TargetNode != "" {
		if opts.Strategy != StrategyAuto && opts.Strategy != StrategyConsolidate && opts.Strategy != "" {
			return nil, fmt.Errorf("--target-node with --plan %s: a single target node means consolidate: %w", opts.Strategy, ErrInvalidOptions)
		}
		id, ok := findPeer(peers, opts.TargetNode)
		if !ok {
			return nil, fmt.Errorf("--target-node %q: %w", opts.TargetNode, ErrUnknownTargetNode)
		}
		pp.strategy, pp.targetNode = StrategyConsolidate, &id
		pp.restoreSet, pp.finalSet, pp.bounded = []uint64{id}, []uint64{id}, true
		pp.reason = fmt.Sprintf("%s; --target-node %s: consolidate every shard onto one pod", then, opts.TargetNode)
		return pp.withReshard(opts)
	}

	st := opts.Strategy
	if st == "" || st == StrategyAuto {
		switch {
		case mm < n || n == 0:
			st = StrategyConsolidate
		case mm == n:
			st = StrategyDirect
		default:
			st = StrategyRedistribute
		}
	}
	pp.strategy = st
	switch st {
	case StrategyDirect:
		if mm < n {
			return nil, fmt.Errorf("--plan direct: %s: %w", then, ErrTooFewPods)
		}
		pp.restoreSet = pp.mappedTargets(m.Peers)
		pp.finalSet = pp.restoreSet
		pp.reason = then + ": direct, each shard recovered on the pod standing in for the one that held it, as far as the pods stay balanced"
		if mm > n {
			pp.reason += fmt.Sprintf("; %d pods stay empty", mm-n)
		}
	case StrategyConsolidate:
		pp.restoreSet, pp.finalSet, pp.bounded = all, all, true
		pp.reason = then + ": consolidate, same shard count with several shards per pod"
	case StrategyRedistribute:
		if mm >= n {
			pp.restoreSet = pp.mappedTargets(m.Peers)
			pp.reason = then + fmt.Sprintf(": direct onto %d pods, then redistribute shards over all %d", n, mm)
		} else {
			pp.restoreSet, pp.bounded = all, true
			pp.reason = then + ": consolidate, then redistribute until the replication factor is met where pods allow"
		}
		pp.finalSet = all
	default:
		return nil, fmt.Errorf("strategy %q: %w", st, ErrInvalidOptions)
	}
	if len(pp.restoreSet) == 0 {
		// A manifest without recorded peers gives nothing to map: spread
		// the shards evenly instead.
		pp.restoreSet, pp.bounded = all, true
		if len(pp.finalSet) == 0 {
			pp.finalSet = all
		}
	}
	return pp.withReshard(opts)
}

func (pp *peerPlan) withReshard(opts PlanOptions) (*peerPlan, error) {
	if opts.Shards > 0 {
		pp.reason = fmt.Sprintf("--shards %d: reshard, restoring with the recorded shard count into a staging collection then copying the points into %d shards; staging placement: %s",
			opts.Shards, opts.Shards, pp.reason)
		pp.strategy = StrategyReshard
	}
	return pp, nil
}

// mappedTargets lists the target peers that stand in for source peers, in
// target order.
func (pp *peerPlan) mappedTargets(src []manifest.Peer) []uint64 {
	var out []uint64
	for _, p := range src {
		if t, ok := pp.peerMap[p.ID]; ok {
			out = append(out, t)
		}
	}
	pp.sortPeers(out)
	return slices.Compact(out)
}

func (pp *peerPlan) sortPeers(ids []uint64) {
	slices.SortFunc(ids, func(a, b uint64) int { return pp.order[a] - pp.order[b] })
}

// mapPeers pairs source peers with target peers: same pod name first
// (StatefulSet pods keep their names), then same peer id, then the
// remaining ones in order while targets last.
func mapPeers(src []manifest.Peer, dst []TargetPeer) map[uint64]uint64 {
	out := map[uint64]uint64{}
	used := map[uint64]bool{}
	sorted := slices.Clone(src)
	slices.SortFunc(sorted, func(a, b manifest.Peer) int {
		return comparePeers(TargetPeer{ID: a.ID, Pod: a.Pod}, TargetPeer{ID: b.ID, Pod: b.Pod})
	})
	match := func(ok func(s manifest.Peer, d TargetPeer) bool) {
		for _, s := range sorted {
			if _, done := out[s.ID]; done {
				continue
			}
			for _, d := range dst {
				if !used[d.ID] && ok(s, d) {
					out[s.ID], used[d.ID] = d.ID, true
					break
				}
			}
		}
	}
	match(func(s manifest.Peer, d TargetPeer) bool { return s.Pod != "" && s.Pod == d.Pod })
	match(func(s manifest.Peer, d TargetPeer) bool { return s.ID == d.ID })
	match(func(manifest.Peer, TargetPeer) bool { return true })
	return out
}

func findPeer(peers []TargetPeer, node string) (uint64, bool) {
	for _, p := range peers {
		if p.Pod != "" && p.Pod == node {
			return p.ID, true
		}
	}
	if id, err := strconv.ParseUint(node, 10, 64); err == nil {
		for _, p := range peers {
			if p.ID == id {
				return id, true
			}
		}
	}
	return 0, false
}

// loadMap counts replicas per peer.
type loadMap map[uint64]int

// planCollection places one collection's shards.
func planCollection(c manifest.Collection, pp *peerPlan, opts PlanOptions, existing map[string]bool, global loadMap) (CollectionPlan, error) {
	cp := CollectionPlan{
		Source:                    c.Name,
		Target:                    opts.Rename.Target(c.Name),
		Strategy:                  pp.strategy,
		ShardingMethod:            c.ShardingMethod,
		ShardNumber:               c.ShardNumber,
		RecordedReplicationFactor: c.ReplicationFactor,
		WriteConsistencyFactor:    c.WriteConsistencyFactor,
		PointsCount:               c.PointsCount,
	}
	if cp.Target == "" {
		return cp, fmt.Errorf("collection %q: empty target name: %w", c.Name, ErrInvalidOptions)
	}
	if cp.Target != c.Name {
		// Checked while planning, before anything is created: Qdrant would
		// refuse the name only when this collection's turn comes.
		if err := qdrant.CheckCollectionName(cp.Target); err != nil {
			return cp, fmt.Errorf("--rename: collection %q would be restored as an invalid name: %v: choose another --rename: %w", c.Name, err, ErrInvalidOptions)
		}
	}
	cp.Exists = existing[cp.Target]
	cp.Replace = cp.Exists && opts.Overwrite

	want := c.ReplicationFactor
	if opts.ReplicationFactor > 0 {
		want = opts.ReplicationFactor
	}
	want = max(want, 1)
	rfFinal := min(int(want), len(pp.finalSet))
	cp.ReplicationFactor = uint32(rfFinal)
	if rfFinal < int(want) {
		cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: replication factor %d reduced to %d (%s)", c.Name, want, rfFinal, plural(len(pp.finalSet), "pod")))
	}

	shards := shardList(c)
	keyRF := keyFactors(c, opts, want)
	rfRestore, rfFinalOf := map[uint32]int{}, map[uint32]int{}
	for _, s := range shards {
		w := int(want)
		if s.ShardKey != nil {
			if f, ok := keyRF[*s.ShardKey]; ok {
				w = int(f)
			}
		}
		rfRestore[s.ID], rfFinalOf[s.ID] = min(w, len(pp.restoreSet)), min(w, len(pp.finalSet))
	}
	for _, k := range c.ShardKeys {
		if f := keyRF[k.Key]; f != want && int(f) > len(pp.finalSet) {
			cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: shard key %s: replication factor %d reduced to %d (%s)",
				c.Name, k.Key, f, len(pp.finalSet), plural(len(pp.finalSet), "pod")))
		}
	}
	restore := placeShards(shards, pp, rfRestore, global)
	final := restore
	if pp.redistributes() {
		if pp.finalLoad == nil {
			pp.finalLoad = loadMap{}
		}
		final = pl.Balance(restore, pl.Goal{IDs: shardIDs(shards), RF: rfFinalOf, Set: pp.finalSet, Order: pp.order, Others: pl.Load(pp.finalLoad)})
		cp.Transfers = reconcile(restore, final, shardIDs(shards))
		for _, reps := range final {
			for _, p := range reps {
				pp.finalLoad[p]++
			}
		}
	}
	for _, s := range shards {
		reps := restore[s.ID]
		s.Primary, s.Replicas, s.Final = reps[0], slices.Clone(reps), slices.Clone(final[s.ID])
		pp.sortPeers(s.Replicas)
		pp.sortPeers(s.Final)
		cp.Shards = append(cp.Shards, s)
		if s.Object == "" {
			cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: shard %d has no object in the backup and is created empty", c.Name, s.ID))
		}
	}
	if c.ShardingMethod == "custom" {
		cp.ShardKeys = planShardKeys(c, cp.Shards, pp, keyRF)
	}
	cp.Reason = collectionReason(cp, pp)
	if pp.strategy == StrategyConsolidate || pp.strategy == StrategyRedistribute && pp.bounded {
		cp.Warnings = append(cp.Warnings, crowdingWarnings(cp, pp)...)
	}
	pods := len(pp.finalSet)
	covered := len(shards) * int(cp.ReplicationFactor)
	if pods <= pp.sourcePods {
		// No more pods than the backup's cluster had: pods without this
		// collection's data were so before, by the user's choice of
		// shards; only pods the cluster gained call for resharding.
		covered = max(covered, pods)
	}
	auto := opts.AutoShards && opts.Shards == 0
	short := fmt.Sprintf("%s × replication factor %d leave %d of %s without its data", plural(len(shards), "shard"), cp.ReplicationFactor, pods-covered, plural(pods, "pod"))
	switch {
	case covered >= pods || opts.Shards > 0:
	case c.ShardingMethod == "custom":
		cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: %s; custom sharding keeps its shards per key (add shard keys or raise the replication factor)", c.Name, short))
	case !auto:
		cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: %s; --shards auto would reshard it to %d shards",
			c.Name, short, AutoShardCount(c.ShardNumber, cp.ReplicationFactor, pods)))
	}
	if k := shardTarget(c, cp.ReplicationFactor, pods, covered, opts); k > 0 {
		switch {
		case c.ShardingMethod == "custom":
			cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: custom sharding keeps its shards per key; --shards ignored", c.Name))
			cp.Strategy = restoreStrategy(pp)
		case k == c.ShardNumber:
			cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: already has %d shards; nothing to reshard", c.Name, c.ShardNumber))
			cp.Strategy = restoreStrategy(pp)
		default:
			cp.Reshard = &ReshardPlan{FromShards: c.ShardNumber, ToShards: k, Staging: cp.Target + "-qbackup-reshard", Method: "copy"}
			if err := qdrant.CheckCollectionName(cp.Reshard.Staging); err != nil {
				return cp, fmt.Errorf("collection %q: its staging collection for --shards would have an invalid name: %v: restore it under a shorter name with --rename: %w", c.Name, err, ErrInvalidOptions)
			}
			if auto {
				// The staging copy is deleted after the points are copied:
				// moving its replicas first would be wasted transfers.
				cp.Strategy = StrategyReshard
				cp.Transfers = nil
				for i := range cp.Shards {
					cp.Shards[i].Final = slices.Clone(cp.Shards[i].Replicas)
				}
				cp.Reason = collectionReason(cp, pp)
			}
			why := ""
			if auto {
				why = short + ": "
			}
			cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: %sresharding %d → %d shards copies every point through %q, deleted afterwards",
				c.Name, why, c.ShardNumber, k, cp.Reshard.Staging))
			if existing[cp.Reshard.Staging] {
				// Left by a killed run: resumed, or made anew (Execute).
				cp.Warnings = append(cp.Warnings, fmt.Sprintf("collection %q: staging collection %q exists (left by an interrupted reshard): the restore resumes it, or deletes and restores it anew",
					c.Name, cp.Reshard.Staging))
			}
		}
	}
	return cp, nil
}

// AutoShardCount is the shard count --shards auto gives a collection of
// shards shards with replication factor rf on pods pods: the smallest
// count, no lower than today's, with which every pod can hold a replica.
// More shards than that only add per-shard overhead (Qdrant keeps a WAL,
// segments and optimizer threads per shard).
func AutoShardCount(shards, rf uint32, pods int) uint32 {
	rf = max(rf, 1)
	need := (uint32(pods) + rf - 1) / rf
	return max(shards, need)
}

// shardTarget is the shard count a collection is restored with when the
// options reshard it, 0 when they keep the recorded count. covered is how
// many of the pods its replicas can reach (or count as reached).
func shardTarget(c manifest.Collection, rf uint32, pods, covered int, opts PlanOptions) uint32 {
	switch {
	case opts.Shards > 0:
		return opts.Shards
	case !opts.AutoShards || c.ShardingMethod != "auto" || covered >= pods:
		return 0
	}
	if k := AutoShardCount(c.ShardNumber, rf, pods); k != c.ShardNumber {
		return k
	}
	return 0
}

// restoreStrategy is the strategy a collection follows when the plan-wide
// one is reshard but the collection is not resharded.
func restoreStrategy(pp *peerPlan) Strategy {
	switch {
	case pp.redistributes():
		return StrategyRedistribute
	case pp.bounded:
		return StrategyConsolidate
	}
	return StrategyDirect
}

func collectionReason(cp CollectionPlan, pp *peerPlan) string {
	peers := map[uint64]bool{}
	for _, s := range cp.Shards {
		for _, p := range s.Replicas {
			peers[p] = true
		}
	}
	r := fmt.Sprintf("%s × %s on %s", plural(len(cp.Shards), "shard"),
		plural(min(int(cp.ReplicationFactor), len(pp.restoreSet)), "replica"), plural(len(peers), "pod"))
	if pp.redistributes() {
		r += fmt.Sprintf(", then %s to spread over %s", plural(len(cp.Transfers), "transfer"), plural(len(pp.finalSet), "pod"))
	}
	return r
}

func crowdingWarnings(cp CollectionPlan, pp *peerPlan) []string {
	count := map[uint64]int{}
	for _, s := range cp.Shards {
		for _, p := range s.Final {
			count[p]++
		}
	}
	var out []string
	for _, p := range pp.finalSet {
		if count[p] > 1 {
			out = append(out, fmt.Sprintf("collection %q: %d shards on %s", cp.Source, count[p], pp.name(p)))
		}
	}
	return out
}

// shardList lists every shard the collection must have, filling the
// shards a partial backup lacks with object-less entries.
func shardList(c manifest.Collection) []ShardPlan {
	byID := map[uint32]manifest.Shard{}
	for _, s := range c.Shards {
		byID[s.ID] = s
	}
	var ids []uint32
	var keyOf = map[uint32]*manifest.ShardKeyValue{}
	if c.ShardingMethod == "custom" {
		for _, k := range c.ShardKeys {
			for _, id := range k.ShardIDs {
				ids = append(ids, id)
				kk := k.Key
				keyOf[id] = &kk
			}
		}
	} else {
		for i := uint32(0); i < c.ShardNumber; i++ {
			ids = append(ids, i)
		}
	}
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]ShardPlan, 0, len(ids))
	for _, id := range ids {
		s, ok := byID[id]
		sp := ShardPlan{ID: id, ShardKey: keyOf[id]}
		if ok {
			sp.ShardKey = s.ShardKey
			sp.Object, sp.Compression, sp.Encryption = s.Object, s.Compression, s.Encryption
			sp.Size, sp.SHA256 = s.Size, s.SHA256
			sp.SnapshotSize, sp.SnapshotSHA256 = s.SnapshotSize, s.SnapshotSHA256
			sp.PointsCount, sp.SourcePeer = s.PointsCount, s.SourcePeer
			for _, r := range s.Replicas {
				if r.PeerID != s.SourcePeer {
					sp.recorded = append(sp.recorded, r.PeerID)
				}
			}
		}
		out = append(out, sp)
	}
	return out
}

func shardIDs(shards []ShardPlan) []uint32 {
	ids := make([]uint32, len(shards))
	for i, s := range shards {
		ids[i] = s.ID
	}
	return ids
}

// keyFactors is the replication factor each custom shard key is restored
// with: the one the backup recorded for it (manifest.ShardKey's, the
// replica count of its shards, as Qdrant keeps no other), else the
// collection's; --replication-factor overrides both. Capping at the pods
// is left to the placement.
func keyFactors(c manifest.Collection, opts PlanOptions, collection uint32) map[manifest.ShardKeyValue]uint32 {
	out := map[manifest.ShardKeyValue]uint32{}
	for _, k := range c.ShardKeys {
		f := collection
		if opts.ReplicationFactor == 0 && k.ReplicationFactor > 0 {
			f = k.ReplicationFactor
		}
		out[k.Key] = f
	}
	return out
}

// placeShards decides the replica set of every shard after recovery, the
// receiving peer first; rf is each shard's replica count. Shards go to the
// peer standing in for the one that held them when that peer is in the
// restore set (and, when consolidating, still under its even share); the
// others go to the least loaded peers. Shards with a preferred peer are
// placed first so that leftovers do not push them off it. The result is
// then balanced over the restore set (see placement.Balance): a recorded placement
// that was uneven, or replicas the backup did not have (a higher
// replication factor, shards of a partial backup), would otherwise land
// shard by shard wherever they fit. Moving a replica of the plan costs
// nothing: every replica is recovered from the backup or replicated from
// one that is.
func placeShards(shards []ShardPlan, pp *peerPlan, rf map[uint32]int, global loadMap) map[uint32][]uint64 {
	inSet := map[uint64]bool{}
	for _, p := range pp.restoreSet {
		inSet[p] = true
	}
	total := 0
	for _, s := range shards {
		total += rf[s.ID]
	}
	limit := total + 1
	if pp.bounded {
		limit = (total + len(pp.restoreSet) - 1) / len(pp.restoreSet)
	}
	local := loadMap{}
	prefs := func(s ShardPlan) []uint64 {
		var out []uint64
		// Recorded replicas are unknown for shards a partial backup
		// lacks; those have SourcePeer 0 and no preference.
		if s.SourcePeer == 0 {
			return nil
		}
		peers := []uint64{s.SourcePeer}
		peers = append(peers, s.recorded...)
		for _, sp := range peers {
			if t, ok := pp.peerMap[sp]; ok && inSet[t] && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
		return out
	}
	out := map[uint32][]uint64{}
	place := func(s ShardPlan) {
		var chosen []uint64
		for _, p := range prefs(s) {
			if len(chosen) < rf[s.ID] && local[p] < limit {
				chosen = append(chosen, p)
			}
		}
		for len(chosen) < rf[s.ID] {
			chosen = append(chosen, leastLoaded(pp.restoreSet, chosen, local, global, pp))
		}
		for _, p := range chosen {
			local[p]++
		}
		out[s.ID] = chosen
	}
	for _, s := range shards {
		if len(prefs(s)) > 0 {
			place(s)
		}
	}
	for _, s := range shards {
		if _, done := out[s.ID]; !done {
			place(s)
		}
	}
	out = pl.Balance(out, pl.Goal{IDs: shardIDs(shards), RF: rf, Set: pp.restoreSet, Order: pp.order, Others: pl.Load(global), AcrossPlan: true})
	for _, reps := range out {
		for _, p := range reps {
			global[p]++
		}
	}
	return out
}

// leastLoaded picks the peer of set outside skip with the fewest replicas
// of this collection, then overall, then by peer order.
func leastLoaded(set, skip []uint64, local, global loadMap, pp *peerPlan) uint64 {
	return pl.LeastLoaded(set, skip, pl.Load(local), pl.Load(global), pp.order)
}

// reconcile lists the cluster operations that turn placement cur into
// want (pl.Reconcile).
func reconcile(cur, want map[uint32][]uint64, ids []uint32) []Transfer {
	ops := pl.Reconcile(cur, want, ids)
	out := make([]Transfer, len(ops))
	for i, op := range ops {
		out[i] = Transfer{Kind: TransferKind(op.Kind), ShardID: op.ShardID, From: op.From, To: op.To}
	}
	return out
}

// planShardKeys lists the custom shard keys in the order of their backup
// shard ids, with the peers their shards go to as placement pool.
func planShardKeys(c manifest.Collection, shards []ShardPlan, pp *peerPlan, rf map[manifest.ShardKeyValue]uint32) []ShardKeyPlan {
	byID := map[uint32]ShardPlan{}
	for _, s := range shards {
		byID[s.ID] = s
	}
	keys := slices.Clone(c.ShardKeys)
	for i := range keys {
		keys[i].ShardIDs = slices.Sorted(slices.Values(keys[i].ShardIDs))
	}
	slices.SortFunc(keys, func(a, b manifest.ShardKey) int {
		return int(firstOr(a.ShardIDs)) - int(firstOr(b.ShardIDs))
	})
	out := make([]ShardKeyPlan, 0, len(keys))
	for _, k := range keys {
		var pool []uint64
		for _, id := range k.ShardIDs {
			for _, p := range byID[id].Replicas {
				if !slices.Contains(pool, p) {
					pool = append(pool, p)
				}
			}
		}
		pp.sortPeers(pool)
		// Created with as many replicas as its shards have once
		// recovered: the key's factor, capped at the pods.
		n := 0
		for _, id := range k.ShardIDs {
			n = max(n, len(byID[id].Replicas))
		}
		out = append(out, ShardKeyPlan{Key: k.Key, ShardsNumber: uint32(len(k.ShardIDs)), ReplicationFactor: uint32(n),
			RecordedReplicationFactor: k.ReplicationFactor, Placement: pool, SourceShardIDs: k.ShardIDs})
	}
	return out
}

func firstOr(ids []uint32) uint32 {
	if len(ids) == 0 {
		return 0
	}
	return ids[0]
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
