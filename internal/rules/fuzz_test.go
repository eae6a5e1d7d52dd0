package rules_test

import (
	"testing"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/rules"
	"github.com/meshready/meshready/internal/snapshot"
)

// FuzzCompileAndEvaluate: any expression, message expression or rule YAML
// either compiles or is a config error, and evaluation of what compiles
// gives an outcome per object, never a panic.
//
//	go test ./internal/rules -run '^$' -fuzz FuzzCompileAndEvaluate -fuzztime 60s
func FuzzCompileAndEvaluate(f *testing.F) {
	for _, s := range [][2]string{
		{"!has(object.spec.http) || object.spec.http.all(r, has(r.timeout))", "'no timeout: ' + object.metadata.name"},
		{"object.spec.http[0].timeout != ''", ""},
		{"object.?spec.?trafficPolicy.?outlierDetection.hasValue()", "string(object.spec)"},
		{"namespaceObject.metadata.labels['istio-injection'] == 'enabled'", ""},
		{"lists.range(10).all(i, object.spec.hosts.size() > i)", "object.kind"},
		{"object.metadata.name.matches('^[a-z]+$') && 1/0 == 1", "1"},
		{"object.spec.hosts.map(h, h + h).exists(h, h.size() > 3)", "object.spec.hosts.join(',')"},
		{"(", ")"},
	} {
		f.Add(s[0], s[1])
	}
	objs, errs := loader.LoadBytes(loader.StdinName, []byte(virtualServices+`---
apiVersion: v1
kind: Namespace
metadata: {name: ai, labels: {istio-injection: enabled}}
`))
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	snap := snapshot.New(objs)
	env := rules.Env{Namespace: func(ns string) *snapshot.Object { return snap.Get(snapshot.Namespace, "", ns) }}
	vs := snap.List(snapshot.VirtualService)
	f.Fuzz(func(t *testing.T, expr, msg string) {
		r := &rules.Rule{ID: "f", Title: "f", Severity: "minor", Match: rules.Match{Kinds: []string{"VirtualService"}},
			Expression: expr, MessageExpression: msg}
		if err := r.Compile(); err != nil {
			return
		}
		out := r.Evaluate(vs, env)
		if len(out) != len(vs) {
			t.Fatalf("%d outcomes for %d objects", len(out), len(vs))
		}
		for _, oc := range out {
			if oc.Message == "" {
				t.Fatalf("%s: %v with no message", oc.Object.ID(), oc.Status)
			}
		}
		// The same text as YAML must not panic the config reader either.
		_, _ = config.Parse([]byte(configHead + "- {id: f, title: f, severity: minor, match: {kinds: [Service]}, expression: '" + expr + "'}\n"))
	})
}
