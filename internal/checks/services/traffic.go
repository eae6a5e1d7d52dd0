package services

import (
	"fmt"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func traffic() *check.Check {
	return &check.Check{
		ID:    "service.S.traffic",
		Reads: reads([]string{snapshot.Service, snapshot.VirtualService, snapshot.DestinationRule}),
		Why: "A critical service needs its own VirtualService and DestinationRule so that its routing, " +
			"timeouts and connection policy are deliberate, not Istio's defaults. Istio sets no timeout on " +
			"HTTP routes by default: a hung call holds the caller's connection forever; a timeout shorter than " +
			"the service's slowest legitimate call (long LLM generations) cuts real requests off with 504s.",
		Fix: "Give the service a VirtualService for its host with an explicit timeout on every HTTP route " +
			"(at least the service's configured timeout), and exactly one DestinationRule for its host.",
		Docs:   "https://istio.io/latest/docs/concepts/traffic-management/#network-resilience-and-testing",
		Config: trafficConfig,
	}
}

func vsSnippet(s config.Service, timeout string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
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
    timeout: %s`, s.Name, s.Namespace, s.Host(), s.Host(), timeout)
}

func drSnippet(s config.Service) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %s
  namespace: %s
spec:
  host: %s
  trafficPolicy:
    connectionPool:
      http:
        http2MaxRequests: 100
        http1MaxPendingRequests: 50
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 30s
      baseEjectionTime: 30s`, s.Name, s.Namespace, s.Host())
}

// wantTimeout is the timeout to suggest in remediations.
func wantTimeout(s config.Service) string {
	if d := s.Timeout.D(); d > 0 {
		return yamlDur(d)
	}
	return "30s   # the longest a legitimate call to this service may take"
}

