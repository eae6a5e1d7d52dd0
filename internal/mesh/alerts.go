package mesh

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshready/meshready/internal/loader/monitoring"
	"github.com/meshready/meshready/internal/snapshot"
)

// AlertRule is one Prometheus alerting rule and where it is defined.
type AlertRule struct {
	Object      *snapshot.Object // the PrometheusRule or ConfigMap holding it
	Field       string           // e.g. "spec.groups[0].rules[2]" or "data[alerts.yaml].groups[0].rules[2]"
	Group       string
	Alert       string
	Expr        string
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

// AlertRuleKinds are the kinds AlertRules reads: declare them in a check's Reads.
var AlertRuleKinds = []string{snapshot.PrometheusRule, snapshot.ConfigMap}

// ruleFile is a Prometheus rule file. Expr is kept raw because YAML may
// give it as a number (expr: 1).
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        json.RawMessage   `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// AlertRules returns every alerting rule (recording rules are skipped) of
// the PrometheusRule objects and of the ConfigMaps whose data values parse as
// Prometheus rule files (a top-level "groups:" list), in object order, then
// data key, group and rule order. Reads PrometheusRule and ConfigMap.
func AlertRules(r Reader) []AlertRule {
	var out []AlertRule
	for _, o := range r.List(snapshot.PrometheusRule) {
		pr, ok := o.Typed.(*monitoring.PrometheusRule)
		if !ok {
			continue
		}
		for gi, g := range pr.Spec.Groups {
			for ri, rule := range g.Rules {
				if rule.Alert == "" {
					continue
				}
				out = append(out, AlertRule{
					Object: o, Field: fmt.Sprintf("spec.groups[%d].rules[%d]", gi, ri), Group: g.Name,
					Alert: rule.Alert, Expr: rule.Expr, For: rule.For, Labels: rule.Labels, Annotations: rule.Annotations,
				})
			}
		}
	}
	for _, o := range r.List(snapshot.ConfigMap) {
		cm, ok := o.Typed.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		keys := make([]string, 0, len(cm.Data))
		for k, v := range cm.Data {
			if strings.Contains(v, "groups:") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			var rf ruleFile
			if yaml.Unmarshal([]byte(cm.Data[k]), &rf) != nil {
				continue
			}
			out = appendFileRules(out, o, "data["+k+"].", &rf)
		}
	}
	return out
}

func appendFileRules(out []AlertRule, o *snapshot.Object, prefix string, rf *ruleFile) []AlertRule {
	for gi, g := range rf.Groups {
		for ri, rule := range g.Rules {
			if rule.Alert == "" {
				continue
			}
			out = append(out, AlertRule{
				Object:      o,
				Field:       fmt.Sprintf("%sgroups[%d].rules[%d]", prefix, gi, ri),
				Group:       g.Name,
				Alert:       rule.Alert,
				Expr:        rawExpr(rule.Expr),
				For:         rule.For,
				Labels:      rule.Labels,
				Annotations: rule.Annotations,
			})
		}
	}
	return out
}

func rawExpr(m json.RawMessage) string {
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(m))
}
