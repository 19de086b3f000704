package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

const streamRoute = "GET /collections/{collection_name}/shards/{shard_id}/snapshot"

// slowStreams delays every snapshot stream, so that live writes land
// between the first reading of a backup and its snapshots.
func slowStreams(c *qdrantsim.Cluster, d time.Duration) {
	for _, p := range c.Peers() {
		p.SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{Route: streamRoute, Latency: qdrantsim.Duration(d)}}})
	}
}

// backupUnderWrites takes a backup while the simulator's write load
// writes to docs, and returns its manifest.
func backupUnderWrites(t *testing.T, s *cliSim, store storage.Backend) *manifest.Manifest {
	t.Helper()
	slowStreams(s.c, 300*time.Millisecond)
	s.c.SetWriteLoad(qdrantsim.WriteLoad{Rate: 200, Collections: []string{"docs"}})
	time.Sleep(150 * time.Millisecond)
	mustQbackup(t, s.args("backup")...)
	s.c.SetWriteLoad(qdrantsim.WriteLoad{})
	slowStreams(s.c, 0)
	if st := s.c.WriteStats(); st.Upserts+st.Deletes == 0 {
		t.Fatalf("the write load wrote nothing: %+v", st)
	}
	return loadManifest(t, store, "latest")
}

func loadManifest(t *testing.T, store storage.Backend, ref string) *manifest.Manifest {
	t.Helper()
	rs := &cli.ReadSide{Store: store}
	m, err := rs.Load(context.Background(), "prod", ref)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openStore(t *testing.T, s *cliSim) storage.Backend {
	t.Helper()
	store, err := cli.OpenStore(context.Background(), config.Source{Storage: s.storage}, config.Secrets{}, false)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestARestoreOfABackupTakenUnderLiveWritesVerifies: the count of a
// collection written to during the backup is recorded as a range, and
// the restore verifies against it.
func TestARestoreOfABackupTakenUnderLiveWritesVerifies(t *testing.T) {
	s := startCLISim(t, qdrantsim.Options{})
	store := openStore(t, s)
	m := backupUnderWrites(t, s, store)
	docs := m.Collection("docs")
	if docs.PointsCountRange == nil || docs.PointsCountRange.Min == docs.PointsCountRange.Max {
		t.Fatalf("count range %v: want the writes during the backup in it", docs.PointsCountRange)
	}
	if len(docs.Sample) == 0 {
		t.Fatal("no stable sampled point recorded")
	}
	out := mustQbackup(t, s.args("restore", "latest", "--rename=_r")...)
	if !strings.Contains(out, "docs_r") {
		t.Fatalf("restore report without the collection:\n%s", out)
	}
}

// TestABackupWithAShardSwappedForAnOlderCopyFailsVerification: a set
// whose object for one shard is an older backup's copy of that shard
// (consistently recorded, so every checksum matches) fails the restore's
// verification even though the set was taken under live writes.
func TestABackupWithAShardSwappedForAnOlderCopyFailsVerification(t *testing.T) {
	s := startCLISim(t, qdrantsim.Options{})
	store := openStore(t, s)
	mustQbackup(t, s.args("backup")...)
	old := loadManifest(t, store, "latest")
	time.Sleep(1100 * time.Millisecond) // backup ids have a second's resolution
	// The cluster moves on: every point rewritten, as many again added.
	if err := upsertPoints(context.Background(), s.c.Peers()[0], 1, 400, 1); err != nil {
		t.Fatal(err)
	}
	m := backupUnderWrites(t, s, store)

	swapped := &m.Collection("docs").Shards[0]
	was := old.Collection("docs").Shards[0]
	if was.ID != swapped.ID {
		t.Fatalf("shard order differs: %d vs %d", was.ID, swapped.ID)
	}
	copyObject(t, store, was.Object, swapped.Object)
	swapped.Size, swapped.SHA256, swapped.SnapshotSize, swapped.SnapshotSHA256 = was.Size, was.SHA256, was.SnapshotSize, was.SnapshotSHA256
	b, err := manifest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(context.Background(), manifest.ManifestKey("prod", m.BackupID), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := qbackup(t, s.args("restore", m.BackupID, "--rename=_s")...)
	if code != cli.ExitFailure || !strings.Contains(errOut, "verification failed") || !strings.Contains(errOut, `"docs_s"`) {
		t.Fatalf("exit %d, want %d with a verification failure of docs_s\nstdout: %s\nstderr: %s", code, cli.ExitFailure, out, errOut)
	}
}

func copyObject(t *testing.T, store storage.Backend, from, to string) {
	t.Helper()
	r, err := store.Open(context.Background(), from, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(context.Background(), to, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}
