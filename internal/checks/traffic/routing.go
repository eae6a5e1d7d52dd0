package traffic

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

var routingRules = &check.Check{
	ID: "traffic.routing-rules",
	Reads: []string{snapshot.Service, snapshot.ServiceEntry, snapshot.VirtualService, snapshot.DestinationRule,
		snapshot.Gateway},
	Why: "Routing mistakes do not fail at apply time: a destination host, port or subset that does not exist answers 503, " +
		"weights that do not sum to 100 send a different split than intended, a catch-all route placed first silently " +
		"shadows every rule after it, two VirtualServices for one host on one gateway are merged or dropped, and a host the " +
		"Gateway does not serve is never routed.",
	Fix: "Point every destination at an existing Service (port and subset included), make split weights sum to 100, put the " +
		"catch-all route last, keep one VirtualService per host and gateway, and use hosts the Gateway's servers list. " +
		"`istioctl analyze` confirms.",
	Docs:   "https://istio.io/latest/docs/ops/best-practices/traffic-management/",
	Config: checkRouting,
}

func checkRouting(c *check.Context) {
	byKey := map[string][]*snapshot.Object{} // "gateway|host" -> VirtualServices
	n := 0
	for _, o := range c.List(snapshot.VirtualService) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		n++
		bad := false
		fail := func(field, format string, args ...any) check.F {
			bad = true
			return c.Fail(o, format, args...).Field(field)
		}

		// Destinations: host, port, subset.
		dests := mesh.RouteDestinations(vs, o.Namespace)
		for _, d := range dests {
			if strings.HasPrefix(d.FQDN, "*") {
				continue
			}
			svcs, ses := mesh.ResolveDestination(c, d.Host, o.Namespace)
			if len(svcs) == 0 && len(ses) == 0 {
				fail(d.Field+".host", "%s %s: destination host %q resolves to no Service or ServiceEntry: requests there fail with 503", o.ID(), d.Field, d.Host).
					Got("%s (%s)", d.Host, mesh.ResolveShortName(d.Host, o.Namespace)).Want("an existing Service or a ServiceEntry host").
					Fixf("correct %s.host of %s to an existing Service (kubectl get svc -A), or declare %s with a ServiceEntry", d.Field, o.ID(), mesh.ResolveShortName(d.Host, o.Namespace))
				continue
			}
			if d.Port != 0 {
				if ports, ok := hostPorts(svcs, ses); ok && !containsPort(ports, d.Port) {
					fail(d.Field+".port.number", "%s %s: port %d is not a port of %s (ports %v)", o.ID(), d.Field, d.Port, d.FQDN, ports).
						Got("%d", d.Port).Want("one of %v", ports).
						Fixf("set %s.port.number of %s to one of %v (the Service port, not the targetPort)", d.Field, o.ID(), ports)
				}
			}
			if d.Subset != "" && !subsetDefined(c, d.FQDN, d.Subset) {
				fail(d.Field+".subset", "%s %s: subset %q is defined by no DestinationRule for %s: requests there fail with 503", o.ID(), d.Field, d.Subset, d.FQDN).
					Got("%s", d.Subset).Want("a subset of a DestinationRule for %s", d.FQDN).
					Fixf("add to the DestinationRule for %s:\n  subsets:\n    - name: %s\n      labels:\n        version: %s", d.FQDN, d.Subset, d.Subset)
			}
		}

		// Weights.
		type acc struct {
			n, sum   int
			weighted bool
			weights  []int
		}
		routes := map[string]*acc{}
		var order []string
		for _, d := range dests {
			k := fmt.Sprintf("spec.%s[%d].route", d.Proto, d.Route)
			a := routes[k]
			if a == nil {
				a = &acc{}
				routes[k] = a
				order = append(order, k)
			}
			a.n++
			a.sum += int(d.Weight)
			a.weighted = a.weighted || d.Weight != 0
			a.weights = append(a.weights, int(d.Weight))
		}
		splits := 0
		for _, k := range order {
			a := routes[k]
			if a.n > 1 || a.weighted {
				splits++
			}
			if (a.n > 1 || a.weighted) && a.sum != 100 {
				fail(k, "%s %s: destination weights sum to %d over %d destination(s): %s", o.ID(), k, a.sum, a.n, shares(a.weights, a.sum)).
					Got("sum %d", a.sum).Want("100").
					Fixf("set the weight of each destination in %s of %s so that they sum to 100 (e.g. 90 and 10)", k, o.ID())
			}
		}

		// Shadowing: a catch-all http route that is not last.
		http := vs.Spec.GetHttp()
		for i := 0; i < len(http)-1; i++ {
			if mesh.IsMatchAll(http[i]) {
				fail(fmt.Sprintf("spec.http[%d].match", i), "%s spec.http[%d] matches every request, so the %d route(s) after it (spec.http[%d:]) never apply", o.ID(), i, len(http)-1-i, i+1).
					Got("catch-all at position %d of %d", i, len(http)).Want("the catch-all route last").
					Fixf("move spec.http[%d] of %s to the end of spec.http (routes are matched in order)", i, o.ID())
				break
			}
		}

		// Gateway hosts, and the per gateway/host index.
		for _, g := range mesh.Gateways(vs, o.Namespace) {
			for _, h := range vs.Spec.GetHosts() {
				key := g + "|" + snapshot.FQDN(h, o.Namespace)
				if l := byKey[key]; len(l) == 0 || l[len(l)-1] != o {
					byKey[key] = append(l, o)
				}
			}
			if g == mesh.GatewayMesh {
				continue
			}
			gns, gname, _ := strings.Cut(g, "/")
			gwo := c.Get(snapshot.Gateway, gns, gname)
			if gwo == nil {
				continue // a missing gateway is reported by policy.virtual-services
			}
			gw, ok := gwo.Typed.(*networkingv1.Gateway)
			if !ok {
				continue
			}
			var serverHosts []string
			seenHost := map[string]bool{}
			for _, s := range gw.Spec.GetServers() {
				for _, h := range s.GetHosts() {
					if !seenHost[h] {
						seenHost[h] = true
						serverHosts = append(serverHosts, h)
					}
				}
			}
			for i, h := range vs.Spec.GetHosts() {
				admitted := false
				for _, sh := range serverHosts {
					if mesh.ServerHostAdmits(sh, gns, o.Namespace, h) {
						admitted = true
						break
					}
				}
				if !admitted {
					fail(fmt.Sprintf("spec.hosts[%d]", i), "%s host %q is not served by gateway %s (its servers' hosts: %s, as seen from namespace %s): the gateway never routes it", o.ID(), h, g, strings.Join(serverHosts, ", "), o.Namespace).
						Got("%s", h).Want("a host matching one of %s", strings.Join(serverHosts, ", ")).
						Fixf("add %q (or %s/%s) to spec.servers[].hosts of Gateway %s, or correct spec.hosts[%d] of %s", h, o.Namespace, h, g, i, o.ID())
				}
			}
		}
		if !bad {
			what := []string{fmt.Sprintf("%d route destination(s) exist (host, port, subset)", len(dests))}
			if splits > 0 {
				what = append(what, fmt.Sprintf("the weights of %d split route(s) sum to 100", splits))
			}
			if len(http) > 1 {
				what = append(what, "no http route is shadowed by an earlier catch-all")
			}
			if gws := vs.Spec.GetGateways(); len(gws) > 0 {
				what = append(what, "its hosts are served by "+strings.Join(gws, ", "))
			}
			c.Pass(o, "%s: %s", o.ID(), strings.Join(what, "; "))
		}
	}
	if n == 0 {
		c.Fail(nil, "no VirtualService in the input: there are no routing rules to verify").
			Fix("define a VirtualService for each critical service (see policy.virtual-services)")
		return
	}

	keys := make([]string, 0, len(byKey))
	for k, l := range byKey {
		if len(l) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		l := byKey[k]
		g, h, _ := strings.Cut(k, "|")
		where := "gateway " + g
		if g == mesh.GatewayMesh {
			where = "the mesh (sidecars)"
		}
		for _, o := range l[1:] {
			c.Fail(o, "%s and %s both declare host %s for %s: Istio merges or drops one of them unpredictably", l[0].ID(), o.ID(), h, where).
				Field("spec.hosts").Got("%d VirtualServices for %s on %s", len(l), h, g).Want("one").
				Fixf("merge the http routes of %s into %s, then: kubectl delete virtualservice -n %s %s", o.ID(), l[0].ID(), o.Namespace, o.Name)
		}
	}
}

