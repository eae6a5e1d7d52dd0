package report

// LoadRun is a recorded load-generating probe run (load, step or soak) that
// the probe parts of items relied on: its key figures and its latency
// percentile curve, mesh and (where one was measured) baseline, so that a
// reader sees the distribution behind a verdict and renderers can chart it.
type LoadRun struct {
	// ID is the record's file name in the evidence directory (KIND-TIMESTAMP.json).
	ID string `json:"id"`
	// File is the record's path as it was read (not part of the digest: the
	// same record read from another checkout is the same evidence).
	File    string `json:"file,omitempty"`
	Kind    string `json:"kind"`
	Target  string `json:"target"`
	Source  string `json:"source,omitempty"` // meshready or fortio
	Verdict string `json:"verdict"`          // pass or fail (partial runs never count)
	Start   string `json:"start,omitempty"`  // UTC, 2006-01-02T15:04:05.000Z
	End     string `json:"end,omitempty"`
	// TargetQPS is the rate asked for (a step run: its highest step); 0 when unknown.
	TargetQPS   float64          `json:"targetQPS,omitempty"`
	AchievedQPS float64          `json:"achievedQPS"`
	Requests    int64            `json:"requests"`
	ErrorRate   float64          `json:"errorRate"`
	LatencyMs   *LatencyMs       `json:"latencyMs,omitempty"`
	Curve       []CurvePoint     `json:"curve,omitempty"`
	Baseline    *LoadRunBaseline `json:"baseline,omitempty"`
	// AddedLatencyMs is mesh minus baseline, as the probe computed it.
	AddedLatencyMs *LatencyMs `json:"addedLatencyMs,omitempty"`
	// UsedBy are the IDs of the items whose probe part relied on the run, sorted.
	UsedBy []string `json:"usedBy"`
}

// LatencyMs are the judged percentiles of a run, in milliseconds.
type LatencyMs struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// CurvePoint is one point of a latency percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"` // 0–100
	Ms         float64 `json:"ms"`
}

// LoadRunBaseline is the same load sent to the service without the mesh.
type LoadRunBaseline struct {
	Target      string       `json:"target,omitempty"`
	AchievedQPS float64      `json:"achievedQPS"`
	Requests    int64        `json:"requests"`
	ErrorRate   float64      `json:"errorRate"`
	LatencyMs   *LatencyMs   `json:"latencyMs,omitempty"`
	Curve       []CurvePoint `json:"curve,omitempty"`
}
