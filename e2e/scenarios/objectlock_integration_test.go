//go:build integration

package scenarios

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"filippo.io/age"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestObjectLockedSets backs up into a MinIO bucket created with Object
// Lock, as a user holding the documented policy, with
// --object-lock-mode=GOVERNANCE: every object of the set carries the
// retention; prune keeps the older set, saying until when; the job's
// credentials cannot delete or overwrite a locked object version (a plain
// delete only hides it behind a delete marker, and the data survives);
// verify and a restore onto a new cluster work.
func TestObjectLockedSets(t *testing.T) {
	t.Parallel()
	p := stacktest.StartPrivateS3(t)
	const bucket = "qbackup-locked"
	p.CreateBucket(t, bucket, true)
	doc, err := os.ReadFile("../../manifests/iam/qbackup-s3-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "qb-" + randomHex(t, 4)
	policy := strings.NewReplacer("arn:aws:s3:::my-bucket", "arn:aws:s3:::"+bucket, "qbackup/", prefix+"/").Replace(string(doc))
	user, secret := minioAdmin{p}.userWithPolicy(t, "qbackup-lock-"+prefix, []byte(policy))

	st := newPrivateStore(p, prefix+"/prod", nil)
	st.bucket, st.accessKey, st.secretKey = bucket, user, secret
	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 40, nil, func(i int) string { return `[1,2,3,4]` })
	qb := newCLI(t).with(st.env()...)
	sc := &scenario{sim: src, st: st, qb: qb, cluster: "prod"}

	lockArgs := []string{"--object-lock-mode=GOVERNANCE", "--object-lock-days=1", "-o", "json"}
	started := time.Now()
	r := qb.run(t, sc.backupArgs(lockArgs...)...)
	ok(t, r)
	first := decode[backupReport](t, "backup -o json", r.stdout)
	r = qb.run(t, sc.backupArgs(lockArgs...)...)
	ok(t, r)
	second := decode[backupReport](t, "backup -o json", r.stdout)

	m := sc.manifest(t, first.BackupID)
	shardKey := m.Collections[0].Shards[0].Object
	manifestKey := "prod/" + first.BackupID + "/manifest.json"
	t.Run("every object of the set carries the retention", func(t *testing.T) {
		for _, key := range []string{manifestKey, shardKey} {
			h := st.head(t, key)
			until := aws.ToTime(h.ObjectLockRetainUntilDate)
			if h.ObjectLockMode != types.ObjectLockModeGovernance || until.Before(started.Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
				t.Errorf("%s: object lock %q until %s, want GOVERNANCE for a day", key, h.ObjectLockMode, until)
			}
		}
		var rec struct {
			ObjectLock struct {
				Mode        string    `json:"mode"`
				RetainUntil time.Time `json:"retain_until"`
			} `json:"object_lock"`
		}
		if err := json.Unmarshal(st.read(t, manifestKey), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ObjectLock.Mode != "GOVERNANCE" || rec.ObjectLock.RetainUntil.IsZero() {
			t.Errorf("the manifest records object lock %+v", rec.ObjectLock)
		}
	})

	t.Run("prune keeps the locked set and says until when", func(t *testing.T) {
		r := qb.run(t, sc.args("prune", "--keep-last=1")...)
		ok(t, r)
		if !strings.Contains(r.stderr, "under object lock (GOVERNANCE) until") || !strings.Contains(r.stderr, first.BackupID) {
			t.Fatalf("prune does not say it kept %s for its lock\n%s", first.BackupID, r)
		}
		if n := len(sc.manifests(t)); n != 2 {
			t.Fatalf("%d sets after prune, want both", n)
		}
	})

	t.Run("the job's credentials cannot delete or overwrite a locked version", func(t *testing.T) {
		ctx := context.Background()
		version := st.head(t, shardKey).VersionId
		c := s3.New(s3.Options{
			Region: p.Region, BaseEndpoint: aws.String(p.Endpoint), UsePathStyle: true, HTTPClient: p.HTTP,
			Credentials: credentials.NewStaticCredentialsProvider(user, secret, ""),
		})
		full := aws.String(st.prefix + "/" + shardKey)
		for name, try := range map[string]func() error{
			"delete the version": func() error {
				_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: full, VersionId: version})
				return err
			},
			"delete the version bypassing governance": func() error {
				_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: full, VersionId: version, BypassGovernanceRetention: aws.Bool(true)})
				return err
			},
			"shorten the retention": func() error {
				_, err := c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(bucket), Key: full, VersionId: version,
					Retention:         &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(time.Now().Add(time.Minute))},
					ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
				return err
			},
		} {
			// Refused by the policy (AccessDenied) or by the lock itself
			// (MinIO: InvalidRequest "Object is WORM protected").
			var ae smithy.APIError
			err := try()
			if !errors.As(err, &ae) || (ae.ErrorCode() != "AccessDenied" && !strings.Contains(ae.ErrorMessage(), "WORM")) {
				t.Errorf("%s: %v, want a refusal", name, err)
			}
			t.Logf("%s: refused: %s", name, ae.ErrorMessage())
		}
		// A delete without a version id is a delete marker: the object
		// disappears from listings, its locked version stays.
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: full}); err != nil {
			t.Fatalf("delete marker: %v", err)
		}
		out, err := p.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: full, VersionId: version})
		if err != nil {
			t.Fatalf("the locked version is gone after a plain delete: %v", err)
		}
		_ = out.Body.Close()
		// Bring it back (as an operator would, by copying the version) so
		// that the set is whole again for the restore below.
		if _, err := p.Client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: full,
			CopySource: aws.String(bucket + "/" + *full + "?versionId=" + aws.ToString(version))}); err != nil {
			t.Fatalf("restore the version: %v", err)
		}
	})

	t.Run("verify and a restore of a locked set work", func(t *testing.T) {
		target := startSim(t, fastSim(2))
		ok(t, qb.run(t, sc.args("verify", first.BackupID)...))
		ok(t, qb.run(t, sc.restoreArgs(target, second.BackupID)...))
		if got, want := target.points(t, "docs"), src.points(t, "docs"); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored %d points, the source has %d", len(got), len(want))
		}
	})

	t.Run("a bucket without Object Lock refuses the locked backup", func(t *testing.T) {
		plain := newPrivateStore(p, "plain-"+randomHex(t, 4), nil)
		psc := &scenario{sim: src, st: plain, qb: newCLI(t).with(plain.env()...), cluster: "prod"}
		r := psc.qb.run(t, psc.backupArgs("--object-lock-mode=COMPLIANCE", "--object-lock-days=1")...)
		expect(t, r, exitFailed, "Object Lock enabled")
		if keys := plain.keys(t); len(keys) != 0 {
			t.Fatalf("the refused backup left %v", keys)
		}
	})
}

