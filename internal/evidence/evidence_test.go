package evidence

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/log"
)

func rec(kind, verdict string, end time.Time) *Record {
	return &Record{Kind: kind, Target: "http://127.0.0.1:1/", Verdict: verdict, Start: end.Add(-time.Minute), End: end,
		Results: Results{Requests: 10, LatencyMs: &Latency{P50: 1}}}
}

func TestWriteListNewest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evidence")
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	old := rec(KindLoad, Pass, now.Add(-40*24*time.Hour))
	passing := rec(KindLoad, Pass, now.Add(-2*time.Hour))
	failing := rec(KindLoad, Fail, now.Add(-time.Hour))
	partial := rec(KindLoad, Partial, now.Add(-time.Minute))
	tlsRec := rec(KindTLS, Pass, now.Add(-time.Hour))
	for _, r := range []*Record{old, passing, failing, partial, tlsRec} {
		p, err := Write(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(filepath.Base(p), r.Kind+"-") || filepath.Ext(p) != ".json" {
			t.Errorf("file name %s", p)
		}
	}
	// Same name twice: a second file, never an overwrite.
	dup := rec(KindTLS, Fail, tlsRec.End)
	p2, err := Write(dir, dup)
	if err != nil || p2 == tlsRec.File {
		t.Fatalf("duplicate name: %v %s", err, p2)
	}
	os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{"), 0o644)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	recs, probs, err := List(dir)
	if err != nil || len(recs) != 6 || len(probs) != 1 {
		t.Fatalf("List: %d records, %d problems, %v", len(recs), len(probs), err)
	}
	if recs[0].Verdict != Partial {
		t.Errorf("not newest first: %s", recs[0].File)
	}
	got, err := Newest(dir, KindLoad, 30*24*time.Hour, now)
	if err != nil || got == nil || got.File != passing.File {
		t.Errorf("Newest = %v, %v; want the passing one", got, err)
	}
	if got, _ := Newest(dir, KindLoad, time.Hour, now); got != nil {
		t.Errorf("Newest within 1h = %s, want none (the newer ones failed or are partial)", got.File)
	}
	if l := Latest(recs, Query{Kind: KindLoad, MaxAge: 30 * 24 * time.Hour, Now: now}); l == nil || l.Verdict != Fail {
		t.Errorf("Latest complete = %+v, want the failing one (partial never counts)", l)
	}
	// Missing dir: no records, no error.
	if recs, _, err := List(filepath.Join(dir, "nope")); err != nil || recs != nil {
		t.Errorf("missing dir: %v %v", recs, err)
	}
	if _, err := Write(dir, &Record{Kind: "load", Verdict: "great", Start: now}); err == nil {
		t.Error("invalid verdict written")
	}
}

// TestImportFortio runs fortio's own HTTP runner against a loopback server
// and imports the JSON it produces.
func TestImportFortio(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n%10 == 0 {
			w.WriteHeader(503)
			return
		}
		time.Sleep(2 * time.Millisecond)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	log.SetLogLevelQuiet(log.Error)
	ro := periodic.RunnerOptions{QPS: 200, Duration: 500 * time.Millisecond, NumThreads: 1, Out: io.Discard, Percentiles: []float64{50, 90, 99, 99.9}}
	o := &fhttp.HTTPRunnerOptions{RunnerOptions: ro, HTTPOptions: fhttp.HTTPOptions{URL: "http://" + ln.Addr().String() + "/"}}
	res, err := fhttp.RunHTTPTest(o)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ImportFortio(data, Limits{ErrorRate: 0.01, P99Ms: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindLoad || r.Source != "fortio" || r.Results.Requests != 100 || r.Results.Errors != 10 || r.Results.StatusCodes["503"] != 10 {
		t.Errorf("imported %+v", r.Results)
	}
	if l := r.Results.LatencyMs; l.P50 < 1.9 || l.P50 > 20 || l.P99 < l.P50 {
		t.Errorf("latency %+v", l)
	}
	if r.Verdict != Fail || !strings.Contains(r.FailedReasons(), "error rate") {
		t.Errorf("10%% errors: verdict %s (%s)", r.Verdict, r.FailedReasons())
	}
	if !strings.HasPrefix(r.Target, "http://127.0.0.1:") || r.Parameters["qps"] != 200.0 {
		t.Errorf("target %s params %v", r.Target, r.Parameters)
	}
	if _, err := ImportFortio([]byte(`{"kind":"load"}`), Limits{}); err == nil {
		t.Error("non-fortio JSON imported")
	}
}
