package rollback

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/export"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const devmentor = "../../examples/devmentor"

// load reads manifests; input errors of the non-manifest files beside them
// (meshready.yaml, attestations.yaml) are expected.
func load(t *testing.T, paths ...string) *snapshot.Snapshot {
	t.Helper()
	objs, errs, err := loader.Load(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if b := filepath.Base(e.File); b != config.FileName && b != "attestations.yaml" {
			t.Errorf("input error: %v", e)
		}
	}
	return snapshot.New(objs)
}

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func render(t *testing.T, p *Plan, format string) string {
	t.Helper()
	var b bytes.Buffer
	var err error
	if format == "markdown" {
		err = p.WriteMarkdown(&b)
	} else {
		err = p.WriteText(&b)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// testdata is absolute: a test may change directory.
var testdata, _ = filepath.Abs("testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(want) != got {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
		for i := 0; i < len(wl) || i < len(gl); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Fatalf("%s differs at line %d (go test -update rewrites it):\nwant %q\ngot  %q", p, i+1, w, g)
			}
		}
	}
}

// TestPlanDevmentor: the plan for the DevMentor mesh as it is, with no
// export at hand and the previous version unknown: one revision, so the
// previous version is reinstalled; every step derived from the manifests.
func TestPlanDevmentor(t *testing.T) {
	cfg := loadConfig(t, filepath.Join(devmentor, config.FileName))
	p, err := BuildPlan(load(t, devmentor), PlanOptions{Config: cfg, Inputs: []string{"examples/devmentor"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeReinstall {
		t.Errorf("mode %s", p.Mode)
	}
	text := render(t, p, "text")
	golden(t, "plan-devmentor.txt", text)
	golden(t, "plan-devmentor.md", render(t, p, "markdown"))

	// Derived, not hard-coded: the order of the restarts.
	order := []string{"rollout restart statefulset/qdrant", "rollout restart deployment/qwen-llm", "rollout restart deployment/pbml-context",
		"-n istio-egress rollout restart deployment/istio-egressgateway", "-n istio-ingress rollout restart deployment/istio-ingressgateway"}
	last := -1
	for _, s := range order {
		i := strings.Index(text, s)
		if i < 0 || i < last {
			t.Errorf("%q missing or out of order", s)
		}
		last = i
	}
	for _, want := range []string{
		`ISTIO_VERSION="${ISTIO_PREVIOUS_VERSION:?set ISTIO_PREVIOUS_VERSION`,
		"mesh-export/install/istiooperator-default.yaml --dry-run",
		"kubectl label namespace devmentor istio-injection=enabled --overwrite",
		"kubectl apply -f mesh-export",
		"kubectl -n istio-ingress get secret devmentor-tls",
		"rollout status deployment/qwen-llm --timeout=", // from its startup probe
		"meshready check examples/devmentor",
		`meshready rollback check --prometheus "$PROMETHEUS_URL"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
}

// TestPlanDevmentorWithExport: with the export taken before the change at
// hand, the plan reads the version to reinstall from it, deletes what was
// created since, and uses the export's install input.
func TestPlanDevmentorWithExport(t *testing.T) {
	cfg := loadConfig(t, filepath.Join(devmentor, config.FileName))
	srcDevmentor, _ := filepath.Abs(devmentor)
	srcDrift, _ := filepath.Abs("testdata/drift")
	// The known-good state: DevMentor exported, as if at Istio 1.30.5.
	e, err := export.Build(load(t, devmentor), export.Options{Config: cfg, Raw: export.FileRaw()})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Chdir(tmp)
	if err := e.Write("mesh-export", false); err != nil {
		t.Fatal(err)
	}
	cm := filepath.Join("mesh-export", export.FileName(snapshot.ConfigMap, "istio-system"))
	data, err := os.ReadFile(cm)
	if err != nil {
		t.Fatal(err)
	}
	older := strings.Replace(string(data), `"tag": "1.31.4"`, `"tag": "1.30.5"`, 1)
	if older == string(data) {
		t.Fatal("no injector tag to change in the export")
	}
	if err := os.WriteFile(cm, []byte(older), 0o644); err != nil {
		t.Fatal(err)
	}

	target := load(t, "mesh-export")
	current := load(t, srcDevmentor, srcDrift)
	p, err := BuildPlan(current, PlanOptions{Config: cfg, Inputs: []string{"examples/devmentor", "drift"}, ExportDir: "mesh-export", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	text := render(t, p, "text")
	golden(t, "plan-devmentor-export.txt", text)
	for _, want := range []string{
		`ISTIO_VERSION="1.30.5"`,
		`"istio-1.30.5/bin/istioctl" install -y -f mesh-export/install/istiooperator-default.yaml`,
		"kubectl -n devmentor delete virtualservices.networking.istio.io qwen-llm-experiment",
		"kubectl -n devmentor delete authorizationpolicies.security.istio.io debug-allow-all",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
	if strings.Contains(text, "ISTIO_PREVIOUS_VERSION") {
		t.Errorf("the version is known from the export, yet the plan asks for it")
	}
}

// TestPlanCanary: two revisions and revision tags: the tags move back,
// the namespace labelled with the new revision itself is relabelled, the
// namespace still on the old revision is not restarted, gateways last.
func TestPlanCanary(t *testing.T) {
	cfg := loadConfig(t, "testdata/canary/meshready.yaml")
	p, err := BuildPlan(load(t, "testdata/canary"), PlanOptions{Config: cfg, Inputs: []string{"testdata/canary"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeRevisions {
		t.Fatalf("mode %s", p.Mode)
	}
	text := render(t, p, "text")
	golden(t, "plan-canary.txt", text)
	for _, want := range []string{
		"istioctl tag set default --revision 1-30-5 --overwrite",
		"istioctl tag set prod-stable --revision 1-30-5 --overwrite",
		"kubectl label namespace payments istio.io/rev=1-30-5 --overwrite",
		"kubectl label namespace shop istio.io/rev=prod-stable --overwrite",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
	notes := strings.Join(p.Notes, "\n")
	for _, want := range []string{
		"Deployment/batch/etl is injected by revision 1-30-5, not 1-31-4: not restarted.",
		"istioctl uninstall --revision 1-31-4",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("the notes lack %q", want)
		}
	}
	order := []string{"-n legacy rollout restart deployment/reports", "-n payments rollout restart statefulset/ledger",
		"-n shop rollout restart deployment/cart", "-n shop rollout restart deployment/frontend", "-n istio-ingress rollout restart deployment/ingressgateway"}
	last := -1
	for _, s := range order {
		i := strings.Index(text, s)
		if i < 0 || i < last {
			t.Errorf("%q missing or out of order", s)
		}
		last = i
	}
	if strings.Contains(text, "deployment/etl") {
		t.Errorf("etl (already on 1-30-5) is restarted")
	}
}

func TestPlanToRevisionErrors(t *testing.T) {
	cfg := loadConfig(t, "testdata/canary/meshready.yaml")
	snap := load(t, "testdata/canary")
	if _, err := BuildPlan(snap, PlanOptions{Config: cfg, ToRevision: "1-29-0"}); err == nil || !strings.Contains(err.Error(), "revisions: 1-31-4, 1-30-5") {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := BuildPlan(snap, PlanOptions{Config: cfg, ToVersion: "1.29.1"}); err == nil {
		t.Errorf("a --to-version that no revision runs is accepted")
	}
	// A tag names the revision it points at.
	p, err := BuildPlan(snap, PlanOptions{Config: cfg, ToRevision: "1-30-5"})
	if err != nil || p.Mode != ModeRevisions {
		t.Errorf("--to-revision 1-30-5: %v", err)
	}
}

func TestRolloutTimeoutFromProbes(t *testing.T) {
	snap := load(t, devmentor)
	p, err := BuildPlan(snap, PlanOptions{Config: loadConfig(t, filepath.Join(devmentor, config.FileName))})
	if err != nil {
		t.Fatal(err)
	}
	text := render(t, p, "text")
	// qwen-llm: 2 replicas, maxSurge 1, maxUnavailable 0: 2 batches of
	// (150s grace + 900s startup probe + 30s readiness + 60s) = 38m.
	if !strings.Contains(text, "rollout status deployment/qwen-llm --timeout=38m") {
		t.Errorf("qwen-llm timeout not derived from its probes:\n%s", text)
	}
}

func TestDependencyOrder(t *testing.T) {
	list := []workload{{name: "a", deps: []string{"c"}}, {name: "b"}, {name: "c", deps: []string{"b"}}, {name: "d", deps: []string{"d"}}}
	var got []string
	for _, w := range dependencyOrder(list) {
		got = append(got, w.name)
	}
	if strings.Join(got, ",") != "b,c,a,d" {
		t.Errorf("order %v", got)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"examples/devmentor": "examples/devmentor", "my dir": "'my dir'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPlanHelm: istiod installed with Helm is rolled back with helm rollback
// (release and namespace from its annotations), the CNI chart with it.
func TestPlanHelm(t *testing.T) {
	objs, errs := loader.LoadBytes("helm.yaml", []byte(`apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: istio-system
  labels: {app: istiod, app.kubernetes.io/managed-by: Helm}
  annotations: {meta.helm.sh/release-name: istiod, meta.helm.sh/release-namespace: istio-system}
spec:
  template:
    metadata: {labels: {app: istiod}}
    spec:
      containers: [{name: discovery, image: docker.io/istio/pilot:1.31.4}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: istio-cni-node
  namespace: kube-system
  labels: {k8s-app: istio-cni-node}
  annotations: {meta.helm.sh/release-name: istio-cni, meta.helm.sh/release-namespace: kube-system}
spec:
  template:
    metadata: {labels: {k8s-app: istio-cni-node}}
    spec:
      containers: [{name: install-cni, image: docker.io/istio/install-cni:1.31.4}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example.com/web:1}]
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p, err := BuildPlan(snapshot.New(objs), PlanOptions{Config: config.Default(), Inputs: []string{"helm.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	text := render(t, p, "text")
	for _, want := range []string{
		"To:   the previous Helm release of istiod",
		"helm history istiod -n istio-system --max 5",
		"helm rollback istiod -n istio-system --wait --timeout 10m",
		"helm rollback istio-cni -n kube-system --wait --timeout 10m",
		"kubectl -n apps rollout restart deployment/web",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ISTIO_PREVIOUS_VERSION") || strings.Contains(text, "istioctl install") {
		t.Errorf("a Helm install is reinstalled with istioctl:\n%s", text)
	}
}
