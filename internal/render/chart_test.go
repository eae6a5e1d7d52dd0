package render

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/report"
)

func curveOf(pairs ...float64) []report.CurvePoint {
	var out []report.CurvePoint
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, report.CurvePoint{Percentile: pairs[i], Ms: pairs[i+1]})
	}
	return out
}

// runsReport is sampleReport with two more verification items and three load
// runs: a load run with a baseline, a failed step run without one, and a
// soak run whose record has no curve (the figure says so instead of a chart).
func runsReport() *report.Report {
	r := sampleReport()
	perf := []report.Item{
		{ID: "perf.resource-overhead", Section: "Verification", Group: "Performance", Title: "Resource overhead measured", Kind: "probe",
			Severity: report.Major, Status: report.Pass,
			Parts:    []report.PartResult{{Part: "probe", Status: report.Pass}},
			Findings: []report.Finding{{Status: report.Pass, Part: "probe", Message: "Load run passed"}}},
		{ID: "perf.scaling", Section: "Verification", Group: "Performance", Title: "Scaling verified", Kind: "probe",
			Severity: report.Blocker, Status: report.Fail,
			Parts:    []report.PartResult{{Part: "probe", Status: report.Fail}},
			Findings: []report.Finding{{Status: report.Fail, Part: "probe", Message: "the newest stepped load run failed"}}},
	}
	r.Items = append(r.Items, perf...)
	for _, it := range perf {
		r.Summary.Add(it.Status)
	}
	r.LoadRuns = []report.LoadRun{
		{
			ID: "load-20261120T101500.000Z.json", File: "evidence/load-20261120T101500.000Z.json", Kind: "load",
			Target: "http://gateway.example/api?q=<script>&x='1'", Source: "meshready", Verdict: "pass",
			Start: "2026-11-20T10:15:00.000Z", End: "2026-11-20T10:16:00.000Z", TargetQPS: 100, AchievedQPS: 99.8, Requests: 5990, ErrorRate: 0.0005,
			LatencyMs: &report.LatencyMs{P50: 1.05, P90: 1.96, P99: 3.85, P999: 7.2},
			Curve:     curveOf(0, 0.41, 10, 0.62, 25, 0.78, 50, 1.05, 75, 1.42, 90, 1.96, 95, 2.4, 99, 3.85, 99.5, 4.6, 99.9, 7.2, 99.99, 11.8, 100, 14.3),
			Baseline: &report.LoadRunBaseline{Target: "http://10.0.3.7:8080/api", AchievedQPS: 99.9, Requests: 5994,
				LatencyMs: &report.LatencyMs{P50: 0.55, P90: 1.1, P99: 2.2, P999: 4.1},
				Curve:     curveOf(0, 0.22, 10, 0.31, 25, 0.4, 50, 0.55, 75, 0.8, 90, 1.1, 95, 1.35, 99, 2.2, 99.5, 2.7, 99.9, 4.1, 99.99, 6.9, 100, 8)},
			AddedLatencyMs: &report.LatencyMs{P50: 0.5, P90: 0.86, P99: 1.65, P999: 3.1},
			UsedBy:         []string{"perf.resource-overhead", "simulation.production-load"},
		},
		{
			ID: "step-20261121T090000.000Z.json", Kind: "step", Target: "http://gateway.example/api", Source: "meshready", Verdict: "fail",
			Start: "2026-11-21T09:00:00.000Z", End: "2026-11-21T09:02:00.000Z", TargetQPS: 400, AchievedQPS: 371.5, Requests: 45000, ErrorRate: 0.021,
			LatencyMs: &report.LatencyMs{P50: 2.1, P90: 5.5, P99: 18.4, P999: 42},
			Curve:     curveOf(0, 0.5, 50, 2.1, 90, 5.5, 99, 18.4, 99.9, 42, 100, 61),
			UsedBy:    []string{"perf.scaling"},
		},
		{
			ID: "soak-20261122T000000.000Z.json", Kind: "soak", Target: "http://gateway.example/api", Source: "fortio", Verdict: "pass",
			Start: "2026-11-22T00:00:00.000Z", End: "2026-11-22T02:00:00.000Z", TargetQPS: 50, AchievedQPS: 50, Requests: 360000,
			LatencyMs: &report.LatencyMs{P50: 1, P90: 2, P99: 4, P999: 8},
			UsedBy:    []string{"perf.stability"},
		},
	}
	return r
}

