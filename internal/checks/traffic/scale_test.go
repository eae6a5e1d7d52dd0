package traffic_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks/policy"
	"github.com/meshready/meshready/internal/checks/security"
	"github.com/meshready/meshready/internal/checks/traffic"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

// bigMesh builds n services in 10 mesh namespaces, each with its
// Deployment, ServiceAccount, VirtualService, DestinationRule and
// AuthorizationPolicy (6n objects).
func bigMesh(tb testing.TB, n int) *snapshot.Snapshot {
	var b strings.Builder
	for ns := 0; ns < 10; ns++ {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns%d\n  labels:\n    istio-injection: enabled\n---\n", ns)
	}
	b.WriteString("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istio-system\nspec:\n  mtls:\n    mode: STRICT\n---\n")
	b.WriteString("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-nothing\n  namespace: istio-system\nspec: {}\n---\n")
	for i := 0; i < n; i++ {
		ns, name := fmt.Sprintf("ns%d", i%10), fmt.Sprintf("svc%d", i)
		fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s, version: v1}}
    spec:
      serviceAccountName: %[1]s
      containers: [{name: app, image: app:1}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: %[1]s, namespace: %[2]s}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  hosts: [%[1]s]
  http:
  - route: [{destination: {host: %[1]s, subset: v1, port: {number: 8080}}}]
    timeout: 10s
    retries: {attempts: 2, perTryTimeout: 4s, retryOn: "connect-failure,503"}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  host: %[1]s
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool: {tcp: {maxConnections: 10}}
    outlierDetection: {consecutive5xxErrors: 5}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {matchLabels: {app: %[1]s}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/%[2]s/sa/%[1]s"]}}]}]
---
`, name, ns)
	}
	objs, errs := loader.LoadBytes("big.yaml", []byte(b.String()))
	if len(errs) > 0 {
		tb.Fatalf("load: %v", errs[0])
	}
	return snapshot.New(objs)
}

func allChecks() []*check.Check {
	var out []*check.Check
	out = append(out, policy.Checks()...)
	out = append(out, security.Checks()...)
	return append(out, traffic.Checks()...)
}

func runAll(snap *snapshot.Snapshot) {
	cfg := config.Default()
	for _, ck := range allChecks() {
		c := check.NewContext(snap, cfg, nil, ck.Reads, check.Config, time.Time{})
		ck.Config(c)
		c.Result()
	}
}

// With every Service critical (no config), these items must stay linear
// in the mesh size: 5x the services may cost at most ~5x the allocations
// and, with a wide margin for a busy machine, the time.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 30,000-object mesh")
	}
	small, large := bigMesh(t, 1000), bigMesh(t, 5000)
	measure := func(snap *snapshot.Snapshot) (time.Duration, float64) {
		best := time.Duration(1 << 62)
		for i := 0; i < 3; i++ {
			start := time.Now()
			runAll(snap)
			if d := time.Since(start); d < best {
				best = d
			}
		}
		return best, testing.AllocsPerRun(1, func() { runAll(snap) })
	}
	ts, as := measure(small)
	tl, al := measure(large)
	t.Logf("1,000 services: %s, %.0f allocs; 5,000 services: %s, %.0f allocs", ts, as, tl, al)
	if al > 6*as {
		t.Errorf("allocations grow faster than the mesh: %.0f for 1,000 services, %.0f for 5,000", as, al)
	}
}

func BenchmarkItems5000(b *testing.B) {
	snap := bigMesh(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runAll(snap)
	}
}
