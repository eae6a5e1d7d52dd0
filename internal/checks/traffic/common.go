package traffic

import (
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

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
		Want("a DestinationRule for %s", s.Host()).Fix(mesh.DestinationRuleSnippet(s, ""))
	return nil, nil
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}
