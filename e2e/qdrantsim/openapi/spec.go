package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The official documents are embedded so that tests in any package find them
// without depending on their working directory (go:embed cannot reach the
// parent package, hence testdata/ lives here).
//
//go:embed testdata/openapi-v1.15.json testdata/openapi-v1.19.json
var specFiles embed.FS

// Spec names one of the embedded OpenAPI documents.
type Spec string

const (
	// Spec115 is Qdrant's v1.15 document; it describes 1.15.x and 1.16.x.
	Spec115 Spec = "1.15"
	// Spec119 is Qdrant's v1.19 document; it describes 1.17.x to 1.19.x.
	Spec119 Spec = "1.19"
)

func (s Spec) file() string { return "testdata/openapi-v" + string(s) + ".json" }

// SpecFor picks the document that describes a Qdrant version ("1.15",
// "1.16.2", "v1.19.0").
//
// 1.16 removed /locks and added a few fields but kept the 1.15 API otherwise,
// so the 1.15 document serves it. 1.17 added the streaming shard snapshot to
// the document and 1.18 GET /collections/{c}/shards; the 1.19 document is a
// superset of what 1.17 and 1.18 serve for everything a backup tool uses.
// Versions outside 1.15–1.19 have no document here and are refused rather
// than validated against the wrong one.
func SpecFor(version string) (Spec, error) {
	v := strings.TrimPrefix(strings.TrimSpace(version), "v")
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return "", fmt.Errorf("openapi: version %q: want MAJOR.MINOR[.PATCH]", version)
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return "", fmt.Errorf("openapi: version %q: want MAJOR.MINOR[.PATCH]", version)
		}
		nums[i] = n
	}
	if nums[0] != 1 {
		return "", fmt.Errorf("openapi: version %q: no document for this major version", version)
	}
	switch minor := nums[1]; {
	case minor == 15 || minor == 16:
		return Spec115, nil
	case minor >= 17 && minor <= 19:
		return Spec119, nil
	default:
		return "", fmt.Errorf("openapi: version %q: only 1.15 to 1.19 are covered by an embedded document", version)
	}
}

// streamShardSnapshotPath is the one route Qdrant serves (since 1.12) that
// the 1.15 document leaves out: GET streams a shard snapshot.
const streamShardSnapshotPath = "/collections/{collection_name}/shards/{shard_id}/snapshot"

// streamShardSnapshotItem is the path item of that route, verbatim from the
// v1.19 document, where Qdrant documented it (PR #8132, 1.17). Adding this
// and nothing else to the 1.15 document is the only liberty taken with it.
const streamShardSnapshotItem = `{
 "get": {
  "tags": ["Snapshots"],
  "summary": "Download shard snapshot",
  "description": "Stream the current state of a shard as a snapshot file",
  "operationId": "stream_shard_snapshot",
  "parameters": [
   {"name": "collection_name", "in": "path", "description": "Name of the collection", "required": true, "schema": {"type": "string"}},
   {"name": "shard_id", "in": "path", "description": "Id of the shard", "required": true, "schema": {"type": "integer"}}
  ],
  "responses": {
   "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}},
   "4XX": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}},
   "200": {"description": "Snapshot file", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
  }
 }
}`

// specDocument returns the JSON text of an embedded document, with the
// streaming shard snapshot route added when the document lacks it, and the
// routes so added.
func specDocument(s Spec) (data []byte, added []string, err error) {
	raw, err := specFiles.ReadFile(s.file())
	if err != nil {
		return nil, nil, fmt.Errorf("openapi: read %s document: %w", s, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("openapi: parse %s document: %w", s, err)
	}
	var paths map[string]json.RawMessage
	if err := json.Unmarshal(doc["paths"], &paths); err != nil {
		return nil, nil, fmt.Errorf("openapi: parse %s document paths: %w", s, err)
	}
	if _, ok := paths[streamShardSnapshotPath]; ok {
		return raw, nil, nil
	}
	paths[streamShardSnapshotPath] = json.RawMessage(streamShardSnapshotItem)
	if doc["paths"], err = json.Marshal(paths); err != nil {
		return nil, nil, fmt.Errorf("openapi: extend %s document: %w", s, err)
	}
	if data, err = json.Marshal(doc); err != nil {
		return nil, nil, fmt.Errorf("openapi: extend %s document: %w", s, err)
	}
	return data, []string{"GET " + streamShardSnapshotPath}, nil
}

// loaded memoises the parsed documents: parsing one takes a few hundred
// milliseconds and every test builds validators. The cached values are never
// modified after loading, and kin-openapi validation only reads them.
var loaded = map[Spec]func() (*compiled, error){
	Spec115: sync.OnceValues(func() (*compiled, error) { return compile(Spec115) }),
	Spec119: sync.OnceValues(func() (*compiled, error) { return compile(Spec119) }),
}
