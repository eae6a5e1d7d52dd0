package injection

import (
	"strings"

	"istio.io/api/annotation"
	"istio.io/api/label"
)

// keyInfo is what Istio's API says about one annotation or label key.
type keyInfo struct {
	name       string
	forPods    bool   // applies to Pod (or Any)
	resources  string // the resource kinds it applies to, for messages
	deprecated bool
}

var (
	knownAnnotations = map[string]keyInfo{}
	knownLabels      = map[string]keyInfo{}
	annotationNames  []string
	labelNames       []string
)

func init() {
	for _, a := range annotation.AllResourceAnnotations() {
		var rs []string
		pods := false
		for _, r := range a.Resources {
			rs = append(rs, r.String())
			pods = pods || r == annotation.Pod || r == annotation.Any
		}
		if len(rs) == 0 {
			pods = true
		}
		knownAnnotations[a.Name] = keyInfo{a.Name, pods, strings.Join(rs, ", "), a.Deprecated}
		annotationNames = append(annotationNames, a.Name)
	}
	for _, l := range label.AllResourceLabels() {
		var rs []string
		pods := false
		for _, r := range l.Resources {
			rs = append(rs, r.String())
			// Controllers copy Deployment labels onto pod templates.
			pods = pods || r.String() == "Pod" || r.String() == "Any" || r.String() == "Deployment"
		}
		if len(rs) == 0 {
			pods = true
		}
		knownLabels[l.Name] = keyInfo{l.Name, pods, strings.Join(rs, ", "), l.Deprecated}
		labelNames = append(labelNames, l.Name)
	}
}

// istioKey reports whether a key is in one of Istio's domains (*.istio.io/...).
func istioKey(k string) bool {
	prefix, _, ok := strings.Cut(k, "/")
	return ok && (prefix == "istio.io" || strings.HasSuffix(prefix, ".istio.io"))
}

// strictKey reports whether a key is in a domain that configures injection
// and the proxy (sidecar.istio.io and its subdomains, proxy.istio.io,
// inject.istio.io, prometheus.istio.io): unknown keys there are mistakes.
// Other istio.io keys are set by Istio's own controllers on generated
// objects too, so only known ones are judged.
func strictKey(k string) bool {
	prefix, _, _ := strings.Cut(k, "/")
	switch prefix {
	case "sidecar.istio.io", "proxy.istio.io", "inject.istio.io", "prometheus.istio.io":
		return true
	}
	return strings.HasSuffix(prefix, ".sidecar.istio.io")
}

// closest returns the known key nearest to k (case-insensitive edit
// distance) if it is near enough to be a misspelling.
func closest(k string, known []string) (string, bool) {
	lk := strings.ToLower(k)
	best, bestD := "", 1<<30
	for _, n := range known {
		d := editDistance(lk, strings.ToLower(n))
		if d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	limit := 2 + len(k)/10
	return best, best != "" && bestD <= limit
}

// editDistance is the Levenshtein distance between two strings (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
