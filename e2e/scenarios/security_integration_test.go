//go:build integration

package scenarios

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/go-sql-driver/mysql"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// haystack is one thing qbackup produced that must hold no secret: an
// output, a catalog dump, an object's key, body or metadata.
type haystack struct {
	where string
	data  []byte
}

// TestNoSecretLeavesQbackup runs a full scenario — catalog migration
// and backups with an account holding exactly the documented grants, list,
// describe, verify, a restore onto a new cluster, prune, catalog sync, and
// the failures of a wrong Qdrant API key, a wrong catalog password, a
// missing SSE-C key and a missing or wrong age identity — against a Qdrant
// cluster with an API key, a MinIO over TLS with SSE-C, objects encrypted
// with age on top, and the catalog, all at debug log level. Then it
// looks for each secret in every log line and report, every catalog row
// of every table, and every storage object's key, body and metadata, and
// finds none.
func TestNoSecretLeavesQbackup(t *testing.T) {
	t.Parallel()
	p := stacktest.StartPrivateS3(t)
	apiKey := "qdrant-api-key-" + randomHex(t, 12)
	simOpts := fastSim(3)
	simOpts.APIKey = apiKey
	src := startSim(t, simOpts)
	src.loadMixed(t)
	target := startSim(t, simOpts)
	sseKey := make([]byte, 32)
	if _, err := rand.Read(sseKey); err != nil {
		t.Fatal(err)
	}
	st := newPrivateStore(p, "security/"+randomHex(t, 6), sseKey)
	cat, dbPass := leastCatalog(t)
	t.Logf("catalog account: %s", grantsOf(t, cat))
	// Client-side encryption on top of SSE-C: the recipient is public
	// (a variable like any setting), the identity a secret.
	ageID, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	qb := newCLI(t).with(st.env()...).with("QBACKUP_CATALOG_DSN", cat.dsn, "QBACKUP_QDRANT_API_KEY", apiKey, "QBACKUP_LOG_LEVEL", "debug",
		"QBACKUP_ENCRYPT_RECIPIENTS", ageID.Recipient().String(), "QBACKUP_AGE_IDENTITY", ageID.String())
	sc := &scenario{sim: src, st: st, cat: cat, qb: qb, cluster: "prod"}

	var hay []haystack
	record := func(r result) result {
		hay = append(hay, haystack{"stdout of qbackup " + strings.Join(r.args[:1], " "), []byte(r.stdout)},
			haystack{"stderr of qbackup " + strings.Join(r.args[:1], " "), []byte(r.stderr)})
		return r
	}
	must := func(q *cli, args ...string) result {
		t.Helper()
		r := record(q.run(t, args...))
		ok(t, r)
		return r
	}

	must(qb, "catalog", "migrate")
	first := decode[backupReport](t, "backup -o json", must(qb, sc.backupArgs("-o", "json")...).stdout)
	second := decode[backupReport](t, "backup -o json", must(qb, sc.backupArgs("-o", "json")...).stdout)
	must(qb, sc.args("list", "-o", "json")...)
	must(qb, sc.args("describe", "latest", "-o", "json")...)
	must(qb, sc.args("verify", "latest")...)
	must(qb, sc.restoreArgs(target, "latest")...)
	for _, coll := range []string{"docs", "images", "tenants"} {
		if got, want := target.points(t, coll), src.points(t, coll); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s restored with %d points, the source has %d (or they differ)", coll, len(got), len(want))
		}
	}
	must(qb, sc.args("prune", "--keep-last=1")...)
	must(qb, sc.args("catalog", "sync")...)
	if ids := sc.manifests(t); len(ids) != 1 || !strings.Contains(ids[0], second.BackupID) {
		t.Fatalf("after prune --keep-last=1 the store holds %v, want only %s (not %s)", ids, second.BackupID, first.BackupID)
	}

	t.Run("the objects are encrypted with the customer key and age", func(t *testing.T) {
		m := sc.manifest(t, second.BackupID)
		for _, key := range []string{"prod/" + second.BackupID + "/manifest.json", m.Collections[0].Shards[0].Object} {
			if alg := aws.ToString(st.head(t, key).SSECustomerAlgorithm); alg != "AES256" {
				t.Errorf("%s: SSECustomerAlgorithm %q, want AES256 (SSE-C)", key, alg)
			}
		}
		// The manifest stays readable and names the recipient.
		if raw := st.read(t, "prod/"+second.BackupID+"/manifest.json"); !bytes.Contains(raw, []byte(`"scheme": "age"`)) || !bytes.Contains(raw, []byte(ageID.Recipient().String())) {
			t.Errorf("the manifest does not record the age recipient")
		}
		for _, c := range m.Collections {
			for _, s := range c.Shards {
				if body := st.read(t, s.Object); !bytes.HasPrefix(body, []byte("age-encryption.org/v1")) {
					t.Errorf("%s is not age ciphertext: starts with %q", s.Object, body[:min(len(body), 24)])
				}
			}
		}
	})

	// Failures print what went wrong; they must not print the secret
	// that was wrong, or the right one.
	wrongKey := "wrong-api-key-" + randomHex(t, 12)
	r := record(qb.with("QBACKUP_QDRANT_API_KEY", wrongKey).run(t, sc.backupArgs()...))
	expect(t, r, exitUsage, "rejected the API key")
	wrongPass := "wrong-password-" + randomHex(t, 12)
	r = record(qb.with("QBACKUP_CATALOG_DSN", dsnWith(t, cat.dsn, func(c *mysql.Config) { c.Passwd = wrongPass })).run(t, sc.args("list")...))
	expect(t, r, exitUsage)
	r = record(qb.with("QBACKUP_S3_SSE_C_KEY", "").run(t, sc.args("verify", second.BackupID)...))
	if r.code == exitOK || !strings.Contains(r.stderr, "QBACKUP_S3_SSE_C_KEY") {
		t.Fatalf("verify without the SSE-C key: want a failure naming QBACKUP_S3_SSE_C_KEY\n%s", r)
	}
	t.Logf("verify without the SSE-C key: exit %d: %s", r.code, lastLine(r.stderr))
	// Without the age identity, and with a wrong one: refused naming the
	// recipients, never echoing either key.
	wrongID, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	r = record(qb.with("QBACKUP_AGE_IDENTITY", "").run(t, sc.args("verify", second.BackupID)...))
	expect(t, r, exitUsage, "QBACKUP_AGE_IDENTITY")
	r = record(qb.with("QBACKUP_AGE_IDENTITY", wrongID.String()).run(t, sc.restoreArgs(target, "latest", "--overwrite")...))
	expect(t, r, exitUsage, ageID.Recipient().String())
	// Qdrant cannot send the SSE-C key: a presigned transfer is refused
	// before anything is read or changed.
	r = record(qb.run(t, sc.restoreArgs(target, "latest", "--transfer=presigned", "--overwrite")...))
	expect(t, r, exitUsage, "--transfer=upload")

	// Everything qbackup left behind.
	dump := cat.dump(t)
	hay = append(hay, haystack{"the catalog (every row of every table)", []byte(dump)})
	keys := st.keys(t)
	for _, k := range keys {
		hay = append(hay, haystack{"object key " + k, []byte(k)}, haystack{"object " + k, st.read(t, k)})
		meta, err := json.Marshal(st.head(t, k))
		if err != nil {
			t.Fatal(err)
		}
		hay = append(hay, haystack{"metadata of " + k, meta})
	}
	lines := 0
	for _, h := range hay {
		if strings.HasPrefix(h.where, "stderr") {
			lines += bytes.Count(h.data, []byte("\n"))
		}
	}
	// The search must have had something to search: a scenario that
	// produced nothing would pass vacuously.
	if lines < 50 || len(keys) < 5 || !strings.Contains(dump, second.BackupID) {
		t.Fatalf("too little to search: %d log lines, %d objects, catalog %d bytes", lines, len(keys), len(dump))
	}
	secrets := map[string][]byte{
		"the Qdrant API key":              []byte(apiKey),
		"the wrong Qdrant API key":        []byte(wrongKey),
		"the S3 secret key":               []byte(p.SecretKey),
		"the catalog password":            []byte(dbPass),
		"the wrong catalog password":      []byte(wrongPass),
		"the SSE-C key (base64)":          []byte(base64.StdEncoding.EncodeToString(sseKey)),
		"the SSE-C key (raw)":             sseKey,
		"the SSE-C key (hex)":             []byte(hex.EncodeToString(sseKey)),
		"the SSE-C key (URL-safe base64)": []byte(base64.RawURLEncoding.EncodeToString(sseKey)),
		"the catalog DSN with password":   []byte(cat.dsn),
		"the age identity":                []byte(ageID.String()),
		"the age identity (its key part)": []byte(strings.TrimPrefix(ageID.String(), "AGE-SECRET-KEY-1")),
		"the age identity (lower case)":   []byte(strings.ToLower(ageID.String())),
		"the wrong age identity":          []byte(wrongID.String()),
	}
	found := 0
	for _, h := range hay {
		for name, s := range secrets {
			if bytes.Contains(h.data, s) {
				found++
				t.Errorf("%s holds %s", h.where, name) // never the secret itself
			}
		}
	}
	t.Logf("searched %d log lines and the reports of every run, %d bytes of catalog rows, %d objects (keys, bodies, metadata) for %d secrets: %d found",
		lines, len(dump), len(keys), len(secrets), found)
}

