package restore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// RESTPointWriter upserts points through one peer's REST API
// (PUT /collections/{c}/points?wait=true). Resharding is the only writer
// of points in qbackup, and the Qdrant client package only reads them,
// so this small writer lives where it is used.
type RESTPointWriter struct {
	// BaseURL is the peer's REST address, e.g. http://10.0.0.1:6333.
	BaseURL string
	// APIKey is sent as the api-key header. Never logged.
	APIKey string
	// HTTP is the transport; default http.DefaultClient.
	HTTP *http.Client
	// MaxBodyBytes bounds one request body; larger batches are split.
	// Default 30 MiB, under Qdrant's default 32 MiB limit
	// (config/config.yaml service.max_request_size_mb).
	MaxBodyBytes int
}

// UpsertPoints implements PointWriter.
func (w *RESTPointWriter) UpsertPoints(ctx context.Context, collection string, points []qdrant.Point) error {
	type restPoint struct {
		ID      qdrant.PointID `json:"id"`
		Vector  any            `json:"vector"`
		Payload map[string]any `json:"payload,omitempty"`
	}
	body := struct {
		Points []restPoint `json:"points"`
	}{Points: make([]restPoint, 0, len(points))}
	for _, p := range points {
		body.Points = append(body.Points, restPoint{ID: p.ID, Vector: restVectors(p.Vectors), Payload: p.Payload})
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode points for %q: %w", collection, err)
	}
	if limit := cmp.Or(w.MaxBodyBytes, 30<<20); len(raw) > limit {
		if len(points) == 1 {
			return fmt.Errorf("point %s of %q encodes to %d bytes, above the %d-byte request limit", points[0].ID, collection, len(raw), limit)
		}
		half := len(points) / 2
		if err := w.UpsertPoints(ctx, collection, points[:half]); err != nil {
			return err
		}
		return w.UpsertPoints(ctx, collection, points[half:])
	}
	u := strings.TrimRight(w.BaseURL, "/") + "/collections/" + url.PathEscape(collection) + "/points?wait=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("upsert points into %q: %w", collection, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if w.APIKey != "" {
		req.Header.Set("api-key", w.APIKey)
	}
	hc := w.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("upsert points into %q on %s: %w", collection, w.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return &qdrant.APIError{Op: fmt.Sprintf("upsert points into %q", collection), Peer: w.BaseURL, Status: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	return nil
}

// restVectors writes vectors the way the REST API takes them: the
// unnamed vector alone as a bare value, named ones as an object.
func restVectors(vs map[string]qdrant.Vector) any {
	if v, ok := vs[""]; ok && len(vs) == 1 {
		return restVector(v)
	}
	out := map[string]any{}
	for name, v := range vs {
		out[name] = restVector(v)
	}
	return out
}

// An empty sparse vector (a point with no terms) is read back with nil
// slices; Qdrant refuses null where it wants an array, so empty slices
// are written as [].
func restVector(v qdrant.Vector) any {
	switch {
	case v.Sparse != nil:
		return map[string]any{"indices": orEmpty(v.Sparse.Indices), "values": orEmpty(v.Sparse.Values)}
	case v.Multi != nil:
		return v.Multi
	}
	return orEmpty(v.Dense)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
