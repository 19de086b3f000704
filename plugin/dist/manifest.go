package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// The krew manifest types (krew.googlecontainertools.github.com/v1alpha2),
// only the fields the plugin's manifest uses.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string         `json:"version"`
		Homepage         string         `json:"homepage,omitempty"`
		ShortDescription string         `json:"shortDescription"`
		Description      string         `json:"description,omitempty"`
		Platforms        []krewPlatform `json:"platforms"`
	} `json:"spec"`
}

type krewPlatform struct {
	Selector *struct {
		MatchLabels map[string]string `json:"matchLabels,omitempty"`
	} `json:"selector"`
	URI    string     `json:"uri"`
	Sha256 string     `json:"sha256"`
	Bin    string     `json:"bin"`
	Files  []krewFile `json:"files,omitempty"`
}

type krewFile struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// manifestPlatform is one built archive: where it will be downloaded
// from and its SHA-256.
type manifestPlatform struct {
	platform
	URI    string
	Sha256 string
}

// fillManifest returns the template with the release's version and, for
// each built platform, its archive's URL and SHA-256; platforms not built
// are dropped, so the manifest never points at an archive that does not
// exist. The result passes validateManifest.
func fillManifest(tmpl []byte, version string, built []manifestPlatform) ([]byte, error) {
	var p krewPlugin
	if err := yaml.UnmarshalStrict(tmpl, &p); err != nil {
		return nil, fmt.Errorf("parse the manifest template: %w", err)
	}
	p.Spec.Version = version
	var out []krewPlatform
	for _, pl := range p.Spec.Platforms {
		if pl.Selector == nil {
			continue
		}
		for _, b := range built {
			if pl.Selector.MatchLabels["os"] == b.OS && pl.Selector.MatchLabels["arch"] == b.Arch {
				pl.URI, pl.Sha256 = b.URI, b.Sha256
				out = append(out, pl)
			}
		}
	}
	p.Spec.Platforms = out
	if err := validateManifest(p); err != nil {
		return nil, fmt.Errorf("the filled manifest: %w", err)
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Written by `make dist` from plugin/qbackup.yaml; do not edit.\n"), b...), nil
}

var (
	// The rules krew applies before it installs a plugin
	// (sigs.k8s.io/krew internal/index/validation/validate.go).
	safePluginName = regexp.MustCompile(`^[\w-]+$`)
	validSHA256    = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// validateManifest checks a manifest as krew does, plus the krew index's
// rule that a plugin installs its licence.
func validateManifest(p krewPlugin) error {
	switch {
	case p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2":
		return fmt.Errorf("apiVersion %q is not krew's v1alpha2", p.APIVersion)
	case p.Kind != "Plugin":
		return fmt.Errorf("kind %q, want Plugin", p.Kind)
	case !safePluginName.MatchString(p.Metadata.Name):
		return fmt.Errorf("plugin name %q must match %s", p.Metadata.Name, safePluginName)
	case p.Spec.ShortDescription == "" || strings.ContainsAny(p.Spec.ShortDescription, "\r\n"):
		return errors.New("the short description must be one non-empty line")
	case !semver.MatchString(p.Spec.Version):
		return fmt.Errorf("version %q is not a semantic version with a v", p.Spec.Version)
	case len(p.Spec.Platforms) == 0:
		return errors.New("no platform")
	}
	for _, pl := range p.Spec.Platforms {
		if err := validatePlatform(pl); err != nil {
			return fmt.Errorf("platform %v: %w", pl.Selector, err)
		}
	}
	return nil
}

func validatePlatform(pl krewPlatform) error {
	switch {
	case pl.URI == "":
		return errors.New("uri not set")
	case !validSHA256.MatchString(pl.Sha256):
		return fmt.Errorf("sha256 %q must be 64 lowercase hex digits", pl.Sha256)
	case pl.Bin == "":
		return errors.New("bin not set")
	case pl.Selector == nil || len(pl.Selector.MatchLabels) == 0:
		return errors.New("empty selector")
	}
	for k := range pl.Selector.MatchLabels {
		if k != "os" && k != "arch" {
			return fmt.Errorf("selector key %q is not os or arch", k)
		}
	}
	license := false
	for _, f := range pl.Files {
		if f.From == "" || f.To == "" {
			return errors.New("a file without from or to")
		}
		license = license || f.From == "LICENSE"
	}
	if !license {
		return errors.New("the LICENSE is not installed (files has no from: LICENSE)")
	}
	return nil
}
