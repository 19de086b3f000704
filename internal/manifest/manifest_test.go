package manifest

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func validManifest() *Manifest {
	t0 := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	key := StringKey("tenant-a")
	sum := strings.Repeat("ab", 32)
	return &Manifest{
		FormatVersion:  FormatVersion,
		BackupID:       "20261125T133000Z-3f9c",
		Cluster:        "prod",
		QdrantVersion:  "1.19.0",
		SnapshotMethod: MethodStream,
		StartedAt:      t0,
		FinishedAt:     t0.Add(time.Minute),
		Peers:          []Peer{{ID: 11, Pod: "qdrant-0", URI: "http://10.0.0.1:6333"}},
		Collections: []Collection{
			{
				Name: "docs", Config: []byte(`{"params":{}}`), ShardingMethod: "auto", ShardNumber: 1, ReplicationFactor: 1, WriteConsistencyFactor: 1,
				PointsCountRange: &CountRange{Min: 90, Max: 104}, SampleDropped: 2,
				Shards: []Shard{{ID: 0, SourcePeer: 11, Object: "prod/x/docs/0.snapshot", Compression: CompressionNone, Size: 10, SHA256: sum, SnapshotSize: 10, SnapshotSHA256: sum,
					PointsCountRange: &CountRange{Min: 88, Max: 101}}},
			},
			{
				Name: "tenants", Config: []byte(`{"params":{}}`), ShardingMethod: "custom", ShardNumber: 1, ReplicationFactor: 1, WriteConsistencyFactor: 1,
				ShardKeys: []ShardKey{{Key: key, ShardIDs: []uint32{1}, ReplicationFactor: 3}},
				Shards:    []Shard{{ID: 1, ShardKey: &key, SourcePeer: 11, Object: "prod/x/tenants/1.snapshot", Compression: CompressionNone, Size: 10, SHA256: sum, SnapshotSize: 10, SnapshotSHA256: sum}},
			},
		},
	}
}

func TestRoundTripKeepsEveryField(t *testing.T) {
	m := validManifest()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("round trip changed the manifest:\n%s\n---\n%s", b, b2)
	}
	if k := got.Collections[1].Shards[0].ShardKey; k == nil || !k.Equal(StringKey("tenant-a")) {
		t.Fatalf("shard key lost: %+v", k)
	}
	if k := got.Collections[1].ShardKeys[0]; k.ReplicationFactor != 3 {
		t.Fatalf("shard key replication factor %d, want 3", k.ReplicationFactor)
	}
	if r := got.Collections[0].PointsCountRange; r == nil || *r != (CountRange{Min: 90, Max: 104}) || got.Collections[0].SampleDropped != 2 {
		t.Fatalf("count range lost: %+v", r)
	}
	if r := got.Collections[0].Shards[0].PointsCountRange; r == nil || *r != (CountRange{Min: 88, Max: 101}) {
		t.Fatalf("shard count range lost: %+v", r)
	}
}

const testRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

// encrypt marks every shard of m as encrypted, as a backup with a
// recipient records it: the stored object (ciphertext) differs from the
// snapshot in size and hash.
func encrypt(m *Manifest) {
	enc := &Encryption{Scheme: EncryptionAge, Recipients: []string{testRecipient}}
	m.Encryption = enc
	for i := range m.Collections {
		for j := range m.Collections[i].Shards {
			s := &m.Collections[i].Shards[j]
			s.Encryption = enc
			s.Size += 200
			s.SHA256 = strings.Repeat("cd", 32)
		}
	}
}

func TestEncryptedSetRoundTrips(t *testing.T) {
	m := validManifest()
	encrypt(m)
	b, err := Marshal(m)
	if err != nil {
		t.Fatalf("an encrypted set whose objects differ from their snapshots: %v", err)
	}
	if bytes.Contains(b, []byte("AGE-SECRET")) {
		t.Fatal("the manifest holds a secret key")
	}
	got, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	s := got.Collections[0].Shards[0]
	if s.Encryption == nil || s.Encryption.Scheme != EncryptionAge || len(s.Encryption.Recipients) != 1 || s.Encryption.Recipients[0] != testRecipient {
		t.Fatalf("shard encryption lost: %+v", s.Encryption)
	}
	if got.Encryption == nil || got.Encryption.Recipients[0] != testRecipient {
		t.Fatalf("set encryption lost: %+v", got.Encryption)
	}
	// The rule for plain objects still holds for the unencrypted shard
	// of a set.
	m.Collections[1].Shards[0].Encryption = nil
	if _, err := Marshal(m); err == nil || !strings.Contains(err.Error(), "uncompressed, yet the object") {
		t.Fatalf("an unencrypted shard whose object differs from its snapshot: %v", err)
	}
}

