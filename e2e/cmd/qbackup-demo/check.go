package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// record is a point as the REST scroll returns it.
type record struct {
	ID       json.RawMessage `json:"id"`
	Vector   json.RawMessage `json:"vector"`
	Payload  map[string]any  `json:"payload"`
	ShardKey any             `json:"shard_key"`
}

// checkResult counts what one content check saw.
type checkResult struct {
	Points      int
	Collections int
}

// checkContent reads every point of every collection back and compares
// ids, vectors, payloads and shard keys with what was loaded; then the
// collection configs (shard count, replication factor, vectors) and the
// things snapshots do not carry, which the restore must recreate: aliases,
// shard keys and payload indexes.
func checkContent(ctx context.Context, api *restClient, cols []*collection) (checkResult, error) {
	var res checkResult
	var problems []string
	for _, c := range cols {
		got, err := scrollAll(ctx, api, c.Name)
		if err != nil {
			return res, err
		}
		problems = append(problems, comparePoints(c, got)...)
		res.Points += len(got)
		res.Collections++
	}
	meta, err := checkMetadata(ctx, api, cols)
	if err != nil {
		return res, err
	}
	problems = append(problems, meta...)
	if len(problems) > 0 {
		const show = 10
		more := ""
		if len(problems) > show {
			more = fmt.Sprintf("\n  ... and %d more", len(problems)-show)
			problems = problems[:show]
		}
		return res, fmt.Errorf("content differs from what was loaded:\n  %s%s", strings.Join(problems, "\n  "), more)
	}
	return res, nil
}

func scrollAll(ctx context.Context, api *restClient, coll string) (map[string]record, error) {
	out := map[string]record{}
	var offset json.RawMessage
	for {
		body := map[string]any{"limit": 500, "with_payload": true, "with_vector": true}
		if offset != nil {
			body["offset"] = offset
		}
		var page struct {
			Points         []record        `json:"points"`
			NextPageOffset json.RawMessage `json:"next_page_offset"`
		}
		if err := api.do(ctx, "POST", "/collections/"+coll+"/points/scroll", body, &page); err != nil {
			return nil, fmt.Errorf("read back %q: %w", coll, err)
		}
		for _, r := range page.Points {
			out[idKey(r.ID)] = r
		}
		if len(page.NextPageOffset) == 0 || string(page.NextPageOffset) == "null" {
			return out, nil
		}
		offset = page.NextPageOffset
	}
}

// idKey is a point id as text: the number, or the UUID without quotes.
func idKey(raw json.RawMessage) string { return strings.Trim(string(raw), `"`) }

func comparePoints(c *collection, got map[string]record) []string {
	var problems []string
	want := map[string]bool{}
	for _, p := range c.Points {
		key := fmt.Sprint(p.ID)
		want[key] = true
		r, ok := got[key]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: point %s missing", c.Name, key))
			continue
		}
		if err := sameVector(p.Vector, r.Vector); err != nil {
			problems = append(problems, fmt.Sprintf("%s: point %s: vector %v", c.Name, key, err))
		}
		if !reflect.DeepEqual(jsonValue(p.Payload), jsonValue(r.Payload)) {
			problems = append(problems, fmt.Sprintf("%s: point %s: payload %v, want %v", c.Name, key, r.Payload, p.Payload))
		}
		if p.ShardKey != "" && r.ShardKey != p.ShardKey {
			problems = append(problems, fmt.Sprintf("%s: point %s: shard key %v, want %q", c.Name, key, r.ShardKey, p.ShardKey))
		}
	}
	for key := range got {
		if !want[key] {
			problems = append(problems, fmt.Sprintf("%s: unexpected point %s", c.Name, key))
		}
	}
	return problems
}

