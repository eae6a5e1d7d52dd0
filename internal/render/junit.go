package render

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// junitRenderer writes JUnit XML for CI test reports: one <testsuite> per
// checklist section, one <testcase> per item, classname "<section>.<group>"
// and name "<id>: <title>".
//
//	fail            <failure type="fail"> with the findings as text
//	error           <error type="error">
//	pending, n/a    <skipped message="...">
//	warn            passes, with the warnings in <system-out>
//	pass            passes
//
// Input errors, when there are any, form one more suite, "meshready inputs",
// with one erroring testcase per input error, so that CI shows them.
// No timestamps or durations: the output depends on the report only.
type junitRenderer struct{}

func (junitRenderer) Name() string { return "junit" }
func (junitRenderer) Ext() string  { return "xml" }

// junitInputsSuite names the suite that carries input errors.
const junitInputsSuite = "meshready inputs"

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr"`
	Properties *junitProperties `xml:"properties"`
	Cases      []junitCase      `xml:"testcase"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

func (junitRenderer) Render(w io.Writer, r *report.Report, _ Options) error {
	doc := junitSuites{Name: toolName(r)}
	for _, sec := range outline(r) {
		s := junitSuite{Name: sec.Name}
		if len(doc.Suites) == 0 {
			s.Properties = junitProps(r)
		}
		for _, g := range sec.Groups {
			for _, it := range g.Items {
				s.Cases = append(s.Cases, junitItem(sec.Name, g.Name, it))
			}
		}
		doc.Suites = append(doc.Suites, s)
	}
	if len(r.InputErrors) > 0 {
		s := junitSuite{Name: junitInputsSuite}
		for _, e := range r.InputErrors {
			loc := orDash(location(e.File, e.Line))
			s.Cases = append(s.Cases, junitCase{
				Classname: "inputs",
				Name:      loc,
				Error:     &junitProblem{Message: xmlSafe(oneLine(e.Message)), Type: "input", Text: xmlSafe(loc + ": " + e.Message)},
			})
		}
		doc.Suites = append(doc.Suites, s)
	}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		for _, c := range s.Cases {
			s.Tests++
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Error != nil:
				s.Errors++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}

	var b bytes.Buffer
	b.WriteString(xml.Header)
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	b.Write(out)
	b.WriteString("\n")
	return writeAll(w, &b)
}

// junitProps records the verdict on the first suite (the only place the
// JUnit schema has for run-wide facts).
func junitProps(r *report.Report) *junitProperties {
	props := []junitProperty{{"verdict", r.Verdict}}
	if r.Tool.Version != "" {
		props = append(props, junitProperty{"version", r.Tool.Version})
	}
	if r.Digest != "" {
		props = append(props, junitProperty{"digest", r.Digest})
	}
	if len(r.Blocking) > 0 {
		props = append(props, junitProperty{"blocking", strings.Join(r.Blocking, ",")})
	}
	for i := range props {
		props[i].Value = xmlSafe(props[i].Value)
	}
	return &junitProperties{props}
}

func junitItem(sec, grp string, it *report.Item) junitCase {
	c := junitCase{
		Classname: xmlSafe(sec + "." + grp),
		Name:      xmlSafe(it.ID + ": " + it.Title),
	}
	body := junitBody(it)
	switch it.Status {
	case report.Pass:
	case report.Warn:
		c.SystemOut = &junitText{xmlSafe(body)}
	case report.Fail:
		c.Failure = &junitProblem{Message: xmlSafe(junitMessage(it, report.Fail)), Type: "fail", Text: xmlSafe(body)}
	case report.Pending, report.NotApplicable:
		c.Skipped = &junitSkipped{Message: xmlSafe(junitMessage(it, it.Status))}
		if body != "" {
			c.SystemOut = &junitText{xmlSafe(body)}
		}
	default: // error, and any status this version does not know
		c.Error = &junitProblem{Message: xmlSafe(junitMessage(it, it.Status)), Type: statusName(it.Status), Text: xmlSafe(body)}
	}
	return c
}

// junitMessage is a one-line reason: the item's status and the messages of
// its parts (or, without part messages, findings) that have that status.
func junitMessage(it *report.Item, st report.Status) string {
	var msgs []string
	for _, p := range it.Parts {
		if p.Status == st && p.Message != "" {
			msgs = append(msgs, p.Part+": "+oneLine(p.Message))
		}
	}
	if len(msgs) == 0 {
		for _, f := range it.Findings {
			if f.Status == st {
				msgs = append(msgs, oneLine(f.Message))
			}
		}
	}
	head := statusName(st)
	if len(msgs) == 0 {
		return head
	}
	if len(msgs) > 3 {
		msgs = append(msgs[:3], fmt.Sprintf("and %d more", len(msgs)-3))
	}
	return head + ": " + strings.Join(msgs, "; ")
}

// junitBody is the plain-text evidence of an item that did not pass: its
// parts that did not pass, their findings, waivers and attestations.
func junitBody(it *report.Item) string {
	var b strings.Builder
	for _, pv := range itemDetails(it, false) {
		fmt.Fprintf(&b, "%s: %s", pv.Name, statusName(pv.Status))
		if pv.Message != "" {
			b.WriteString(" — " + pv.Message)
		}
		b.WriteString("\n")
		for i := range pv.Findings {
			b.WriteString(indentLines(findingPlain(&pv.Findings[i]), "  "))
		}
	}
	for i := range it.Attestations {
		a := &it.Attestations[i]
		b.WriteString(mark(a.Status) + " " + attestationText(a) + "\n")
	}
	return b.String()
}

func indentLines(s, ind string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			b.WriteString(ind)
		}
		b.WriteString(l)
	}
	return b.String()
}

// xmlSafe replaces what XML 1.0 cannot carry at all (most control
// characters, invalid UTF-8) with U+FFFD; CDATA sections would otherwise pass
// them through and make the document unparsable.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' ||
			(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF) {
			return r
		}
		return '\uFFFD'
	}, s)
}
