package render

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func render(t *testing.T, name string, r *report.Report, o Options) []byte {
	t.Helper()
	rd, ok := Get(name)
	if !ok {
		t.Fatalf("no renderer %q", name)
	}
	var b bytes.Buffer
	if err := rd.Render(&b, r, o); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b.Bytes()
}

// golden compares got with testdata/<file>, or rewrites it under -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/render -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./internal/render -update to refresh it):\n%s", path, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant: %q\ngot:  %q", i+1, w, g)
		}
	}
	return "(same lines, different bytes)"
}

func TestGolden(t *testing.T) {
	for _, name := range Formats() {
		t.Run(name, func(t *testing.T) {
			rd, _ := Get(name)
			golden(t, "golden."+name+"."+rd.Ext(), render(t, name, sampleReport(), Options{}))
		})
	}
	t.Run("text-ready", func(t *testing.T) {
		golden(t, "golden-ready.text.txt", render(t, "text", readyReport(), Options{}))
	})
	t.Run("text-verbose", func(t *testing.T) {
		golden(t, "golden-verbose.text.txt", render(t, "text", sampleReport(), Options{Verbose: true}))
	})
}

func TestRegistry(t *testing.T) {
	want := []string{"html", "json", "junit", "markdown", "sarif", "text"}
	if got := Formats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Formats() = %v, want %v", got, want)
	}
	if !sort.StringsAreSorted(Formats()) {
		t.Error("Formats() is not sorted")
	}
	exts := map[string]bool{}
	for _, name := range Formats() {
		rd, ok := Get(name)
		if !ok || rd.Name() != name {
			t.Errorf("Get(%q) = %v, %v", name, rd, ok)
			continue
		}
		if rd.Ext() == "" || strings.HasPrefix(rd.Ext(), ".") {
			t.Errorf("%s: Ext() = %q, want an extension without the dot", name, rd.Ext())
		}
		exts[rd.Ext()] = true
	}
	if len(exts) != len(want) {
		t.Errorf("extensions are not distinct: %v", exts)
	}
	if _, ok := Get("yaml"); ok {
		t.Error(`Get("yaml") found a renderer`)
	}
	if _, ok := Get("TEXT"); ok {
		t.Error(`Get("TEXT") found a renderer: names are exact`)
	}
}

// Renderers read the report and never write it, and are deterministic.
func TestNoMutationDeterministic(t *testing.T) {
	for _, name := range Formats() {
		for _, o := range []Options{{}, {Color: true, Verbose: true}} {
			r := sampleReport()
			first := render(t, name, r, o)
			if !reflect.DeepEqual(r, sampleReport()) {
				t.Errorf("%s %+v modified the report", name, o)
			}
			if again := render(t, name, r, o); !bytes.Equal(first, again) {
				t.Errorf("%s %+v: two renderings differ", name, o)
			}
		}
	}
}

