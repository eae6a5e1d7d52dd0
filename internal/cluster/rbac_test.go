package cluster_test

import (
	"context"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/testcluster"
)

var update = flag.Bool("update", false, "rewrite the generated rules of deploy/rbac.yaml")

const (
	rbacPath   = "../../deploy/rbac.yaml"
	beginRules = "  # BEGIN generated rules"
	endRules   = "  # END generated rules"
)

// renderRules writes rules as deploy/rbac.yaml holds them.
func renderRules(rules []rbacv1.PolicyRule) string {
	q := func(list []string) string { return `["` + strings.Join(list, `", "`) + `"]` }
	var b strings.Builder
	for _, r := range rules {
		b.WriteString("  - apiGroups: " + q(r.APIGroups) + "\n")
		b.WriteString("    resources: " + q(r.Resources) + "\n")
		b.WriteString("    verbs: " + q(r.Verbs) + "\n")
	}
	return b.String()
}

// TestDeployRBAC keeps deploy/rbac.yaml's ClusterRole equal to the rules
// meshready needs for the kinds the registry's checks read. After a check
// reads a new kind: go test ./internal/cluster -run TestDeployRBAC -update
func TestDeployRBAC(t *testing.T) {
	want := cluster.RBACRules(registryKinds())
	data := rbacManifest(t)
	text := string(data)
	i, j := strings.Index(text, beginRules), strings.Index(text, endRules)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q markers", rbacPath, beginRules, endRules)
	}
	i += strings.Index(text[i:], "\n") + 1
	if *update {
		text = text[:i] + renderRules(want) + text[j:]
		if err := os.WriteFile(rbacPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		data = []byte(text)
	}
	objs, err := testcluster.DecodeYAML(data)
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		if u.GetKind() == "ClusterRole" {
			role = &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if role == nil {
		t.Fatalf("%s has no ClusterRole", rbacPath)
	}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("%s drifted from the checks' Reads; run go test ./internal/cluster -run TestDeployRBAC -update, or write:\n%s", rbacPath, renderRules(want))
	}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" {
				t.Errorf("rule %v grants %q: meshready is read-only", r, v)
			}
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		if kinds[k] != 1 {
			t.Errorf("%s: %d %s, want 1", rbacPath, kinds[k], k)
		}
	}
}

// TestDeployManifestsApply: deploy/'s manifests are valid for the API
// server (nothing runs them: the test cluster has no controllers).
func TestDeployManifestsApply(t *testing.T) {
	c := devmentorCluster(t)
	ctx := context.Background()
	for _, f := range []string{rbacPath, "../../deploy/job.yaml", "../../deploy/cronjob.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ApplyYAML(ctx, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
