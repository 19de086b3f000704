package kube

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/restore"
)

// richBackup is a set of 3 pods with an auto-sharded collection
// (replication 2) and a custom-sharded one (two keys), encrypted, one
// shard missing (partial).
func richBackup() *manifest.Manifest {
	const id = "20261125T133000Z-3f9c"
	sum := strings.Repeat("ab", 32)
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: "prod", QdrantVersion: "1.19.0", ToolVersion: "v1.2.3",
		SnapshotMethod: manifest.MethodStream, StartedAt: time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC),
		FinishedAt: time.Date(2026, 11, 25, 13, 31, 30, 0, time.UTC),
		Window:     manifest.Window{FirstStart: time.Date(2026, 11, 25, 13, 30, 1, 0, time.UTC), LastStart: time.Date(2026, 11, 25, 13, 30, 1, 250e6, time.UTC), SkewMillis: 250},
		Encryption: &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: []string{"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"}},
	}
	peers := []uint64{4750938265642287, 276954432704246, 1234567890123456}
	for i, p := range peers {
		m.Peers = append(m.Peers, manifest.Peer{ID: p, Pod: pod(i), URI: fmt.Sprintf("http://10.0.0.%d:6333", i+1)})
	}
	shard := func(col string, id uint32, src int, reps ...int) manifest.Shard {
		s := manifest.Shard{ID: id, SourcePeer: peers[src], Object: manifest.ShardObjectKey("prod", m.BackupID, col, id, "zstd") + ".age",
			Compression: "zstd", Size: int64(1000 * (id + 1)), SHA256: sum, SnapshotSize: 5000, SnapshotSHA256: sum, PointsCount: uint64(10 * (id + 1))}
		for _, r := range reps {
			s.Replicas = append(s.Replicas, manifest.Replica{PeerID: peers[r], State: "Active"})
		}
		return s
	}
	docs := manifest.Collection{Name: "docs", Config: []byte(`{"params":{}}`), ShardingMethod: "auto", ShardNumber: 3, ReplicationFactor: 2,
		PointsCount: 60, Aliases: []string{"docs-live"}, Sample: []manifest.PointDigest{{ID: []byte("1"), SHA256: sum}}}
	docs.Shards = []manifest.Shard{shard("docs", 0, 0, 0, 1), shard("docs", 1, 1, 1, 2), shard("docs", 2, 2, 2, 0)}
	a, b := manifest.ShardKeyValue{Str: "a"}, manifest.ShardKeyValue{Num: 7, IsNum: true}
	tenants := manifest.Collection{Name: "tenants", Config: []byte(`{}`), ShardingMethod: "custom", ShardNumber: 1, ReplicationFactor: 1, PointsCount: 30,
		ShardKeys: []manifest.ShardKey{{Key: a, ShardIDs: []uint32{3}, ReplicationFactor: 2}, {Key: b, ShardIDs: []uint32{4}, ReplicationFactor: 1}}}
	s3, s4 := shard("tenants", 3, 0, 0, 2), shard("tenants", 4, 1, 1)
	s3.ShardKey, s4.ShardKey = &a, &b
	s4.Object = "" // missing from the partial set
	tenants.Shards = []manifest.Shard{s3, s4}
	m.Collections = []manifest.Collection{docs, tenants}
	m.Partial = true
	return m
}

// TestSummaryPlansAsTheManifest: the restore preview planned from a
// summary's rebuilt manifest is the one planned from the manifest, for
// every strategy and pod count.
func TestSummaryPlansAsTheManifest(t *testing.T) {
	m := richBackup()
	s := SummarizeManifest(m, "s3://b/p", time.Unix(0, 0))
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSummary(b)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, full := back.Manifest()
	if !full {
		t.Fatal("a small set's summary dropped detail")
	}
	for _, n := range []int{1, 2, 3, 5} {
		for _, opts := range []restore.PlanOptions{
			{}, {Strategy: restore.StrategyRedistribute}, {TargetNode: pod(0)}, {Shards: 6}, {AutoShards: true}, {Rename: restore.Rename{Suffix: "_drill"}},
		} {
			name := fmt.Sprintf("%d pods %+v", n, opts)
			want, err := PreviewPlan(m, pods(n), opts)
			got, err2 := PreviewPlan(rebuilt, pods(n), opts)
			if (err == nil) != (err2 == nil) {
				t.Fatalf("%s: manifest %v, summary %v", name, err, err2)
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s: manifest previews %+v, summary %+v", name, want, got)
			}
			// The whole plan, less what only storage holds.
			target := restore.Target{}
			for i, p := range pods(n) {
				target.Peers = append(target.Peers, restore.TargetPeer{ID: uint64(i) + 1, Pod: p})
			}
			pw, _ := restore.Plan(m, target, opts)
			pg, _ := restore.Plan(rebuilt, target, opts)
			if pw == nil || pg == nil {
				continue
			}
			if a, b := placement(pw), placement(pg); a != b {
				t.Errorf("%s: placements differ:\nmanifest %s\nsummary  %s", name, a, b)
			}
		}
	}
}