// A zero report (nothing evaluated) renders in every format.
func TestEmptyReport(t *testing.T) {
	for _, name := range Formats() {
		out := render(t, name, &report.Report{}, Options{Verbose: true, Color: true})
		if len(out) == 0 {
			t.Errorf("%s: empty output", name)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := sampleReport()
	out := render(t, "json", in, Options{})
	if !bytes.HasSuffix(out, []byte("}\n")) {
		t.Error("JSON does not end with a newline")
	}
	var back report.Report
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, in) {
		t.Errorf("JSON does not round-trip:\n got %+v\nwant %+v", back, *in)
	}
	// The contract is the json tags: marshalling the report directly gives the same document.
	direct, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(direct, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("rendered JSON differs from json.Marshal of the report")
	}
}

// junit mirrors the parts of the JUnit schema the test reads.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut *string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnit(t *testing.T) {
	r := sampleReport()
	// A control character in a message must not make the XML unparsable.
	r.Items[1].Findings[0].Message += " \x1b[31m]]>"
	var doc junitDoc
	if err := xml.Unmarshal(render(t, "junit", r, Options{}), &doc); err != nil {
		t.Fatal(err)
	}
	s := r.Summary
	items := 0
	var sections []string
	for _, it := range r.Items {
		if len(sections) == 0 || sections[len(sections)-1] != it.Section {
			sections = append(sections, it.Section)
		}
	}
	sections = append(sections, junitInputsSuite)
	if len(doc.Suites) != len(sections) {
		t.Fatalf("%d suites, want %d", len(doc.Suites), len(sections))
	}
	var tests, failures, errors, skipped int
	for i, suite := range doc.Suites {
		if suite.Name != sections[i] {
			t.Errorf("suite %d = %q, want %q", i, suite.Name, sections[i])
		}
		var f, e, sk int
		for _, c := range suite.Cases {
			if c.Failure != nil {
				f++
				if c.Failure.Type != "fail" || c.Failure.Message == "" || c.Failure.Text == "" {
					t.Errorf("%s: failure %+v", c.Name, *c.Failure)
				}
			}
			if c.Error != nil {
				e++
			}
			if c.Skipped != nil {
				sk++
			}
		}
		if suite.Tests != len(suite.Cases) || suite.Failures != f || suite.Errors != e || suite.Skipped != sk {
			t.Errorf("suite %q counts %d/%d/%d/%d, cases say %d/%d/%d/%d", suite.Name,
				suite.Tests, suite.Failures, suite.Errors, suite.Skipped, len(suite.Cases), f, e, sk)
		}
		tests, failures, errors, skipped = tests+suite.Tests, failures+f, errors+e, skipped+sk
		if suite.Name != junitInputsSuite {
			items += len(suite.Cases)
		}
	}
	if doc.Tests != tests || doc.Failures != failures || doc.Errors != errors || doc.Skipped != skipped {
		t.Errorf("testsuites counts %d/%d/%d/%d, suites say %d/%d/%d/%d",
			doc.Tests, doc.Failures, doc.Errors, doc.Skipped, tests, failures, errors, skipped)
	}
	nIn := len(r.InputErrors)
	if items != len(r.Items) || failures != s.Fail || errors != s.Error+nIn || skipped != s.Pending+s.NotApplicable {
		t.Errorf("items %d failures %d errors %d skipped %d; summary %+v with %d input errors", items, failures, errors, skipped, s, nIn)
	}
	c := doc.Suites[0].Cases[1]
	if c.Classname != "Core Components.Istio Control Plane" || c.Name != "controlplane.high-availability: High availability configured" {
		t.Errorf("testcase naming: %q %q", c.Classname, c.Name)
	}
	if !strings.Contains(c.Failure.Text, "]]>") || !strings.Contains(c.Failure.Text, "minAvailable: 1") {
		t.Errorf("failure text lost content:\n%s", c.Failure.Text)
	}
	// warn passes, with the warning in system-out.
	for _, suite := range doc.Suites {
		for _, c := range suite.Cases {
			if strings.HasPrefix(c.Name, "gateway.tls-termination:") {
				if c.Failure != nil || c.Error != nil || c.Skipped != nil || c.SystemOut == nil || !strings.Contains(*c.SystemOut, "TLS 1.0") {
					t.Errorf("warn item: %+v", c)
				}
			}
		}
	}
}

type sarifDoc struct {
	Version string `json:"version"`
	Schema  string `json:"$schema"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name           string `json:"name"`
				Version        string `json:"version"`
				InformationURI string `json:"informationUri"`
				Rules          []struct {
					ID               string `json:"id"`
					ShortDescription struct {
						Text string `json:"text"`
					} `json:"shortDescription"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
			Suppressions []struct {
				Kind string `json:"kind"`
			} `json:"suppressions"`
		} `json:"results"`
	} `json:"runs"`
}

func TestSARIF(t *testing.T) {
	r := sampleReport()
	var doc sarifDoc
	if err := json.Unmarshal(render(t, "sarif", r, Options{}), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2.1.0" || doc.Schema != "https://json.schemastore.org/sarif-2.1.0.json" || len(doc.Runs) != 1 {
		t.Fatalf("version %q schema %q runs %d", doc.Version, doc.Schema, len(doc.Runs))
	}
	run := doc.Runs[0]
	if d := run.Tool.Driver; d.Name != "meshready" || d.Version != "0.4.0" || d.InformationURI == "" {
		t.Errorf("driver %+v", d)
	}

	// The expected results: one per fail/error/warn/pending finding, keyed by
	// rule, location and first message line.
	levels := map[report.Status]string{report.Fail: "error", report.Error: "error", report.Warn: "warning", report.Pending: "note"}
	var want, got []string
	titles := map[string]string{}
	for _, it := range r.Items {
		for _, f := range it.Findings {
			lvl, ok := levels[f.Status]
			if !ok {
				continue
			}
			titles[it.ID] = it.Title
			loc := "meshready.yaml" // the config file anchors findings that name no file
			if f.Object != nil && f.Object.File != "" && f.Object.File != "cluster" {
				loc = fmt.Sprintf("%s:%d", f.Object.File, f.Object.Line)
			}
			want = append(want, strings.Join([]string{it.ID, lvl, loc, f.Message}, "|"))
		}
	}
	rules := run.Tool.Driver.Rules
	if len(rules) != len(titles) {
		t.Errorf("%d rules, want %d (one per item with results)", len(rules), len(titles))
	}
	for i, rule := range rules {
		if titles[rule.ID] != rule.ShortDescription.Text {
			t.Errorf("rule %s: shortDescription %q, want %q", rule.ID, rule.ShortDescription.Text, titles[rule.ID])
		}
		if i > 0 && rules[i-1].ID >= rule.ID {
			t.Errorf("rules not sorted: %s before %s", rules[i-1].ID, rule.ID)
		}
	}
	suppressed := 0
	for _, res := range run.Results {
		if rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s has ruleIndex %d (%s)", res.RuleID, res.RuleIndex, rules[res.RuleIndex].ID)
		}
		loc := ""
		switch len(res.Locations) {
		case 0:
			t.Errorf("%s: result without a location (GitHub code scanning rejects the whole file)", res.RuleID)
		case 1:
			pl := res.Locations[0].PhysicalLocation
			loc = pl.ArtifactLocation.URI
			if pl.Region != nil {
				loc += fmt.Sprintf(":%d", pl.Region.StartLine)
			}
		default:
			t.Errorf("%s: %d locations", res.RuleID, len(res.Locations))
		}
		msg, _, _ := strings.Cut(res.Message.Text, "\n")
		got = append(got, strings.Join([]string{res.RuleID, res.Level, loc, msg}, "|"))
		suppressed += len(res.Suppressions)
	}
	sort.Strings(want)
	gotSorted := append([]string(nil), got...)
	sort.Strings(gotSorted)
	if !reflect.DeepEqual(gotSorted, want) {
		t.Errorf("results:\n got %q\nwant %q", gotSorted, want)
	}
	if suppressed != 1 {
		t.Errorf("%d suppressed results, want 1 (the applied waiver; the expired one suppresses nothing)", suppressed)
	}
	for _, g := range got {
		if strings.HasPrefix(g, "controlplane.high-availability|error|") && !strings.Contains(g, "manifests/base/istiod.yaml:1|") {
			t.Errorf("startLine: %s", g)
		}
	}
}

