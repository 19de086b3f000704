package main

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// point is one sample point as loaded, and as it must come back.
type point struct {
	ID       any // uint64 or a hyphenated UUID string
	Vector   any // []float32, or map[string][]float32 for named vectors
	Payload  map[string]any
	ShardKey string // custom sharding only
}

// collection is one sample collection: how it is created and what it holds.
type collection struct {
	Name      string
	Create    map[string]any
	ShardKeys []string
	Indexes   []map[string]any
	Aliases   []string
	Points    []point
}

// dataset is the demo's sample data, deterministic for a seed. The vectors
// use Dot and Euclid distances, which Qdrant stores as given; Cosine would be
// normalised on write and could not be compared with what was sent.
func dataset(seed uint64) []*collection {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	articles := &collection{
		Name: "articles",
		Create: map[string]any{
			"vectors": map[string]any{
				"title": map[string]any{"size": 8, "distance": "Dot"},
				"body":  map[string]any{"size": 32, "distance": "Dot"},
			},
			"shard_number":       6,
			"replication_factor": 2,
		},
		Indexes: []map[string]any{{"field_name": "category", "field_schema": "keyword"}},
		Aliases: []string{"news"},
	}
	categories := []string{"science", "sports", "politics", "culture", "tech"}
	for i := range 1500 {
		articles.Points = append(articles.Points, point{
			ID:     uint64(i + 1),
			Vector: map[string][]float32{"title": vector(r, 8), "body": vector(r, 32)},
			Payload: map[string]any{
				"title":     fmt.Sprintf("Article %d", i+1),
				"category":  categories[r.IntN(len(categories))],
				"views":     r.IntN(100000),
				"score":     float64(r.IntN(1000)) / 10,
				"published": r.IntN(4) != 0,
				"tags":      []any{categories[r.IntN(len(categories))], fmt.Sprintf("t%d", r.IntN(20))},
				"author":    map[string]any{"name": fmt.Sprintf("author-%d", r.IntN(50)), "id": r.IntN(50)},
			},
		})
	}

	products := &collection{
		Name: "products",
		Create: map[string]any{
			"vectors":      map[string]any{"size": 16, "distance": "Euclid"},
			"shard_number": 3,
		},
	}
	for i := range 1200 {
		products.Points = append(products.Points, point{
			ID:     uuid(r),
			Vector: vector(r, 16),
			Payload: map[string]any{
				"sku":      fmt.Sprintf("SKU-%05d", i),
				"price":    float64(r.IntN(100000)) / 100,
				"in_stock": r.IntN(2) == 0,
			},
		})
	}

	tenants := &collection{
		Name: "tenants",
		Create: map[string]any{
			"vectors":         map[string]any{"size": 8, "distance": "Dot"},
			"sharding_method": "custom",
			"shard_number":    2,
		},
		ShardKeys: []string{"acme", "globex"},
	}
	for i := range 600 {
		key := tenants.ShardKeys[i%2]
		tenants.Points = append(tenants.Points, point{
			ID:       uint64(100000 + i),
			Vector:   vector(r, 8),
			Payload:  map[string]any{"tenant": key, "doc": fmt.Sprintf("%s-doc-%d", key, i/2)},
			ShardKey: key,
		})
	}
	return []*collection{articles, products, tenants}
}

func vector(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.Float64()*2 - 1)
	}
	return v
}

// uuid returns a random version 4 UUID drawn from r, hyphenated and lower
// case as Qdrant returns UUID ids.
func uuid(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func totalPoints(cols []*collection) int {
	n := 0
	for _, c := range cols {
		n += len(c.Points)
	}
	return n
}

// load creates the collections, their shard keys, payload indexes and
// aliases, and upserts the points in batches, waiting for each write.
func load(ctx context.Context, api *restClient, cols []*collection) error {
	for _, c := range cols {
		if err := api.do(ctx, "PUT", "/collections/"+c.Name, c.Create, nil); err != nil {
			return fmt.Errorf("create collection %q: %w", c.Name, err)
		}
		for _, k := range c.ShardKeys {
			if err := api.do(ctx, "PUT", "/collections/"+c.Name+"/shards", map[string]any{"shard_key": k}, nil); err != nil {
				return fmt.Errorf("create shard key %q of %q: %w", k, c.Name, err)
			}
		}
		for _, idx := range c.Indexes {
			if err := api.do(ctx, "PUT", "/collections/"+c.Name+"/index?wait=true", idx, nil); err != nil {
				return fmt.Errorf("create payload index on %q: %w", c.Name, err)
			}
		}
		if err := upsert(ctx, api, c); err != nil {
			return err
		}
		for _, a := range c.Aliases {
			body := map[string]any{"actions": []any{map[string]any{"create_alias": map[string]any{"collection_name": c.Name, "alias_name": a}}}}
			if err := api.do(ctx, "POST", "/collections/aliases", body, nil); err != nil {
				return fmt.Errorf("create alias %q of %q: %w", a, c.Name, err)
			}
		}
	}
	return nil
}

func upsert(ctx context.Context, api *restClient, c *collection) error {
	const batch = 300
	// Points of a custom-sharded collection go to their key's shards, so a
	// batch holds one key only.
	byKey := map[string][]point{}
	var keys []string
	for _, p := range c.Points {
		if _, ok := byKey[p.ShardKey]; !ok {
			keys = append(keys, p.ShardKey)
		}
		byKey[p.ShardKey] = append(byKey[p.ShardKey], p)
	}
	for _, key := range keys {
		pts := byKey[key]
		for start := 0; start < len(pts); start += batch {
			var list []map[string]any
			for _, p := range pts[start:min(start+batch, len(pts))] {
				list = append(list, map[string]any{"id": p.ID, "vector": p.Vector, "payload": p.Payload})
			}
			body := map[string]any{"points": list}
			if key != "" {
				body["shard_key"] = key
			}
			if err := api.do(ctx, "PUT", "/collections/"+c.Name+"/points?wait=true", body, nil); err != nil {
				return fmt.Errorf("upsert points %d..%d of %q: %w", start, start+len(list)-1, c.Name, err)
			}
		}
	}
	return nil
}
