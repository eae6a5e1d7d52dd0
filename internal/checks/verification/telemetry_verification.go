package verification

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// telemetryParts are the telemetry parts this package evaluates, by item
// ID, with the kinds they read (registered in Checks).
var telemetryParts = map[string]struct {
	fn    check.Func
	reads []string
}{
	"perf.resource-overhead":  {resourceOverheadTelemetry, meshtel.Reads},
	"sectest.mtls-encryption": {mtlsTelemetry, nil},
	"simulation.monitoring":   {simulationMonitoringTelemetry, nil},
	// simulation_telemetry.go
	"simulation.production-load":   {productionLoadTelemetry, append(append([]string(nil), meshtel.Reads...), mesh.GatewayKinds...)},
	"simulation.failure-scenarios": {failureScenariosTelemetry, meshtel.Reads},
	"simulation.recovery":          {recoveryTelemetry, meshtel.Reads},
}

func telemetryFunc(id string) check.Func { return telemetryParts[id].fn }
func telemetryReads(id string) []string  { return telemetryParts[id].reads }

// minOverheadRPS is the traffic through a service's proxies below which
// their CPU per 1000 requests/s is not judged: at a few requests per
// second the proxies' idle CPU dominates and the ratio means nothing.
const minOverheadRPS = 50.0

