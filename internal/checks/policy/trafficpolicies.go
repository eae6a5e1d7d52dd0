package policy

import (
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var trafficPolicies = &check.Check{
	ID:    "policy.traffic-policies",
	Reads: []string{snapshot.Namespace, snapshot.Service, snapshot.DestinationRule},
	Why: "A DestinationRule's trafficPolicy is what protects a critical service under load: a connection pool bounds what " +
		"callers can pile onto it, outlier detection ejects failing endpoints, and an explicit load balancer makes the spread " +
		"of (often long) requests a decision rather than a default.",
	Fix:    "Set spec.trafficPolicy with connectionPool, loadBalancer and outlierDetection in each critical service's DestinationRule.",
	Docs:   "https://istio.io/latest/docs/reference/config/networking/destination-rule/#TrafficPolicy",
	Config: checkTrafficPolicies,
}

func checkTrafficPolicies(c *check.Context) {
	for _, s := range mesh.CriticalOrReport(c) {
		svcObj, _ := serviceObject(c, s)
		if svcObj == nil {
			continue
		}
		global, all := hostDRs(c, s.Host())
		if len(global) == 0 {
			global = all
		}
		if len(global) == 0 {
			c.Fail(svcObj, "critical service %s has no DestinationRule, so no traffic policy (connection pool, load balancer, outlier detection)", s.Key()).
				Want("a DestinationRule for %s with spec.trafficPolicy", s.Host()).Fix(mesh.DestinationRuleSnippet(s, ""))
			continue
		}
		o := global[0]
		dr := o.Typed.(*networkingv1.DestinationRule)
		tp := dr.Spec.GetTrafficPolicy()
		if tp == nil {
			c.Fail(o, "%s (critical service %s) sets no trafficPolicy", o.ID(), s.Key()).
				Field("spec.trafficPolicy").Got("absent").Want("connectionPool, loadBalancer and outlierDetection").Fix(mesh.DestinationRuleSnippet(s, ""))
			continue
		}
		type part struct {
			field string
			set   func(*networkingapi.TrafficPolicy_PortTrafficPolicy) bool
			top   bool
			yaml  string
		}
		parts := []part{
			{"connectionPool", func(p *networkingapi.TrafficPolicy_PortTrafficPolicy) bool { return p.GetConnectionPool() != nil }, tp.GetConnectionPool() != nil,
				"connectionPool:\n  tcp:\n    maxConnections: 100\n  http:\n    http1MaxPendingRequests: 100\n    http2MaxRequests: 1000"},
			{"loadBalancer", func(p *networkingapi.TrafficPolicy_PortTrafficPolicy) bool { return p.GetLoadBalancer() != nil }, tp.GetLoadBalancer() != nil,
				"loadBalancer:\n  simple: LEAST_REQUEST"},
			{"outlierDetection", func(p *networkingapi.TrafficPolicy_PortTrafficPolicy) bool { return p.GetOutlierDetection() != nil }, tp.GetOutlierDetection() != nil,
				"outlierDetection:\n  consecutive5xxErrors: 5\n  interval: 30s\n  baseEjectionTime: 30s\n  maxEjectionPercent: 50"},
		}
		var set []string
		for _, p := range parts {
			if p.top {
				set = append(set, p.field)
				continue
			}
			if ports := tp.GetPortLevelSettings(); len(ports) > 0 && allPorts(ports, p.set) {
				set = append(set, p.field+" (on every port-level setting)")
				continue
			}
			c.Fail(o, "%s (critical service %s) sets no trafficPolicy.%s", o.ID(), s.Key(), p.field).
				Field("spec.trafficPolicy."+p.field).Got("absent").Want("set").
				Fixf("kubectl edit destinationrule -n %s %s   # add under spec.trafficPolicy:\n%s", o.Namespace, o.Name, indent(p.yaml, "  "))
		}
		if len(set) == len(parts) {
			c.Pass(o, "%s sets trafficPolicy %v for critical service %s", o.ID(), set, s.Key())
		}
	}
}

func allPorts(ports []*networkingapi.TrafficPolicy_PortTrafficPolicy, f func(*networkingapi.TrafficPolicy_PortTrafficPolicy) bool) bool {
	for _, p := range ports {
		if !f(p) {
			return false
		}
	}
	return true
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}