// hostPorts returns the ports of the Service (or else ServiceEntry) of a host.
func hostPorts(svcs, ses []*snapshot.Object) ([]uint32, bool) {
	for _, o := range svcs {
		if svc, ok := o.Typed.(*corev1.Service); ok {
			var out []uint32
			for _, p := range svc.Spec.Ports {
				out = append(out, uint32(p.Port))
			}
			return out, true
		}
	}
	for _, o := range ses {
		if se, ok := o.Typed.(*networkingv1.ServiceEntry); ok {
			var out []uint32
			for _, p := range se.Spec.GetPorts() {
				out = append(out, p.GetNumber())
			}
			return out, true
		}
	}
	return nil, false
}

func containsPort(ports []uint32, p uint32) bool {
	for _, x := range ports {
		if x == p {
			return true
		}
	}
	return false
}

func subsetDefined(c *check.Context, fqdn, subset string) bool {
	for _, o := range mesh.DestinationRulesFor(c, fqdn) {
		if dr, ok := o.Typed.(*networkingv1.DestinationRule); ok {
			for _, s := range dr.Spec.GetSubsets() {
				if s.GetName() == subset {
					return true
				}
			}
		}
	}
	return false
}

// shares says how Istio actually splits: each destination gets weight/sum.
func shares(weights []int, sum int) string {
	if sum <= 0 {
		return "no destination has a weight, so the intended split is not expressed"
	}
	parts := make([]string, len(weights))
	for i, w := range weights {
		parts[i] = fmt.Sprintf("%.1f%%", 100*float64(w)/float64(sum))
	}
	return "Istio splits by weight/sum, so the destinations get " + strings.Join(parts, " / ") + ", not the percentages written"
}
