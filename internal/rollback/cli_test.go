package rollback_test

// The `meshready rollback` commands end to end, in process: flags, exit
// codes and output. The fake Prometheus below answers /api/v1/query and
// /api/v1/query_range in the HTTP API's documented JSON format on a loopback
// port (a stand-in for the wire format only); real PromQL against a real
// Prometheus is tested in realprom_test.go and the telemetry package.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/meshready/meshready/internal/cli"
	"github.com/meshready/meshready/internal/exitcode"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// prometheus answers every query (instant, or range at every step) with the value of the first
// entry of values whose key the query contains; status, when set, answers
// everything with that HTTP status.
type prometheus struct {
	values map[string]string
	status int
	mu     sync.Mutex
	auth   []string
}

func (p *prometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	p.mu.Lock()
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	p.mu.Unlock()
	if p.status != 0 {
		http.Error(w, http.StatusText(p.status), p.status)
		return
	}
	q := r.Form.Get("query")
	value := ""
	if q == "vector(1)" {
		value = "1"
	}
	for k, v := range p.values {
		if strings.Contains(q, k) {
			value = v
			break
		}
	}
	var data map[string]any
	switch r.URL.Path {
	case "/api/v1/query":
		result := []any{}
		if value != "" {
			result = append(result, map[string]any{"metric": map[string]string{}, "value": []any{json.Number(r.Form.Get("time")), value}})
		}
		data = map[string]any{"resultType": "vector", "result": result}
	case "/api/v1/query_range":
		// The same value at every step of [start, end].
		start, err1 := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, err2 := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, err3 := strconv.ParseFloat(r.Form.Get("step"), 64)
		if err := errors.Join(err1, err2, err3); err != nil || step <= 0 {
			http.Error(w, fmt.Sprintf("bad range: %v", err), http.StatusBadRequest)
			return
		}
		result := []any{}
		if value != "" {
			var values []any
			for ts := start; ts <= end; ts += step {
				values = append(values, []any{ts, value})
			}
			result = append(result, map[string]any{"metric": map[string]string{}, "values": values})
		}
		data = map[string]any{"resultType": "matrix", "result": result}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

const triggersConfig = `apiVersion: meshready/v1
kind: Config
rollback:
  triggers:
  - name: rollback-5xx
    query: sum(rate(istio_requests_total{response_code=~"5.."}[5m])) / sum(rate(istio_requests_total[5m]))
    op: ">"
    threshold: 0.05
    for: 5m
  - name: rollback-istiod
    query: (sum(up{job="istiod"}) or vector(0))
    op: "<"
    threshold: 1
`

func configFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "meshready.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRollbackCheckExitCodes(t *testing.T) {
	cfg := configFile(t, triggersConfig)
	tests := []struct {
		name   string
		prom   *prometheus
		code   int
		stdout []string
		stderr string
	}{
		{"hold", &prometheus{values: map[string]string{"istio_requests_total": "0.001", "up{": "3"}}, exitcode.Ready,
			[]string{"HOLD       rollback-5xx", "value      0.001", "threshold  > 0.05 for 5m", "query      sum(rate(", "Verdict: HOLD"}, ""},
		{"roll back", &prometheus{values: map[string]string{"istio_requests_total": "0.2", "up{": "0"}}, exitcode.NotReady,
			[]string{"ROLL-BACK  rollback-5xx", "ROLL-BACK  rollback-istiod", "Verdict: ROLL BACK: 2 of 2"}, ""},
		{"prometheus 500", &prometheus{status: http.StatusInternalServerError}, exitcode.Internal,
			[]string{"ERROR      rollback-5xx", "Verdict: UNKNOWN"}, "cannot evaluate the rollback triggers: Prometheus at http://127.0.0.1"},
		{"prometheus 401", &prometheus{status: http.StatusUnauthorized}, exitcode.Internal,
			[]string{"refused meshready's credentials"}, "--prometheus-token-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.prom)
			defer srv.Close()
			code, out, errOut := run(t, "rollback", "check", "--prometheus", srv.URL, "--config", cfg)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.stderr != "" && !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr lacks %q: %s", tt.stderr, errOut)
			}
			if tt.code == exitcode.NotReady && errOut != "" {
				t.Errorf("a roll-back verdict printed on stderr: %q", errOut)
			}
		})
	}
}

func TestRollbackCheckJSONAndToken(t *testing.T) {
	prom := &prometheus{values: map[string]string{"istio_requests_total": "0.001", "up{": "0"}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("t0ken\n"), 0o600)
	code, out, errOut := run(t, "rollback", "check", "--prometheus", srv.URL, "--config", configFile(t, triggersConfig), "--prometheus-token-file", tok, "-o", "json")
	if code != exitcode.NotReady {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Verdict  string
		Triggers []struct{ Name, Verdict, Value, Query string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.Verdict != "roll-back" || len(rep.Triggers) != 2 || rep.Triggers[1].Verdict != "roll-back" || rep.Triggers[1].Value != "0" || rep.Triggers[0].Query == "" {
		t.Errorf("report: %+v", rep)
	}
	prom.mu.Lock()
	defer prom.mu.Unlock()
	for _, a := range prom.auth {
		if a != "Bearer t0ken" {
			t.Errorf("Authorization %q", a)
		}
	}
}

func TestRollbackUsageErrors(t *testing.T) {
	noTriggers := configFile(t, "apiVersion: meshready/v1\nkind: Config\n")
	withTriggers := configFile(t, triggersConfig)
	for _, args := range [][]string{
		{"rollback", "check", "--config", withTriggers},
		{"rollback", "check", "--prometheus", "http://127.0.0.1:1", "--config", noTriggers},
		{"rollback", "check", "--prometheus", "not a url", "--config", withTriggers},
		{"rollback", "check", "--prometheus", "http://127.0.0.1:1", "--config", withTriggers, "-o", "yaml"},
		{"rollback", "plan", "-o", "html", "../../examples/devmentor"},
		{"rollback", "plan", "/nonexistent"},
		{"rollback", "plan", "--to-revision", "nope", "../../examples/devmentor"},
		{"rollback", "nosuch"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, errOut := run(t, args...)
			if code != exitcode.Usage || !strings.Contains(errOut, "meshready:") {
				t.Errorf("exit %d, stderr %q", code, errOut)
			}
		})
	}
}

func TestRollbackPlanCommand(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "mesh-export")
	if code, out, errOut := run(t, "export", exp, "../../examples/devmentor"); code != 0 {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := run(t, "rollback", "plan", "../../examples/devmentor", "--export-dir", exp, "--to-version", "1.30.5", "-o", "markdown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"# Rollback plan for `../../examples/devmentor`",
		"## 2. Reinstall the control plane at Istio 1.30.5",
		"```sh\ncurl -sL https://istio.io/downloadIstio | ISTIO_VERSION=\"1.30.5\" sh -",
		"install -y -f " + exp + "/install/istiooperator-default.yaml",
		"kubectl apply -f " + exp,
		"**Verify**",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}