func TestNines(t *testing.T) {
	for _, c := range []struct{ p, want float64 }{{0, 0}, {50, math.Log10(2)}, {90, 1}, {99, 2}, {99.9, 3}, {99.99, 4}} {
		if got := nines(c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("nines(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsInf(nines(100), 1) {
		t.Errorf("nines(100) = %v, want +Inf", nines(100))
	}
}

func TestLatencyScaleTicks(t *testing.T) {
	for _, c := range []struct {
		name      string
		curve     []report.CurvePoint
		xMax      float64
		yTicks    []string
		xTicks    []float64
		yMaxRound float64
	}{
		{"4.2 ms up to p99", curveOf(50, 1, 99, 4.2), 2, []string{"0", "1", "2", "3", "4", "5"}, []float64{50, 90, 99}, 5},
		{"12.3 ms up to p99.99", curveOf(0, 0.1, 99.99, 12.3), 4, []string{"0.0", "2.5", "5.0", "7.5", "10.0", "12.5"}, []float64{50, 90, 99, 99.9, 99.99}, 12.5},
		{"0.37 ms up to p90", curveOf(10, 0.2, 90, 0.37), 1, []string{"0.0", "0.1", "0.2", "0.3", "0.4"}, []float64{50, 90}, 0.4},
		{"exact tick: 8 ms", curveOf(50, 2, 99.9, 8), 3, []string{"0", "2", "4", "6", "8"}, []float64{50, 90, 99, 99.9}, 8},
		{"all zero", curveOf(50, 0, 90, 0), 1, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}, []float64{50, 90}, 1},
		// p100 (the maximum) is at infinity: it neither stretches the axis nor the scale.
		{"p100 ignored", curveOf(50, 1, 99, 3, 100, 900), 2, []string{"0", "1", "2", "3"}, []float64{50, 90, 99}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newLatencyScale(c.curve)
			if s.xMax != c.xMax {
				t.Errorf("xMax = %v, want %v", s.xMax, c.xMax)
			}
			if math.Abs(s.yMax-c.yMaxRound) > 1e-9 {
				t.Errorf("yMax = %v, want %v", s.yMax, c.yMaxRound)
			}
			var labels []string
			for _, v := range s.yTicks() {
				labels = append(labels, s.yLabel(v))
			}
			if !reflect.DeepEqual(labels, c.yTicks) {
				t.Errorf("y ticks %q, want %q", labels, c.yTicks)
			}
			if got := s.xTicks(); !reflect.DeepEqual(got, c.xTicks) {
				t.Errorf("x ticks %v, want %v", got, c.xTicks)
			}
		})
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ raw, want float64 }{{0.84, 1}, {1, 1}, {1.2, 2}, {2.46, 2.5}, {3, 5}, {7, 10}, {0.074, 0.1}, {0.021, 0.025}, {140, 200}} {
		if got := niceStep(c.raw); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("niceStep(%v) = %v, want %v", c.raw, got, c.want)
		}
	}
}

// A known curve gives known coordinates: the plot spans x 64–532 and y
// 246 (0 ms) – 16 (top tick). Up to p99.9 the axis has 3 nines, so p90, p99
// and p99.9 sit at a third, two thirds and the whole of the 468 units; the
// top tick is 8 ms, so 1 ms is 230/8 = 28.75 units.
func TestPathCoordinates(t *testing.T) {
	// Unsorted on purpose, with p100 (not drawable) and a negative latency (dropped).
	c := curveOf(99, 4, 0, 1, 100, 50, 99.9, 8, 90, 2, 95, -1)
	s := newLatencyScale(c)
	want := "M64.0,217.3 L220.0,188.5 L376.0,131.0 L532.0,16.0"
	if got := s.path(c); got != want {
		t.Errorf("path\n got %s\nwant %s", got, want)
	}
	// A baseline reaching p99.99 widens the axis to 4 nines: p90 moves to 181.
	wide := newLatencyScale(c, curveOf(99.99, 2))
	if got, want := wide.path(curveOf(90, 2)), "M181.0,188.5"; got != want {
		t.Errorf("path with a p99.99 baseline %s, want %s", got, want)
	}
	if got := s.path(curveOf(100, 3)); got != "" {
		t.Errorf("a curve of p100 only draws %q, want nothing", got)
	}
	if coord(-0.04) != "0.0" {
		t.Errorf("coord(-0.04) = %q: negative zero leaks", coord(-0.04))
	}
}

