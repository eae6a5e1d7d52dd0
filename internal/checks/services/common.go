package services

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// workloadReads are the kinds backingWorkloads reads.
var workloadReads = append([]string{snapshot.Service}, mesh.WorkloadKinds...)

func reads(kinds ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ks := range kinds {
		for _, k := range ks {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// serviceAccount is the account a pod template runs as (the API server's default: "default").
func serviceAccount(t *corev1.PodTemplateSpec) string {
	if sa := t.Spec.ServiceAccountName; sa != "" {
		return sa
	}
	if sa := t.Spec.DeprecatedServiceAccount; sa != "" {
		return sa
	}
	return "default"
}

// targetPort resolves a Service port to the container port number it
// reaches in a pod template: ok is false when a named targetPort names no
// container port there.
func targetPort(p corev1.ServicePort, t *corev1.PodTemplateSpec) (int32, bool) {
	tp := p.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, ct := range t.Spec.Containers {
			for _, cp := range ct.Ports {
				if cp.Name == tp.StrVal {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, true
	}
	return p.Port, true // targetPort defaults to port
}

// targetPortString prints a Service port's targetPort as written (or defaulted).
func targetPortString(p corev1.ServicePort) string {
	if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" {
		return p.TargetPort.StrVal
	}
	if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal != 0 {
		return fmt.Sprint(p.TargetPort.IntVal)
	}
	return fmt.Sprint(p.Port)
}

// portLabel names a Service port in messages.
func portLabel(p corev1.ServicePort) string {
	if p.Name != "" {
		return fmt.Sprintf("%d (%s)", p.Port, p.Name)
	}
	return fmt.Sprint(p.Port)
}

// workloadTargetPorts returns the container ports a workload serves the
// Service on (those that resolve), sorted and deduplicated.
func workloadTargetPorts(svc *corev1.Service, t *corev1.PodTemplateSpec) []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	for _, p := range svc.Spec.Ports {
		if n, ok := targetPort(p, t); ok && !seen[uint32(n)] {
			seen[uint32(n)] = true
			out = append(out, uint32(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// selectorYAML renders matchLabels as YAML lines indented by ind spaces.
func selectorYAML(sel map[string]string, ind int) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%s: %s\n", strings.Repeat(" ", ind), k, sel[k])
	}
	return strings.TrimRight(b.String(), "\n")
}

func labelsString(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return strings.Join(parts, ",")
}

// dur prints a protobuf duration ("" for nil).
func dur(d *durationpb.Duration) string {
	if d == nil {
		return ""
	}
	return d.AsDuration().String()
}

// yamlDur prints a duration the way one writes it in YAML ("120s", "1.5s").
func yamlDur(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%gs", d.Seconds())
}

// ---- routes -------------------------------------------------------------

// snapCache holds one value derived from one kind's objects of the current
// snapshot. Per-service Funcs run once per critical service; what they
// derive from every object of a kind (a route index, a policy index) is built
// once per snapshot instead of once per service. The key is the kind's
// first object (objects belong to one snapshot), its length and an extra key.
type snapCache[T any] struct {
	mu  sync.Mutex
	ids []listID
	key string
	v   T
	ok  bool
}

type listID struct {
	first *snapshot.Object
	n     int
}

func (sc *snapCache[T]) get(list []*snapshot.Object, key string, build func() T) T {
	return sc.getMulti([][]*snapshot.Object{list}, key, build)
}

// getMulti is get for a value derived from several kinds.
func (sc *snapCache[T]) getMulti(lists [][]*snapshot.Object, key string, build func() T) T {
	ids := make([]listID, len(lists))
	empty := true
	for i, l := range lists {
		if len(l) > 0 {
			ids[i], empty = listID{l[0], len(l)}, false
		}
	}
	if empty {
		return build()
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.ok && sc.key == key && equalIDs(sc.ids, ids) {
		return sc.v
	}
	sc.v, sc.ids, sc.key, sc.ok = build(), ids, key, true
	return sc.v
}

func equalIDs(a, b []listID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var workloadCache snapCache[*mesh.WorkloadIndex]

// workloadIndex is mesh.NewWorkloadIndex, built once per snapshot.
func workloadIndex(c *check.Context) *mesh.WorkloadIndex {
	lists := make([][]*snapshot.Object, len(mesh.WorkloadKinds))
	for i, k := range mesh.WorkloadKinds {
		lists[i] = c.List(k)
	}
	return workloadCache.getMulti(lists, "", func() *mesh.WorkloadIndex { return mesh.NewWorkloadIndex(c) })
}

// backingWorkloads returns the workloads a critical service's Service
// selects (as mesh.BackingWorkloads, through the per-snapshot index).
func backingWorkloads(c *check.Context, s config.Service) []mesh.Workload {
	_, svc := mesh.ServiceOf(c, s)
	if svc == nil {
		return nil
	}
	return workloadIndex(c).Select(s.Namespace, svc.Spec.Selector)
}

var routeCache snapCache[map[string][]mesh.HTTPRouteRef]

// routesByDestination is mesh.HTTPRoutesByDestination, built once per snapshot.
func routesByDestination(c *check.Context) map[string][]mesh.HTTPRouteRef {
	return routeCache.get(c.List(snapshot.VirtualService), "", func() map[string][]mesh.HTTPRouteRef {
		return mesh.HTTPRoutesByDestination(c)
	})
}

// authzIndex holds the AuthorizationPolicies by the workloads they select
// (mesh.PolicyIndex) and, per namespace, those bound by targetRef(s).
type authzIndex struct {
	pix       *mesh.PolicyIndex
	targetRef map[string][]policy
}

var authzCache snapCache[*authzIndex]

// authzPolicies returns the AuthorizationPolicy index, built once per snapshot.
func authzPolicies(c *check.Context) *authzIndex {
	root := c.Config.RootNamespace
	list := c.List(snapshot.AuthorizationPolicy)
	return authzCache.get(list, root, func() *authzIndex {
		ix := &authzIndex{pix: mesh.NewPolicyIndex(c, snapshot.AuthorizationPolicy, root), targetRef: map[string][]policy{}}
		for _, o := range list {
			if ap, ok := o.Typed.(*securityv1.AuthorizationPolicy); ok {
				if p := (policy{o, ap}); p.hasTargetRef() {
					ix.targetRef[o.Namespace] = append(ix.targetRef[o.Namespace], p)
				}
			}
		}
		return ix
	})
}

// appliesToMesh reports whether a VirtualService applies to sidecars (no
// gateways, or "mesh" among them).
func appliesToMesh(o *snapshot.Object, vs *networkingv1.VirtualService) bool {
	for _, g := range mesh.Gateways(vs, o.Namespace) {
		if g == mesh.GatewayMesh {
			return true
		}
	}
	return false
}

// serviceRoutes returns the HTTP routes that carry traffic to s: every
// route of the VirtualServices that declare s's host (whatever their
// destination: traffic addressed to s goes there), with delegates followed,
// and every route elsewhere (gateway VirtualServices, delegates) whose
// destination is s. Redirects and direct responses are left out. Sorted by
// object then index; each route once.
func serviceRoutes(c *check.Context, s config.Service, hostVS []*snapshot.Object) []mesh.HTTPRouteRef {
	host := s.Host()
	type key struct {
		o *snapshot.Object
		i int
	}
	seen := map[key]bool{}
	var out []mesh.HTTPRouteRef
	add := func(r mesh.HTTPRouteRef) {
		k := key{r.Object, r.Index}
		if r.Route.GetRedirect() != nil || r.Route.GetDirectResponse() != nil || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, r)
	}
	for _, o := range hostVS {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		for i, h := range vs.Spec.GetHttp() {
			d := h.GetDelegate()
			if d == nil {
				add(mesh.HTTPRouteRef{Object: o, VS: vs, Index: i, Route: h})
				continue
			}
			ns := d.GetNamespace()
			if ns == "" {
				ns = o.Namespace
			}
			if dobj := c.Get(snapshot.VirtualService, ns, d.GetName()); dobj != nil {
				if dvs, ok := dobj.Typed.(*networkingv1.VirtualService); ok {
					for j, dh := range dvs.Spec.GetHttp() {
						add(mesh.HTTPRouteRef{Object: dobj, VS: dvs, Index: j, Route: dh})
					}
				}
			}
		}
	}
	for _, r := range routesByDestination(c)[host] {
		add(r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Object != out[j].Object {
			return out[i].Object.ID() < out[j].Object.ID()
		}
		return out[i].Index < out[j].Index
	})
	return out
}

// l4Routes returns the VirtualServices for host that route it over tcp/tls only.
func l4Routes(hostVS []*snapshot.Object) []*snapshot.Object {
	var out []*snapshot.Object
	for _, o := range hostVS {
		if vs, ok := o.Typed.(*networkingv1.VirtualService); ok && len(vs.Spec.GetHttp()) == 0 && (len(vs.Spec.GetTcp()) > 0 || len(vs.Spec.GetTls()) > 0) {
			out = append(out, o)
		}
	}
	return out
}

// ---- destination rules ---------------------------------------------------

// hostDestinationRules returns the DestinationRules whose host is s's host
// exactly or a wildcard covering it ("*.ns.svc.cluster.local", "*.svc.cluster.local",
// "*.cluster.local", "*.local", "*"), most specific first.
func hostDestinationRules(c *check.Context, host string) []*snapshot.Object {
	var out []*snapshot.Object
	seen := map[*snapshot.Object]bool{}
	add := func(list []*snapshot.Object) {
		for _, o := range list {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	add(c.ByHost(snapshot.DestinationRule, host))
	rest := host
	for {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		add(c.ByHost(snapshot.DestinationRule, "*."+rest))
	}
	add(c.ByHost(snapshot.DestinationRule, "*"))
	return out
}

// exactDestinationRules returns the DestinationRules naming exactly host.
func exactDestinationRules(c *check.Context, host string) []*snapshot.Object {
	var out []*snapshot.Object
	for _, o := range c.ByHost(snapshot.DestinationRule, host) {
		if dr, ok := o.Typed.(*networkingv1.DestinationRule); ok && snapshot.FQDN(dr.Spec.GetHost(), o.Namespace) == host {
			out = append(out, o)
		}
	}
	return out
}

// effectiveDestinationRule returns the DestinationRule a client in clientNS
// uses for host: Istio looks in the client's namespace, then the host's
// service namespace, then the config root namespace, and within one
// namespace takes the most specific host. nil when none applies.
func effectiveDestinationRule(c *check.Context, host, clientNS, serviceNS, rootNS string) *snapshot.Object {
	drs := hostDestinationRules(c, host) // most specific first
	for _, ns := range []string{clientNS, serviceNS, rootNS} {
		for _, o := range drs {
			if o.Namespace == ns {
				return o
			}
		}
	}
	return nil
}

// ---- trust domain --------------------------------------------------------

var tdCache snapCache[[]string]

// trustDomains returns the mesh trust domain and its aliases (default
// cluster.local), read from the mesh config when present; parsed once per snapshot.
func trustDomains(c *check.Context) []string {
	cpNS := c.Config.ControlPlaneNamespace
	return tdCache.get(c.InNamespace(snapshot.ConfigMap, cpNS), cpNS, func() []string {
		td := []string{mesh.DefaultTrustDomain}
		mc, err := mesh.LoadMeshConfig(c, cpNS)
		if err != nil || mc == nil || mc.Config == nil {
			return td
		}
		if t := mc.Config.GetTrustDomain(); t != "" {
			td[0] = t
		}
		for _, a := range mc.Config.GetTrustDomainAliases() {
			if a != td[0] {
				td = append(td, a)
			}
		}
		return td
	})
}

// tcpOnly reports whether every port of the Service explicitly carries a
// protocol Istio does not route as HTTP (tcp, tls, https passthrough,
// mongo, mysql, redis, udp), and lists them. HTTP request timeouts and
// retries do not apply to such a service. Unnamed ports may be sniffed as
// HTTP, so they do not count as TCP.
func tcpOnly(svc *corev1.Service) (bool, []string) {
	if svc == nil || len(svc.Spec.Ports) == 0 {
		return false, nil
	}
	var protos []string
	for _, p := range svc.Spec.Ports {
		proto, ok := portProtocol(p)
		if !ok {
			return false, nil
		}
		switch proto {
		case "HTTP", "HTTP2", "GRPC", "GRPC-Web":
			return false, nil
		}
		protos = append(protos, fmt.Sprintf("%d/%s", p.Port, proto))
	}
	return true, protos
}
