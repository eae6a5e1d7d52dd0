package mesh

import (
	"fmt"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/snapshot"
)

// GatewayMesh is the reserved gateway name that binds a VirtualService to the sidecars.
const GatewayMesh = "mesh"

// VirtualServicesFor returns the VirtualServices whose spec.hosts include the
// host FQDN (short names resolved in each VirtualService's namespace; a
// wildcard host such as "*.example.com" covers its names). Reads VirtualService.
func VirtualServicesFor(r Reader, fqdn string) []*snapshot.Object {
	return r.ByHost(snapshot.VirtualService, fqdn)
}

// DestinationRulesFor returns the DestinationRules whose spec.host is the
// host FQDN (short names resolved in the rule's namespace). Reads DestinationRule.
func DestinationRulesFor(r Reader, fqdn string) []*snapshot.Object {
	return r.ByHost(snapshot.DestinationRule, fqdn)
}

// RouteDest is one destination of one route of a VirtualService.
type RouteDest struct {
	Field  string // e.g. "spec.http[0].route[1].destination"
	Proto  string // "http", "tcp" or "tls"
	Route  int    // index of the route in its list
	Host   string // as written
	FQDN   string // resolved in the VirtualService's namespace
	Subset string
	Port   uint32 // 0 when not given
	Weight int32
}

// RouteDestinations returns every route destination of a VirtualService
// (http, tcp and tls routes, in that order; mirrors are not routes), with
// hosts resolved in namespace ns (the VirtualService's).
func RouteDestinations(vs *networkingv1.VirtualService, ns string) []RouteDest {
	var out []RouteDest
	add := func(proto string, ri, di int, d *networkingapi.Destination, w int32) {
		if d == nil {
			return
		}
		out = append(out, RouteDest{
			Field:  fmt.Sprintf("spec.%s[%d].route[%d].destination", proto, ri, di),
			Proto:  proto,
			Route:  ri,
			Host:   d.GetHost(),
			FQDN:   snapshot.FQDN(d.GetHost(), ns),
			Subset: d.GetSubset(),
			Port:   d.GetPort().GetNumber(),
			Weight: w,
		})
	}
	for ri, h := range vs.Spec.GetHttp() {
		for di, d := range h.GetRoute() {
			add("http", ri, di, d.GetDestination(), d.GetWeight())
		}
	}
	for ri, t := range vs.Spec.GetTcp() {
		for di, d := range t.GetRoute() {
			add("tcp", ri, di, d.GetDestination(), d.GetWeight())
		}
	}
	for ri, t := range vs.Spec.GetTls() {
		for di, d := range t.GetRoute() {
			add("tls", ri, di, d.GetDestination(), d.GetWeight())
		}
	}
	return out
}

// HTTPRouteRef is one http route of a VirtualService.
type HTTPRouteRef struct {
	Object *snapshot.Object // the VirtualService
	VS     *networkingv1.VirtualService
	Index  int // position in spec.http
	Route  *networkingapi.HTTPRoute
}

// Field returns the route's field path, "spec.http[i]".
func (h HTTPRouteRef) Field() string { return fmt.Sprintf("spec.http[%d]", h.Index) }

// Name returns "VirtualService/ns/name spec.http[i]" (with the route's name when it has one).
func (h HTTPRouteRef) Name() string {
	s := h.Object.ID() + " " + h.Field()
	if n := h.Route.GetName(); n != "" {
		s += " (" + n + ")"
	}
	return s
}

// HTTPRoutesTo returns the http routes that send traffic to a host FQDN,
// among the VirtualServices that declare that host (VirtualServicesFor):
// the in-mesh routes of a service. It costs one host lookup, so per-service
// checks may call it for every service. Routes that reach the host from
// VirtualServices for other hosts (e.g. an ingress VirtualService for
// api.example.com) are found by HTTPRoutesByDestination.
func HTTPRoutesTo(r Reader, fqdn string) []HTTPRouteRef {
	var out []HTTPRouteRef
	for _, o := range VirtualServicesFor(r, fqdn) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		for i, h := range vs.Spec.GetHttp() {
			if routesTo(h, o.Namespace, fqdn) {
				out = append(out, HTTPRouteRef{o, vs, i, h})
			}
		}
	}
	return out
}

func routesTo(h *networkingapi.HTTPRoute, ns, fqdn string) bool {
	for _, d := range h.GetRoute() {
		if snapshot.FQDN(d.GetDestination().GetHost(), ns) == fqdn {
			return true
		}
	}
	return false
}

