//go:build integration

package scenarios

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestEncryptedManifestThroughMinIO: backups with --encrypt-manifest into
// a MinIO bucket with Object Lock, by a user holding exactly the
// documented policy and no key: no object or key names the collection,
// the manifest is age ciphertext; list, latest and prune work without the
// key (prune removes old sets by their time and keeps a locked one, saying
// why); restore refuses without and with a wrong identity, changing
// nothing, and works with the right one; verify with it.
func TestEncryptedManifestThroughMinIO(t *testing.T) {
	t.Parallel()
	p := stacktest.StartPrivateS3(t)
	const bucket = "qbackup-encmanifest"
	p.CreateBucket(t, bucket, true)
	doc, err := os.ReadFile("../../manifests/iam/qbackup-s3-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "qb-" + randomHex(t, 4)
	policy := strings.NewReplacer("arn:aws:s3:::my-bucket", "arn:aws:s3:::"+bucket, "qbackup/", prefix+"/").Replace(string(doc))
	user, secret := minioAdmin{p}.userWithPolicy(t, "qbackup-encm-"+prefix, []byte(policy))
	st := newPrivateStore(p, prefix+"/prod", nil)
	st.bucket, st.accessKey, st.secretKey = bucket, user, secret

	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 40, nil, func(i int) string { return `[1,2,3,4]` })
	ops, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	// The job's environment: storage credentials and public keys only.
	qb := newCLI(t).with(st.env()...).with("QBACKUP_ENCRYPT_RECIPIENTS", ops.Recipient().String(), "QBACKUP_ENCRYPT_MANIFEST", "true")
	sc := &scenario{sim: src, st: st, qb: qb, cluster: "prod"}
	backup := func(t *testing.T, extra ...string) backupReport {
		t.Helper()
		r := qb.run(t, sc.backupArgs(append([]string{"-o", "json", "--compression=zstd"}, extra...)...)...)
		ok(t, r)
		// Ids are to the second: keep the sets' times apart.
		time.Sleep(1100 * time.Millisecond)
		return decode[backupReport](t, "backup -o json", r.stdout)
	}
	first, second := backup(t), backup(t)
	locked := backup(t, "--object-lock-mode=GOVERNANCE", "--object-lock-days=1")

	t.Run("storage holds no readable manifest and no collection name", func(t *testing.T) {
		if n := len(st.keys(t)); n != 3*4 {
			t.Errorf("%d objects for 3 sets, want 4 each (2 shards, manifest.json.age, manifest.json)", n)
		}
		if first.ManifestKey != "prod/"+first.BackupID+"/manifest.json.age" {
			t.Fatalf("manifest key %s", first.ManifestKey)
		}
		for _, k := range st.keys(t) {
			body := st.read(t, k)
			for _, s := range []string{"docs", "Cosine", "shard_number", "qdrant_version"} {
				if strings.Contains(k, s) || bytes.Contains(body, []byte(s)) {
					t.Errorf("%s holds %q in clear", k, s)
				}
			}
			if strings.HasSuffix(k, "/manifest.json") && !bytes.Contains(body, []byte(`"format_version": 2`)) {
				t.Errorf("%s is not the readable part of an encrypted manifest:\n%s", k, body)
			}
			if strings.HasSuffix(k, "/manifest.json.age") && !bytes.HasPrefix(body, []byte("age-encryption.org/v1")) {
				t.Errorf("%s is not age ciphertext", k)
			}
		}
		for _, k := range []string{locked.ManifestKey, "prod/" + locked.BackupID + "/manifest.json"} {
			if h := st.head(t, k); h.ObjectLockMode != types.ObjectLockModeGovernance || aws.ToTime(h.ObjectLockRetainUntilDate).Before(time.Now().Add(23*time.Hour)) {
				t.Errorf("%s: object lock %q until %s, want GOVERNANCE for a day", k, h.ObjectLockMode, aws.ToTime(h.ObjectLockRetainUntilDate))
			}
		}
	})

	t.Run("list without the key", func(t *testing.T) {
		rows := decode[[]struct {
			BackupID  string `json:"backup_id"`
			Status    string `json:"status"`
			Encrypted bool   `json:"manifest_encrypted"`
			Bytes     int64  `json:"total_bytes"`
		}](t, "list -o json", qb.run(t, sc.args("list", "-o", "json")...).stdout)
		if len(rows) != 3 || rows[0].BackupID != locked.BackupID || rows[2].BackupID != first.BackupID {
			t.Fatalf("list: %+v", rows)
		}
		for _, r := range rows {
			if r.Status != "complete" || !r.Encrypted || r.Bytes <= 0 {
				t.Errorf("row %+v", r)
			}
		}
	})

	t.Run("restore refuses without the key and with another, changing nothing", func(t *testing.T) {
		for name, id := range map[string]*age.X25519Identity{"without": nil, "with another": stranger} {
			target := startSim(t, fastSim(2))
			before := strings.Join(st.keys(t), ",")
			rq := qb
			want := []string{ops.Recipient().String(), "QBACKUP_AGE_IDENTITY", "QBACKUP_AGE_IDENTITY_FILE"}
			if id != nil {
				rq = qb.with("QBACKUP_AGE_IDENTITY", id.String())
				want = []string{ops.Recipient().String(), stranger.Recipient().String()}
			}
			rsc := &scenario{sim: src, st: st, qb: rq, cluster: "prod"}
			r := rq.run(t, rsc.restoreArgs(target, "latest")...)
			expect(t, r, exitUsage, want...)
			if got := target.collections(t); len(got) != 0 {
				t.Errorf("%s: the refused restore created %v", name, got)
			}
			if after := strings.Join(st.keys(t), ","); after != before {
				t.Errorf("%s: the refused restore changed the store: %s → %s", name, before, after)
			}
		}
	})

	t.Run("verify and restore with the key", func(t *testing.T) {
		kq := qb.with("QBACKUP_AGE_IDENTITY", ops.String())
		ksc := &scenario{sim: src, st: st, qb: kq, cluster: "prod"}
		ok(t, kq.run(t, ksc.args("verify", "latest")...))
		target := startSim(t, fastSim(2))
		ok(t, kq.run(t, ksc.restoreArgs(target, "latest")...))
		if got, want := target.points(t, "docs"), src.points(t, "docs"); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored %d points, the source has %d", len(got), len(want))
		}
	})

	t.Run("a restore with the key and read-only credentials writes nothing to the store", func(t *testing.T) {
		readOnly := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s"],"Condition":{"StringLike":{"s3:prefix":["%[2]s/*"]}}},
			{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s/%[2]s/*"]}]}`, bucket, prefix)
		roUser, roSecret := minioAdmin{p}.userWithPolicy(t, "qbackup-encm-ro-"+prefix, []byte(readOnly))
		ro := newPrivateStore(p, st.prefix, nil)
		ro.bucket, ro.accessKey, ro.secretKey = bucket, roUser, roSecret
		rq := newCLI(t).with(ro.env()...).with("QBACKUP_AGE_IDENTITY", ops.String())
		rsc := &scenario{sim: src, st: ro, qb: rq, cluster: "prod"}
		target := startSim(t, fastSim(2))
		before := strings.Join(st.keys(t), ",")
		ok(t, rq.run(t, rsc.restoreArgs(target, first.BackupID, "--journal=none")...))
		if got, want := target.points(t, "docs"), src.points(t, "docs"); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored %d points, the source has %d", len(got), len(want))
		}
		if after := strings.Join(st.keys(t), ","); after != before {
			t.Fatalf("the read-only restore changed the store: %s → %s", before, after)
		}
	})

	t.Run("catalog sync without the key, then with it", func(t *testing.T) {
		cat := newCatalog(t)
		cq := qb.with("QBACKUP_CATALOG_DSN", cat.dsn)
		ok(t, cq.run(t, "catalog", "migrate"))
		type row struct {
			BackupID    string `json:"backup_id"`
			Status      string `json:"status"`
			Encrypted   bool   `json:"manifest_encrypted"`
			Collections int    `json:"collection_count"`
			Bytes       int64  `json:"total_bytes"`
		}
		ok(t, cq.run(t, sc.args("catalog", "sync")...))
		rows := decode[[]row](t, "list -o json", cq.run(t, sc.args("list", "-o", "json")...).stdout)
		if len(rows) != 3 || rows[0].BackupID != locked.BackupID {
			t.Fatalf("list from the catalog after a sync without the key: %+v", rows)
		}
		for _, r := range rows {
			if r.Status != "complete" || !r.Encrypted || r.Collections != 0 || r.Bytes <= 0 {
				t.Errorf("row %+v: want complete, encrypted, sized, no counts", r)
			}
		}
		if r := cq.run(t, sc.args("list")...); !strings.Contains(r.stdout, "manifest encrypted") {
			t.Errorf("list from the catalog does not mark the sets:\n%s", r.stdout)
		}
		kq := cq.with("QBACKUP_AGE_IDENTITY", ops.String())
		ok(t, kq.run(t, sc.args("catalog", "sync")...))
		for _, r := range decode[[]row](t, "list -o json", cq.run(t, sc.args("list", "-o", "json")...).stdout) {
			if r.Status != "complete" || !r.Encrypted || r.Collections != 1 {
				t.Errorf("row %+v after a sync with the key: want the manifest's counts", r)
			}
		}
	})

	t.Run("prune without the key removes by time and keeps the locked set", func(t *testing.T) {
		newest := backup(t)
		r := qb.run(t, sc.args("prune", "--keep-last=1")...)
		ok(t, r)
		if !strings.Contains(r.stderr+r.stdout, "under object lock (GOVERNANCE) until") {
			t.Errorf("prune does not say it kept %s for its lock:\n%s", locked.BackupID, r)
		}
		sets := map[string]bool{}
		for _, k := range st.keys(t) {
			if parts := strings.Split(k, "/"); len(parts) > 2 {
				sets[parts[1]] = true
			}
		}
		for id, want := range map[string]bool{first.BackupID: false, second.BackupID: false, locked.BackupID: true, newest.BackupID: true} {
			if sets[id] != want {
				t.Errorf("set %s in storage after prune: %v, want %v", id, sets[id], want)
			}
		}
	})
}
