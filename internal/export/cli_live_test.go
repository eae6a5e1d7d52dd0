package export_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/testcluster"
)

// TestLiveCommands: `meshready export DIR` and `meshready rollback plan
// live` read a real kube-apiserver holding DevMentor through --kubeconfig.
func TestLiveCommands(t *testing.T) {
	c := testcluster.Start(t) // skips when the binaries are not built
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.InstallIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../examples/devmentor/[0-9]*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := testcluster.DecodeYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		var objs []runtime.Object
		for _, d := range docs {
			if d.GroupVersionKind().Group != "monitoring.coreos.com" {
				objs = append(objs, d)
			}
		}
		if err := c.Apply(ctx, objs...); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	cfg := "../../examples/devmentor/meshready.yaml"
	dir := filepath.Join(t.TempDir(), "mesh-export")
	code, out, errOut := run(t, "", "export", dir, "--kubeconfig", c.Kubeconfig(), "--config", cfg)
	if code != exitcode.Ready || !strings.Contains(out, "Exported 42 objects in 27 files") {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, "", "rollback", "plan", "live", "--kubeconfig", c.Kubeconfig(), "--config", cfg, "--export-dir", dir)
	if code != exitcode.Ready {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"Rollback plan for the live cluster (context ",
		"To:   Istio 1.31.4 (the version already running: only the configuration is rolled back)",
		"kubectl apply -f " + dir,
		"kubectl -n devmentor rollout restart deployment/pbml-context",
		"meshready check --kubeconfig " + c.Kubeconfig(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}
