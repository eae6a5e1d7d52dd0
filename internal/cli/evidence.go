package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/exitcode"
)

// EvidenceOptions are the flags of `meshready evidence ...`.
type EvidenceOptions struct {
	ConfigPath  string
	EvidenceDir string
	Output      string // text | json
	Kind        string
	// import
	File, Baseline string
	Now            time.Time // fixed clock for tests
}

func newEvidenceCmd(io IO) *cobra.Command {
	o := &EvidenceOptions{}
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "List and import recorded probe results",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.ConfigPath, "config", "", "meshready.yaml (evidenceDir, evidenceMaxAge, thresholds); default ./meshready.yaml if present")
	pf.StringVar(&o.EvidenceDir, "evidence-dir", "", "the evidence directory (default: the config's evidenceDir)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the evidence records, newest first, saying which count",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return RunEvidenceList(io, o) },
	}
	list.Flags().StringVarP(&o.Output, "output", "o", "text", "text or json")
	list.Flags().StringVar(&o.Kind, "kind", "", "only this probe kind")
	imp := &cobra.Command{
		Use:   "import",
		Short: "Import another tool's result as evidence",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	fortio := &cobra.Command{
		Use:   "fortio FILE",
		Short: "Import a fortio JSON result (fortio load -json FILE) as a load record",
		Long: `Import a fortio JSON result as a load record, judged against the config's
thresholds (errorRate, p99LatencyMs; with --baseline, the added-latency
thresholds). Exit code 0 when the imported run passes, 3 when it fails.

Note: fortio times each request from when it was actually sent, so under
overload its percentiles leave out the queueing (coordinated omission);
meshready probe load times requests from when they were due.`,
		Example: "  fortio load -qps 500 -t 60s -json mesh.json http://gateway/api\n  meshready evidence import fortio mesh.json --baseline direct.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.File = args[0]
			return RunEvidenceImportFortio(io, o)
		},
	}
	fortio.Flags().StringVar(&o.Baseline, "baseline", "", "fortio JSON result of the same load on the direct path (gives the added latency)")
	fortio.Flags().StringVarP(&o.Output, "output", "o", "text", "text or json (the evidence record)")
	imp.AddCommand(fortio)
	cmd.AddCommand(list, imp)
	return cmd
}

// RunEvidenceList runs `meshready evidence list`.
func RunEvidenceList(io IO, o *EvidenceOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return exitcode.Usagef(fmt.Errorf("-o %q: want text or json", o.Output))
	}
	cfg, err := loadProbeConfig(o.ConfigPath)
	if err != nil {
		return exitcode.Usagef(err)
	}
	dir := evidenceDir(cfg, o.EvidenceDir)
	recs, probs, err := evidence.List(dir)
	if err != nil {
		return err
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	maxAge := cfg.EvidenceMaxAge.D()
	var sel []*evidence.Record
	for _, r := range recs {
		if o.Kind == "" || r.Kind == o.Kind {
			sel = append(sel, r)
		}
	}
	if o.Output == "json" {
		type row struct {
			File   string `json:"file"`
			Counts bool   `json:"counts"`
			*evidence.Record
		}
		rows := []row{}
		for _, r := range sel {
			rows = append(rows, row{File: r.File, Counts: r.Counts() && (evidence.Query{MaxAge: maxAge, Now: now}).Fresh(r), Record: r})
		}
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(sel) == 0 {
		fmt.Fprintf(io.Out, "no evidence records in %s (run `meshready probe KIND --url URL`)\n", dir)
	} else {
		tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "WHEN\tKIND\tVERDICT\tCOUNTS\tTARGET\tSUMMARY\tFILE")
		for _, r := range sel {
			counts := "yes"
			switch {
			case r.Verdict == evidence.Partial:
				counts = "no (partial)"
			case !r.Counts():
				counts = "no (failed)"
			case !(evidence.Query{MaxAge: maxAge, Now: now}).Fresh(r):
				counts = fmt.Sprintf("no (older than %s)", cfg.EvidenceMaxAge.D())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.When().Local().Format("2006-01-02 15:04"), r.Kind, r.Verdict, counts, r.Target, summary(r), relPath(r.File))
		}
		tw.Flush()
	}
	for _, p := range probs {
		fmt.Fprintf(io.Err, "meshready: %s is not a valid evidence record: %v\n", p.File, p.Err)
	}
	return nil
}

