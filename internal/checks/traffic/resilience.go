package traffic

import (
	"fmt"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var loadBalancing = &check.Check{
	ID:    "traffic.load-balancing",
	Reads: []string{snapshot.Namespace, snapshot.Service, snapshot.DestinationRule},
	Why: "Long, uneven requests (LLM inference, vector search) make the load balancing algorithm matter: an explicit policy " +
		"(LEAST_REQUEST for uneven work, consistent hashing for caches) is a decision the team owns. Locality failover without " +
		"outlier detection never fails over, because Envoy only learns that endpoints are unhealthy through outlier detection.",
	Fix:    "Set trafficPolicy.loadBalancer in each critical service's DestinationRule; wherever localityLbSetting is enabled, set outlierDetection too.",
	Docs:   "https://istio.io/latest/docs/tasks/traffic-management/locality-load-balancing/failover/",
	Config: checkLoadBalancing,
}

func checkLoadBalancing(c *check.Context) {
	for _, s := range mesh.CriticalOrReport(c) {
		o, dr := serviceDR(c, s, "no load balancer policy is set")
		if o == nil {
			continue
		}
		tp := dr.Spec.GetTrafficPolicy()
		if lb := tp.GetLoadBalancer(); lb != nil {
			c.Pass(o, "%s sets loadBalancer %s for critical service %s", o.ID(), lbString(lb), s.Key())
			continue
		}
		if ports := tp.GetPortLevelSettings(); len(ports) > 0 && everyPort(ports, func(p *networkingapi.TrafficPolicy_PortTrafficPolicy) bool { return p.GetLoadBalancer() != nil }) {
			c.Pass(o, "%s sets a loadBalancer on every port-level setting for critical service %s", o.ID(), s.Key())
			continue
		}
		c.Fail(o, "%s (critical service %s) sets no trafficPolicy.loadBalancer: Istio's default (LEAST_REQUEST) applies by omission", o.ID(), s.Key()).
			Field("spec.trafficPolicy.loadBalancer").Got("absent").Want("an explicit simple or consistentHash policy").
			Fixf("kubectl edit destinationrule -n %s %s   # add under spec.trafficPolicy:\n  loadBalancer:\n    simple: LEAST_REQUEST", o.Namespace, o.Name)
	}

	// Locality failover needs outlier detection, on every DestinationRule.
	for _, o := range c.List(snapshot.DestinationRule) {
		dr, ok := o.Typed.(*networkingv1.DestinationRule)
		if !ok {
			continue
		}
		tp := dr.Spec.GetTrafficPolicy()
		topOD := tp.GetOutlierDetection() != nil
		check := func(field string, lb *networkingapi.LoadBalancerSettings, od bool) {
			ll := lb.GetLocalityLbSetting()
			if ll == nil || (ll.GetEnabled() != nil && !ll.GetEnabled().GetValue()) || od {
				if ll != nil && od && (ll.GetEnabled() == nil || ll.GetEnabled().GetValue()) {
					c.Pass(o, "%s: %s.localityLbSetting is backed by outlierDetection", o.ID(), field)
				}
				return
			}
			c.Fail(o, "%s enables locality load balancing (%s.localityLbSetting) without outlierDetection: failover never happens, because endpoints are never marked unhealthy", o.ID(), field).
				Field(field+".localityLbSetting").Got("localityLbSetting without outlierDetection").Want("outlierDetection at the same level (or the top-level trafficPolicy)").
				Fixf("kubectl edit destinationrule -n %s %s   # add next to the loadBalancer:\n  outlierDetection:\n    consecutive5xxErrors: 5\n    interval: 10s\n    baseEjectionTime: 30s", o.Namespace, o.Name)
		}
		check("spec.trafficPolicy.loadBalancer", tp.GetLoadBalancer(), topOD)
		for i, p := range tp.GetPortLevelSettings() {
			check(fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].loadBalancer", i), p.GetLoadBalancer(), topOD || p.GetOutlierDetection() != nil)
		}
		for si, sub := range dr.Spec.GetSubsets() {
			stp := sub.GetTrafficPolicy()
			sOD := topOD || stp.GetOutlierDetection() != nil
			check(fmt.Sprintf("spec.subsets[%d].trafficPolicy.loadBalancer", si), stp.GetLoadBalancer(), sOD)
			for i, p := range stp.GetPortLevelSettings() {
				check(fmt.Sprintf("spec.subsets[%d].trafficPolicy.portLevelSettings[%d].loadBalancer", si, i), p.GetLoadBalancer(), sOD || p.GetOutlierDetection() != nil)
			}
		}
	}
}

func lbString(lb *networkingapi.LoadBalancerSettings) string {
	switch {
	case lb.GetConsistentHash() != nil:
		return "consistentHash"
	case lb.GetSimple() != networkingapi.LoadBalancerSettings_UNSPECIFIED:
		return "simple " + lb.GetSimple().String()
	case lb.GetLocalityLbSetting() != nil:
		return "(localityLbSetting only)"
	}
	return "(set)"
}

func everyPort(ports []*networkingapi.TrafficPolicy_PortTrafficPolicy, f func(*networkingapi.TrafficPolicy_PortTrafficPolicy) bool) bool {
	for _, p := range ports {
		if !f(p) {
			return false
		}
	}
	return true
}

var circuitBreakers = &check.Check{
	ID:    "traffic.circuit-breakers",
	Reads: []string{snapshot.Namespace, snapshot.Service, snapshot.DestinationRule},
	Why: "Circuit breaking is what stops one slow or failing backend from taking its callers down: connection pool limits " +
		"turn overload into fast 503s instead of unbounded queues, and outlier detection ejects the endpoints that keep failing.",
	Fix: "In each critical service's DestinationRule set trafficPolicy.connectionPool limits (tcp.maxConnections, " +
		"http.http1MaxPendingRequests, http.http2MaxRequests) and trafficPolicy.outlierDetection (consecutive5xxErrors, interval, baseEjectionTime).",
	Docs:   "https://istio.io/latest/docs/tasks/traffic-management/circuit-breaking/",
	Config: checkCircuitBreakers,
}

const poolYAML = "connectionPool:\n  tcp:\n    maxConnections: 100\n  http:\n    http1MaxPendingRequests: 100\n    http2MaxRequests: 1000"
const outlierYAML = "outlierDetection:\n  consecutive5xxErrors: 5\n  interval: 30s\n  baseEjectionTime: 30s\n  maxEjectionPercent: 50"

func checkCircuitBreakers(c *check.Context) {
	for _, s := range mesh.CriticalOrReport(c) {
		o, dr := serviceDR(c, s, "no connection pool limits or outlier detection protect it")
		if o == nil {
			continue
		}
		tp := dr.Spec.GetTrafficPolicy()
		edit := fmt.Sprintf("kubectl edit destinationrule -n %s %s   # add under spec.trafficPolicy:\n", o.Namespace, o.Name)
		var ok []string

		pool, pf := tp.GetConnectionPool(), "spec.trafficPolicy.connectionPool"
		if pool == nil && len(tp.GetPortLevelSettings()) > 0 && everyPort(tp.GetPortLevelSettings(), func(p *networkingapi.TrafficPolicy_PortTrafficPolicy) bool {
			return limits(p.GetConnectionPool()) != ""
		}) {
			ok = append(ok, "connectionPool limits on every port")
		} else if l := limits(pool); l != "" {
			ok = append(ok, "connectionPool "+l)
		} else {
			got := "absent"
			if pool != nil {
				got = "no maxConnections, http1MaxPendingRequests or http2MaxRequests"
			}
			c.Fail(o, "%s (critical service %s) sets no connection pool limit: overload queues instead of failing fast", o.ID(), s.Key()).
				Field(pf).Got("%s", got).Want("tcp.maxConnections and/or http.http1MaxPendingRequests, http.http2MaxRequests").
				Fix(edit + indent(poolYAML, "  "))
		}

		od, of := tp.GetOutlierDetection(), "spec.trafficPolicy.outlierDetection"
		switch {
		case od == nil && len(tp.GetPortLevelSettings()) > 0 && everyPort(tp.GetPortLevelSettings(), func(p *networkingapi.TrafficPolicy_PortTrafficPolicy) bool { return outlierOn(p.GetOutlierDetection()) }):
			ok = append(ok, "outlierDetection on every port")
		case od == nil:
			c.Fail(o, "%s (critical service %s) sets no outlierDetection: failing endpoints keep receiving traffic", o.ID(), s.Key()).
				Field(of).Got("absent").Want("outlierDetection with consecutive5xxErrors, interval, baseEjectionTime").
				Fix(edit + indent(outlierYAML, "  "))
		case !outlierOn(od):
			c.Fail(o, "%s (critical service %s) sets outlierDetection with every error threshold at 0: ejection is disabled", o.ID(), s.Key()).
				Field(of + ".consecutive5xxErrors").Got("0").Want("> 0 (e.g. 5)").
				Fix(edit + indent(outlierYAML, "  "))
		default:
			ok = append(ok, "outlierDetection "+outlierString(od))
		}
		if len(ok) == 2 {
			c.Pass(o, "%s protects critical service %s: %s", o.ID(), s.Key(), strings.Join(ok, "; "))
		}
	}
}

// limits describes the connection pool limits set, "" for none.
func limits(p *networkingapi.ConnectionPoolSettings) string {
	var out []string
	if v := p.GetTcp().GetMaxConnections(); v > 0 {
		out = append(out, fmt.Sprintf("tcp.maxConnections=%d", v))
	}
	if v := p.GetHttp().GetHttp1MaxPendingRequests(); v > 0 {
		out = append(out, fmt.Sprintf("http.http1MaxPendingRequests=%d", v))
	}
	if v := p.GetHttp().GetHttp2MaxRequests(); v > 0 {
		out = append(out, fmt.Sprintf("http.http2MaxRequests=%d", v))
	}
	return strings.Join(out, ", ")
}

// outlierOn: outlier detection ejects on some error count. An unset
// consecutive5xxErrors defaults to 5; an explicit 0 disables it.
func outlierOn(od *networkingapi.OutlierDetection) bool {
	if od == nil {
		return false
	}
	if od.GetConsecutive_5XxErrors() == nil || od.GetConsecutive_5XxErrors().GetValue() > 0 {
		return true
	}
	return od.GetConsecutiveGatewayErrors().GetValue() > 0 || od.GetConsecutiveLocalOriginFailures().GetValue() > 0
}

func outlierString(od *networkingapi.OutlierDetection) string {
	n := uint32(5)
	if v := od.GetConsecutive_5XxErrors(); v != nil {
		n = v.GetValue()
	}
	s := fmt.Sprintf("consecutive5xxErrors=%d", n)
	if od.GetInterval() != nil {
		s += " interval=" + od.GetInterval().AsDuration().String()
	}
	if od.GetBaseEjectionTime() != nil {
		s += " baseEjectionTime=" + od.GetBaseEjectionTime().AsDuration().String()
	}
	return s
}

var faultInjection = &check.Check{
	ID:    "traffic.fault-injection",
	Reads: []string{snapshot.VirtualService},
	Why: "Fault injection is a test tool: a delay or abort left on a route without a header match hits real users. The " +
		"probe part confirms that fault injection was actually exercised (see resilience.fault-injection).",
	Fix: "Remove spec.http[].fault from production routes, or gate it behind a header match that only test clients send " +
		"(e.g. x-chaos-test: \"true\").",
	Docs:   "https://istio.io/latest/docs/tasks/traffic-management/fault-injection/",
	Config: checkFaultInjection,
}

func checkFaultInjection(c *check.Context) {
	routes, faults := 0, 0
	for _, o := range c.List(snapshot.VirtualService) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		for i, h := range vs.Spec.GetHttp() {
			routes++
			f := h.GetFault()
			if f == nil {
				continue
			}
			faults++
			field := fmt.Sprintf("spec.http[%d].fault", i)
			what := faultString(f)
			if headerGated(h) {
				c.Pass(o, "%s %s (%s) applies only to requests matching a header", o.ID(), field, what)
				continue
			}
			fix := fmt.Sprintf("kubectl edit virtualservice -n %s %s   # remove spec.http[%d].fault, or move it to its own route placed first:\n- match:\n    - headers:\n        x-chaos-test:\n          exact: \"true\"\n  fault:\n    ...\n  route:\n    ...", o.Namespace, o.Name, i)
			if !faultActive(f) {
				c.Warn(o, "%s %s (%s) is left on a route without a header match; at 0%% it is inert, but one edit away from hitting all traffic", o.ID(), field, what).
					Field(field).Got("fault on every request, 0%%").Want("no fault, or a header-gated route").Fix(fix)
				continue
			}
			c.Fail(o, "%s %s (%s) applies to every request of the route (no header match): real users get the injected faults", o.ID(), field, what).
				Field(field).Got("fault without header match").Want("no fault, or a match on a test header").Fix(fix)
		}
	}
	if faults == 0 {
		c.Pass(nil, "no fault injection on any of the %d http routes", routes)
	}
}

