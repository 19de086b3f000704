package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// asRead turns loaded points into what a scroll returns for them.
func asRead(t *testing.T, c *collection) map[string]record {
	t.Helper()
	out := map[string]record{}
	for _, p := range c.Points {
		id, _ := json.Marshal(p.ID)
		vec, _ := json.Marshal(p.Vector)
		var payload map[string]any
		raw, _ := json.Marshal(p.Payload)
		if err := json.Unmarshal(raw, &payload); err != nil {
			t.Fatal(err)
		}
		r := record{ID: id, Vector: vec, Payload: payload}
		if p.ShardKey != "" {
			r.ShardKey = p.ShardKey
		}
		out[fmt.Sprint(p.ID)] = r
	}
	return out
}

func TestContentCheckFindsEveryKindOfDifference(t *testing.T) {
	for _, c := range dataset(1) {
		if problems := comparePoints(c, asRead(t, c)); len(problems) > 0 {
			t.Fatalf("%s read back as loaded, yet: %v", c.Name, problems)
		}
	}
	cols := dataset(1)
	articles, products, tenants := cols[0], cols[1], cols[2]
	for _, tc := range []struct {
		name   string
		c      *collection
		change func(map[string]record)
		want   string
	}{
		{"a missing point", products, func(m map[string]record) { delete(m, fmt.Sprint(products.Points[7].ID)) }, "missing"},
		{"an extra point", products, func(m map[string]record) { m["42"] = record{ID: json.RawMessage("42")} }, "unexpected point 42"},
		{"one vector element off", products, func(m map[string]record) {
			key := fmt.Sprint(products.Points[3].ID)
			r := m[key]
			var v []float64
			json.Unmarshal(r.Vector, &v)
			v[5] += 1e-6
			r.Vector, _ = json.Marshal(v)
			m[key] = r
		}, "vector element 5"},
		{"a named vector missing", articles, func(m map[string]record) {
			r := m["10"]
			r.Vector = json.RawMessage(`{"title":[0,0,0,0,0,0,0,0]}`)
			m["10"] = r
		}, "vector names"},
		{"a payload field changed", articles, func(m map[string]record) {
			r := m["11"]
			r.Payload["views"] = -1.0
			m["11"] = r
		}, "point 11: payload"},
		{"a point under the wrong shard key", tenants, func(m map[string]record) {
			r := m["100000"]
			r.ShardKey = "globex"
			m["100000"] = r
		}, "shard key globex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := asRead(t, tc.c)
			tc.change(got)
			problems := comparePoints(tc.c, got)
			if len(problems) != 1 || !strings.Contains(problems[0], tc.want) {
				t.Fatalf("want one problem about %q, got %q", tc.want, problems)
			}
		})
	}
}

func TestConfigCheckToleratesAddedDefaults(t *testing.T) {
	want := jsonValue(map[string]any{"title": map[string]any{"size": 8, "distance": "Dot"}})
	got := jsonValue(map[string]any{"title": map[string]any{"size": 8, "distance": "Dot", "on_disk": false}})
	if !contains(got, want) {
		t.Fatal("an added default field made the configs differ")
	}
	if contains(jsonValue(map[string]any{"title": map[string]any{"size": 16, "distance": "Dot"}}), want) {
		t.Fatal("a different vector size went unnoticed")
	}
}