// resourceOverheadTelemetry is perf.resource-overhead's telemetry part:
// for every critical service, its istio-proxy containers' CPU (cAdvisor)
// per 1000 requests/s through them (served and sent, from
// istio_requests_total) against thresholds.proxyCPUPer1kRPS, and each
// proxy's working set against thresholds.proxyMemoryMiB. Batched: four
// queries for all services.
func resourceOverheadTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	svcs := meshtel.Critical(c)
	if len(svcs) == 0 {
		c.NotApplicable("no critical services: none named in meshready.yaml and no Service in a mesh namespace")
		return
	}
	rv := meshtel.Resources(c, cl)
	sv := meshtel.Services(c, cl)
	for _, e := range []struct {
		err  error
		what string
	}{{rv.CPUErr, "the proxies' CPU"}, {rv.MemErr, "the proxies' memory"}, {rv.InErr, "the requests served"}, {rv.OutErr, "the requests sent"}} {
		if e.err != nil {
			meshtel.Error(c, e.err, "cannot read "+e.what)
			return
		}
	}
	if len(rv.CPU) == 0 && len(rv.Mem) == 0 {
		c.Error("Prometheus has no cAdvisor series for istio-proxy containers (container_cpu_usage_seconds_total{container=\"istio-proxy\"}) in the critical services' namespaces, so the proxies' overhead cannot be measured").
			Fix("scrape the kubelets' cAdvisor endpoint (/metrics/cadvisor), e.g. kube-prometheus-stack's kubelet ServiceMonitor, or a kubernetes-nodes-cadvisor job in prometheus.yml").
			Query(cl.Query(rv.CPUExpr, "no series"))
		return
	}
	th := c.Config.Thresholds
	var memOK, quiet, noSeries []string
	judged := 0
	for _, s := range svcs {
		k := meshtel.KeyOf(s)
		workloads, _ := meshtel.Workloads(c, s, sv.Of(k))
		var pods []string
		var rps, in, out float64
		for _, w := range workloads {
			pods = append(pods, rv.Pods.Of(s.Namespace, w)...)
			in += rv.In[s.Namespace+"/"+w]
			out += rv.Out[s.Namespace+"/"+w]
		}
		rps = in + out
		sort.Strings(pods)
		if len(pods) == 0 {
			noSeries = append(noSeries, k.String())
			continue
		}
		var cores, maxMem float64
		maxPod := ""
		for _, p := range pods {
			key := s.Namespace + "/" + p
			cores += rv.CPU[key]
			mib := rv.Mem[key] / (1 << 20)
			if mib > maxMem {
				maxMem, maxPod = mib, p
			}
			if mib > th.ProxyMemoryMiB {
				c.Fail(nil, "the proxy of pod %s/%s (%s) uses %s MiB, above thresholds.proxyMemoryMiB (%s MiB)", s.Namespace, p, k, telemetry.FormatValue(math.Round(mib)), telemetry.FormatValue(th.ProxyMemoryMiB)).
					Got("%s MiB", telemetry.FormatValue(math.Round(mib))).Want("at most %s MiB", telemetry.FormatValue(th.ProxyMemoryMiB)).
					Fixf("trim the configuration the proxy holds: a Sidecar resource in %s whose egress lists only the hosts %s calls (each proxy keeps every service of the mesh by default); or raise thresholds.proxyMemoryMiB if this is expected", s.Namespace, s.Name).
					Query(cl.Query(rv.MemExpr, fmt.Sprintf("%s for namespace=%q, pod=%q", telemetry.FormatValue(rv.Mem[key]), s.Namespace, p)))
			}
		}
		if maxMem <= th.ProxyMemoryMiB {
			memOK = append(memOK, fmt.Sprintf("%s max %s MiB (%s)", k, telemetry.FormatValue(math.Round(maxMem)), maxPod))
		}
		if rps < minOverheadRPS {
			quiet = append(quiet, fmt.Sprintf("%s %s", k, meshtel.Rate(rps)))
			continue
		}
		judged++
		per1k := cores / (rps / 1000)
		val := fmt.Sprintf("%s cores over %d pods of %s (requests through them: %s served + %s sent, from the served/sent queries)", telemetry.FormatValue(cores), len(pods), strings.Join(workloads, ", "), telemetry.FormatValue(in), telemetry.FormatValue(out))
		if per1k > th.ProxyCPUPer1kRPS {
			c.Fail(nil, "%s's proxies use %s cores per 1000 req/s (%s cores at %s), above thresholds.proxyCPUPer1kRPS (%s)", k, meshtel.Num(per1k), meshtel.Num(cores), meshtel.Rate(rps), telemetry.FormatValue(th.ProxyCPUPer1kRPS)).
				Got("%s cores per 1000 req/s", meshtel.Num(per1k)).Want("at most %s", telemetry.FormatValue(th.ProxyCPUPer1kRPS)).
				Fixf("look for costly proxy features on %s's path (access logs to stdout at high rates, Wasm/Lua EnvoyFilters, high tracing sampling, retries multiplying requests) and a Sidecar resource limiting its configuration; or raise thresholds.proxyCPUPer1kRPS", s.Name).
				Query(cl.Query(rv.CPUExpr, val))
			continue
		}
		c.Pass(nil, "%s's proxies: %s cores per 1000 req/s (%s cores at %s; threshold %s)", k, meshtel.Num(per1k), meshtel.Num(cores), meshtel.Rate(rps), telemetry.FormatValue(th.ProxyCPUPer1kRPS)).Query(cl.Query(rv.CPUExpr, val))
	}
	if judged > 0 {
		c.Pass(nil, "requests served through the proxies (istio_requests_total, reporter destination): %s", rateList(rv.In)).
			Query(cl.Query(rv.InExpr, rateList(rv.In)))
		c.Pass(nil, "requests sent through the proxies (istio_requests_total, reporter source): %s", rateList(rv.Out)).
			Query(cl.Query(rv.OutExpr, rateList(rv.Out)))
	}
	if len(memOK) > 0 {
		c.Pass(nil, "proxy memory within %s MiB: %s", telemetry.FormatValue(th.ProxyMemoryMiB), meshtel.List(memOK, 10)).Query(cl.Query(rv.MemExpr, meshtel.List(memOK, 10)))
	}
	if len(noSeries) > 0 {
		c.Warn(nil, "no istio-proxy container series (cAdvisor) for the pods of %s", meshtel.List(noSeries, 10)).
			Fix("check that these services' pods are injected and that the kubelets' cAdvisor is scraped (see metrics.proxy)").
			Query(cl.Query(rv.CPUExpr, "no series for their pods"))
	}
	if judged == 0 && len(quiet) > 0 {
		c.Pending("too little traffic to judge the proxies' CPU per 1000 req/s: under %s through every critical service's proxies in the last %s (%s); run a load (meshready probe perf.latency-impact) and check again within 5 minutes",
			meshtel.Rate(minOverheadRPS), meshtel.Window, meshtel.List(quiet, 10))
	} else if len(quiet) > 0 {
		c.Pass(nil, "CPU per 1000 req/s not judged under %s (idle CPU dominates): %s", meshtel.Rate(minOverheadRPS), meshtel.List(quiet, 10))
	}
}

// mtlsTelemetry is sectest.mtls-encryption's telemetry part: all observed
// traffic is mutual TLS (100%, whatever thresholds.mtlsShare allows).
func mtlsTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	meshtel.CheckMTLS(c, cl, 1.0)
}

// alertLinger is how long after a fault ends its alerts may still fire
// (their `for` delays them): the window checked is the fault's plus this.
const alertLinger = 10 * time.Minute

