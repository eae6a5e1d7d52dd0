package gateway

import (
	"fmt"
	"sort"
	"strings"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var egress = &check.Check{
	ID: "gateway.egress",
	Reads: reads(snapshot.ConfigMap, snapshot.Service, snapshot.VirtualService, snapshot.ServiceEntry,
		snapshot.Sidecar),
	Why: "With outboundTrafficPolicy REGISTRY_ONLY, or when external traffic is meant to leave through a dedicated " +
		"egress gateway (for auditing, fixed source IPs or network policy), that gateway must exist and actually be " +
		"on the route: a VirtualService pointing at a missing egress gateway drops the traffic, and an egress gateway " +
		"nothing routes through enforces nothing. A mesh that allows any outbound traffic and routes nothing via an " +
		"egress gateway does not need one.",
	Fix: "Deploy an egress gateway (helm install istio-egressgateway istio/gateway -n istio-system --set service.type=ClusterIP), " +
		"a Gateway selecting it, and VirtualServices routing each external host (ServiceEntry) mesh -> egress gateway -> host.",
	Docs:   "https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/",
	Config: egressConfig,
}

func egressConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	mc, err := mesh.LoadMeshConfig(c, cp)
	if err != nil {
		c.Error("cannot read the mesh config: %v", err)
		return
	}
	var reasons []string
	var reasonObj *snapshot.Object
	policy := "ALLOW_ANY (Istio's default: no mesh config in the input)"
	if mc != nil {
		policy = "ALLOW_ANY (mesh config " + mc.Object.Namespace + "/" + mc.Object.Name + ")"
		if p := mc.Config.GetOutboundTrafficPolicy(); p != nil && p.GetMode() == meshv1alpha1.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY {
			policy = "REGISTRY_ONLY (mesh config " + mc.Object.Namespace + "/" + mc.Object.Name + ")"
			reasons = append(reasons, "the mesh's outboundTrafficPolicy is REGISTRY_ONLY")
			reasonObj = mc.Object
		}
	}
	for _, o := range c.List(snapshot.Sidecar) {
		s, ok := o.Typed.(*networkingv1.Sidecar)
		if !ok {
			continue
		}
		if p := s.Spec.GetOutboundTrafficPolicy(); p != nil && p.GetMode() == networking.OutboundTrafficPolicy_REGISTRY_ONLY {
			reasons = append(reasons, fmt.Sprintf("Sidecar %s/%s sets outboundTrafficPolicy REGISTRY_ONLY", o.Namespace, o.Name))
			if reasonObj == nil {
				reasonObj = o
			}
		}
	}

	wls := mesh.GatewayWorkloads(c)
	gws := istioGateways(c, wls)
	var egressWls []mesh.GatewayWorkload
	egressHosts := map[string]*snapshot.Object{} // egress Service FQDN -> Service
	for _, w := range wls {
		if !w.Egress {
			continue
		}
		egressWls = append(egressWls, w)
		for _, so := range mesh.ServicesSelecting(c, w.Object.Namespace, w.Template.Labels) {
			egressHosts[so.Name+"."+so.Namespace+".svc.cluster.local"] = so
		}
	}
	egressGWs := map[string]istioGateway{} // "ns/name" -> egress Gateway
	for _, g := range gws {
		if g.egress {
			egressGWs[g.obj.Namespace+"/"+g.obj.Name] = g
		}
	}

	// VirtualServices that send traffic to an egress gateway (or try to).
	type via struct {
		vs   *snapshot.Object
		host string
	}
	var routes, dangling []via
	boundGWs := map[string][]*snapshot.Object{} // egress Gateway key -> VirtualServices bound to it
	vsByHost := map[string][]*snapshot.Object{} // external host -> VirtualServices bound to an egress Gateway
	for _, o := range c.List(snapshot.VirtualService) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		boundEgress := false
		for _, gref := range vs.Spec.GetGateways() {
			key := gref
			if !strings.Contains(gref, "/") {
				key = o.Namespace + "/" + gref
			}
			if _, ok := egressGWs[key]; ok {
				boundGWs[key] = append(boundGWs[key], o)
				boundEgress = true
			}
		}
		if boundEgress {
			for _, h := range vs.Spec.GetHosts() {
				vsByHost[h] = append(vsByHost[h], o)
			}
		}
		seenHost := map[string]bool{}
		for _, h := range destinationHosts(vs) {
			fq := snapshot.FQDN(h, o.Namespace)
			if seenHost[fq] {
				continue
			}
			seenHost[fq] = true
			if _, ok := egressHosts[fq]; ok {
				routes = append(routes, via{o, fq})
			} else if strings.Contains(h, "egressgateway") {
				dangling = append(dangling, via{o, fq})
			}
		}
	}
	for _, r := range routes {
		reasons = append(reasons, fmt.Sprintf("VirtualService %s/%s routes to egress gateway %s", r.vs.Namespace, r.vs.Name, r.host))
	}
	for _, d := range dangling {
		reasons = append(reasons, fmt.Sprintf("VirtualService %s/%s routes to %s", d.vs.Namespace, d.vs.Name, d.host))
	}

	if len(reasons) == 0 {
		extra := ""
		if len(egressWls) > 0 {
			extra = fmt.Sprintf(" (egress gateway %s is deployed but nothing routes through it)", wref(egressWls[0].Workload))
		}
		c.NotApplicable("no egress gateway is needed: outbound traffic policy is %s, no Sidecar restricts outbound traffic, and no VirtualService routes through an egress gateway%s", policy, extra)
		return
	}
	why := strings.Join(reasons, "; ")

	for _, d := range dangling {
		c.Fail(d.vs, "VirtualService %s/%s routes to %s, but no Service of an egress gateway has that name: the traffic is dropped", d.vs.Namespace, d.vs.Name, d.host).
			Field("spec.*.route[].destination.host").Got("%s", d.host).Want("the Service of a deployed egress gateway").
			Fix("helm install istio-egressgateway istio/gateway -n istio-system --set service.type=ClusterIP --wait\n# or fix the destination host: kubectl get svc -A -l istio=egressgateway")
	}
	if len(egressWls) == 0 {
		if reasonObj == nil && len(dangling) > 0 {
			return // the dangling routes above name the objects
		}
		c.Fail(reasonObj, "an egress gateway is needed (%s), but none is deployed", why).
			Want("an egress gateway Deployment (label istio=egressgateway) with a Service").
			Fix("helm install istio-egressgateway istio/gateway -n istio-system --set service.type=ClusterIP --set labels.istio=egressgateway --wait")
		return
	}

	for _, w := range egressWls {
		ok := true
		svcs := mesh.ServicesSelecting(c, w.Object.Namespace, w.Template.Labels)
		if len(svcs) == 0 {
			ok = false
			c.Fail(w.Object, "egress gateway %s has no Service: sidecars cannot route to it", wref(w.Workload)).
				Want("a ClusterIP Service in %s selecting %s", w.Object.Namespace, labelString(gatewayIdentity(w.Template.Labels))).
				Fixf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  selector:\n%s  ports:\n  - {name: http2, port: 80}\n  - {name: https, port: 443}", w.Object.Name, w.Object.Namespace, matchLabelsYAML(gatewayIdentity(w.Template.Labels), "    "))
		}
		var gwFor []string
		var routed []string
		for _, key := range sortedGatewayKeys(egressGWs) {
			g := egressGWs[key]
			for _, s := range g.selected {
				if s.Object == w.Object {
					gwFor = append(gwFor, key)
					for _, vs := range boundGWs[key] {
						routed = append(routed, vs.Namespace+"/"+vs.Name)
					}
				}
			}
		}
		switch {
		case len(gwFor) == 0:
			ok = false
			c.Fail(w.Object, "egress gateway %s is needed (%s) but no Gateway selects it: it carries no external traffic", wref(w.Workload), why).
				Want("a Gateway selecting %s", labelString(gatewayIdentity(w.Template.Labels))).
				Fixf("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: egress\n  namespace: %s\nspec:\n  selector:\n%s  servers:\n  - port: {number: 443, name: tls, protocol: TLS}\n    hosts: [\"*\"]\n    tls: {mode: PASSTHROUGH}", w.Object.Namespace, matchLabelsYAML(gatewayIdentity(w.Template.Labels), "    "))
		case len(routed) == 0:
			ok = false
			g := egressGWs[gwFor[0]]
			c.Fail(g.obj, "egress Gateway %s selects %s, but no VirtualService binds it: no external traffic is routed through the egress gateway", gwFor[0], wref(w.Workload)).
				Want("a VirtualService with gateways [mesh, %s] routing external hosts through it", g.obj.Name).
				Fixf("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: via-egress\nspec:\n  hosts: [api.example.com]\n  gateways: [mesh, %s/%s]\n  tls:\n  - match: [{gateways: [mesh], port: 443, sniHosts: [api.example.com]}]\n    route: [{destination: {host: %s.%s.svc.cluster.local, port: {number: 443}}}]\n  - match: [{gateways: [%[1]s/%[2]s], port: 443, sniHosts: [api.example.com]}]\n    route: [{destination: {host: api.example.com, port: {number: 443}}}]",
					g.obj.Namespace, g.obj.Name, firstName(svcs, w.Object.Name), w.Object.Namespace)
		}
		if ok {
			c.Pass(w.Object, "egress gateway %s is needed (%s), has Service %s, is selected by Gateway %s and used by VirtualService %s",
				wref(w.Workload), why, svcs[0].Name, strings.Join(gwFor, ", "), strings.Join(routed, ", "))
		}
	}

	// External hosts that bypass the egress gateway.
	for _, o := range c.List(snapshot.ServiceEntry) {
		se, ok := o.Typed.(*networkingv1.ServiceEntry)
		if !ok || se.Spec.GetLocation() != networking.ServiceEntry_MESH_EXTERNAL {
			continue
		}
		for _, h := range se.Spec.GetHosts() {
			if len(vsByHost[h]) == 0 {
				c.Warn(o, "external host %s (ServiceEntry %s/%s) is not routed through the egress gateway: sidecars reach it directly", h, o.Namespace, o.Name).
					Field("spec.hosts").Got("%s", h).Want("a VirtualService for %s bound to the egress Gateway", h).
					Fixf("Add a VirtualService for %s with gateways [mesh, <egress-gateway>] (see %s)", h, "https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/")
			}
		}
	}
}

func destinationHosts(vs *networkingv1.VirtualService) []string {
	var out []string
	for _, r := range vs.Spec.GetHttp() {
		for _, d := range r.GetRoute() {
			out = append(out, d.GetDestination().GetHost())
		}
	}
	for _, r := range vs.Spec.GetTcp() {
		for _, d := range r.GetRoute() {
			out = append(out, d.GetDestination().GetHost())
		}
	}
	for _, r := range vs.Spec.GetTls() {
		for _, d := range r.GetRoute() {
			out = append(out, d.GetDestination().GetHost())
		}
	}
	return out
}

func sortedGatewayKeys(m map[string]istioGateway) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstName(objs []*snapshot.Object, def string) string {
	if len(objs) > 0 {
		return objs[0].Name
	}
	return def
}
