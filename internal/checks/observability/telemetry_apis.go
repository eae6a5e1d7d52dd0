package observability

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// grafanaTelemetry is telemetry.grafana with Grafana's API.
func grafanaTelemetry(c *check.Context) { GrafanaTelemetry(c) }

// GrafanaTelemetry checks, with Grafana's search API (--grafana), that the
// four Istio dashboards exist in Grafana, and returns Grafana's dashboards;
// ok is false when the API was not given or failed (reported as pending
// or error).
func GrafanaTelemetry(c *check.Context) (ds []telemetry.GrafanaDashboard, ok bool) {
	if !c.Telemetry.HasGrafana() {
		c.Pending("needs Grafana's API: pass --grafana URL (e.g. http://grafana.monitoring:3000; put user:password@ in it if Grafana needs a login)")
		return nil, false
	}
	ds, err := c.Telemetry.GrafanaDashboards(telCtx)
	if err != nil {
		meshtel.Error(c, err, "cannot list Grafana's dashboards")
		return nil, false
	}
	q := c.Telemetry.APIQuery("grafana", telemetry.GrafanaSearchCall, fmt.Sprintf("%d dashboards", len(ds)))
	for _, k := range mesh.IstioDashboards {
		var found *telemetry.GrafanaDashboard
		for i := range ds {
			if GrafanaKind(ds[i]) == k {
				found = &ds[i]
				break
			}
		}
		title := mesh.IstioDashboardTitles[k]
		if found == nil {
			c.Fail(nil, "Grafana has no %s: none of its %d dashboards is titled like it", title, len(ds)).
				Want("the Istio %s dashboard in Grafana", k).
				Fixf("import it: Grafana → Dashboards → New → Import, grafana.com ID %d, with the Prometheus data source; or provision it from a ConfigMap (see the config part)", grafanaComIDs[k]).
				Query(q)
			continue
		}
		where := "uid " + found.UID
		if found.FolderTitle != "" {
			where += ", folder " + found.FolderTitle
		}
		c.Pass(nil, "Grafana serves the %s: %q (%s)", title, found.Title, where).Query(q)
	}
	return ds, true
}

// GrafanaKind says which Istio dashboard a Grafana dashboard is ("" for none).
func GrafanaKind(d telemetry.GrafanaDashboard) string {
	return GrafanaView(d).IstioDashboardKind()
}

// GrafanaView wraps a Grafana search hit as a mesh.Dashboard (for its
// classification and name tokens).
func GrafanaView(d telemetry.GrafanaDashboard) mesh.Dashboard {
	return mesh.Dashboard{Object: &snapshot.Object{Kind: "GrafanaDashboard", Name: d.UID}, Title: d.Title, UID: d.UID, Text: strings.Join(d.Tags, " ")}
}

// maxTraceLookups bounds the per-service trace searches (the service list
// already shows which services report spans).
const maxTraceLookups = 20

// tracingTelemetry is telemetry.tracing with Jaeger's query API: every
// critical service reports spans (it is in /api/services) and has a recent
// trace (/api/traces?service=...).
func tracingTelemetry(c *check.Context) {
	if !c.Telemetry.HasJaeger() {
		c.Pending("needs Jaeger's query API: pass --jaeger URL (the query service, e.g. http://tracing.monitoring:16686)")
		return
	}
	cl := c.Telemetry
	names, err := cl.JaegerServices(telCtx)
	if err != nil {
		meshtel.Error(c, err, "cannot list the services Jaeger holds traces of")
		return
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	q := cl.APIQuery("jaeger", telemetry.JaegerServicesCall, fmt.Sprintf("%d services: %s", len(names), meshtel.List(sortedCopy(names), 10)))
	svcs := meshtel.Critical(c)
	if len(svcs) == 0 {
		c.NotApplicable("no critical services: none named in meshready.yaml and no Service in a mesh namespace")
		return
	}
	var listed []string
	lookups := 0
	for _, s := range svcs {
		cands := traceNames(c, s)
		name := ""
		for _, n := range cands {
			if have[n] {
				name = n
				break
			}
		}
		if name == "" {
			c.Fail(c.Get(snapshot.Service, s.Namespace, s.Name), "Jaeger holds no span from %s.%s: none of %s is among its %d services", s.Name, s.Namespace, quoteAll(cands), len(names)).
				Want("spans from %s", s.Name).
				Fixf("check that tracing reaches Jaeger: a Telemetry resource with a sampling rate above 0 for namespace %s, the mesh config's tracing provider pointing at the Jaeger collector, and requests to %s within Jaeger's retention; then: curl -s '%s/api/services'", s.Namespace, s.Name, "$JAEGER").
				Query(q)
			continue
		}
		if lookups >= maxTraceLookups {
			listed = append(listed, name)
			continue
		}
		lookups++
		traces, err := cl.JaegerTraces(telCtx, name, time.Hour, 1)
		if err != nil {
			meshtel.Error(c, err, "cannot search the traces of "+name)
			continue
		}
		tq := cl.APIQuery("jaeger", telemetry.JaegerTracesCall(name, time.Hour, 1), fmt.Sprintf("%d traces", len(traces)))
		if len(traces) == 0 {
			c.Warn(c.Get(snapshot.Service, s.Namespace, s.Name), "Jaeger knows %s but holds no trace of it from the last hour", name).
				Want("a recent trace").
				Fixf("send requests to %s and check the sampling rate (Telemetry randomSamplingPercentage); at a low rate and low traffic, no request may have been sampled", s.Name).
				Query(tq)
			continue
		}
		t := traces[0]
		c.Pass(c.Get(snapshot.Service, s.Namespace, s.Name), "%s reports traces: trace %s started %s, %d spans", name, t.TraceID, t.Start().Format(time.RFC3339), len(t.Spans)).Query(tq)
	}
	if len(listed) > 0 {
		c.Pass(nil, "%d more critical services report spans (in Jaeger's service list; their traces were not fetched): %s", len(listed), meshtel.List(listed, 10)).Query(q)
	}
}

// traceNames are the service names Istio reports a service's spans under:
// <canonical service>.<namespace>, where the canonical service is the
// pod's service.istio.io/canonical-name, app.kubernetes.io/name or app
// label, else the workload name; and the bare name.
func traceNames(c *check.Context, s config.Service) []string {
	var out []string
	add := func(n string) {
		if n != "" && !containsStr(out, n) {
			out = append(out, n)
		}
	}
	add(s.Name + "." + s.Namespace)
	for _, w := range mesh.BackingWorkloads(c, s) {
		l := w.Template.Labels
		for _, k := range []string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"} {
			if l[k] != "" {
				add(l[k] + "." + s.Namespace)
				break
			}
		}
		add(w.Object.Name + "." + s.Namespace)
	}
	add(s.Name)
	return out
}

