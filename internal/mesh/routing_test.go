package mesh_test

import (
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func TestServerHostAdmits(t *testing.T) {
	for _, tc := range []struct {
		server, gwNS, vsNS, host string
		want                     bool
	}{
		{"api.example.com", "istio-ingress", "ai", "api.example.com", true},
		{"*.example.com", "istio-ingress", "ai", "api.example.com", true},
		{"ai/api.example.com", "istio-ingress", "ai", "api.example.com", true},
		{"ai/api.example.com", "istio-ingress", "web", "api.example.com", false},
		{"./api.example.com", "istio-ingress", "ai", "api.example.com", false},
		{"./api.example.com", "istio-ingress", "istio-ingress", "api.example.com", true},
		{"*/api.example.com", "istio-ingress", "web", "api.example.com", true},
		{"api.example.com", "istio-ingress", "ai", "api.example.org", false},
		{"*", "istio-ingress", "ai", "anything.example.org", true},
		{"api.example.com", "istio-ingress", "ai", "*.example.com", true},
	} {
		if got := mesh.ServerHostAdmits(tc.server, tc.gwNS, tc.vsNS, tc.host); got != tc.want {
			t.Errorf("ServerHostAdmits(%q, %s, %s, %q) = %v", tc.server, tc.gwNS, tc.vsNS, tc.host, got)
		}
	}
}

func TestResolveShortName(t *testing.T) {
	for in, want := range map[string]string{
		"qwen-llm":                      "qwen-llm.ai.svc.cluster.local",
		"huggingface.co":                "huggingface.co",
		"qwen-llm.ai.svc.cluster.local": "qwen-llm.ai.svc.cluster.local",
		"*":                             "*",
	} {
		if got := mesh.ResolveShortName(in, "ai"); got != want {
			t.Errorf("ResolveShortName(%q) = %q, want %q", in, got, want)
		}
	}
}

const routingMesh = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: qwen-llm, namespace: ai}
spec:
  hosts: [qwen-llm]
  http:
  - match: [{headers: {x-canary: {exact: "1"}}}]
    route: [{destination: {host: qwen-llm, subset: v2}}]
  - route:
    - {destination: {host: qwen-llm, subset: v1, port: {number: 8000}}, weight: 90}
    - {destination: {host: qwen-llm.ai.svc.cluster.local, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: ai}
spec:
  hosts: [api.example.com]
  gateways: [istio-ingress/public, mesh]
  http:
  - route: [{destination: {host: qwen-llm}}]
  tcp:
  - route: [{destination: {host: qdrant, port: {number: 6334}}}]
`

func TestRoutes(t *testing.T) {
	snap := loadRoutingAuthzMesh(t, routingMesh)
	host := "qwen-llm.ai.svc.cluster.local"
	if got := mesh.HTTPRoutesTo(snap, host); len(got) != 2 {
		t.Errorf("HTTPRoutesTo: %d routes, want 2 (the in-mesh VirtualService's)", len(got))
	}
	byDest := mesh.HTTPRoutesByDestination(snap)
	if got := byDest[host]; len(got) != 3 {
		t.Errorf("HTTPRoutesByDestination[%s]: %d routes, want 3", host, len(got))
	}
	api := snap.Get(snapshot.VirtualService, "ai", "api")
	vs := api.Typed.(*networkingv1.VirtualService)
	if got := strings.Join(mesh.Gateways(vs, "ai"), " "); got != "istio-ingress/public mesh" {
		t.Errorf("Gateways: %s", got)
	}
	ds := mesh.RouteDestinations(vs, "ai")
	if len(ds) != 2 || ds[1].Proto != "tcp" || ds[1].FQDN != "qdrant.ai.svc.cluster.local" || ds[1].Port != 6334 || ds[1].Field != "spec.tcp[0].route[0].destination" {
		t.Errorf("RouteDestinations: %+v", ds)
	}
	q := snap.Get(snapshot.VirtualService, "ai", "qwen-llm").Typed.(*networkingv1.VirtualService)
	if mesh.IsMatchAll(q.Spec.GetHttp()[0]) || !mesh.IsMatchAll(q.Spec.GetHttp()[1]) {
		t.Error("IsMatchAll: a header match is not a catch-all; a route without match is")
	}
}

func TestAlertRules(t *testing.T) {
	snap := loadRoutingAuthzMesh(t, `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: r, namespace: monitoring}
spec:
  groups:
  - name: g
    rules:
    - {record: "x:y", expr: "sum(x)"}
    - {alert: A, expr: "up == 0", for: 5m, labels: {severity: page}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rules, namespace: monitoring}
data:
  prometheus.yml: "global: {}"
  b.rules: |
    groups:
    - name: h
      rules:
      - alert: B
        expr: 1
`)
	rules := mesh.AlertRules(snap)
	if len(rules) != 2 {
		t.Fatalf("%d rules, want 2: %+v", len(rules), rules)
	}
	if r := rules[0]; r.Alert != "A" || r.Field != "spec.groups[0].rules[1]" || r.For != "5m" || r.Labels["severity"] != "page" {
		t.Errorf("PrometheusRule rule: %+v", r)
	}
	if r := rules[1]; r.Alert != "B" || r.Expr != "1" || r.Group != "h" || r.Field != "data[b.rules].groups[0].rules[0]" {
		t.Errorf("ConfigMap rule: %+v", r)
	}
}
