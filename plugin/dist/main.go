// Command dist builds the release archives of the kubectl plugin and its
// krew manifest: one reproducible kubectl-qbackup_<os>_<arch>.tar.gz per
// platform (the binary, LICENSE and the kubectl_complete-qbackup helper
// kubectl runs to complete `kubectl qbackup <TAB>`), and qbackup.yaml — the manifest
// template plugin/qbackup.yaml with the version, each archive's URL and its
// SHA-256 filled in. `make dist` runs it; krew installs from the result.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// platform is one os/arch the plugin is built for.
type platform struct{ OS, Arch string }

func (p platform) archive() string { return fmt.Sprintf("kubectl-qbackup_%s_%s.tar.gz", p.OS, p.Arch) }

// allPlatforms are the platforms the manifest lists.
var allPlatforms = []platform{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}

type options struct {
	// Root is the repository root (the module to build, LICENSE, the
	// manifest template).
	Root string
	// Out receives the archives and qbackup.yaml.
	Out string
	// Version is the release, e.g. v0.1.0.
	Version string
	// URLBase is where the release's archives are downloaded from.
	URLBase string
	// Platforms to build; the manifest lists only these.
	Platforms []platform
}

// epoch is the modification time of every archive entry: an archive
// depends on its contents only, so a rebuild gives the same SHA-256.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	var o options
	flag.StringVar(&o.Root, "root", ".", "repository root")
	flag.StringVar(&o.Out, "out", "dist", "output directory")
	flag.StringVar(&o.Version, "version", "v0.1.0", "release version (vMAJOR.MINOR.PATCH)")
	flag.StringVar(&o.URLBase, "url", "https://github.com/qbackup/qbackup/releases/download", "base URL of the release downloads; the version is appended")
	only := flag.String("platforms", "", "comma-separated os/arch list (default: all of the manifest)")
	flag.Parse()
	o.Platforms = allPlatforms
	if *only != "" {
		o.Platforms = nil
		for _, p := range strings.Split(*only, ",") {
			osName, arch, ok := strings.Cut(p, "/")
			if !ok {
				fmt.Fprintf(os.Stderr, "dist: -platforms %q: want os/arch, e.g. linux/amd64\n", p)
				os.Exit(2)
			}
			o.Platforms = append(o.Platforms, platform{osName, arch})
		}
	}
	if err := dist(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

var semver = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

func dist(ctx context.Context, o options) error {
	if !semver.MatchString(o.Version) {
		return fmt.Errorf("version %q: krew wants a semantic version with a v, e.g. v0.1.0", o.Version)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	license, err := os.ReadFile(filepath.Join(o.Root, "LICENSE"))
	if err != nil {
		return fmt.Errorf("read LICENSE: %w", err)
	}
	helper, err := os.ReadFile(filepath.Join(o.Root, "plugin", completionHelper))
	if err != nil {
		return fmt.Errorf("read the completion helper: %w", err)
	}
	var platforms []manifestPlatform
	for _, p := range o.Platforms {
		bin, err := build(ctx, o, p)
		if err != nil {
			return err
		}
		sum, err := writeArchive(filepath.Join(o.Out, p.archive()), bin, license, helper)
		if err != nil {
			return fmt.Errorf("archive %s: %w", p.archive(), err)
		}
		fmt.Printf("%s  %s (%d bytes binary)\n", sum, p.archive(), len(bin))
		platforms = append(platforms, manifestPlatform{p, strings.TrimRight(o.URLBase, "/") + "/" + o.Version + "/" + p.archive(), sum})
	}
	tmpl, err := os.ReadFile(filepath.Join(o.Root, "plugin", "qbackup.yaml"))
	if err != nil {
		return fmt.Errorf("read the manifest template: %w", err)
	}
	m, err := fillManifest(tmpl, o.Version, platforms)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, "qbackup.yaml"), m, 0o644)
}

// build cross-compiles the plugin for p and returns the binary.
func build(ctx context.Context, o options, p platform) ([]byte, error) {
	out := filepath.Join(o.Out, fmt.Sprintf(".kubectl-qbackup_%s_%s", p.OS, p.Arch))
	defer os.Remove(out)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+o.Version, "-o", out, "./cmd/kubectl-qbackup")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build for %s/%s: %w\n%s", p.OS, p.Arch, err, b)
	}
	return os.ReadFile(out)
}

// completionHelper is the script kubectl runs (from PATH) to complete
// the plugin's arguments; krew installs it beside the binary.
const completionHelper = "kubectl_complete-qbackup"

// writeArchive writes a reproducible tar.gz of the binary, the licence
// and the completion helper and returns its SHA-256.
func writeArchive(path string, bin, license, helper []byte) (string, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"kubectl-qbackup", 0o755, bin}, {"LICENSE", 0o644, license}, {completionHelper, 0o755, helper}} {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}