// placement is a plan without the storage-only fields (object keys,
// checksums, compression, encryption), as JSON.
func placement(p *restore.RestorePlan) string {
	cp := *p
	cp.Collections = slices.Clone(p.Collections)
	for i := range cp.Collections {
		c := &cp.Collections[i]
		c.Shards = slices.Clone(c.Shards)
		for j := range c.Shards {
			s := &c.Shards[j]
			if s.Object != "" {
				s.Object = "x"
			}
			s.SHA256, s.SnapshotSHA256, s.Compression, s.Encryption, s.SnapshotSize = "", "", "", nil, 0
		}
	}
	b, _ := json.Marshal(cp)
	return string(b)
}

func TestSummaryHoldsWhatListAndDescribeShow(t *testing.T) {
	m := richBackup()
	s := SummarizeManifest(m, "s3://b/p", time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	row := s.Row()
	want := listing.Backup{
		Cluster: "prod", BackupID: m.BackupID, Status: catalog.StatusPartial, VerifyStatus: catalog.VerifyUnverified,
		QdrantVersion: "1.19.0", ToolVersion: "v1.2.3", SnapshotMethod: "stream", StartedAt: m.StartedAt, FinishedAt: m.FinishedAt,
		WindowFirstStart: m.Window.FirstStart, WindowLastStart: m.Window.LastStart, SkewMillis: 250,
		CollectionCount: 2, ShardCount: 5, TotalBytes: m.TotalSize(), PointsCount: 90,
		ManifestKey: manifest.ManifestKey("prod", m.BackupID), UpdatedAt: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC), StorageLocation: "s3://b/p",
	}
	if row != want {
		t.Errorf("row\n%+v\nwant\n%+v", row, want)
	}
	if s.PodCount != 3 || s.RecipientCount != 1 || s.Encryption == nil || len(s.Peers) != 3 {
		t.Errorf("pods %d, recipients %d, encryption %v, peers %v", s.PodCount, s.RecipientCount, s.Encryption, s.Peers)
	}
	rebuilt, _ := s.Manifest()
	if rebuilt.TotalSize() != m.TotalSize() || rebuilt.ShardCount() != m.ShardCount() || !rebuilt.Partial {
		t.Errorf("rebuilt: %d bytes in %d shards, partial %v", rebuilt.TotalSize(), rebuilt.ShardCount(), rebuilt.Partial)
	}
	if got := rebuilt.Collections[1].Shards[1].Object; got != "" {
		t.Errorf("the missing shard is rebuilt with object %q", got)
	}
	// Nothing of a collection's config or sample, nor any object key.
	b, _ := s.Encode()
	for _, leak := range []string{"params", "snapshot.zst", strings.Repeat("ab", 32)} {
		if strings.Contains(string(b), leak) {
			t.Errorf("the summary holds %q:\n%s", leak, b)
		}
	}
}

// bigBackup is a set with cols collections of shards shards each.
func bigBackup(cols, shards, recipients int) *manifest.Manifest {
	m := richBackup()
	m.Collections = nil
	for i := range recipients {
		m.Encryption.Recipients = append(m.Encryption.Recipients, fmt.Sprintf("age1%058d", i))
	}
	for c := range cols {
		col := manifest.Collection{Name: fmt.Sprintf("collection-with-a-longish-name-%05d", c), ShardingMethod: "auto", ShardNumber: uint32(shards), ReplicationFactor: 3}
		for s := range shards {
			col.Shards = append(col.Shards, manifest.Shard{ID: uint32(s), SourcePeer: m.Peers[s%3].ID, Size: 1 << 30, PointsCount: 1 << 40, Object: "o",
				Replicas: []manifest.Replica{{PeerID: m.Peers[0].ID}, {PeerID: m.Peers[1].ID}, {PeerID: m.Peers[2].ID}}})
		}
		m.Collections = append(m.Collections, col)
	}
	return m
}

