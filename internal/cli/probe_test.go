package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meshready/meshready/internal/evidence"
)

func loopback(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s.URL
}

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestProbeLoadJSONAndEvidence(t *testing.T) {
	url := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var dir, out, errs string
	code := -1
	// A timing run: on a shared machine one attempt can land in a stall
	// (then the achieved rate fails the verdict); up to 3 attempts.
	for attempt := 0; attempt < 3 && code != 0; attempt++ {
		dir = t.TempDir()
		code, out, errs = runMain(t, "probe", "load", "--url", url, "--qps", "100", "--duration", "300ms", "--evidence-dir", dir, "-o", "json")
	}
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	var rec struct {
		Kind, Target, Verdict string
		Results               struct {
			Requests    int64
			Errors      int64
			AchievedQPS float64
			LatencyMs   struct{ P50, P90, P99, P999 float64 }
		}
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("stdout is not the JSON record: %v\n%s", err, out)
	}
	if rec.Kind != "load" || rec.Target != url || rec.Verdict != "pass" || rec.Results.Requests != 30 || rec.Results.LatencyMs.P50 <= 0 {
		t.Errorf("record %+v", rec)
	}
	recs, _, _ := evidence.List(dir)
	if len(recs) != 1 || recs[0].Kind != "load" {
		t.Fatalf("evidence dir holds %d records", len(recs))
	}
	code, out, _ = runMain(t, "evidence", "list", "--evidence-dir", dir)
	if code != 0 || !strings.Contains(out, "load") || !strings.Contains(out, "yes") {
		t.Errorf("evidence list: exit %d\n%s", code, out)
	}
}

func TestProbeExitCodes(t *testing.T) {
	plain := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	dir := t.TempDir()
	// A failing verdict exits 3 and prints the result, no error line.
	code, out, errs := runMain(t, "probe", "mtls", "--url", plain, "--evidence-dir", dir)
	if code != 3 || !strings.Contains(out, "FAIL") || errs != "" {
		t.Errorf("mtls on plaintext: exit %d\n%s\n%s", code, out, errs)
	}
	// An interrupted run (--timeout) is recorded partial and exits 3.
	code, out, _ = runMain(t, "probe", "load", "--url", plain, "--qps", "50", "--duration", "10s", "--timeout", "200ms", "--evidence-dir", dir)
	if code != 3 || !strings.Contains(out, "PARTIAL") {
		t.Errorf("timeout: exit %d\n%s", code, out)
	}
	recs, _, _ := evidence.List(dir)
	if len(recs) != 2 || recs[0].Verdict != evidence.Partial {
		t.Errorf("records %d, newest %s", len(recs), recs[0].Verdict)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{
		{"probe", "load", "--qps", "10"},
		{"probe", "load", "--url", plain, "-o", "yaml"},
		{"probe", "load", "--url", "ftp://127.0.0.1/", "--evidence-dir", dir},
		{"probe", "fault", "--url", plain, "--evidence-dir", dir},
		{"probe", "authn", "--url", plain, "--evidence-dir", dir},
	} {
		if code, _, _ := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestProbeAuthnNeverPrintsToken(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"
	url := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
		}
	}))
	t.Setenv("MESHREADY_TEST_TOKEN", token)
	dir := t.TempDir()
	for _, o := range []string{"text", "json"} {
		code, out, errs := runMain(t, "probe", "authn", "--url", url, "--token-env", "MESHREADY_TEST_TOKEN", "--evidence-dir", dir, "-o", o)
		if code != 0 {
			t.Errorf("exit %d\n%s%s", code, out, errs)
		}
		if strings.Contains(out+errs, "c2VjcmV0") || strings.Contains(out+errs, "eyJzdWIi") {
			t.Errorf("-o %s printed the token", o)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("c2VjcmV0")) {
			t.Errorf("%s holds the token", f)
		}
	}
}

