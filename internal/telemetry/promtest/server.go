// Package promtest runs a real Prometheus for tests: the Debian package's
// /usr/bin/prometheus (apt-get install prometheus; .ci/run installs it),
// started on a free loopback port with a temporary storage directory,
// scraping (every second by default) a target served on 127.0.0.1 that
// exports Istio's standard metric families for a described Mesh, and
// loading the given rule files, so PromQL, /api/v1/rules and ALERTS in the
// tests are Prometheus' own answers.
//
// Without the binary the tests skip, unless MESHREADY_REQUIRE_PROMETHEUS is
// set (CI sets it), where they fail.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// RequireEnv makes missing Prometheus a failure instead of a skip.
const RequireEnv = "MESHREADY_REQUIRE_PROMETHEUS"

// Binary returns the prometheus binary, or skips (fails under RequireEnv).
func Binary(t testing.TB) string {
	t.Helper()
	cands := []string{os.Getenv("MESHREADY_PROMETHEUS_BIN"), "/usr/bin/prometheus"}
	if p, err := exec.LookPath("prometheus"); err == nil {
		cands = append(cands, p)
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	msg := "no prometheus binary (install it: apt-get install -y prometheus, or set MESHREADY_PROMETHEUS_BIN)"
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s, and %s is set", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// Options tune a Server.
type Options struct {
	// Rules is a Prometheus rule file (groups: ...), loaded as is.
	Rules []byte
	// ScrapeInterval defaults to 1s.
	ScrapeInterval time.Duration
	// EvaluationInterval (rules) defaults to 1s. Large meshes need a
	// realistic one (30s): rules over 100,000s of series take seconds.
	EvaluationInterval time.Duration
	// DeadProxyTargets adds that many proxy targets nothing listens on (down in /api/v1/targets).
	DeadProxyTargets int
	// IstiodDown points the istiod job at an address nothing listens on.
	IstiodDown bool
	// Scrapes is how many scrapes of every target to wait for (default 3, so rate() has samples).
	Scrapes int
}

// Server is a running Prometheus and its target.
type Server struct {
	URL    string // Prometheus base URL, http://127.0.0.1:PORT
	Target *httptest.Server
	Dir    string
	Mesh   *Mesh
	cmd    *exec.Cmd
	log    *bytes.Buffer
}

// Start serves the mesh's metrics, starts Prometheus scraping them and
// waits until every live target has been scraped opts.Scrapes times and
// every rule group evaluated. Everything stops at the end of the test.
func Start(t testing.TB, m *Mesh, o Options) *Server {
	t.Helper()
	bin := Binary(t)
	o = o.withDefaults()
	tgt := newTarget(m)
	ts := httptest.NewServer(tgt.handler())
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	s := &Server{Target: ts, Dir: dir, Mesh: m}
	addr := strings.TrimPrefix(ts.URL, "http://")
	s.launch(t, bin, s.config(addr, m, o), o)
	s.waitScraped(t, m, o)
	return s
}

func (o Options) withDefaults() Options {
	if o.ScrapeInterval <= 0 {
		o.ScrapeInterval = time.Second
	}
	if o.Scrapes <= 0 {
		o.Scrapes = 3
	}
	if o.EvaluationInterval <= 0 {
		o.EvaluationInterval = time.Second
	}
	return o
}

// launch writes the rule file and the configuration into s.Dir and starts
// Prometheus on a free loopback port (retrying when another process took
// the port first); it fails the test when Prometheus does not start.
func (s *Server) launch(t testing.TB, bin string, cfg []byte, o Options) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.Dir, "rules.yaml"), nonEmptyRules(o.Rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "prometheus.yml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(t, bin, port); lastErr == nil {
			return
		}
	}
	t.Fatalf("prometheus did not start: %v\n%s", lastErr, s.log.String())
}

func nonEmptyRules(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("groups: []\n")
	}
	return b
}

