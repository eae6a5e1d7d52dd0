// Package telemetry is meshready's client for the telemetry APIs a mesh
// exposes: Prometheus (through the Prometheus Go API client), and small
// clients for Grafana's dashboard search, Jaeger's query API and Kiali's
// status. One Client serves one `meshready check` run:
//
//   - every Prometheus query is evaluated at one instant (Time), so the
//     items of a report agree with each other and a reader can rerun any
//     query the report shows (expression and time are in its evidence);
//     a range query (Range) records its start, end and step for the same
//     reason;
//   - results are cached by call (PromQL expression, API path), so the
//     per-service items share one batched query per run instead of asking
//     Prometheus once per service; Memo caches what is derived from them;
//   - every request is bounded by Options.Timeout, and an API that failed
//     as a whole (unreachable, timed out, refused the credentials, not the
//     expected API) is not asked again: later calls fail at once with the
//     same classified *Error, so a dead Prometheus costs one timeout, not
//     one per item;
//   - every call is recorded (Records) with its time, value summary,
//     duration and error.
package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/report"
)

// DefaultTimeout bounds each request when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Client. Empty URLs leave that API out.
type Options struct {
	Prometheus string // base URL, e.g. http://prometheus.monitoring:9090 (user:password@ in it is basic auth)
	// PrometheusTokenFile holds a bearer token, read again for every request (rotated tokens work).
	PrometheusTokenFile string
	// PrometheusBasicAuthFile holds one line "user:password".
	PrometheusBasicAuthFile string
	// PrometheusCAFile is a PEM bundle trusted in addition to the system roots,
	// for every telemetry URL (a private CA usually signs them all).
	PrometheusCAFile string

	Grafana string // e.g. http://grafana.monitoring:3000
	Jaeger  string // the query service, e.g. http://tracing.monitoring:16686
	Kiali   string // e.g. http://kiali.istio-system:20001/kiali

	// PrometheusTransport, when set, carries the Prometheus requests instead
	// of meshready's own transport: e.g. the Kubernetes API server's service
	// proxy with the kubeconfig's credentials (package discover). The token,
	// basic-auth and CA options do not apply to it.
	PrometheusTransport http.RoundTripper

	// Timeout bounds each request (default DefaultTimeout).
	Timeout time.Duration
	// Time is the instant every Prometheus query is evaluated at (default: now).
	Time time.Time
}

// Client queries the telemetry APIs of one run. It is safe for concurrent use.
type Client struct {
	timeout time.Duration
	at      time.Time

	prom    v1.API
	promURL string
	grafana *endpoint
	jaeger  *endpoint
	kiali   *endpoint

	mu      sync.Mutex
	calls   map[string]*call
	broken  map[string]*Error // by source: the error that made the API unusable
	records []Record

	preflight    sync.Once
	preflightErr error

	slots map[string]chan struct{} // by source: bounds the requests in flight
}

// MaxInFlight bounds the concurrent requests to each API: the batched
// queries run in parallel, but a production Prometheus is not flooded.
const MaxInFlight = 4

func (c *Client) slot(source string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		c.slots = map[string]chan struct{}{}
	}
	s := c.slots[source]
	if s == nil {
		s = make(chan struct{}, MaxInFlight)
		c.slots[source] = s
	}
	return s
}

// Record is one call made to a telemetry API.
type Record struct {
	Source string // "prometheus", "grafana", "jaeger", "kiali"
	Call   string // PromQL expression, or "GET /api/v1/rules"
	// Time is the evaluation time of an instant query, the end of a range query.
	Time time.Time
	// Start and Step are set for a range query (/api/v1/query_range over
	// [Start, Time] every Step); zero for everything else.
	Start    time.Time
	Step     time.Duration
	Value    string // summary of the answer
	Duration time.Duration
	Err      string
}

// IsRange reports whether the record is of a range query.
func (r Record) IsRange() bool { return r.Step > 0 }