func TestEvidenceImportFortio(t *testing.T) {
	url := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	log.SetLogLevelQuiet(log.Error)
	res, err := fhttp.RunHTTPTest(&fhttp.HTTPRunnerOptions{
		RunnerOptions: periodic.RunnerOptions{QPS: 100, Duration: 300 * time.Millisecond, NumThreads: 2, Out: io.Discard},
		HTTPOptions:   fhttp.HTTPOptions{URL: url + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(res)
	f := filepath.Join(t.TempDir(), "fortio.json")
	os.WriteFile(f, data, 0o644)
	dir := t.TempDir()
	code, out, errs := runMain(t, "evidence", "import", "fortio", f, "--baseline", f, "--evidence-dir", dir)
	if code != 0 || !strings.Contains(out, "PASS") || !strings.Contains(out, "added") {
		t.Errorf("import: exit %d\n%s%s", code, out, errs)
	}
	recs, _, _ := evidence.List(dir)
	if len(recs) != 1 || recs[0].Source != "fortio" || recs[0].Results.AddedLatencyMs == nil {
		t.Fatalf("records: %d", len(recs))
	}
	if code, _, _ := runMain(t, "evidence", "import", "fortio", filepath.Join(dir, "missing.json"), "--evidence-dir", dir); code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
}

// grpcLoopback starts a real grpc-go server with the standard health
// service on 127.0.0.1: "" and "up" SERVING, "down" NOT_SERVING.
func grpcLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	h := health.NewServer()
	h.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, h)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return "grpc://" + ln.Addr().String()
}

func TestProbeGRPCLoadJSON(t *testing.T) {
	url := grpcLoopback(t)
	var dir, out, errs string
	code := -1
	for attempt := 0; attempt < 3 && code != 0; attempt++ { // a timing run: see TestProbeLoadJSONAndEvidence
		dir = t.TempDir()
		code, out, errs = runMain(t, "probe", "load", "--url", url, "--grpc-service", "up", "--qps", "100", "--duration", "300ms", "--evidence-dir", dir, "-o", "json")
	}
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	var rec struct {
		Kind, Target, Verdict string
		Parameters            map[string]any
		Results               struct {
			Requests, Errors int64
			AchievedQPS      float64
			LatencyMs        struct{ P50, P90, P99, P999 float64 }
			StatusCodes      map[string]int64
		}
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("stdout is not the JSON record: %v\n%s", err, out)
	}
	r := rec.Results
	if rec.Kind != "load" || rec.Target != url || rec.Verdict != "pass" || r.Requests != 30 || r.Errors != 0 || r.StatusCodes["SERVING"] != 30 || r.LatencyMs.P50 <= 0 || r.AchievedQPS <= 0 {
		t.Errorf("record %+v", rec)
	}
	if rec.Parameters["protocol"] != "grpc" || rec.Parameters["grpcService"] != "up" {
		t.Errorf("parameters %v", rec.Parameters)
	}
	// NOT_SERVING: every check an error, named in the text output; exit 3.
	code, out, _ = runMain(t, "probe", "soak", "--url", url, "--grpc-service", "down", "--qps", "50", "--duration", "200ms", "--evidence-dir", dir)
	if code != 3 || !strings.Contains(out, "answers     NOT_SERVING 10") || !strings.Contains(out, "answered NOT_SERVING") {
		t.Errorf("soak NOT_SERVING: exit %d\n%s", code, out)
	}
}

func TestProbeGRPCHealth(t *testing.T) {
	url := grpcLoopback(t)
	dir := t.TempDir()
	code, out, errs := runMain(t, "probe", "grpc-health", "--url", url, "--service", "up", "--evidence-dir", dir)
	if code != 0 || !strings.Contains(out, "PASS") || !strings.Contains(out, "SERVING in") {
		t.Errorf("serving: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runMain(t, "probe", "grpc-health", "--url", url, "--service", "down", "--evidence-dir", dir, "-o", "json")
	var rec evidence.Record
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("stdout is not the JSON record: %v\n%s", err, out)
	}
	if code != 3 || rec.Kind != evidence.KindGRPCHealth || rec.Verdict != evidence.Fail || rec.Results.GRPCHealth == nil || rec.Results.GRPCHealth.Status != "NOT_SERVING" {
		t.Errorf("not serving: exit %d, %+v", code, rec)
	}
	recs, _, _ := evidence.List(dir)
	if len(recs) != 2 || recs[0].Kind != evidence.KindGRPCHealth {
		t.Errorf("evidence dir holds %d records", len(recs))
	}
	// Usage errors exit 2, with the reason.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"probe", "circuit-breaker", "--url", url}, "speaks HTTP only"},
		{[]string{"probe", "grpc-health", "--url", "http://127.0.0.1:9/"}, "want grpc://host:port"},
		{[]string{"probe", "load", "--url", url, "--body", "x"}, "--body"},
		{[]string{"probe", "load", "--url", url, "--ca", "ca.pem"}, "use grpcs://"},
	} {
		code, _, errs := runMain(t, append(c.args, "--evidence-dir", dir)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 saying %q", c.args, code, errs, c.want)
		}
	}
}

func TestProbeTCPConnections(t *testing.T) {
	url := grpcLoopback(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"probe", "load", "--tcp-connections", "0"}, "--tcp-connections 0: want at least 1"},
		{[]string{"probe", "step", "--rates", "10", "--tcp-connections", "-1"}, "--tcp-connections -1: want at least 1"},
		{[]string{"probe", "soak", "--connections", "4", "--tcp-connections", "5"}, "more TCP connections than concurrent requests (--connections 4)"},
		{[]string{"probe", "load", "--tcp-connections", "17"}, "(--connections 16)"},
	} {
		args := append(c.args, "--url", url, "--qps", "10", "--duration", "100ms", "--evidence-dir", dir)
		code, out, errs := runMain(t, args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q (stdout %q); want exit 2 saying %q", c.args, code, errs, out, c.want)
		}
	}
	if recs, _, _ := evidence.List(dir); len(recs) != 0 {
		t.Errorf("usage errors wrote %d records", len(recs))
	}
	// Only load, step and soak take the flag.
	if code, _, _ := runMain(t, "probe", "circuit-breaker", "--url", url, "--tcp-connections", "2"); code != 2 {
		t.Errorf("circuit-breaker --tcp-connections: exit %d, want 2", code)
	}
	code, out, _ := runMain(t, "probe", "load", "--help")
	if code != 0 || !strings.Contains(out, "how many TCP connections carry the concurrent requests (round-robin)") {
		t.Errorf("load --help: exit %d\n%s", code, out)
	}
	// A valid count is recorded for a gRPC target (the run's verdict is
	// not judged here: only the parameters).
	_, out, errs := runMain(t, "probe", "load", "--url", url, "--qps", "100", "--duration", "200ms", "--connections", "4", "--tcp-connections", "3", "--no-record", "-o", "json")
	var rec struct{ Parameters map[string]any }
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("stdout is not the JSON record: %v\n%s\n%s", err, out, errs)
	}
	if rec.Parameters["tcpConnections"] != float64(3) || rec.Parameters["connections"] != float64(4) {
		t.Errorf("parameters %v, want tcpConnections 3, connections 4", rec.Parameters)
	}
}
