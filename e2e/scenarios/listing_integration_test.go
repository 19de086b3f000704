//go:build integration

package scenarios

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// listRow is the part of a `list -o json` row these tests read.
type listRow struct {
	Cluster         string `json:"cluster"`
	BackupID        string `json:"backup_id"`
	Status          string `json:"status"`
	Reason          string `json:"reason"`
	StorageLocation string `json:"storage_location"`
}

type describeDoc struct {
	Manifest struct {
		BackupID string `json:"backup_id"`
	} `json:"manifest"`
}

// smallSource is a two-peer cluster with one small collection.
func smallSource(t *testing.T) *sim {
	t.Helper()
	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 30, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })
	return src
}

func (s *scenario) list(t *testing.T) []listRow {
	t.Helper()
	r := s.qb.run(t, s.args("list", "-o", "json")...)
	ok(t, r)
	return decode[[]listRow](t, "list -o json", r.stdout)
}

func (s *scenario) describeLatest(t *testing.T) (string, result) {
	t.Helper()
	r := s.qb.run(t, s.args("describe", "latest", "-o", "json")...)
	ok(t, r)
	return decode[describeDoc](t, "describe -o json", r.stdout).Manifest.BackupID, r
}

// truncateManifest cuts a set's manifest in half, as an interrupted copy
// or a full disk would.
func (s *scenario) truncateManifest(t *testing.T, id string) {
	t.Helper()
	key := s.cluster + "/" + id + "/manifest.json"
	b := s.st.read(t, key)
	s.st.write(t, key, b[:len(b)/2])
}

func skippedWarning(id string) string { return "backup_id=" + id }

func TestOneUnreadableManifestDoesNotPoisonTheRest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		st   func(t *testing.T) store
		cat  bool
	}{
		{name: "file store without a catalog", st: func(t *testing.T) store { return newFileStore(t) }},
		{name: "MinIO with the catalog", st: func(t *testing.T) store { return newS3Store(t) }, cat: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := smallSource(t)
			var cat *catalog
			if tc.cat {
				cat = newCatalog(t)
			}
			sc := newScenario(t, src, tc.st(t), cat)
			// Backup ids have a resolution of one second, and an
			// unreadable set's time is its id's: a second apart, as real
			// backups are, the order is unambiguous.
			var ids []string
			for range 3 {
				time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
				ids = append(ids, sc.backup(t))
			}
			oldest, good, bad := ids[0], ids[1], ids[2]
			sc.truncateManifest(t, bad)

			// list: one bad row (from storage), or the catalog's rows;
			// exit 0 either way.
			rows := sc.list(t)
			if len(rows) != 3 {
				t.Fatalf("list shows %d rows, want 3: %+v", len(rows), rows)
			}
			if !tc.cat && (rows[0].BackupID != bad || rows[0].Status != "unreadable" || rows[0].Reason == "") {
				t.Errorf("the truncated set's row is %+v, want status unreadable with a reason", rows[0])
			}
			r := sc.qb.run(t, sc.args("list")...)
			ok(t, r)
			if !tc.cat && (!strings.Contains(r.stdout, "REASON") || !strings.Contains(r.stdout, "unreadable")) {
				t.Errorf("the list table has no unreadable row with a reason:\n%s", r.stdout)
			}

			// latest skips it, saying so.
			id, r := sc.describeLatest(t)
			if id != good {
				t.Errorf("describe latest = %s, want %s (the newest readable set)", id, good)
			}
			expect(t, r, exitOK, "skipping a backup whose manifest cannot be read", skippedWarning(bad))
			r = sc.qb.run(t, sc.args("verify", "latest")...)
			expect(t, r, exitOK, skippedWarning(bad))
			if !strings.Contains(r.stdout, "backup "+good+" is intact") {
				t.Errorf("verify latest did not verify %s:\n%s", good, r)
			}
			target := startSim(t, fastSim(2))
			r = sc.qb.run(t, sc.restoreArgs(target, "latest")...)
			expect(t, r, exitOK, skippedWarning(bad))
			assertReported(t, r, "of backup "+good)
			assertRestored(t, src, target, []string{"docs"}, same)

			// Named by its id, it is refused as before.
			expect(t, sc.qb.run(t, sc.args("verify", bad)...), exitCorrupt, bad)
			expect(t, sc.qb.run(t, sc.args("describe", bad)...), exitCorrupt, bad)

			// prune keeps the unreadable set and applies the rules to the rest.
			r = sc.qb.run(t, sc.args("prune", "--keep-last=1")...)
			ok(t, r)
			manifests := sc.manifests(t)
			for id, want := range map[string]bool{oldest: false, good: true, bad: true} {
				if got := slices.Contains(manifests, sc.cluster+"/"+id+"/manifest.json"); got != want {
					t.Errorf("after prune, manifest of %s present = %v, want %v (manifests %v)", id, got, want, manifests)
				}
			}
		})
	}
}

