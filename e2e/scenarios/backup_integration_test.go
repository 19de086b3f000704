//go:build integration

package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// manifestDoc is the part of manifest.json the scenarios check, decoded
// independently of the product's types: a JSON consumer as the format
// documents it.
type manifestDoc struct {
	FormatVersion int    `json:"format_version"`
	BackupID      string `json:"backup_id"`
	Cluster       string `json:"cluster"`
	Peers         []struct {
		ID  uint64 `json:"peer_id"`
		Pod string `json:"pod"`
	} `json:"peers"`
	Collections []struct {
		Name              string   `json:"name"`
		ShardingMethod    string   `json:"sharding_method"`
		ShardNumber       uint32   `json:"shard_number"`
		ReplicationFactor uint32   `json:"replication_factor"`
		Aliases           []string `json:"aliases"`
		PointsCount       uint64   `json:"points_count"`
		ShardKeys         []any    `json:"shard_keys"`
		Config            json.RawMessage
		Shards            []struct {
			ID          uint32 `json:"shard_id"`
			Object      string `json:"object"`
			Size        int64  `json:"size"`
			SHA256      string `json:"sha256"`
			PointsCount uint64 `json:"points_count"`
		} `json:"shards"`
	} `json:"collections"`
}

func (m *manifestDoc) shardCount() int {
	n := 0
	for _, c := range m.Collections {
		n += len(c.Shards)
	}
	return n
}

// backupReport is `backup -o json`.
type backupReport struct {
	Cluster     string `json:"cluster"`
	BackupID    string `json:"backup_id"`
	Shards      int    `json:"shards"`
	Points      uint64 `json:"points"`
	ManifestKey string `json:"manifest_key"`
}

func decode[T any](t *testing.T, what, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s is not the documented JSON: %v\n%s", what, err, s)
	}
	return v
}

// scenario is one backup scenario: a cluster, its own storage location and
// optionally its own catalog database.
type scenario struct {
	sim     *sim
	st      store
	cat     *catalog
	qb      *cli
	cluster string
}

func newScenario(t *testing.T, s *sim, st store, cat *catalog) *scenario {
	t.Helper()
	qb := newCLI(t).with(st.env()...)
	if cat != nil {
		qb = qb.with("QBACKUP_CATALOG_DSN", cat.dsn)
		ok(t, qb.run(t, "catalog", "migrate"))
	}
	return &scenario{sim: s, st: st, cat: cat, qb: qb, cluster: "prod"}
}

// args is cmd with the cluster and storage flags.
func (s *scenario) args(cmd ...string) []string {
	return append(append(cmd, "--cluster="+s.cluster), s.st.flags()...)
}

// backupArgs is `backup` of the scenario's cluster with extra flags.
func (s *scenario) backupArgs(extra ...string) []string {
	return append(append(s.args("backup"), s.sim.discovery()...), extra...)
}

func (s *scenario) manifest(t *testing.T, id string) *manifestDoc {
	t.Helper()
	m := decode[manifestDoc](t, "manifest.json", string(s.st.read(t, s.cluster+"/"+id+"/manifest.json")))
	return &m
}

// setObjects are the shard objects of every set in storage.
func (s *scenario) setObjects(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, k := range s.st.keys(t) {
		if strings.Contains(k, ".snapshot") {
			out = append(out, k)
		}
	}
	return out
}

