// Package diff compares two reports: which items regressed or improved, and
// which findings are new or resolved. CI runs it on pull requests.
package diff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/report"
)

// Result is what changed from an old report to a new one.
type Result struct {
	SchemaVersion string       `json:"schemaVersion"`
	OldVerdict    string       `json:"oldVerdict"`
	NewVerdict    string       `json:"newVerdict"`
	Regressed     []ItemChange `json:"regressed"`
	Improved      []ItemChange `json:"improved"`
	Added         []ItemChange `json:"added"`   // items only in the new report
	Removed       []ItemChange `json:"removed"` // items only in the old report
	NewFindings   []Finding    `json:"newFindings"`
	Resolved      []Finding    `json:"resolvedFindings"`
}

// ItemChange is one item's status change.
type ItemChange struct {
	ID    string        `json:"id"`
	Title string        `json:"title"`
	From  report.Status `json:"from,omitempty"`
	To    report.Status `json:"to,omitempty"`
}

// Finding is a non-pass finding, named by item.
type Finding struct {
	Item    string            `json:"item"`
	Status  report.Status     `json:"status"`
	Message string            `json:"message"`
	Object  *report.ObjectRef `json:"object,omitempty"`
}

// rank orders statuses for "worse": the engine's precedence.
func rank(s report.Status) int {
	for i, x := range []report.Status{report.NotApplicable, report.Pass, report.Pending, report.Warn, report.Error, report.Fail} {
		if x == s {
			return i
		}
	}
	return 0
}

// Compare computes the changes from old to new.
func Compare(old, new *report.Report) *Result {
	r := &Result{SchemaVersion: "meshready-diff/v1", OldVerdict: old.Verdict, NewVerdict: new.Verdict,
		Regressed: []ItemChange{}, Improved: []ItemChange{}, Added: []ItemChange{}, Removed: []ItemChange{},
		NewFindings: []Finding{}, Resolved: []Finding{}}
	oldItems := map[string]report.Item{}
	for _, it := range old.Items {
		oldItems[it.ID] = it
	}
	newItems := map[string]report.Item{}
	for _, it := range new.Items {
		newItems[it.ID] = it
		o, ok := oldItems[it.ID]
		if !ok {
			r.Added = append(r.Added, ItemChange{ID: it.ID, Title: it.Title, To: it.Status})
			continue
		}
		switch {
		case rank(it.Status) > rank(o.Status):
			r.Regressed = append(r.Regressed, ItemChange{it.ID, it.Title, o.Status, it.Status})
		case rank(it.Status) < rank(o.Status):
			r.Improved = append(r.Improved, ItemChange{it.ID, it.Title, o.Status, it.Status})
		}
	}
	for _, it := range old.Items {
		if _, ok := newItems[it.ID]; !ok {
			r.Removed = append(r.Removed, ItemChange{ID: it.ID, Title: it.Title, From: it.Status})
		}
	}
	oldF, newF := findings(old), findings(new)
	for k, f := range newF {
		if _, ok := oldF[k]; !ok {
			r.NewFindings = append(r.NewFindings, f)
		}
	}
	for k, f := range oldF {
		if _, ok := newF[k]; !ok {
			r.Resolved = append(r.Resolved, f)
		}
	}
	sortFindings(r.NewFindings)
	sortFindings(r.Resolved)
	return r
}

// HasRegression reports whether CI should fail: an item got worse, the
// verdict went from ready to not ready, or an item at non-pass appeared.
func (r *Result) HasRegression() bool {
	if len(r.Regressed) > 0 || (r.OldVerdict == report.Ready && r.NewVerdict != report.Ready) {
		return true
	}
	for _, a := range r.Added {
		if a.To == report.Fail || a.To == report.Error {
			return true
		}
	}
	return false
}

func findings(r *report.Report) map[string]Finding {
	out := map[string]Finding{}
	for _, it := range r.Items {
		for _, f := range it.Findings {
			if f.Status == report.Pass || f.Status == report.NotApplicable || f.Waiver != nil {
				continue
			}
			key := it.ID + "\x00" + string(f.Status) + "\x00" + f.Message + "\x00" + objKey(f.Object)
			out[key] = Finding{Item: it.ID, Status: f.Status, Message: f.Message, Object: f.Object}
		}
	}
	return out
}

// objKey names an object without its line: moving a manifest is no change.
func objKey(o *report.ObjectRef) string {
	if o == nil {
		return ""
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

func sortFindings(fs []Finding) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Item != fs[j].Item {
			return fs[i].Item < fs[j].Item
		}
		if objKey(fs[i].Object) != objKey(fs[j].Object) {
			return objKey(fs[i].Object) < objKey(fs[j].Object)
		}
		return fs[i].Message < fs[j].Message
	})
}

// Text renders the result for people.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict: %s → %s\n", r.OldVerdict, r.NewVerdict)
	list := func(title string, cs []ItemChange) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (%d):\n", title, len(cs))
		for _, c := range cs {
			from, to := c.From, c.To
			if from == "" {
				from = "-"
			}
			if to == "" {
				to = "-"
			}
			fmt.Fprintf(&b, "  %-40s %s → %s  %s\n", c.ID, from, to, c.Title)
		}
	}
	list("regressed", r.Regressed)
	list("improved", r.Improved)
	list("new items", r.Added)
	list("removed items", r.Removed)
	flist := func(title string, fs []Finding) {
		if len(fs) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (%d):\n", title, len(fs))
		for _, f := range fs {
			obj := ""
			if f.Object != nil {
				obj = " [" + objKey(f.Object) + "]"
			}
			fmt.Fprintf(&b, "  %s %s: %s%s\n", f.Status, f.Item, f.Message, obj)
		}
	}
	flist("new findings", r.NewFindings)
	flist("resolved findings", r.Resolved)
	if len(r.Regressed)+len(r.Improved)+len(r.Added)+len(r.Removed)+len(r.NewFindings)+len(r.Resolved) == 0 {
		b.WriteString("no changes\n")
	}
	return b.String()
}
