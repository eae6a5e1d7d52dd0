// Package report is meshready's versioned output model: what every renderer
// prints and what CI and other tools parse. Extend it; never break it.
package report

// SchemaVersion names the JSON contract.
const SchemaVersion = "meshready/v1"

// Status of an item, a part of an item, or one finding.
type Status string

const (
	Pass          Status = "pass"
	Warn          Status = "warn"
	Fail          Status = "fail"
	Pending       Status = "pending"
	NotApplicable Status = "not-applicable"
	Error         Status = "error"
)

// Statuses in the order summaries print them.
var Statuses = []Status{Pass, Warn, Fail, Pending, NotApplicable, Error}

// rank orders statuses from best to worst: fail > error > warn > pending > pass.
// not-applicable ranks lowest so that it only wins when nothing else was evaluated.
func (s Status) rank() int {
	switch s {
	case NotApplicable:
		return 0
	case Pass:
		return 1
	case Pending:
		return 2
	case Warn:
		return 3
	case Error:
		return 4
	case Fail:
		return 5
	}
	return 0
}

// Worse returns the worse of two statuses.
func Worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Valid reports whether s is one of the six statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Severity of an item: a blocker keeps the verdict from `ready`.
type Severity string

const (
	Blocker Severity = "blocker"
	Major   Severity = "major"
	Minor   Severity = "minor"
)

// Verdict values.
const (
	Ready    = "ready"
	NotReady = "not-ready"
)

// Report is one evaluation of the checklist.
type Report struct {
	SchemaVersion string       `json:"schemaVersion"`
	Tool          Tool         `json:"tool"`
	Verdict       string       `json:"verdict"`
	Summary       Summary      `json:"summary"`
	Digest        string       `json:"digest"` // sha256 of the evaluated state (see Digest)
	Inputs        Inputs       `json:"inputs"`
	InputErrors   []InputError `json:"inputErrors,omitempty"`
	Blocking      []string     `json:"blocking,omitempty"` // blocker item IDs not pass/not-applicable
	Waivers       []Waiver     `json:"waivers,omitempty"`
	// LoadRuns are the load, step and soak runs the items relied on, each
	// once, in start order (see LoadRun).
	LoadRuns []LoadRun `json:"loadRuns,omitempty"`
	// Items stays the last field: the JSON renderer streams it.
	Items []Item `json:"items"`
}

// Tool names the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Summary counts items by status.
type Summary struct {
	Pass          int `json:"pass"`
	Warn          int `json:"warn"`
	Fail          int `json:"fail"`
	Pending       int `json:"pending"`
	NotApplicable int `json:"not-applicable"`
	Error         int `json:"error"`
}

// Add counts one item.
func (s *Summary) Add(st Status) {
	switch st {
	case Pass:
		s.Pass++
	case Warn:
		s.Warn++
	case Fail:
		s.Fail++
	case Pending:
		s.Pending++
	case NotApplicable:
		s.NotApplicable++
	case Error:
		s.Error++
	}
}

// Count returns the number of items with a status.
func (s Summary) Count(st Status) int {
	switch st {
	case Pass:
		return s.Pass
	case Warn:
		return s.Warn
	case Fail:
		return s.Fail
	case Pending:
		return s.Pending
	case NotApplicable:
		return s.NotApplicable
	case Error:
		return s.Error
	}
	return 0
}

// Inputs says what the report was evaluated from.
type Inputs struct {
	Paths      []string `json:"paths,omitempty"`
	Config     string   `json:"config,omitempty"`
	Cluster    string   `json:"cluster,omitempty"` // kubeconfig context when live
	Prometheus string   `json:"prometheus,omitempty"`
	Objects    int      `json:"objects"`
}

// InputError is a document that could not be used.
type InputError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Item is one checklist line, evaluated.
type Item struct {
	ID           string        `json:"id"`
	Section      string        `json:"section"`
	Group        string        `json:"group"`
	Title        string        `json:"title"`
	Kind         string        `json:"kind"`
	Severity     Severity      `json:"severity"`
	Status       Status        `json:"status"`
	Service      string        `json:"service,omitempty"` // for service.<name>.* items
	Parts        []PartResult  `json:"parts"`
	Findings     []Finding     `json:"findings"`
	Attestations []Attestation `json:"attestations,omitempty"`
}

// PartResult is the status of one part of an item (config, live, telemetry,
// probe, docs, manual) with a one-line summary.
type PartResult struct {
	Part    string `json:"part"`
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
}

// Finding is one piece of evidence: what was observed on which object, and
// for anything short of pass, how to fix it.
type Finding struct {
	Status      Status     `json:"status"`
	Part        string     `json:"part"`
	Message     string     `json:"message"`
	Remediation string     `json:"remediation,omitempty"`
	Object      *ObjectRef `json:"object,omitempty"`
	Field       string     `json:"field,omitempty"` // field path, e.g. spec.http[0].retries
	Observed    string     `json:"observed,omitempty"`
	Expected    string     `json:"expected,omitempty"`
	Query       *Query     `json:"query,omitempty"`  // the PromQL (or API call) it relied on
	Waiver      *Waiver    `json:"waiver,omitempty"` // set when a waiver covers this finding
}

// ObjectRef names an object and where it was read from.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
}

// Query records a telemetry query so a reader can rerun it.
type Query struct {
	Source string `json:"source"` // "prometheus", "grafana", ...
	Expr   string `json:"expr"`
	Time   string `json:"time,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Waiver is an accepted exception to an item, as configured.
type Waiver struct {
	Item    string `json:"item"`
	Object  string `json:"object,omitempty"` // glob on "Kind/namespace/name"
	Reason  string `json:"reason"`
	By      string `json:"by,omitempty"`
	Expires string `json:"expires,omitempty"`
	Expired bool   `json:"expired,omitempty"`
	Used    int    `json:"used"` // findings it covered in this run
}

// Attestation is a human statement recorded for a manual item or a sign-off.
type Attestation struct {
	Item     string `json:"item"`
	By       string `json:"by"`
	At       string `json:"at"`
	Evidence string `json:"evidence,omitempty"`
	Expires  string `json:"expires,omitempty"`
	Note     string `json:"note,omitempty"`
	Digest   string `json:"digest,omitempty"` // for sign-offs: the report digest approved
	Status   Status `json:"status"`           // pass, or fail/pending when expired or stale
	Reason   string `json:"reason,omitempty"`
}