func (s *scenario) manifests(t *testing.T) []string {
	t.Helper()
	return objectsOf(s.st.keys(t), "/manifest.json")
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestBackupOfAMixedClusterIntoMinIOWithTheCatalog(t *testing.T) {
	t.Parallel()
	sm := startSim(t, fastSim(3))
	sm.loadMixed(t)
	sc := newScenario(t, sm, newS3Store(t), newCatalog(t))

	r := sc.qb.run(t, sc.backupArgs("-o", "json")...)
	ok(t, r)
	rep := decode[backupReport](t, "backup -o json", r.stdout)
	m := sc.manifest(t, rep.BackupID)

	t.Run("the manifest records every shard once, with its checksum and points", func(t *testing.T) {
		wantShards := map[string]int{"docs": 3, "images": 2, "tenants": 3}
		seen := map[string]bool{}
		for _, c := range m.Collections {
			if len(c.Shards) != wantShards[c.Name] {
				t.Errorf("%s: %d shards, want %d", c.Name, len(c.Shards), wantShards[c.Name])
			}
			if got := uint64(len(sm.points(t, c.Name))); c.PointsCount != got {
				t.Errorf("%s: %d points recorded, the cluster has %d", c.Name, c.PointsCount, got)
			}
			for _, sh := range c.Shards {
				if seen[sh.Object] {
					t.Errorf("%s shard %d: object %s used twice", c.Name, sh.ID, sh.Object)
				}
				seen[sh.Object] = true
				b := sc.st.read(t, sh.Object)
				if int64(len(b)) != sh.Size || sha256Hex(b) != sh.SHA256 {
					t.Errorf("%s shard %d: object has %d bytes, SHA-256 %s; manifest says %d, %s", c.Name, sh.ID, len(b), sha256Hex(b), sh.Size, sh.SHA256)
				}
			}
		}
		if len(seen) != len(sc.setObjects(t)) || m.shardCount() != rep.Shards {
			t.Errorf("%d objects in the manifest, %d in storage, %d in the report", len(seen), len(sc.setObjects(t)), rep.Shards)
		}
		byName := map[string]int{}
		for i, c := range m.Collections {
			byName[c.Name] = i
		}
		docs := m.Collections[byName["docs"]]
		if docs.ReplicationFactor != 2 || !reflect.DeepEqual(docs.Aliases, []string{"current"}) {
			t.Errorf("docs: replication factor %d, aliases %v", docs.ReplicationFactor, docs.Aliases)
		}
		if tn := m.Collections[byName["tenants"]]; tn.ShardingMethod != "custom" || len(tn.ShardKeys) != 2 {
			t.Errorf("tenants: %s sharding, shard keys %v", tn.ShardingMethod, tn.ShardKeys)
		}
	})

	t.Run("list shows the set complete", func(t *testing.T) {
		r := sc.qb.run(t, sc.args("list", "-o", "json")...)
		ok(t, r)
		type row struct {
			BackupID   string `json:"backup_id"`
			Status     string `json:"status"`
			ShardCount int    `json:"shard_count"`
		}
		rows := decode[[]row](t, "list -o json", r.stdout)
		if len(rows) != 1 || rows[0].BackupID != rep.BackupID || rows[0].Status != "complete" || rows[0].ShardCount != m.shardCount() {
			t.Fatalf("list: %+v, want %s complete with %d shards", rows, rep.BackupID, m.shardCount())
		}
	})

	t.Run("describe agrees with the manifest", func(t *testing.T) {
		r := sc.qb.run(t, sc.args("describe", rep.BackupID, "-o", "json")...)
		ok(t, r)
		type described struct {
			Manifest json.RawMessage `json:"manifest"`
			Catalog  *struct {
				Status string `json:"status"`
			} `json:"catalog"`
		}
		d := decode[described](t, "describe -o json", r.stdout)
		var got, want any
		_ = json.Unmarshal(d.Manifest, &got)
		_ = json.Unmarshal(sc.st.read(t, sc.cluster+"/"+rep.BackupID+"/manifest.json"), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("describe shows another manifest than storage holds")
		}
		if d.Catalog == nil || d.Catalog.Status != "complete" {
			t.Errorf("describe: catalog view %+v", d.Catalog)
		}
	})

	t.Run("verify latest passes and the catalog says verified", func(t *testing.T) {
		r := sc.qb.run(t, sc.args("verify", "latest")...)
		ok(t, r)
		if !strings.Contains(r.stdout, rep.BackupID+" is intact") {
			t.Errorf("verify says %q", r.stdout)
		}
		rows := sc.cat.backups(t, sc.cluster)
		if len(rows) != 1 || rows[0].Status != "complete" || rows[0].Verify != "verified" || rows[0].Shards != m.shardCount() {
			t.Fatalf("catalog rows %+v", rows)
		}
	})

	t.Run("catalog sync is idempotent", func(t *testing.T) {
		before, shards := sc.cat.backups(t, sc.cluster), sc.cat.countRows(t, "backup_shards")
		for i := range 2 {
			r := sc.qb.run(t, sc.args("catalog", "sync")...)
			ok(t, r)
			if !strings.Contains(r.stdout, "1 manifests indexed") {
				t.Errorf("sync %d: %q", i, r.stdout)
			}
			if after := sc.cat.backups(t, sc.cluster); !reflect.DeepEqual(after, before) || sc.cat.countRows(t, "backup_shards") != shards {
				t.Fatalf("sync %d changed the catalog: %+v, was %+v", i, after, before)
			}
		}
	})
}

func TestBackupFaults(t *testing.T) {
	t.Parallel()
	cut := int64(2000)
	stall := int64(1500)
	tests := []struct {
		name string
		// catalog: run with a catalog database
		catalog bool
		// before prepares the cluster; during (optional) acts once the run
		// has written shard objects.
		before func(t *testing.T, s *sim)
		during func(t *testing.T, s *sim, p *proc)
		code   int
		msgs   []string
		// untouched: nothing at all may be written to storage.
		untouched bool
		// prune: `prune --orphan-grace=0` must leave no shard object.
		prune bool
	}{
		{
			name:    "a peer down before the start stops the node-count check and writes nothing",
			catalog: true,
			before:  func(t *testing.T, s *sim) { s.c.Peers()[2].Stop() },
			code:    exitClusterNotOK, msgs: []string{"Qdrant peers in consensus but", "did not answer as a Qdrant peer", "--allow-node-mismatch"},
			untouched: true,
		},
		{
			name:    "a truncated stream is detected and the set fails without a manifest",
			catalog: true,
			before: func(t *testing.T, s *sim) {
				s.c.Peers()[1].SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.TruncateAfter = &cut }))
			},
			code: exitFailed, msgs: []string{"failed: upload snapshot of shard", "body cut after 2000 bytes"},
			prune: true,
		},
		{
			name:    "a peer stopped mid-stream fails the set and prune leaves no orphans",
			catalog: true,
			before: func(t *testing.T, s *sim) {
				s.c.Peers()[1].SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.StallAfter = &stall }))
			},
			during: func(t *testing.T, s *sim, p *proc) { s.c.Peers()[1].Stop() },
			// Whichever shard of the stopped peer fails first is reported:
			// the stalled stream being cut, or a queued one that cannot start.
			code: exitFailed, msgs: []string{"failed: ", "snapshot", "of shard"},
			prune: true,
		},
		{
			name: "a peer stopped mid-stream without a catalog fails the set and prune leaves no orphans",
			before: func(t *testing.T, s *sim) {
				s.c.Peers()[0].SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.StallAfter = &stall }))
			},
			during: func(t *testing.T, s *sim, p *proc) { s.c.Peers()[0].Stop() },
			code:   exitFailed, msgs: []string{"failed: ", "snapshot", "of shard"},
			prune: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sm := startSim(t, fastSim(3))
			sm.loadMixed(t)
			var cat *catalog
			if tt.catalog {
				cat = newCatalog(t)
			}
			var st store = newFileStore(t)
			if tt.catalog {
				st = newS3Store(t)
			}
			sc := newScenario(t, sm, st, cat)
			tt.before(t, sm)
			p := sc.qb.start(t, sc.backupArgs("--concurrency=2", "--per-peer-concurrency=1")...)
			if tt.during != nil {
				waitForObjects(t, sc, p)
				tt.during(t, sm, p)
			}
			r := p.wait()
			expect(t, r, tt.code, tt.msgs...)
			if tt.untouched {
				if keys := sc.st.keys(t); len(keys) != 0 {
					t.Fatalf("storage holds %v after a refused backup", keys)
				}
				if cat != nil {
					if rows := cat.backups(t, sc.cluster); len(rows) != 0 {
						t.Fatalf("catalog rows %+v after a refused backup", rows)
					}
				}
			}
			if m := sc.manifests(t); len(m) != 0 {
				t.Fatalf("failed backup left manifests %v", m)
			}
			if cat != nil && !tt.untouched {
				rows := cat.backups(t, sc.cluster)
				if len(rows) != 1 || rows[0].Status != "failed" || rows[0].Reason == "" {
					t.Fatalf("catalog rows %+v, want one failed set with a reason", rows)
				}
			}
			if tt.prune {
				ok(t, sc.qb.run(t, sc.args("prune", "--orphan-grace=0")...))
				if left := sc.setObjects(t); len(left) != 0 {
					t.Fatalf("objects left after prune: %v", left)
				}
			}
			if s3, isS3 := sc.st.(*s3Store); isS3 {
				if up := s3.uploads(t); len(up) != 0 {
					t.Errorf("multipart uploads left open: %v", up)
				}
			}
		})
	}
}

