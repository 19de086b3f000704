package qdrant

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestVersionReadsGETRootWithoutEnvelope(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{"GET /{$}": serve(t, 200, "version.json")})
	v, err := c.Version(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v != "1.15.4" {
		t.Fatalf("version %q, want 1.15.4", v)
	}
}

func TestVersionRejectsAnswersThatAreNotQdrant(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"an HTML page", "<html><body>nginx</body></html>"},
		{"JSON of another service", `{"title":"grafana","version":"10.1"}`},
		{"JSON without a version", `{"title":"qdrant - vector search engine"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakePeer(t, map[string]http.HandlerFunc{"GET /{$}": func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tc.body)
			}})
			_, err := c.Version(ctx(t))
			if !errors.Is(err, ErrNotQdrant) {
				t.Fatalf("error %v, want ErrNotQdrant", err)
			}
		})
	}
}

func TestClusterParsesPeersRaftAndConsensus(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{"GET /cluster": serve(t, 200, "cluster.json")})
	s, err := c.Cluster(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// 2^53+1 does not survive a float64: the id must be exact.
	if !s.Enabled || s.PeerID != 9007199254740993 {
		t.Fatalf("enabled %v peer %d", s.Enabled, s.PeerID)
	}
	want := map[uint64]string{
		9007199254740993: "http://qdrant-0.qdrant-headless:6335/",
		17:               "http://qdrant-1.qdrant-headless:6335/",
		4411:             "http://qdrant-2.qdrant-headless:6335/",
	}
	if len(s.Peers) != len(want) {
		t.Fatalf("peers %v", s.Peers)
	}
	for id, uri := range want {
		if s.Peers[id] != uri {
			t.Errorf("peer %d uri %q, want %q", id, s.Peers[id], uri)
		}
	}
	if !s.ConsensusWorking() || s.Raft.Leader == nil || *s.Raft.Leader != 17 || s.Raft.Role != "Follower" {
		t.Fatalf("raft %+v consensus %q", s.Raft, s.Consensus)
	}
	if s.LastUpdate.IsZero() {
		t.Error("last update not parsed")
	}
}

func TestClusterReportsStandaloneAndStoppedConsensus(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{"GET /cluster": serve(t, 200, "cluster_disabled.json")})
	s, err := c.Cluster(ctx(t))
	if err != nil || s.Enabled {
		t.Fatalf("standalone: %+v %v", s, err)
	}
	c, _ = fakePeer(t, map[string]http.HandlerFunc{"GET /cluster": serve(t, 200, "cluster_stopped.json")})
	s, err = c.Cluster(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.ConsensusWorking() || s.Consensus != "stopped_with_err" || s.ConsensusError != "raft storage corrupted" || s.Raft.Leader != nil {
		t.Fatalf("stopped: %+v", s)
	}
	if s.MessageSendFailures["http://qdrant-2.qdrant-headless:6335/"].Count != 4 {
		t.Fatalf("send failures %+v", s.MessageSendFailures)
	}
}

func TestCollectionInfoKeepsConfigVerbatimAndParsesEssentials(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{"GET /collections/{c}": serve(t, 200, "collection_info.json")})
	info, err := c.CollectionInfo(ctx(t), "docs")
	if err != nil {
		t.Fatal(err)
	}
	if info.ShardNumber != 3 || info.ShardingMethod != "custom" || info.ReplicationFactor != 2 || info.WriteConsistencyFactor != 1 || info.PointsCount != 1200 {
		t.Fatalf("essentials %+v", info)
	}
	var env struct {
		Result struct {
			Config        json.RawMessage `json:"config"`
			PayloadSchema json.RawMessage `json:"payload_schema"`
		} `json:"result"`
	}
	if err := json.Unmarshal(fixture(t, "collection_info.json"), &env); err != nil {
		t.Fatal(err)
	}
	if string(info.Config) != string(env.Result.Config) {
		t.Fatalf("config not verbatim:\n%s\nwant\n%s", info.Config, env.Result.Config)
	}
	if !strings.Contains(string(info.Config), `"future_setting"`) {
		t.Error("unknown config keys must survive")
	}
	if string(info.PayloadSchema) != string(env.Result.PayloadSchema) {
		t.Fatalf("payload schema not verbatim: %s", info.PayloadSchema)
	}
	var vectors map[string]any
	if err := json.Unmarshal(info.Vectors, &vectors); err != nil || len(vectors) != 2 {
		t.Fatalf("vectors %s: %v", info.Vectors, err)
	}
	if len(info.SparseVectors) == 0 {
		t.Error("sparse vectors missing")
	}
}

func TestCollectionInfoDefaultsShardingMethodToAuto(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{"GET /collections/{c}": serve(t, 200, "collection_info_minimal.json")})
	info, err := c.CollectionInfo(ctx(t), "docs")
	if err != nil {
		t.Fatal(err)
	}
	if info.ShardingMethod != "auto" || info.ShardNumber != 1 {
		t.Fatalf("%+v", info)
	}
}

func TestPayloadIndexSchemaPrefersParams(t *testing.T) {
	for _, tc := range []struct{ entry, want string }{
		{`{"data_type":"keyword","points":3}`, `"keyword"`},
		{`{"data_type":"text","params":{"type":"text","tokenizer":"word"},"points":3}`, `{"type":"text","tokenizer":"word"}`},
	} {
		got, err := PayloadIndexSchema(json.RawMessage(tc.entry))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s → %s (%v), want %s", tc.entry, got, err, tc.want)
		}
	}
}

func TestCreateCollectionAndPayloadIndexSendTheBodies(t *testing.T) {
	var gotCreate, gotIndex []byte
	var indexQuery string
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"PUT /collections/{c}": func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("c") != "my docs" {
				t.Errorf("collection %q", r.PathValue("c"))
			}
			gotCreate, _ = io.ReadAll(r.Body)
			serve(t, 200, "true.json")(w, r)
		},
		"PUT /collections/{c}/index": func(w http.ResponseWriter, r *http.Request) {
			gotIndex, _ = io.ReadAll(r.Body)
			indexQuery = r.URL.RawQuery
			_, _ = io.WriteString(w, `{"result":{"operation_id":1,"status":"completed"},"status":"ok","time":0.1}`)
		},
	})
	body := json.RawMessage(`{"vectors":{"size":4,"distance":"Cosine"},"shard_number":3}`)
	if err := c.CreateCollection(ctx(t), "my docs", body); err != nil {
		t.Fatal(err)
	}
	if string(gotCreate) != string(body) {
		t.Fatalf("create body %s", gotCreate)
	}
	if err := c.CreatePayloadIndex(ctx(t), "my docs", "city", json.RawMessage(`"keyword"`)); err != nil {
		t.Fatal(err)
	}
	if string(gotIndex) != `{"field_name":"city","field_schema":"keyword"}` || indexQuery != "wait=true" {
		t.Fatalf("index body %s query %s", gotIndex, indexQuery)
	}
}

func TestErrorsMapToSentinelsWithQdrantsMessage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		fixture   string
		sentinel  error
		transient bool
		wantText  []string
	}{
		{"a wrong key is a plain-text 401", 401, "error_401_invalid.txt", ErrUnauthorized, false,
			[]string{"rejected the API key (401 Invalid API key or JWT)", "set QBACKUP_QDRANT_API_KEY"}},
		{"a missing key is a plain-text 401", 401, "error_401_missing.txt", ErrUnauthorized, false,
			[]string{"Must provide an API key"}},
		{"a read-only key gets 403", 403, "error_forbidden.json", ErrForbidden, false,
			[]string{"Global manage access is required"}},
		{"a missing collection is 404", 404, "error_collection_not_found.json", ErrNotFound, false,
			[]string{"Collection `docs` doesn't exist!", "404"}},
		{"an existing collection is 409", 409, "error_collection_exists.json", ErrConflict, false,
			[]string{"already exists"}},
		{"a shard not local is 400", 400, "error_not_local.json", nil, false,
			[]string{"not a local or queue proxy shard"}},
		{"a full disk is 500 and transient", 500, "error_service.json", nil, true,
			[]string{"No space left on device"}},
		{"a recovery in progress is 503 with a status word", 503, "error_in_progress.json", nil, true,
			[]string{"already_in_progress"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, srv := fakePeer(t, map[string]http.HandlerFunc{"GET /collections/{c}": serve(t, tc.status, tc.fixture)})
			_, err := c.CollectionInfo(ctx(t), "docs")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *APIError", err, err)
			}
			if ae.Status != tc.status || ae.Peer != srv.URL {
				t.Fatalf("status %d peer %q", ae.Status, ae.Peer)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v does not wrap %v", err, tc.sentinel)
			}
			if IsTransient(err) != tc.transient {
				t.Fatalf("transient %v, want %v", IsTransient(err), tc.transient)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatal("the API key leaked into the error")
			}
		})
	}
}

func TestTheAPIKeyIsSentAsHeader(t *testing.T) {
	c, srv := fakePeer(t, map[string]http.HandlerFunc{"GET /cluster": serve(t, 200, "cluster.json")})
	if _, err := c.Cluster(ctx(t)); err != nil {
		t.Fatalf("with the right key: %v", err)
	}
	bad, err := New(ctx(t), PeerAddr{REST: srv.URL}, Options{APIKey: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = bad.Cluster(ctx(t))
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("with a wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatal("key in the error")
	}
}

func TestCollectionClusterParsesReplicasAndTransfers(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{"GET /collections/{c}/cluster": serve(t, 200, "collection_cluster.json")})
	cc, err := c.CollectionCluster(ctx(t), "docs")
	if err != nil {
		t.Fatal(err)
	}
	if cc.PeerID != 17 || cc.ShardCount != 3 || len(cc.LocalShards) != 2 || len(cc.RemoteShards) != 3 {
		t.Fatalf("%+v", cc)
	}
	if k := cc.LocalShards[0].ShardKey; k == nil || !k.Equal(StringKey("tenant-a")) {
		t.Fatalf("string shard key %v", k)
	}
	if k := cc.LocalShards[1].ShardKey; k == nil || !k.Equal(NumberKey(7)) {
		t.Fatalf("number shard key %v", k)
	}
	tr := cc.ShardTransfers[0]
	if tr.ShardID != 2 || tr.From != 9007199254740993 || tr.To != 17 || !tr.Sync || tr.Method != "stream_records" {
		t.Fatalf("transfer %+v", tr)
	}
	reps := cc.Replicas()
	want := []struct {
		shard uint32
		peer  uint64
		state string
	}{{0, 17, StateActive}, {0, 4411, StateDead}, {1, 4411, StateActive}, {2, 17, StatePartial}, {2, 9007199254740993, StateActive}}
	if len(reps) != len(want) {
		t.Fatalf("replicas %+v", reps)
	}
	for i, w := range want {
		if reps[i].ShardID != w.shard || reps[i].PeerID != w.peer || reps[i].State != w.state {
			t.Errorf("replica %d = %+v, want %+v", i, reps[i], w)
		}
	}
}

func TestShardSnapshotCreateListDelete(t *testing.T) {
	var createQuery, deleted string
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"POST /collections/{c}/shards/{s}/snapshots": func(w http.ResponseWriter, r *http.Request) {
			createQuery = r.URL.RawQuery
			serve(t, 200, "snapshot_created.json")(w, r)
		},
		"GET /collections/{c}/shards/{s}/snapshots": serve(t, 200, "snapshot_list.json"),
		"DELETE /collections/{c}/shards/{s}/snapshots/{name}": func(w http.ResponseWriter, r *http.Request) {
			deleted = r.PathValue("c") + "/" + r.PathValue("s") + "/" + r.PathValue("name")
			serve(t, 200, "true.json")(w, r)
		},
	})
	d, err := c.CreateShardSnapshot(ctx(t), "docs", 2)
	if err != nil {
		t.Fatal(err)
	}
	if createQuery != "wait=true" {
		t.Errorf("create query %q", createQuery)
	}
	wantTime := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	if d.Name != "docs-shard-2-2026-11-25-13-30-00.snapshot" || d.Size != 1048576 || !d.CreationTime.Equal(wantTime) ||
		d.Checksum != "3f1d8a2c6b9e4f0a7d5c3b1e9f8a7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e" {
		t.Fatalf("description %+v", d)
	}
	list, err := c.ListShardSnapshots(ctx(t), "docs", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "docs-shard-2-nobirth.snapshot" || list[2].Name != "docs-shard-2-2026-11-25-13-31-00.snapshot" {
		t.Fatalf("list not sorted by creation time: %+v", list)
	}
	if err := c.DeleteShardSnapshot(ctx(t), "docs", 2, d.Name); err != nil {
		t.Fatal(err)
	}
	if deleted != "docs/2/"+d.Name {
		t.Fatalf("deleted %q", deleted)
	}
	if err := c.DeleteShardSnapshot(ctx(t), "docs", 2, "../../etc/passwd"); err == nil {
		t.Fatal("a path was accepted as a snapshot name")
	}
}

func TestRecoverShardSendsLocationPriorityChecksumAndKey(t *testing.T) {
	var body map[string]any
	var query string
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"PUT /collections/{c}/shards/{s}/snapshots/recover": func(w http.ResponseWriter, r *http.Request) {
			query = r.URL.RawQuery
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				t.Error(err)
			}
			serve(t, 200, "true.json")(w, r)
		},
	})
	req := RecoverRequest{Location: "https://s3.example/b/x.snapshot?X-Amz-Signature=abc", Priority: PrioritySnapshot,
		Checksum: strings.Repeat("ab", 32), APIKey: "remote-key"}
	if err := c.RecoverShard(ctx(t), "docs", 1, req); err != nil {
		t.Fatal(err)
	}
	if query != "wait=true" || body["location"] != req.Location || body["priority"] != "snapshot" ||
		body["checksum"] != req.Checksum || body["api_key"] != "remote-key" {
		t.Fatalf("query %q body %v", query, body)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("recover", "req", req)
	if strings.Contains(logged.String(), "remote-key") || strings.Contains(logged.String(), "abc") {
		t.Fatalf("secret in log: %s", logged.String())
	}
}

func TestRecoverShardChecksumMismatchIsABadRequest(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"PUT /collections/{c}/shards/{s}/snapshots/recover": serve(t, 400, "error_checksum.json"),
	})
	err := c.RecoverShard(ctx(t), "docs", 1, RecoverRequest{Location: "x.snapshot", Checksum: "00ff"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "Checksum mismatch") {
		t.Fatalf("%v", err)
	}
}

func TestWriteLockOn115AndNotSupportedLater(t *testing.T) {
	var posted []map[string]any
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"GET /locks": serve(t, 200, "locks_held.json"),
		"POST /locks": func(w http.ResponseWriter, r *http.Request) {
			var m map[string]any
			_ = json.NewDecoder(r.Body).Decode(&m)
			posted = append(posted, m)
			serve(t, 200, "locks.json")(w, r)
		},
	})
	ok, err := c.WriteLockSupported(ctx(t))
	if err != nil || !ok {
		t.Fatalf("supported %v %v", ok, err)
	}
	locked, err := c.WritesLocked(ctx(t))
	if err != nil || !locked {
		t.Fatalf("locked %v %v", locked, err)
	}
	if err := c.LockWrites(ctx(t), "qbackup backup 20261125T133000Z"); err != nil {
		t.Fatal(err)
	}
	if err := c.UnlockWrites(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if len(posted) != 2 || posted[0]["write"] != true || posted[0]["error_message"] != "qbackup backup 20261125T133000Z" || posted[1]["write"] != false {
		t.Fatalf("posted %v", posted)
	}

	// 1.16+: no route, actix answers 404.
	c, _ = fakePeer(t, map[string]http.HandlerFunc{"GET /{$}": serve(t, 200, "version.json")})
	ok, err = c.WriteLockSupported(ctx(t))
	if err != nil || ok {
		t.Fatalf("1.19 supported %v %v", ok, err)
	}
	if err := c.LockWrites(ctx(t), "x"); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("lock on 1.19: %v", err)
	}
}

func TestOptionsNeverLogTheKey(t *testing.T) {
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("client", "opts", Options{APIKey: testKey, UserAgent: "qbackup/test"})
	if strings.Contains(logged.String(), testKey) || !strings.Contains(logged.String(), `"api_key_set":true`) {
		t.Fatalf("%s", logged.String())
	}
}
