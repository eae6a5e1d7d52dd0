// Package checkitem turns the rules of meshready.yaml into report items
// (custom.<id>) that the engine evaluates like checklist items: same
// selection (--only/--skip), waivers, severity and verdict.
package checkitem

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/rules"
	"github.com/meshready/meshready/internal/snapshot"
)

// Items returns one item per rule, in the config's order. The items of one
// call share the content of the files they re-read, so call it once per run.
func Items(cfg *config.Config) []check.Item {
	if cfg == nil || len(cfg.Rules) == 0 {
		return nil
	}
	content := rules.NewContent()
	out := make([]check.Item, 0, len(cfg.Rules))
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		var compileErr error
		if len(r.Kinds()) == 0 {
			compileErr = r.Compile() // a config built in code, not read by config.Load
		}
		meta := check.Meta{
			ID: r.ItemID(), Section: rules.Section, Group: rules.Group,
			Title: r.Title, Kind: string(check.Config), Severity: r.Severity,
		}
		c := &check.Check{
			ID:    meta.ID,
			Reads: append(r.Kinds(), snapshot.Namespace),
			Why:   why(cfg, r),
			Fix:   r.Fix,
		}
		c.Config = func(ctx *check.Context) {
			if compileErr != nil {
				ctx.Error("%v", compileErr).Fix("correct the rule in meshready.yaml")
				return
			}
			evaluate(ctx, r, content)
		}
		out = append(out, check.Item{Meta: meta, Check: c})
	}
	return out
}

func evaluate(c *check.Context, r *rules.Rule, content *rules.Content) {
	var objs []*snapshot.Object
	for _, k := range r.Kinds() {
		if len(r.Match.Namespaces) > 0 {
			for _, ns := range r.Match.Namespaces {
				objs = append(objs, matching(r, c.InNamespace(k, ns))...)
			}
			continue
		}
		objs = append(objs, matching(r, c.List(k))...)
	}
	if len(objs) == 0 {
		c.NotApplicable("no object matches: searched %s", scope(r))
		return
	}
	env := rules.Env{Content: content, Namespace: func(ns string) *snapshot.Object { return c.Get(snapshot.Namespace, "", ns) }}
	var pass, fail, errs int
	for _, oc := range r.Evaluate(objs, env) {
		switch oc.Status {
		case rules.Pass:
			pass++
			c.Pass(oc.Object, "%s", oc.Message)
		case rules.Fail:
			fail++
			f := c.Fail(oc.Object, "%s", oc.Message)
			if oc.Fix != "" {
				f.Fix(oc.Fix)
			}
		case rules.Error:
			errs++
			c.ErrorAt(oc.Object, "%s", oc.Message).Fix(oc.Fix)
		}
	}
	c.Summary("%d of %d object(s) comply (%s)%s", pass, len(objs), scope(r), errorNote(errs))
}

func matching(r *rules.Rule, objs []*snapshot.Object) []*snapshot.Object {
	var out []*snapshot.Object
	for _, o := range objs {
		if r.Matches(o) {
			out = append(out, o)
		}
	}
	return out
}

func errorNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d could not be evaluated", n)
}

// scope says which objects a rule looks at, for messages.
func scope(r *rules.Rule) string {
	s := strings.Join(r.Kinds(), ", ")
	if len(r.Match.Namespaces) > 0 {
		s += " in namespace(s) " + strings.Join(r.Match.Namespaces, ", ")
	} else {
		s += " in every namespace"
	}
	if sel := r.Match.LabelSelector; sel != nil && (len(sel.MatchLabels) > 0 || len(sel.MatchExpressions) > 0) {
		s += " with labels matching " + selectorString(sel)
	}
	return s
}

func selectorString(sel *rules.LabelSelector) string {
	var parts []string
	for _, k := range sortedKeys(sel.MatchLabels) {
		parts = append(parts, k+"="+sel.MatchLabels[k])
	}
	for _, e := range sel.MatchExpressions {
		p := e.Key + " " + e.Operator
		if len(e.Values) > 0 {
			p += " (" + strings.Join(e.Values, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// why is what `meshready explain custom.<id>` shows: where the rule is
// defined and what it evaluates.
func why(cfg *config.Config, r *rules.Rule) string {
	var b strings.Builder
	where := "meshready.yaml"
	if cfg.Path != "" {
		where = cfg.Path
	}
	if r.Line > 0 {
		where += fmt.Sprintf(" line %d", r.Line)
	}
	fmt.Fprintf(&b, "A house rule of this platform (defined in %s), not an item of the checklist.\n", where)
	fmt.Fprintf(&b, "Applies to: %s.\n", scope(r))
	fmt.Fprintf(&b, "An object complies when this CEL expression is true (object is the object as\nKubernetes JSON, namespaceObject its Namespace):\n  %s", strings.TrimSpace(r.Expression))
	if r.MessageExpression != "" {
		fmt.Fprintf(&b, "\nMessage when it does not: %s", strings.TrimSpace(r.MessageExpression))
	} else if r.Message != "" {
		fmt.Fprintf(&b, "\nMessage when it does not: %s", strings.TrimSpace(r.Message))
	}
	return b.String()
}
