package render

import (
	"bytes"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// sarifRenderer writes SARIF 2.1.0 for code-scanning tools: one run, one rule
// per item that has findings to report, one result per finding that is fail,
// error, warn or pending (pass and not-applicable findings are not results).
//
//	fail, error  level "error"
//	warn         level "warning"
//	pending      level "note"
//
// A finding on an object read from a file is located at that file (its path
// as given, relative stays relative) and line. A finding with no file (no
// object, or an object read from the live cluster) is located, without a
// region, at the run's anchor: the meshready config file, else the first input
// path; its properties say "fallbackLocation": true. SARIF itself allows a
// result without locations, but GitHub code scanning rejects the whole file
// ("locationFromSarifResult: expected at least one location") if any result
// has none, and every pending or error finding has no object. Only a run with
// neither a config file nor input paths emits results without locations.
//
// A finding a waiver covers is a result with an external suppression, so that
// code scanning shows it as dismissed.
// Rules are sorted by ID, results by rule, file, line, then message.
type sarifRenderer struct{}

func (sarifRenderer) Name() string { return "sarif" }
func (sarifRenderer) Ext() string  { return "sarif" }

const (
	sarifVersion   = "2.1.0"
	sarifSchema    = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifToolURI   = "https://github.com/meshready/meshready"
	sarifToolName  = "meshready"
	sarifLevelErr  = "error"
	sarifLevelWarn = "warning"
	sarifLevelNote = "note"
)

type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool          `json:"tool"`
	Invocations []sarifInvocation  `json:"invocations,omitempty"`
	Results     []sarifResult      `json:"results"`
	Properties  sarifRunProperties `json:"properties"`
}

