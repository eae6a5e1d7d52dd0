package meshtel

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/telemetry"
)

// LoadedRule is an alerting rule as Prometheus has loaded it
// (/api/v1/rules): the third place alert rules live, beside PrometheusRule
// objects and rule files in ConfigMaps. Its AlertRule has no Object.
type LoadedRule struct {
	mesh.AlertRule
	File      string // the rule file on Prometheus' disk
	Health    string // ok, err, unknown
	LastError string
	State     string // inactive, pending, firing
	Firing    int    // alerts firing now
}

// Where is "group G (file F)" for messages.
func (r LoadedRule) Where() string {
	if r.File == "" {
		return "group " + r.Group
	}
	return fmt.Sprintf("group %s (%s)", r.Group, filepath.Base(r.File))
}

// RulesView is what Prometheus has loaded.
type RulesView struct {
	Rules []LoadedRule
	Err   error
	// Summary is the answer's summary for evidence: "4 groups, 14 alerting rules".
	Summary string
}

// Rules returns the alerting rules Prometheus has loaded (once per run).
func Rules(cl *telemetry.Client) *RulesView {
	return memo(cl, "rules", func() *RulesView {
		v := &RulesView{}
		groups, err := cl.Rules(bg)
		if err != nil {
			v.Err = err
			return v
		}
		for _, g := range groups {
			for _, r := range g.Rules {
				ar, ok := r.(v1.AlertingRule)
				if !ok {
					continue
				}
				lr := LoadedRule{
					AlertRule: mesh.AlertRule{
						Group: g.Name, Alert: ar.Name, Expr: ar.Query,
						For:    (time.Duration(ar.Duration * float64(time.Second))).String(),
						Labels: labelMap(ar.Labels), Annotations: labelMap(ar.Annotations),
						Field: fmt.Sprintf("group %s rule %s", g.Name, ar.Name),
					},
					File: g.File, Health: string(ar.Health), LastError: ar.LastError, State: ar.State,
				}
				for _, a := range ar.Alerts {
					if a.State == v1.AlertStateFiring {
						lr.Firing++
					}
				}
				v.Rules = append(v.Rules, lr)
			}
		}
		v.Summary = fmt.Sprintf("%d groups, %d alerting rules", len(groups), len(v.Rules))
		return v
	})
}

func labelMap[M ~map[K]V, K, V ~string](m M) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

// Coverage classifies the loaded rules by alert topic (mesh.ClassifyAlertExpr).
func Coverage(rules []LoadedRule) map[mesh.AlertTopic][]LoadedRule {
	out := map[mesh.AlertTopic][]LoadedRule{}
	for _, r := range rules {
		for _, t := range mesh.ClassifyAlertExpr(r.Expr) {
			out[t] = append(out[t], r)
		}
	}
	return out
}

// Names lists rules as "Alert (group G)".
func Names(rs []LoadedRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Alert+" ("+r.Where()+")")
	}
	sort.Strings(out)
	return out
}

// Broken returns the loaded rules Prometheus fails to evaluate.
func Broken(rules []LoadedRule) []LoadedRule {
	var out []LoadedRule
	for _, r := range rules {
		if r.Health == v1.RuleHealthBad {
			out = append(out, r)
		}
	}
	return out
}

// IsMesh reports whether a loaded rule watches the mesh (its expression
// reads Istio/Envoy/pilot series or selects them by label).
func IsMesh(r LoadedRule) bool { return mesh.IsMeshAlert(r.AlertRule, nil) }

// oneLine collapses an expression for messages.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// OneLine collapses an expression for messages.
func OneLine(s string) string { return oneLine(s) }
