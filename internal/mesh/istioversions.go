package mesh

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IstioSupportSource is where the support matrix below comes from.
const IstioSupportSource = "https://istio.io/latest/docs/releases/supported-releases/"

// IstioSupportAsOf is when the matrix was last brought up to date.
const IstioSupportAsOf = "2026-10"

// IstioRelease is one Istio minor release as the supported-releases page lists it.
type IstioRelease struct {
	Minor    string // "1.30"
	Released string // YYYY-MM-DD of the x.y.0 release
	// EOL is the end of support (YYYY-MM-DD), "" while it is not known.
	// Where the page gives no date, it is derived from the support policy:
	// a minor is supported until 6 weeks after the N+2 minor is released.
	EOL        string
	EOLDerived bool
	// Kubernetes lists the Kubernetes minors Istio supports for this release.
	Kubernetes []string
}

// IstioSupportMatrix lists Istio minors, newest first, with the Kubernetes
// minors each supports, as the supported-releases table (istio.io's
// data/compatibility/supportStatus.yml) gave them in October 2026; where
// it was not at hand, the x.y.0 announcement's "officially supported on
// Kubernetes versions" note, which matches the table for those releases.
// The table is edited after a release (Kubernetes versions get added), so
// it wins over announcements. EOL dates are published ones, or derived
// from the policy (EOLDerived). Keep it sorted newest first; add a row
// when a minor ships.
var IstioSupportMatrix = []IstioRelease{
	{Minor: "1.31", Released: "2026-08-31", Kubernetes: k8sRange(32, 37)},
	{Minor: "1.30", Released: "2026-05-18", Kubernetes: k8sRange(32, 36)},
	{Minor: "1.29", Released: "2026-02-16", EOL: "2026-10-12", Kubernetes: k8sRange(31, 35)},
	{Minor: "1.28", Released: "2025-11-05", EOL: "2026-07-01", Kubernetes: k8sRange(30, 34)},
	{Minor: "1.27", Released: "2025-08-11", EOL: "2026-03-30", EOLDerived: true, Kubernetes: k8sRange(29, 33)},
	{Minor: "1.26", Released: "2025-05-08", EOL: "2025-12-17", EOLDerived: true, Kubernetes: k8sRange(29, 33)},
	{Minor: "1.25", Released: "2025-03-03", EOL: "2025-09-22", EOLDerived: true, Kubernetes: k8sRange(29, 32)},
	{Minor: "1.24", Released: "2024-11-07", EOL: "2025-06-24", Kubernetes: k8sRange(28, 31)},
	{Minor: "1.23", Released: "2024-08-14", EOL: "2025-04-16", Kubernetes: k8sRange(27, 30)},
	{Minor: "1.22", Released: "2024-05-13", EOL: "2024-12-19", EOLDerived: true, Kubernetes: k8sRange(27, 30)},
}

func k8sRange(from, to int) []string {
	var out []string
	for m := from; m <= to; m++ {
		out = append(out, "1."+strconv.Itoa(m))
	}
	return out
}

// IstioReleaseFor returns the matrix entry of a minor ("1.30").
func IstioReleaseFor(minor string) (IstioRelease, bool) {
	for _, r := range IstioSupportMatrix {
		if r.Minor == minor {
			return r, true
		}
	}
	return IstioRelease{}, false
}

// NewestIstio and OldestIstio are the matrix's bounds.
func NewestIstio() IstioRelease { return IstioSupportMatrix[0] }
func OldestIstio() IstioRelease { return IstioSupportMatrix[len(IstioSupportMatrix)-1] }

// SupportsKubernetes reports whether the release supports a Kubernetes minor ("1.33").
func (r IstioRelease) SupportsKubernetes(minor string) bool {
	for _, k := range r.Kubernetes {
		if k == minor {
			return true
		}
	}
	return false
}

// KubernetesRange renders the supported Kubernetes minors ("1.32-1.36").
func (r IstioRelease) KubernetesRange() string {
	if len(r.Kubernetes) == 0 {
		return "none listed"
	}
	return r.Kubernetes[0] + "-" + r.Kubernetes[len(r.Kubernetes)-1]
}

// EndOfLife returns the end-of-support date, if known.
func (r IstioRelease) EndOfLife() (time.Time, bool) {
	if r.EOL == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, r.EOL)
	return t, err == nil
}

// IstioVersion is a parsed Istio (or Kubernetes) version.
type IstioVersion struct {
	Major, Minor, Patch int
	HasPatch            bool
	Raw                 string
}

// MinorString is "1.30".
func (v IstioVersion) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

func (v IstioVersion) String() string {
	if v.HasPatch {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	}
	return v.MinorString()
}

// CompareMinor compares major.minor only: -1, 0, 1.
func (v IstioVersion) CompareMinor(o IstioVersion) int {
	switch {
	case v.Major != o.Major:
		return sign(v.Major - o.Major)
	default:
		return sign(v.Minor - o.Minor)
	}
}

// MinorsBehind is how many minors v is behind o (negative when ahead); same major assumed.
func (v IstioVersion) MinorsBehind(o IstioVersion) int {
	if v.Major != o.Major {
		return (o.Major - v.Major) * 100
	}
	return o.Minor - v.Minor
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// ParseIstioVersion reads "1.30.2", "v1.30.2", "1.30.2-distroless", "1.30".
func ParseIstioVersion(s string) (IstioVersion, bool) {
	raw := s
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+_"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return IstioVersion{}, false
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return IstioVersion{}, false
		}
		n[i] = v
	}
	return IstioVersion{Major: n[0], Minor: n[1], Patch: n[2], HasPatch: len(parts) == 3, Raw: raw}, true
}

// ImageTag returns an image reference's tag ("" when it has none, e.g. a
// bare name or a digest only).
func ImageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon > slash {
		return image[colon+1:]
	}
	return ""
}