// waitForObjects waits until the running backup has written a shard object
// (or exited, which the caller's assertions then report).
func waitForObjects(t *testing.T, sc *scenario, p *proc) {
	t.Helper()
	eventually(t, time.Minute, "a shard object in storage", func() bool {
		select {
		case <-p.done:
			return true
		default:
		}
		return len(sc.setObjects(t)) > 0
	})
}

func TestBackupWithTheCatalogUnreachableFailsBeforeAnySnapshot(t *testing.T) {
	t.Parallel()
	sm := startSim(t, fastSim(3))
	sm.loadMixed(t)
	st := newS3Store(t)
	disc, rec := sm.recordedDiscovery(t)
	qb := newCLI(t).with(st.env()...).with("QBACKUP_CATALOG_DSN", "qbackup:secret@tcp(127.0.0.1:1)/qbackup?timeout=2s")
	r := qb.run(t, append(append([]string{"backup", "--cluster=prod"}, st.flags()...), disc...)...)
	expect(t, r, exitFailed, "catalog unreachable at 127.0.0.1:1")
	if strings.Contains(r.stderr, "secret") {
		t.Errorf("the DSN password shows in the output:\n%s", r)
	}
	if got := rec.matching("snapshot"); len(got) != 0 {
		t.Errorf("the cluster was asked for snapshots: %v", got)
	}
	if keys := st.keys(t); len(keys) != 0 {
		t.Errorf("storage holds %v", keys)
	}
}

