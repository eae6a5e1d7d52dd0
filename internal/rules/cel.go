package rules

import (
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Cost limits. PerObjectCost is the limit Kubernetes puts on one
// validation expression (ValidatingAdmissionPolicy's per-call limit); a
// typical rule costs tens. RuleBudget bounds one rule over a whole run, so
// that an expression that is slow on every one of 25,000 objects ends in
// seconds with an error, not in an hour.
var (
	PerObjectCost uint64 = 1_000_000
	RuleBudget    uint64 = 200_000_000
)

// program is a compiled rule.
type program struct {
	expr     cel.Program
	message  cel.Program // nil without messageExpression
	kinds    []string
	selector labels.Selector // nil: every object
}

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// celEnv is the environment every rule compiles in: `object` and
// `namespaceObject` as ValidatingAdmissionPolicy names them (dynamic:
// fields are checked when evaluated, so any field of any kind is
// reachable), with the standard extension libraries Kubernetes' CEL also
// offers (strings, lists, sets, math) and optional fields (object.?spec).
func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(
			cel.Variable("object", cel.DynType),
			cel.Variable("namespaceObject", cel.DynType),
			cel.OptionalTypes(),
			cel.CrossTypeNumericComparisons(true),
			ext.Strings(),
			ext.Lists(),
			ext.Sets(),
			ext.Math(),
		)
	})
	return env, envErr
}

// compileCEL type-checks the rule's expressions and plans their programs.
func compileCEL(r *Rule) (*program, []error) {
	e, err := celEnv()
	if err != nil {
		return nil, []error{fmt.Errorf("internal error preparing CEL: %v", err)}
	}
	var errs []error
	p := &program{}
	if strings.TrimSpace(r.Expression) == "" {
		errs = append(errs, fmt.Errorf("expression is required: CEL that is true when the object complies (e.g. has(object.spec.timeout))"))
	} else if prg, err := compileOne(e, r.Expression, cel.BoolType, r.ExpressionLine); err != nil {
		errs = append(errs, fmt.Errorf("expression: %w", err))
	} else {
		p.expr = prg
	}
	if strings.TrimSpace(r.MessageExpression) != "" {
		if prg, err := compileOne(e, r.MessageExpression, cel.StringType, 0); err != nil {
			errs = append(errs, fmt.Errorf("messageExpression: %w", err))
		} else {
			p.message = prg
		}
	}
	return p, errs
}

// compileOne compiles one expression that must give want (dyn is let
// through and checked when evaluated, since fields of object are dyn).
func compileOne(e *cel.Env, src string, want *cel.Type, line int) (cel.Program, error) {
	ast, iss := e.Compile(src)
	if iss.Err() != nil {
		msg := strings.TrimSpace(iss.Err().Error())
		if line > 0 {
			msg = fmt.Sprintf("(expression starts at line %d of the config; CEL positions are line:column within it)\n%s", line, msg)
		}
		return nil, fmt.Errorf("%s", msg)
	}
	if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("must evaluate to %s, but gives %s (write a condition, e.g. has(object.spec.x) && object.spec.x > 0)", want, out)
	}
	prg, err := e.Program(ast, cel.CostLimit(PerObjectCost), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("cannot plan the expression: %v", err)
	}
	return prg, nil
}

// selector turns the YAML selector into a labels.Selector (nil: all).
func (s *LabelSelector) selector() (labels.Selector, error) {
	if s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0) {
		return nil, nil
	}
	sel := labels.NewSelector()
	for k, v := range s.MatchLabels {
		req, err := labels.NewRequirement(k, selection.Equals, []string{v})
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	for i, e := range s.MatchExpressions {
		var op selection.Operator
		switch e.Operator {
		case "In":
			op = selection.In
		case "NotIn":
			op = selection.NotIn
		case "Exists":
			op = selection.Exists
		case "DoesNotExist":
			op = selection.DoesNotExist
		default:
			return nil, fmt.Errorf("matchExpressions[%d].operator %q: want In, NotIn, Exists or DoesNotExist", i, e.Operator)
		}
		req, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil {
			return nil, fmt.Errorf("matchExpressions[%d]: %v", i, err)
		}
		sel = sel.Add(*req)
	}
	return sel, nil
}
