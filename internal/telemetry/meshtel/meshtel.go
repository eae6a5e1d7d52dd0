// Package meshtel is what the telemetry parts of the checklist items share:
// the batched PromQL queries over the critical services (one query for all
// of them, looked up per service), the indexes built from their answers
// (computed once per run through telemetry.Client.Memo), the alert rules
// Prometheus has loaded, and the way a telemetry error becomes an `error`
// finding with its reason and fix.
//
// Label conventions are Istio's standard metrics
// (https://istio.io/latest/docs/reference/config/metrics/): istio_requests_total
// and istio_request_duration_milliseconds with reporter,
// source_workload(_namespace), destination_service_name/_namespace,
// destination_workload(_namespace), response_code and
// connection_security_policy; proxy and cAdvisor series carry the pod's
// namespace and pod labels, as Istio's sample scrape configuration and
// kube-prometheus set them.
package meshtel

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
)

// Window is the range of every rate() meshready asks for.
const Window = "5m"

// Reads are the kinds the helpers of this package may read (critical
// services and their workloads): declare them in a check's Reads.
var Reads = append([]string{snapshot.Namespace, snapshot.Service}, mesh.WorkloadKinds...)

// Prometheus returns the client when a Prometheus URL was given; otherwise
// it reports the part pending and returns nil.
func Prometheus(c *check.Context) *telemetry.Client {
	if !c.Telemetry.HasPrometheus() {
		c.Pending("needs Prometheus: pass --prometheus URL")
		return nil
	}
	prefetchGlobal(c.Telemetry)
	return c.Telemetry
}

// Error reports a telemetry failure as an `error` finding, with the
// classified reason, the fix and the call that failed (so it can be rerun).
func Error(c *check.Context, err error, what string) {
	te := telemetry.AsError(err)
	msg := te.Message()
	if what != "" {
		msg = what + ": " + msg
	}
	call := te.Call
	q := report.Query{Source: strings.ToLower(te.Source), Expr: call, Value: "error: " + string(te.Kind)}
	if c.Telemetry != nil {
		q.Time = c.Telemetry.Query("", "").Time
	}
	f := c.Error("%s", msg).Fix(te.Fix)
	if call != "" {
		f.Query(q)
	}
}

// Key names a Service.
type Key struct{ Namespace, Name string }

func (k Key) String() string { return k.Name + "." + k.Namespace }

// KeyOf is the key of a configured service.
func KeyOf(s config.Service) Key { return Key{s.Namespace, s.Name} }

// Critical returns the critical services (reads Namespace and Service
// when the config names none). With a telemetry client the list is
// computed once per run, and the first call starts the batched queries
// over them (see prefetchCritical).
func Critical(c *check.Context) []config.Service { return criticalOf(c).svcs }

// critical is the run's critical services and the namespace matchers of
// the batched queries, by label.
type critical struct {
	svcs  []config.Service
	ns    map[string]string
	names string  // destination_service_name=~"..." of the services
	p99Ms float64 // thresholds.p99LatencyMs
	// depNames, depNS select the declared dependencies ("" when none).
	depNames, depNS string
}

var nsLabels = []string{"destination_service_namespace", "namespace", "destination_workload_namespace", "source_workload_namespace"}

func criticalOf(c *check.Context) *critical {
	build := func() *critical {
		cr := &critical{svcs: mesh.CriticalServices(c, c.Config), ns: map[string]string{}, p99Ms: c.Config.Thresholds.P99LatencyMs}
		for _, l := range nsLabels {
			cr.ns[l] = nsMatcher(l, cr.svcs)
		}
		seen := map[string]bool{}
		var names []string
		for _, s := range cr.svcs {
			if !seen[s.Name] {
				seen[s.Name] = true
				names = append(names, s.Name)
			}
		}
		sort.Strings(names)
		if len(names) > 0 {
			cr.names = fmt.Sprintf(`destination_service_name=~"%s"`, strings.Join(names, "|"))
		}
		deps, depNS := map[string]bool{}, map[string]bool{}
		for _, s := range cr.svcs {
			for _, d := range s.Dependencies() {
				deps[d.Name], depNS[d.Namespace] = true, true
			}
		}
		if len(deps) > 0 {
			cr.depNames = fmt.Sprintf(`destination_service_name=~"%s"`, strings.Join(sortedSet(deps), "|"))
			cr.depNS = fmt.Sprintf(`destination_service_namespace=~"%s"`, strings.Join(sortedSet(depNS), "|"))
		}
		return cr
	}
	if c.Telemetry == nil {
		return build()
	}
	cr := memo(c.Telemetry, "critical", build)
	if c.Telemetry.HasPrometheus() {
		prefetchCritical(c.Telemetry, cr)
	}
	return cr
}

// nsMatcher restricts a query to the namespaces of the services (one
// regex), or to nothing when there are too many to list.
func nsMatcher(label string, svcs []config.Service) string {
	seen := map[string]bool{}
	var nss []string
	for _, s := range svcs {
		for _, ns := range append([]string{s.Namespace}, depNamespaces(s)...) {
			if !seen[ns] {
				seen[ns] = true
				nss = append(nss, ns)
			}
		}
	}
	if len(nss) == 0 || len(nss) > 200 {
		return ""
	}
	sort.Strings(nss)
	return fmt.Sprintf(`%s=~"%s"`, label, strings.Join(nss, "|"))
}

func depNamespaces(s config.Service) []string {
	var out []string
	for _, d := range s.Dependencies() {
		out = append(out, d.Namespace)
	}
	return out
}

// sel joins matchers into a selector body.
func sel(ms ...string) string {
	var out []string
	for _, m := range ms {
		if m != "" {
			out = append(out, m)
		}
	}
	return "{" + strings.Join(out, ", ") + "}"
}

func label(s *model.Sample, name string) string { return string(s.Metric[model.LabelName(name)]) }

// Rate formats a per-second rate.
func Rate(v float64) string { return telemetry.FormatValue(round(v)) + " req/s" }

// Num formats a value for a message: 3 significant digits (the query's
// evidence keeps the value as Prometheus gave it).
func Num(v float64) string { return telemetry.FormatValue(round(v)) }

// Percent formats a share.
func Percent(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return telemetry.FormatValue(round(v*100)) + "%"
}

func round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return v
	}
	mag := math.Pow(10, 3-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*mag) / mag
}

// List names up to n items, then "and N more".
func List(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// parallel runs the functions concurrently and waits.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}

func memo[T any](cl *telemetry.Client, key string, fn func() *T) *T {
	v, _ := cl.Memo(key, func() (any, error) { return fn(), nil })
	return v.(*T)
}

var bg = context.Background()

// prefetchGlobal starts, once per run, the queries that do not depend on
// the critical services (mTLS share, loaded rules, istiod's series, the
// targets), so that they run concurrently with each other and with the
// items evaluated before they are needed.
func prefetchGlobal(cl *telemetry.Client) {
	memo(cl, "prefetch-global", func() *struct{} {
		go MTLS(cl)
		go Rules(cl)
		go ControlPlane(cl)
		go cl.Targets(bg)
		return &struct{}{}
	})
}

// prefetchCritical starts, once per run, the batched queries over the
// critical services.
func prefetchCritical(cl *telemetry.Client, cr *critical) {
	memo(cl, "prefetch-critical", func() *struct{} {
		go servicesView(cl, cr)
		go proxiesView(cl, cr)
		go resourcesView(cl, cr)
		if cr.depNames != "" {
			go edgesView(cl, cr)
		}
		return &struct{}{}
	})
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
