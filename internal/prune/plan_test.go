package prune

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/golden"
)

// render prints a plan one set a line, in plan order, for golden files.
func render(p Plan) string {
	var b strings.Builder
	for _, it := range p.Items {
		fmt.Fprintf(&b, "%-6s %s/%s status=%s objects=%d bytes=%d", it.Action, it.Cluster, it.BackupID, it.Status, it.Objects, it.Bytes)
		if it.Stored {
			b.WriteString(" stored")
		}
		if it.InCatalog {
			b.WriteString(" in-catalog")
		}
		if it.Orphaned {
			b.WriteString(" orphaned")
		}
		if it.Lock != nil {
			fmt.Fprintf(&b, " lock=%s", it.Lock.Mode)
		}
		fmt.Fprintf(&b, "\n       reasons: %s\n", strings.Join(it.Reasons, "; "))
	}
	return b.String()
}

// TestDecideGolden decides every testdata/<case>.json input and compares
// the rendered plan with testdata/<case>.golden (go test -update rewrites
// them; review the diff).
func TestDecideGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no inputs in testdata/")
	}
	for _, path := range inputs {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			in := readInput(t, path)
			got := render(Decide(in))
			golden.CheckString(t, strings.TrimSuffix(path, ".json")+".golden", got)
		})
	}
}

// caseFile is one testdata input: an Input with the grace written as a
// Go duration ("6h", "-1ns") and a note saying what the case pins.
type caseFile struct {
	Note string `json:"note"`
	Input
	OrphanGrace string `json:"orphan_grace"`
}

func readInput(t *testing.T, path string) Input {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c caseFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if c.Note == "" {
		t.Fatalf("%s: no note saying what the case pins", path)
	}
	if c.Input.OrphanGrace, err = time.ParseDuration(c.OrphanGrace); err != nil {
		t.Fatalf("%s: orphan_grace: %v", path, err)
	}
	return c.Input
}

// TestDecideIsPure: deciding twice on the same input gives the same plan
// and leaves the input as it was.
func TestDecideIsPure(t *testing.T) {
	in := readInput(t, "testdata/catalog-rows.json")
	before, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	first, second := render(Decide(in)), render(Decide(in))
	if first != second {
		t.Errorf("two decisions differ:\n%s\n%s", first, second)
	}
	after, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("Decide changed its input:\n%s\n%s", before, after)
	}
}

// TestDecideListsEachSetOnce: over every testdata input, each set the
// input names appears in the plan exactly once.
func TestDecideListsEachSetOnce(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range inputs {
		in := readInput(t, path)
		want := map[string]bool{}
		for _, s := range in.Stored {
			want[s.Cluster+"/"+s.BackupID] = true
		}
		for _, r := range in.Catalog {
			want[r.Cluster+"/"+r.BackupID] = true
		}
		seen := map[string]int{}
		for _, it := range Decide(in).Items {
			seen[it.Cluster+"/"+it.BackupID]++
		}
		for k := range want {
			if seen[k] != 1 {
				t.Errorf("%s: set %s listed %d times, want once", path, k, seen[k])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("%s: plan lists %d sets, input names %d", path, len(seen), len(want))
		}
	}
}