// sameVector compares a loaded vector with the one read back. Qdrant keeps
// float32 values, so both sides are compared as float32, exactly.
func sameVector(want any, raw json.RawMessage) error {
	switch w := want.(type) {
	case []float32:
		var got []float64
		if err := json.Unmarshal(raw, &got); err != nil {
			return fmt.Errorf("not a dense vector: %.80s", raw)
		}
		return sameFloats(w, got)
	case map[string][]float32:
		var got map[string][]float64
		if err := json.Unmarshal(raw, &got); err != nil {
			return fmt.Errorf("not named vectors: %.80s", raw)
		}
		if len(got) != len(w) {
			return fmt.Errorf("names %v, want %d names", slices.Sorted(maps.Keys(got)), len(w))
		}
		for name, v := range w {
			if err := sameFloats(v, got[name]); err != nil {
				return fmt.Errorf("%q: %w", name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected loaded vector type %T", want)
}

func sameFloats(want []float32, got []float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("dimension %d, want %d", len(got), len(want))
	}
	for i := range want {
		if float32(got[i]) != want[i] {
			return fmt.Errorf("element %d is %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// jsonValue is v as it looks after a JSON round trip (numbers as float64),
// so that a loaded payload compares with a decoded one.
func jsonValue(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return err.Error()
	}
	return out
}

// checkMetadata checks aliases, shard keys and payload indexes.
func checkMetadata(ctx context.Context, api *restClient, cols []*collection) ([]string, error) {
	var problems []string
	var aliases struct {
		Aliases []struct {
			AliasName      string `json:"alias_name"`
			CollectionName string `json:"collection_name"`
		} `json:"aliases"`
	}
	if err := api.do(ctx, "GET", "/aliases", nil, &aliases); err != nil {
		return nil, fmt.Errorf("read aliases: %w", err)
	}
	live := map[string]string{}
	for _, a := range aliases.Aliases {
		live[a.AliasName] = a.CollectionName
	}
	for _, c := range cols {
		for _, a := range c.Aliases {
			if live[a] != c.Name {
				problems = append(problems, fmt.Sprintf("alias %q points at %q, want %q", a, live[a], c.Name))
			}
		}
		if len(c.ShardKeys) > 0 {
			var keys struct {
				ShardKeys []struct {
					Key any `json:"key"`
				} `json:"shard_keys"`
			}
			if err := api.do(ctx, "GET", "/collections/"+c.Name+"/shards", nil, &keys); err != nil {
				return nil, fmt.Errorf("read shard keys of %q: %w", c.Name, err)
			}
			var got []string
			for _, k := range keys.ShardKeys {
				got = append(got, fmt.Sprint(k.Key))
			}
			slices.Sort(got)
			if !slices.Equal(got, c.ShardKeys) {
				problems = append(problems, fmt.Sprintf("%s: shard keys %v, want %v", c.Name, got, c.ShardKeys))
			}
		}
		var info struct {
			Config struct {
				Params map[string]any `json:"params"`
			} `json:"config"`
			PayloadSchema map[string]json.RawMessage `json:"payload_schema"`
		}
		if err := api.do(ctx, "GET", "/collections/"+c.Name, nil, &info); err != nil {
			return nil, fmt.Errorf("read collection %q: %w", c.Name, err)
		}
		for _, idx := range c.Indexes {
			if _, ok := info.PayloadSchema[fmt.Sprint(idx["field_name"])]; !ok {
				problems = append(problems, fmt.Sprintf("%s: payload index on %q missing", c.Name, idx["field_name"]))
			}
		}
		for key, want := range c.Create {
			if got := info.Config.Params[key]; !contains(jsonValue(got), jsonValue(want)) {
				problems = append(problems, fmt.Sprintf("%s: config %s is %v, created with %v", c.Name, key, got, want))
			}
		}
	}
	return problems, nil
}

// contains reports whether got holds everything in want: equal values, or
// objects whose fields contain want's (Qdrant adds defaults to configs).
func contains(got, want any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(got, want)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range w {
		if !contains(g[k], v) {
			return false
		}
	}
	return true
}
