package policy

import (
	"fmt"
	"sort"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var destinationRules = &check.Check{
	ID: "policy.destination-rules",
	Reads: append([]string{snapshot.Namespace, snapshot.Service, snapshot.VirtualService, snapshot.DestinationRule},
		mesh.WorkloadKinds...),
	Why: "A DestinationRule carries a service's connection pool, load balancing, outlier detection and subsets. Without one a " +
		"critical service has no circuit breaking; two for one host are merged unpredictably (only one trafficPolicy wins); a " +
		"route to a subset that no DestinationRule defines, or whose labels select no pod, fails every request with 503 (no healthy upstream).",
	Fix: "Keep exactly one DestinationRule per critical host (no workloadSelector), define every subset the VirtualServices route to, " +
		"and make each subset's labels match the pod labels of a workload behind the Service.",
	Docs:   "https://istio.io/latest/docs/reference/config/networking/destination-rule/",
	Config: checkDestinationRules,
}

func checkDestinationRules(c *check.Context) {
	for _, s := range mesh.CriticalOrReport(c) {
		svcObj, _ := serviceObject(c, s)
		if svcObj == nil {
			continue
		}
		global, all := hostDRs(c, s.Host())
		switch {
		case len(all) == 0:
			c.Fail(svcObj, "critical service %s has no DestinationRule for host %s: no connection pool, outlier detection or subsets apply", s.Key(), s.Host()).
				Want("one DestinationRule with spec.host %s", s.Host()).Fix(mesh.DestinationRuleSnippet(s, ""))
		case len(global) > 1:
			for _, o := range global[1:] {
				c.Fail(o, "host %s has %d DestinationRules (%s): Istio merges them and only one trafficPolicy takes effect", s.Host(), len(global), ids(global)).
					Field("spec.host").Got("%d DestinationRules for %s", len(global), s.Host()).Want("exactly one").
					Fixf("merge the subsets and trafficPolicy of %s into %s, then: kubectl delete destinationrule -n %s %s", o.ID(), global[0].ID(), o.Namespace, o.Name)
			}
		case len(global) == 0:
			c.Fail(all[0], "critical service %s: its only DestinationRules (%s) have a workloadSelector, so they apply to some clients only", s.Key(), ids(all)).
				Field("spec.workloadSelector").Want("a DestinationRule for %s without workloadSelector", s.Host()).Fix(mesh.DestinationRuleSnippet(s, ""))
		default:
			c.Pass(global[0], "critical service %s has one DestinationRule: %s", s.Key(), global[0].ID())
		}
	}

	// Every subset a route uses exists and selects pods.
	wix := mesh.NewWorkloadIndex(c)
	checkedSubset := map[string]bool{}
	for _, o := range c.List(snapshot.VirtualService) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		for _, d := range mesh.RouteDestinations(vs, o.Namespace) {
			if d.Subset == "" {
				continue
			}
			dro, di := findSubset(c, d.FQDN, d.Subset)
			if dro == nil {
				_, all := hostDRs(c, d.FQDN)
				fix := fmt.Sprintf("add the subset to the DestinationRule for %s:\n  subsets:\n    - name: %s\n      labels:\n        version: %s", d.FQDN, d.Subset, d.Subset)
				if len(all) == 0 {
					fix = fmt.Sprintf("create a DestinationRule for %s defining the subset:\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: <name>\n  namespace: <namespace of the service>\nspec:\n  host: %s\n  subsets:\n    - name: %s\n      labels:\n        version: %s", d.FQDN, d.FQDN, d.Subset, d.Subset)
				}
				c.Fail(o, "%s routes to subset %q of %s, which no DestinationRule defines: those requests fail with 503", o.ID(), d.Subset, d.FQDN).
					Field(d.Field+".subset").Got("subset %s", d.Subset).Want("a subset named %s in a DestinationRule for %s", d.Subset, d.FQDN).Fix(fix)
				continue
			}
			key := dro.ID() + "#" + d.Subset
			if checkedSubset[key] {
				continue
			}
			checkedSubset[key] = true
			dr := dro.Typed.(*networkingv1.DestinationRule)
			sub := dr.Spec.GetSubsets()[di]
			svcs := c.ByHost(snapshot.Service, d.FQDN)
			if len(svcs) == 0 {
				c.Pass(dro, "subset %s of %s exists (host is not a Kubernetes Service: pod labels not checked)", d.Subset, d.FQDN)
				continue
			}
			svc, ok := svcs[0].Typed.(*corev1.Service)
			if !ok || len(svc.Spec.Selector) == 0 {
				c.Pass(dro, "subset %s of %s exists (Service %s has no selector: pod labels not checked)", d.Subset, d.FQDN, svcs[0].ID())
				continue
			}
			var matched []string
			for _, w := range wix.Select(svcs[0].Namespace, svc.Spec.Selector) {
				if snapshot.SelectorMatches(sub.GetLabels(), w.Template.Labels) {
					matched = append(matched, w.Object.ID())
				}
			}
			if len(matched) == 0 {
				c.Fail(dro, "subset %s of %s (used by %s) selects no pod: labels %s match no workload behind %s", d.Subset, dro.ID(), o.ID(), labelString(sub.GetLabels()), svcs[0].ID()).
					Field(fmt.Sprintf("spec.subsets[%d].labels", di)).Got("%s", labelString(sub.GetLabels())).
					Want("labels carried by the pods of a workload selected by %s", labelString(svc.Spec.Selector)).
					Fixf("set spec.subsets[%d].labels of %s to labels the pods carry (kubectl get pods -n %s -l %s --show-labels), or add them to the workload's pod template", di, dro.ID(), svcs[0].Namespace, labelString(svc.Spec.Selector))
				continue
			}
			c.Pass(dro, "subset %s of %s selects the pods of %s", d.Subset, d.FQDN, strings.Join(matched, ", "))
		}
	}
}

// findSubset returns the DestinationRule of host that defines subset, and its index.
func findSubset(c *check.Context, fqdn, subset string) (*snapshot.Object, int) {
	for _, o := range mesh.DestinationRulesFor(c, fqdn) {
		dr, ok := o.Typed.(*networkingv1.DestinationRule)
		if !ok {
			continue
		}
		for i, s := range dr.Spec.GetSubsets() {
			if s.GetName() == subset {
				return o, i
			}
		}
	}
	return nil, 0
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
