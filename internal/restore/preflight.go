package restore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// TransferMode is how snapshot bytes reach a peer.
type TransferMode string

// Transfer modes (--transfer).
const (
	// TransferUpload streams the object from storage into the peer's
	// snapshot upload endpoint.
	TransferUpload TransferMode = "upload"
	// TransferPresigned hands the peer a presigned URL to pull from.
	TransferPresigned TransferMode = "presigned"
)

// PreflightOptions tune Preflight.
type PreflightOptions struct {
	Transfer TransferMode
	// ReadyPods is how many Ready pods discovery counted; 0 skips that
	// side of the node-count check (static discovery).
	ReadyPods int
	// NotReady names matching pods that are not Ready.
	NotReady []string
	// AllowNodeMismatch turns node-count and readiness failures into
	// warnings.
	AllowNodeMismatch bool
	// Parallel bounds concurrent object reads; default 4.
	Parallel int
	// VerifyObjects reads every object through SHA-256 before anything
	// changes. Without it only the objects of collections --overwrite
	// replaces (and every object of a presigned restore, which Qdrant
	// pulls itself) are read first; the others are checked for presence
	// and size, and hashed while they stream into the peers (a corrupt
	// one then fails the restore, which removes what it created).
	VerifyObjects bool
}

// PreflightReport is what preflight found besides failures.
type PreflightReport struct {
	RestoreID string `json:"restore_id"`
	Objects   int    `json:"objects"`
	// ObjectsRead is how many of them were read in full before the
	// restore began; the others are hashed while they stream.
	ObjectsRead int      `json:"objects_read_first"`
	Bytes       int64    `json:"bytes"`
	Warnings    []string `json:"warnings,omitempty"`
	// Resumed lists target collections an earlier run of this restore
	// created; they may exist.
	Resumed []string `json:"resumed,omitempty"`
}

// Preflight checks, without changing anything, that the plan can run: the
// cluster is healthy and as planned, nothing is in the way, and every
// backup object is intact. All failures are reported together, each
// wrapping its sentinel error.
func Preflight(ctx context.Context, plan *RestorePlan, deps Deps, opts PreflightOptions) (*PreflightReport, error) {
	id, err := resolveRestoreID(ctx, deps.journal(), plan)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	rep := &PreflightReport{RestoreID: id}
	progress, err := deps.journal().Shards(ctx, rep.RestoreID)
	if err != nil {
		return nil, fmt.Errorf("preflight: read restore progress: %w", err)
	}
	done := indexProgress(progress)

	var errs []error
	errs = append(errs, checkPeers(ctx, plan, deps, opts, rep)...)
	if len(errs) == 0 {
		// Collection checks need a working cluster to ask.
		errs = append(errs, checkCollections(ctx, plan, deps, done, rep)...)
		errs = append(errs, checkURLRecovery(ctx, plan, deps, opts, rep)...)
	}
	errs = append(errs, checkTransferMode(plan, deps, opts)...)
	if err := checkIdentities(plan, deps); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, checkObjects(ctx, plan, deps, opts, rep)...)
	rep.Warnings = append(slices.Clone(plan.Warnings), rep.Warnings...)
	if len(errs) > 0 {
		return rep, fmt.Errorf("preflight of restore %s: %w", rep.RestoreID, errors.Join(errs...))
	}
	return rep, nil
}