// TestTheDocumentedS3PolicyIsEnoughAndNoMore gives a MinIO user exactly
// manifests/iam/qbackup-s3-policy.json (for a bucket and prefix of the
// test's) and runs backup, prune, list, verify and a restore with it;
// then it tries what the policy does not allow: another prefix, through
// qbackup and directly.
func TestTheDocumentedS3PolicyIsEnoughAndNoMore(t *testing.T) {
	t.Parallel()
	p := stacktest.StartPrivateS3(t)
	doc, err := os.ReadFile("../../manifests/iam/qbackup-s3-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "qb-" + randomHex(t, 4)
	policy := strings.NewReplacer("arn:aws:s3:::my-bucket", "arn:aws:s3:::"+p.Bucket, "qbackup/", prefix+"/").Replace(string(doc))
	if !json.Valid([]byte(policy)) || !strings.Contains(policy, p.Bucket+"/"+prefix+"/*") {
		t.Fatalf("the policy did not take the test's bucket and prefix:\n%s", policy)
	}
	user, secret := minioAdmin{p}.userWithPolicy(t, "qbackup-"+prefix, []byte(policy))

	// Something outside the prefix the user must not see or touch.
	other := newPrivateStore(p, "other-"+randomHex(t, 4), nil)
	other.write(t, "prod/keep.json", []byte(`{}`))

	st := newPrivateStore(p, prefix+"/prod-backups", nil)
	st.accessKey, st.secretKey = user, secret
	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 40, nil, func(i int) string { return `[1,2,3,4]` })
	target := startSim(t, fastSim(2))
	qb := newCLI(t).with(st.env()...)
	sc := &scenario{sim: src, st: st, qb: qb, cluster: "prod"}

	for _, step := range [][]string{
		sc.backupArgs(), sc.backupArgs(),
		sc.args("prune", "--keep-last=1"),
		sc.args("list"),
		sc.args("verify", "latest"),
		sc.restoreArgs(target, "latest"),
	} {
		ok(t, qb.run(t, step...))
	}
	if got, want := target.points(t, "docs"), src.points(t, "docs"); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %d points, the source has %d", len(got), len(want))
	}
	if n := len(sc.manifests(t)); n != 1 {
		t.Fatalf("%d sets after prune --keep-last=1, want 1", n)
	}

	t.Run("a read-only policy is enough for restore, verify and list", func(t *testing.T) {
		var ro map[string]any
		if err := json.Unmarshal([]byte(policy), &ro); err != nil {
			t.Fatal(err)
		}
		// Keep the listing statement and GetObject alone.
		ro["Statement"] = []any{ro["Statement"].([]any)[0], map[string]any{
			"Effect": "Allow", "Action": []string{"s3:GetObject"}, "Resource": []string{"arn:aws:s3:::" + p.Bucket + "/" + prefix + "/*"},
		}}
		doc, err := json.Marshal(ro)
		if err != nil {
			t.Fatal(err)
		}
		roUser, roSecret := minioAdmin{p}.userWithPolicy(t, "qbackup-ro-"+prefix, doc)
		rst := newPrivateStore(p, st.prefix, nil)
		rst.accessKey, rst.secretKey = roUser, roSecret
		rsc := &scenario{sim: src, st: rst, qb: newCLI(t).with(rst.env()...), cluster: "prod"}
		fresh := startSim(t, fastSim(2))
		before := strings.Join(rst.keys(t), ",")
		for _, args := range [][]string{rsc.args("list"), rsc.args("verify", "latest"), rsc.restoreArgs(fresh, "latest", "--journal=none")} {
			ok(t, rsc.qb.run(t, args...))
		}
		if got, want := fresh.points(t, "docs"), src.points(t, "docs"); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored %d points with read-only storage, the source has %d", len(got), len(want))
		}
		if after := strings.Join(rst.keys(t), ","); after != before {
			t.Fatalf("a read-only restore changed the store: %s → %s", before, after)
		}
		r := rsc.qb.run(t, rsc.backupArgs()...)
		if r.code == exitOK {
			t.Fatalf("a backup with the read-only policy succeeded\n%s", r)
		}
	})

	t.Run("qbackup on another prefix is refused", func(t *testing.T) {
		out := newPrivateStore(p, other.prefix, nil)
		out.accessKey, out.secretKey = user, secret
		osc := &scenario{sim: src, st: out, qb: newCLI(t).with(out.env()...), cluster: "prod"}
		for _, args := range [][]string{osc.backupArgs(), osc.args("list")} {
			r := osc.qb.run(t, args...)
			expect(t, r, exitUsage, "AccessDenied")
		}
	})

	t.Run("the S3 API outside the prefix is refused", func(t *testing.T) {
		c := s3.New(s3.Options{
			Region: p.Region, BaseEndpoint: aws.String(p.Endpoint), UsePathStyle: true, HTTPClient: p.HTTP,
			Credentials: credentials.NewStaticCredentialsProvider(user, secret, ""),
		})
		ctx := context.Background()
		bucket := aws.String(p.Bucket)
		otherKey := aws.String(other.prefix + "/prod/keep.json")
		tries := map[string]func() error{
			"read another prefix": func() error {
				_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: otherKey})
				return err
			},
			"overwrite another prefix": func() error {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: otherKey, Body: strings.NewReader("x")})
				return err
			},
			"delete in another prefix": func() error {
				_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: otherKey})
				return err
			},
			"list the whole bucket": func() error { _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket}); return err },
			"list another prefix": func() error {
				_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String(other.prefix + "/")})
				return err
			},
			"delete the bucket": func() error { _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); return err },
			"change the bucket policy": func() error {
				_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(policy)})
				return err
			},
		}
		for name, try := range tries {
			var ae smithy.APIError
			if err := try(); !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
				t.Errorf("%s: %v, want AccessDenied", name, err)
			}
		}
		if got := string(other.read(t, "prod/keep.json")); got != "{}" {
			t.Errorf("the object outside the prefix changed: %q", got)
		}
	})
}

