//go:build integration

package scenarios

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestServerSideEncryptionThroughTheCommandLine backs up with
// --s3-sse=aws:kms and the KMS key of the MinIO, checks with HeadObject
// what the store reports for a shard object and the manifest, and reads
// the set back (list, verify) with no encryption setting; bad values are
// refused with exit 2 before anything is written.
func TestServerSideEncryptionThroughTheCommandLine(t *testing.T) {
	t.Parallel()
	p := stacktest.StartPrivateS3(t)
	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 40, nil, func(i int) string { return `[1,2,3,4]` })
	st := newPrivateStore(p, "sse-"+randomHex(t, 4), nil)
	qb := newCLI(t).with(st.env()...)
	sc := &scenario{sim: src, st: st, qb: qb, cluster: "prod"}

	r := qb.run(t, sc.backupArgs("--s3-sse=aws:kms", "--s3-sse-kms-key-id="+p.KMSKeyName, "-o", "json")...)
	ok(t, r)
	id := decode[backupReport](t, "backup -o json", r.stdout).BackupID
	m := sc.manifest(t, id)
	for _, key := range []string{"prod/" + id + "/manifest.json", m.Collections[0].Shards[0].Object} {
		h := st.head(t, key)
		if h.ServerSideEncryption != types.ServerSideEncryptionAwsKms || !strings.HasSuffix(aws.ToString(h.SSEKMSKeyId), p.KMSKeyName) {
			t.Errorf("%s: encryption %q with key %q, want aws:kms with %q", key, h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId), p.KMSKeyName)
		}
	}
	ok(t, qb.run(t, sc.args("list")...))
	ok(t, qb.run(t, sc.args("verify", id)...))

	before := strings.Join(st.keys(t), ",")
	for _, c := range []struct {
		args []string
		env  []string
		msg  string
	}{
		{args: []string{"--s3-sse=aes256"}, msg: `--s3-sse "aes256" (QBACKUP_S3_SSE): use AES256`},
		{args: []string{"--s3-sse=AES256", "--s3-sse-kms-key-id=k"}, msg: "only applies to --s3-sse=aws:kms"},
		{args: []string{"--s3-sse=AES256"}, env: []string{"QBACKUP_S3_SSE_C_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, msg: "keep one"},
		{env: []string{"QBACKUP_S3_SSE_C_KEY", "c2hvcnQ="}, msg: "QBACKUP_S3_SSE_C_KEY decodes to 5 bytes"},
		{args: []string{"--object-lock-mode=FOREVER", "--object-lock-days=1"}, msg: `--object-lock-mode "FOREVER"`},
	} {
		r := qb.with(c.env...).run(t, sc.backupArgs(c.args...)...)
		expect(t, r, exitUsage, c.msg)
	}
	if after := strings.Join(st.keys(t), ","); after != before {
		t.Fatalf("a refused backup wrote to the store: %s → %s", before, after)
	}
}