// TestSummaryStaysWithinItsBound: a set too large for the full summary
// drops its shards, then its collections, and always fits.
func TestSummaryStaysWithinItsBound(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		cols, shards, recipients int
		want                     string
	}{
		{"small", 10, 12, 0, DetailFull},
		{"2,000 shards", 100, 20, 0, DetailFull},
		{"20,000 shards", 1000, 20, 0, DetailCollections},
		{"50,000 collections", 50000, 1, 0, DetailTotals},
		{"50,000 collections, 10,000 recipients", 50000, 1, 10000, DetailTotals},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := bigBackup(tc.cols, tc.shards, tc.recipients)
			s := SummarizeManifest(m, "s3://b/p", time.Unix(0, 0))
			cm, err := SummaryConfigMap(&s)
			if err != nil {
				t.Fatal(err)
			}
			data := cm.Data[SummaryKey]
			if len(data) > MaxSummaryBytes {
				t.Fatalf("%d bytes, more than %d", len(data), MaxSummaryBytes)
			}
			back, err := DecodeSummary([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if back.Detail != tc.want {
				t.Errorf("detail %q (%d bytes), want %q", back.Detail, len(data), tc.want)
			}
			// The totals survive whatever was dropped.
			if back.ShardCount != m.ShardCount() || back.TotalBytes != m.TotalSize() || back.CollectionCount != len(m.Collections) ||
				back.PodCount != 3 || back.RecipientCount != len(m.Encryption.Recipients) {
				t.Errorf("totals lost: %+v", back.Row())
			}
			if _, full := back.Manifest(); full != (tc.want == DetailFull) {
				t.Errorf("Manifest says full %v at detail %s", full, back.Detail)
			}
		})
	}
}

func TestSummaryNamesAndLabelsAreValid(t *testing.T) {
	long := strings.Repeat("x", 191)
	for _, cluster := range []string{"default", "prod/eu", "Prod EU ünïcode", long, "-dash"} {
		name := SummaryName(cluster, "20261125T133000Z-3f9c")
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("cluster %q: name %q: %v", cluster, name, errs)
		}
		if errs := validation.IsValidLabelValue(ClusterLabelValue(cluster)); len(errs) > 0 {
			t.Errorf("cluster %q: label %q: %v", cluster, ClusterLabelValue(cluster), errs)
		}
	}
	if SummaryName("a", "20261125T133000Z-3f9c") == SummaryName("b", "20261125T133000Z-3f9c") {
		t.Error("two clusters' sets of one id share a summary name")
	}
	if got := ClusterLabelValue("default"); got != "default" {
		t.Errorf("a valid cluster name is labelled %q", got)
	}
	if got := SummaryName("default", "20261125T133000Z-3f9c"); !strings.HasPrefix(got, "qbackup-set-20261125t133000z-3f9c-") {
		t.Errorf("name %q does not start with the id", got)
	}
}

func TestDecodeSummaryRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"newer format", `{"version":2,"backup_id":"20261125T133000Z-3f9c"}`, "upgrade kubectl-qbackup"},
		{"no version", `{"backup_id":"20261125T133000Z-3f9c"}`, "not one qbackup wrote"},
		{"not an id", `{"version":1,"backup_id":"yesterday"}`, "not one qbackup wrote"},
		{"not JSON", `{`, "decode backup summary"},
	} {
		if _, err := DecodeSummary([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSummaryClipsFreeText(t *testing.T) {
	s := SummarizeManifest(richBackup(), "", time.Unix(0, 0))
	s.VerifyDetail = strings.Repeat("é", 2000)
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSummary(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.VerifyDetail) > maxSummaryText || !strings.HasSuffix(back.VerifyDetail, "...") || !json.Valid(b) {
		t.Errorf("detail of %d bytes: %q", len(back.VerifyDetail), back.VerifyDetail[len(back.VerifyDetail)-10:])
	}
}
