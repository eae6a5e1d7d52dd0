package controlplane_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/checks/checktest"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

// The fixture's istiod pods are limited to 2 cores / 4Gi. Each case
// renames them to pods whose cAdvisor series (served to a real
// Prometheus) show the usage it names.
const (
	fixturePodA = "istiod-5d8f7c9b6-x7k2p"
	fixturePodB = "istiod-5d8f7c9b6-q9m4z"
	gib         = float64(1 << 30)
)

// istiodUsage is the discovery container's cAdvisor series of one pod.
func istiodUsage(pod string, cores, memBytes float64) []promtest.Series {
	lbl := []string{"namespace", "istio-system", "pod", pod, "container", "discovery"}
	return []promtest.Series{
		{Name: "container_cpu_usage_seconds_total", Labels: lbl, Steps: []promtest.Step{{Rate: cores}}},
		{Name: "container_memory_working_set_bytes", Labels: lbl, Value: memBytes},
	}
}

// liveUsageSnapshot is the live fixture with its two istiod pods renamed.
func liveUsageSnapshot(t *testing.T, podA, podB string) *checktest.Fixture {
	t.Helper()
	src := filepath.Join("testdata", "controlplane.resources", "pass.live-pods-carry-resources.yaml")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(fixturePodA, podA, fixturePodB, podB).Replace(string(data))
	dir := filepath.Join(t.TempDir(), "controlplane.resources")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pass.renamed.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	fx := checktest.Load(t, path)
	fx.Snap.Live = &snapshot.LiveInfo{Context: "fixture", ServerVersion: "v1.37.2"}
	return fx
}

func evalLiveResources(t *testing.T, fx *checktest.Fixture, cl *telemetry.Client) (report.Status, string, []report.Finding) {
	t.Helper()
	var it check.Item
	for _, x := range checks.All() {
		if x.Meta.ID == "controlplane.resources" {
			it = x
		}
	}
	c := check.NewContext(fx.Snap, fx.Config, nil, it.Check.Reads, check.Live, checktest.Now)
	c.ItemID = it.Meta.ID
	c.Telemetry = cl
	it.Check.Live(c)
	if len(c.Undeclared) > 0 {
		t.Errorf("undeclared reads: %v", c.Undeclared)
	}
	return c.Result()
}

// TestLiveResourcesUsage: with Prometheus, istiod's usage is compared with
// its limits: memory at 90% of the limit fails, CPU at 90% warns, usage
// well below passes, pods without series say error.
func TestLiveResourcesUsage(t *testing.T) {
	var series []promtest.Series
	series = append(series, istiodUsage("istiod-5d8f7c9b6-calm1", 0.3, 1.2*gib)...)
	series = append(series, istiodUsage("istiod-5d8f7c9b6-calm2", 0.2, 1.0*gib)...)
	series = append(series, istiodUsage("istiod-5d8f7c9b6-oom01", 0.3, 0.9*4*gib)...)
	series = append(series, istiodUsage("istiod-5d8f7c9b6-cpu01", 1.8, 1.0*gib)...)
	s := promtest.StartScenario(t, &promtest.Mesh{}, &promtest.Scenario{Series: series}, promtest.Options{})
	for _, c := range []struct {
		name       string
		podA, podB string
		want       report.Status
		says       string
		object     string
	}{
		{"usage well below the limits", "istiod-5d8f7c9b6-calm1", "istiod-5d8f7c9b6-calm2", report.Pass, "memory (peak working set over 5m) is below 80% of its limit", ""},
		{"istiod at 90% of its memory limit", "istiod-5d8f7c9b6-oom01", "istiod-5d8f7c9b6-calm2", report.Fail, "uses 90% of its 4 GiB memory limit", "Pod/istio-system/istiod-5d8f7c9b6-oom01"},
		{"istiod at 90% of its CPU limit", "istiod-5d8f7c9b6-cpu01", "istiod-5d8f7c9b6-calm2", report.Warn, "uses 90% of its 2-core CPU limit", "Pod/istio-system/istiod-5d8f7c9b6-cpu01"},
		{"no cAdvisor series", "istiod-5d8f7c9b6-gone1", "istiod-5d8f7c9b6-gone2", report.Error, "no cAdvisor series for istiod's discovery container", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := liveUsageSnapshot(t, c.podA, c.podB)
			cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			st, _, fs := evalLiveResources(t, fx, cl)
			if testing.Verbose() {
				t.Logf("findings:\n%s", checktest.Describe(fs))
			}
			if st != c.want {
				t.Fatalf("live part %s, want %s:\n%s", st, c.want, checktest.Describe(fs))
			}
			found := false
			for _, f := range fs {
				if f.Status != c.want || !strings.Contains(f.Message, c.says) {
					continue
				}
				found = true
				if c.object != "" && (f.Object == nil || f.Object.Kind+"/"+f.Object.Namespace+"/"+f.Object.Name != c.object) {
					t.Errorf("finding names %+v, want %s", f.Object, c.object)
				}
				if f.Query == nil || !strings.Contains(f.Query.Expr, `container="discovery"`) {
					t.Errorf("finding without its query: %+v", f.Query)
				}
				if c.want != report.Pass && f.Remediation == "" {
					t.Errorf("finding without a fix: %s", f.Message)
				}
			}
			if !found {
				t.Errorf("no %s finding says %q:\n%s", c.want, c.says, checktest.Describe(fs))
			}
			// The requests and limits are still checked beside the usage.
			if !hasFinding(fs, report.Pass, "carry requests") {
				t.Errorf("the requests/limits finding is missing:\n%s", checktest.Describe(fs))
			}
		})
	}
}

// TestLiveResourcesUsageWithoutPrometheus: the live part evaluates as
// before and says that usage was not checked; with Prometheus down it says
// error with the reason, the requests and limits still checked.
func TestLiveResourcesUsageWithoutPrometheus(t *testing.T) {
	fx := liveUsageSnapshot(t, fixturePodA, fixturePodB)
	st, summary, fs := evalLiveResources(t, fx, nil)
	if st != report.Pass || !hasFinding(fs, report.NotApplicable, "was not checked") || !strings.Contains(summary, "pass --prometheus") {
		t.Errorf("without Prometheus: %s (summary %q)\n%s", st, summary, checktest.Describe(fs))
	}
	// Port 1 on loopback: nothing listens there.
	cl, err := telemetry.New(telemetry.Options{Prometheus: "http://127.0.0.1:1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, _, fs = evalLiveResources(t, fx, cl)
	if st != report.Error || !hasFinding(fs, report.Pass, "carry requests") {
		t.Fatalf("Prometheus down: %s\n%s", st, checktest.Describe(fs))
	}
	for _, f := range fs {
		if f.Status == report.Error && (!strings.Contains(f.Message, "127.0.0.1:1") || f.Remediation == "") {
			t.Errorf("error without the reason or a fix: %s [fix: %s]", f.Message, f.Remediation)
		}
	}
}

func hasFinding(fs []report.Finding, st report.Status, text string) bool {
	for _, f := range fs {
		if f.Status == st && strings.Contains(f.Message, text) {
			return true
		}
	}
	return false
}