func TestConcurrentBackupsExitWithTheHolder(t *testing.T) {
	t.Parallel()
	for _, withCatalog := range []bool{true, false} {
		name := "a second backup sees the catalog lease"
		if !withCatalog {
			name = "a second backup sees the storage lock object"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sm := startSim(t, fastSim(3))
			sm.loadMixed(t)
			var cat *catalog
			var st store = newFileStore(t)
			if withCatalog {
				cat, st = newCatalog(t), newS3Store(t)
			}
			sc := newScenario(t, sm, st, cat)
			// Slow snapshots keep the first run holding the lock.
			for _, p := range sm.c.Peers() {
				p.SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.Latency = duration(3 * time.Second) }))
			}
			first := sc.qb.start(t, sc.backupArgs()...)
			holder := ""
			eventually(t, 30*time.Second, "the first backup to take the lock", func() bool {
				if withCatalog {
					holder = cat.leaseHolder(t, sc.cluster)
				} else {
					for _, k := range st.keys(t) {
						if k == sc.cluster+"/.locks/backup.json" {
							var rec struct {
								Holder string `json:"holder"`
							}
							_ = json.Unmarshal(st.read(t, k), &rec)
							holder = rec.Holder
						}
					}
				}
				return holder != ""
			})
			// host:pid, and in the catalog's single column also the operation.
			if pid := fmt.Sprintf(":%d", first.cmd.Process.Pid); !strings.HasSuffix(holder, pid) && !strings.Contains(holder, pid+" (backup ") {
				t.Errorf("lock holder %q does not name the first run (pid %d)", holder, first.cmd.Process.Pid)
			}
			second := sc.qb.run(t, sc.backupArgs()...)
			expect(t, second, exitLocked, "holds the cluster lock", "holder "+holder)
			ok(t, first.wait())
			if n := len(sc.manifests(t)); n != 1 {
				t.Fatalf("%d sets in storage, want the first run's only", n)
			}
		})
	}
}

