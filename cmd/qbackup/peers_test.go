package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/discovery"

	"github.com/qbackup/qbackup/internal/golden"
)

// simCluster starts a simulator of n peers on addresses from base, with
// API key key.
func simCluster(t *testing.T, n int, base, key string, seed uint64) *qdrantsim.Cluster {
	t.Helper()
	c, err := qdrantsim.Start(context.Background(), qdrantsim.Options{Peers: n, BindBase: base, HTTPPort: 16333, GRPCPort: 16334, APIKey: key, Seed: seed, Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestPeersReportsEachPodAsItIs: three peers in consensus, a fourth
// Qdrant that never joined (a cluster of its own) and a stopped peer are
// each reported as they are, nothing refused; the API key comes from the
// environment and appears in no output.
func TestPeersReportsEachPodAsItIs(t *testing.T) {
	const key = "sim-api-key-never-printed"
	t.Setenv("QBACKUP_QDRANT_API_KEY", key)
	main := simCluster(t, 3, "127.0.31.1", key, 7)
	lone := simCluster(t, 1, "127.0.31.9", key, 8)
	stopped := main.Peers()[2]
	stopped.Stop()
	var urls []string
	names := map[string]string{}
	for i, p := range append(main.Peers(), lone.Peers()...) {
		urls = append(urls, "--qdrant-url="+p.URL())
		names[p.URL()] = []string{"peer-a", "peer-b", "peer-stopped", "peer-lone"}[i]
	}
	args := append([]string{"peers", "--discovery=static", "--log-format=json"}, urls...)

	code, out, errOut := qbackup(t, append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("-o json is not one line:\n%s", out)
	}
	if strings.Contains(out+errOut, key) {
		t.Errorf("the API key appears in the output:\n%s\n%s", out, errOut)
	}
	var s discovery.Survey
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s.Kind != discovery.SurveyKind || s.Version != 1 || len(s.Pods) != 4 {
		t.Fatalf("survey %+v", s)
	}
	byName := map[string]discovery.PodAnswer{}
	for _, p := range s.Pods {
		byName[names[p.URL]] = p
	}
	for _, name := range []string{"peer-a", "peer-b"} {
		p := byName[name]
		if p.Error != "" || len(p.Peers) != 3 || !p.IsVoter || p.Consensus != "working" || p.QdrantVersion == "" {
			t.Errorf("%s: %+v", name, p)
		}
	}
	if p := byName["peer-lone"]; p.Error != "" || len(p.Peers) != 1 || p.PeerID != lone.Peers()[0].ID() {
		t.Errorf("the lone peer: %+v", p)
	}
	if p := byName["peer-stopped"]; p.Error == "" || p.PeerID != 0 {
		t.Errorf("the stopped peer: %+v", p)
	}
	if !strings.Contains(errOut, `"summary":"3 of 4 Ready pods answered; peers in consensus: 3 or 1"`) {
		t.Errorf("no summary record:\n%s", errOut)
	}

	// The table (fixed addresses and seeds: the same peer ids each run).
	code, out, errOut = qbackup(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	golden.CheckString(t, filepath.Join("testdata", "peers.txt"), out)
}

// TestPeersReportsAWrongKey: a wrong API key is reported per pod (the
// run succeeds: it reports), without the key.
func TestPeersReportsAWrongKey(t *testing.T) {
	const key = "zz-wrong-key-zz"
	t.Setenv("QBACKUP_QDRANT_API_KEY", key)
	c := simCluster(t, 1, "127.0.31.20", "right", 9)
	code, out, errOut := qbackup(t, "peers", "--discovery=static", "--qdrant-url="+c.Peers()[0].URL(), "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var s discovery.Survey
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Pods) != 1 || !strings.Contains(s.Pods[0].Error, "401") && !strings.Contains(strings.ToLower(s.Pods[0].Error), "unauthorized") {
		t.Errorf("survey %+v", s)
	}
	if strings.Contains(out+errOut, key) {
		t.Errorf("the key appears in the output:\n%s\n%s", out, errOut)
	}
}
