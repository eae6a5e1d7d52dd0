package rollback

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/export"
	"github.com/meshready/meshready/internal/testcluster"
)

// TestLivePlanMatchesFiles: the plan made from a real kube-apiserver
// holding DevMentor (read through the live source) is the plan made from
// its manifest files, but for where the state was read from.
func TestLivePlanMatchesFiles(t *testing.T) {
	c := testcluster.Start(t) // skips when the binaries are not built
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.InstallIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(devmentor, "[0-9]*.yaml"))
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
			if d.GroupVersionKind().Group != "monitoring.coreos.com" { // no such CRDs here; the plan does not read them
				objs = append(objs, d)
			}
		}
		if err := c.Apply(ctx, objs...); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	cfg := loadConfig(t, filepath.Join(devmentor, config.FileName))
	res, err := cluster.Load(ctx, cluster.Options{Config: c.Config(), ContextName: "testcluster", Kinds: export.Kinds(),
		ControlPlaneNamespace: cfg.ControlPlaneNamespace, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	opts := PlanOptions{Config: cfg, ToVersion: "1.30.5"}
	live, err := BuildPlan(res.Snapshot(), opts)
	if err != nil {
		t.Fatal(err)
	}
	fromFiles, err := BuildPlan(load(t, devmentor), opts)
	if err != nil {
		t.Fatal(err)
	}
	l, f := render(t, live, "text"), render(t, fromFiles, "text")
	l = strings.Replace(l, "the live cluster (context testcluster)", "FILES", 1)
	f = strings.Replace(f, "the live cluster", "FILES", 1)
	l = strings.Replace(l, strings.Repeat("=", len("Rollback plan for the live cluster (context testcluster)")), strings.Repeat("=", len("Rollback plan for FILES")), 1)
	f = strings.Replace(f, strings.Repeat("=", len("Rollback plan for the live cluster")), strings.Repeat("=", len("Rollback plan for FILES")), 1)
	if l != f {
		wl, fl := strings.Split(l, "\n"), strings.Split(f, "\n")
		for i := range wl {
			if i >= len(fl) || wl[i] != fl[i] {
				t.Fatalf("live and file plans differ at line %d:\nlive  %q\nfiles %q", i+1, wl[i], fl[min(i, len(fl)-1)])
			}
		}
		t.Fatalf("live plan has %d lines, file plan %d", len(wl), len(fl))
	}
}