// simulationMonitoringTelemetry is simulation.monitoring's telemetry part:
// during the window of the newest passing fault-injection (or recovery)
// run, an alert on the fault's symptoms fired (Prometheus' ALERTS series).
func simulationMonitoringTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	e := newEnv(c.Config, c.Now)
	if e.listErr != nil {
		c.Error("cannot read the evidence directory %s: %v", e.dir, e.listErr).Fix("make evidenceDir in meshready.yaml point at a readable directory")
		return
	}
	var r *evidence.Record
	for _, kind := range []string{evidence.KindFault, evidence.KindRecovery} {
		if x := evidence.Latest(e.recs, evidence.Query{Kind: kind, MaxAge: e.maxAge(), Now: e.now}); x != nil && x.Verdict == evidence.Pass {
			r = x
			break
		}
	}
	if r == nil {
		c.Pending("needs a recorded fault window: run %s; the alerts that fired during it are then read from Prometheus' ALERTS", cmdFault)
		return
	}
	if r.Start.IsZero() || !r.End.After(r.Start) {
		c.Error("the record %s has no usable start and end, so its fault window is unknown", base(r)).Fix("record the run again: " + cmdFault)
		return
	}
	at := r.End.Add(alertLinger)
	if now := cl.Time(); at.After(now) {
		at = now
	}
	secs := int(math.Ceil(at.Sub(r.Start).Seconds()))
	expr := fmt.Sprintf(`max by (alertname, alertstate) (max_over_time(ALERTS[%ds]))`, secs)
	vec, err := cl.InstantAt(context.Background(), expr, at)
	window := fmt.Sprintf("%s – %s (%s, from %s", r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), r.End.Sub(r.Start).Round(time.Second), base(r))
	if extra := at.Sub(r.End).Round(time.Second); extra > 0 {
		window += fmt.Sprintf(", plus %s after it for the alerts' `for`", extra)
	}
	window += ")"
	q := cl.Query(expr, "")
	q.Time = at.UTC().Format(time.RFC3339Nano)
	if err != nil {
		meshtel.Error(c, err, "cannot read ALERTS for the fault window")
		return
	}
	firing, pending := map[string]bool{}, map[string]bool{}
	for _, s := range vec {
		name := string(s.Metric["alertname"])
		switch s.Metric["alertstate"] {
		case "firing":
			firing[name] = true
		case "pending":
			pending[name] = true
		}
	}
	// Which alerts should have fired: the loaded ones on the symptoms a
	// fault shows (5xx, latency, proxy errors); nil: any.
	relevant := faultAlertNames(cl)
	var fired, onlyPending []string
	for n := range firing {
		if len(relevant) == 0 || relevant[n] {
			fired = append(fired, n)
		}
	}
	for n := range pending {
		if !firing[n] && (len(relevant) == 0 || relevant[n]) {
			onlyPending = append(onlyPending, n)
		}
	}
	sort.Strings(fired)
	sort.Strings(onlyPending)
	q.Value = fmt.Sprintf("firing: %s; pending only: %s", noneIfEmpty(fired), noneIfEmpty(onlyPending))
	switch {
	case len(fired) > 0:
		c.Pass(nil, "alerts fired during the fault window %s: %s", window, strings.Join(fired, ", ")).Query(q)
	case len(onlyPending) > 0:
		c.Fail(nil, "during the fault window %s, %s became pending but never fired: their `for` outlasts the fault, so a fault like it would page no one", window, strings.Join(onlyPending, ", ")).
			Want("an alert on the fault's symptoms firing").
			Fix("shorten the alerts' `for` (or run the fault longer than it) so that a sustained fault pages; then run the fault again: " + cmdFault).Query(q)
	default:
		c.Fail(nil, "no alert on the fault's symptoms (5xx rate, latency, proxy errors) fired during the fault window %s", window).
			Want("an alert firing during the fault").
			Fix("check that the alerts on the 5xx rate and latency are loaded in Prometheus (ops.alert-rules) and that their thresholds catch the injected fault; if the window is older than Prometheus' retention, run the fault again: " + cmdFault).Query(q)
	}
}

// rateList prints "ns/workload rate" pairs, the busiest first.
func rateList(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var out []string
	for _, k := range keys {
		out = append(out, k+" "+meshtel.Rate(m[k]))
	}
	if len(out) == 0 {
		return "no series"
	}
	return meshtel.List(out, 10)
}

func noneIfEmpty(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}
