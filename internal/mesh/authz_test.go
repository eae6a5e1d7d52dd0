package mesh_test

import (
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func loadRoutingAuthzMesh(t *testing.T, yaml string) *snapshot.Snapshot {
	t.Helper()
	objs, errs := loader.LoadBytes("test.yaml", []byte(yaml))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return snapshot.New(objs)
}

const authzMesh = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: istio-system}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: qwen-llm, namespace: ai}
spec:
  selector: {matchLabels: {app: qwen-llm}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/ai/sa/pbml-context"]}}]
    to: [{operation: {methods: [POST]}}]
  - from: [{source: {namespaces: ["monitoring"], notPrincipals: ["cluster.local/ns/monitoring/sa/untrusted"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-legacy, namespace: ai}
spec:
  action: DENY
  rules:
  - from: [{source: {serviceAccounts: ["legacy/old-client"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other, namespace: ai}
spec:
  selector: {matchLabels: {app: qdrant}}
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: by-target, namespace: ai}
spec:
  targetRefs: [{kind: Service, group: "", name: qwen-llm}]
  rules: [{}]
`

func TestPolicyIndexAndAllowsPeer(t *testing.T) {
	snap := loadRoutingAuthzMesh(t, authzMesh)
	ix := mesh.NewPolicyIndex(snap, snapshot.AuthorizationPolicy, "istio-system")
	pols := ix.For("ai", map[string]string{"app": "qwen-llm", "version": "v1"})
	var names []string
	for _, p := range pols {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	want := "ai/deny-legacy ai/qwen-llm istio-system/allow-nothing"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("For: got %s, want %s", got, want)
	}
	for _, tc := range []struct {
		peer    mesh.Peer
		allowed bool
	}{
		{mesh.PeerOf("", "ai", "pbml-context"), true},
		{mesh.PeerOf("", "ai", "qdrant"), false},
		{mesh.PeerOf("", "monitoring", "prometheus"), true},
		{mesh.PeerOf("", "monitoring", "untrusted"), false},
		{mesh.PeerOf("", "legacy", "old-client"), false},
	} {
		if d := mesh.AllowsPeer(pols, tc.peer); d.Allowed != tc.allowed {
			t.Errorf("%s: allowed=%v (%s), want %v", tc.peer.Principal, d.Allowed, d.Reason, tc.allowed)
		}
	}
	if wide := ix.NamespaceWide("istio-system"); len(wide) != 1 {
		t.Errorf("NamespaceWide(istio-system) = %d policies, want 1", len(wide))
	}
}

func TestMatchValue(t *testing.T) {
	for _, tc := range []struct {
		pattern, v string
		want       bool
	}{
		{"*", "x", true}, {"*", "", false}, {"cluster.local/ns/ai/*", "cluster.local/ns/ai/sa/a", true},
		{"*/sa/a", "cluster.local/ns/ai/sa/a", true}, {"a", "b", false}, {"a", "a", true},
	} {
		if got := mesh.MatchValue(tc.pattern, tc.v); got != tc.want {
			t.Errorf("MatchValue(%q, %q) = %v", tc.pattern, tc.v, got)
		}
	}
}

func TestParsePrincipal(t *testing.T) {
	td, ns, sa, ok := mesh.ParsePrincipal("cluster.local/ns/ai/sa/pbml-context")
	if !ok || td != "cluster.local" || ns != "ai" || sa != "pbml-context" {
		t.Errorf("got %s %s %s %v", td, ns, sa, ok)
	}
	if _, _, _, ok := mesh.ParsePrincipal("spiffe://cluster.local/ns/ai/sa/x"); ok {
		t.Error("a spiffe:// URI is not a principal")
	}
}

func TestWorkloadIndex(t *testing.T) {
	snap := loadRoutingAuthzMesh(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: qwen-llm, namespace: ai}
spec:
  selector: {matchLabels: {app: qwen-llm}}
  template: {metadata: {labels: {app: qwen-llm, version: v1}}, spec: {containers: [{name: a, image: a}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: qdrant, namespace: ai}
spec:
  selector: {matchLabels: {app: qdrant}}
  template: {metadata: {labels: {app: qdrant, version: v1}}, spec: {containers: [{name: a, image: a}]}}
`)
	ix := mesh.NewWorkloadIndex(snap)
	if got := ix.Select("ai", map[string]string{"version": "v1"}); len(got) != 2 {
		t.Errorf("version=v1: %d workloads, want 2", len(got))
	}
	if got := ix.Select("ai", map[string]string{"app": "qdrant", "version": "v1"}); len(got) != 1 || got[0].Object.Name != "qdrant" {
		t.Errorf("app=qdrant,version=v1: %v", got)
	}
	if got := ix.Select("other", map[string]string{"app": "qdrant"}); len(got) != 0 {
		t.Errorf("another namespace selected %d workloads", len(got))
	}
	if got := ix.Select("ai", nil); len(got) != 0 {
		t.Errorf("an empty selector selected %d workloads", len(got))
	}
}