// TestAnEncryptedLockedSetRestoresWithReadOnlyCredentials: a set written
// with SSE-C, age client-side encryption and object lock is restored onto
// a new cluster by a run that holds only the SSE-C key, the age identity
// and credentials that may list and read the backup prefix (no
// catalog, no journal): nothing is written to the store, and the data
// comes back whole.
func TestAnEncryptedLockedSetRestoresWithReadOnlyCredentials(t *testing.T) {
	t.Parallel()
	p := stacktest.StartPrivateS3(t)
	const bucket = "qbackup-locked-sse"
	p.CreateBucket(t, bucket, true)
	sseKey := make([]byte, 32)
	if _, err := rand.Read(sseKey); err != nil {
		t.Fatal(err)
	}
	prefix := "qb-" + randomHex(t, 4)
	st := newPrivateStore(p, prefix+"/prod", sseKey)
	st.bucket = bucket
	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 40, nil, func(i int) string { return `[1,2,3,4]` })
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario{sim: src, st: st, qb: newCLI(t).with(st.env()...), cluster: "prod"}
	ok(t, sc.qb.run(t, sc.backupArgs("--object-lock-mode=COMPLIANCE", "--object-lock-days=1",
		"--encrypt-recipient="+identity.Recipient().String())...))

	readOnly := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s"],"Condition":{"StringLike":{"s3:prefix":["%[2]s/*"]}}},
		{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s/%[2]s/*"]}]}`, bucket, prefix)
	user, secret := minioAdmin{p}.userWithPolicy(t, "qbackup-ro-"+prefix, []byte(readOnly))
	ro := newPrivateStore(p, st.prefix, sseKey)
	ro.bucket, ro.accessKey, ro.secretKey = bucket, user, secret
	rsc := &scenario{sim: src, st: ro, qb: newCLI(t).with(ro.env()...).with("QBACKUP_AGE_IDENTITY", identity.String()), cluster: "prod"}
	target := startSim(t, fastSim(2))
	before := strings.Join(st.keys(t), ",")
	r := rsc.qb.run(t, rsc.restoreArgs(target, "latest", "--journal=none")...)
	ok(t, r)
	if got, want := target.points(t, "docs"), src.points(t, "docs"); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %d points, the source has %d", len(got), len(want))
	}
	if after := strings.Join(st.keys(t), ","); after != before {
		t.Fatalf("the read-only restore changed the store: %s → %s", before, after)
	}
	for _, k := range st.keys(t) {
		if strings.Contains(k, "/docs/") && !strings.HasSuffix(k, ".age") {
			t.Errorf("shard object %s is not age-encrypted", k)
		}
	}
	h := st.head(t, sc.manifests(t)[0])
	if h.ObjectLockMode != types.ObjectLockModeCompliance || aws.ToString(h.SSECustomerAlgorithm) != "AES256" {
		t.Fatalf("the manifest: lock %q, SSE-C %q; want COMPLIANCE and AES256", h.ObjectLockMode, aws.ToString(h.SSECustomerAlgorithm))
	}
}
