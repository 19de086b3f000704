package openapi_test

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/e2e/qdrantsim/openapi"
)

const streamRoute = "GET /collections/{collection_name}/shards/{shard_id}/snapshot"

var bothSpecs = []openapi.Spec{openapi.Spec115, openapi.Spec119}

func validator(t *testing.T, s openapi.Spec) *openapi.Validator {
	t.Helper()
	v, err := openapi.ForSpec(s)
	if err != nil {
		t.Fatalf("load %s document: %v", s, err)
	}
	return v
}

func jsonRequest(method, path, body string) (*http.Request, []byte) {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, "http://127.0.0.2:6333"+path, nil)
	} else {
		r = httptest.NewRequest(method, "http://127.0.0.2:6333"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	return r, []byte(body)
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": []string{"application/json"}}
}

func TestSpecForMapsVersionsToDocuments(t *testing.T) {
	tests := []struct {
		version string
		want    openapi.Spec
		wantErr bool
	}{
		{version: "1.15", want: openapi.Spec115},
		{version: "1.15.4", want: openapi.Spec115},
		{version: "v1.16.3", want: openapi.Spec115},
		{version: "1.17.1", want: openapi.Spec119},
		{version: "1.18.0", want: openapi.Spec119},
		{version: "1.19.0", want: openapi.Spec119},
		{version: "1.14.1", wantErr: true},
		{version: "1.20.0", wantErr: true},
		{version: "2.0.0", wantErr: true},
		{version: "latest", wantErr: true},
	}
	for _, tt := range tests {
		got, err := openapi.SpecFor(tt.version)
		if tt.wantErr {
			if err == nil {
				t.Errorf("SpecFor(%q) = %q, want an error", tt.version, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SpecFor(%q) = %q, %v; want %q", tt.version, got, err, tt.want)
		}
	}
}

func TestValidateRequest(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		wantErr error // nil: valid; errAny: some violation
	}{
		{name: "create collection with a single dense vector is valid", method: "PUT", path: "/collections/demo",
			body: `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":3,"replication_factor":2}`},
		{name: "create collection with named vectors is valid", method: "PUT", path: "/collections/demo",
			body: `{"vectors":{"image":{"size":4,"distance":"Dot"},"text":{"size":8,"distance":"Cosine"}}}`},
		{name: "vector size as a string is refused", method: "PUT", path: "/collections/demo",
			body: `{"vectors":{"size":"4","distance":"Cosine"}}`, wantErr: errAny},
		{name: "unknown distance is refused", method: "PUT", path: "/collections/demo",
			body: `{"vectors":{"size":4,"distance":"Hamming"}}`, wantErr: errAny},
		{name: "upsert with numeric and uuid ids is valid", method: "PUT", path: "/collections/demo/points?wait=true",
			body: `{"points":[{"id":1,"vector":[0.1,0.2],"payload":{"city":"Berlin"}},{"id":"5c56c793-69f3-4fbf-87e6-c4bf54c28c26","vector":[0.3,0.4]}]}`},
		{name: "wait that is not a boolean is refused", method: "PUT", path: "/collections/demo/points?wait=maybe",
			body: `{"points":[{"id":1,"vector":[0.1,0.2]}]}`, wantErr: errAny},
		{name: "negative point id is refused", method: "PUT", path: "/collections/demo/points",
			body: `{"points":[{"id":-1,"vector":[0.1,0.2]}]}`, wantErr: errAny},
		{name: "scroll is valid", method: "POST", path: "/collections/demo/points/scroll",
			body: `{"limit":10,"with_payload":true,"with_vector":true}`},
		{name: "move shard is valid", method: "POST", path: "/collections/demo/cluster",
			body: `{"move_shard":{"shard_id":0,"from_peer_id":1,"to_peer_id":2}}`},
		{name: "shard snapshot recover from a URL is valid", method: "PUT", path: "/collections/demo/shards/0/snapshots/recover",
			body: `{"location":"http://127.0.0.3:6333/collections/demo/shards/0/snapshots/s.snapshot","priority":"snapshot"}`},
		{name: "non-numeric shard id is refused", method: "GET", path: "/collections/demo/shards/x/snapshots",
			wantErr: errAny},
		{name: "a body on GET is refused", method: "GET", path: "/collections/demo",
			body: `{}`, wantErr: errAny},
		{name: "an undocumented route is refused", method: "GET", path: "/collections/demo/backup",
			wantErr: openapi.ErrUndocumentedRoute},
		{name: "an undocumented method is refused", method: "PATCH", path: "/aliases",
			wantErr: openapi.ErrUndocumentedMethod},
	}
	for _, s := range bothSpecs {
		v := validator(t, s)
		for _, tt := range tests {
			t.Run(string(s)+"/"+tt.name, func(t *testing.T) {
				req, body := jsonRequest(tt.method, tt.path, tt.body)
				err := v.ValidateRequest(req, body)
				switch {
				case tt.wantErr == nil && err != nil:
					t.Fatalf("want valid, got %v", err)
				case tt.wantErr != nil && err != nil:
					t.Logf("violation: %v", err)
				case tt.wantErr != nil && err == nil:
					t.Fatal("want a violation, got none")
				case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
					t.Fatalf("want %v, got %v", tt.wantErr, err)
				}
			})
		}
	}
}

// errAny stands for "some violation" in test tables.
var errAny = errors.New("any violation")

func TestLocksAreDocumentedOnlyIn115(t *testing.T) {
	req, _ := jsonRequest("GET", "/locks", "")
	if err := validator(t, openapi.Spec115).ValidateRequest(req, nil); err != nil {
		t.Errorf("1.15: GET /locks: %v", err)
	}
	if err := validator(t, openapi.Spec119).ValidateRequest(req, nil); !errors.Is(err, openapi.ErrUndocumentedRoute) {
		t.Errorf("1.19: GET /locks: want ErrUndocumentedRoute, got %v", err)
	}
}

func TestStreamingShardSnapshotIsTheOnlyException(t *testing.T) {
	if got := validator(t, openapi.Spec115).Exceptions(); !slices.Equal(got, []string{streamRoute}) {
		t.Errorf("1.15 exceptions = %q, want only %q", got, streamRoute)
	}
	if got := validator(t, openapi.Spec119).Exceptions(); len(got) != 0 {
		t.Errorf("1.19 exceptions = %q, want none: the document has the route", got)
	}
	for _, s := range bothSpecs {
		v := validator(t, s)
		req, _ := jsonRequest("GET", "/collections/demo/shards/2/snapshot", "")
		if op, err := v.Operation(req); err != nil || op != "stream_shard_snapshot" {
			t.Errorf("%s: operation = %q, %v; want stream_shard_snapshot", s, op, err)
		}
		if err := v.ValidateRequest(req, nil); err != nil {
			t.Errorf("%s: request: %v", s, err)
		}
		stream := http.Header{"Content-Type": []string{"application/octet-stream"}}
		if err := v.ValidateResponse(req, 200, stream, nil); err != nil {
			t.Errorf("%s: streamed 200: %v", s, err)
		}
		if err := v.ValidateResponse(req, 200, jsonHeader(), []byte(`{"result":true}`)); err == nil {
			t.Errorf("%s: a JSON 200 must not pass for a stream", s)
		}
		notLocal := []byte(`{"status":{"error":"Wrong input: Shard 2 is not a local or queue proxy shard"},"time":0.0}`)
		if err := v.ValidateResponse(req, 400, jsonHeader(), notLocal); err != nil {
			t.Errorf("%s: error before streaming: %v", s, err)
		}
		// Neighbouring routes stay undocumented: the exception is exact.
		for _, p := range []string{"/collections/demo/shards/2/snapshot/partial/create", "/collections/demo/shard/2/snapshot"} {
			other, _ := jsonRequest("GET", p, "")
			if err := v.ValidateRequest(other, nil); !errors.Is(err, openapi.ErrUndocumentedRoute) {
				t.Errorf("%s: GET %s: want ErrUndocumentedRoute, got %v", s, p, err)
			}
		}
		post, _ := jsonRequest("POST", "/collections/demo/shards/2/snapshot", "")
		if err := v.ValidateRequest(post, nil); !errors.Is(err, openapi.ErrUndocumentedMethod) {
			t.Errorf("%s: POST on the stream: want ErrUndocumentedMethod, got %v", s, err)
		}
	}
}

func collectionInfo(s openapi.Spec) string {
	optimizer := `{"deleted_threshold":0.2,"vacuum_min_vector_number":1000,"default_segment_number":0,"max_segment_size":null,"memmap_threshold":null,"indexing_threshold":10000,"flush_interval_sec":5,"max_optimization_threads":null}`
	return `{"result":{"status":"green","optimizer_status":"ok","indexed_vectors_count":0,"points_count":3,"segments_count":2,` +
		`"config":{"params":{"vectors":{"size":4,"distance":"Cosine"},"shard_number":3,"replication_factor":1,"write_consistency_factor":1,"on_disk_payload":true},` +
		`"hnsw_config":{"m":16,"ef_construct":100,"full_scan_threshold":10000,"max_indexing_threads":0,"on_disk":false},` +
		`"optimizer_config":` + optimizer + `,"wal_config":{"wal_capacity_mb":32,"wal_segments_ahead":0},"quantization_config":null},` +
		`"payload_schema":{}},"status":"ok","time":0.0001}`
}

func TestValidateResponse(t *testing.T) {
	type exchange struct {
		name    string
		method  string
		path    string
		status  int
		ctype   string
		body    string
		wantErr error
	}
	for _, s := range bothSpecs {
		tests := []exchange{
			{name: "collection info passes", method: "GET", path: "/collections/demo", status: 200,
				ctype: "application/json", body: collectionInfo(s)},
			{name: "collection info without config fails", method: "GET", path: "/collections/demo", status: 200,
				ctype: "application/json", body: strings.Replace(collectionInfo(s), `"segments_count":2,"config"`, `"segments_count":2,"x"`, 1), wantErr: errAny},
			{name: "collection info without status fails", method: "GET", path: "/collections/demo", status: 200,
				ctype: "application/json", body: strings.Replace(collectionInfo(s), `"status":"green",`, ``, 1), wantErr: errAny},
			{name: "missing collection as 404 error passes", method: "GET", path: "/collections/demo", status: 404,
				ctype: "application/json", body: "{\"status\":{\"error\":\"Not found: Collection `demo` doesn't exist!\"},\"time\":0.0}"},
			{name: "existing collection as 409 error passes", method: "PUT", path: "/collections/demo", status: 409,
				ctype: "application/json", body: "{\"status\":{\"error\":\"Wrong input: Collection `demo` already exists!\"},\"time\":0.0}"},
			{name: "an error answered as plain text fails", method: "GET", path: "/collections/demo", status: 404,
				ctype: "text/plain", body: "not found", wantErr: errAny},
			{name: "missing api key as plain-text 401 passes", method: "GET", path: "/collections", status: 401,
				ctype: "text/plain; charset=utf-8", body: "Must provide an API key or an Authorization bearer token"},
			{name: "read-only key on a write as 403 error passes", method: "DELETE", path: "/collections/demo", status: 403,
				ctype: "application/json", body: `{"status":{"error":"Forbidden: Global manage access is required"},"time":0.0}`},
			{name: "create collection result true passes", method: "PUT", path: "/collections/demo", status: 200,
				ctype: "application/json", body: `{"result":true,"status":"ok","time":0.01}`},
			{name: "create collection result as object fails", method: "PUT", path: "/collections/demo", status: 200,
				ctype: "application/json", body: `{"result":{"ok":true},"status":"ok","time":0.01}`, wantErr: errAny},
			{name: "an accepted snapshot creation passes", method: "POST", path: "/collections/demo/snapshots?wait=false", status: 202,
				ctype: "application/json", body: `{"status":"accepted","time":0.0}`},
			{name: "snapshot description passes", method: "POST", path: "/collections/demo/shards/0/snapshots", status: 200,
				ctype: "application/json", body: `{"result":{"name":"demo-shard-0-2026-11-25-10-00-00.snapshot","creation_time":"2026-11-25T10:00:00","size":10240,"checksum":"` + strings.Repeat("a", 64) + `"},"status":"ok","time":0.2}`},
			{name: "snapshot description without size fails", method: "POST", path: "/collections/demo/shards/0/snapshots", status: 200,
				ctype: "application/json", body: `{"result":{"name":"x.snapshot","creation_time":null},"status":"ok","time":0.2}`, wantErr: errAny},
			{name: "snapshot download passes", method: "GET", path: "/collections/demo/snapshots/x.snapshot", status: 200,
				ctype: "application/octet-stream"},
			{name: "ranged snapshot download passes", method: "GET", path: "/collections/demo/shards/1/snapshots/x.snapshot", status: 206,
				ctype: "application/octet-stream"},
			{name: "unsatisfiable range passes", method: "GET", path: "/collections/demo/snapshots/x.snapshot", status: 416},
			{name: "snapshot download as text fails", method: "GET", path: "/collections/demo/snapshots/x.snapshot", status: 200,
				ctype: "text/plain", body: "tar", wantErr: errAny},
			{name: "healthz passes", method: "GET", path: "/healthz", status: 200,
				ctype: "text/plain", body: "healthz check passed"},
			{name: "an undocumented status with a plain body fails", method: "GET", path: "/healthz", status: 500,
				ctype: "text/plain", body: "boom", wantErr: openapi.ErrUndocumentedStatus},
			{name: "an undocumented status with the generic error passes", method: "GET", path: "/healthz", status: 500,
				ctype: "application/json", body: `{"status":{"error":"Service internal error: injected"},"time":0.0}`},
			{name: "an undocumented status with an error-less JSON body fails", method: "GET", path: "/livez", status: 500,
				ctype: "application/json", body: `{"time":0.0}`, wantErr: openapi.ErrUndocumentedStatus},
			{name: "version info passes", method: "GET", path: "/", status: 200,
				ctype: "application/json", body: `{"title":"qdrant - vector search engine","version":"1.19.0","commit":"` + strings.Repeat("0", 40) + `"}`},
			{name: "version info without version fails", method: "GET", path: "/", status: 200,
				ctype: "application/json", body: `{"title":"qdrant - vector search engine"}`, wantErr: errAny},
			{name: "a response to an undocumented route fails", method: "GET", path: "/nope", status: 404,
				ctype: "application/json", body: `{}`, wantErr: openapi.ErrUndocumentedRoute},
		}
		v := validator(t, s)
		for _, tt := range tests {
			t.Run(string(s)+"/"+tt.name, func(t *testing.T) {
				req, _ := jsonRequest(tt.method, tt.path, "")
				h := http.Header{}
				if tt.ctype != "" {
					h.Set("Content-Type", tt.ctype)
				}
				err := v.ValidateResponse(req, tt.status, h, []byte(tt.body))
				switch {
				case tt.wantErr == nil && err != nil:
					t.Fatalf("want valid, got %v", err)
				case tt.wantErr != nil && err != nil:
					t.Logf("violation: %v", err)
				case tt.wantErr != nil && err == nil:
					t.Fatal("want a violation, got none")
				case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
					t.Fatalf("want %v, got %v", tt.wantErr, err)
				}
			})
		}
	}
}

func multipartUpload(t *testing.T, field string) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile(field, "demo-shard-0.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(bytes.Repeat([]byte{0}, 1024))
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func TestValidateMultipartUpload(t *testing.T) {
	for _, s := range bothSpecs {
		v := validator(t, s)
		for _, tt := range []struct {
			name    string
			field   string
			ctype   string
			wantErr bool
		}{
			{name: "snapshot field passes", field: "snapshot"},
			{name: "another field name fails", field: "file", wantErr: true},
			{name: "multipart without boundary fails", field: "snapshot", ctype: "multipart/form-data", wantErr: true},
			{name: "raw tar body fails", field: "snapshot", ctype: "application/x-tar", wantErr: true},
		} {
			t.Run(string(s)+"/"+tt.name, func(t *testing.T) {
				ct, body := multipartUpload(t, tt.field)
				if tt.ctype != "" {
					ct = tt.ctype
				}
				req := httptest.NewRequest("POST", "http://127.0.0.2:6333/collections/demo/shards/0/snapshots/upload?priority=snapshot", bytes.NewReader(body))
				req.Header.Set("Content-Type", ct)
				err := v.ValidateRequest(req, body[:200])
				if (err != nil) != tt.wantErr {
					t.Fatalf("error = %v, want error: %v", err, tt.wantErr)
				}
			})
		}
	}
}