// Rerun is the Prometheus HTTP API request that asks the same question
// again, e.g. "GET /api/v1/query_range?query=...&start=...&end=...&step=15s"
// (curl it against the Prometheus URL); "" for calls that are not PromQL.
func (r Record) Rerun() string {
	if r.Source != "prometheus" || strings.HasPrefix(r.Call, "GET ") {
		return ""
	}
	q := url.Values{"query": {r.Call}}
	if !r.IsRange() {
		q.Set("time", promTime(r.Time))
		return "GET /api/v1/query?" + q.Encode()
	}
	q.Set("start", promTime(r.Start))
	q.Set("end", promTime(r.Time))
	q.Set("step", r.Step.String())
	return "GET /api/v1/query_range?" + q.Encode()
}

// promTime formats a time as the Prometheus API takes it (RFC 3339, UTC).
func promTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

type call struct {
	done chan struct{}
	val  any
	err  error
}

// New checks the options and builds a Client. It makes no request: an
// unreachable API shows up in the items that need it, not here. Errors are
// about the options themselves (a malformed URL, an unreadable file).
func New(o Options) (*Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	c := &Client{
		timeout: o.Timeout,
		at:      o.Time.Truncate(time.Millisecond),
		calls:   map[string]*call{},
		broken:  map[string]*Error{},
	}
	tlsCfg, err := tlsConfig(o.PrometheusCAFile)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   o.Timeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	if o.Prometheus != "" && o.PrometheusTransport != nil {
		u, err := parseBase("--prometheus", o.Prometheus)
		if err != nil {
			return nil, err
		}
		if o.PrometheusTokenFile != "" || o.PrometheusBasicAuthFile != "" || u.User != nil {
			return nil, errors.New("--prometheus-token-file and --prometheus-basic-auth-file do not apply through the Kubernetes API server's service proxy (it authenticates with the kubeconfig's credentials and does not pass them on): pass the Prometheus URL itself with --prometheus URL")
		}
		ac, err := api.NewClient(api.Config{Address: u.String(), RoundTripper: o.PrometheusTransport})
		if err != nil {
			return nil, fmt.Errorf("--prometheus %s: %w", u, err)
		}
		c.prom = v1.NewAPI(ac)
		c.promURL = u.String()
	} else if o.Prometheus != "" {
		u, err := parseBase("--prometheus", o.Prometheus)
		if err != nil {
			return nil, err
		}
		rt := &authTransport{next: transport, tokenFile: o.PrometheusTokenFile}
		if u.User != nil {
			rt.user = u.User.Username()
			rt.pass, _ = u.User.Password()
			rt.basic = true
		}
		if o.PrometheusTokenFile != "" && o.PrometheusBasicAuthFile != "" {
			return nil, errors.New("--prometheus-token-file and --prometheus-basic-auth-file exclude each other: give one")
		}
		if o.PrometheusTokenFile != "" {
			if _, err := readToken(o.PrometheusTokenFile); err != nil {
				return nil, err
			}
		}
		if o.PrometheusBasicAuthFile != "" {
			user, pass, err := readBasicAuth(o.PrometheusBasicAuthFile)
			if err != nil {
				return nil, err
			}
			rt.user, rt.pass, rt.basic = user, pass, true
		}
		clean := stripUser(u)
		ac, err := api.NewClient(api.Config{Address: clean.String(), RoundTripper: rt})
		if err != nil {
			return nil, fmt.Errorf("--prometheus %s: %w", clean, err)
		}
		c.prom = v1.NewAPI(ac)
		c.promURL = clean.String()
	}
	for _, e := range []struct {
		dst    **endpoint
		source string
		raw    string
	}{{&c.grafana, "Grafana", o.Grafana}, {&c.jaeger, "Jaeger", o.Jaeger}, {&c.kiali, "Kiali", o.Kiali}} {
		if e.raw == "" {
			continue
		}
		u, err := parseBase(flagFor(e.source), e.raw)
		if err != nil {
			return nil, err
		}
		ep := &endpoint{source: e.source, base: stripUser(u), http: &http.Client{Transport: transport}}
		if u.User != nil {
			ep.user = u.User.Username()
			ep.pass, _ = u.User.Password()
		}
		*e.dst = ep
	}
	return c, nil
}

