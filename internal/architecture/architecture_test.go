package architecture

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/qbackup/qbackup/"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath   string
	Deps         []string // transitive, without tests
	TestImports  []string
	XTestImports []string
}

func (p pkg) rel() string { return strings.TrimPrefix(p.ImportPath, module) }

// listPackages runs go list over the whole module.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-tags", "integration", "-json=ImportPath,Deps,TestImports,XTestImports", "../../...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages: not the whole module", len(pkgs))
	}
	return pkgs
}

func under(path string, prefixes ...string) bool {
	rel := strings.TrimPrefix(path, module)
	if rel == path {
		return false
	}
	for _, p := range prefixes {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

// rule forbids packages under from to depend on packages under to (or on
// the import paths in external), counting test imports when tests is set.
type rule struct {
	why      string
	from     []string
	to       []string
	external []string
	tests    bool
}

// maintenance are the packages that look after the sets in storage.
var maintenance = []string{"internal/prune", "internal/verify", "internal/catalogsync"}

var rules = []rule{
	{why: "product code never depends on the test harness (simulator, stack, node agent)",
		from: []string{"cmd", "internal", "manifests", "plugin"}, to: []string{"e2e"}},
	{why: "the simulator models Qdrant from Qdrant's source, never from the product: a misreading must not hide in both",
		from: []string{"e2e/qdrantsim", "e2e/cmd/qdrant-sim"}, to: []string{"internal", "cmd"}, tests: true},
	{why: "storage moves bytes and knows nothing of Qdrant",
		from: []string{"internal/storage"}, to: []string{"internal/qdrant", "internal/manifest", "internal/backup", "internal/restore"},
		external: []string{"github.com/qdrant/go-client"}},
	{why: "the manifest is a format and knows nothing of where it is stored",
		from: []string{"internal/manifest"}, to: []string{"internal/storage", "internal/catalog"}},
	{why: "the Qdrant client speaks Qdrant; the engines map its types to the manifest's",
		from: []string{"internal/qdrant"}, to: []string{"internal/manifest"}, tests: true},
	{why: "engines never reach up into the command wiring",
		from: []string{"internal"}, to: []string{"cmd"}},
	{why: "backup and restore are separate engines",
		from: []string{"internal/backup"}, to: []string{"internal/restore"}},
	{why: "maintenance (prune, verify, catalog sync) works on storage and the catalog: it never drives the engines or Qdrant",
		from: maintenance, to: []string{"internal/backup", "internal/restore", "internal/rebalance", "internal/qdrant", "internal/discovery", "internal/kube"}},
	{why: "the inventory only tells which backups exist: the engines and maintenance read it, it reads neither",
		from: []string{"internal/inventory"}, to: append([]string{"internal/backup", "internal/restore", "internal/rebalance", "internal/qdrant"}, maintenance...)},
	{why: "the backup engine takes sets; maintaining them is another job",
		from: []string{"internal/backup"}, to: maintenance},
	{why: "maintenance jobs are separate: each is run on its own",
		from: []string{"internal/verify"}, to: []string{"internal/prune", "internal/catalogsync"}},
	{why: "maintenance jobs are separate: each is run on its own",
		from: []string{"internal/catalogsync"}, to: []string{"internal/prune", "internal/verify"}},
	{why: "maintenance jobs are separate: each is run on its own",
		from: []string{"internal/prune"}, to: []string{"internal/verify", "internal/catalogsync"}},
	{why: "backup and restore are separate engines",
		from: []string{"internal/restore"}, to: []string{"internal/backup"}},
}

func TestPackageBoundaries(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range rules {
		checked := 0
		for _, p := range pkgs {
			if !under(p.ImportPath, r.from...) {
				continue
			}
			checked++
			deps := p.Deps
			if r.tests {
				deps = append(append(append([]string{}, deps...), p.TestImports...), p.XTestImports...)
			}
			for _, d := range deps {
				bad := under(d, r.to...)
				for _, e := range r.external {
					bad = bad || d == e || strings.HasPrefix(d, e+"/")
				}
				if bad {
					t.Errorf("%s depends on %s: %s", p.rel(), strings.TrimPrefix(d, module), r.why)
				}
			}
		}
		if checked == 0 {
			t.Errorf("rule %q matched no package: the package tree changed, update the rule", r.why)
		}
	}
}

// testHelpers are packages made for tests alone: they import "testing"
// (golden files, fixtures, keys), which product code must not carry.
var testHelpers = []string{"internal/golden", "internal/crypt/crypttest", "internal/storage/storagetest", "internal/inventory/inventorytest", "internal/metrics/metricstest"}

func TestProductCodeNeverImportsTestHelpers(t *testing.T) {
	pkgs := listPackages(t)
	seen := 0
	for _, p := range pkgs {
		if under(p.ImportPath, testHelpers...) {
			seen++
			continue
		}
		if !under(p.ImportPath, "cmd", "internal", "manifests", "plugin", "kustomize") {
			continue
		}
		for _, d := range p.Deps {
			if under(d, testHelpers...) {
				t.Errorf("%s depends on %s, a package for tests alone", p.rel(), strings.TrimPrefix(d, module))
			}
		}
	}
	if seen != len(testHelpers) {
		t.Errorf("found %d of the %d test helper packages %v: the package tree changed, update the list", seen, len(testHelpers), testHelpers)
	}
}

// pureFiles are files that decide from the facts they are given: they
// import the standard library and the listed packages only, so they can
// be pinned by golden tests without storage or a catalog.
var pureFiles = []struct {
	why     string
	file    string
	allowed []string
}{
	{why: "the prune plan decides from the facts it is given; run.go gathers them and carries the plan out",
		file: "internal/prune/plan.go", allowed: []string{"internal/manifest", "internal/retention"}},
}

func TestPureFiles(t *testing.T) {
	for _, pf := range pureFiles {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", pf.file), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("%s: %v (the package tree changed, update the rule)", pf.file, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
				continue // the standard library
			}
			if !under(path, pf.allowed...) {
				t.Errorf("%s imports %s: %s", pf.file, path, pf.why)
			}
		}
	}
}
