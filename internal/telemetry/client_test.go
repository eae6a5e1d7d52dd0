package telemetry_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/promtest"
)

var ctx = context.Background()

// testRules has one alert that always fires, so ALERTS is Prometheus' own.
const testRules = `groups:
- name: meshready-test
  rules:
  - alert: AlwaysFiring
    expr: vector(1) > 0
    labels: {severity: none}
    annotations: {runbook_url: docs/runbooks/always.md}
  - alert: PlaintextTraffic
    expr: sum(rate(istio_requests_total{reporter="destination", connection_security_policy!="mutual_tls"}[5m])) > 0
    for: 1h
  - record: mesh:requests:rate5m
    expr: sum(rate(istio_requests_total[5m]))
`

// proxy forwards to target, counting requests and running check first
// (false: check answered). The API client POSTs queries as forms; the proxy
// forwards them as GETs.
func proxy(t *testing.T, target string, tlsServer bool, check func(w http.ResponseWriter, r *http.Request) bool) (*httptest.Server, *int64) {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	var n int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt64(&n, 1)
		if check != nil && !check(w, r) {
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		r.Method, r.URL.RawQuery = http.MethodGet, r.Form.Encode()
		r.Body, r.ContentLength = http.NoBody, 0
		r.Header.Del("Content-Type")
		rp.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if tlsServer {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, &n
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func kindOf(err error) telemetry.ErrorKind {
	var e *telemetry.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return "not a telemetry.Error"
}

func TestAgainstPrometheus(t *testing.T) {
	s := promtest.Start(t, promtest.DevMentor(false), promtest.Options{Rules: []byte(testRules)})

	t.Run("instant query, recorded", func(t *testing.T) {
		cl, err := telemetry.New(telemetry.Options{Prometheus: s.URL})
		if err != nil {
			t.Fatal(err)
		}
		expr := `sum by (destination_service_name) (rate(istio_requests_total{reporter="destination"}[5m]))`
		vec, err := cl.Instant(ctx, expr)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, smp := range vec {
			got[string(smp.Metric["destination_service_name"])] = float64(smp.Value)
		}
		for svc, want := range map[string]float64{"pbml-context": 100, "qwen-llm": 5, "qdrant": 200} {
			if g := got[svc]; g < want*0.99 || g > want*1.01 {
				t.Errorf("%s: %v req/s, want %v", svc, g, want)
			}
		}
		recs := cl.Records()
		if len(recs) != 1 || recs[0].Call != expr || recs[0].Value != "3 series" || recs[0].Err != "" || !recs[0].Time.Equal(cl.Time()) {
			t.Errorf("records: %+v", recs)
		}
		q := cl.Query(expr, "100")
		if q.Source != "prometheus" || q.Expr != expr || q.Time == "" || q.Value != "100" {
			t.Errorf("evidence: %+v", q)
		}
		// A scalar comes back as one sample.
		if v, err := cl.Instant(ctx, "scalar(vector(42))"); err != nil || len(v) != 1 || v[0].Value != 42 {
			t.Errorf("scalar: %v %v", v, err)
		}
	})

	t.Run("one request per expression, however many callers", func(t *testing.T) {
		px, n := proxy(t, s.URL, false, nil)
		cl, _ := telemetry.New(telemetry.Options{Prometheus: px.URL})
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := cl.Instant(ctx, "count(envoy_server_live)"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := atomic.LoadInt64(n); got != 2 { // the preflight and the query
			t.Errorf("%d requests to Prometheus, want 2", got)
		}
		if len(cl.Records()) != 1 {
			t.Errorf("%d records, want 1", len(cl.Records()))
		}
	})

	t.Run("rules, targets and ALERTS", func(t *testing.T) {
		cl, _ := telemetry.New(telemetry.Options{Prometheus: s.URL})
		groups, err := cl.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		alerting := map[string]v1.AlertingRule{}
		for _, g := range groups {
			for _, r := range g.Rules {
				if a, ok := r.(v1.AlertingRule); ok {
					alerting[a.Name] = a
				}
			}
		}
		if a := alerting["AlwaysFiring"]; a.Health != v1.RuleHealthGood || a.State != "firing" || a.Annotations["runbook_url"] != "docs/runbooks/always.md" {
			t.Errorf("AlwaysFiring: %+v", a)
		}
		if a := alerting["PlaintextTraffic"]; a.State != "inactive" || a.Duration != 3600 {
			t.Errorf("PlaintextTraffic: %+v", a)
		}
		vec, err := cl.Instant(ctx, `ALERTS{alertstate="firing"}`)
		if err != nil || len(vec) != 1 || vec[0].Metric["alertname"] != "AlwaysFiring" {
			t.Errorf("ALERTS: %v %v", vec, err)
		}
		tr, err := cl.Targets(ctx)
		if err != nil || len(tr.Active) != 3 {
			t.Fatalf("targets: %+v %v", tr, err)
		}
		for _, a := range tr.Active {
			if a.Health != v1.HealthGood {
				t.Errorf("target %s: %s %s", a.ScrapeURL, a.Health, a.LastError)
			}
		}
	})

	t.Run("bearer token, basic auth and a private CA", func(t *testing.T) {
		var sawAuth atomic.Value
		tlsPx, _ := proxy(t, s.URL, true, func(w http.ResponseWriter, r *http.Request) bool {
			a := r.Header.Get("Authorization")
			sawAuth.Store(a)
			if u, p, ok := r.BasicAuth(); (ok && u == "meshready" && p == "pa:ss") || a == "Bearer tok3n" {
				return true
			}
			w.WriteHeader(http.StatusUnauthorized)
			return false
		})
		ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsPx.Certificate().Raw})))
		token := writeFile(t, "token", "tok3n\n")
		basic := writeFile(t, "basic", "meshready:pa:ss\n")
		for _, c := range []struct {
			name string
			o    telemetry.Options
			want telemetry.ErrorKind // "" for success
		}{
			{"token", telemetry.Options{PrometheusTokenFile: token, PrometheusCAFile: ca}, ""},
			{"basic auth file", telemetry.Options{PrometheusBasicAuthFile: basic, PrometheusCAFile: ca}, ""},
			{"no credentials", telemetry.Options{PrometheusCAFile: ca}, telemetry.Unauthorized},
			{"CA not given", telemetry.Options{PrometheusTokenFile: token}, telemetry.TLSError},
		} {
			t.Run(c.name, func(t *testing.T) {
				c.o.Prometheus = tlsPx.URL
				cl, err := telemetry.New(c.o)
				if err != nil {
					t.Fatal(err)
				}
				_, err = cl.Instant(ctx, "count(up)")
				if c.want == "" && err != nil {
					t.Fatalf("%v (Authorization %q)", err, sawAuth.Load())
				}
				if c.want != "" && kindOf(err) != c.want {
					t.Fatalf("error %v (%s), want %s", err, kindOf(err), c.want)
				}
				if err != nil {
					te := err.(*telemetry.Error)
					if te.Fix == "" || strings.Contains(te.Message(), "pa:ss") || strings.Contains(te.Message(), "tok3n") {
						t.Errorf("message %q, fix %q", te.Message(), te.Fix)
					}
				}
			})
		}
		// Credentials in the URL are basic auth, and never shown.
		u, _ := url.Parse(tlsPx.URL)
		u.User = url.UserPassword("meshready", "pa:ss")
		cl, err := telemetry.New(telemetry.Options{Prometheus: u.String(), PrometheusCAFile: ca})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Instant(ctx, "count(up)"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cl.PrometheusURL(), "pa") {
			t.Errorf("PrometheusURL shows the password: %s", cl.PrometheusURL())
		}
	})

	t.Run("a query Prometheus rejects fails alone", func(t *testing.T) {
		cl, _ := telemetry.New(telemetry.Options{Prometheus: s.URL})
		_, err := cl.Instant(ctx, "sum(rate(istio_requests_total[5m]) by (")
		if kindOf(err) != telemetry.BadQuery || !strings.Contains(err.Error(), "rejected the query: ") {
			t.Fatalf("%v (%s)", err, kindOf(err))
		}
		if _, err := cl.Instant(ctx, "count(up)"); err != nil {
			t.Fatalf("a bad query must not stop the others: %v", err)
		}
	})
}

