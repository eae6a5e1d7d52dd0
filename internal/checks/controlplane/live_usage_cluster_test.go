package controlplane_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/checks/checktest"
	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/cluster/kubesim"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
	"github.com/meshready/meshready/internal/testcluster"
)

// TestLiveResourcesUsageRealCluster reads istiod from a real kube-apiserver
// (the example's control plane, its pods made Running by kubesim, limited
// to 2 cores / 4Gi) and its usage from a real Prometheus: the pod at 90%
// of its memory limit fails, by name; its sibling at 30% is within.
func TestLiveResourcesUsageRealCluster(t *testing.T) {
	c := testcluster.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join("..", "..", "..", "examples", "devmentor")
	for _, f := range []string{"00-namespaces.yaml", "10-istio-control-plane.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ApplyYAML(ctx, data); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := kubesim.Run(ctx, c.Clientset(), kubesim.Options{Namespaces: []string{"istio-system"}}); err != nil {
		t.Fatal(err)
	}
	pods, err := c.Clientset().CoreV1().Pods("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if len(names) < 2 {
		t.Fatalf("kubesim made %d istiod pods, want at least 2: %v", len(names), names)
	}
	hot, calm := names[0], names[1:]
	series := istiodUsage(hot, 0.4, 0.9*4*gib)
	for _, n := range calm {
		series = append(series, istiodUsage(n, 0.3, 1.2*gib)...)
	}
	s := promtest.StartScenario(t, &promtest.Mesh{}, &promtest.Scenario{Series: series}, promtest.Options{})

	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var it check.Item
	for _, x := range checks.All() {
		if x.Meta.ID == "controlplane.resources" {
			it = x
		}
	}
	res, err := cluster.Load(ctx, cluster.Options{Kubeconfig: c.Kubeconfig(), Kinds: it.Reads, ControlPlaneNamespace: cfg.ControlPlaneNamespace, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cc := check.NewContext(res.Snapshot(), cfg, nil, it.Check.Reads, check.Live, checktest.Now)
	cc.ItemID = it.Meta.ID
	cc.Telemetry = cl
	it.Check.Live(cc)
	st, _, fs := cc.Result()
	if testing.Verbose() {
		t.Logf("findings:\n%s", checktest.Describe(fs))
	}
	if st != report.Fail {
		t.Fatalf("live part %s, want fail:\n%s", st, checktest.Describe(fs))
	}
	if !named(fs, report.Fail, "Pod/istio-system/"+hot) {
		t.Errorf("no fail finding names %s:\n%s", hot, checktest.Describe(fs))
	}
	for _, n := range calm {
		if named(fs, report.Fail, "Pod/istio-system/"+n) {
			t.Errorf("%s (30%% of its limit) failed:\n%s", n, checktest.Describe(fs))
		}
	}
	if !hasFinding(fs, report.Pass, calm[0]) {
		t.Errorf("no pass finding names the pods within their limits:\n%s", checktest.Describe(fs))
	}
}
