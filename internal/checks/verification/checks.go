// Package verification implements the probe parts of the verification items
// of the checklist (perf.*, resilience.*, sectest.*, final.*, simulation.*):
// each reads the evidence directory the config names and counts the newest
// complete record of its probe kind within evidenceMaxAge. When that record
// failed, the item fails (a regression is not hidden by an older pass);
// when there is none, the item is pending and names the command to run.
// The final.* items are derived from their groups.
package verification

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/report"
)

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	var out []*check.Check
	for _, s := range specs {
		s := s
		out = append(out, &check.Check{
			ID: s.id, Why: s.why, Fix: s.fix, Docs: s.docs,
			Reads: telemetryReads(s.id), Telemetry: telemetryFunc(s.id), // telemetry_verification.go
			Probe: func(c *check.Context) {
				e := newEnv(c.Config, c.Now)
				emit(c, s.eval(e))
			},
		})
	}
	return out
}

// env is what an evaluation reads: the records, newest first.
type env struct {
	cfg     *config.Config
	now     time.Time
	dir     string
	recs    []*evidence.Record
	listErr error
	bad     []evidence.Problem
}

func newEnv(cfg *config.Config, now time.Time) *env {
	if cfg == nil {
		cfg = config.Default()
	}
	if now.IsZero() {
		now = time.Now()
	}
	e := &env{cfg: cfg, now: now, dir: cfg.Resolve(cfg.EvidenceDir)}
	e.recs, e.bad, e.listErr = evidence.List(e.dir)
	return e
}

func (e *env) maxAge() time.Duration { return e.cfg.EvidenceMaxAge.D() }

// result is one evaluation: a status, the lines that explain it, and the
// records that decided it (load runs among them are attached to the report).
type result struct {
	status report.Status
	lines  []line
	used   []*evidence.Record
}

type line struct {
	status     report.Status
	msg        string
	fix        string
	got, want  string
	fromRecord string
}

func (r *result) add(l line) {
	r.lines = append(r.lines, l)
	r.status = report.Worse(r.status, l.status)
}

func (r *result) merge(o result) {
	for _, l := range o.lines {
		r.add(l)
	}
}

func emit(c *check.Context, r result) {
	attachLoadRuns(c, r.used) // loadruns.go
	for _, l := range r.lines {
		var f check.F
		switch l.status {
		case report.Pass:
			f = c.Pass(nil, "%s", l.msg)
		case report.Fail:
			f = c.Fail(nil, "%s", l.msg)
		case report.Warn:
			f = c.Warn(nil, "%s", l.msg)
		case report.Error:
			f = c.Error("%s", l.msg)
		default:
			f = c.Pending("%s", l.msg)
		}
		if l.fix != "" {
			f.Fix(l.fix)
		}
		if l.got != "" {
			f.Got("%s", l.got)
		}
		if l.want != "" {
			f.Want("%s", l.want)
		}
	}
}

// need is the evaluation of one probe kind: the newest complete record of
// kind matching m within the age limit decides.
type need struct {
	kind string
	what string // "a load run with a baseline"
	cmd  string // the command that produces it
	// match restricts the records that count for this item (nil: all of the kind).
	match func(*evidence.Record) bool
	// judge adds item-specific findings about a passing record (may fail it).
	judge func(e *env, r *evidence.Record, res *result)
}