func TestErrorsAreClassifiedWithinTheTimeout(t *testing.T) {
	// Port 1: nothing listens there (a port freed by the test itself could
	// be taken by another test's server meanwhile).
	down := "http://127.0.0.1:1"
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer stall.Close()
	status := func(code int, body string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}))
	}
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>Grafana</body></html>")
	}))
	defer html.Close()
	s401, s403, s404, s503 := status(401, "Unauthorized"), status(403, "Forbidden"), status(404, "404 page not found"), status(503, "Service Unavailable")
	for _, s := range []*httptest.Server{s401, s403, s404, s503} {
		defer s.Close()
	}
	const timeout = 500 * time.Millisecond
	for _, c := range []struct {
		name, url string
		want      telemetry.ErrorKind
		says      string
	}{
		{"down", down, telemetry.Unreachable, "is unreachable"},
		{"slow", stall.URL, telemetry.Timeout, "did not answer in time"},
		{"401", s401.URL, telemetry.Unauthorized, "HTTP 401"},
		{"403", s403.URL, telemetry.Unauthorized, "HTTP 403"},
		{"404", s404.URL, telemetry.WrongURL, "HTTP 404"},
		{"html", html.URL, telemetry.WrongURL, "is not the Prometheus API"},
		{"503", s503.URL, telemetry.ServerError, "HTTP 503"},
		{"https to http", strings.Replace(s404.URL, "http:", "https:", 1), telemetry.TLSError, "TLS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := telemetry.New(telemetry.Options{Prometheus: c.url, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = cl.Instant(ctx, "count(up)")
			took := time.Since(start)
			if kindOf(err) != c.want || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("%v (%s), want %s saying %q", err, kindOf(err), c.want, c.says)
			}
			if te := err.(*telemetry.Error); te.Fix == "" {
				t.Errorf("no fix: %v", te)
			}
			if took > timeout+time.Second {
				t.Errorf("took %v with a %v timeout", took, timeout)
			}
			// Later calls fail at once the same way.
			start = time.Now()
			_, err2 := cl.Rules(ctx)
			if kindOf(err2) != c.want || time.Since(start) > 200*time.Millisecond && c.want == telemetry.Timeout {
				t.Errorf("second call: %v after %v", err2, time.Since(start))
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tok := writeFile(t, "token", "x")
	for _, o := range []telemetry.Options{
		{Prometheus: "prometheus:9090"},
		{Prometheus: "ftp://host"},
		{Prometheus: "http://host", PrometheusTokenFile: "/nonexistent/token"},
		{Prometheus: "http://host", PrometheusTokenFile: writeFile(t, "empty", "\n")},
		{Prometheus: "http://host", PrometheusTokenFile: tok, PrometheusBasicAuthFile: tok},
		{Prometheus: "http://host", PrometheusBasicAuthFile: writeFile(t, "nocolon", "user\n")},
		{Prometheus: "http://host", PrometheusCAFile: writeFile(t, "ca", "not a certificate")},
		{Grafana: "grafana:3000"},
	} {
		if _, err := telemetry.New(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// Grafana, Jaeger and Kiali are not packaged for Debian: their clients are
// tested against loopback servers answering as the documented APIs do
// (promtest.StartAPIs).
func TestGrafanaJaegerKialiClients(t *testing.T) {
	o := promtest.DevMentorAPIs(false)
	o.GrafanaUser, o.GrafanaPassword = "viewer", "s3cret"
	apis := promtest.StartAPIs(t, o)
	gu, _ := url.Parse(apis.Grafana.URL)
	gu.User = url.UserPassword("viewer", "s3cret")
	cl, err := telemetry.New(telemetry.Options{Grafana: gu.String(), Jaeger: apis.Jaeger.URL, Kiali: apis.KialiURL()})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := cl.GrafanaDashboards(ctx)
	if err != nil || len(ds) != 7 || ds[0].Title != "Istio Mesh Dashboard" || ds[0].FolderTitle != "Istio" {
		t.Fatalf("grafana: %+v %v", ds, err)
	}
	cl.GrafanaDashboards(ctx)
	if n := apis.Calls("/api/search"); n != 1 {
		t.Errorf("%d searches, want 1 (cached)", n)
	}
	svcs, err := cl.JaegerServices(ctx)
	if err != nil || len(svcs) != 4 {
		t.Fatalf("jaeger services: %v %v", svcs, err)
	}
	tr, err := cl.JaegerTraces(ctx, "qwen-llm.devmentor", time.Hour, 1)
	if err != nil || len(tr) != 1 || len(tr[0].Spans) != 2 || tr[0].Processes["p1"].ServiceName != "qwen-llm.devmentor" || time.Since(tr[0].Start()) > time.Hour {
		t.Fatalf("jaeger traces: %+v %v", tr, err)
	}
	if tr, err := cl.JaegerTraces(ctx, "nobody.nowhere", time.Hour, 1); err != nil || len(tr) != 0 {
		t.Errorf("no traces: %+v %v", tr, err)
	}
	st, err := cl.KialiStatus(ctx)
	if err != nil || st.State() != "running" || st.Version() != "v2.4.0" || len(st.ExternalServices) != 2 {
		t.Fatalf("kiali: %+v %v", st, err)
	}
	if err := cl.KialiHealthz(ctx); err != nil {
		t.Errorf("kiali healthz: %v", err)
	}

	// Wrong password, wrong Kiali root, a Jaeger collector instead of the query service.
	bad, _ := telemetry.New(telemetry.Options{Grafana: apis.Grafana.URL, Kiali: apis.Kiali.URL, Jaeger: apis.Grafana.URL})
	if _, err := bad.GrafanaDashboards(ctx); kindOf(err) != telemetry.Unauthorized || !strings.Contains(err.Error(), "Grafana at "+apis.Grafana.URL) {
		t.Errorf("grafana without credentials: %v", err)
	}
	if _, err := bad.KialiStatus(ctx); kindOf(err) != telemetry.WrongURL {
		t.Errorf("kiali without its web root: %v", err)
	}
	if _, err := bad.JaegerServices(ctx); kindOf(err) != telemetry.WrongURL && kindOf(err) != telemetry.Unauthorized {
		t.Errorf("jaeger at grafana's URL: %v", err)
	}
	none, _ := telemetry.New(telemetry.Options{})
	if _, err := none.Instant(ctx, "up"); kindOf(err) != telemetry.ConfigError || !strings.Contains(err.(*telemetry.Error).Fix, "--prometheus") {
		t.Errorf("no Prometheus: %v", err)
	}
}