// TestTheReadOnlyQdrantKeyCannotBackUpOrRestore: Qdrant's read-only API
// key may read the cluster but not stream snapshots nor recover shards
// (see the README's Qdrant permissions); both commands fail saying so and
// the restore leaves the target as it was.
func TestTheReadOnlyQdrantKeyCannotBackUpOrRestore(t *testing.T) {
	t.Parallel()
	opts := fastSim(2)
	opts.APIKey, opts.ReadOnlyAPIKey = "full-"+randomHex(t, 8), "read-only-"+randomHex(t, 8)
	src := startSim(t, opts)
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 20, nil, func(i int) string { return `[1,2,3,4]` })
	target := startSim(t, opts)
	st := newFileStore(t)
	full := newCLI(t).with("QBACKUP_QDRANT_API_KEY", opts.APIKey)
	sc := &scenario{sim: src, st: st, qb: full, cluster: "prod"}
	ok(t, full.run(t, sc.backupArgs()...))

	ro := full.with("QBACKUP_QDRANT_API_KEY", opts.ReadOnlyAPIKey)
	r := ro.run(t, sc.backupArgs()...)
	if r.code == exitOK || !strings.Contains(r.stderr, "manage access is required") {
		t.Fatalf("a backup with the read-only key: want a refusal naming the access it lacks\n%s", r)
	}
	t.Logf("backup with the read-only key: exit %d: %s", r.code, lastLine(r.stderr))
	r = ro.run(t, sc.restoreArgs(target, "latest")...)
	if r.code == exitOK || !strings.Contains(r.stderr, "manage access is required") {
		t.Fatalf("a restore with the read-only key: want a refusal naming the access it lacks\n%s", r)
	}
	t.Logf("restore with the read-only key: exit %d: %s", r.code, lastLine(r.stderr))
	if cols := target.collections(t); len(cols) != 0 {
		t.Fatalf("the refused restore left collections %v on the target", cols)
	}
}