// checkPeers: every planned peer answers, is in consensus with exactly
// the planned peers, and runs a Qdrant not older than the backup's.
func checkPeers(ctx context.Context, plan *RestorePlan, deps Deps, opts PreflightOptions, rep *PreflightReport) []error {
	var errs []error
	mismatch := func(err error) {
		if opts.AllowNodeMismatch {
			rep.Warnings = append(rep.Warnings, err.Error()+" (allowed by --allow-node-mismatch)")
			return
		}
		errs = append(errs, err)
	}
	if len(opts.NotReady) > 0 {
		mismatch(fmt.Errorf("pods %s: %w", strings.Join(opts.NotReady, ", "), ErrPeerNotReady))
	}
	if opts.ReadyPods > 0 && opts.ReadyPods != len(plan.Peers) {
		mismatch(fmt.Errorf("%d Ready pods but %d peers planned: %w", opts.ReadyPods, len(plan.Peers), ErrNodeCount))
	}
	planned := map[uint64]bool{}
	for _, p := range plan.Peers {
		planned[p.ID] = true
	}
	source, srcErr := ParseVersion(plan.SourceVersion)
	versions := map[string]bool{}
	for _, tp := range plan.Peers {
		name := peerName(tp)
		c, err := deps.peer(tp.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		st, err := c.Cluster(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: read cluster status: %w: %w", name, err, ErrPeerNotReady))
			continue
		}
		switch {
		case !st.Enabled && len(plan.Peers) > 1:
			errs = append(errs, fmt.Errorf("%s runs without cluster mode but %d peers are planned: %w", name, len(plan.Peers), ErrNodeCount))
		case st.Enabled && !st.ConsensusWorking():
			errs = append(errs, fmt.Errorf("%s: consensus %s %s: %w", name, st.Consensus, st.ConsensusError, ErrPeerNotReady))
		case st.Enabled && st.PeerID != tp.ID:
			errs = append(errs, fmt.Errorf("%s answers as peer %d: %w", name, st.PeerID, ErrNodeCount))
		case st.Enabled:
			var extra, missing []string
			for id := range st.Peers {
				if !planned[id] {
					extra = append(extra, fmt.Sprint(id))
				}
			}
			for id := range planned {
				if _, ok := st.Peers[id]; !ok {
					missing = append(missing, fmt.Sprint(id))
				}
			}
			if len(extra)+len(missing) > 0 {
				slices.Sort(extra)
				slices.Sort(missing)
				mismatch(fmt.Errorf("%s sees %d peers in consensus, %d planned (not planned: [%s], not in consensus: [%s]): %w",
					name, len(st.Peers), len(plan.Peers), strings.Join(extra, " "), strings.Join(missing, " "), ErrNodeCount))
			}
		}
		v, err := c.Version(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: read version: %w: %w", name, err, ErrPeerNotReady))
			continue
		}
		versions[v] = true
		tv, err := ParseVersion(v)
		switch {
		case err != nil || srcErr != nil:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: cannot compare version %q with the backup's %q", name, v, plan.SourceVersion))
		case tv.Compare(source) < 0:
			errs = append(errs, fmt.Errorf("%s runs Qdrant %s, the backup was taken on %s (restoring into an older Qdrant is not supported): %w",
				name, v, plan.SourceVersion, ErrTargetTooOld))
		}
	}
	if len(versions) > 1 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("target peers run different Qdrant versions %v (rolling upgrade?)", slices.Sorted(maps.Keys(versions))))
	}
	// Repeat the plan's >1-minor warning only if the plan was made without
	// versions.
	if plan.TargetVersion == "" {
		for v := range versions {
			rep.Warnings = append(rep.Warnings, versionWarnings(plan.SourceVersion, v)...)
		}
	}
	return errs
}

// checkCollections: targets absent (or replaced, or created by an
// earlier run of this restore) and no shard transfer running anywhere,
// since transfers compete with the restore's own and may move replicas
// under it.
func checkCollections(ctx context.Context, plan *RestorePlan, deps Deps, done progressIndex, rep *PreflightReport) []error {
	c, _, err := deps.coordinator(plan)
	if err != nil {
		return []error{err}
	}
	live, err := c.ListCollections(ctx)
	if err != nil {
		return []error{fmt.Errorf("list collections: %w", err)}
	}
	aliases, err := c.ListAliases(ctx)
	if err != nil {
		return []error{fmt.Errorf("list aliases: %w", err)}
	}
	exists := map[string]bool{}
	for _, n := range live {
		exists[n] = true
	}
	var errs []error
	// ours are collections an earlier run of this restore created: their
	// transfers are that run's re-syncs, which the executor waits for.
	ours := map[string]bool{}
	for _, cp := range plan.Collections {
		resumed := done.started(cp.Target)
		if resumed {
			rep.Resumed = append(rep.Resumed, cp.Target)
			ours[restoreName(cp)], ours[cp.Target] = true, true
		}
		switch {
		case resumed:
		case exists[cp.Target] && !cp.Replace:
			errs = append(errs, fmt.Errorf("collection %q exists (use --overwrite to replace it, or --rename to restore beside it): %w", cp.Target, ErrCollectionExists))
		case aliases[cp.Target] != "":
			errs = append(errs, fmt.Errorf("%q is an alias of collection %q: %w", cp.Target, aliases[cp.Target], ErrCollectionExists))
		}
		if cp.Reshard != nil && exists[cp.Reshard.Staging] {
			// qbackup's own staging name, left by an interrupted run of
			// this restore: resumed, or deleted and made anew.
			ours[cp.Reshard.Staging] = true
		}
	}
	for _, n := range live {
		if ours[n] {
			continue
		}
		cc, err := c.CollectionCluster(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("read cluster info of %q: %w", n, err))
			continue
		}
		for _, t := range cc.ShardTransfers {
			kind := "moving"
			if t.Sync {
				kind = "replicating"
			}
			errs = append(errs, fmt.Errorf("collection %q: shard %d is %s from peer %d to peer %d (wait for it or abort it): %w",
				n, t.ShardID, kind, t.From, t.To, ErrTransferInProgress))
		}
	}
	if needsWriter(plan) && deps.Points == nil {
		errs = append(errs, fmt.Errorf("--shards needs a point writer to copy points: %w", ErrInvalidOptions))
	}
	return errs
}

func needsWriter(plan *RestorePlan) bool {
	return slices.ContainsFunc(plan.Collections, func(c CollectionPlan) bool { return c.Reshard != nil })
}