func containsStr(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func quoteAll(xs []string) string {
	var out []string
	for _, x := range xs {
		out = append(out, fmt.Sprintf("%q", x))
	}
	return strings.Join(out, ", ")
}

func sortedCopy(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

// kialiTelemetry is telemetry.kiali with Kiali's API: /api/status says it
// runs and sees Prometheus (falls back to /healthz where /api/status is absent).
func kialiTelemetry(c *check.Context) {
	if !c.Telemetry.HasKiali() {
		c.Pending("needs Kiali's API: pass --kiali URL (e.g. http://kiali.istio-system:20001/kiali)")
		return
	}
	cl := c.Telemetry
	st, err := cl.KialiStatus(telCtx)
	if err != nil {
		te := telemetry.AsError(err)
		if te.Kind != telemetry.WrongURL {
			meshtel.Error(c, err, "cannot read Kiali's status")
			return
		}
		if herr := cl.KialiHealthz(telCtx); herr != nil {
			meshtel.Error(c, err, "cannot read Kiali's status")
			return
		}
		c.Warn(nil, "Kiali answers /healthz but not /api/status (%s): it runs, but which Prometheus it reads cannot be checked", te.Detail).
			Fix("pass the URL Kiali's UI is served under (its web_root, e.g. http://kiali:20001/kiali), so that <URL>/api/status answers").
			Query(cl.APIQuery("kiali", telemetry.KialiHealthzCall, "ok"))
		return
	}
	q := cl.APIQuery("kiali", telemetry.KialiStatusCall, fmt.Sprintf("state %q, version %q", st.State(), st.Version()))
	if state := st.State(); state != "" && !strings.EqualFold(state, "running") {
		c.Fail(nil, "Kiali %s reports state %q", st.Version(), state).Got("%s", state).Want("running").
			Fix("look at Kiali's logs: kubectl -n istio-system logs deploy/kiali").Query(q)
	} else {
		c.Pass(nil, "Kiali %s is running", st.Version()).Query(q)
	}
	var ext []string
	prom := false
	for _, e := range st.ExternalServices {
		ext = append(ext, strings.TrimSpace(e.Name+" "+e.Version))
		if strings.EqualFold(e.Name, "prometheus") {
			prom = true
		}
	}
	if prom {
		c.Pass(nil, "Kiali reaches its external services: %s", strings.Join(ext, ", ")).Query(q)
	} else {
		c.Fail(nil, "Kiali's status lists no Prometheus among its external services (%s): its graph and health have no data", strings.Join(ext, ", ")).
			Want("Prometheus among Kiali's external services").
			Fix("set external_services.prometheus.url in Kiali's configuration to the in-cluster Prometheus (e.g. http://prometheus.monitoring:9090) and restart Kiali").Query(q)
	}
	for _, w := range st.WarningMessages {
		c.Warn(nil, "Kiali warns: %s", w).Fix("follow Kiali's message (see its documentation for the setting it names)").Query(q)
	}
}
