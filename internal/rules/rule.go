// Package rules evaluates a platform's own rules: CEL expressions over the
// mesh's objects, written in meshready.yaml under `rules:` the way a
// Kubernetes ValidatingAdmissionPolicy is written (the object is `object`,
// its namespace `namespaceObject`; the expression is true when the object
// complies; message or messageExpression says what is wrong).
//
// Rules are compiled once, when the config is read: a syntax or type error
// is a config error naming the rule and its line. Each matching object is
// evaluated on its own, under a cost limit, so one object's error or a
// runaway expression never stops the others.
package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/meshready/meshready/internal/report"
)

// ItemPrefix starts the item ID of every rule: custom.<id>.
const ItemPrefix = "custom."

// Section is the report section rules' items stand in.
const Section = "Custom rules"

// Group is the group rules' items stand in, within Section.
const Group = "Rules from meshready.yaml"

// Rule is one entry of `rules:` in meshready.yaml.
type Rule struct {
	// ID names the rule; its item is custom.<id>. Lowercase letters,
	// digits, dashes and dots.
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
	// Severity is blocker, major or minor, as for checklist items.
	Severity report.Severity `yaml:"severity"`
	Match    Match           `yaml:"match"`
	// Expression is CEL evaluating to bool: true when the object complies.
	Expression string `yaml:"expression"`
	// Message says what is wrong with an object that does not comply;
	// MessageExpression (CEL, a string) computes it from the object instead,
	// falling back to Message when it fails, as in Kubernetes.
	Message           string `yaml:"message"`
	MessageExpression string `yaml:"messageExpression"`
	// Fix tells how to make an object comply.
	Fix string `yaml:"fix"`

	// Line and ExpressionLine are where the rule and its expression stand
	// in meshready.yaml (0 when not read from YAML).
	Line           int `yaml:"-"`
	ExpressionLine int `yaml:"-"`

	prog *program // set by Compile
}

// Match selects the objects a rule applies to.
type Match struct {
	// Kinds are kind keys ("VirtualService.networking.istio.io") or plain
	// kinds when only one kind key has that name ("VirtualService").
	Kinds []string `yaml:"kinds"`
	// Namespaces limits the rule to objects in these namespaces (empty: all).
	Namespaces []string `yaml:"namespaces"`
	// LabelSelector limits the rule to objects whose labels match, as a
	// Kubernetes label selector does.
	LabelSelector *LabelSelector `yaml:"labelSelector"`
}

// LabelSelector is metav1.LabelSelector as YAML writes it.
type LabelSelector struct {
	MatchLabels      map[string]string  `yaml:"matchLabels"`
	MatchExpressions []LabelRequirement `yaml:"matchExpressions"`
}

// LabelRequirement is one matchExpressions entry.
type LabelRequirement struct {
	Key      string   `yaml:"key"`
	Operator string   `yaml:"operator"` // In, NotIn, Exists, DoesNotExist
	Values   []string `yaml:"values"`
}

// ItemID is custom.<id>.
func (r *Rule) ItemID() string { return ItemPrefix + r.ID }

// where names the rule in errors: its index, id and line.
func (r *Rule) where(i int) string {
	s := fmt.Sprintf("rules[%d]", i)
	if r.ID != "" {
		s += " (" + r.ID + ")"
	}
	if r.Line > 0 {
		s += fmt.Sprintf(" at line %d", r.Line)
	}
	return s
}

// UnmarshalYAML reads a rule, remembering its line. Unknown fields are
// errors here too (yaml.v3 does not pass KnownFields on to Node.Decode).
func (r *Rule) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, "rule", "id", "title", "severity", "match", "expression", "message", "messageExpression", "fix"); err != nil {
		return err
	}
	type plain Rule
	if err := n.Decode((*plain)(r)); err != nil {
		return err
	}
	r.Line = n.Line
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "expression" {
			r.ExpressionLine = n.Content[i+1].Line
			if n.Content[i+1].Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				r.ExpressionLine++ // a block scalar starts on the next line
			}
		}
	}
	return nil
}

