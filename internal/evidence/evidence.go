// Package evidence stores the results of active verification runs (meshready
// probe, or imported load-tester output) as JSON records in a directory, and
// finds the newest record that may count for a checklist item.
//
// A record is written atomically (temporary file in the same directory, then
// rename), one file per run, named KIND-TIMESTAMP.json. Partial runs
// (interrupted, timed out) are recorded too, marked partial: they document
// that a run happened but never count as passing.
package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SchemaVersion is the version of the record format. Fields are only added.
const SchemaVersion = 1

// Verdicts.
const (
	Pass    = "pass"
	Fail    = "fail"
	Partial = "partial"
)

// Probe kinds.
const (
	KindLoad           = "load"
	KindStep           = "step"
	KindSoak           = "soak"
	KindCircuitBreaker = "circuit-breaker"
	KindRetries        = "retries"
	KindFault          = "fault"
	KindRecovery       = "recovery"
	KindTLS            = "tls"
	KindMTLS           = "mtls"
	KindAuthn          = "authn"
	KindAuthz          = "authz"
	KindGRPCHealth     = "grpc-health"
)

// Kinds lists every probe kind.
var Kinds = []string{KindLoad, KindStep, KindSoak, KindCircuitBreaker, KindRetries, KindFault, KindRecovery, KindTLS, KindMTLS, KindAuthn, KindAuthz, KindGRPCHealth}

// Record is one verification run.
type Record struct {
	SchemaVersion int    `json:"schemaVersion"`
	Kind          string `json:"kind"`
	Target        string `json:"target"`
	// Source says what produced the record: "meshready" or "fortio".
	Source     string         `json:"source"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	Verdict    string         `json:"verdict"`
	// Reasons explain the verdict: each criterion, met or not.
	Reasons          []Reason `json:"reasons,omitempty"`
	Results          Results  `json:"results"`
	MeshreadyVersion string   `json:"meshreadyVersion"`

	// File is where the record was read from or written to (not serialized).
	File string `json:"-"`
}

// Reason is one pass criterion and whether the run met it.
type Reason struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// Results are the measured figures. The first four fields exist for every
// load-generating kind; the others are present for the kinds that use them.
type Results struct {
	Requests    int64    `json:"requests"`
	Errors      int64    `json:"errors"`
	AchievedQPS float64  `json:"achievedQPS"`
	LatencyMs   *Latency `json:"latencyMs,omitempty"`

	ErrorRate float64 `json:"errorRate"`
	// StatusCodes count what the requests got: HTTP status codes ("200"),
	// or for gRPC health checks the serving status of an answer ("SERVING",
	// "NOT_SERVING") or the status code of a failed call ("UNAVAILABLE").
	StatusCodes map[string]int64 `json:"statusCodes,omitempty"`
	// TransportErrors are requests that got no HTTP response (refused, reset, timeout).
	TransportErrors int64 `json:"transportErrors,omitempty"`
	// Unsent requests were due but still waiting for a free connection when
	// the run's dispatch deadline passed (counted in requests and errors).
	Unsent int64 `json:"unsent,omitempty"`
	// ScheduleLagMs is how late requests left the load generator: large
	// values mean the target was too slow for the connections given (the
	// wait is counted in latencyMs) or the generator's machine was too busy.
	ScheduleLagMs *Latency `json:"scheduleLagMs,omitempty"`
	// LatencyCurve is the percentile curve (percentile → ms) for charts.
	LatencyCurve []CurvePoint `json:"latencyCurve,omitempty"`

	// load with --baseline-url: the direct path, and mesh minus direct.
	Baseline       *LoadSummary `json:"baseline,omitempty"`
	AddedLatencyMs *Latency     `json:"addedLatencyMs,omitempty"`

	// step: one entry per rate step.
	Steps []Step `json:"steps,omitempty"`
	// soak and recovery: consecutive windows of the run.
	Windows []Window `json:"windows,omitempty"`

	CircuitBreaker *CircuitBreakerResults `json:"circuitBreaker,omitempty"`
	Retries        *RetriesResults        `json:"retries,omitempty"`
	Fault          *FaultResults          `json:"fault,omitempty"`
	Recovery       *RecoveryResults       `json:"recovery,omitempty"`
	TLS            *TLSResults            `json:"tls,omitempty"`
	MTLS           *MTLSResults           `json:"mtls,omitempty"`
	Authn          []Case                 `json:"authn,omitempty"`
	Authz          []Case                 `json:"authz,omitempty"`
	GRPCHealth     *GRPCHealthResults     `json:"grpcHealth,omitempty"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Min  float64 `json:"min,omitempty"`
	Mean float64 `json:"mean,omitempty"`
	Max  float64 `json:"max,omitempty"`
}

