package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/report"
)

// evaluateSignoff checks a team's newest sign-off against the digest of the
// state evaluated now: an approval of another state is stale until renewed.
func evaluateSignoff(o *Options, u Unit, r *report.Report) report.Item {
	it := report.Item{ID: u.ID, Section: u.Section, Group: u.Group, Title: u.Title, Kind: u.Kind, Severity: u.Severity, Findings: []report.Finding{}}
	team := strings.TrimPrefix(u.ID, "signoff.")
	part := "manual"
	add := func(st report.Status, msg, fix string) {
		it.Parts = []report.PartResult{{Part: part, Status: st, Message: msg}}
		it.Findings = append(it.Findings, report.Finding{Status: st, Part: part, Message: msg, Remediation: fix})
	}
	renew := fmt.Sprintf("meshready check ... -o json=report.json && meshready signoff %s --by NAME --report report.json", team)
	if o.AttestationsError != nil {
		reason, fix := attest.Explain(o.AttestationsError)
		add(report.Error, "cannot read the attestation store: "+reason, fix)
		return it
	}
	rec := attest.Latest(o.Attestations, u.ID)
	if rec == nil {
		add(report.Pending, fmt.Sprintf("no %s team sign-off recorded", team), renew)
		return it
	}
	a := report.Attestation{Item: rec.Item, By: rec.By, At: rec.At.UTC().Format(time.RFC3339), Evidence: rec.Evidence, Note: rec.Note, Digest: rec.Digest, Status: report.Pass}
	if !rec.Expires.IsZero() {
		a.Expires = rec.Expires.UTC().Format(time.RFC3339)
	}
	switch {
	case !rec.Expires.IsZero() && !o.Now.Before(rec.Expires):
		a.Status, a.Reason = report.Fail, "expired on "+a.Expires
		add(report.Fail, fmt.Sprintf("sign-off by %s expired on %s", rec.By, a.Expires), renew)
	case rec.Digest != r.Digest:
		a.Status = report.Pending
		a.Reason = "stale: the evaluated state changed since " + a.At
		msg := fmt.Sprintf("sign-off by %s on %s approved another state (%s; now %s)", rec.By, a.At, short(rec.Digest), short(r.Digest))
		if changes := changedSince(rec.Statuses, r); changes != "" {
			msg += "; changed since: " + changes
		}
		add(report.Pending, msg, "review the new report and renew the sign-off: "+renew)
	case len(rec.AcceptedRisk) > 0:
		a.Reason = "accepted risk on " + strings.Join(rec.AcceptedRisk, ", ")
		add(report.Pass, fmt.Sprintf("signed off by %s on %s, accepting the risk of %s", rec.By, a.At, strings.Join(rec.AcceptedRisk, ", ")), "")
	default:
		add(report.Pass, fmt.Sprintf("signed off by %s on %s (state %s)", rec.By, a.At, short(rec.Digest)), "")
	}
	it.Attestations = []report.Attestation{a}
	return it
}

func short(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// changedSince lists items whose status differs from the approved statuses.
func changedSince(old map[string]string, r *report.Report) string {
	if len(old) == 0 {
		return ""
	}
	var out []string
	seen := map[string]bool{}
	for _, it := range r.Items {
		if isSignoff(it.ID) {
			continue
		}
		seen[it.ID] = true
		if was, ok := old[it.ID]; !ok {
			out = append(out, it.ID+" (new)")
		} else if was != string(it.Status) {
			out = append(out, fmt.Sprintf("%s %s→%s", it.ID, was, it.Status))
		}
	}
	for id := range old {
		if !seen[id] {
			out = append(out, id+" (gone)")
		}
	}
	sort.Strings(out)
	const maxListed = 10
	if len(out) > maxListed {
		return strings.Join(out[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(out)-maxListed)
	}
	if len(out) == 0 {
		return "findings' evidence only"
	}
	return strings.Join(out, ", ")
}