// UnmarshalYAML reads a match block, rejecting unknown fields.
func (m *Match) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, "match", "kinds", "namespaces", "labelSelector"); err != nil {
		return err
	}
	type plain Match
	return n.Decode((*plain)(m))
}

// UnmarshalYAML reads a label selector, rejecting unknown fields.
func (s *LabelSelector) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, "labelSelector", "matchLabels", "matchExpressions"); err != nil {
		return err
	}
	type plain LabelSelector
	return n.Decode((*plain)(s))
}

// UnmarshalYAML reads a matchExpressions entry, rejecting unknown fields.
func (l *LabelRequirement) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, "matchExpressions entry", "key", "operator", "values"); err != nil {
		return err
	}
	type plain LabelRequirement
	return n.Decode((*plain)(l))
}

func knownKeys(n *yaml.Node, what string, keys ...string) error {
	if n.Kind != yaml.MappingNode {
		return nil // Decode reports the type error
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		found := false
		for _, want := range keys {
			if k.Value == want {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("line %d: field %s not found in %s (known fields: %s)", k.Line, k.Value, what, strings.Join(keys, ", "))
		}
	}
	return nil
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// CompileAll validates and compiles every rule, returning every problem
// found (each naming the rule and its line), not just the first.
func CompileAll(rs []Rule) []error {
	var errs []error
	seen := map[string]int{}
	for i := range rs {
		r := &rs[i]
		if prev, dup := seen[r.ID]; dup && r.ID != "" {
			errs = append(errs, fmt.Errorf("%s: id %q is already used by rules[%d] (item IDs custom.<id> must be unique)", r.where(i), r.ID, prev))
			continue
		}
		seen[r.ID] = i
		for _, err := range r.compile() {
			errs = append(errs, fmt.Errorf("%s: %w", r.where(i), err))
		}
	}
	return errs
}

// Compile validates and compiles one rule.
func (r *Rule) Compile() error {
	errs := r.compile()
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("rule %s: %s", r.ID, strings.Join(msgs, "; "))
}

func (r *Rule) compile() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case r.ID == "":
		bad("id is required (the item is named custom.<id>)")
	case !idPattern.MatchString(r.ID):
		bad("id %q: use lowercase letters, digits, dashes and dots (e.g. ai.vs-timeout)", r.ID)
	}
	if strings.TrimSpace(r.Title) == "" {
		bad("title is required (the report names the item by it)")
	}
	switch r.Severity {
	case report.Blocker, report.Major, report.Minor:
	case "":
		bad("severity is required: blocker, major or minor")
	default:
		bad("severity %q: want blocker, major or minor", r.Severity)
	}
	if len(r.Match.Kinds) == 0 {
		bad("match.kinds is required: the kinds the rule applies to (e.g. [VirtualService])")
	}
	keys, kerrs := resolveKinds(r.Match.Kinds)
	errs = append(errs, kerrs...)
	for _, ns := range r.Match.Namespaces {
		if !dns1123.MatchString(ns) {
			bad("match.namespaces: %q is not a valid namespace name", ns)
		}
	}
	sel, err := r.Match.LabelSelector.selector()
	if err != nil {
		bad("match.labelSelector: %v", err)
	}
	prog, cerrs := compileCEL(r)
	errs = append(errs, cerrs...)
	if len(errs) > 0 {
		return errs
	}
	prog.kinds, prog.selector = keys, sel
	r.prog = prog
	return nil
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Kinds returns the kind keys the rule matches (after Compile), sorted.
func (r *Rule) Kinds() []string {
	if r.prog == nil {
		return nil
	}
	return append([]string(nil), r.prog.kinds...)
}

// Kinds returns every kind key the rules match, sorted and unique: what a
// live run must list from the cluster.
func Kinds(rs []Rule) []string {
	set := map[string]bool{}
	for i := range rs {
		for _, k := range rs[i].Kinds() {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