func parseBase(flag, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("%s %q: %v", flag, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http:// or https:// URL with a host, e.g. %s", flag, raw, exampleURL(sourceOf(flag)))
	}
	return u, nil
}

func sourceOf(flag string) string {
	switch flag {
	case "--grafana":
		return "Grafana"
	case "--jaeger":
		return "Jaeger"
	case "--kiali":
		return "Kiali"
	}
	return "Prometheus"
}

func stripUser(u *url.URL) *url.URL {
	c := *u
	c.User = nil
	return &c
}

func tlsConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--prometheus-ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--prometheus-ca %s: no PEM certificate in the file", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--prometheus-token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--prometheus-token-file %s is empty", path)
	}
	return t, nil
}

func readBasicAuth(path string) (string, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("--prometheus-basic-auth-file: %w", err)
	}
	line := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	user, pass, ok := strings.Cut(line, ":")
	if !ok || user == "" {
		return "", "", fmt.Errorf("--prometheus-basic-auth-file %s: want one line user:password", path)
	}
	return user, pass, nil
}

// authTransport adds the Prometheus credentials to every request.
type authTransport struct {
	next       http.RoundTripper
	tokenFile  string
	basic      bool
	user, pass string
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.tokenFile == "" && !t.basic {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	if t.tokenFile != "" {
		tok, err := readToken(t.tokenFile)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+tok)
	} else {
		r.SetBasicAuth(t.user, t.pass)
	}
	return t.next.RoundTrip(r)
}

// HasPrometheus reports whether a Prometheus URL was given.
func (c *Client) HasPrometheus() bool { return c != nil && c.prom != nil }

// HasGrafana reports whether a Grafana URL was given.
func (c *Client) HasGrafana() bool { return c != nil && c.grafana != nil }

// HasJaeger reports whether a Jaeger URL was given.
func (c *Client) HasJaeger() bool { return c != nil && c.jaeger != nil }

// HasKiali reports whether a Kiali URL was given.
func (c *Client) HasKiali() bool { return c != nil && c.kiali != nil }

// PrometheusURL is the Prometheus base URL without credentials ("" when none).
func (c *Client) PrometheusURL() string { return c.promURL }

// Time is the instant every query is evaluated at.
func (c *Client) Time() time.Time { return c.at }

// Timeout is the bound on each request.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Records returns every call made so far, in the order they finished.
func (c *Client) Records() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Record(nil), c.records...)
}

// Query is the evidence of a Prometheus query for a finding: the
// expression, the evaluation time and the value the finding relied on.
func (c *Client) Query(expr, value string) report.Query {
	return report.Query{Source: "prometheus", Expr: expr, Time: c.at.UTC().Format(time.RFC3339Nano), Value: value}
}

// RangeQuery is the evidence of a range query: Time holds the window as
// "START/END step STEP" (RFC 3339, UTC) so a reader can rerun it.
func (c *Client) RangeQuery(expr string, start, end time.Time, step time.Duration, value string) report.Query {
	return report.Query{Source: "prometheus", Expr: expr, Time: promTime(start) + "/" + promTime(end) + " step " + step.String(), Value: value}
}

// APIQuery is the evidence of a (non-PromQL) API call.
func (c *Client) APIQuery(source, call, value string) report.Query {
	return report.Query{Source: source, Expr: call, Time: c.at.UTC().Format(time.RFC3339Nano), Value: value}
}

// do runs fn once per key for the whole run (concurrent callers wait for
// the first), bounded by the timeout, unless the source already failed as
// a whole. The result is recorded.
func (c *Client) do(ctx context.Context, source, key, callText string, fn func(ctx context.Context) (any, string, error)) (any, error) {
	return c.doRecord(ctx, source, key, Record{Call: callText, Time: c.at}, fn)
}