func (n need) eval(e *env) result {
	var res result
	if e.listErr != nil {
		res.add(line{status: report.Error, msg: fmt.Sprintf("cannot read the evidence directory %s: %v", e.dir, e.listErr),
			fix: "make evidenceDir in meshready.yaml point at a readable directory"})
		return res
	}
	q := evidence.Query{Kind: n.kind, MaxAge: e.maxAge(), Now: e.now, Match: n.match}
	r := evidence.Latest(e.recs, q)
	if r == nil {
		msg := fmt.Sprintf("no %s recorded in %s within %s", n.what, e.dir, fmtAge(e.maxAge()))
		if old := evidence.Latest(e.recs, evidence.Query{Kind: n.kind, Match: n.match}); old != nil {
			msg = fmt.Sprintf("the newest %s (%s, %s) is older than evidenceMaxAge %s", n.what, base(old), old.When().UTC().Format(time.DateOnly), fmtAge(e.maxAge()))
		} else if partial := latestAny(e.recs, n.kind); partial != nil && partial.Verdict == evidence.Partial {
			msg += fmt.Sprintf(" (%s is a partial run, which never counts)", base(partial))
		}
		res.add(line{status: report.Pending, msg: msg, fix: n.cmd})
		return res
	}
	when := r.When().UTC().Format("2006-01-02 15:04Z")
	res.used = append(res.used, r)
	if r.Verdict != evidence.Pass {
		res.add(line{status: report.Fail, msg: fmt.Sprintf("the newest %s (%s, %s, target %s) failed: %s", n.what, base(r), when, r.Target, r.FailedReasons()),
			fix: "fix the cause, then run again: " + n.cmd, fromRecord: r.File})
		return res
	}
	res.add(line{status: report.Pass, msg: fmt.Sprintf("%s passed (%s, %s, target %s)%s", capital(n.what), base(r), when, r.Target, brief(r)), fromRecord: r.File})
	if n.judge != nil {
		n.judge(e, r, &res)
	}
	return res
}

func latestAny(recs []*evidence.Record, kind string) *evidence.Record {
	for _, r := range recs {
		if r.Kind == kind {
			return r
		}
	}
	return nil
}

