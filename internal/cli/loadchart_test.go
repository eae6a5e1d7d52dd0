package cli

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/report"
)

// End to end: a real load probe with a baseline against two loopback
// servers writes its record; `meshready check -o html` then charts that run
// (SVG with both curves, well-formed XML) and the JSON report carries the
// same curves. An evidence directory without runs gives no chart section.
func TestCheckHTMLChartsTheLoadRun(t *testing.T) {
	mesh := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Millisecond) }))
	base := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "evidence")
	// The verdict does not matter here (a failed run is charted too), only
	// that a complete record exists: on a stalled machine a run can fail.
	code, out, errs := runMain(t, "probe", "load", "--url", mesh, "--baseline-url", base, "--qps", "100", "--duration", "300ms", "--evidence-dir", dir, "-o", "json")
	recs, _, err := evidence.List(dir)
	if err != nil || len(recs) != 1 || recs[0].Results.Baseline == nil || len(recs[0].Results.LatencyCurve) == 0 {
		t.Fatalf("probe load: exit %d, %d records (%v)\n%s\n%s", code, len(recs), err, out, errs)
	}
	rec := recs[0]
	if rec.Verdict == evidence.Partial {
		t.Fatalf("the load run was recorded as partial: %+v", rec.Reasons)
	}

	cfg := filepath.Join(tmp, "meshready.yaml")
	if err := os.WriteFile(cfg, []byte("evidenceDir: evidence\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	htmlPath, jsonPath := filepath.Join(tmp, "report.html"), filepath.Join(tmp, "report.json")
	code, out, errs = runMain(t, "check", filepath.Join("testdata", "ns.yaml"), "--config", cfg, "--only", "perf.latency-impact,perf.resource-overhead",
		"-o", "html="+htmlPath, "-o", "json="+jsonPath)
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatalf("check: exit %d, no HTML report (%v)\n%s\n%s", code, err, out, errs)
	}
	html := string(page)
	id := filepath.Base(rec.File)
	if !strings.Contains(html, `<figure class="run" id="run-1">`) || !strings.Contains(html, "<code>"+id+"</code>") {
		t.Fatalf("the HTML report has no figure for %s", id)
	}
	if !strings.Contains(html, "used by perf.latency-impact, perf.resource-overhead") {
		t.Error("the figure does not name the items that used the run")
	}
	svgs := regexp.MustCompile(`(?s)<svg\b.*?</svg>`).FindAllString(html, -1)
	if len(svgs) != 1 {
		t.Fatalf("%d charts, want 1 (one run, used by two items)", len(svgs))
	}
	dec := xml.NewDecoder(strings.NewReader(svgs[0]))
	dec.Strict = true
	classes := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "g" {
			for _, a := range se.Attr {
				if a.Name.Local == "class" {
					classes[a.Value] = true
				}
			}
		}
	}
	if !classes["c-mesh"] || !classes["c-base"] {
		t.Errorf("the chart lacks a curve: groups %v", classes)
	}

	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.LoadRuns) != 1 {
		t.Fatalf("JSON report: %d load runs, want 1", len(r.LoadRuns))
	}
	run := r.LoadRuns[0]
	if run.ID != id || run.Target != mesh || run.Baseline == nil || run.Baseline.Target != base ||
		len(run.Curve) != len(rec.Results.LatencyCurve) || run.Curve[3].Ms != rec.Results.LatencyCurve[3].Ms ||
		len(run.Baseline.Curve) != len(rec.Results.Baseline.LatencyCurve) {
		t.Errorf("JSON load run %+v does not carry the record's curves", run)
	}

	// No runs in the evidence directory: no chart section.
	if err := os.WriteFile(cfg, []byte("evidenceDir: empty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runMain(t, "check", filepath.Join("testdata", "ns.yaml"), "--config", cfg, "--only", "perf", "-o", "html="+htmlPath)
	page, err = os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "<svg") || strings.Contains(string(page), `class="runs"`) {
		t.Error("a report without load runs has a chart section")
	}
}