// doRecord is do with the record's time fields given (InstantAt, Range).
func (c *Client) doRecord(ctx context.Context, source, key string, rec Record, fn func(ctx context.Context) (any, string, error)) (any, error) {
	callText := rec.Call
	c.mu.Lock()
	if cl, ok := c.calls[key]; ok {
		c.mu.Unlock()
		return wait(ctx, cl)
	}
	if be := c.broken[source]; be != nil {
		c.mu.Unlock()
		e := *be
		e.Call, e.Repeated = callText, true
		return nil, &e
	}
	cl := &call{done: make(chan struct{})}
	c.calls[key] = cl
	c.mu.Unlock()

	go func() {
		// The shared call runs on its own context: one caller giving up
		// must not fail the others waiting for the same answer.
		slot := c.slot(source)
		slot <- struct{}{}
		defer func() { <-slot }()
		c.mu.Lock()
		be := c.broken[source]
		c.mu.Unlock()
		if be != nil { // it failed as a whole while this call waited for a slot
			e := *be
			e.Call, e.Repeated = callText, true
			cl.err = &e
			close(cl.done)
			return
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		val, summary, err := fn(cctx)
		cancel()
		rec.Source, rec.Value, rec.Duration = strings.ToLower(source), summary, time.Since(start)
		c.mu.Lock()
		if err != nil {
			te := AsError(err)
			rec.Err = te.Message()
			if te.trips() && c.broken[source] == nil {
				c.broken[source] = te
			}
			err = te
		}
		c.records = append(c.records, rec)
		c.mu.Unlock()
		cl.val, cl.err = val, err
		close(cl.done)
	}()
	return wait(ctx, cl)
}

func wait(ctx context.Context, cl *call) (any, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		return nil, &Error{Kind: Timeout, Source: "telemetry", Detail: ctx.Err().Error(), Fix: "give it longer: --telemetry-timeout 30s"}
	}
}

// Memo computes a value derived from telemetry once per run (per key):
// e.g. the per-service index built from a batched query, shared by every
// per-service item.
func (c *Client) Memo(key string, fn func() (any, error)) (any, error) {
	key = "memo\x00" + key
	c.mu.Lock()
	if cl, ok := c.calls[key]; ok {
		c.mu.Unlock()
		<-cl.done
		return cl.val, cl.err
	}
	cl := &call{done: make(chan struct{})}
	c.calls[key] = cl
	c.mu.Unlock()
	defer close(cl.done)
	cl.val, cl.err = fn()
	return cl.val, cl.err
}

func (c *Client) noPrometheus(call string) error {
	return &Error{Kind: ConfigError, Source: "Prometheus", URL: "(none)", Call: call, Detail: "no Prometheus URL given", Fix: "pass --prometheus URL"}
}

// checkPrometheus asks Prometheus a trivial query once per run, so that a
// Prometheus that is down, slow, behind the wrong URL or refusing the
// credentials fails once, clearly, before any real query.
func (c *Client) checkPrometheus(ctx context.Context) error {
	c.preflight.Do(func() {
		_, _, _, err := c.prom.Query(ctx, "vector(1)", c.at, v1.WithTimeout(c.timeout))
		if err != nil {
			c.preflightErr = classify("Prometheus", c.promURL, "vector(1)", err, c.timeout.String())
		}
	})
	return c.preflightErr
}

// Instant evaluates a PromQL expression at Time() and returns its vector
// (a scalar result comes back as one sample without labels).
func (c *Client) Instant(ctx context.Context, expr string) (model.Vector, error) {
	return c.InstantAt(ctx, expr, c.at)
}