// HTTPRoutesByDestination indexes every http route of every VirtualService
// by the FQDNs of its destinations (a route with two destinations is listed
// under both). Build it once per check, not per service: it reads every
// VirtualService. Reads VirtualService.
func HTTPRoutesByDestination(r Reader) map[string][]HTTPRouteRef {
	out := map[string][]HTTPRouteRef{}
	for _, o := range r.List(snapshot.VirtualService) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		for i, h := range vs.Spec.GetHttp() {
			seen := map[string]bool{}
			for _, d := range h.GetRoute() {
				f := snapshot.FQDN(d.GetDestination().GetHost(), o.Namespace)
				if f == "" || seen[f] {
					continue
				}
				seen[f] = true
				out[f] = append(out[f], HTTPRouteRef{o, vs, i, h})
			}
		}
	}
	return out
}

// GatewayRef resolves a VirtualService's gateway reference ("name",
// "ns/name" or "mesh") to "ns/name", or GatewayMesh.
func GatewayRef(ref, vsNamespace string) string {
	if ref == GatewayMesh {
		return GatewayMesh
	}
	if ns, name, ok := strings.Cut(ref, "/"); ok {
		if ns == "" || ns == "." {
			ns = vsNamespace
		}
		return ns + "/" + name
	}
	return vsNamespace + "/" + ref
}

// Gateways returns a VirtualService's resolved gateway references
// (GatewayRef); no spec.gateways means the mesh only.
func Gateways(vs *networkingv1.VirtualService, ns string) []string {
	gws := vs.Spec.GetGateways()
	if len(gws) == 0 {
		return []string{GatewayMesh}
	}
	out := make([]string, 0, len(gws))
	for _, g := range gws {
		out = append(out, GatewayRef(g, ns))
	}
	return out
}

// HostsIntersect reports whether two hosts, each possibly a wildcard
// ("*", "*.example.com"), can name the same host.
func HostsIntersect(a, b string) bool {
	if a == b || a == "*" || b == "*" {
		return true
	}
	aw, bw := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
	switch {
	case aw && bw:
		return strings.HasSuffix(a[1:], b[1:]) || strings.HasSuffix(b[1:], a[1:])
	case aw:
		return strings.HasSuffix(b, a[1:])
	case bw:
		return strings.HasSuffix(a, b[1:])
	}
	return false
}

// ServerHostAdmits reports whether a Gateway server host ("host",
// "ns/host", "./host" or "*/host"), on a Gateway in namespace gwNS, admits a
// VirtualService in namespace vsNS declaring host vsHost.
func ServerHostAdmits(serverHost, gwNS, vsNS, vsHost string) bool {
	ns, host, ok := strings.Cut(serverHost, "/")
	if !ok {
		ns, host = "*", serverHost
	}
	switch ns {
	case "*":
	case ".":
		if vsNS != gwNS {
			return false
		}
	default:
		if vsNS != ns {
			return false
		}
	}
	return HostsIntersect(host, vsHost)
}

// IsMatchAll reports whether an http route matches every request: no match
// conditions, or a match entry with no condition at all.
func IsMatchAll(h *networkingapi.HTTPRoute) bool {
	ms := h.GetMatch()
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		if m.GetUri() == nil && m.GetScheme() == nil && m.GetMethod() == nil && m.GetAuthority() == nil &&
			len(m.GetHeaders()) == 0 && m.GetPort() == 0 && len(m.GetSourceLabels()) == 0 &&
			len(m.GetGateways()) == 0 && len(m.GetQueryParams()) == 0 && len(m.GetWithoutHeaders()) == 0 &&
			m.GetSourceNamespace() == "" {
			return true
		}
	}
	return false
}

// ResolveShortName resolves a host written in namespace ns the way Istio
// does: a name without a dot is a Service of ns ("qwen-llm" ->
// "qwen-llm.<ns>.svc.cluster.local"); a name with a dot is taken as written
// ("huggingface.co" stays as is). Note that snapshot.FQDN, which keys the
// host index, also expands two- and three-label names ("a.b" ->
// "a.b.svc.cluster.local"): use this function to decide what a host means,
// and snapshot.FQDN to look it up with ByHost.
func ResolveShortName(host, ns string) string {
	if host == "" || host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + ".svc.cluster.local"
}

// ResolveDestination returns the Services and ServiceEntries a route
// destination or VirtualService host written in namespace ns names.
// Reads Service and ServiceEntry.
func ResolveDestination(r Reader, host, ns string) (svcs, entries []*snapshot.Object) {
	svcs = r.ByHost(snapshot.Service, snapshot.FQDN(host, ns))
	entries = r.ByHost(snapshot.ServiceEntry, ResolveShortName(host, ns))
	if len(entries) == 0 {
		if f := snapshot.FQDN(host, ns); f != ResolveShortName(host, ns) {
			entries = r.ByHost(snapshot.ServiceEntry, f)
		}
	}
	return svcs, entries
}
