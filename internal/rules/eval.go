package rules

import (
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshready/meshready/internal/snapshot"
)

// Status is the outcome of a rule on one object.
type Status int

const (
	Pass  Status = iota // the expression is true
	Fail                // the expression is false
	Error               // the rule could not be evaluated on the object
)

func (s Status) String() string { return [...]string{"pass", "fail", "error"}[s] }

// Outcome is the result of a rule on one object.
type Outcome struct {
	Object  *snapshot.Object
	Status  Status
	Message string
	Fix     string
}

// Env is what evaluation reads besides the objects: their content, and
// the Namespace object of a namespace (nil when absent).
type Env struct {
	Content   *Content
	Namespace func(name string) *snapshot.Object
}

// Matches reports whether the rule applies to an object of one of its kinds.
func (r *Rule) Matches(o *snapshot.Object) bool {
	if r.prog == nil {
		return false
	}
	if len(r.Match.Namespaces) > 0 {
		found := false
		for _, ns := range r.Match.Namespaces {
			if ns == o.Namespace {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return r.prog.selector == nil || r.prog.selector.Matches(labels.Set(o.Labels))
}

// Evaluate runs the rule on objects (already matched), in order. An
// object's error does not stop the others; when the rule has spent its
// RuleBudget, the remaining objects are errors saying so.
func (r *Rule) Evaluate(objs []*snapshot.Object, env Env) []Outcome {
	if r.prog == nil {
		return []Outcome{{Status: Error, Message: "the rule was not compiled (a bug in meshready: please report it)"}}
	}
	if env.Content == nil {
		env.Content = NewContent()
	}
	out := make([]Outcome, 0, len(objs))
	var spent uint64
	for i, o := range objs {
		if spent > RuleBudget {
			out = append(out, Outcome{Object: o, Status: Error,
				Message: fmt.Sprintf("not evaluated: the rule spent its budget (CEL cost %d) on the first %d object(s)", RuleBudget, i),
				Fix:     "make the expression cheaper: avoid nested comprehensions over long lists (each object may cost at most " + fmt.Sprint(PerObjectCost) + ")"})
			continue
		}
		oc, cost := r.evalOne(o, env)
		spent += cost
		out = append(out, oc)
	}
	return out
}

func (r *Rule) evalOne(o *snapshot.Object, env Env) (Outcome, uint64) {
	m, err := env.Content.Of(o)
	if err != nil {
		return Outcome{Object: o, Status: Error, Message: "cannot give the object to the rule: " + err.Error(),
			Fix: "read the object from its manifest file, or leave its kind out of match.kinds"}, 0
	}
	act := &activation{object: m, ns: o.Namespace, env: env}
	val, det, err := r.prog.expr.Eval(act)
	cost := actualCost(det)
	if err != nil {
		return r.evalError(o, err), cost
	}
	b, ok := val.(types.Bool)
	if !ok {
		return Outcome{Object: o, Status: Error,
			Message: fmt.Sprintf("expression gave %s (%v), not a bool", val.Type().TypeName(), val.Value()),
			Fix:     "make the expression a condition, e.g. object.spec.x == true"}, cost
	}
	if b {
		return Outcome{Object: o, Status: Pass, Message: "complies"}, cost
	}
	msg, mcost := r.failMessage(act)
	return Outcome{Object: o, Status: Fail, Message: msg, Fix: r.Fix}, cost + mcost
}

// failMessage is messageExpression's result, else message, else the
// expression that was false. As in Kubernetes, a messageExpression that
// fails falls back to message.
func (r *Rule) failMessage(act *activation) (string, uint64) {
	var cost uint64
	if r.prog.message != nil {
		val, det, err := r.prog.message.Eval(act)
		cost = actualCost(det)
		if err == nil {
			if s, ok := val.(types.String); ok && strings.TrimSpace(string(s)) != "" {
				return string(s), cost
			}
		}
	}
	if r.Message != "" {
		return r.Message, cost
	}
	return "does not satisfy: " + strings.Join(strings.Fields(r.Expression), " "), cost
}

// evalError explains a failed evaluation: a missing field (use has()), or
// the cost limit.
func (r *Rule) evalError(o *snapshot.Object, err error) Outcome {
	msg := err.Error()
	fix := "guard optional fields with has() or optional selection, e.g. has(object.spec.x) && object.spec.x.y > 0, or object.?spec.x.orValue(0) > 0"
	var ece *interpreter.EvalCancelledError
	switch {
	case errors.As(err, &ece) || strings.Contains(msg, "cost limit exceeded"):
		msg = fmt.Sprintf("the expression exceeded the cost limit (%d) on this object and was stopped: %s", PerObjectCost, msg)
		fix = "make the expression cheaper: avoid nested comprehensions over long lists"
	case strings.Contains(msg, "no such key"):
		msg = "the expression reads a field the object does not have: " + msg
	default:
		msg = "cannot evaluate the expression: " + msg
	}
	return Outcome{Object: o, Status: Error, Message: msg, Fix: fix}
}

func actualCost(det interface{ ActualCost() *uint64 }) uint64 {
	if det == nil {
		return 0
	}
	if c := det.ActualCost(); c != nil {
		return *c
	}
	return 0
}

// activation resolves object eagerly and namespaceObject only when the
// expression reads it.
type activation struct {
	object map[string]any
	ns     string
	env    Env

	nsDone bool
	nsVal  any
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "object":
		return a.object, true
	case "namespaceObject":
		if !a.nsDone {
			a.nsDone = true
			a.nsVal = a.namespaceObject()
		}
		return a.nsVal, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// namespaceObject is null for cluster-scoped objects and namespaces
// missing from the inputs, as in Kubernetes.
func (a *activation) namespaceObject() any {
	if a.ns == "" || a.env.Namespace == nil {
		return types.NullValue
	}
	nso := a.env.Namespace(a.ns)
	if nso == nil {
		return types.NullValue
	}
	m, err := a.env.Content.Of(nso)
	if err != nil {
		return types.NullValue
	}
	return m
}