func TestTwoStoresSharingOneCatalogStayApart(t *testing.T) {
	t.Parallel()
	src := smallSource(t)
	cat := newCatalog(t)
	a := newScenario(t, src, newFileStore(t), cat)
	b := newScenario(t, src, newS3Store(t), cat)

	a1 := a.backup(t)
	b1 := b.backup(t) // newer than a1, in the other store
	a2 := a.backup(t)
	b2 := b.backup(t)

	// Each store lists and picks its own sets.
	for _, tc := range []struct {
		sc     *scenario
		want   []string
		latest string
	}{{a, []string{a2, a1}, a2}, {b, []string{b2, b1}, b2}} {
		var got []string
		for _, row := range tc.sc.list(t) {
			got = append(got, row.BackupID)
			if row.StorageLocation == "" {
				t.Errorf("row %s has no storage location", row.BackupID)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("list = %v, want %v", got, tc.want)
		}
		if id, _ := tc.sc.describeLatest(t); id != tc.latest {
			t.Errorf("describe latest = %s, want %s", id, tc.latest)
		}
	}
	// b2 is the newest set of the cluster in the catalog, yet store A's
	// latest restore takes a2.
	target := startSim(t, fastSim(2))
	r := a.qb.run(t, a.restoreArgs(target, "latest")...)
	ok(t, r)
	assertReported(t, r, "of backup "+a2)

	// prune on A removes A's old set only: B's rows and objects stay.
	bKeys := b.st.keys(t)
	ok(t, a.qb.run(t, a.args("prune", "--keep-last=1")...))
	var ids []string
	for _, row := range cat.backups(t, "prod") {
		ids = append(ids, row.ID)
	}
	slices.Sort(ids)
	want := []string{b1, a2, b2}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("catalog rows after prune on A: %v, want %v (a1 gone, B's untouched)", ids, want)
	}
	if got := b.st.keys(t); !slices.Equal(got, bKeys) {
		t.Errorf("prune on A changed store B:\nbefore %v\nafter  %v", bKeys, got)
	}
	if slices.Contains(a.manifests(t), "prod/"+a1+"/manifest.json") {
		t.Errorf("prune on A kept %s", a1)
	}
}

func TestCatalogSyncReconcilesBothWays(t *testing.T) {
	t.Parallel()
	src := smallSource(t)
	cat := newCatalog(t)
	st := newS3Store(t)
	withCat := newScenario(t, src, st, cat)
	noCat := newScenario(t, src, st, nil)

	unknown := noCat.backup(t) // in storage, not in the catalog
	kept := withCat.backup(t)
	deleted := withCat.backup(t)
	st.remove(t, "prod/"+deleted+"/manifest.json")

	// Before the sync, latest already steps over the set that is gone.
	id, r := withCat.describeLatest(t)
	if id != kept {
		t.Errorf("describe latest before sync = %s, want %s", id, kept)
	}
	expect(t, r, exitOK, skippedWarning(deleted))

	r = withCat.qb.run(t, withCat.args("catalog", "sync")...)
	ok(t, r)
	if !strings.Contains(r.stdout, "2 manifests indexed, 1 sets marked missing") {
		t.Errorf("catalog sync reported:\n%s", r)
	}
	status := map[string]string{}
	reason := map[string]string{}
	for _, row := range cat.backups(t, "prod") {
		status[row.ID], reason[row.ID] = row.Status, row.Reason
	}
	if status[unknown] != "complete" || status[kept] != "complete" || status[deleted] != "missing" || reason[deleted] == "" {
		t.Errorf("catalog after sync: %v (reasons %v); want %s added as complete and %s missing with a reason", status, reason, unknown, deleted)
	}
	// Now latest picks the kept set without having to skip anything.
	id, r = withCat.describeLatest(t)
	if id != kept || strings.Contains(r.stderr, "skipping") {
		t.Errorf("describe latest after sync = %s, want %s without a skip\n%s", id, kept, r)
	}
	// Idempotent.
	r = withCat.qb.run(t, withCat.args("catalog", "sync")...)
	ok(t, r)
	if !strings.Contains(r.stdout, "0 sets marked missing") {
		t.Errorf("a second sync reported:\n%s", r)
	}
}

// readOnlyS3 is the scenario's MinIO prefix reached through a proxy that
// refuses every write (PUT, POST, DELETE) with 403 AccessDenied, as a
// read-only user, a bucket policy or an object lock would.
func readOnlyS3(t *testing.T, st *s3Store) *s3Faults {
	t.Helper()
	f := newS3Faults(t, st.env_.Endpoint)
	f.inject(func(r *http.Request) bool { return r.Method != http.MethodGet && r.Method != http.MethodHead }, -1,
		http.StatusForbidden, "AccessDenied", "Access Denied.")
	return f
}

