package rollback

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText prints every trigger's value, threshold, query and verdict, then
// the overall verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Rollback triggers at %s (Prometheus %s)\n", r.Time.UTC().Format(time.RFC3339), r.Prometheus)
	for _, res := range r.Results {
		t := res.Trigger
		fmt.Fprintf(&b, "\n%-10s %s\n", strings.ToUpper(string(res.Verdict)), t.Name)
		value := "-"
		if res.HasValue {
			value = FormatValue(res.Value)
			if res.Series != "" {
				value += "  " + res.Series
			}
		}
		fmt.Fprintf(&b, "  value      %s\n", value)
		cond := t.Op + " " + FormatValue(t.Threshold)
		if t.For > 0 {
			cond += " for " + fmtDuration(t.For.D())
		}
		fmt.Fprintf(&b, "  threshold  %s\n", cond)
		fmt.Fprintf(&b, "  verdict    %s: %s\n", res.Verdict, res.Message)
		fmt.Fprintf(&b, "  query      %s\n", t.Query)
		if res.Step > 0 {
			fmt.Fprintf(&b, "  window     range query [now-%s, now], step %s (%d points)\n", fmtDuration(t.For.D()), res.Step, res.Points)
		}
		for _, wn := range res.Warnings {
			fmt.Fprintf(&b, "  warning    %s\n", wn)
		}
	}
	b.WriteString("\n" + r.Summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary is the one-line overall verdict.
func (r *Report) Summary() string {
	var fired, failed, pending []string
	for _, res := range r.Results {
		switch res.Verdict {
		case RollBack:
			fired = append(fired, res.Trigger.Name)
		case Failed:
			failed = append(failed, res.Trigger.Name)
		case Pending:
			pending = append(pending, res.Trigger.Name)
		}
	}
	n := len(r.Results)
	switch r.Verdict {
	case RollBack:
		s := fmt.Sprintf("Verdict: ROLL BACK: %d of %d triggers fired (%s). Next: meshready rollback plan", len(fired), n, strings.Join(fired, ", "))
		if len(failed) > 0 {
			s += fmt.Sprintf("; %d could not be evaluated (%s)", len(failed), strings.Join(failed, ", "))
		}
		return s
	case Failed:
		return fmt.Sprintf("Verdict: UNKNOWN: %d of %d triggers could not be evaluated (%s); none fired", len(failed), n, strings.Join(failed, ", "))
	}
	s := fmt.Sprintf("Verdict: HOLD: none of %d triggers fired", n)
	if len(pending) > 0 {
		s += fmt.Sprintf(" (pending, holding now but not yet for their whole window: %s)", strings.Join(pending, ", "))
	}
	return s
}

// jsonResult is the JSON form of a Result (values as strings, as in the
// Prometheus API, so NaN and Inf survive).
type jsonResult struct {
	Name      string   `json:"name"`
	Query     string   `json:"query"`
	Op        string   `json:"op"`
	Threshold string   `json:"threshold"`
	For       string   `json:"for,omitempty"`
	Verdict   Verdict  `json:"verdict"`
	Value     string   `json:"value,omitempty"`
	Series    string   `json:"series,omitempty"`
	Step      string   `json:"step,omitempty"`
	Points    int      `json:"points,omitempty"`
	Held      string   `json:"held,omitempty"`
	Message   string   `json:"message"`
	Warnings  []string `json:"warnings,omitempty"`
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	out := struct {
		Prometheus string       `json:"prometheus"`
		Time       string       `json:"time"`
		Verdict    Verdict      `json:"verdict"`
		Summary    string       `json:"summary"`
		Triggers   []jsonResult `json:"triggers"`
	}{Prometheus: r.Prometheus, Time: r.Time.UTC().Format(time.RFC3339Nano), Verdict: r.Verdict, Summary: r.Summary(), Triggers: []jsonResult{}}
	for _, res := range r.Results {
		t := res.Trigger
		j := jsonResult{Name: t.Name, Query: t.Query, Op: t.Op, Threshold: FormatValue(t.Threshold),
			Verdict: res.Verdict, Series: res.Series, Points: res.Points, Message: res.Message, Warnings: res.Warnings}
		if t.For > 0 {
			j.For = fmtDuration(t.For.D())
		}
		if res.HasValue {
			j.Value = FormatValue(res.Value)
		}
		if res.Step > 0 {
			j.Step = res.Step.String()
			j.Held = res.Held.String()
		}
		out.Triggers = append(out.Triggers, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// fmtDuration prints 5m rather than 5m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