// svgElement is the subset of SVG the tests read back.
type svgElement struct {
	XMLName xml.Name `xml:"svg"`
	Role    string   `xml:"role,attr"`
	Labels  string   `xml:"aria-labelledby,attr"`
	Title   struct {
		ID   string `xml:"id,attr"`
		Text string `xml:",chardata"`
	} `xml:"title"`
	Desc struct {
		ID   string `xml:"id,attr"`
		Text string `xml:",chardata"`
	} `xml:"desc"`
	Groups []struct {
		Class string `xml:"class,attr"`
		Path  []struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
		Circles []struct{} `xml:"circle"`
		Texts   []string   `xml:"text"`
	} `xml:"g"`
}

// parseSVG decodes one SVG strictly: any markup error fails.
func parseSVG(t *testing.T, s string) svgElement {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	var doc svgElement
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, s)
	}
	// Nothing may follow the element.
	if tok, err := dec.Token(); err != io.EOF {
		t.Fatalf("content after </svg>: %v %v", tok, err)
	}
	return doc
}

func TestLatencySVGWellFormedAndEscaped(t *testing.T) {
	run := &runsReport().LoadRuns[0]
	title := runCaption(run)
	svg := latencySVG(run, "run-1", title, runDesc(run))
	doc := parseSVG(t, svg)
	if doc.Role != "img" || doc.Labels != "run-1-t run-1-d" || doc.Title.ID != "run-1-t" || doc.Desc.ID != "run-1-d" {
		t.Errorf("accessibility attributes: role %q labelledby %q title id %q desc id %q", doc.Role, doc.Labels, doc.Title.ID, doc.Desc.ID)
	}
	// The title comes back unescaped: markup in the target was text, not markup.
	if doc.Title.Text != title || !strings.Contains(title, "<script>") {
		t.Errorf("title %q, want %q", doc.Title.Text, title)
	}
	if strings.Contains(svg, "<script") {
		t.Error("the target's <script> reached the SVG unescaped")
	}
	if !strings.Contains(doc.Desc.Text, "p99 3.85 ms") || !strings.Contains(doc.Desc.Text, "Baseline without the mesh: p50 0.55 ms") {
		t.Errorf("desc %q lacks the percentiles", doc.Desc.Text)
	}
	curves := map[string]int{}
	for _, g := range doc.Groups {
		if len(g.Path) == 1 {
			curves[g.Class] = len(g.Circles)
			if !strings.HasPrefix(g.Path[0].D, "M64.0,") {
				t.Errorf("%s curve does not start at p0 on the left edge: %s", g.Class, g.Path[0].D)
			}
		}
		if g.Class == "ticks" {
			want := []string{"0.0", "2.5", "5.0", "7.5", "10.0", "12.5", "50", "90", "99", "99.9", "99.99", "percentile (nines scale)", "latency (ms)"}
			if !reflect.DeepEqual(g.Texts, want) {
				t.Errorf("tick labels %q, want %q", g.Texts, want)
			}
		}
		if g.Class == "legend" && !reflect.DeepEqual(g.Texts, []string{"mesh", "baseline (no mesh)"}) {
			t.Errorf("legend %q", g.Texts)
		}
	}
	// 11 drawable points each: p0 … p99.99 (p100 is off the axis).
	if !reflect.DeepEqual(curves, map[string]int{"c-mesh": 11, "c-base": 11}) {
		t.Errorf("curves and their markers: %v, want mesh and baseline with 11 points each", curves)
	}

	// Without a baseline: one curve, one legend entry.
	noBase := &runsReport().LoadRuns[1]
	doc = parseSVG(t, latencySVG(noBase, "run-2", runCaption(noBase), runDesc(noBase)))
	for _, g := range doc.Groups {
		if g.Class == "c-base" {
			t.Error("a run without a baseline draws a baseline curve")
		}
		if g.Class == "legend" && !reflect.DeepEqual(g.Texts, []string{"mesh"}) {
			t.Errorf("legend %q, want mesh only", g.Texts)
		}
	}
}

var svgRE = regexp.MustCompile(`(?s)<svg\b.*?</svg>`)

