package traffic

import (
	"fmt"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

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

// serviceDR returns the DestinationRule that applies to every client of a
// critical service (the first without workloadSelector, else the first),
// reporting a fail (with fix) when there is none.
func serviceDR(c *check.Context, s config.Service, what string) (*snapshot.Object, *networkingv1.DestinationRule) {
	var first *snapshot.Object
	for _, o := range mesh.DestinationRulesFor(c, s.Host()) {
		dr, ok := o.Typed.(*networkingv1.DestinationRule)
		if !ok {
			continue
		}
		if dr.Spec.GetWorkloadSelector() == nil {
			return o, dr
		}
		if first == nil {
			first = o
		}
	}
	if first != nil {
		return first, first.Typed.(*networkingv1.DestinationRule)
	}
	svcObj, _ := mesh.ServiceOf(c, s)
	c.Fail(svcObj, "critical service %s has no DestinationRule, so %s", s.Key(), what).
		Want("a DestinationRule for %s", s.Host()).Fix(drSnippet(s))
	return nil, nil
}

func drSnippet(s config.Service) string {
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
      maxEjectionPercent: 50`, s.Name, s.Namespace, s.Host())
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}
