package export

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/testcluster"
)

// TestLiveRoundTrip is the data-preservation step for real: DevMentor is
// applied to a real kube-apiserver (internal/testcluster), exported from it
// through the live source, the exported objects are deleted (and an
// injection label taken off), the export is applied back file by file in
// name order (what `kubectl apply -f DIR` does), and the cluster read again
// gives the same check results and the same export, byte for byte.
//
// Namespaces are not deleted: the test cluster runs no namespace
// controller, so a deleted namespace would stay Terminating; their labels
// are what the export restores. Objects are applied with server-side apply
// (testcluster.Apply), not kubectl's client-side apply.
func TestLiveRoundTrip(t *testing.T) {
	c := testcluster.Start(t) // skips when the binaries are not built
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := devmentorConfig(t)
	if err := c.InstallIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(devmentor, "[0-9]*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("manifests: %v %v", files, err)
	}
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
			if d.GroupVersionKind().Group == "monitoring.coreos.com" {
				continue // no Prometheus Operator CRDs in this cluster; not exported anyway
			}
			objs = append(objs, d)
		}
		if err := c.Apply(ctx, objs...); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}

	kinds := append([]string(nil), Kinds()...)
	for _, it := range checks.All() {
		kinds = append(kinds, it.Reads...)
	}
	load := func(what string) *snapshot.Snapshot {
		t.Helper()
		res, err := cluster.Load(ctx, cluster.Options{Config: c.Config(), ContextName: "testcluster", Kinds: kinds,
			ControlPlaneNamespace: cfg.ControlPlaneNamespace, Timeout: time.Minute})
		if err != nil {
			t.Fatalf("%s: live load: %v", what, err)
		}
		return res.Snapshot()
	}

	before := load("before")
	e1, err := Build(before, Options{Config: cfg, Raw: FileRaw()})
	if err != nil {
		t.Fatal(err)
	}
	if len(e1.Incomplete) > 0 {
		t.Fatalf("incomplete: %v", e1.Incomplete)
	}
	if e1.Count() < 40 {
		t.Fatalf("only %d objects exported from the cluster", e1.Count())
	}
	dir := filepath.Join(t.TempDir(), "export")
	if err := e1.Write(dir, false); err != nil {
		t.Fatal(err)
	}

	// Delete what was exported; take devmentor's injection label off.
	deleted := 0
	for _, o := range e1.Objects() {
		if o.Key == snapshot.Namespace {
			continue
		}
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Mapper().RESTMapping(schema.GroupKind{Group: gv.Group, Kind: o.Kind}, gv.Version)
		if err != nil {
			t.Fatalf("%s: %v", o.ID(), err)
		}
		ri := c.Dynamic().Resource(m.Resource)
		if o.Namespace != "" {
			err = ri.Namespace(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		} else {
			err = ri.Delete(ctx, o.Name, metav1.DeleteOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("delete %s: %v", o.ID(), err)
		}
		deleted++
	}
	ns, err := c.Clientset().CoreV1().Namespaces().Get(ctx, "devmentor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(ns.Labels, mesh.LabelInjection)
	if _, err := c.Clientset().CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	mid := load("after the delete")
	for _, o := range e1.Objects() {
		if o.Key != snapshot.Namespace && mid.Get(o.Key, o.Namespace, o.Name) != nil {
			t.Errorf("%s still there after the delete", o.ID())
		}
	}
	if differs(cfg, before, mid) == 0 {
		t.Errorf("deleting %d objects changed no check result: the comparison below proves nothing", deleted)
	}

	// Restore: the top-level files of the export in name order, as
	// kubectl apply -f DIR reads them (install/ is istioctl's).
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		if !en.IsDir() && strings.HasSuffix(en.Name(), ".yaml") {
			names = append(names, en.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ApplyYAML(ctx, data); err != nil {
			t.Fatalf("apply %s: %v", n, err)
		}
	}

	after := load("after the restore")
	compareChecks(t, "live: before the delete vs after the restore", cfg, before, after)
	for _, o := range e1.Objects() {
		a := after.Get(o.Key, o.Namespace, o.Name)
		if a == nil {
			t.Errorf("%s not restored", o.ID())
			continue
		}
		if a.Labels[mesh.LabelInjection] != o.Labels[mesh.LabelInjection] {
			t.Errorf("%s: injection label %q, was %q", o.ID(), a.Labels[mesh.LabelInjection], o.Labels[mesh.LabelInjection])
		}
	}
	// Exported again, the restored cluster gives the same files.
	e2, err := Build(after, Options{Config: cfg, Raw: FileRaw()})
	if err != nil {
		t.Fatal(err)
	}
	if len(e2.Files) != len(e1.Files) {
		t.Fatalf("%d files, then %d", len(e1.Files), len(e2.Files))
	}
	for i := range e1.Files {
		b1, err1 := Encode(e1.Files[i].Docs)
		b2, err2 := Encode(e2.Files[i].Docs)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if string(b1) != string(b2) {
			t.Errorf("%s differs after the round trip:\n%s", e1.Files[i].Name, lineDiff(string(b1), string(b2)))
		}
	}
	t.Logf("exported %d objects in %d files, deleted %d, restored; check results and export identical", e1.Count(), len(e1.Files), deleted)
}

// differs counts the items whose status differs between two snapshots.
func differs(cfg *config.Config, a, b *snapshot.Snapshot) int {
	ra := runChecks(cfg, a)
	rb := runChecks(cfg, b)
	n := 0
	for i := range ra.Items {
		if ra.Items[i].Status != rb.Items[i].Status {
			n++
		}
	}
	return n
}