func TestHTMLLoadRuns(t *testing.T) {
	r := runsReport()
	out := string(render(t, "html", r, Options{}))
	golden(t, "golden-runs.html.html", []byte(out))

	svgs := svgRE.FindAllString(out, -1)
	if len(svgs) != 2 {
		t.Fatalf("%d charts, want 2 (the soak run has no curve)", len(svgs))
	}
	for _, s := range svgs {
		parseSVG(t, s)
	}
	for i, id := range []string{"run-1", "run-2", "run-3"} {
		if !strings.Contains(out, `<figure class="run" id="`+id+`">`) {
			t.Errorf("no figure %s", id)
		}
		if !strings.Contains(out, r.LoadRuns[i].ID) {
			t.Errorf("figure %s does not name its record %s", id, r.LoadRuns[i].ID)
		}
	}
	if !strings.Contains(out, "No latency curve recorded in this run.") {
		t.Error("the soak run without a curve does not say so")
	}
	// The percentile table: mesh, baseline and added for the run with a baseline.
	if !strings.Contains(out, "<tr><th scope=\"row\">p99</th><td>3.85 ms</td><td>2.20 ms</td><td>1.65 ms</td></tr>") {
		t.Error("the table of the run with a baseline lacks its p99 row")
	}
	if !strings.Contains(out, "<tr><th scope=\"row\">p99</th><td>18.40 ms</td></tr>") {
		t.Error("the table of the run without a baseline lacks its p99 row (or has baseline columns)")
	}
	// Items link to the charts of the runs they used.
	if !strings.Contains(out, `<a href="#run-1">load-20261120T101500.000Z.json</a>`) || !strings.Contains(out, `<a href="#run-2">step-20261121T090000.000Z.json</a>`) {
		t.Error("items do not link to their runs' charts")
	}
	if strings.Contains(out, "<script>&") || strings.Count(out, "<script") != 1 {
		t.Error("the target's <script> reached the page unescaped")
	}
	// Still self-contained.
	for _, m := range regexp.MustCompile(`(?i)\b(src|href|action|data)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(out, -1) {
		if !strings.HasPrefix(m[2], "#") {
			t.Errorf("external reference %s=%q", m[1], m[2])
		}
	}
}

func TestHTMLWithoutRunsHasNoChartSection(t *testing.T) {
	for name, r := range map[string]*report.Report{"sample": sampleReport(), "ready": readyReport(), "empty": {}} {
		out := string(render(t, "html", r, Options{Verbose: true}))
		for _, s := range []string{"<svg", `class="runs"`, "Load runs", "latency chart"} {
			if strings.Contains(out, s) {
				t.Errorf("%s: a report without load runs renders %q", name, s)
			}
		}
	}
}

func TestLoadRunsTextAndMarkdown(t *testing.T) {
	r := runsReport()
	text := render(t, "text", r, Options{})
	md := render(t, "markdown", r, Options{})
	golden(t, "golden-runs.text.txt", text)
	golden(t, "golden-runs.markdown.md", md)
	// One line per run, no more: the run's users appear once.
	for name, out := range map[string][]byte{"text": text, "markdown": md} {
		if n := bytes.Count(out, []byte("perf.resource-overhead, simulation.production-load")); n != 1 {
			t.Errorf("%s: the load run's summary appears %d times, want once", name, n)
		}
	}
	if !bytes.Contains(text, []byte("mesh p50 1.05 / p99 3.85 ms; baseline p50 0.55 / p99 2.20 ms")) {
		t.Errorf("text lacks the mesh vs baseline summary:\n%s", text)
	}
	for _, name := range []string{"text", "markdown"} {
		if bytes.Contains(render(t, name, sampleReport(), Options{Verbose: true}), []byte("oad runs (")) {
			t.Errorf("%s: a report without runs lists load runs", name)
		}
	}
}

func TestLoadRunsJSONRoundTripAndDeterminism(t *testing.T) {
	in := runsReport()
	out := render(t, "json", in, Options{})
	var back report.Report
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, in) {
		t.Errorf("a report with load runs does not round-trip through JSON")
	}
	for _, name := range Formats() {
		r := runsReport()
		first := render(t, name, r, Options{Verbose: true})
		if !reflect.DeepEqual(r, runsReport()) {
			t.Errorf("%s modified the report", name)
		}
		if again := render(t, name, r, Options{Verbose: true}); !bytes.Equal(first, again) {
			t.Errorf("%s: two renderings differ", name)
		}
	}
}

// BenchmarkHTMLLoadRuns renders the sample report with three load runs (two charted).
func BenchmarkHTMLLoadRuns(b *testing.B) {
	r := runsReport()
	rd, _ := Get("html")
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := rd.Render(&buf, r, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// BenchmarkLatencySVG draws one chart (mesh and baseline, 11 points each).
func BenchmarkLatencySVG(b *testing.B) {
	run := &runsReport().LoadRuns[0]
	for b.Loop() {
		latencySVG(run, "run-1", "t", "d")
	}
}
