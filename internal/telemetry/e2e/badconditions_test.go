package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/telemetry"
)

// needProm are the items of the example whose telemetry part queries Prometheus.
var needProm = []string{
	"telemetry.prometheus", "metrics.service", "metrics.proxy", "metrics.control-plane", "metrics.custom",
	"logging.error-logs", "security.monitoring", "sectest.mtls-encryption", "ops.alert-rules", "perf.resource-overhead",
	"service.qwen-llm.monitoring", "service.pbml-context.monitoring", "service.qdrant.monitoring",
	"service.pbml-context.communication",
}

// proxyTo forwards to a Prometheus through modify (nil: as is). The API
// client POSTs its form; the proxy forwards it as a GET.
func proxyTo(t *testing.T, target string, modify func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if modify != nil && !modify(w, r) {
			return
		}
		r.Method = http.MethodGet
		r.URL.RawQuery = r.Form.Encode()
		r.Body, r.ContentLength = http.NoBody, 0
		r.Header.Del("Content-Type")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedPort is an address nothing listens on (port 1: a port the test
// freed could be taken by another test's server meanwhile).
func closedPort(*testing.T) string { return "http://127.0.0.1:1" }

func TestBadConditions(t *testing.T) {
	s, _ := startHealthy(t)
	snap, cfg := loadExample(t)
	baseline := run(t, snap, cfg, nil)
	baseParts := map[string]report.Status{}
	for _, it := range baseline.Items {
		for _, p := range it.Parts {
			if p.Part != "telemetry" {
				baseParts[it.ID+"/"+p.Part] = p.Status
			}
		}
	}

	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices when the client hangs up
		select {                    // a Prometheus that accepts the request and never answers
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(stall.Close)
	htmlUI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!doctype html><html><head><title>Grafana</title></head><body>login</body></html>"))
	}))
	t.Cleanup(htmlUI.Close)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("expired-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authProxy := proxyTo(t, s.URL, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return false
		}
		return true
	})
	// The real Prometheus rejects the queries on connection_security_policy
	// (the proxy breaks them), so the items that rely on them say error and
	// the others still pass.
	breakQuery := proxyTo(t, s.URL, func(w http.ResponseWriter, r *http.Request) bool {
		if q := r.Form.Get("query"); strings.Contains(q, "connection_security_policy") {
			r.Form.Set("query", q+" by (")
		}
		return true
	})

	const timeout = time.Second
	for _, c := range []struct {
		name, url, tokenFile string
		reason               string   // every needProm item's error says this
		only                 []string // when set: only these items error, the rest pass
	}{
		{"down", closedPort(t), "", "is unreachable", nil},
		{"slow", stall.URL, "", "did not answer in time", nil},
		{"wrong-url-html", htmlUI.URL, "", "is not the Prometheus API", nil},
		{"wrong-url-404", notFound.URL, "", "is not the Prometheus API", nil},
		{"unauthorized", authProxy.URL, tokenFile, "refused meshready's credentials", nil},
		{"query-error", breakQuery.URL, "", "rejected the query", []string{"security.monitoring", "sectest.mtls-encryption", "service.pbml-context.communication"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := telemetry.New(telemetry.Options{Prometheus: c.url, PrometheusTokenFile: c.tokenFile, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := run(t, snap, cfg, cl)
			took := time.Since(start)
			t.Logf("checklist evaluated in %v", took)
			if took > timeout+3*time.Second {
				t.Errorf("took %v with a %v telemetry timeout", took, timeout)
			}
			got := telemetryStatuses(r)
			erring := needProm
			if c.only != nil {
				erring = c.only
			}
			isErring := map[string]bool{}
			for _, id := range erring {
				isErring[id] = true
				it := got[id]
				pr, _ := part(it, "telemetry")
				fs := findings(it, "telemetry")
				if pr.Status != report.Error {
					t.Errorf("%s: telemetry part %s, want error:\n%s", id, pr.Status, describe(fs))
					continue
				}
				ok := false
				for _, f := range fs {
					if f.Status == report.Error && strings.Contains(f.Message, c.reason) {
						ok = true
						if f.Remediation == "" {
							t.Errorf("%s: error without a fix: %s", id, f.Message)
						}
					}
				}
				if !ok {
					t.Errorf("%s: no error says %q:\n%s", id, c.reason, describe(fs))
				}
			}
			if c.only != nil {
				for _, id := range needProm {
					if isErring[id] {
						continue
					}
					if pr, _ := part(got[id], "telemetry"); pr.Status != report.Pass && pr.Status != report.NotApplicable {
						t.Errorf("%s: telemetry part %s, want pass (its queries are fine):\n%s", id, pr.Status, describe(findings(got[id], "telemetry")))
					}
				}
			}
			if testing.Verbose() {
				t.Logf("metrics.service:\n%s", describe(findings(got["metrics.service"], "telemetry")))
				if c.only != nil {
					t.Logf("security.monitoring:\n%s", describe(findings(got["security.monitoring"], "telemetry")))
				}
			}
			// Everything else evaluates as without telemetry.
			for _, it := range r.Items {
				for _, p := range it.Parts {
					if p.Part == "telemetry" {
						continue
					}
					if want := baseParts[it.ID+"/"+p.Part]; p.Status != want {
						t.Errorf("%s %s part: %s, want %s as without telemetry", it.ID, p.Part, p.Status, want)
					}
				}
			}
		})
	}
}
