package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestDistBuildsAKrewRelease builds the host platform's release as `make
// dist` does and checks it the way krew would install it: the manifest
// passes krew's rules, its sha256 is the archive's, the archive holds the
// binary and the licence, the binary runs, and a rebuild is byte for byte
// the same archive.
func TestDistBuildsAKrewRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	host := platform{runtime.GOOS, runtime.GOARCH}
	build := func() (krewPlugin, string) {
		out := t.TempDir()
		o := options{Root: "../..", Out: out, Version: "v0.0.0-test", URLBase: "https://example.invalid/releases", Platforms: []platform{host}}
		if err := dist(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, "qbackup.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var m krewPlugin
		if err := yaml.UnmarshalStrict(b, &m); err != nil {
			t.Fatalf("dist/qbackup.yaml: %v", err)
		}
		return m, filepath.Join(out, host.archive())
	}
	m, archive := build()
	if err := validateManifest(m); err != nil {
		t.Fatalf("krew would refuse the manifest: %v", err)
	}
	if len(m.Spec.Platforms) != 1 || m.Spec.Version != "v0.0.0-test" ||
		m.Spec.Platforms[0].URI != "https://example.invalid/releases/v0.0.0-test/"+host.archive() {
		t.Fatalf("manifest %+v", m.Spec)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != m.Spec.Platforms[0].Sha256 {
		t.Fatalf("manifest sha256 %s, archive %s", m.Spec.Platforms[0].Sha256, got)
	}
	files := untar(t, data)
	license, err := os.ReadFile("../../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["LICENSE"], license) || len(files) != 3 {
		t.Fatalf("archive holds %d files; LICENSE equal: %v", len(files), bytes.Equal(files["LICENSE"], license))
	}
	// The completion helper calls the binary's __complete.
	if helper := string(files[completionHelper]); !strings.Contains(helper, "kubectl-qbackup __complete \"$@\"") {
		t.Fatalf("archived %s:\n%s", completionHelper, helper)
	}
	bin := filepath.Join(t.TempDir(), "kubectl-qbackup")
	if err := os.WriteFile(bin, files["kubectl-qbackup"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version", "--client").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kubectl-qbackup v0.0.0-test") {
		t.Fatalf("the archived binary: %v\n%s", err, out)
	}

	_, again := build()
	data2, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, data2) {
		t.Error("two builds of the same release differ: the archive is not reproducible")
	}
}

func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

func TestValidateManifestAppliesKrewsRules(t *testing.T) {
	tmpl, err := os.ReadFile("../qbackup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := func() krewPlugin {
		var p krewPlugin
		if err := yaml.UnmarshalStrict(tmpl, &p); err != nil {
			t.Fatal(err)
		}
		for i := range p.Spec.Platforms {
			p.Spec.Platforms[i].Sha256 = strings.Repeat("ab", 32)
		}
		return p
	}
	if err := validateManifest(good()); err != nil {
		t.Fatalf("the template with sums filled in: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*krewPlugin)
		want string
	}{
		{"the template's empty sha256", func(p *krewPlugin) { p.Spec.Platforms[0].Sha256 = "" }, "sha256"},
		{"an uppercase sha256", func(p *krewPlugin) { p.Spec.Platforms[1].Sha256 = strings.Repeat("AB", 32) }, "sha256"},
		{"no licence installed", func(p *krewPlugin) { p.Spec.Platforms[2].Files = p.Spec.Platforms[2].Files[:1] }, "LICENSE"},
		{"a version without v", func(p *krewPlugin) { p.Spec.Version = "0.1.0" }, "semantic version"},
		{"a two-line short description", func(p *krewPlugin) { p.Spec.ShortDescription = "a\nb" }, "short description"},
		{"a selector on another key", func(p *krewPlugin) { p.Spec.Platforms[0].Selector.MatchLabels["distro"] = "debian" }, "distro"},
		{"a name with a dot", func(p *krewPlugin) { p.Metadata.Name = "q.backup" }, "plugin name"},
		{"another apiVersion", func(p *krewPlugin) { p.APIVersion = "krew.googlecontainertools.github.com/v1alpha1" }, "apiVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good()
			tc.edit(&p)
			if err := validateManifest(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want it to name %q", err, tc.want)
			}
		})
	}
}
