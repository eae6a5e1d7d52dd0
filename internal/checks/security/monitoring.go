package security

import (
	"strconv"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
)

var monitoring = &check.Check{
	ID:    "security.monitoring",
	Reads: mesh.AlertRuleKinds,
	Why: "Policies drift: a new caller without a policy, a namespace switched to PERMISSIVE, a client sending plaintext. " +
		"Without alerts on authorization denials and on traffic that is not mutual TLS, the first sign is an outage or an incident report.",
	Fix: "Add Prometheus alerting rules on istio_requests_total with response_code=\"403\" (authorization denials) and on " +
		"istio_requests_total / istio_tcp_connections_opened_total with connection_security_policy!=\"mutual_tls\".",
	Docs:      "https://istio.io/latest/docs/reference/config/metrics/",
	Config:    checkMonitoring,
	Telemetry: monitoringTelemetry,
}

const alertsYAML = `apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: istio-security
  namespace: monitoring
spec:
  groups:
    - name: istio-security
      rules:%s`

const denialRule = `
        - alert: IstioAuthorizationDenials
          expr: sum by (destination_workload_namespace, destination_workload) (rate(istio_requests_total{reporter="destination", response_code="403"}[5m])) > 0.1
          for: 5m
          labels:
            severity: warning
          annotations:
            summary: Requests to {{ $labels.destination_workload }} are denied by authorization policy
            runbook_url: <link to the runbook>`

const plaintextRule = `
        - alert: IstioNonMTLSTraffic
          expr: sum by (destination_workload_namespace, destination_workload) (rate(istio_requests_total{reporter="destination", connection_security_policy!="mutual_tls"}[5m])) > 0
          for: 5m
          labels:
            severity: critical
          annotations:
            summary: '{{ $labels.destination_workload }} receives traffic that is not mutual TLS'
            runbook_url: <link to the runbook>`

// isDenialAlert: the expression watches authorization denials: 403s
// reported by the proxies (istio_requests_total{response_code="403"}, or a
// regex/class including 403), or Envoy's RBAC denial counters.
func isDenialAlert(expr string) bool {
	for _, sel := range mesh.ParsePromQL(expr).Selectors {
		m := strings.ToLower(sel.Metric)
		if strings.Contains(m, "rbac") && strings.Contains(m, "denied") {
			return true
		}
		if !strings.HasPrefix(m, "istio_") {
			continue
		}
		for _, x := range sel.Matchers {
			if x.Label != "response_code" {
				continue
			}
			switch x.Op {
			case "=":
				if x.Value == "403" {
					return true
				}
			case "=~":
				if strings.Contains(x.Value, "403") || strings.Contains(x.Value, "4..") || strings.Contains(x.Value, "40.") {
					return true
				}
			}
		}
	}
	return false
}

// isPlaintextAlert: the expression watches traffic whose
// connection_security_policy is not mutual_tls.
func isPlaintextAlert(expr string) bool {
	for _, sel := range mesh.ParsePromQL(expr).Selectors {
		for _, x := range sel.Matchers {
			if x.Label != "connection_security_policy" {
				continue
			}
			switch x.Op {
			case "!=", "!~":
				if strings.Contains(x.Value, "mutual_tls") {
					return true
				}
			case "=", "=~":
				if strings.Contains(x.Value, "none") || strings.Contains(x.Value, "unknown") {
					return true
				}
			}
		}
	}
	return false
}

func checkMonitoring(c *check.Context) {
	rules := mesh.AlertRules(c)
	var denial, plain *mesh.AlertRule
	for i := range rules {
		r := &rules[i]
		if denial == nil && isDenialAlert(r.Expr) {
			denial = r
		}
		if plain == nil && isPlaintextAlert(r.Expr) {
			plain = r
		}
	}
	where := "the input holds no alerting rule (in PrometheusRule objects or in ConfigMaps holding Prometheus rule files)"
	if len(rules) > 0 {
		where = "none of the " + strconv.Itoa(len(rules)) + " alerting rules found does"
	}
	if denial != nil {
		c.Pass(denial.Object, "alert %s (%s %s) fires on authorization denials: %s", denial.Alert, denial.Object.ID(), denial.Field, oneLine(denial.Expr)).Field(denial.Field)
	} else {
		c.Fail(nil, "no alert on authorization denials (403 from istio_requests_total or Envoy RBAC denials): %s", where).
			Want("an alerting rule on istio_requests_total{response_code=\"403\"}").
			Fixf(alertsYAML, denialRule)
	}
	if plain != nil {
		c.Pass(plain.Object, "alert %s (%s %s) fires on traffic that is not mutual TLS: %s", plain.Alert, plain.Object.ID(), plain.Field, oneLine(plain.Expr)).Field(plain.Field)
	} else {
		c.Fail(nil, "no alert on non-mTLS traffic (connection_security_policy != \"mutual_tls\"): %s", where).
			Want("an alerting rule on istio_requests_total{connection_security_policy!=\"mutual_tls\"}").
			Fixf(alertsYAML, plaintextRule)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
