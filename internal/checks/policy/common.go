package policy

import (
	"fmt"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// critical returns the critical services; when there are none it reports
// the fail itself (nothing to check is not a pass) and returns nil.
func critical(c *check.Context) []config.Service {
	svcs := mesh.CriticalServices(c, c.Config)
	if len(svcs) == 0 {
		c.Fail(nil, "no critical service to check: the config names none and no Service was found in a mesh namespace").
			Fix("# meshready.yaml\ncriticalServices:\n  - name: <service>\n    namespace: <namespace>\n# and label the mesh namespaces: kubectl label namespace <namespace> istio-injection=enabled")
	}
	return svcs
}

// serviceObject returns a critical service's Service, reporting a fail when it is missing.
func serviceObject(c *check.Context, s config.Service) (*snapshot.Object, *corev1.Service) {
	o, svc := mesh.ServiceOf(c, s)
	if o == nil {
		c.Fail(nil, "critical service %s: no Service %s/%s in the input", s.Key(), s.Namespace, s.Name).
			Fixf("create the Service, or correct criticalServices in meshready.yaml:\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  selector:\n    app: %s\n  ports:\n    - name: http\n      port: 8080", s.Name, s.Namespace, s.Name)
	}
	return o, svc
}

// hostDRs returns the DestinationRules of a host that apply to every
// client (no workloadSelector), and all of them.
func hostDRs(c *check.Context, fqdn string) (global, all []*snapshot.Object) {
	for _, o := range mesh.DestinationRulesFor(c, fqdn) {
		dr, ok := o.Typed.(*networkingv1.DestinationRule)
		if !ok {
			continue
		}
		all = append(all, o)
		if dr.Spec.GetWorkloadSelector() == nil {
			global = append(global, o)
		}
	}
	return global, all
}

func ids(objs []*snapshot.Object) string {
	s := make([]string, len(objs))
	for i, o := range objs {
		s[i] = o.ID()
	}
	return strings.Join(s, ", ")
}

func drSnippet(s config.Service, extra string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %s
  namespace: %s
spec:
  host: %s
  trafficPolicy:
    loadBalancer:
      simple: LEAST_REQUEST
    connectionPool:
      tcp:
        maxConnections: 100
      http:
        http1MaxPendingRequests: 100
        http2MaxRequests: 1000
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 30s
      baseEjectionTime: 30s
      maxEjectionPercent: 50%s`, s.Name, s.Namespace, s.Host(), extra)
}