func TestInterruptedBackups(t *testing.T) {
	t.Parallel()
	stall := int64(1500)
	tests := []struct {
		name   string
		signal string
		code   []int
	}{
		{name: "SIGTERM mid-run fails the set cleanly and releases the lock", signal: "TERM", code: []int{exitInterrupted}},
		{name: "SIGKILL mid-run leaves orphans that prune removes", signal: "KILL", code: []int{128 + 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sm := startSim(t, fastSim(3))
			sm.loadMixed(t)
			sc := newScenario(t, sm, newS3Store(t), newCatalog(t))
			stalled := sm.c.Peers()[2]
			stalled.SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.StallAfter = &stall }))
			p := sc.qb.start(t, sc.backupArgs("--concurrency=2", "--per-peer-concurrency=1", "--lease-ttl=3s")...)
			waitForObjects(t, sc, p)
			if tt.signal == "TERM" {
				p.signal(t, sigterm)
			} else {
				p.signal(t, sigkill)
			}
			r := p.wait()
			t.Logf("qbackup backup: exit %d: %s", r.code, lastLine(r.stderr))
			if !slices.Contains(tt.code, r.code) {
				t.Fatalf("exit code %d, want one of %v\n%s", r.code, tt.code, r)
			}
			stalled.ClearFaults()
			if m := sc.manifests(t); len(m) != 0 {
				t.Fatalf("interrupted backup left manifests %v", m)
			}
			if tt.signal == "TERM" {
				if !strings.Contains(r.stderr, "cancelled") {
					t.Errorf("the interrupted run does not say it was cancelled:\n%s", r)
				}
				if left := sc.setObjects(t); len(left) != 0 {
					t.Errorf("partial objects left: %v", left)
				}
				if up := sc.st.(*s3Store).uploads(t); len(up) != 0 {
					t.Errorf("multipart uploads left open: %v", up)
				}
				assertOneFailed(t, sc)
				if h := sc.cat.leaseHolder(t, sc.cluster); h != "" {
					t.Errorf("lease still held by %s", h)
				}
			} else {
				// The killed run cannot release its lease: it expires
				// (3s) and is taken over.
				time.Sleep(3500 * time.Millisecond)
				r := sc.qb.run(t, sc.args("prune", "--orphan-grace=0")...)
				ok(t, r)
				if left := sc.setObjects(t); len(left) != 0 {
					t.Errorf("objects left after prune: %v", left)
				}
				assertOneFailed(t, sc)
			}
			ok(t, sc.qb.run(t, sc.backupArgs()...))
			if n := len(sc.manifests(t)); n != 1 {
				t.Errorf("%d sets after the next backup, want 1", n)
			}
		})
	}
}

func assertOneFailed(t *testing.T, sc *scenario) {
	t.Helper()
	rows := sc.cat.backups(t, sc.cluster)
	if len(rows) != 1 || rows[0].Status != "failed" {
		t.Fatalf("catalog rows %+v, want one failed set", rows)
	}
}