func TestCountRanges(t *testing.T) {
	r := RangeOf(104, 90)
	if *r != (CountRange{Min: 90, Max: 104}) || r.String() != "90..104" || RangeOf(7, 7).String() != "7" {
		t.Fatalf("RangeOf(104, 90) = %+v (%s)", r, r)
	}
	for n, want := range map[uint64]bool{89: false, 90: true, 100: true, 104: true, 105: false} {
		if r.Contains(n) != want {
			t.Errorf("%s contains %d: %v", r, n, !want)
		}
	}
}

func TestDecodeReadsTheVersionOneFixture(t *testing.T) {
	f, err := os.Open("testdata/manifest-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.ShardCount() != 2 || m.TotalSize() != 20 || m.Collection("tenants") == nil {
		t.Fatalf("fixture decoded wrongly: shards %d size %d", m.ShardCount(), m.TotalSize())
	}
	// Sets written before counts were recorded as ranges have none: a
	// restore verifies them as before.
	for _, c := range m.Collections {
		if c.PointsCountRange != nil || c.Shards[0].PointsCountRange != nil {
			t.Errorf("collection %q of the fixture decoded with a count range", c.Name)
		}
	}
	// Nor a shard key's replication factor: 0, the collection's is used.
	if k := m.Collection("tenants").ShardKeys; len(k) != 1 || k[0].ReplicationFactor != 0 {
		t.Errorf("fixture's shard keys decoded as %+v, want one without a replication factor", k)
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(m *Manifest)
		raw     string
		wantErr string
		wantIs  error
	}{
		{name: "a newer format version", raw: `{"format_version": 99}`, wantErr: "upgrade qbackup", wantIs: ErrUnsupportedFormat},
		{name: "a file without format version", raw: `{"backup_id": "x"}`, wantIs: ErrUnsupportedFormat},
		{name: "a file that is not JSON", raw: `not json`, wantErr: "decode manifest"},
		{name: "a malformed backup id", mutate: func(m *Manifest) { m.BackupID = "yesterday" }, wantErr: "backup id"},
		{name: "an unknown snapshot method", mutate: func(m *Manifest) { m.SnapshotMethod = "magic" }, wantErr: "snapshot method"},
		{name: "a bad checksum", mutate: func(m *Manifest) { m.Collections[0].Shards[0].SHA256 = "XYZ" }, wantErr: "checksums"},
		{name: "a missing shard object", mutate: func(m *Manifest) { m.Collections[0].Shards = nil }, wantErr: "0 shard objects for shard_number 1"},
		{name: "a duplicate collection", mutate: func(m *Manifest) { m.Collections[1].Name = "docs" }, wantErr: "appears twice"},
		{name: "an inverted count range", mutate: func(m *Manifest) { m.Collections[0].PointsCountRange = &CountRange{Min: 5, Max: 4} }, wantErr: "inverted"},
		{name: "an uncompressed object whose sha256 was edited", mutate: func(m *Manifest) { m.Collections[0].Shards[0].SHA256 = strings.Repeat("c", 64) },
			wantErr: "uncompressed, yet the object", wantIs: ErrCorrupt},
		{name: "an uncompressed object whose size was edited", mutate: func(m *Manifest) { m.Collections[0].Shards[0].Size++ }, wantErr: "uncompressed, yet the object"},
		{name: "a custom shard without key", mutate: func(m *Manifest) { m.Collections[1].Shards[0].ShardKey = nil }, wantErr: "no shard key"},
		{name: "an unknown encryption", mutate: func(m *Manifest) { encrypt(m); m.Collections[0].Shards[0].Encryption.Scheme = "gpg" }, wantErr: `encryption "gpg" unknown`, wantIs: ErrCorrupt},
		{name: "an encrypted shard without recipients", mutate: func(m *Manifest) { encrypt(m); m.Collections[0].Shards[0].Encryption.Recipients = nil }, wantErr: "encrypted for no recipient"},
		{name: "a secret key as recipient", mutate: func(m *Manifest) {
			encrypt(m)
			m.Encryption = &Encryption{Scheme: EncryptionAge, Recipients: []string{"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"}}
		}, wantErr: "is not an age public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			if tt.mutate != nil {
				m := validManifest()
				tt.mutate(m)
				var err error
				// Bypass Encode's validation to produce the bad file.
				raw, err = jsonMarshal(m)
				if err != nil {
					t.Fatal(err)
				}
			}
			_, err := Decode(bytes.NewReader(raw))
			if err == nil {
				t.Fatal("decode accepted a bad manifest")
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("error %q is not %v", err, tt.wantIs)
			}
		})
	}
}

