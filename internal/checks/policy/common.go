package policy

import (
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

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
