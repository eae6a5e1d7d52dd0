package rules_test

import (
	"testing"

	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/meshgen"
	"github.com/meshready/meshready/internal/rules"
	"github.com/meshready/meshready/internal/snapshot"
)

// benchRules are three typical house rules over the synthetic mesh.
func benchRules(b *testing.B) []*rules.Rule {
	rs := []*rules.Rule{
		{ID: "routes", Title: "Routes time out and retry", Severity: "blocker", Match: rules.Match{Kinds: []string{"VirtualService"}},
			Expression:        "!has(object.spec.http) || object.spec.http.all(r, has(r.timeout) && has(r.retries))",
			MessageExpression: "'routes without timeout or retries in ' + object.metadata.name"},
		{ID: "resources", Title: "Containers set requests and a memory limit", Severity: "major", Match: rules.Match{Kinds: []string{"Deployment"}},
			Expression: "object.spec.template.spec.containers.all(c, has(c.resources.requests) && 'cpu' in c.resources.requests && has(c.resources.limits) && 'memory' in c.resources.limits)"},
		{ID: "outliers", Title: "Outlier detection on", Severity: "major", Match: rules.Match{Kinds: []string{"DestinationRule"}},
			Expression: "object.?spec.?trafficPolicy.?outlierDetection.?consecutive5xxErrors.orValue(0) > 0"},
	}
	for _, r := range rs {
		if err := r.Compile(); err != nil {
			b.Fatal(err)
		}
	}
	return rs
}

// BenchmarkRules5kServices evaluates three rules over the 5,000-service
// synthetic mesh (15,001 matching objects: istiod too), loaded from files
// and as if listed from a cluster (origin "cluster"): both take the typed
// forms, so the two should cost the same.
//
//	go test ./internal/rules -run '^$' -bench Rules5k -benchtime 3x
func BenchmarkRules5kServices(b *testing.B) {
	dir := b.TempDir()
	if _, err := meshgen.Write(dir, meshgen.Options{Services: 5000, DefectRate: 0.01}); err != nil {
		b.Fatal(err)
	}
	objs, _, err := loader.Load([]string{dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	fromFiles := snapshot.New(objs)
	typed := make([]*snapshot.Object, len(objs))
	for i, o := range objs {
		c := *o
		c.Origin = snapshot.Origin{File: "cluster"}
		typed[i] = &c
	}
	fromCluster := snapshot.New(typed)
	rs := benchRules(b)
	for _, tc := range []struct {
		name string
		snap *snapshot.Snapshot
	}{{"files", fromFiles}, {"cluster", fromCluster}} {
		b.Run(tc.name, func(b *testing.B) {
			n, fails := 0, 0
			for i := 0; i < b.N; i++ {
				env := rules.Env{Content: rules.NewContent()}
				n, fails = 0, 0
				for _, r := range rs {
					for _, k := range r.Kinds() {
						for _, oc := range r.Evaluate(tc.snap.List(k), env) {
							n++
							if oc.Status != rules.Pass {
								fails++
							}
						}
					}
				}
			}
			if n != 15001 || fails != 50 { // 5,000 of each kind, and istiod
				b.Fatalf("%d objects, %d not passing; want 15001 and the 50 defective routes", n, fails)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/object")
		})
	}
}