func trafficConfig(c *check.Context) {
	if !service(c) {
		return
	}
	s := *c.Service
	host := s.Host()
	svcObj, svc := mesh.ServiceOf(c, s)

	// VirtualService for the host, applying to mesh traffic.
	hostVS := c.ByHost(snapshot.VirtualService, host)
	meshVS := 0
	var gwOnly *snapshot.Object
	for _, o := range hostVS {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		if appliesToMesh(o, vs) {
			meshVS++
			c.Pass(o, "%s routes %s for in-mesh callers (hosts: %s)", o.ID(), host, strings.Join(vs.Spec.GetHosts(), ", "))
		} else {
			if gwOnly == nil {
				gwOnly = o
			}
			c.Pass(o, "%s routes %s at gateways %s only", o.ID(), host, strings.Join(vs.Spec.GetGateways(), ", "))
		}
	}
	switch {
	case len(hostVS) == 0:
		c.Fail(svcObj, "no VirtualService declares host %s: its routing and timeouts are Istio's defaults (no request timeout)", host).
			Field("spec.hosts").Got("no VirtualService for %s", host).Want("a VirtualService with hosts [%s]", host).
			Fix(vsSnippet(s, wantTimeout(s)))
	case meshVS == 0 && gwOnly != nil:
		c.Fail(gwOnly, "every VirtualService for %s is bound to gateways only: calls from inside the mesh get Istio's defaults (no request timeout)", host).
			Field("spec.gateways").Got("gateways: %s", strings.Join(gwOnly.Typed.(*networkingv1.VirtualService).Spec.GetGateways(), ", ")).Want("mesh among the gateways (or a separate VirtualService without gateways)").
			Fixf("spec:\n  gateways:\n%s\n  - mesh", gatewaysYAML(gwOnly))
	}

	// Exactly one DestinationRule for the host.
	drs := exactDestinationRules(c, host)
	switch len(drs) {
	case 0:
		if wild := hostDestinationRules(c, host); len(wild) > 0 {
			c.Fail(wild[0], "%s has no DestinationRule of its own: only the wildcard %s covers it", host, wild[0].ID()).
				Field("spec.host").Got("only a wildcard DestinationRule").Want("a DestinationRule with host %s", host).
				Fix(drSnippet(s))
		} else {
			c.Fail(svcObj, "no DestinationRule for %s: connection pool, load balancing and outlier detection are Istio's defaults (unlimited, no ejection)", host).
				Got("no DestinationRule for %s", host).Want("one DestinationRule with host %s", host).
				Fix(drSnippet(s))
		}
	case 1:
		c.Pass(drs[0], "%s is the one DestinationRule for %s", drs[0].ID(), host)
	default:
		ids := make([]string, len(drs))
		for i, o := range drs {
			ids[i] = o.ID()
		}
		for _, o := range drs[1:] {
			c.Fail(o, "%d DestinationRules name host %s (%s): Istio uses one per lookup namespace and silently ignores or merges the others", len(drs), host, strings.Join(ids, ", ")).
				Field("spec.host").Got("%d DestinationRules", len(drs)).Want("exactly one").
				Fixf("merge the trafficPolicy and subsets into %s, then: kubectl delete destinationrule -n %s %s", drs[0].ID(), o.Namespace, o.Name)
		}
	}

	// Timeouts on every HTTP route carrying traffic to S.
	if ok, protos := tcpOnly(svc); ok {
		c.Pass(svcObj, "%s serves only non-HTTP protocols (%s): HTTP route timeouts do not apply (connect and idle timeouts are the DestinationRule's connectionPool.tcp settings)", svcObj.ID(), strings.Join(protos, ", "))
		return
	}
	routes := serviceRoutes(c, s, hostVS)
	want := s.Timeout.D()
	if len(routes) == 0 {
		if l4 := l4Routes(hostVS); len(l4) > 0 {
			c.Warn(l4[0], "%s routes %s over TCP/TLS only: request timeouts do not apply to TCP routes", l4[0].ID(), host).
				Field("spec.tcp").Got("tcp/tls routes only").Want("http routes with a timeout, if %s speaks HTTP or gRPC", s.Name).
				Fixf("if the port speaks HTTP/gRPC, name it http-*/grpc-* on the Service and route it under spec.http with a timeout:\n%s", vsSnippet(s, wantTimeout(s)))
		} else if len(hostVS) > 0 {
			c.Fail(hostVS[0], "no HTTP route of %s sends traffic to %s", hostVS[0].ID(), host).Field("spec.http").
				Got("no http route").Want("an http route to %s with a timeout", host).Fix(vsSnippet(s, wantTimeout(s)))
		}
		return
	}
	for _, r := range routes {
		t := r.Route.GetTimeout()
		field := r.Field() + ".timeout"
		switch {
		case t == nil:
			c.Fail(r.Object, "%s sets no timeout: Istio's default for HTTP routes is none (disabled), so a hung call to %s is never cut off", r.Name(), s.Name).
				Field(field).Got("unset (Istio default: no timeout)").Want("%s", wantDesc(want)).
				Fixf("spec:\n  http:\n  - ...   # %s\n    timeout: %s", r.Field(), wantTimeout(s))
		case t.AsDuration() <= 0:
			c.Fail(r.Object, "%s sets timeout %s, which disables the timeout: a hung call to %s is never cut off", r.Name(), dur(t), s.Name).
				Field(field).Got("%s (disabled)", dur(t)).Want("%s", wantDesc(want)).
				Fixf("spec:\n  http:\n  - ...   # %s\n    timeout: %s", r.Field(), wantTimeout(s))
		case want > 0 && t.AsDuration() < want:
			c.Fail(r.Object, "%s times out after %s, shorter than the %s %s needs (criticalServices[].timeout): long calls are cut off with 504", r.Name(), dur(t), want, s.Name).
				Field(field).Got("%s", dur(t)).Want("≥ %s", want).
				Fixf("spec:\n  http:\n  - ...   # %s\n    timeout: %s", r.Field(), yamlDur(want))
		default:
			msg := fmt.Sprintf("%s times out after %s", r.Name(), dur(t))
			if want > 0 {
				msg += fmt.Sprintf(" (≥ the %s %s needs)", want, s.Name)
			}
			c.Pass(r.Object, "%s", msg).Field(field)
		}
	}
}

func wantDesc(want time.Duration) string {
	if want > 0 {
		return fmt.Sprintf("a timeout ≥ %s (criticalServices[].timeout)", want)
	}
	return "an explicit timeout (set criticalServices[].timeout in meshready.yaml to check its length)"
}

func gatewaysYAML(o *snapshot.Object) string {
	var b strings.Builder
	for i, g := range o.Typed.(*networkingv1.VirtualService).Spec.GetGateways() {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("  - " + g)
	}
	return b.String()
}
