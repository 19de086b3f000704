package listing_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/printer"

	"github.com/qbackup/qbackup/internal/golden"
)

var start = time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)

// rows are one of each kind a listing holds: a catalog row with every
// field set, a running set, and the storage-only rows of a set without a
// manifest and of one whose manifest is encrypted.
func rows() []listing.Backup {
	full := listing.FromCatalog(catalog.BackupSummary{
		Cluster: "prod", BackupID: "20261125T133000Z-3f9c", Status: catalog.StatusComplete,
		VerifyStatus: catalog.VerifyCorrupt, VerifyDetail: "shard 2 of docs: sha256 mismatch", Reason: "recorded by catalog sync",
		QdrantVersion: "1.19.0", ToolVersion: "v1.4.0", SnapshotMethod: "stream", Holder: "qbackup-28843410-x7k2p",
		StartedAt: start, FinishedAt: start.Add(95 * time.Second),
		WindowFirstStart: start.Add(time.Second), WindowLastStart: start.Add(1250 * time.Millisecond), SkewMillis: 250,
		CollectionCount: 2, ShardCount: 12, TotalBytes: 3 << 30, PointsCount: 1_500_000,
		ManifestKey: manifest.EncryptedManifestKey("prod", "20261125T133000Z-3f9c"), ManifestEncrypted: true,
		UpdatedAt: start.Add(2 * time.Hour), VerifiedAt: start.Add(2 * time.Hour), StorageLocation: "s3://backups/qdrant?region=eu-west-1",
	})
	running := listing.FromCatalog(catalog.BackupSummary{
		Cluster: "prod", BackupID: "20261126T133000Z-77aa", Status: catalog.StatusRunning, VerifyStatus: catalog.VerifyUnverified,
		Holder: "qbackup-28844850-abcde", StartedAt: start.Add(24 * time.Hour), UpdatedAt: start.Add(24 * time.Hour),
	})
	return []listing.Backup{running, full,
		{Cluster: "prod", BackupID: "20261124T133000Z-dead", Status: "incomplete", StartedAt: start.Add(-24 * time.Hour), TotalBytes: 4096,
			Reason: "no manifest: the run failed, was killed or is still running"},
		{Cluster: "prod", BackupID: "20261123T133000Z-a1b2", Status: catalog.StatusComplete, StartedAt: start.Add(-48 * time.Hour), TotalBytes: 2048,
			ManifestKey: manifest.EncryptedManifestKey("prod", "20261123T133000Z-a1b2"), ManifestEncrypted: true},
	}
}

// TestContract pins the listing's JSON and YAML documents, as `list -o
// json|yaml` of both binaries print them: each field's name, type and
// when it is left out.
func TestContract(t *testing.T) {
	for _, format := range []string{printer.JSON, printer.YAML} {
		var b bytes.Buffer
		if err := printer.Structured(&b, format, rows()); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", "listing."+format), b.Bytes())
	}
	var b bytes.Buffer
	if err := printer.Structured(&b, printer.JSON, listing.FromCatalogRows(nil)); err != nil {
		t.Fatal(err)
	}
	if b.String() != "[]\n" {
		t.Errorf("an empty listing prints %q, want []", b.String())
	}
}

// TestFromCatalogMapsEveryField: a catalog row with every field set fills
// every field of the listing row, so a field the contract gains is not
// silently left empty for catalog rows.
func TestFromCatalogMapsEveryField(t *testing.T) {
	var row catalog.BackupSummary
	v := reflect.ValueOf(&row).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Int, reflect.Int64:
			f.SetInt(1)
		case reflect.Uint64:
			f.SetUint(1)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Struct:
			f.Set(reflect.ValueOf(start))
		default:
			t.Fatalf("catalog field %s of kind %s: teach this test to fill it", v.Type().Field(i).Name, f.Kind())
		}
	}
	got := reflect.ValueOf(listing.FromCatalog(row))
	for i := range got.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("listing field %s is not mapped from the catalog row", got.Type().Field(i).Name)
		}
	}
}

// TestREADMEDocumentsEveryField: the README's listing table names every
// field of the contract.
func TestREADMEDocumentsEveryField(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	typ := reflect.TypeFor[listing.Backup]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf("README.md has no row | `%s` | in the listing contract's table", name)
		}
	}
}