// CurvePoint is one point of a percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// LoadSummary is the outcome of one load run within a larger probe.
type LoadSummary struct {
	Target       string       `json:"target,omitempty"`
	TargetQPS    float64      `json:"targetQPS,omitempty"`
	Requests     int64        `json:"requests"`
	Errors       int64        `json:"errors"`
	ErrorRate    float64      `json:"errorRate"`
	AchievedQPS  float64      `json:"achievedQPS"`
	LatencyMs    *Latency     `json:"latencyMs,omitempty"`
	LatencyCurve []CurvePoint `json:"latencyCurve,omitempty"`
}

// Step is one rate step of a stepped run.
type Step struct {
	LoadSummary
	OK bool `json:"ok"`
}

// Window is one time slice of a long run.
type Window struct {
	StartOffsetS float64 `json:"startOffsetS"`
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	ErrorRate    float64 `json:"errorRate"`
	P99Ms        float64 `json:"p99Ms,omitempty"`
}

// CircuitBreakerResults: how overload beyond the limits was answered.
type CircuitBreakerResults struct {
	Overflow503      int64    `json:"overflow503"`
	Overflow503Share float64  `json:"overflow503Share"`
	EnvoyOverloaded  int64    `json:"envoyOverloaded"` // 503s carrying x-envoy-overloaded
	Latency503Ms     *Latency `json:"latency503Ms,omitempty"`
	LatencyOKMs      *Latency `json:"latencyOKMs,omitempty"`
	MaxFast503Ms     float64  `json:"maxFast503Ms"`
}

// RetriesResults: transient failures hidden by retries.
type RetriesResults struct {
	ClientErrorRate float64      `json:"clientErrorRate"`
	Retried         int64        `json:"retried"` // responses reporting more than one attempt
	Direct          *LoadSummary `json:"direct,omitempty"`
}

// FaultResults compare the observed fault rates with the configured ones.
type FaultResults struct {
	AbortStatus       int     `json:"abortStatus,omitempty"`
	ExpectedAbortRate float64 `json:"expectedAbortRate"`
	ObservedAbortRate float64 `json:"observedAbortRate"`
	AbortTolerance    float64 `json:"abortTolerance"`
	DelayMs           float64 `json:"delayMs,omitempty"`
	ExpectedDelayRate float64 `json:"expectedDelayRate,omitempty"`
	ObservedDelayRate float64 `json:"observedDelayRate,omitempty"`
	DelayTolerance    float64 `json:"delayTolerance,omitempty"`
	// Z is the normal quantile of the stated tolerance (two-sided).
	Z          float64 `json:"z"`
	Confidence float64 `json:"confidence"`
}

// RecoveryResults: when the fault ended and when errors got back to baseline.
type RecoveryResults struct {
	BaselineErrorRate float64 `json:"baselineErrorRate"`
	PeakErrorRate     float64 `json:"peakErrorRate"`
	FaultObserved     bool    `json:"faultObserved"`
	// FaultEndOffsetS is when the fault ended (the restore command finished,
	// or else the end of the last window at the peak error rate).
	FaultEndOffsetS  float64 `json:"faultEndOffsetS"`
	FaultEndFrom     string  `json:"faultEndFrom"`
	RecoveredOffsetS float64 `json:"recoveredOffsetS,omitempty"`
	RecoverySeconds  float64 `json:"recoverySeconds"`
	Recovered        bool    `json:"recovered"`
	ThresholdSeconds float64 `json:"thresholdSeconds"`
}

// TLSResults: what the TLS endpoint offers and accepts.
type TLSResults struct {
	ServerName        string   `json:"serverName"`
	ChainValid        bool     `json:"chainValid"`
	ChainError        string   `json:"chainError,omitempty"`
	Subject           string   `json:"subject,omitempty"`
	Issuer            string   `json:"issuer,omitempty"`
	NotAfter          string   `json:"notAfter,omitempty"`
	DaysToExpiry      float64  `json:"daysToExpiry"`
	NegotiatedVersion string   `json:"negotiatedVersion,omitempty"`
	VersionsAccepted  []string `json:"versionsAccepted"`
	MinVersion        string   `json:"minVersionAccepted,omitempty"`
	WeakCiphersTried  []string `json:"weakCiphersTried,omitempty"`
	WeakCiphersOK     []string `json:"weakCiphersAccepted"`
}

// MTLSResults: what a plaintext request to an in-mesh port got.
type MTLSResults struct {
	Refused bool   `json:"refused"`
	Outcome string `json:"outcome"` // "connection reset", "HTTP 200", ...
	Status  int    `json:"status,omitempty"`
}

// GRPCHealthResults: what one grpc.health.v1.Health/Check call got.
type GRPCHealthResults struct {
	Service string `json:"service"` // "" is the whole server
	// Status is the serving status answered (SERVING, NOT_SERVING,
	// SERVICE_UNKNOWN) or the status code of the failed call (UNAVAILABLE...).
	Status    string  `json:"status"`
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
}

