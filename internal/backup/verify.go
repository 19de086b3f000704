package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// VerifyConcurrency is how many objects Verify reads at once.
const VerifyConcurrency = 4

// VerifyReport is the outcome of re-reading a set.
type VerifyReport struct {
	Cluster  string
	BackupID string
	// Objects and Bytes count what was read.
	Objects int
	Bytes   int64
	// Bad lists the objects that are missing or differ from the manifest.
	Bad []BadObject
}

// OK reports whether every object matched.
func (r *VerifyReport) OK() bool { return len(r.Bad) == 0 }

// BadObject is one object that does not match its manifest entry.
type BadObject struct {
	Collection string
	ShardID    uint32
	Key        string
	Problem    string
}

func (b BadObject) String() string {
	return fmt.Sprintf("%s (collection %q shard %d): %s", b.Key, b.Collection, b.ShardID, b.Problem)
}

// Verify re-reads every object of the set, streamed, and compares its size
// and SHA-256 with the manifest. Objects that are missing or differ are
// listed in the report and the error wraps ErrCorrupt naming each of them;
// a storage failure while reading is returned as such (it says nothing
// about the set).
func Verify(ctx context.Context, store Store, m *manifest.Manifest) (*VerifyReport, error) {
	rep := &VerifyReport{Cluster: m.Cluster, BackupID: m.BackupID}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(VerifyConcurrency)
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			g.Go(func() error {
				n, problem, err := verifyObject(gctx, store, s)
				if err != nil {
					return fmt.Errorf("verify shard %d of %q (%s): %w", s.ID, c.Name, s.Object, err)
				}
				mu.Lock()
				defer mu.Unlock()
				rep.Objects++
				rep.Bytes += n
				if problem != "" {
					rep.Bad = append(rep.Bad, BadObject{Collection: c.Name, ShardID: s.ID, Key: s.Object, Problem: problem})
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	if !rep.OK() {
		msgs := make([]string, len(rep.Bad))
		for i, b := range rep.Bad {
			msgs[i] = b.String()
		}
		return rep, fmt.Errorf("backup %s/%s: %w: %d of %d objects bad: %s",
			m.Cluster, m.BackupID, ErrCorrupt, len(rep.Bad), m.ShardCount(), strings.Join(msgs, "; "))
	}
	return rep, nil
}

// verifyObject reads one object; problem is set when it is missing or
// differs, err when storage failed. On a full backend the size is checked
// first (a wrong size needs no read) and the read resumes after transient
// failures, so a long object survives a dropped connection.
func verifyObject(ctx context.Context, store Store, s manifest.Shard) (int64, string, error) {
	var r io.ReadCloser
	if b, ok := store.(storage.Backend); ok {
		info, err := b.Stat(ctx, s.Object)
		if errors.Is(err, ErrObjectNotFound) {
			return 0, "missing", nil
		}
		if err != nil {
			return 0, "", err
		}
		if info.Size != s.Size {
			return 0, fmt.Sprintf("size %d, manifest says %d", info.Size, s.Size), nil
		}
		r = storage.NewResumableReader(ctx, b, s.Object, s.Size)
	} else {
		var err error
		r, err = store.Open(ctx, s.Object, 0)
		if errors.Is(err, ErrObjectNotFound) {
			return 0, "missing", nil
		}
		if err != nil {
			return 0, "", err
		}
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return n, "", err
	}
	switch sum := fmt.Sprintf("%x", h.Sum(nil)); {
	case n != s.Size:
		return n, fmt.Sprintf("size %d, manifest says %d", n, s.Size), nil
	case sum != s.SHA256:
		return n, fmt.Sprintf("sha256 %s, manifest says %s", sum, s.SHA256), nil
	}
	return n, "", nil
}