// headerGated: every match entry requires a header (entries are ORed).
func headerGated(h *networkingapi.HTTPRoute) bool {
	if len(h.GetMatch()) == 0 {
		return false
	}
	for _, m := range h.GetMatch() {
		if len(m.GetHeaders()) == 0 {
			return false
		}
	}
	return true
}

func faultActive(f *networkingapi.HTTPFaultInjection) bool {
	if d := f.GetDelay(); d != nil && (d.GetPercentage().GetValue() > 0 || d.GetPercent() > 0) {
		return true
	}
	if a := f.GetAbort(); a != nil && a.GetPercentage().GetValue() > 0 {
		return true
	}
	return false
}

func faultString(f *networkingapi.HTTPFaultInjection) string {
	var parts []string
	if d := f.GetDelay(); d != nil {
		pct := d.GetPercentage().GetValue()
		if d.GetPercentage() == nil {
			pct = float64(d.GetPercent())
		}
		parts = append(parts, fmt.Sprintf("delay %s on %g%%", d.GetFixedDelay().AsDuration(), pct))
	}
	if a := f.GetAbort(); a != nil {
		parts = append(parts, fmt.Sprintf("abort %d on %g%%", a.GetHttpStatus(), a.GetPercentage().GetValue()))
	}
	return strings.Join(parts, ", ")
}