// Case is one request of an authn/authz table and what it got.
type Case struct {
	Name   string `json:"name"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	Expect string `json:"expect"` // allow | deny
	Status int    `json:"status"`
	Got    string `json:"got"` // allow | deny | error
	Error  string `json:"error,omitempty"`
	OK     bool   `json:"ok"`
}

// Counts reports whether the record may count as passing evidence.
func (r *Record) Counts() bool { return r.Verdict == Pass }

// FileName is the record's file name: KIND-TIMESTAMP.json (UTC, sortable).
func (r *Record) FileName() string {
	t := r.Start
	if t.IsZero() {
		t = r.End
	}
	return fmt.Sprintf("%s-%s.json", r.Kind, t.UTC().Format("20060102T150405.000Z"))
}

// Validate checks the fields every record must have.
func (r *Record) Validate() error {
	var errs []error
	if r.Kind == "" {
		errs = append(errs, errors.New("kind is empty"))
	} else if strings.ContainsAny(r.Kind, `/\.`) {
		errs = append(errs, fmt.Errorf("kind %q: not a valid kind", r.Kind))
	}
	switch r.Verdict {
	case Pass, Fail, Partial:
	default:
		errs = append(errs, fmt.Errorf("verdict %q: want pass, fail or partial", r.Verdict))
	}
	if r.Start.IsZero() && r.End.IsZero() {
		errs = append(errs, errors.New("start and end are empty"))
	}
	return errors.Join(errs...)
}

// Write stores rec in dir (created if missing) atomically and returns the
// file's path. An existing file of the same name is never overwritten: a
// numeric suffix is added.
func Write(dir string, rec *Record) (string, error) {
	if rec.SchemaVersion == 0 {
		rec.SchemaVersion = SchemaVersion
	}
	if err := rec.Validate(); err != nil {
		return "", fmt.Errorf("evidence record: %w", err)
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", err
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("evidence dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+rec.Kind+"-*")
	if err != nil {
		return "", fmt.Errorf("evidence dir: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	base := strings.TrimSuffix(rec.FileName(), ".json")
	for i := 0; ; i++ {
		name := base + ".json"
		if i > 0 {
			name = fmt.Sprintf("%s-%d.json", base, i)
		}
		path := filepath.Join(dir, name)
		// Link, not rename, so that a concurrent writer of the same name
		// cannot be overwritten; fall back to rename where links fail.
		if err := os.Link(tmp.Name(), path); err == nil {
			rec.File = path
			return path, nil
		} else if errors.Is(err, fs.ErrExist) {
			continue
		}
		if _, err := os.Lstat(path); err == nil {
			continue
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return "", err
		}
		rec.File = path
		return path, nil
	}
}

// Read parses one record file.
func Read(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rec := &Record{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := rec.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rec.File = path
	return rec, nil
}

// Problem is a file in the evidence directory that is not a valid record.
type Problem struct {
	File string
	Err  error
}

// List reads every record in dir (newest first) and reports the files that
// are not valid records. A missing directory is no records, not an error.
func List(dir string) ([]*Record, []Problem, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var recs []*Record
	var probs []Problem
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		r, err := Read(filepath.Join(dir, name))
		if err != nil {
			probs = append(probs, Problem{File: filepath.Join(dir, name), Err: err})
			continue
		}
		recs = append(recs, r)
	}
	SortNewestFirst(recs)
	return recs, probs, nil
}

// SortNewestFirst orders records by end time (else start), newest first.
func SortNewestFirst(recs []*Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		ti, tj := recs[i].When(), recs[j].When()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return recs[i].File > recs[j].File
	})
}

// When is the record's time: its end, or its start when it has no end.
func (r *Record) When() time.Time {
	if !r.End.IsZero() {
		return r.End
	}
	return r.Start
}

// Query selects records.
type Query struct {
	Kind   string
	MaxAge time.Duration // 0: any age
	Now    time.Time
	// Match further restricts the records (e.g. load runs with a baseline).
	Match func(*Record) bool
}

// Fresh reports whether the record is within the query's age.
func (q Query) Fresh(r *Record) bool {
	if q.MaxAge <= 0 {
		return true
	}
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	return now.Sub(r.When()) <= q.MaxAge
}

// Latest returns the newest complete (non-partial) record of the query,
// whatever its verdict, or nil. recs must be newest first (as List returns).
func Latest(recs []*Record, q Query) *Record {
	for _, r := range recs {
		if r.Kind != q.Kind || r.Verdict == Partial || !q.Fresh(r) {
			continue
		}
		if q.Match != nil && !q.Match(r) {
			continue
		}
		return r
	}
	return nil
}

// Newest returns the newest passing, non-partial record of kind in dir
// whose time is within maxAge of now (maxAge 0: any age), or nil.
func Newest(dir, kind string, maxAge time.Duration, now time.Time) (*Record, error) {
	recs, _, err := List(dir)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Kind == kind && r.Counts() && (Query{MaxAge: maxAge, Now: now}).Fresh(r) {
			return r, nil
		}
	}
	return nil, nil
}