type sarifRunProperties struct {
	Verdict       string   `json:"verdict"`
	SchemaVersion string   `json:"schemaVersion,omitempty"`
	Digest        string   `json:"digest,omitempty"`
	Blocking      []string `json:"blocking,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string              `json:"id"`
	ShortDescription     sarifMessage        `json:"shortDescription"`
	DefaultConfiguration sarifConfiguration  `json:"defaultConfiguration"`
	Properties           sarifRuleProperties `json:"properties"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProperties struct {
	Section  string `json:"section"`
	Group    string `json:"group"`
	Severity string `json:"severity"`
	Kind     string `json:"kind,omitempty"`
	Service  string `json:"service,omitempty"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID       string                `json:"ruleId"`
	RuleIndex    int                   `json:"ruleIndex"`
	Level        string                `json:"level"`
	Message      sarifMessage          `json:"message"`
	Locations    []sarifLocation       `json:"locations,omitempty"`
	Suppressions []sarifSuppression    `json:"suppressions,omitempty"`
	Properties   sarifResultProperties `json:"properties"`
}

type sarifResultProperties struct {
	Status           string `json:"status"`
	FallbackLocation bool   `json:"fallbackLocation,omitempty"`
	Part             string `json:"part,omitempty"`
	Object           string `json:"object,omitempty"` // Kind/namespace/name, as waivers match it
	Field            string `json:"field,omitempty"`
	Observed         string `json:"observed,omitempty"`
	Expected         string `json:"expected,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Status        string `json:"status,omitempty"`
	Justification string `json:"justification,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

// sarifLevel maps a finding's status to a result level; "" means no result.
func sarifLevel(s report.Status) string {
	switch s {
	case report.Fail, report.Error:
		return sarifLevelErr
	case report.Warn:
		return sarifLevelWarn
	case report.Pending:
		return sarifLevelNote
	}
	return ""
}

// severityLevel is a rule's default level: how much its item weighs.
func severityLevel(s report.Severity) string {
	switch s {
	case report.Minor:
		return sarifLevelNote
	case report.Major:
		return sarifLevelWarn
	}
	return sarifLevelErr
}

func (sarifRenderer) Render(w io.Writer, r *report.Report, _ Options) error {
	type pending struct {
		res  sarifResult
		file string
		line int
	}
	var rules []sarifRule
	var found []pending
	anchor := sarifAnchor(r)
	for i := range r.Items {
		it := &r.Items[i]
		n := 0
		for j := range it.Findings {
			f := &it.Findings[j]
			level := sarifLevel(f.Status)
			if level == "" {
				continue
			}
			n++
			res := sarifResult{
				RuleID:     it.ID,
				Level:      level,
				Message:    sarifMessage{sarifText(f)},
				Properties: sarifResultProperties{Status: string(f.Status), Part: f.Part, Field: f.Field, Observed: f.Observed, Expected: f.Expected},
			}
			var file string
			var line int
			if o := f.Object; o != nil {
				res.Properties.Object = objectID(o)
				if loc := sarifLocate(o.File, o.Line); loc != nil {
					res.Locations = []sarifLocation{*loc}
					file, line = o.File, o.Line
				}
			}
			if res.Locations == nil && anchor != nil {
				res.Locations = []sarifLocation{*anchor}
				res.Properties.FallbackLocation = true
			}
			if wv := f.Waiver; wv != nil && !wv.Expired {
				res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: waiverText(wv)}}
			}
			found = append(found, pending{res, file, line})
		}
		if n > 0 {
			rules = append(rules, sarifRule{
				ID:                   it.ID,
				ShortDescription:     sarifMessage{it.Title},
				DefaultConfiguration: sarifConfiguration{severityLevel(it.Severity)},
				Properties: sarifRuleProperties{
					Section: it.Section, Group: it.Group, Severity: string(it.Severity),
					Kind: it.Kind, Service: it.Service,
				},
			})
		}
	}

	sort.SliceStable(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	index := make(map[string]int, len(rules))
	for i := len(rules) - 1; i >= 0; i-- { // the first rule of a duplicated ID wins
		index[rules[i].ID] = i
	}
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if a.res.RuleID != b.res.RuleID {
			return a.res.RuleID < b.res.RuleID
		}
		if a.file != b.file {
			return a.file < b.file
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.res.Message.Text < b.res.Message.Text
	})
	results := make([]sarifResult, 0, len(found))
	for _, p := range found {
		p.res.RuleIndex = index[p.res.RuleID]
		results = append(results, p.res)
	}
	if rules == nil {
		rules = []sarifRule{}
	}

	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: sarifToolName, InformationURI: sarifToolURI, Version: r.Tool.Version, Rules: rules,
		}},
		Results: results,
		Properties: sarifRunProperties{
			Verdict: r.Verdict, SchemaVersion: r.SchemaVersion, Digest: r.Digest, Blocking: r.Blocking,
		},
	}
	if len(r.InputErrors) > 0 {
		inv := sarifInvocation{ExecutionSuccessful: true}
		for _, e := range r.InputErrors {
			n := sarifNotification{Level: sarifLevelErr, Message: sarifMessage{e.Message}}
			if loc := sarifLocate(e.File, e.Line); loc != nil {
				n.Locations = []sarifLocation{*loc}
			}
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
		}
		run.Invocations = []sarifInvocation{inv}
	}

	var b bytes.Buffer
	if err := encodeJSON(&b, sarifLog{Version: sarifVersion, Schema: sarifSchema, Runs: []sarifRun{run}}); err != nil {
		return err
	}
	return writeAll(w, &b)
}

// sarifAnchor is where results with no file of their own are located: the
// config file, else the first input path; nil when the run read neither.
func sarifAnchor(r *report.Report) *sarifLocation {
	if l := sarifLocate(r.Inputs.Config, 0); l != nil {
		return l
	}
	for _, p := range r.Inputs.Paths {
		if l := sarifLocate(p, 0); l != nil {
			return l
		}
	}
	return nil
}

// sarifLocate is the location of a file and line, nil for no file or a live object.
func sarifLocate(file string, line int) *sarifLocation {
	if file == "" || file == liveOrigin {
		return nil
	}
	loc := &sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: sarifURI(file)}}}
	if line > 0 {
		loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
	}
	return loc
}

// sarifURI is a path as a URI reference: forward slashes, and percent-escapes
// only where a URI needs them (a plain relative path is unchanged).
func sarifURI(p string) string {
	u := url.URL{Path: filepath.ToSlash(p)}
	return u.String()
}

// objectID is "Kind/namespace/name" (or "Kind/name"), as waivers match objects.
func objectID(o *report.ObjectRef) string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// sarifText is a result's message: what was found, on what, and how to fix it.
func sarifText(f *report.Finding) string {
	var b strings.Builder
	b.WriteString(f.Message)
	if f.Object != nil {
		b.WriteString("\nobject: " + objectText(f.Object))
	}
	if f.Field != "" {
		b.WriteString("\nfield: " + f.Field)
	}
	if f.Observed != "" || f.Expected != "" {
		b.WriteString("\nobserved: " + orDash(f.Observed) + "; expected: " + orDash(f.Expected))
	}
	if f.Query != nil {
		b.WriteString("\nquery: " + queryText(f.Query))
	}
	if f.Waiver != nil {
		b.WriteString("\n" + waiverText(f.Waiver))
	}
	if fix := strings.Trim(f.Remediation, "\n"); fix != "" {
		if strings.Contains(fix, "\n") {
			b.WriteString("\nfix:\n" + fix)
		} else {
			b.WriteString("\nfix: " + fix)
		}
	}
	return b.String()
}