func TestHTML(t *testing.T) {
	r := sampleReport()
	r.Items[1].Findings[0].Message = `istiod annotation "<script>alert('x')</script>" is wrong`
	r.Items[1].Title = `High availability <b>configured</b>`
	out := string(render(t, "html", r, Options{}))

	if strings.Count(out, "<script>") != 1 || strings.Count(out, "<script") != 1 {
		t.Errorf("the page has %d <script> tags, want only its own one", strings.Count(out, "<script"))
	}
	if !strings.Contains(out, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") {
		t.Error("the <script> in a finding message is not escaped")
	}
	if strings.Contains(out, "<b>configured</b>") {
		t.Error("markup in an item title is not escaped")
	}
	// Self-contained: no src at all, no link elements, and href only to anchors in the page.
	for _, m := range regexp.MustCompile(`(?i)\b(src|href|action|data)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(out, -1) {
		if !strings.HasPrefix(m[2], "#") {
			t.Errorf("external reference %s=%q", m[1], m[2])
		}
	}
	for _, bad := range []string{"<link", "@import", "url(", "<iframe", "<img", "fetch(", "XMLHttpRequest"} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(bad)) {
			t.Errorf("the page contains %q", bad)
		}
	}
	for _, it := range r.Items {
		if !strings.Contains(out, `id="item-`+it.ID+`"`) {
			t.Errorf("no anchor for %s", it.ID)
		}
	}
	for _, id := range r.Blocking {
		if !strings.Contains(out, `href="#item-`+id+`"`) {
			t.Errorf("blocking item %s is not linked", id)
		}
	}
	if !strings.Contains(out, "NOT READY") {
		t.Error("no verdict")
	}
}

func TestTextColor(t *testing.T) {
	plain := render(t, "text", sampleReport(), Options{})
	if bytes.IndexByte(plain, 0x1b) >= 0 {
		t.Error("text without Color contains ESC")
	}
	colored := render(t, "text", sampleReport(), Options{Color: true})
	if bytes.IndexByte(colored, 0x1b) < 0 {
		t.Error("text with Color contains no ESC")
	}
	strip := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAll(colored, nil)
	if !bytes.Equal(strip, plain) {
		t.Errorf("colour changes more than colour:\n%s", firstDiff(plain, strip))
	}
	for _, name := range Formats() {
		if name == "text" {
			continue
		}
		if bytes.IndexByte(render(t, name, sampleReport(), Options{Color: true}), 0x1b) >= 0 {
			t.Errorf("%s contains ESC with Color", name)
		}
	}
}

func TestTextVerdictLast(t *testing.T) {
	for _, c := range []struct {
		r    *report.Report
		want string
	}{
		{sampleReport(), "VERDICT: ❌ NOT READY — 11 items block it"},
		{readyReport(), "VERDICT: ✅ READY"},
	} {
		out := strings.TrimRight(string(render(t, "text", c.r, Options{})), "\n")
		last := out[strings.LastIndexByte(out, '\n')+1:]
		if last != c.want {
			t.Errorf("last line %q, want %q", last, c.want)
		}
	}
}
