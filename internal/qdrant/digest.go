package qdrant

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// ContentHash returns the lowercase hex SHA-256 of the point's vectors and
// payload in canonical form. The backup records it for a sample of points
// and the restore recomputes it from the restored cluster, so the form
// must never change without a manifest format bump.
//
// The canonical form is the UTF-8 text {"payload":P,"vectors":V} with no
// whitespace, where:
//
//   - P is the payload as a JSON object; no payload is {}.
//   - V maps vector name ("" for the unnamed default vector) to the
//     vector; no vectors (not requested, or none) is {}.
//   - Objects: keys sorted by their UTF-8 bytes, each written as
//     encoding/json writes a string (so "<" is \u003c), "key":value
//     joined by ",".
//   - Arrays: elements in order, joined by ",".
//   - Strings: as encoding/json writes them. Booleans: true/false. null.
//   - Numbers: an integer (int64, or a float64 that is a whole number of
//     magnitude at most 2^53) in decimal; any other float64 in the
//     shortest form that reads back to the same float64
//     (strconv 'g', -1, 64), so 1 and 1.0 hash the same.
//   - Dense vector: [x,...] with each float32 in the shortest form that
//     reads back to the same float32 (strconv 'g', -1, 32).
//   - Multi-vector: [[x,...],...].
//   - Sparse vector: {"indices":[i,...],"values":[x,...]} with the pairs
//     sorted by index (Qdrant may return them in any order).
//
// The point id and shard key are not part of the hash: PointDigest keeps
// them beside it.
func ContentHash(p *Point) string {
	sum := sha256.Sum256(canonical(p))
	return hex.EncodeToString(sum[:])
}

// canonical returns the bytes ContentHash hashes.
func canonical(p *Point) []byte {
	var b bytes.Buffer
	b.WriteString(`{"payload":`)
	writeCanonical(&b, p.Payload)
	b.WriteString(`,"vectors":{`)
	names := make([]string, 0, len(p.Vectors))
	for n := range p.Vectors {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, n)
		b.WriteByte(':')
		writeVector(&b, p.Vectors[n])
	}
	b.WriteString("}}")
	return b.Bytes()
}

// PointDigest identifies one point and the hash of its content: what a
// backup records for a sample of points and a restore compares.
type PointDigest struct {
	ID       PointID
	ShardKey *ShardKey
	// SHA256 is ContentHash of the point.
	SHA256 string
}

// DigestOf returns the digest of a point: id, shard key and ContentHash.
func DigestOf(p *Point) PointDigest {
	return PointDigest{ID: p.ID, ShardKey: p.ShardKey, SHA256: ContentHash(p)}
}

func writeVector(b *bytes.Buffer, v Vector) {
	switch {
	case v.Sparse != nil:
		type pair struct {
			i uint32
			v float32
		}
		ps := make([]pair, len(v.Sparse.Indices))
		for k, i := range v.Sparse.Indices {
			ps[k].i = i
			if k < len(v.Sparse.Values) {
				ps[k].v = v.Sparse.Values[k]
			}
		}
		slices.SortStableFunc(ps, func(a, b pair) int { return cmp.Compare(a.i, b.i) })
		b.WriteString(`{"indices":[`)
		for k, p := range ps {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(p.i), 10))
		}
		b.WriteString(`],"values":[`)
		for k, p := range ps {
			if k > 0 {
				b.WriteByte(',')
			}
			writeFloat32(b, p.v)
		}
		b.WriteString("]}")
	case v.Multi != nil:
		b.WriteByte('[')
		for k, d := range v.Multi {
			if k > 0 {
				b.WriteByte(',')
			}
			writeDense(b, d)
		}
		b.WriteByte(']')
	default:
		writeDense(b, v.Dense)
	}
}

func writeDense(b *bytes.Buffer, d []float32) {
	b.WriteByte('[')
	for k, x := range d {
		if k > 0 {
			b.WriteByte(',')
		}
		writeFloat32(b, x)
	}
	b.WriteByte(']')
}

func writeFloat32(b *bytes.Buffer, x float32) {
	b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 32))
}

const maxExactInt = 1 << 53

func writeFloat64(b *bytes.Buffer, x float64) {
	if x == math.Trunc(x) && math.Abs(x) <= maxExactInt {
		b.WriteString(strconv.FormatInt(int64(x), 10))
		return
	}
	b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // strings always encode
	b.Write(enc)
}

// writeCanonical writes a payload value. Besides the types Scroll
// produces it accepts the ones encoding/json and callers commonly hold.
func writeCanonical(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case float64:
		writeFloat64(b, x)
	case float32:
		writeFloat64(b, float64(x))
	case json.Number:
		if n, err := x.Int64(); err == nil {
			b.WriteString(strconv.FormatInt(n, 10))
		} else if f, err := x.Float64(); err == nil {
			writeFloat64(b, f)
		} else {
			b.WriteString(x.String())
		}
	case string:
		writeString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeCanonical(b, x[k])
		}
		b.WriteByte('}')
	default:
		// Not produced by this package; hash its JSON so it still counts.
		enc, err := json.Marshal(x)
		if err != nil {
			enc = []byte(strconv.Quote(fmt.Sprint(x)))
		}
		b.Write(enc)
	}
}
