package policy

import (
	"fmt"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var virtualServices = &check.Check{
	ID:    "policy.virtual-services",
	Reads: []string{snapshot.Namespace, snapshot.Service, snapshot.ServiceEntry, snapshot.VirtualService, snapshot.Gateway},
	Why: "A VirtualService is where a service's timeouts, retries and traffic shifting live: a critical service without one " +
		"runs on Istio's defaults (no timeout, default retries), and a host exposed on a gateway without a bound VirtualService " +
		"answers 404. A VirtualService whose host resolves to nothing, or that names a gateway that does not exist, is silently ignored.",
	Fix: "Create a VirtualService for each critical service host and for each host a Gateway exposes (bound with spec.gateways), " +
		"with hosts that name an existing Service or ServiceEntry and gateways that exist; `istioctl analyze` reports the same references.",
	Docs:   "https://istio.io/latest/docs/reference/config/networking/virtual-service/",
	Config: checkVirtualServices,
}

func checkVirtualServices(c *check.Context) {
	for _, s := range mesh.CriticalOrReport(c) {
		svcObj, _ := serviceObject(c, s)
		if svcObj == nil {
			continue
		}
		vss := mesh.VirtualServicesFor(c, s.Host())
		if len(vss) == 0 {
			c.Fail(svcObj, "critical service %s has no VirtualService for host %s: its traffic runs on Istio's defaults (no route timeout, default retries)", s.Key(), s.Host()).
				Want("a VirtualService with %s in spec.hosts", s.Host()).
				Fixf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: %s
  namespace: %s
spec:
  hosts:
    - %s
  http:
    - route:
        - destination:
            host: %s
      timeout: 30s
      retries:
        attempts: 2
        perTryTimeout: 10s
        retryOn: connect-failure,refused-stream,unavailable,cancelled,503`, s.Name, s.Namespace, s.Host(), s.Host())
			continue
		}
		c.Pass(vss[0], "critical service %s is routed by %s", s.Key(), ids(vss))
	}

	// Index the VirtualServices by the gateways they bind to, once.
	byGateway := map[string][]*snapshot.Object{}
	for _, o := range c.List(snapshot.VirtualService) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		for _, g := range mesh.Gateways(vs, o.Namespace) {
			byGateway[g] = append(byGateway[g], o)
		}
	}
	for _, g := range c.List(snapshot.Gateway) {
		gw, ok := g.Typed.(*networkingv1.Gateway)
		if !ok {
			continue
		}
		bound := byGateway[g.Namespace+"/"+g.Name]
		for si, srv := range gw.Spec.GetServers() {
			if srv.GetTls().GetHttpsRedirect() || srv.GetTls().GetMode() == networkingapi.ServerTLSSettings_AUTO_PASSTHROUGH {
				continue // a redirect answers itself; AUTO_PASSTHROUGH routes by SNI without VirtualService
			}
			for hi, h := range srv.GetHosts() {
				if vsFor := admitting(bound, h, g.Namespace); vsFor != nil {
					c.Pass(vsFor, "host %s exposed on %s is bound by %s", h, g.ID(), vsFor.ID())
					continue
				}
				_, host, ok := strings.Cut(h, "/")
				if !ok {
					host = h
				}
				c.Fail(g, "host %s exposed on gateway %s (server %d, port %d) has no VirtualService bound to this gateway: requests for it get 404", h, g.ID(), si, srv.GetPort().GetNumber()).
					Field(fmt.Sprintf("spec.servers[%d].hosts[%d]", si, hi)).
					Want("a VirtualService with gateways: [%s/%s] and a host matching %s", g.Namespace, g.Name, h).
					Fixf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: <name>
  namespace: %s
spec:
  hosts:
    - %q
  gateways:
    - %s/%s
  http:
    - route:
        - destination:
            host: <service>.<namespace>.svc.cluster.local`, g.Namespace, strings.TrimPrefix(host, "*."), g.Namespace, g.Name)
			}
		}
	}

	// Every VirtualService: its gateways exist and its in-mesh hosts resolve.
	for _, o := range c.List(snapshot.VirtualService) {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		bad := false
		gws := mesh.Gateways(vs, o.Namespace)
		meshBound := false
		for i, ref := range gws {
			if ref == mesh.GatewayMesh {
				meshBound = true
				continue
			}
			ns, name, _ := strings.Cut(ref, "/")
			if c.Get(snapshot.Gateway, ns, name) == nil {
				bad = true
				c.Fail(o, "%s names gateway %s, which does not exist: the VirtualService is not applied there", o.ID(), ref).
					Field(fmt.Sprintf("spec.gateways[%d]", i)).Got("%s", vs.Spec.GetGateways()[i]).Want("an existing Gateway (networking.istio.io) %s", ref).
					Fixf("create Gateway %s, or correct spec.gateways[%d] of %s (form <namespace>/<name>); list them with: kubectl get gateways.networking.istio.io -A", ref, i, o.ID())
			}
		}
		var resolved, external []string
		for i, h := range vs.Spec.GetHosts() {
			if strings.HasPrefix(h, "*") {
				external = append(external, h)
				continue
			}
			f := mesh.ResolveShortName(h, o.Namespace)
			clusterLocal := strings.HasSuffix(f, ".svc.cluster.local")
			if svcs, ses := mesh.ResolveDestination(c, h, o.Namespace); len(svcs) > 0 || len(ses) > 0 {
				resolved = append(resolved, h)
				continue
			}
			if !clusterLocal && !(meshBound && len(gws) == 1) {
				external = append(external, h) // an external name served by a gateway need not be a Service
				continue
			}
			bad = true
			c.Fail(o, "host %q of %s resolves to no Service or ServiceEntry: its routes never apply", h, o.ID()).
				Field(fmt.Sprintf("spec.hosts[%d]", i)).Got("%s (%s)", h, f).Want("the name of an existing Service, or a host declared by a ServiceEntry").
				Fixf("correct spec.hosts[%d] of %s to an existing Service (kubectl get svc -A), or declare the host with a ServiceEntry", i, o.ID())
		}
		if !bad {
			var parts []string
			if len(resolved) > 0 {
				parts = append(parts, "hosts "+strings.Join(resolved, ", ")+" resolve to a Service or ServiceEntry")
			}
			if len(external) > 0 {
				parts = append(parts, "external hosts "+strings.Join(external, ", ")+" are served by its gateways")
			}
			var named []string
			for _, g := range gws {
				if g != mesh.GatewayMesh {
					named = append(named, g)
				}
			}
			if len(named) > 0 {
				parts = append(parts, "its gateways "+strings.Join(named, ", ")+" exist")
			}
			if meshBound {
				parts = append(parts, "bound to the mesh")
			}
			c.Pass(o, "%s: %s", o.ID(), strings.Join(parts, "; "))
		}
	}
}

// admitting returns the first VirtualService among bound that declares a
// host admitted by a Gateway server host.
func admitting(bound []*snapshot.Object, serverHost, gwNS string) *snapshot.Object {
	for _, o := range bound {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		for _, h := range vs.Spec.GetHosts() {
			if mesh.ServerHostAdmits(serverHost, gwNS, o.Namespace, h) {
				return o
			}
		}
	}
	return nil
}