func summary(r *evidence.Record) string {
	res := r.Results
	var parts []string
	if res.LatencyMs != nil {
		parts = append(parts, fmt.Sprintf("%.0f req/s p50 %.2fms p99 %.2fms err %.2f%%", res.AchievedQPS, res.LatencyMs.P50, res.LatencyMs.P99, 100*res.ErrorRate))
	}
	if a := res.AddedLatencyMs; a != nil {
		parts = append(parts, fmt.Sprintf("added p50 %.2fms p99 %.2fms", a.P50, a.P99))
	}
	if t := res.TLS; t != nil {
		parts = append(parts, fmt.Sprintf("%.0f days, min %s", t.DaysToExpiry, t.MinVersion))
	}
	if r.Verdict != evidence.Pass {
		if f := r.FailedReasons(); f != "" {
			parts = append(parts, f)
		}
	}
	s := strings.Join(parts, "; ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// RunEvidenceImportFortio runs `meshready evidence import fortio FILE`.
func RunEvidenceImportFortio(io IO, o *EvidenceOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return exitcode.Usagef(fmt.Errorf("-o %q: want text or json", o.Output))
	}
	cfg, err := loadProbeConfig(o.ConfigPath)
	if err != nil {
		return exitcode.Usagef(err)
	}
	th := cfg.Thresholds
	lim := evidence.Limits{ErrorRate: th.ErrorRate, P99Ms: th.P99LatencyMs}
	read := func(p string) (*evidence.Record, error) {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		r, err := evidence.ImportFortio(data, lim)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return r, nil
	}
	rec, err := read(o.File)
	if err != nil {
		return exitcode.Usagef(err)
	}
	rec.Parameters["importedFrom"] = o.File
	if o.Baseline != "" {
		base, err := read(o.Baseline)
		if err != nil {
			return exitcode.Usagef(err)
		}
		if base.Results.LatencyMs == nil || rec.Results.LatencyMs == nil {
			return exitcode.Usagef(errors.New("a fortio result without latency"))
		}
		rec.Parameters["baselineURL"] = base.Target
		rec.Parameters["baselineImportedFrom"] = o.Baseline
		b, m := base.Results.LatencyMs, rec.Results.LatencyMs
		rec.Results.Baseline = &evidence.LoadSummary{Target: base.Target, Requests: base.Results.Requests, Errors: base.Results.Errors,
			ErrorRate: base.Results.ErrorRate, AchievedQPS: base.Results.AchievedQPS, LatencyMs: b, LatencyCurve: base.Results.LatencyCurve}
		add := &evidence.Latency{P50: m.P50 - b.P50, P90: m.P90 - b.P90, P99: m.P99 - b.P99, P999: m.P999 - b.P999}
		rec.Results.AddedLatencyMs = add
		for _, x := range []struct {
			name       string
			got, limit float64
		}{{"p50", add.P50, th.AddedLatencyP50Ms}, {"p90", add.P90, th.AddedLatencyP90Ms}, {"p99", add.P99, th.AddedLatencyP99Ms}} {
			rec.Reasons = append(rec.Reasons, evidence.Reason{OK: x.got <= x.limit, Message: fmt.Sprintf("added %s latency %.3f ms (limit %.1f ms)", x.name, x.got, x.limit)})
		}
		rec.Verdict = evidence.VerdictOf(rec.Reasons)
	}
	if _, err := evidence.Write(evidenceDir(cfg, o.EvidenceDir), rec); err != nil {
		return fmt.Errorf("recording the result: %w", err)
	}
	if o.Output == "json" {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return err
		}
	} else {
		printRecord(io, rec)
	}
	if rec.Verdict != evidence.Pass {
		return &exitcode.NotReadyError{} // the result is printed above
	}
	return nil
}