func base(r *evidence.Record) string { return filepath.Base(r.File) }

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func fmtAge(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// brief is the key figures of a record.
func brief(r *evidence.Record) string {
	res := r.Results
	var parts []string
	if res.LatencyMs != nil {
		parts = append(parts, fmt.Sprintf("%d requests at %.1f req/s, p50 %.2f ms, p99 %.2f ms, errors %.3f%%", res.Requests, res.AchievedQPS, res.LatencyMs.P50, res.LatencyMs.P99, 100*res.ErrorRate))
	}
	if a := res.AddedLatencyMs; a != nil {
		parts = append(parts, fmt.Sprintf("added latency p50 %.2f / p90 %.2f / p99 %.2f ms", a.P50, a.P90, a.P99))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

func paramFloat(r *evidence.Record, key string) float64 {
	switch v := r.Parameters[key].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return 0
}

// The commands that produce each kind of record.
const (
	cmdLoadBaseline   = "meshready probe load --url http://<gateway>/<path> --baseline-url http://<pod-ip>:<port>/<path> --qps 100 --duration 60s"
	cmdLoad           = "meshready probe load --url http://<gateway>/<path> --qps 100 --duration 60s"
	cmdStep           = "meshready probe step --url http://<gateway>/<path> --rates 50,100,200,400 --duration 30s"
	cmdSoak           = "meshready probe soak --url http://<gateway>/<path> --qps 100 --duration 2h"
	cmdCircuitBreaker = "meshready probe circuit-breaker --url http://<gateway>/<path> --qps 1000 --connections 256 --duration 20s"
	cmdRetries        = "meshready probe retries --url http://<gateway>/<path> --direct-url http://<pod-ip>:<port>/<path> --qps 100 --duration 30s"
	cmdFault          = "meshready probe fault --url http://<gateway>/<path> -H '<header the fault route matches>' --abort-percent 10 --abort-status 503 --qps 200 --duration 30s"
	cmdRecovery       = "meshready probe recovery --url http://<gateway>/<path> --qps 50 --duration 3m --apply-cmd 'kubectl apply -f fault.yaml' --apply-after 30s --restore-cmd 'kubectl delete -f fault.yaml' --restore-after 90s"
	cmdMTLS           = "meshready probe mtls --url http://<pod-ip>:<port>/ (from a pod outside the mesh)"
	cmdAuthn          = "meshready probe authn --url https://<host>/<path> --token-env <VAR holding a valid JWT>"
	cmdAuthz          = "meshready probe authz --url https://<host> --table authz.yaml (see meshready probe authz --help)"
)

var (
	latencyImpact = need{kind: evidence.KindLoad, what: "load run with a baseline", cmd: cmdLoadBaseline,
		match: func(r *evidence.Record) bool { return r.Results.AddedLatencyMs != nil },
		judge: func(e *env, r *evidence.Record, res *result) {
			// Judged again against today's thresholds: they may be stricter than when the run was recorded.
			a, th := r.Results.AddedLatencyMs, e.cfg.Thresholds
			for _, x := range []struct {
				p          string
				got, limit float64
			}{{"p50", a.P50, th.AddedLatencyP50Ms}, {"p90", a.P90, th.AddedLatencyP90Ms}, {"p99", a.P99, th.AddedLatencyP99Ms}} {
				if x.got > x.limit {
					res.add(line{status: report.Fail, msg: fmt.Sprintf("added %s latency %.2f ms exceeds thresholds.addedLatency%sMs %.1f ms", x.p, x.got, strings.ToUpper(x.p[:1])+x.p[1:], x.limit),
						got: fmt.Sprintf("%.2f ms", x.got), want: fmt.Sprintf("≤ %.1f ms", x.limit), fix: "find the added latency (proxy resources, protocol detection, telemetry filters) and run again: " + cmdLoadBaseline, fromRecord: r.File})
				}
			}
		}}
	resourceOverhead = need{kind: evidence.KindLoad, what: "load run", cmd: cmdLoad,
		judge: func(e *env, r *evidence.Record, res *result) {
			res.add(line{status: report.Pass, msg: fmt.Sprintf("the proxies' CPU and memory per 1000 req/s (limit %.2f cores) is read from Prometheus for %s–%s by the telemetry part",
				e.cfg.Thresholds.ProxyCPUPer1kRPS, r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339))})
		}}
	scaling = need{kind: evidence.KindStep, what: "stepped load run", cmd: cmdStep,
		judge: func(e *env, r *evidence.Record, res *result) {
			top := 0.0
			for _, s := range r.Results.Steps {
				top = max(top, s.TargetQPS)
			}
			if p := e.cfg.Thresholds.ProductionRPS; p > 0 && top < p {
				res.add(line{status: report.Fail, msg: fmt.Sprintf("the steps stopped at %.0f req/s, below the target load thresholds.productionRPS %.0f", top, p),
					got: fmt.Sprintf("%.0f req/s", top), want: fmt.Sprintf("≥ %.0f req/s", p), fix: fmt.Sprintf("meshready probe step --url http://<gateway>/<path> --rates %.0f,%.0f,%.0f,%.0f --duration 30s", p/4, p/2, 3*p/4, p), fromRecord: r.File})
			}
		}}
	stability = need{kind: evidence.KindSoak, what: "soak run", cmd: cmdSoak,
		judge: func(e *env, r *evidence.Record, res *result) {
			if d := r.End.Sub(r.Start); d < time.Hour {
				res.add(line{status: report.Warn, msg: fmt.Sprintf("the soak ran %s: leaks and slow drifts show over hours, not minutes", d.Round(time.Second)),
					got: d.Round(time.Second).String(), want: "≥ 1h", fix: cmdSoak, fromRecord: r.File})
			}
		}}
	circuitBreaking = need{kind: evidence.KindCircuitBreaker, what: "circuit-breaker run", cmd: cmdCircuitBreaker}
	retries         = need{kind: evidence.KindRetries, what: "retries run", cmd: cmdRetries}
	faultInjection  = need{kind: evidence.KindFault, what: "fault-injection run", cmd: cmdFault}
	recovery        = need{kind: evidence.KindRecovery, what: "recovery run", cmd: cmdRecovery}
	mtls            = need{kind: evidence.KindMTLS, what: "plaintext-refusal (mtls) run", cmd: cmdMTLS}
	authn           = need{kind: evidence.KindAuthn, what: "authentication run", cmd: cmdAuthn}
	authz           = need{kind: evidence.KindAuthz, what: "authorization table run", cmd: cmdAuthz}
	policyEnforce   = need{kind: evidence.KindAuthz, what: "authorization table run with a request from a non-allowed identity answered 403", cmd: cmdAuthz + ", with a case `expect: deny` for an identity the policies do not allow",
		match: func(r *evidence.Record) bool {
			for _, c := range r.Results.Authz {
				if c.Expect == "deny" && (c.Status == 403 || r.Verdict != evidence.Pass) {
					return true
				}
			}
			return false
		}}
	productionLoad = need{kind: evidence.KindLoad, what: "load run at the production rate", cmd: "meshready probe load --url http://<gateway>/<path> --qps <thresholds.productionRPS> --duration 10m"}
)

// group derives an item from others: the worst of them.
type group struct {
	name    string
	members []member
}

type member struct {
	id string
	n  need
}

func (g group) eval(e *env) result {
	var res result
	var failed, pending, passed []string
	for _, m := range g.members {
		r := m.n.eval(e)
		switch r.status {
		case report.Pass, report.Warn:
			passed = append(passed, m.id)
		case report.Fail, report.Error:
			failed = append(failed, m.id)
			for _, l := range r.lines {
				if l.status == report.Fail || l.status == report.Error {
					res.add(line{status: l.status, msg: m.id + ": " + l.msg, fix: l.fix, fromRecord: l.fromRecord})
				}
			}
		default:
			pending = append(pending, m.id)
			for _, l := range r.lines {
				res.add(line{status: report.Pending, msg: m.id + ": " + l.msg, fix: l.fix})
			}
		}
	}
	if len(failed) == 0 && len(pending) == 0 {
		res.add(line{status: report.Pass, msg: fmt.Sprintf("every %s probe has a passing record newer than %s: %s", g.name, fmtAge(e.maxAge()), strings.Join(passed, ", "))})
	}
	return res
}

type spec struct {
	id, why, fix, docs string
	eval               func(e *env) result
}

func single(n need) func(*env) result { return n.eval }

var (
	perfMembers       = []member{{"perf.latency-impact", latencyImpact}, {"perf.resource-overhead", resourceOverhead}, {"perf.scaling", scaling}, {"perf.stability", stability}}
	resilienceMembers = []member{{"resilience.circuit-breaking", circuitBreaking}, {"resilience.retries", retries}, {"resilience.fault-injection", faultInjection}, {"resilience.recovery", recovery}}
	securityMembers   = []member{{"sectest.mtls-encryption", mtls}, {"sectest.policy-enforcement", policyEnforce}, {"sectest.authentication", authn}, {"sectest.authorization", authz}}
)

const (
	docsPerf    = "https://istio.io/latest/docs/ops/deployment/performance-and-scalability/"
	docsCB      = "https://istio.io/latest/docs/tasks/traffic-management/circuit-breaking/"
	docsRetries = "https://istio.io/latest/docs/concepts/traffic-management/#retries"
	docsFault   = "https://istio.io/latest/docs/tasks/traffic-management/fault-injection/"
	docsMTLS    = "https://istio.io/latest/docs/tasks/security/authentication/mtls-migration/"
	docsJWT     = "https://istio.io/latest/docs/tasks/security/authorization/authz-jwt/"
	docsAuthz   = "https://istio.io/latest/docs/tasks/security/authorization/authz-http/"
)

var specs = []spec{
	{id: "perf.latency-impact", eval: single(latencyImpact), docs: docsPerf,
		why: "Every request crosses two sidecars; the latency they add must be measured against a direct path, at a realistic rate, before users feel it.",
		fix: cmdLoadBaseline + "\n(the baseline URL reaches the same pods without the mesh, e.g. a pod IP from a non-injected pod)"},
	{id: "perf.resource-overhead", eval: single(resourceOverhead), docs: docsPerf,
		why: "Sidecar CPU and memory grow with traffic; the cost per 1000 req/s decides node sizing and must be known before launch.",
		fix: cmdLoad + "\nthen run meshready check with --prometheus so the proxies' usage during the run is read"},
	{id: "perf.scaling", eval: single(scaling), docs: docsPerf,
		why: "A mesh that is fine at 50 req/s can queue at 500: throughput must follow the offered load and latency stay within the SLO up to the target.",
		fix: cmdStep},
	{id: "perf.stability", eval: single(stability), docs: docsPerf,
		why: "Leaks, connection churn and certificate rotation show over hours: a soak proves the error rate and latency hold for the whole run.",
		fix: cmdSoak},
	{id: "resilience.circuit-breaking", eval: single(circuitBreaking), docs: docsCB,
		why: "Beyond its limits a service must shed load with fast 503s; queueing instead turns overload into timeouts everywhere upstream.",
		fix: cmdCircuitBreaker + "\n(connection-pool limits in the DestinationRule must be below the offered concurrency)"},
	{id: "resilience.retries", eval: single(retries), docs: docsRetries,
		why: "Retry policies only help when they actually hide transient upstream failures from clients.",
		fix: cmdRetries},
	{id: "resilience.fault-injection", eval: single(faultInjection), docs: docsFault,
		why: "A fault-injection run proves the fault configuration does what it says (the observed rate matches) before it is used to test failure handling.",
		fix: cmdFault},
	{id: "resilience.recovery", eval: single(recovery), docs: docsFault,
		why: "After a failure ends, the error rate must come back to normal quickly; slow recovery (stuck outlier ejection, exhausted pools) prolongs incidents.",
		fix: cmdRecovery},
	{id: "sectest.mtls-encryption", eval: single(mtls), docs: docsMTLS,
		why: "STRICT mTLS on paper is proven only when a plaintext request to an in-mesh port is refused.",
		fix: cmdMTLS},
	{id: "sectest.policy-enforcement", eval: single(policyEnforce), docs: docsAuthz,
		why: "Authorization policies are enforced only if a request from an identity they do not allow actually gets 403.",
		fix: cmdAuthz},
	{id: "sectest.authentication", eval: single(authn), docs: docsJWT,
		why: "RequestAuthentication alone accepts requests without a token; missing, tampered and unsigned tokens must be rejected and a valid one accepted.",
		fix: cmdAuthn},
	{id: "sectest.authorization", eval: single(authz), docs: docsAuthz,
		why: "Allowed and denied paths must behave as the policies say, checked request by request.",
		fix: cmdAuthz},
	{id: "final.e2e", docs: docsPerf,
		eval: group{name: "performance, resilience and security", members: concat(perfMembers, resilienceMembers, securityMembers)}.eval,
		why:  "End to end, every verification probe must have passed recently: load, resilience and security.",
		fix:  "run the probes the pending or failing items name (meshready evidence list shows what is recorded)"},
	{id: "final.performance", eval: group{name: "performance", members: perfMembers}.eval, docs: docsPerf,
		why: "Derived: every performance probe (perf.*) has a passing record newer than evidenceMaxAge.",
		fix: "run the probes of the perf.* items"},
	{id: "final.security", eval: group{name: "security", members: securityMembers}.eval, docs: docsAuthz,
		why: "Derived: every security probe (sectest.*) has a passing record newer than evidenceMaxAge.",
		fix: "run the probes of the sectest.* items"},
	{id: "final.resilience", eval: group{name: "resilience", members: resilienceMembers}.eval, docs: docsFault,
		why: "Derived: every resilience probe (resilience.*) has a passing record newer than evidenceMaxAge.",
		fix: "run the probes of the resilience.* items"},
	{id: "simulation.production-load", eval: evalProductionLoad, docs: docsPerf,
		why: "The launch rate must have been carried through the mesh before users bring it. The probe part counts the newest passing load (or soak) run at thresholds.productionRPS. " +
			"With --prometheus, Prometheus must have seen that very run: over its window, at least 90% of its achieved rate through the ingress gateway or into one critical service " +
			"(a run that bypassed the mesh proves nothing), and every critical service that served requests within thresholds.errorRate (5xx share) and thresholds.p99LatencyMs. " +
			"A run older than Prometheus' retention leaves the telemetry part pending.",
		fix: "set thresholds.productionRPS in meshready.yaml, then: meshready probe load --url http://<gateway>/<path> --qps <productionRPS> --duration 10m (or probe soak at that rate); " +
			"then meshready check --prometheus URL within Prometheus' retention"},
	{id: "simulation.failure-scenarios", docs: docsFault,
		eval: group{name: "failure-scenario", members: []member{{"resilience.circuit-breaking", circuitBreaking}, {"resilience.retries", retries}, {"resilience.fault-injection", faultInjection}}}.eval,
		why: "Overload, transient failures and injected faults must each have been survived as designed, and seen by the monitoring. " +
			"With --prometheus, over each counted run's window the failure shows in istio_requests_total (circuit breaker: response_flags UO; retries: the failed attempts, 5xx from the servers' proxies; " +
			"fault: FI/DI): none is a monitoring blind spot (fail), under half of what the probe saw warns. For overload and faults an alert about the services that failed must have fired " +
			"(ALERTS, up to 10 minutes after the run); retries hide failures from clients by design, so they need no alert.",
		fix: "run the circuit-breaker, retries and fault probes, then meshready check --prometheus URL; a failure Prometheus did not see needs the path's proxies scraped, " +
			"a missing alert a rule on the 5xx share per destination service as the callers report it (reporter=\"source\": it includes the 503s their proxies answer themselves)"},
	{id: "simulation.recovery", eval: single(recovery), docs: docsFault,
		why: "Recovery procedures are confirmed only by watching the error rate return to baseline after a fault ends. " +
			"With --prometheus, for the counted recovery run: the critical services the fault hit (error share above their pre-fault baseline + thresholds.errorRate during it) " +
			"must be back within that tolerance from thresholds.recoverySeconds after the fault ended to the end of the run, and the alerts that fired about them must stop " +
			"firing within 10 minutes of that deadline (pending until then). Prometheus seeing no rise at all is a blind spot (fail).",
		fix: cmdRecovery + "\nthen run meshready check --prometheus URL (again 10 minutes after the run, for the alerts)"},
	{id: "simulation.monitoring", eval: evalMonitoring, docs: "https://istio.io/latest/docs/ops/integrations/prometheus/",
		why: "Monitoring is effective only if the alerts fire while a fault is injected; the probe records the fault window, Prometheus says what fired.",
		fix: cmdFault + "\nthen run meshready check with --prometheus: alerts must have fired during the fault window"},
}

func concat(ms ...[]member) []member {
	var out []member
	for _, m := range ms {
		out = append(out, m...)
	}
	return out
}

func evalProductionLoad(e *env) result {
	p := e.cfg.Thresholds.ProductionRPS
	if p <= 0 {
		var res result
		res.add(line{status: report.Pending, msg: "the production rate is not set: thresholds.productionRPS in meshready.yaml",
			fix: "thresholds:\n  productionRPS: 500   # the launch's expected peak, req/s"})
		return res
	}
	atRate := func(r *evidence.Record) bool { return paramFloat(r, "qps") >= p }
	cmd := fmt.Sprintf("meshready probe load --url http://<gateway>/<path> --qps %.0f --duration 10m", p)
	load := need{kind: evidence.KindLoad, what: fmt.Sprintf("load run at %.0f req/s or more", p), cmd: cmd, match: atRate}
	soak := need{kind: evidence.KindSoak, what: fmt.Sprintf("soak run at %.0f req/s or more", p), cmd: cmd, match: atRate}
	// A passing load or soak at the rate counts; else the one that exists decides.
	rl, rs := load.eval(e), soak.eval(e)
	switch {
	case rl.status == report.Pass:
		return rl
	case rs.status == report.Pass:
		return rs
	case rl.status == report.Fail:
		return rl
	case rs.status == report.Fail:
		return rs
	}
	return rl
}

func evalMonitoring(e *env) result {
	for _, n := range []need{faultInjection, recovery} {
		r := evidence.Latest(e.recs, evidence.Query{Kind: n.kind, MaxAge: e.maxAge(), Now: e.now})
		if r != nil && r.Verdict == evidence.Pass {
			var res result
			res.add(line{status: report.Pass, msg: fmt.Sprintf("a %s (%s) gives the fault window %s – %s; the telemetry part checks which alerts fired in it (Prometheus ALERTS)",
				n.what, base(r), r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339)), fromRecord: r.File})
			return res
		}
	}
	return faultInjection.eval(e)
}