// InstantAt is Instant at another time (e.g. the end of a recorded fault window).
func (c *Client) InstantAt(ctx context.Context, expr string, at time.Time) (model.Vector, error) {
	if c.prom == nil {
		return nil, c.noPrometheus(expr)
	}
	at = at.Truncate(time.Millisecond)
	key := "prometheus\x00query\x00" + strconv.FormatInt(at.UnixMilli(), 10) + "\x00" + expr
	v, err := c.doRecord(ctx, "Prometheus", key, Record{Call: expr, Time: at}, func(ctx context.Context) (any, string, error) {
		if err := c.checkPrometheus(ctx); err != nil {
			return nil, "", err
		}
		val, warnings, _, err := c.prom.Query(ctx, expr, at, v1.WithTimeout(c.timeout))
		if err != nil {
			return nil, "", classify("Prometheus", c.promURL, expr, err, c.timeout.String())
		}
		vec, err := asVector(val)
		if err != nil {
			return nil, "", &Error{Kind: BadQuery, Source: "Prometheus", URL: c.promURL, Call: expr, Detail: err.Error(), Fix: "report the query as a meshready bug"}
		}
		s := Summarize(vec)
		if len(warnings) > 0 {
			s += " (warnings: " + strings.Join(warnings, "; ") + ")"
		}
		return vec, s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(model.Vector), nil
}

// Range evaluates a PromQL expression over [start, end] every step in one
// request (/api/v1/query_range), as Prometheus evaluates an alert's `for`:
// with the same credentials, timeout, error classification and memo as
// Instant. Its record holds start, end and step (Record.Rerun).
func (c *Client) Range(ctx context.Context, expr string, start, end time.Time, step time.Duration) (model.Matrix, error) {
	if c.prom == nil {
		return nil, c.noPrometheus(expr)
	}
	start, end = start.Truncate(time.Millisecond), end.Truncate(time.Millisecond)
	if step <= 0 || end.Before(start) {
		return nil, &Error{Kind: BadQuery, Source: "Prometheus", URL: c.promURL, Call: expr,
			Detail: fmt.Sprintf("invalid range [%s, %s] step %s", promTime(start), promTime(end), step), Fix: "report the query as a meshready bug"}
	}
	key := "prometheus\x00range\x00" + strconv.FormatInt(start.UnixMilli(), 10) + "\x00" + strconv.FormatInt(end.UnixMilli(), 10) + "\x00" + step.String() + "\x00" + expr
	rec := Record{Call: expr, Time: end, Start: start, Step: step}
	v, err := c.doRecord(ctx, "Prometheus", key, rec, func(ctx context.Context) (any, string, error) {
		if err := c.checkPrometheus(ctx); err != nil {
			return nil, "", err
		}
		val, warnings, _, err := c.prom.QueryRange(ctx, expr, v1.Range{Start: start, End: end, Step: step}, v1.WithTimeout(c.timeout))
		if err != nil {
			return nil, "", classify("Prometheus", c.promURL, expr, err, c.timeout.String())
		}
		m, err := asMatrix(val)
		if err != nil {
			return nil, "", &Error{Kind: BadQuery, Source: "Prometheus", URL: c.promURL, Call: expr, Detail: err.Error(), Fix: "report the query as a meshready bug"}
		}
		s := SummarizeMatrix(m)
		if len(warnings) > 0 {
			s += " (warnings: " + strings.Join(warnings, "; ") + ")"
		}
		return m, s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(model.Matrix), nil
}

func asMatrix(v model.Value) (model.Matrix, error) {
	switch x := v.(type) {
	case model.Matrix:
		return x, nil
	case nil:
		return model.Matrix{}, nil
	}
	return nil, fmt.Errorf("want a range vector (matrix) from a range query, got a %s", v.Type())
}

func asVector(v model.Value) (model.Vector, error) {
	switch x := v.(type) {
	case model.Vector:
		return x, nil
	case *model.Scalar:
		return model.Vector{{Metric: model.Metric{}, Value: x.Value, Timestamp: x.Timestamp}}, nil
	case nil:
		return model.Vector{}, nil
	}
	return nil, fmt.Errorf("want an instant vector or scalar, got a %s", v.Type())
}

// Rules returns the rule groups Prometheus has loaded (/api/v1/rules).
func (c *Client) Rules(ctx context.Context) ([]v1.RuleGroup, error) {
	const callText = "GET /api/v1/rules"
	if c.prom == nil {
		return nil, c.noPrometheus(callText)
	}
	v, err := c.do(ctx, "Prometheus", "prometheus\x00rules", callText, func(ctx context.Context) (any, string, error) {
		if err := c.checkPrometheus(ctx); err != nil {
			return nil, "", err
		}
		r, err := c.prom.Rules(ctx, nil)
		if err != nil {
			return nil, "", classify("Prometheus", c.promURL, callText, err, c.timeout.String())
		}
		alerting, recording := 0, 0
		for _, g := range r.Groups {
			for _, rule := range g.Rules {
				switch rule.(type) {
				case v1.AlertingRule:
					alerting++
				case v1.RecordingRule:
					recording++
				}
			}
		}
		return r.Groups, fmt.Sprintf("%d groups, %d alerting and %d recording rules", len(r.Groups), alerting, recording), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]v1.RuleGroup), nil
}

// Targets returns Prometheus' scrape targets (/api/v1/targets).
func (c *Client) Targets(ctx context.Context) (v1.TargetsResult, error) {
	const callText = "GET /api/v1/targets"
	if c.prom == nil {
		return v1.TargetsResult{}, c.noPrometheus(callText)
	}
	v, err := c.do(ctx, "Prometheus", "prometheus\x00targets", callText, func(ctx context.Context) (any, string, error) {
		if err := c.checkPrometheus(ctx); err != nil {
			return nil, "", err
		}
		r, err := c.prom.Targets(ctx)
		if err != nil {
			return nil, "", classify("Prometheus", c.promURL, callText, err, c.timeout.String())
		}
		up := 0
		for _, t := range r.Active {
			if t.Health == v1.HealthGood {
				up++
			}
		}
		return r, fmt.Sprintf("%d active targets, %d up", len(r.Active), up), nil
	})
	if err != nil {
		return v1.TargetsResult{}, err
	}
	return v.(v1.TargetsResult), nil
}

// FormatValue prints a sample value for evidence: up to 6 significant digits.
func FormatValue(v float64) string { return formatFloat(v, 6) }

// FormatExact prints a sample value as Prometheus does: every digit.
func FormatExact(v float64) string { return formatFloat(v, -1) }

func formatFloat(v float64, digits int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', digits, 64)
}

// SampleString prints one sample: {labels} value.
func SampleString(s *model.Sample) string {
	return labelString(s.Metric) + " " + FormatValue(float64(s.Value))
}

func labelString(m model.Metric) string {
	names := make([]string, 0, len(m))
	for k := range m {
		if k != model.MetricNameLabel {
			names = append(names, string(k))
		}
	}
	sort.Strings(names)
	var b strings.Builder
	if n, ok := m[model.MetricNameLabel]; ok {
		b.WriteString(string(n))
	}
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strconv.Quote(string(m[model.LabelName(k)])))
	}
	b.WriteByte('}')
	return b.String()
}

// SummarizeMatrix describes a range query's result for the record: the
// number of series and of points.
func SummarizeMatrix(m model.Matrix) string {
	if len(m) == 0 {
		return "no series"
	}
	points := 0
	for _, s := range m {
		points += len(s.Values) + len(s.Histograms)
	}
	if len(m) == 1 {
		return fmt.Sprintf("%s: %d points", labelString(m[0].Metric), points)
	}
	return fmt.Sprintf("%d series, %d points", len(m), points)
}

// Summarize describes a query result for the record: "no series", the one
// sample, or the number of series.
func Summarize(vec model.Vector) string {
	switch len(vec) {
	case 0:
		return "no series"
	case 1:
		return SampleString(vec[0])
	}
	return fmt.Sprintf("%d series", len(vec))
}