func TestLayoutKeys(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"manifest", ManifestKey("prod", "20261125T133000Z-3f9c"), "prod/20261125T133000Z-3f9c/manifest.json"},
		{"plain shard", ShardObjectKey("prod", "20261125T133000Z-3f9c", "docs", 3, CompressionNone), "prod/20261125T133000Z-3f9c/docs/3.snapshot"},
		{"compressed shard", ShardObjectKey("prod", "20261125T133000Z-3f9c", "docs", 3, CompressionZstd), "prod/20261125T133000Z-3f9c/docs/3.snapshot.zst"},
		{"escaped collection", ShardObjectKey("prod", "20261125T133000Z-3f9c", "../a b/ü", 0, CompressionNone), "prod/20261125T133000Z-3f9c/%2E%2E%2Fa%20b%2F%C3%BC/0.snapshot"},
		{"lock", LockKey("prod"), "prod/.locks/backup.json"},
		{"journal", RestoreJournalKey("a.b", "r1"), "a%2Eb/.restores/r1.json"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestEscapeNameRoundTrips(t *testing.T) {
	for _, name := range []string{"", "docs", "a.b", "..", "%41", "名前", "a/b\\c", ".locks"} {
		esc := EscapeName(name)
		if strings.ContainsAny(esc, "/.") {
			t.Errorf("escape of %q = %q still holds a separator or dot", name, esc)
		}
		back, err := UnescapeName(esc)
		if err != nil || back != name {
			t.Errorf("unescape(escape(%q)) = %q, %v", name, back, err)
		}
	}
}

func TestParseManifestKey(t *testing.T) {
	c, id, ok := ParseManifestKey("a%2Eb/20261125T133000Z-3f9c/manifest.json")
	if !ok || c != "a.b" || id != "20261125T133000Z-3f9c" {
		t.Fatalf("got %q %q %v", c, id, ok)
	}
	for _, k := range []string{"prod/.locks/backup.json", "prod/notanid/manifest.json", "prod/20261125T133000Z-3f9c/docs/0.snapshot", "x/y/z/manifest.json"} {
		if _, _, ok := ParseManifestKey(k); ok {
			t.Errorf("%q parsed as a manifest key", k)
		}
	}
}

func TestBackupIDsSortByTime(t *testing.T) {
	a := NewBackupID(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := NewBackupID(time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC))
	if !(a < b) || !IsBackupID(a) {
		t.Fatalf("ids %q and %q do not sort by time", a, b)
	}
	ts, err := BackupIDTime(a)
	if err != nil || !ts.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("time of %q = %v, %v", a, ts, err)
	}
	if _, err := BackupIDTime("nope"); err == nil {
		t.Fatal("a malformed id parsed")
	}
}

func TestShardKeyJSON(t *testing.T) {
	for _, raw := range []string{`"tenant"`, `42`} {
		var k ShardKeyValue
		if err := k.UnmarshalJSON([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		out, _ := k.MarshalJSON()
		if string(out) != raw {
			t.Errorf("%s came back as %s", raw, out)
		}
	}
	var k ShardKeyValue
	if err := k.UnmarshalJSON([]byte(`-1`)); err == nil {
		t.Error("a negative shard key was accepted")
	}
}
