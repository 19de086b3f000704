package restore

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// Rename maps backup collection names to target names, so a restore can
// land beside the live data (for drills). Either a suffix appended to every
// restored name, or explicit old=new pairs; pairs win over the suffix.
type Rename struct {
	Suffix string            `json:"suffix,omitempty"`
	Map    map[string]string `json:"map,omitempty"`
}

// ParseRename reads --rename values: "SUFFIX" or "old=new", repeatable.
// At most one suffix may be given.
func ParseRename(values []string) (Rename, error) {
	var r Rename
	for _, v := range values {
		old, nw, isPair := strings.Cut(v, "=")
		switch {
		case !isPair && v == "":
			return Rename{}, fmt.Errorf("--rename: empty value: %w", ErrInvalidOptions)
		case !isPair:
			if r.Suffix != "" {
				return Rename{}, fmt.Errorf("--rename: two suffixes %q and %q: %w", r.Suffix, v, ErrInvalidOptions)
			}
			// A suffix is part of every target name: refuse the characters
			// Qdrant refuses now; the length is checked per name when
			// planning.
			if err := qdrant.CheckCollectionName("x" + v); err != nil {
				return Rename{}, fmt.Errorf("--rename suffix %q: %v: %w", v, err, ErrInvalidOptions)
			}
			r.Suffix = v
		case old == "" || nw == "":
			return Rename{}, fmt.Errorf("--rename %q: want old=new with both names: %w", v, ErrInvalidOptions)
		default:
			if r.Map == nil {
				r.Map = map[string]string{}
			}
			if err := qdrant.CheckCollectionName(nw); err != nil {
				return Rename{}, fmt.Errorf("--rename %.60q: %v: %w", v, err, ErrInvalidOptions)
			}
			if prev, dup := r.Map[old]; dup && prev != nw {
				return Rename{}, fmt.Errorf("--rename: %q renamed twice: %w", old, ErrInvalidOptions)
			}
			r.Map[old] = nw
		}
	}
	return r, nil
}

// Active reports whether any renaming was asked for.
func (r Rename) Active() bool { return r.Suffix != "" || len(r.Map) > 0 }

// Target returns the name a backup collection is restored under.
func (r Rename) Target(name string) string {
	if n, ok := r.Map[name]; ok {
		return n
	}
	return name + r.Suffix
}

// sources lists the explicitly renamed names, sorted.
func (r Rename) sources() []string { return slices.Sorted(maps.Keys(r.Map)) }

// String is r as --rename values would give it: the suffix, then the
// pairs in order of their old name; "none" for no renaming.
func (r Rename) String() string {
	var parts []string
	if r.Suffix != "" {
		parts = append(parts, r.Suffix)
	}
	for _, old := range slices.Sorted(maps.Keys(r.Map)) {
		parts = append(parts, old+"="+r.Map[old])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}
