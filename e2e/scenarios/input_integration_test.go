//go:build integration

package scenarios

import (
	"strings"
	"testing"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestBadInputIsRefusedBeforeAnyWork runs `backup` with one thing wrong at
// a time and checks the exit code, that the message names the problem, and
// that neither storage nor the cluster's snapshots were touched.
func TestBadInputIsRefusedBeforeAnyWork(t *testing.T) {
	t.Parallel()
	sm := startSim(t, fastSim(2))
	sm.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	sm.upsert(t, "docs", 1, 20, nil, func(i int) string { return `[1,2,3,4]` })
	keyedOpts := fastSim(2)
	keyedOpts.APIKey = "the-right-key"
	keyed := startSim(t, keyedOpts)

	tests := []struct {
		name string
		// cluster to back up (default sm)
		cluster *sim
		// storage flags replace the test's own S3 prefix when set
		storage []string
		// bucket replaces the bucket of the test's S3 URL when set
		bucket string
		// env overrides the test's variables
		env  []string
		args []string
		code int
		msgs []string
	}{
		{
			name:    "a storage URL without a scheme",
			storage: []string{"--storage=backups/prod"},
			code:    exitUsage, msgs: []string{`storage URL "backups/prod"`, "s3:// or file://"},
		},
		{
			name:    "a storage URL with an unknown scheme",
			storage: []string{"--storage=ftp://host/backups"},
			code:    exitUsage, msgs: []string{"scheme must be s3:// or file://"},
		},
		{
			name:    "a relative file URL",
			storage: []string{"--storage=file:backups"},
			code:    exitUsage, msgs: []string{"file path must be absolute"},
		},
		{
			name:    "an S3 URL without a bucket",
			storage: []string{"--storage=s3:///prefix"},
			code:    exitUsage, msgs: []string{"no bucket"},
		},
		{
			name:   "a bucket that does not exist",
			bucket: "qbackup-no-such-bucket",
			code:   exitUsage, msgs: []string{`bucket "qbackup-no-such-bucket" does not exist`},
		},
		{
			name: "S3 credentials that the server rejects",
			env:  []string{"AWS_SECRET_ACCESS_KEY", "not-the-secret"},
			code: exitUsage, msgs: []string{"S3 rejected the credentials", "AWS_SECRET_ACCESS_KEY"},
		},
		{
			name: "a catalog DSN that does not parse",
			env:  []string{"QBACKUP_CATALOG_DSN", "qbackup:pw@tcp(127.0.0.1:3306"},
			code: exitUsage, msgs: []string{"DSN"},
		},
		{
			name: "an unknown collection in --collections",
			args: []string{"--collections=docs,nope"},
			code: exitUsage, msgs: []string{"unknown collection", `"nope"`},
		},
		{
			name:    "a wrong Qdrant API key",
			cluster: keyed,
			env:     []string{"QBACKUP_QDRANT_API_KEY", "a-wrong-key"},
			code:    exitUsage, msgs: []string{"401", "QBACKUP_QDRANT_API_KEY"},
		},
		{
			name:    "no Qdrant API key for a cluster that needs one",
			cluster: keyed,
			code:    exitUsage, msgs: []string{"401", "QBACKUP_QDRANT_API_KEY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cluster := sm
			if tt.cluster != nil {
				cluster = tt.cluster
			}
			st := newS3Store(t)
			disc, rec := cluster.recordedDiscovery(t)
			qb := newCLI(t).with(st.env()...).with(tt.env...)
			storage := st.flags()
			if tt.storage != nil {
				storage = tt.storage
			}
			if tt.bucket != "" {
				storage[0] = "--storage=s3://" + tt.bucket + "/prod"
			}
			args := append(append(append([]string{"backup", "--cluster=prod"}, storage...), disc...), tt.args...)
			r := qb.run(t, args...)
			expect(t, r, tt.code, tt.msgs...)
			for _, secret := range []string{stacktest.S3(t).SecretKey, "not-the-secret", "a-wrong-key", ":pw@"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("a secret shows in the output:\n%s", r)
				}
			}
			if keys := st.keys(t); len(keys) != 0 {
				t.Errorf("storage holds %v", keys)
			}
			if got := rec.matching("snapshot"); len(got) != 0 {
				t.Errorf("the cluster was asked for snapshots: %v", got)
			}
		})
	}
}
