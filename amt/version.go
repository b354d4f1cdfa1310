package amt

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an AMT firmware version as CIM_SoftwareIdentity and the host
// interface report it ("16.1.27" is major 16, minor 1, build 27).
type Version struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
	Build int `json:"build,omitempty"`
}

// ParseVersion reads "16", "16.1" or "16.1.27". It refuses anything else with
// an error that names the value seen and the form wanted.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) == 0 || len(parts) > 3 || parts[0] == "" {
		return Version{}, fmt.Errorf("AMT version %q: want MAJOR, MAJOR.MINOR or MAJOR.MINOR.BUILD, for example 16 or 16.1", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 9999 || len(p) > 4 {
			return Version{}, fmt.Errorf("AMT version %q: part %q is not a number from 0 to 9999; want for example 16 or 16.1", s, p)
		}
		n[i] = v
	}
	return Version{Major: n[0], Minor: n[1], Build: n[2]}, nil
}

func (v Version) String() string {
	if v.Build != 0 {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Build)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// Less orders versions by major, minor, then build.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Build < w.Build
}

// AtLeast reports whether v is w or newer.
func (v Version) AtLeast(w Version) bool { return !v.Less(w) }