func checkTransferMode(plan *RestorePlan, deps Deps, opts PreflightOptions) []error {
	if opts.Transfer != TransferPresigned {
		return nil
	}
	if _, ok := deps.Store.(Presigner); !ok {
		return []error{fmt.Errorf("--transfer presigned: this storage cannot presign URLs (use --transfer upload): %w", ErrInvalidOptions)}
	}
	var errs []error
	for _, c := range plan.Collections {
		for _, s := range c.Shards {
			if s.Object != "" && s.Compression != manifest.CompressionNone {
				errs = append(errs, fmt.Errorf("--transfer presigned: shard %d of %q is stored %s-compressed and Qdrant cannot decompress it (use --transfer upload): %w",
					s.ID, c.Source, s.Compression, ErrInvalidOptions))
			}
			if s.Object != "" && s.Encryption != nil {
				errs = append(errs, fmt.Errorf("--transfer presigned: shard %d of %q is encrypted with %s and Qdrant cannot decrypt it (use --transfer upload, which decrypts on the way): %w",
					s.ID, c.Source, s.Encryption.Scheme, ErrInvalidOptions))
			}
		}
	}
	return errs
}

// checkIdentities: every encrypted object of the plan has a recipient
// one of the identities belongs to (from the public keys the manifest
// records, nothing read). The error names the recipients and the
// variables to set.
func checkIdentities(plan *RestorePlan, deps Deps) error {
	for _, c := range plan.Collections {
		for _, s := range c.Shards {
			if s.Object == "" || s.Encryption == nil {
				continue
			}
			if err := deps.Identities.CheckOpens(fmt.Sprintf("backup %s of cluster %q", plan.BackupID, plan.Cluster), s.Encryption.Recipients); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkObjects checks every object: those that must be intact before
// anything changes (see PreflightOptions.VerifyObjects) are streamed
// through SHA-256 (no disk, bounded memory) and compared with the
// manifest; the others are only looked up, their size compared, and
// hashed later while they stream into the peers. The snapshot inside a
// compressed or encrypted object is checked by Qdrant itself at recovery
// (the planned checksum is passed along); the ciphertext of an encrypted
// one is authenticated chunk by chunk as it is decrypted.
func checkObjects(ctx context.Context, plan *RestorePlan, deps Deps, opts PreflightOptions, rep *PreflightReport) []error {
	type item struct {
		coll string
		s    ShardPlan
		full bool
	}
	st, canStat := deps.Store.(statter)
	var items []item
	for _, c := range plan.Collections {
		full := opts.VerifyObjects || opts.Transfer == TransferPresigned || (c.Replace && c.Exists) || !canStat
		for _, s := range c.Shards {
			if s.Object != "" {
				items = append(items, item{c.Source, s, full})
			}
		}
	}
	errs := make([]error, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmp.Or(opts.Parallel, DefaultParallel))
	for i, it := range items {
		g.Go(func() error {
			if it.full {
				errs[i] = verifyObject(gctx, deps, it.s)
			} else {
				errs[i] = statObject(gctx, deps, st, it.s)
			}
			if errs[i] != nil {
				errs[i] = fmt.Errorf("shard %d of %q: %w", it.s.ID, it.coll, errs[i])
			}
			// One bad object does not stop the others: the report lists
			// every problem at once.
			return ctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return []error{err}
	}
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	for _, it := range items {
		rep.Objects++
		rep.Bytes += it.s.Size
		if it.full {
			rep.ObjectsRead++
		}
	}
	return out
}

// statter is a Store that can tell an object's size without reading it
// (every storage backend).
type statter interface {
	Stat(ctx context.Context, key string) (storage.ObjectInfo, error)
}

func statObject(ctx context.Context, deps Deps, st statter, s ShardPlan) error {
	info, err := st.Stat(ctx, s.Object)
	if err != nil {
		if deps.notFound(err) {
			return fmt.Errorf("object %s: %w", s.Object, ErrObjectMissing)
		}
		return fmt.Errorf("look up object %s: %w", s.Object, err)
	}
	if info.Size != s.Size {
		return fmt.Errorf("object %s has %d bytes, the manifest says %d: %w", s.Object, info.Size, s.Size, ErrObjectSize)
	}
	return nil
}

func verifyObject(ctx context.Context, deps Deps, s ShardPlan) error {
	r, err := deps.Store.Open(ctx, s.Object, 0)
	if err != nil {
		if deps.notFound(err) {
			return fmt.Errorf("object %s: %w", s.Object, ErrObjectMissing)
		}
		return fmt.Errorf("open object %s: %w", s.Object, err)
	}
	defer r.Close()
	h := sha256.New()
	// 256 KiB reads: io.Copy's 32 KiB ones cost a syscall (and a read
	// deadline) per 32 KiB of the storage stream, 7 % more CPU per GiB.
	n, err := io.CopyBuffer(h, r, make([]byte, 256<<10))
	if err != nil {
		return fmt.Errorf("read object %s: %w", s.Object, err)
	}
	if n != s.Size {
		return fmt.Errorf("object %s has %d bytes, the manifest says %d: %w", s.Object, n, s.Size, ErrObjectSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 {
		return fmt.Errorf("object %s has SHA-256 %s, the manifest says %s: %w", s.Object, got, s.SHA256, ErrObjectChecksum)
	}
	return nil
}

func peerName(p TargetPeer) string {
	if p.Pod != "" {
		return fmt.Sprintf("pod %s (peer %d)", p.Pod, p.ID)
	}
	return fmt.Sprintf("peer %d", p.ID)
}
