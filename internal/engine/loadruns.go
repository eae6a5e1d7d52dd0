package engine

import (
	"slices"
	"sort"
	"strconv"

	"github.com/meshready/meshready/internal/report"
)

// collectLoadRuns lists each load run the evaluated units attached once
// (the same record often serves several items), with the IDs of the items
// that used it, sorted by start time then ID so the report is stable.
func collectLoadRuns(units []Unit, idx []int, runs [][]report.LoadRun) []report.LoadRun {
	var out []report.LoadRun
	at := map[string]int{}
	for _, i := range idx {
		for _, run := range runs[i] {
			j, ok := at[run.ID]
			if !ok {
				j = len(out)
				at[run.ID] = j
				run.UsedBy = nil
				out = append(out, run)
			}
			if u := &out[j]; !slices.Contains(u.UsedBy, units[i].ID) {
				u.UsedBy = append(u.UsedBy, units[i].ID)
			}
		}
	}
	for i := range out {
		sort.Strings(out[i].UsedBy)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Start != out[b].Start {
			return out[a].Start < out[b].Start
		}
		return out[a].ID < out[b].ID
	})
	return out
}

// digestLoadRuns adds the load runs to the digest. They belong in it: a
// sign-off approves the evidence the report showed, and a record rewritten
// under the same file name (other figures, another curve) must make the
// approval stale, while the findings' messages only carry rounded p50/p99.
// They are deterministic: the figures are the record's own float64s, written
// with strconv's shortest round-trip form ('g', -1), which is also what a
// JSON report re-parsed by `meshready signoff` gives back. Left out: File
// (where the evidence directory is, not what it holds) and UsedBy (derived
// from the items, already hashed).
func digestLoadRuns(field func(string), runs []report.LoadRun) {
	num := func(f float64) { field(strconv.FormatFloat(f, 'g', -1, 64)) }
	lat := func(l *report.LatencyMs) {
		if l == nil {
			field("-")
			return
		}
		num(l.P50)
		num(l.P90)
		num(l.P99)
		num(l.P999)
	}
	curve := func(c []report.CurvePoint) {
		field(strconv.Itoa(len(c)))
		for _, p := range c {
			num(p.Percentile)
			num(p.Ms)
		}
	}
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return runs[idx[a]].ID < runs[idx[b]].ID })
	for _, i := range idx {
		r := &runs[i]
		field("loadrun")
		for _, s := range []string{r.ID, r.Kind, r.Target, r.Source, r.Verdict, r.Start, r.End} {
			field(s)
		}
		num(r.TargetQPS)
		num(r.AchievedQPS)
		field(strconv.FormatInt(r.Requests, 10))
		num(r.ErrorRate)
		lat(r.LatencyMs)
		curve(r.Curve)
		lat(r.AddedLatencyMs)
		if b := r.Baseline; b != nil {
			field("baseline")
			field(b.Target)
			num(b.AchievedQPS)
			field(strconv.FormatInt(b.Requests, 10))
			num(b.ErrorRate)
			lat(b.LatencyMs)
			curve(b.Curve)
		}
	}
}
