package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/rules"
	"github.com/meshready/meshready/internal/snapshot"
)

const configHead = "apiVersion: meshready/v1\nkind: Config\nrules:\n"

// parseRules reads rules as meshready.yaml writes them (the rules: list
// starts at line 4).
func parseRules(t *testing.T, body string) (*config.Config, error) {
	t.Helper()
	return config.Parse([]byte(configHead + body))
}

func TestCompileErrorsNameTheRuleAndLine(t *testing.T) {
	cases := []struct {
		name string
		rule string
		want []string
	}{
		{"syntax", `- id: vs-timeout
  title: t
  severity: blocker
  match: {kinds: [VirtualService]}
  expression: object.spec.http.all(r, has(r.timeout)
`, []string{"rules[0] (vs-timeout) at line 4", "expression:", "Syntax error", "1:39", "line 8 of the config"}},
		{"not bool", `- id: vs-name
  title: t
  severity: major
  match: {kinds: [VirtualService]}
  expression: object.metadata.name + "x"
`, []string{"rules[0] (vs-name) at line 4", "must evaluate to bool, but gives string"}},
		{"unknown variable", `- id: vs-old
  title: t
  severity: major
  match: {kinds: [VirtualService]}
  expression: oldObject.spec == object.spec
`, []string{"undeclared reference to 'oldObject'"}},
		{"unknown kind", `- id: widgets
  title: t
  severity: minor
  match: {kinds: [Widget]}
  expression: "true"
`, []string{"rules[0] (widgets)", `unknown kind "Widget"`, "VirtualService.networking.istio.io"}},
		{"ambiguous kind", `- id: gw
  title: t
  severity: minor
  match: {kinds: [Gateway]}
  expression: "true"
`, []string{`kind "Gateway" is ambiguous`, "Gateway.networking.istio.io", "Gateway.gateway.networking.k8s.io"}},
		{"bad id", `- id: Bad_ID
  title: t
  severity: minor
  match: {kinds: [Service]}
  expression: "true"
`, []string{`id "Bad_ID": use lowercase letters, digits, dashes and dots`}},
		{"bad severity", `- id: sev
  title: t
  severity: critical
  match: {kinds: [Service]}
  expression: "true"
`, []string{`severity "critical": want blocker, major or minor`}},
		{"message not string", `- id: msg
  title: t
  severity: minor
  match: {kinds: [Service]}
  expression: "true"
  messageExpression: "1 + 2"
`, []string{"messageExpression: must evaluate to string, but gives int"}},
		{"selector operator", `- id: sel
  title: t
  severity: minor
  match:
    kinds: [Service]
    labelSelector:
      matchExpressions: [{key: team, operator: Equals, values: [a]}]
  expression: "true"
`, []string{`operator "Equals": want In, NotIn, Exists or DoesNotExist`}},
		{"unknown field", `- id: typo
  title: t
  severity: minor
  match: {kinds: [Service]}
  expresion: "true"
`, []string{"line 8", "field expresion not found in rule"}},
		{"unknown match field", `- id: typo2
  title: t
  severity: minor
  match: {kind: [Service]}
  expression: "true"
`, []string{"field kind not found in match"}},
		{"missing expression and kinds", `- id: empty
  title: t
  severity: minor
`, []string{"match.kinds is required", "expression is required"}},
		{"duplicate id", `- {id: a, title: t, severity: minor, match: {kinds: [Service]}, expression: "true"}
- {id: a, title: t, severity: minor, match: {kinds: [Service]}, expression: "true"}
`, []string{`rules[1] (a) at line 5: id "a" is already used by rules[0]`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRules(t, tc.rule)
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidRuleCompiles(t *testing.T) {
	cfg, err := parseRules(t, `- id: ai.vs-timeout
  title: Every VirtualService in ai sets a timeout
  severity: blocker
  match:
    kinds: [VirtualService, DestinationRule.networking.istio.io]
    namespaces: [ai]
    labelSelector: {matchLabels: {team: ai}, matchExpressions: [{key: tier, operator: NotIn, values: [test]}]}
  expression: |
    object.spec.http.all(r, has(r.timeout))
  messageExpression: "'no timeout on ' + object.metadata.name"
  fix: set a timeout
`)
	if err != nil {
		t.Fatal(err)
	}
	r := &cfg.Rules[0]
	if r.ItemID() != "custom.ai.vs-timeout" || r.Line != 4 || r.ExpressionLine != 12 {
		t.Errorf("id %s line %d expression line %d", r.ItemID(), r.Line, r.ExpressionLine)
	}
	want := []string{snapshot.DestinationRule, snapshot.VirtualService}
	if got := r.Kinds(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kinds %v, want %v", got, want)
	}
	in := &snapshot.Object{Key: snapshot.VirtualService, Namespace: "ai", Labels: map[string]string{"team": "ai"}}
	for _, o := range []*snapshot.Object{
		in,
		{Key: snapshot.VirtualService, Namespace: "web", Labels: map[string]string{"team": "ai"}},
		{Key: snapshot.VirtualService, Namespace: "ai", Labels: map[string]string{"team": "web"}},
		{Key: snapshot.VirtualService, Namespace: "ai", Labels: map[string]string{"team": "ai", "tier": "test"}},
	} {
		if got, want := r.Matches(o), o == in; got != want {
			t.Errorf("Matches(%s %v) = %v, want %v", o.Namespace, o.Labels, got, want)
		}
	}
}

// writeManifests writes files into a temp dir and loads them as `check` does.
func writeManifests(t testing.TB, files map[string]string) *snapshot.Snapshot {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, errs, err := loader.Load([]string{dir}, nil)
	if err != nil || len(errs) > 0 {
		t.Fatalf("load: %v %v", err, errs)
	}
	return snapshot.New(objs)
}

const virtualServices = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: timed, namespace: ai}
spec:
  hosts: [timed]
  http:
  - name: main
    timeout: 30s
    route: [{destination: {host: timed}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: untimed, namespace: ai}
spec:
  hosts: [untimed]
  http:
  - name: main
    route: [{destination: {host: untimed}}]
  - name: fallback
    timeout: 5s
    route: [{destination: {host: untimed}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-only, namespace: ai}
spec:
  hosts: [tcp-only]
  tcp:
  - route: [{destination: {host: tcp-only}}]
`

func rule(t testing.TB, expr, msgExpr string) *rules.Rule {
	t.Helper()
	r := &rules.Rule{ID: "vs-timeout", Title: "VirtualServices set timeouts", Severity: "blocker",
		Match: rules.Match{Kinds: []string{"VirtualService"}}, Expression: expr, MessageExpression: msgExpr, Fix: "set spec.http[].timeout"}
	if err := r.Compile(); err != nil {
		t.Fatal(err)
	}
	return r
}

func outcomes(r *rules.Rule, snap *snapshot.Snapshot) map[string]rules.Outcome {
	out := map[string]rules.Outcome{}
	env := rules.Env{Content: rules.NewContent(), Namespace: func(ns string) *snapshot.Object { return snap.Get(snapshot.Namespace, "", ns) }}
	for _, oc := range r.Evaluate(snap.List(snapshot.VirtualService), env) {
		out[oc.Object.Name] = oc
	}
	return out
}

func TestPassFailPerObject(t *testing.T) {
	snap := writeManifests(t, map[string]string{"vs.yaml": virtualServices})
	r := rule(t, "!has(object.spec.http) || object.spec.http.all(r, has(r.timeout))",
		"'routes without a timeout: ' + object.spec.http.filter(r, !has(r.timeout)).map(r, r.name).join(', ')")
	got := outcomes(r, snap)
	if oc := got["timed"]; oc.Status != rules.Pass {
		t.Errorf("timed: %v %s", oc.Status, oc.Message)
	}
	if oc := got["tcp-only"]; oc.Status != rules.Pass {
		t.Errorf("tcp-only: %v %s", oc.Status, oc.Message)
	}
	oc := got["untimed"]
	if oc.Status != rules.Fail || oc.Message != "routes without a timeout: main" || oc.Fix != "set spec.http[].timeout" {
		t.Errorf("untimed: %v %q fix %q", oc.Status, oc.Message, oc.Fix)
	}
	if oc.Object.Origin.Line != 11 || !strings.HasSuffix(oc.Object.Origin.File, "vs.yaml") {
		t.Errorf("untimed origin %v, want vs.yaml:11", oc.Object.Origin)
	}
}

// One object lacking a field is an error for that object only, with the
// has() advice; the others are still evaluated.
func TestEvaluationErrorOnOneObject(t *testing.T) {
	snap := writeManifests(t, map[string]string{"vs.yaml": virtualServices})
	r := rule(t, "object.spec.http.all(r, has(r.timeout))", "")
	got := outcomes(r, snap)
	if oc := got["tcp-only"]; oc.Status != rules.Error || !strings.Contains(oc.Message, "no such key: http") || !strings.Contains(oc.Fix, "has(") {
		t.Errorf("tcp-only: %v %q fix %q", oc.Status, oc.Message, oc.Fix)
	}
	if got["timed"].Status != rules.Pass || got["untimed"].Status != rules.Fail {
		t.Errorf("timed %v, untimed %v", got["timed"].Status, got["untimed"].Status)
	}
	if want := "does not satisfy: object.spec.http.all(r, has(r.timeout))"; got["untimed"].Message != want {
		t.Errorf("default message %q, want %q", got["untimed"].Message, want)
	}
	// A messageExpression that fails falls back to message, as in Kubernetes.
	r = rule(t, "object.spec.http.all(r, has(r.timeout))", "object.spec.nosuchfield")
	r.Message = "a route has no timeout"
	if oc := outcomes(r, snap)["untimed"]; oc.Status != rules.Fail || oc.Message != r.Message {
		t.Errorf("fallback message: %v %q", oc.Status, oc.Message)
	}
}

// Every field of the kind's schema is there, whether meshready's checks
// read it or not; durations read as protobuf writes them.
func TestEveryFieldOfTheSchemaIsReachable(t *testing.T) {
	snap := writeManifests(t, map[string]string{"vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: ai, annotations: {owner: team-ai}}
spec:
  hosts: [a]
  http:
  - route: [{destination: {host: a, port: {number: 8080}}, weight: 100}]
    timeout: 1m
    mirrorPercentage: {value: 12.5}
    corsPolicy: {allowOrigins: [{exact: "https://a.example"}], maxAge: 1.5s}
    headers: {request: {set: {x-team: ai}}}
`})
	r := rule(t, `object.metadata.annotations.owner == 'team-ai' &&
		object.spec.http[0].timeout == '60s' &&
		object.spec.http[0].mirrorPercentage.value == 12.5 &&
		object.spec.http[0].corsPolicy.allowOrigins[0].exact == 'https://a.example' &&
		object.spec.http[0].corsPolicy.maxAge == '1.500s' &&
		object.spec.http[0].route[0].destination.port.number == 8080 &&
		object.spec.http[0].route[0].weight == 100 &&
		object.spec.http[0].headers.request.set['x-team'] == 'ai' &&
		!has(object.spec.http[0].fault) && !has(object.metadata.creationTimestamp)`, "")
	if oc := outcomes(r, snap)["a"]; oc.Status != rules.Pass {
		t.Fatalf("%v %s", oc.Status, oc.Message)
	}
}

// An object meshready keeps without a typed form (here a version it does
// not decode) is read again from its file, as written: unknown fields too.
func TestUndecodedObjectIsReadFromItsFile(t *testing.T) {
	pdb := `apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: web, namespace: ai}
spec:
  minAvailable: 1
  x-owner: team-ai
`
	snap := writeManifests(t, map[string]string{"m.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: ai}\n---\n" + pdb})
	objs := snap.List(snapshot.PodDisruptionBudget)
	if len(objs) != 1 || objs[0].Typed != nil {
		t.Fatalf("precondition: want one PodDisruptionBudget without a typed form, got %v", objs)
	}
	r := &rules.Rule{ID: "pdb", Title: "t", Severity: "minor", Match: rules.Match{Kinds: []string{"PodDisruptionBudget"}},
		Expression: "object.spec['x-owner'] == 'team-ai' && object.spec.minAvailable == 1 && object.apiVersion == 'policy/v1beta1'"}
	if err := r.Compile(); err != nil {
		t.Fatal(err)
	}
	if oc := r.Evaluate(objs, rules.Env{}); oc[0].Status != rules.Pass {
		t.Errorf("from the file: %v %s", oc[0].Status, oc[0].Message)
	}
	// From standard input there is nothing to re-read: an error, not a guess.
	in, _ := loader.LoadBytes(loader.StdinName, []byte(pdb))
	oc := r.Evaluate(in, rules.Env{})
	if oc[0].Status != rules.Error || !strings.Contains(oc[0].Message, "content was not read") {
		t.Errorf("from stdin: %v %s", oc[0].Status, oc[0].Message)
	}
}

// Objects without a re-readable file (a cluster's, standard input's) are
// their typed form as the API server serves it.
func TestTypedContentWithoutFile(t *testing.T) {
	objs, errs := loader.LoadBytes(loader.StdinName, []byte(virtualServices+`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ai, labels: {team: ai}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web, resources: {limits: {memory: 1Gi}}}]
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	snap := snapshot.New(objs)
	got := outcomes(rule(t, "!has(object.spec.http) || object.spec.http.all(r, has(r.timeout))", ""), snap)
	if got["timed"].Status != rules.Pass || got["untimed"].Status != rules.Fail || got["tcp-only"].Status != rules.Pass {
		t.Errorf("typed VirtualServices: %+v", got)
	}
	d := &rules.Rule{ID: "d", Title: "t", Severity: "minor", Match: rules.Match{Kinds: []string{"Deployment"}},
		Expression: "object.spec.replicas == 3 && object.spec.template.spec.containers[0].resources.limits.memory == '1Gi' && !has(object.metadata.creationTimestamp) && object.kind == 'Deployment'"}
	if err := d.Compile(); err != nil {
		t.Fatal(err)
	}
	for _, oc := range d.Evaluate(snap.List(snapshot.Deployment), rules.Env{}) {
		if oc.Status != rules.Pass {
			t.Errorf("typed Deployment: %v %s", oc.Status, oc.Message)
		}
	}
}

func TestNamespaceObject(t *testing.T) {
	snap := writeManifests(t, map[string]string{"m.yaml": `apiVersion: v1
kind: Namespace
metadata: {name: ai, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: in-mesh, namespace: ai}
---
apiVersion: v1
kind: Service
metadata: {name: nowhere, namespace: other}
`})
	r := &rules.Rule{ID: "ns", Title: "t", Severity: "minor", Match: rules.Match{Kinds: []string{"Service"}},
		Expression: "namespaceObject != null && namespaceObject.metadata.labels['istio-injection'] == 'enabled'"}
	if err := r.Compile(); err != nil {
		t.Fatal(err)
	}
	env := rules.Env{Namespace: func(ns string) *snapshot.Object { return snap.Get(snapshot.Namespace, "", ns) }}
	got := map[string]rules.Status{}
	for _, oc := range r.Evaluate(snap.List(snapshot.Service), env) {
		got[oc.Object.Name] = oc.Status
	}
	if got["in-mesh"] != rules.Pass || got["nowhere"] != rules.Fail {
		t.Errorf("got %v", got)
	}
}

// A pathological expression is stopped by the cost limit with a clear
// error, and a rule that is costly on every object stops after its budget.
func TestCostLimitStopsRunawayExpressions(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: big, namespace: ai}\nspec:\n  hosts: [big]\n  http:\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, timeout: 1s}\n", i)
	}
	snap := writeManifests(t, map[string]string{"big.yaml": b.String()})
	// 2000 x 2000 pairs: four million steps.
	r := rule(t, "object.spec.http.all(a, object.spec.http.all(b, a.name != b.name || a == b))", "")
	oc := outcomes(r, snap)["big"]
	if oc.Status != rules.Error || !strings.Contains(oc.Message, "cost limit") || !strings.Contains(oc.Fix, "cheaper") {
		t.Fatalf("%v %q fix %q", oc.Status, oc.Message, oc.Fix)
	}

	defer func(old uint64) { rules.RuleBudget = old }(rules.RuleBudget)
	rules.RuleBudget = 1 // the first object spends it
	small := writeManifests(t, map[string]string{"vs.yaml": virtualServices})
	costly := rule(t, "lists.range(100).all(i, i >= 0)", "")
	statuses := []rules.Status{}
	for _, oc := range costly.Evaluate(small.List(snapshot.VirtualService), rules.Env{}) {
		statuses = append(statuses, oc.Status)
		if oc.Status == rules.Error && !strings.Contains(oc.Message, "spent its budget") {
			t.Errorf("budget error message %q", oc.Message)
		}
	}
	if fmt.Sprint(statuses) != "[pass error error]" {
		t.Errorf("statuses %v, want the objects after the first stopped by the budget", statuses)
	}
}

// Secrets are never read again from their file: their values stay out.
func TestSecretValuesAreNotRead(t *testing.T) {
	snap := writeManifests(t, map[string]string{"s.yaml": `apiVersion: v1
kind: Secret
metadata: {name: s, namespace: ai, labels: {team: ai}}
stringData: {password: hunter2}
`})
	r := &rules.Rule{ID: "s", Title: "t", Severity: "minor", Match: rules.Match{Kinds: []string{"Secret"}},
		Expression: "object.metadata.labels.team == 'ai' && !has(object.stringData) && !has(object.data)"}
	if err := r.Compile(); err != nil {
		t.Fatal(err)
	}
	for _, oc := range r.Evaluate(snap.List(snapshot.Secret), rules.Env{}) {
		if oc.Status != rules.Pass {
			t.Errorf("%v %s", oc.Status, oc.Message)
		}
	}
}
