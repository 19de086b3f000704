//go:build integration

package scenarios

import (
	"reflect"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestQdrantOverTLS backs up and restores a cluster whose peers serve
// REST and gRPC over TLS with a certificate of a private CA, trusted
// through --qdrant-ca-file; a run that does not trust that CA fails
// naming the peer and the certificate problem; peers that require a
// client certificate accept a run with --qdrant-client-cert/-key and
// refuse one without.
func TestQdrantOverTLS(t *testing.T) {
	t.Parallel()
	pki, otherCA := stacktest.NewPKI(t), stacktest.NewPKI(t)
	opts := fastSim(2)
	opts.TLS = pki.ServerTLS(false)
	src := startSim(t, opts)
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 40, nil, func(i int) string { return `[1,2,3,4]` })
	if u := src.staticURLs()[0]; !strings.HasPrefix(u, "https://") {
		t.Fatalf("the simulator serves %s, want https", u)
	}
	target := startSim(t, opts)
	st := newFileStore(t)
	qb := newCLI(t)
	sc := &scenario{sim: src, st: st, qb: qb, cluster: "prod"}
	ca := "--qdrant-ca-file=" + pki.CAFile

	ok(t, qb.run(t, sc.backupArgs(ca)...))
	ok(t, qb.run(t, sc.restoreArgs(target, "latest", ca)...))
	if got, want := target.points(t, "docs"), src.points(t, "docs"); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %d points over TLS, the source has %d", len(got), len(want))
	}

	for name, args := range map[string][]string{
		"another CA":       sc.backupArgs("--qdrant-ca-file=" + otherCA.CAFile),
		"the system roots": sc.backupArgs(),
	} {
		r := qb.run(t, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, src.staticURLs()[0][:len("https://127.0.0.")]) ||
			!strings.Contains(r.stderr, "certificate signed by unknown authority") || !strings.Contains(r.stderr, "--qdrant-ca-file") {
			t.Errorf("with %s: want a failure naming the peer, the certificate problem and --qdrant-ca-file\n%s", name, r)
		}
		t.Logf("with %s: exit %d: %s", name, r.code, lastLine(r.stderr))
	}
	r := qb.run(t, sc.backupArgs("--qdrant-ca-file=/nonexistent/ca.pem")...)
	expect(t, r, exitUsage, "--qdrant-ca-file (QBACKUP_QDRANT_CA_FILE)")

	t.Run("peers that require a client certificate", func(t *testing.T) {
		mopts := fastSim(2)
		mopts.TLS = pki.ServerTLS(true)
		msrc := startSim(t, mopts)
		msrc.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":1}`)
		msrc.upsert(t, "docs", 1, 10, nil, func(i int) string { return `[1,2,3,4]` })
		msc := &scenario{sim: msrc, st: newFileStore(t), qb: qb, cluster: "prod"}
		r := qb.run(t, msc.backupArgs(ca)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "certificate required") || !strings.Contains(r.stderr, "--qdrant-client-cert") {
			t.Errorf("without a client certificate: want a refusal\n%s", r)
		}
		t.Logf("without a client certificate: exit %d: %s", r.code, lastLine(r.stderr))
		ok(t, qb.run(t, msc.backupArgs(ca, "--qdrant-client-cert="+pki.ClientCertFile, "--qdrant-client-key="+pki.ClientKeyFile)...))
		r = qb.run(t, msc.backupArgs(ca, "--qdrant-client-cert="+pki.ClientCertFile)...)
		expect(t, r, exitUsage, "set both or neither")
	})
}
