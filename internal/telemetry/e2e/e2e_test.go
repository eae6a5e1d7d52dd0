// Package e2e runs the whole checklist (engine + every check) over the
// example mesh (examples/devmentor) with its telemetry in a real
// Prometheus (internal/telemetry/promtest) and loopback Grafana, Jaeger
// and Kiali servers that answer as their documented APIs do (those three
// are not packaged for Debian): healthy telemetry passes, each defect is
// caught by the item that owns it, and a Prometheus that is down, slow,
// behind a wrong URL, refusing credentials or failing a query makes the
// items that need it say error, within the timeout, while the rest still
// evaluates.
package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

var exampleDir = filepath.Join("..", "..", "..", "examples", "devmentor")

func loadExample(t testing.TB) (*snapshot.Snapshot, *config.Config) {
	t.Helper()
	objs, _, err := loader.Load([]string{exampleDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(exampleDir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return snapshot.New(objs), cfg
}

// exampleRules is the example's PrometheusRule as a Prometheus rule file;
// defective, the certificate-expiry alert is gone and the 5xx alert has no runbook.
func exampleRules(t testing.TB, defective bool) []byte {
	t.Helper()
	manifest, err := os.ReadFile(filepath.Join(exampleDir, "70-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := promtest.RuleFileFromPrometheusRule(manifest, func(g []map[string]any) []map[string]any {
		if !defective {
			return g
		}
		g = promtest.EditRule(g, "IstioCertificateExpiringSoon", func(map[string]any) bool { return false })
		return promtest.EditRule(g, "IstioHigh5xxRate", func(r map[string]any) bool {
			delete(r["annotations"].(map[string]any), "runbook_url")
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func run(t testing.TB, snap *snapshot.Snapshot, cfg *config.Config, cl *telemetry.Client) *report.Report {
	t.Helper()
	return engine.Run(snap, engine.Options{Config: cfg, Items: checks.All(), TelemetryClient: cl, Version: "test"})
}

// itemsOf returns the catalog items with these IDs.
func itemsOf(ids ...string) []check.Item {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []check.Item
	for _, it := range checks.All() {
		if want[it.Meta.ID] {
			out = append(out, it)
		}
	}
	return out
}

// telemetryItems are the items whose telemetry part meshready evaluates.
func telemetryItems() map[string]bool {
	out := map[string]bool{}
	for _, it := range checks.All() {
		if it.Check.Func(check.Telemetry) != nil {
			out[it.Meta.ID] = true
		}
	}
	return out
}

func part(it report.Item, p string) (report.PartResult, bool) {
	for _, pr := range it.Parts {
		if pr.Part == p {
			return pr, true
		}
	}
	return report.PartResult{}, false
}

func findings(it report.Item, p string) []report.Finding {
	var out []report.Finding
	for _, f := range it.Findings {
		if f.Part == p {
			out = append(out, f)
		}
	}
	return out
}

func describe(fs []report.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  [" + string(f.Status) + "] " + f.Message)
		if f.Query != nil {
			b.WriteString("\n      query: " + f.Query.Expr + " @ " + f.Query.Time + " = " + f.Query.Value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// telemetryStatuses maps item IDs (service.<name>.* expanded) to the status of their telemetry part.
func telemetryStatuses(r *report.Report) map[string]report.Item {
	out := map[string]report.Item{}
	for _, it := range r.Items {
		if _, ok := part(it, string(check.Telemetry)); ok {
			out[it.ID] = it
		}
	}
	return out
}

func startHealthy(t *testing.T) (*promtest.Server, *promtest.APIs) {
	s := promtest.Start(t, promtest.DevMentor(false), promtest.Options{Rules: exampleRules(t, false)})
	return s, promtest.StartAPIs(t, promtest.DevMentorAPIs(false))
}

func TestHealthyTelemetryPasses(t *testing.T) {
	s, apis := startHealthy(t)
	snap, cfg := loadExample(t)
	cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Grafana: apis.Grafana.URL, Jaeger: apis.Jaeger.URL, Kiali: apis.KialiURL(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := run(t, snap, cfg, cl)
	t.Logf("whole checklist with telemetry: %v, %d telemetry calls", time.Since(start), len(cl.Records()))
	mine := telemetryItems()
	// Evaluated without a recorded fault window or probe run: pending.
	wantPending := map[string]bool{"simulation.monitoring": true,
		"simulation.production-load": true, "simulation.failure-scenarios": true, "simulation.recovery": true}
	for id, it := range telemetryStatuses(r) {
		pr, _ := part(it, "telemetry")
		tmpl := id
		if it.Service != "" {
			tmpl = strings.Replace(id, "."+it.Service+".", ".S.", 1)
		}
		fs := findings(it, "telemetry")
		switch {
		case !mine[tmpl]:
			if pr.Status != report.Pending {
				t.Errorf("%s: telemetry part %s, want pending (not evaluated by this version)", id, pr.Status)
			}
		case wantPending[tmpl]:
			if pr.Status != report.Pending {
				t.Errorf("%s: telemetry part %s, want pending:\n%s", id, pr.Status, describe(fs))
			}
		case pr.Status != report.Pass && pr.Status != report.NotApplicable:
			t.Errorf("%s: telemetry part %s, want pass:\n%s", id, pr.Status, describe(fs))
		default:
			if testing.Verbose() {
				t.Logf("%s: %s\n%s", id, pr.Status, describe(fs))
			}
		}
		// Every piece of telemetry evidence names the query and its value.
		for _, f := range fs {
			if f.Status == report.Pass || f.Status == report.Fail || f.Status == report.Warn {
				if f.Query == nil && !strings.Contains(f.Message, "not judged") {
					t.Errorf("%s: finding without its query: %s", id, f.Message)
				} else if f.Query != nil && (f.Query.Expr == "" || f.Query.Time == "") {
					t.Errorf("%s: query without expression or time: %+v", id, f.Query)
				}
			}
		}
	}
	if r.Inputs.Prometheus != "" {
		t.Errorf("Inputs.Prometheus is the CLI's to set")
	}
}

// TestQueriesAreBatched: however many critical services, the per-service
// items share one query per family: no expression is sent twice.
func TestQueriesAreBatched(t *testing.T) {
	s, _ := startHealthy(t)
	snap, cfg := loadExample(t)
	cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	run(t, snap, cfg, cl)
	seen := map[string]int{}
	for _, rec := range cl.Records() {
		seen[rec.Call]++
		if rec.Err != "" {
			t.Errorf("%s: %s", rec.Call, rec.Err)
		}
	}
	for call, n := range seen {
		if n > 1 {
			t.Errorf("%q sent %d times", call, n)
		}
	}
	if len(seen) > 30 {
		t.Errorf("%d distinct calls for 3 critical services: %v", len(seen), seen)
	}
	t.Logf("%d calls for the whole checklist", len(seen))
}

func TestDefectiveTelemetryIsCaught(t *testing.T) {
	s := promtest.Start(t, promtest.DevMentor(true), promtest.Options{Rules: exampleRules(t, true), DeadProxyTargets: 1})
	apis := promtest.StartAPIs(t, promtest.DevMentorAPIs(true))
	snap, cfg := loadExample(t)
	cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Grafana: apis.Grafana.URL, Jaeger: apis.Jaeger.URL, Kiali: apis.KialiURL(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := telemetryStatuses(run(t, snap, cfg, cl))
	if testing.Verbose() {
		for id, it := range got {
			pr, _ := part(it, "telemetry")
			t.Logf("%s: %s\n%s", id, pr.Status, describe(findings(it, "telemetry")))
		}
	}
	for _, c := range []struct {
		id      string
		status  report.Status
		message string // a finding with that status says this
	}{
		{"telemetry.prometheus", report.Warn, "1 of 2 proxy targets are down"},
		{"metrics.service", report.Fail, "no istio_requests_total series for critical service qdrant.devmentor"},
		{"metrics.proxy", report.Fail, "no Envoy series (envoy_server_live) from the proxies of qdrant.devmentor"},
		{"metrics.custom", report.Fail, "adds tag request_host to REQUEST_COUNT, but no series"},
		{"logging.error-logs", report.Fail, "qwen-llm.devmentor answers 5xx to 5% of its requests"},
		{"security.monitoring", report.Fail, "traffic that is not mutual TLS: pbml-context.devmentor → qwen-llm.devmentor"},
		{"sectest.mtls-encryption", report.Fail, "of the mesh's requests over the last 5m used mutual TLS"},
		{"service.pbml-context.communication", report.Fail, "pbml-context → qwen-llm: only 66.7% of 5 req/s is mutual TLS"},
		{"service.pbml-context.communication", report.Warn, "pbml-context → qdrant not observed"},
		{"service.qdrant.monitoring", report.Fail, "no request, error or latency series for qdrant.devmentor"},
		{"ops.alert-rules", report.Fail, "no alert rule loaded in Prometheus covers certificate expiry"},
		{"ops.alert-rules", report.Warn, "alert IstioHigh5xxRate (group istio-data-plane (rules.yaml)) has no runbook_url"},
		{"perf.resource-overhead", report.Fail, "uses 150 MiB, above thresholds.proxyMemoryMiB (100 MiB)"},
		{"telemetry.grafana", report.Fail, "Grafana has no Istio Control Plane Dashboard"},
		{"ops.dashboards", report.Fail, "Grafana has no dashboard for critical service devmentor/qdrant"},
		{"telemetry.tracing", report.Fail, "Jaeger holds no span from qdrant.devmentor"},
		{"telemetry.kiali", report.Warn, "Kiali warns: Kiali could not connect"},
	} {
		it, ok := got[c.id]
		if !ok {
			t.Errorf("%s: no such item with a telemetry part", c.id)
			continue
		}
		pr, _ := part(it, "telemetry")
		fs := findings(it, "telemetry")
		want := c.status
		if want == report.Warn && pr.Status == report.Fail {
			want = report.Fail // a warn finding in a failing part
		}
		if pr.Status != want {
			t.Errorf("%s: telemetry part %s, want %s:\n%s", c.id, pr.Status, want, describe(fs))
		}
		found := false
		for _, f := range fs {
			if f.Status == c.status && strings.Contains(f.Message, c.message) {
				found = true
				if f.Remediation == "" {
					t.Errorf("%s: %q has no fix", c.id, f.Message)
				}
				if f.Query == nil || f.Query.Expr == "" || f.Query.Time == "" {
					t.Errorf("%s: %q has no query", c.id, f.Message)
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s finding says %q:\n%s", c.id, c.status, c.message, describe(fs))
		}
	}
	// Healthy parts stay healthy amid the defects.
	for _, id := range []string{"metrics.control-plane", "service.qwen-llm.monitoring", "service.pbml-context.monitoring"} {
		if pr, _ := part(got[id], "telemetry"); pr.Status != report.Pass {
			t.Errorf("%s: telemetry part %s, want pass:\n%s", id, pr.Status, describe(findings(got[id], "telemetry")))
		}
	}
}

// TestTelemetryPartsDeclareTheirReads: each telemetry Func reads only the
// kinds its check declares (the live source loads nothing else), with the
// strict default (no critical service named: every Service of a mesh
// namespace is critical, which reads Namespace and Service). Each Func runs
// on a fresh client, so no memoized answer hides a read.
func TestTelemetryPartsDeclareTheirReads(t *testing.T) {
	s, apis := startHealthy(t)
	snap, cfg := loadExample(t)
	strict := *cfg
	strict.CriticalServices = nil
	for _, it := range checks.All() {
		fn := it.Check.Func(check.Telemetry)
		if fn == nil {
			continue
		}
		cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL, Grafana: apis.Grafana.URL, Jaeger: apis.Jaeger.URL, Kiali: apis.KialiURL()})
		if err != nil {
			t.Fatal(err)
		}
		var svc *config.Service
		if it.PerService() {
			svc = &config.Service{Name: "pbml-context", Namespace: "devmentor", DependsOn: []string{"qwen-llm"}}
		}
		c := check.NewContext(snap, &strict, svc, it.Check.Reads, check.Telemetry, time.Now())
		c.ItemID = it.Meta.ID
		c.Telemetry = cl
		fn(c)
		if len(c.Undeclared) > 0 {
			t.Errorf("%s: telemetry part reads undeclared kinds %v", it.Meta.ID, c.Undeclared)
		}
	}
}