func (s *Server) config(addr string, m *Mesh, o Options) []byte {
	iv := o.ScrapeInterval.String()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, o.EvaluationInterval)
	fmt.Fprintf(&b, "rule_files:\n- %s\n", filepath.Join(s.Dir, "rules.yaml"))
	b.WriteString("scrape_configs:\n")
	istiod := addr
	if o.IstiodDown {
		istiod = "127.0.0.1:1"
	}
	fmt.Fprintf(&b, "- job_name: istiod\n  honor_labels: true\n  metrics_path: /istiod/metrics\n  static_configs:\n  - targets: [%q]\n    labels: {app: istiod, namespace: istio-system}\n", istiod)
	for _, job := range []struct{ name, path, prefix string }{{"envoy-stats", "/stats/prometheus", "proxies"}, {"kubernetes-cadvisor", "/metrics/cadvisor", "cadvisor"}} {
		fmt.Fprintf(&b, "- job_name: %s\n  honor_labels: true\n  metrics_path: %s\n  static_configs:\n", job.name, job.path)
		for i := 0; i < m.shards(); i++ {
			fmt.Fprintf(&b, "  - targets: [%q]\n    labels: {__param_shard: %q, instance: %q}\n", addr, fmt.Sprint(i), fmt.Sprintf("%s-%d", job.prefix, i))
		}
		if job.name == "envoy-stats" {
			for i := 0; i < o.DeadProxyTargets; i++ {
				fmt.Fprintf(&b, "  - targets: [\"127.0.0.1:%d\"]\n    labels: {instance: %q}\n", 1+i, fmt.Sprintf("dead-proxy-%d", i))
			}
		}
	}
	return []byte(b.String())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(t testing.TB, bin string, port int) error {
	s.log = &bytes.Buffer{}
	data := filepath.Join(s.Dir, fmt.Sprintf("data-%d", port))
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(s.Dir, "prometheus.yml"),
		"--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=1d",
		"--web.listen-address="+listen,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	s.URL = "http://" + listen
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("prometheus exited: %v", err)
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				s.cmd = cmd
				t.Cleanup(stop)
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return fmt.Errorf("not ready after 30s")
}

// Query runs an instant query against the test Prometheus (for test setup).
func (s *Server) Query(t testing.TB, expr string) []map[string]any {
	t.Helper()
	resp, err := http.Get(s.URL + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []map[string]any `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Status != "success" {
		t.Fatalf("query %s: %s", expr, out.Error)
	}
	return out.Data.Result
}

func (s *Server) waitScraped(t testing.TB, m *Mesh, o Options) {
	t.Helper()
	want := fmt.Sprint(o.Scrapes)
	// Every live target scraped enough times, and every rule group evaluated.
	expr := fmt.Sprintf(`count(count_over_time(up{instance!~"dead-.*"}[5m]) >= %s)`, want)
	targets := 1 + 2*m.shards() // istiod (up 0 when down, but a sample), proxies, cAdvisor
	deadline := time.Now().Add(time.Duration(o.Scrapes+10)*o.ScrapeInterval + 2*o.EvaluationInterval + 60*time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for ctx.Err() == nil {
		res := s.Query(t, expr)
		n := 0
		if len(res) == 1 {
			fmt.Sscan(fmt.Sprint(res[0]["value"].([]any)[1]), &n)
		}
		if n >= targets && s.rulesEvaluated(t) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("prometheus did not scrape the test target %s times within the deadline\n%s", want, s.log.String())
}

func (s *Server) rulesEvaluated(t testing.TB) bool {
	resp, err := http.Get(s.URL + "/api/v1/rules")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Groups []struct {
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return false
	}
	for _, g := range out.Data.Groups {
		if g.LastEvaluation.IsZero() || g.LastEvaluation.Year() < 2000 {
			return false
		}
	}
	return true
}

// RuleFileFromPrometheusRule converts a PrometheusRule manifest (YAML)
// into a Prometheus rule file, after edit (may be nil) changes its groups.
func RuleFileFromPrometheusRule(manifest []byte, edit func(groups []map[string]any) []map[string]any) ([]byte, error) {
	js, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		return nil, err
	}
	var pr struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(js, &pr); err != nil {
		return nil, err
	}
	groups := pr.Spec.Groups
	if edit != nil {
		groups = edit(groups)
	}
	return yaml.Marshal(map[string]any{"groups": groups})
}

// EditRule applies fn to the alert named alert (fn returns false to delete it).
func EditRule(groups []map[string]any, alert string, fn func(rule map[string]any) bool) []map[string]any {
	for _, g := range groups {
		rules, _ := g["rules"].([]any)
		var kept []any
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			if rm != nil && rm["alert"] == alert && !fn(rm) {
				continue
			}
			kept = append(kept, r)
		}
		g["rules"] = kept
	}
	return groups
}
