package mesh

import (
	"fmt"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
)

// CriticalOrReport returns the critical services for a config check, and
// reports a fail when there are none (nothing to check is not a pass).
// Shared by the policy and traffic areas.
func CriticalOrReport(c *check.Context) []config.Service {
	svcs := CriticalServices(c, c.Config)
	if len(svcs) == 0 {
		c.Fail(nil, "no critical service to check: the config names none and no Service was found in a mesh namespace").
			Fix("# meshready.yaml\ncriticalServices:\n  - name: <service>\n    namespace: <namespace>\n# and label the mesh namespaces: kubectl label namespace <namespace> istio-injection=enabled")
	}
	return svcs
}

// DestinationRuleSnippet is the remediation for a critical service without
// traffic policy: a DestinationRule with a load balancer, connection pool
// limits and outlier detection; extra is appended under trafficPolicy.
func DestinationRuleSnippet(s config.Service, extra string) string {
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
