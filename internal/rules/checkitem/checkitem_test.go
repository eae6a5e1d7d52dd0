package checkitem_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/rules"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/testcluster"
)

var checkTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const exampleDir = "../../../examples/devmentor"

// copyExample copies examples/devmentor into a temp dir, applying edits
// (file name -> old -> new) to show a defect.
func copyExample(t *testing.T, edits map[string][2]string) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir(exampleDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(exampleDir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if e, ok := edits[rel]; ok {
			if !strings.Contains(string(data), e[0]) {
				t.Fatalf("%s: %q not found", rel, e[0])
			}
			data = []byte(strings.Replace(string(data), e[0], e[1], 1))
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, dir string) (*config.Config, *snapshot.Snapshot) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	objs, errs, err := loader.Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kept []*snapshot.Object
	for _, o := range objs {
		if filepath.Base(o.Origin.File) != "attestations.yaml" && filepath.Base(o.Origin.File) != config.FileName {
			kept = append(kept, o)
		}
	}
	_ = errs // meshready.yaml and the attestation store are not manifests
	return cfg, snapshot.New(kept)
}

func itemByID(r *report.Report, id string) *report.Item {
	for i := range r.Items {
		if r.Items[i].ID == id {
			return &r.Items[i]
		}
	}
	return nil
}

// The example's rules pass; taking one route's timeout out fails its
// rule, on that VirtualService only, naming its file and line, and the
// blocker keeps the verdict from ready.
func TestDevmentorRulesPassAndAFailingOne(t *testing.T) {
	cfg, snap := load(t, exampleDir)
	rep := engine.Run(snap, engine.Options{Config: cfg, Items: checks.All(), Only: []string{"custom.*"}, Now: checkTime})
	if len(rep.Items) != 3 {
		t.Fatalf("%d custom items, want the example's 3", len(rep.Items))
	}
	for _, it := range rep.Items {
		if it.Status != report.Pass || it.Section != rules.Section || it.Kind != "config" {
			t.Errorf("%s: %s (section %q, kind %q)", it.ID, it.Status, it.Section, it.Kind)
		}
	}
	if rep.Verdict != report.Ready {
		t.Errorf("verdict %s with only passing custom items", rep.Verdict)
	}

	dir := copyExample(t, map[string][2]string{"50-traffic.yaml": {"    timeout: 120s\n    retries:\n      attempts: 2\n      perTryTimeout: 40s", "    retries:\n      attempts: 2\n      perTryTimeout: 40s"}})
	cfg, snap = load(t, dir)
	rep = engine.Run(snap, engine.Options{Config: cfg, Items: checks.All(), Only: []string{"custom"}, Now: checkTime})
	it := itemByID(rep, "custom.ai.route-timeouts")
	if it == nil || it.Status != report.Fail || it.Severity != report.Blocker {
		t.Fatalf("custom.ai.route-timeouts: %+v", it)
	}
	var failed []string
	for _, f := range it.Findings {
		if f.Status == report.Fail {
			failed = append(failed, f.Object.Name)
			if f.Object.Line != 18 || filepath.Base(f.Object.File) != "50-traffic.yaml" || f.Message != "routes without a timeout: qwen-llm-v1" || f.Remediation == "" {
				t.Errorf("finding %+v %+v", f, *f.Object)
			}
		} else if f.Status != report.Pass {
			t.Errorf("unexpected finding %+v", f)
		}
	}
	if strings.Join(failed, ",") != "qwen-llm" || len(it.Findings) != 4 {
		t.Errorf("failed %v of %d findings, want qwen-llm of 4", failed, len(it.Findings))
	}
	if rep.Verdict != report.NotReady || len(rep.Blocking) != 1 || rep.Blocking[0] != it.ID {
		t.Errorf("verdict %s blocking %v", rep.Verdict, rep.Blocking)
	}

	// A waiver on that object makes the item pass; --skip drops it.
	cfg.Waivers = []config.Waiver{{Item: "custom.ai.*", Object: "VirtualService/devmentor/qwen-llm", Reason: "r", By: "b", Expires: config.Date{Time: checkTime.Add(time.Hour)}}}
	rep = engine.Run(snap, engine.Options{Config: cfg, Items: checks.All(), Only: []string{"Custom rules"}, Now: checkTime})
	if it := itemByID(rep, "custom.ai.route-timeouts"); it == nil || it.Status != report.Pass || rep.Verdict != report.Ready {
		t.Errorf("waived: %+v, verdict %s", it, rep.Verdict)
	}
	rep = engine.Run(snap, engine.Options{Config: cfg, Items: checks.All(), Skip: []string{"custom.ai.route-timeouts"}, Now: checkTime})
	if itemByID(rep, "custom.ai.route-timeouts") != nil || itemByID(rep, "custom.workloads.resources") == nil {
		t.Error("--skip custom.ai.route-timeouts: wrong items")
	}
	// Custom items stand before the sign-offs, which approve them too.
	last := rep.Items[len(rep.Items)-1].ID
	if !strings.HasPrefix(last, "signoff.") {
		t.Errorf("last item %s, want a sign-off", last)
	}
}

func TestNoMatchingObjectIsNotApplicable(t *testing.T) {
	cfg, err := config.Parse([]byte(`apiVersion: meshready/v1
kind: Config
rules:
- id: ai.sidecars
  title: Sidecars in ai limit egress
  severity: minor
  match: {kinds: [Sidecar], namespaces: [ai], labelSelector: {matchLabels: {team: ai}}}
  expression: has(object.spec.outboundTrafficPolicy)
`))
	if err != nil {
		t.Fatal(err)
	}
	rep := engine.Run(snapshot.New(nil), engine.Options{Config: cfg, Only: []string{"custom.*"}, Now: checkTime})
	it := itemByID(rep, "custom.ai.sidecars")
	if it == nil || it.Status != report.NotApplicable || len(it.Findings) != 1 {
		t.Fatalf("%+v", it)
	}
	want := "no object matches: searched Sidecar.networking.istio.io in namespace(s) ai with labels matching team=ai"
	if it.Findings[0].Message != want {
		t.Errorf("message %q, want %q", it.Findings[0].Message, want)
	}
}

// An evaluation error on one object is that object's error finding; the
// item says error, the other objects are still judged.
func TestEvaluationErrorFinding(t *testing.T) {
	cfg, err := config.Parse([]byte(`apiVersion: meshready/v1
kind: Config
rules:
- id: vs-first-route-timeout
  title: First routes time out
  severity: major
  match: {kinds: [VirtualService]}
  expression: object.spec.http[0].timeout != ''
`))
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := loader.LoadBytes("vs.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: http, namespace: a}
spec: {hosts: [x], http: [{timeout: 1s, route: [{destination: {host: x}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp, namespace: a}
spec: {hosts: [y], tcp: [{route: [{destination: {host: y}}]}]}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rep := engine.Run(snapshot.New(objs), engine.Options{Config: cfg, Only: []string{"custom.*"}, Now: checkTime})
	it := itemByID(rep, "custom.vs-first-route-timeout")
	if it == nil || it.Status != report.Error || len(it.Findings) != 2 {
		t.Fatalf("%+v", it)
	}
	byName := map[string]report.Finding{}
	for _, f := range it.Findings {
		byName[f.Object.Name] = f
	}
	if f := byName["tcp"]; f.Status != report.Error || f.Object.Line != 6 || !strings.Contains(f.Message, "no such key") || !strings.Contains(f.Remediation, "has(") {
		t.Errorf("tcp: %+v", f)
	}
	if byName["http"].Status != report.Pass {
		t.Errorf("http: %+v", byName["http"])
	}
}

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// Live, the same rules run over the objects a real kube-apiserver serves
// (typed forms, as the API server returns them), with the same results.
func TestLiveRules(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.InstallIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	manifests := `apiVersion: v1
kind: Namespace
metadata: {name: rules-live, labels: {istio-injection: enabled}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: timed, namespace: rules-live}
spec: {hosts: [timed], http: [{name: main, timeout: 30s, route: [{destination: {host: timed}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: untimed, namespace: rules-live}
spec: {hosts: [untimed], http: [{name: main, route: [{destination: {host: untimed}}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: rules-live}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web, resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 64Mi}}}]
`
	if err := c.ApplyYAML(ctx, []byte(manifests)); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`apiVersion: meshready/v1
kind: Config
rules:
- id: routes-time-out
  title: Routes time out
  severity: blocker
  match: {kinds: [VirtualService], namespaces: [rules-live]}
  expression: "!has(object.spec.http) || object.spec.http.all(r, has(r.timeout))"
  messageExpression: "'routes without a timeout: ' + object.spec.http.filter(r, !has(r.timeout)).map(r, r.name).join(', ')"
- id: memory-limits
  title: Containers limit memory, in injected namespaces
  severity: major
  match: {kinds: [Deployment], namespaces: [rules-live]}
  expression: >-
    namespaceObject.metadata.labels['istio-injection'] == 'enabled' &&
    object.spec.replicas == 2 &&
    object.spec.template.spec.containers.all(c, has(c.resources.limits) && 'memory' in c.resources.limits)
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := cluster.Load(ctx, cluster.Options{Kubeconfig: c.Kubeconfig(), Kinds: append(rules.Kinds(cfg.Rules), snapshot.Namespace), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	live := res.Snapshot()
	live.Live = &res.Live
	files, errs := loader.LoadBytes("m.yaml", []byte(manifests))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for name, snap := range map[string]*snapshot.Snapshot{"live": live, "files": snapshot.New(files)} {
		rep := engine.Run(snap, engine.Options{Config: cfg, Only: []string{"custom.*"}, Now: checkTime})
		if it := itemByID(rep, "custom.memory-limits"); it == nil || it.Status != report.Pass {
			t.Errorf("%s: custom.memory-limits %+v", name, it)
		}
		it := itemByID(rep, "custom.routes-time-out")
		if it == nil || it.Status != report.Fail {
			t.Fatalf("%s: custom.routes-time-out %+v", name, it)
		}
		for _, f := range it.Findings {
			want := report.Pass
			if f.Object.Name == "untimed" {
				want = report.Fail
				if f.Message != "routes without a timeout: main" {
					t.Errorf("%s: message %q", name, f.Message)
				}
			}
			if f.Status != want {
				t.Errorf("%s: %s: %s %s", name, f.Object.Name, f.Status, f.Message)
			}
		}
	}
}