func TestRestoreFromReadOnlyStorage(t *testing.T) {
	t.Parallel()
	src := smallSource(t)
	st := newS3Store(t)
	sc := newScenario(t, src, st, nil)
	id := sc.backup(t)
	before := st.keys(t)

	ro := readOnlyS3(t, st)
	roArgs := func(cmd ...string) []string {
		return append(append(cmd, "--cluster="+sc.cluster), "--storage="+st.url(), "--s3-endpoint="+ro.srv.URL,
			"--s3-region="+st.env_.Region, "--s3-path-style")
	}
	restore := func(target *sim, extra ...string) []string {
		return append(append(roArgs("restore", "latest", "--wait-timeout=1m", "--transfer-timeout=1m"), target.discovery()...), extra...)
	}

	// The read side writes nothing at all.
	ok(t, sc.qb.run(t, roArgs("list")...))
	ok(t, sc.qb.run(t, roArgs("verify", "latest")...))
	ok(t, sc.qb.run(t, roArgs("describe", "latest")...))
	if got := ro.injectedRequests(); len(got) != 0 {
		t.Fatalf("list, verify and describe tried to write: %v", got)
	}

	for _, tc := range []struct {
		journal string
		msgs    []string
		// tried are the objects the restore tried to write (and the
		// proxy refused): the lock, and with auto the journal, nothing else.
		tried []string
	}{
		{"none", []string{"--journal=none", "a rerun of this restore starts over", "refuses the cluster lock"}, []string{"prod/.locks/backup.json"}},
		{"auto", []string{"the restore journal cannot be written", "a rerun of this restore starts over", "refuses the cluster lock"},
			[]string{"prod/.locks/backup.json", "prod/.restores/"}},
	} {
		t.Run("journal "+tc.journal, func(t *testing.T) {
			target := startSim(t, fastSim(2))
			n := len(ro.injectedRequests())
			r := sc.qb.run(t, restore(target, "--journal="+tc.journal)...)
			expect(t, r, exitOK, tc.msgs...)
			assertReported(t, r, "of backup "+id)
			assertRestored(t, src, target, []string{"docs"}, same)
			tried := ro.injectedRequests()[n:]
			for _, req := range tried {
				if !slices.ContainsFunc(tc.tried, func(k string) bool { return strings.Contains(req, "/"+st.prefix+"/"+k) }) {
					t.Errorf("the restore tried to write %s; want only %v", req, tc.tried)
				}
			}
			for _, k := range tc.tried {
				if !slices.ContainsFunc(tried, func(req string) bool { return strings.Contains(req, "/"+st.prefix+"/"+k) }) {
					t.Errorf("the restore never tried to write %s (tried %v): is the proxy refusing writes?", k, tried)
				}
			}
		})
	}
	t.Run("journal in a separate directory", func(t *testing.T) {
		target := startSim(t, fastSim(2))
		dir := t.TempDir()
		r := sc.qb.run(t, restore(target, "--journal=file://"+dir)...)
		expect(t, r, exitOK, "refuses the cluster lock")
		assertRestored(t, src, target, []string{"docs"}, same)
		var journals []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				journals = append(journals, p)
			}
			return nil
		})
		if len(journals) != 1 || !strings.Contains(journals[0], id) {
			t.Errorf("journal directory holds %v, want one journal of %s", journals, id)
		}
	})
	t.Run("journal insisted on in the store fails before changing the cluster", func(t *testing.T) {
		target := startSim(t, fastSim(2))
		r := sc.qb.run(t, restore(target, "--journal=store")...)
		expect(t, r, 1, "AccessDenied")
		if got := target.collections(t); len(got) != 0 {
			t.Errorf("the refused restore created %v", got)
		}
	})
	t.Run("bad journal values are usage errors", func(t *testing.T) {
		target := startSim(t, fastSim(2))
		expect(t, sc.qb.run(t, restore(target, "--journal=catalog")...), exitUsage, "needs a catalog", "QBACKUP_CATALOG_DSN")
		expect(t, sc.qb.run(t, restore(target, "--journal=s3://elsewhere")...), exitUsage, "QBACKUP_JOURNAL", "file:///abs/path")
		expect(t, sc.qb.with("QBACKUP_JOURNAL", "file://relative").run(t, restore(target)...), exitUsage, "must be absolute")
	})

	// Nothing reached the store.
	if got := st.keys(t); !slices.Equal(got, before) {
		t.Errorf("restores from the read-only store changed it:\nbefore %v\nafter  %v", before, got)
	}
}
