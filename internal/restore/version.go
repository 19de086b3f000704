package restore

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Qdrant release number as GET / reports it ("1.19.0").
type Version struct{ Major, Minor, Patch int }

// ParseVersion reads "1.19.0", "v1.19" or "1.19.0-rc1" (the suffix is
// ignored: policy only looks at release numbers).
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("qdrant version %q: want MAJOR.MINOR[.PATCH]", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("qdrant version %q: part %q is not a number", s, p)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

// Compare returns -1, 0 or 1.
func (v Version) Compare(o Version) int {
	for _, d := range [3]int{v.Major - o.Major, v.Minor - o.Minor, v.Patch - o.Patch} {
		if d < 0 {
			return -1
		}
		if d > 0 {
			return 1
		}
	}
	return 0
}

// MinorsAhead is how many minor releases v is ahead of o, with a major
// release counting as a large gap.
func (v Version) MinorsAhead(o Version) int {
	if v.Major != o.Major {
		return (v.Major - o.Major) * 100
	}
	return v.Minor - o.Minor
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }
