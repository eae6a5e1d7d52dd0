package mesh

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meshready/meshready/internal/config"
)

// This file classifies alerting rules by what they watch, from the metric
// names and label matchers of their PromQL expressions. There is no PromQL
// parser among meshready's dependencies (github.com/prometheus/prometheus is
// not in go.mod), so expressions are read by a small lexer that finds vector
// selectors, their matchers, the functions called and histogram_quantile's
// quantile; PromQLSanity is a light well-formedness check, not a parse.

// PromQLMatcher is one label matcher of a selector: job=~".*istiod.*".
type PromQLMatcher struct {
	Label, Op, Value string
}

// PromQLSelector is one vector selector: a metric name and its matchers.
type PromQLSelector struct {
	Metric   string // "" for a selector with only matchers and no __name__=
	Matchers []PromQLMatcher
}

// PromQLExpr is what the lexer found in an expression.
type PromQLExpr struct {
	Selectors []PromQLSelector
	Functions []string  // functions and aggregations called, in order
	Quantiles []float64 // the literal first argument of each histogram_quantile
}

// promqlKeywords are identifiers that are neither metrics nor functions.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"atan2": true, "inf": true, "nan": true, "by": true, "without": true,
	"on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

func isIdentStart(b byte) bool {
	return b == '_' || b == ':' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

func isIdentChar(b byte) bool { return isIdentStart(b) || (b >= '0' && b <= '9') }

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// ParsePromQL lexes an expression into its selectors, functions and quantiles.
func ParsePromQL(expr string) PromQLExpr {
	var out PromQLExpr
	s := expr
	n := len(s)
	skipSpace := func(i int) int {
		for i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		return i
	}
	i := 0
	for i < n {
		b := s[i]
		switch {
		case b == '#':
			for i < n && s[i] != '\n' {
				i++
			}
		case b == '"' || b == '\'' || b == '`':
			_, i = promqlString(s, i)
		case b == '[':
			for i < n && s[i] != ']' {
				i++
			}
			i++
		case b == '{':
			var ms []PromQLMatcher
			ms, i = promqlMatchers(s, i)
			sel := PromQLSelector{Matchers: ms}
			for _, m := range ms {
				if m.Label == "__name__" && m.Op == "=" {
					sel.Metric = m.Value
				}
			}
			out.Selectors = append(out.Selectors, sel)
		case isDigit(b) || (b == '.' && i+1 < n && isDigit(s[i+1])):
			for i < n && (isIdentChar(s[i]) || s[i] == '.' || ((s[i] == '+' || s[i] == '-') && (s[i-1] == 'e' || s[i-1] == 'E'))) {
				i++
			}
		case isIdentStart(b):
			start := i
			for i < n && isIdentChar(s[i]) {
				i++
			}
			id := s[start:i]
			j := skipSpace(i)
			lower := strings.ToLower(id)
			switch {
			case labelListKeywords[lower]:
				if j < n && s[j] == '(' {
					for j < n && s[j] != ')' {
						j++
					}
					i = j + 1
				}
			case promqlKeywords[lower]:
			case j < n && s[j] == '(' || followedByGrouping(s, j):
				out.Functions = append(out.Functions, id)
				if s[j] != '(' {
					// "sum by (le) (...)": the grouping is skipped by the
					// keyword case on the next round.
					i = j
					continue
				}
				if id == "histogram_quantile" {
					k := skipSpace(j + 1)
					e := k
					for e < n && (isDigit(s[e]) || s[e] == '.') {
						e++
					}
					if q, err := strconv.ParseFloat(s[k:e], 64); err == nil {
						out.Quantiles = append(out.Quantiles, q)
					}
				}
				i = j + 1
			default:
				sel := PromQLSelector{Metric: id}
				if j < n && s[j] == '{' {
					sel.Matchers, i = promqlMatchers(s, j)
				}
				out.Selectors = append(out.Selectors, sel)
			}
		default:
			i++
		}
	}
	return out
}

// followedByGrouping reports whether s[j:] starts with an aggregation's
// "by (" or "without (" clause, making the identifier before it an aggregator.
func followedByGrouping(s string, j int) bool {
	for _, kw := range []string{"by", "without"} {
		if len(s) >= j+len(kw) && strings.EqualFold(s[j:j+len(kw)], kw) {
			k := j + len(kw)
			if k < len(s) && isIdentChar(s[k]) {
				continue
			}
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n') {
				k++
			}
			if k < len(s) && s[k] == '(' {
				return true
			}
		}
	}
	return false
}

// promqlString reads a quoted string starting at s[i]; it returns the
// unquoted value and the index after the closing quote.
func promqlString(s string, i int) (string, int) {
	v, j, _ := promqlQuoted(s, i)
	return v, j
}

// promqlQuoted is promqlString that also says whether the quote was closed.
func promqlQuoted(s string, i int) (string, int, bool) {
	q := s[i]
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		c := s[j]
		if c == '\\' && q != '`' && j+1 < len(s) {
			b.WriteByte(s[j+1])
			j += 2
			continue
		}
		if c == q {
			return b.String(), j + 1, true
		}
		b.WriteByte(c)
		j++
	}
	return b.String(), j, false
}

// promqlMatchers reads "{label op value, ...}" starting at the "{".
func promqlMatchers(s string, i int) ([]PromQLMatcher, int) {
	var out []PromQLMatcher
	n := len(s)
	i++ // past {
	for i < n {
		for i < n && (s[i] == ' ' || s[i] == ',' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		if i >= n {
			break
		}
		if s[i] == '}' {
			return out, i + 1
		}
		if s[i] == '"' || s[i] == '\'' || s[i] == '`' {
			// A quoted metric name (Prometheus 3): {"metric.name", job="x"}.
			_, i = promqlString(s, i)
			continue
		}
		start := i
		for i < n && isIdentChar(s[i]) {
			i++
		}
		label := s[start:i]
		for i < n && s[i] == ' ' {
			i++
		}
		opStart := i
		for i < n && (s[i] == '=' || s[i] == '!' || s[i] == '~') {
			i++
		}
		op := s[opStart:i]
		for i < n && s[i] == ' ' {
			i++
		}
		if label == "" || op == "" || i >= n || (s[i] != '"' && s[i] != '\'' && s[i] != '`') {
			// Not a matcher: skip one byte so the loop progresses.
			if i == start {
				i++
			}
			continue
		}
		var v string
		v, i = promqlString(s, i)
		out = append(out, PromQLMatcher{Label: label, Op: op, Value: v})
	}
	return out, i
}

// PromQLSanity is a light check that an expression is well formed: not
// empty, quotes closed, and (), {} and [] balanced and properly nested. It
// is not a PromQL parse (see the note at the top of this file).
func PromQLSanity(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return fmt.Errorf("empty expression")
	}
	var stack []byte
	pairs := map[byte]byte{')': '(', '}': '{', ']': '['}
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch c {
		case '"', '\'', '`':
			_, j, closed := promqlQuoted(expr, i)
			if !closed {
				return fmt.Errorf("unclosed %c quote at offset %d", c, i)
			}
			i = j - 1
		case '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case '(', '{', '[':
			stack = append(stack, c)
		case ')', '}', ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("unbalanced %q at offset %d", c, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	return nil
}

// Metrics returns the distinct metric names of an expression, in order.
func (e PromQLExpr) Metrics() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range e.Selectors {
		if s.Metric != "" && !seen[s.Metric] {
			seen[s.Metric] = true
			out = append(out, s.Metric)
		}
	}
	return out
}

// Calls reports whether the expression calls a function.
func (e PromQLExpr) Calls(fn string) bool {
	for _, f := range e.Functions {
		if f == fn {
			return true
		}
	}
	return false
}

// AlertTopic is one condition the checklist wants an alert for.
type AlertTopic string

const (
	TopicIstiodDown    AlertTopic = "istiod-down"
	TopicXDSPushErrors AlertTopic = "xds-push-errors"
	Topic5xxRate       AlertTopic = "5xx-rate"
	TopicP99Latency    AlertTopic = "p99-latency"
	TopicCertExpiry    AlertTopic = "cert-expiry"
	TopicProxyNotReady AlertTopic = "proxy-not-ready"
	TopicControlPlane  AlertTopic = "control-plane-health" // any alert on pilot_* series
	TopicProxyErrors   AlertTopic = "proxy-errors"         // Envoy upstream failures, response flags
)

// OpsAlertTopics are the topics ops.alert-rules requires, in report order.
var OpsAlertTopics = []AlertTopic{TopicIstiodDown, TopicXDSPushErrors, Topic5xxRate, TopicP99Latency, TopicCertExpiry, TopicProxyNotReady}

// Title is the topic's wording for messages.
func (t AlertTopic) Title() string {
	switch t {
	case TopicIstiodDown:
		return "istiod down"
	case TopicXDSPushErrors:
		return "xDS push errors"
	case Topic5xxRate:
		return "5xx rate"
	case TopicP99Latency:
		return "p99 latency"
	case TopicCertExpiry:
		return "certificate expiry"
	case TopicProxyNotReady:
		return "proxy not ready"
	case TopicControlPlane:
		return "control-plane (pilot) health"
	case TopicProxyErrors:
		return "proxy errors"
	}
	return string(t)
}

func containsAny(s string, subs ...string) bool {
	s = strings.ToLower(s)
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// positive reports whether a matcher selects (rather than excludes) its value.
func (m PromQLMatcher) positive() bool { return m.Op == "=" || m.Op == "=~" }

func (s PromQLSelector) matcherValue(pred func(m PromQLMatcher) bool) bool {
	for _, m := range s.Matchers {
		if m.positive() && pred(m) {
			return true
		}
	}
	return false
}

func mentionsIstiod(s PromQLSelector) bool {
	return s.matcherValue(func(m PromQLMatcher) bool { return containsAny(m.Value, "istiod", "pilot") || m.Value == "discovery" })
}

var xdsErrorMetrics = map[string]bool{
	"pilot_xds_push_errors":           true,
	"pilot_total_xds_rejects":         true,
	"pilot_total_xds_internal_errors": true,
	"pilot_xds_cds_reject":            true,
	"pilot_xds_eds_reject":            true,
	"pilot_xds_lds_reject":            true,
	"pilot_xds_rds_reject":            true,
	"pilot_xds_write_timeout":         true,
	"pilot_xds_expired_nonce":         true,
	"pilot_xds_push_context_errors":   true,
}

var proxyReadyKSMMetrics = map[string]bool{
	"kube_pod_container_status_ready":          true,
	"kube_pod_container_status_waiting":        true,
	"kube_pod_container_status_waiting_reason": true,
	"kube_pod_container_status_running":        true,
	"kube_pod_container_status_restarts_total": true,
	"kube_pod_container_status_terminated":     true,
}

// ClassifyAlertExpr returns the topics an alert expression covers.
func ClassifyAlertExpr(expr string) []AlertTopic {
	return ParsePromQL(expr).Topics()
}

// Topics returns the topics a lexed expression covers, in a stable order.
func (e PromQLExpr) Topics() []AlertTopic {
	has := map[AlertTopic]bool{}
	absent := e.Calls("absent") || e.Calls("absent_over_time")
	p99 := false
	for _, q := range e.Quantiles {
		if q >= 0.99 {
			p99 = true
		}
	}
	for _, s := range e.Selectors {
		m := s.Metric
		switch {
		case m == "up" && mentionsIstiod(s):
			has[TopicIstiodDown] = true
		case absent && (strings.HasPrefix(m, "pilot_") || mentionsIstiod(s)):
			has[TopicIstiodDown] = true
		case strings.HasPrefix(m, "kube_deployment_status_replicas") && s.matcherValue(func(x PromQLMatcher) bool {
			return x.Label == "deployment" && containsAny(x.Value, "istiod")
		}):
			has[TopicIstiodDown] = true
		case proxyReadyKSMMetrics[m] && s.matcherValue(func(x PromQLMatcher) bool {
			return x.Label == "container" && x.Value == "discovery"
		}):
			has[TopicIstiodDown] = true
		}
		if strings.HasPrefix(m, "pilot_") && m != "pilot_info" && !absent {
			// An absent(pilot_*) rule watches istiod's presence, not its pushes.
			has[TopicControlPlane] = true
		}
		if xdsErrorMetrics[m] || (m == "pilot_xds_pushes" && s.matcherValue(func(x PromQLMatcher) bool {
			return x.Label == "type" && containsAny(x.Value, "err", "reject", "timeout")
		})) {
			has[TopicXDSPushErrors] = true
		}
		if m == "istio_requests_total" && s.matcherValue(func(x PromQLMatcher) bool {
			return x.Label == "response_code" && strings.HasPrefix(x.Value, "5")
		}) {
			has[Topic5xxRate] = true
		}
		if m == "envoy_cluster_upstream_rq_xx" && s.matcherValue(func(x PromQLMatcher) bool {
			return x.Label == "envoy_response_code_class" && x.Value == "5"
		}) {
			has[Topic5xxRate] = true
			has[TopicProxyErrors] = true
		}
		if p99 && (strings.HasPrefix(m, "istio_request_duration_") && strings.HasSuffix(m, "_bucket") || m == "envoy_cluster_upstream_rq_time_bucket") {
			has[TopicP99Latency] = true
		}
		if containsAny(m, "cert") && containsAny(m, "expir", "not_after", "notafter") {
			has[TopicCertExpiry] = true
		}
		switch {
		case m == "envoy_server_state" || m == "envoy_server_live":
			has[TopicProxyNotReady] = true
		case proxyReadyKSMMetrics[m] && s.matcherValue(func(x PromQLMatcher) bool {
			return x.Label == "container" && containsAny(x.Value, "istio-proxy")
		}):
			has[TopicProxyNotReady] = true
		case m == "up" && s.matcherValue(func(x PromQLMatcher) bool { return containsAny(x.Value, "envoy", "istio-proxy") }):
			has[TopicProxyNotReady] = true
		}
		if strings.HasPrefix(m, "envoy_") && containsAny(m, "5xx", "fail", "error", "timeout", "reset", "overflow") {
			has[TopicProxyErrors] = true
		}
		if m == "istio_requests_total" && s.matcherValue(func(x PromQLMatcher) bool {
			return x.Label == "response_flags" && x.Value != "-"
		}) {
			has[TopicProxyErrors] = true
		}
	}
	var out []AlertTopic
	for _, t := range []AlertTopic{TopicIstiodDown, TopicXDSPushErrors, Topic5xxRate, TopicP99Latency, TopicCertExpiry, TopicProxyNotReady, TopicControlPlane, TopicProxyErrors} {
		if has[t] {
			out = append(out, t)
		}
	}
	return out
}

// meshMetricPrefixes are the metric families Istio and its proxies export.
var meshMetricPrefixes = []string{"istio_", "pilot_", "envoy_", "citadel_", "galley_", "sidecar_injection_", "istiod_", "xds_", "ztunnel_"}

// IsMeshAlert reports whether an alert rule is about the mesh: its
// expression reads Istio/Envoy series or selects istio/istiod/envoy by a
// label, or it is defined in one of the given namespaces (the control-plane
// and mesh namespaces).
func IsMeshAlert(a AlertRule, namespaces []string) bool {
	if a.Object != nil {
		for _, ns := range namespaces {
			if a.Object.Namespace == ns {
				return true
			}
		}
	}
	e := ParsePromQL(a.Expr)
	for _, s := range e.Selectors {
		for _, p := range meshMetricPrefixes {
			if strings.HasPrefix(s.Metric, p) {
				return true
			}
		}
		if s.matcherValue(func(m PromQLMatcher) bool { return containsAny(m.Value, "istio", "envoy", "pilot") }) {
			return true
		}
	}
	return false
}

// AlertCoverage maps each topic to the alert rules covering it.
type AlertCoverage map[AlertTopic][]AlertRule

// CoverageOf classifies alert rules by topic.
func CoverageOf(rules []AlertRule) AlertCoverage {
	out := AlertCoverage{}
	for _, r := range rules {
		for _, t := range ClassifyAlertExpr(r.Expr) {
			out[t] = append(out[t], r)
		}
	}
	return out
}

// Names lists the alert names covering a topic, e.g. "IstiodDown (PrometheusRule/istio-system/istio-alerts)".
func (c AlertCoverage) Names(t AlertTopic) []string {
	var out []string
	for _, r := range c[t] {
		out = append(out, r.Alert+" ("+r.Object.ID()+")")
	}
	return out
}

// AlertTopicRule returns a Prometheus alerting rule for a topic, as YAML
// (one list item, indented for a PrometheusRule's rules list), using the
// configured thresholds: the remediation for a missing alert.
func AlertTopicRule(t AlertTopic, th config.Thresholds) string {
	var name, expr, forDur, summary string
	switch t {
	case TopicIstiodDown:
		name, forDur, summary = "IstiodDown", "5m", "istiod is down: no new proxy configuration or certificates"
		expr = `sum(up{app="istiod"}) == 0 or absent(up{app="istiod"})`
	case TopicXDSPushErrors, TopicControlPlane:
		name, forDur, summary = "IstioXDSPushErrors", "10m", "istiod fails to push or proxies reject configuration"
		expr = `sum(rate(pilot_xds_push_errors[5m])) > 0 or sum(rate(pilot_total_xds_rejects[5m])) > 0`
	case Topic5xxRate, TopicProxyErrors:
		name, forDur, summary = "IstioHigh5xxRate", "5m", "{{ $labels.destination_service }} answers 5xx above threshold"
		expr = fmt.Sprintf(`sum by (destination_service) (rate(istio_requests_total{reporter="destination",response_code=~"5.."}[5m])) / sum by (destination_service) (rate(istio_requests_total{reporter="destination"}[5m])) > %g`, th.ErrorRate)
	case TopicP99Latency:
		name, forDur, summary = "IstioHighP99Latency", "10m", "{{ $labels.destination_service }} p99 latency above threshold"
		expr = fmt.Sprintf(`histogram_quantile(0.99, sum by (destination_service, le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5m]))) > %g`, th.P99LatencyMs)
	case TopicCertExpiry:
		name, forDur, summary = "IstioRootCertExpiringSoon", "1h", "the mesh root certificate expires soon"
		expr = fmt.Sprintf(`(min(citadel_server_root_cert_expiry_timestamp) - time()) < %d * 24 * 3600`, th.CertExpiryDays)
	case TopicProxyNotReady:
		name, forDur, summary = "IstioProxyNotReady", "5m", "istio-proxy of {{ $labels.namespace }}/{{ $labels.pod }} is not ready"
		expr = `kube_pod_container_status_ready{container="istio-proxy"} == 0`
	default:
		return ""
	}
	return fmt.Sprintf("- alert: %s\n  expr: %s\n  for: %s\n  labels:\n    severity: critical\n  annotations:\n    summary: %q\n    runbook_url: docs/runbooks/%s.md\n",
		name, yamlQuote(expr), forDur, summary, strings.ToLower(name))
}

func yamlQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// PrometheusRuleSnippet wraps rule items (from AlertTopicRule) in a PrometheusRule.
func PrometheusRuleSnippet(ns string, rules ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: istio-alerts\n  namespace: %s\nspec:\n  groups:\n  - name: istio\n    rules:\n", ns)
	for _, r := range rules {
		for _, line := range strings.Split(strings.TrimRight(r, "\n"), "\n") {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}

// identityLabels are the labels that say which series a selector means
// (istiod's job, the proxy container, the 5xx response codes): an alert
// that drops such a matcher watches something else, not something broader.
var identityLabels = map[string]bool{
	"job": true, "app": true, "container": true, "response_code": true,
	"response_flags": true, "type": true, "deployment": true, "reporter": true,
}

// compatible reports whether rule selector r watches what trigger selector t
// reads: the same metric; every matcher of t on an identity label found on r
// with the same value; no matcher of r contradicting one of t (a different
// value, or the same value excluded). Other labels may be left out of r (the
// alert is broader, e.g. per service instead of one namespace).
func compatible(t, r PromQLSelector) bool {
	if t.Metric != r.Metric {
		return false
	}
	for _, tm := range t.Matchers {
		var same []PromQLMatcher
		for _, rm := range r.Matchers {
			if rm.Label == tm.Label {
				same = append(same, rm)
			}
		}
		if len(same) == 0 {
			if identityLabels[tm.Label] && tm.positive() {
				return false
			}
			continue
		}
		for _, rm := range same {
			switch {
			case rm.Op == tm.Op && rm.Value == tm.Value:
			case tm.Label == "response_code" && tm.positive() && rm.positive() && strings.HasPrefix(tm.Value, "5") && strings.HasPrefix(rm.Value, "5"):
			case !rm.positive() && tm.positive() && rm.Value == tm.Value:
				return false // the alert excludes exactly what the trigger reads
			case rm.positive() && tm.positive():
				return false // a different value
			}
		}
	}
	return true
}

// ExprWatches reports whether an alert expression watches what a query
// (e.g. a rollback trigger's) reads: every selector of the query has a
// compatible selector in the alert (same metric, same identity matchers, no
// contradiction). A query with no selector is watched by nothing.
func ExprWatches(alert, query PromQLExpr) bool {
	if len(query.Selectors) == 0 {
		return false
	}
	for _, t := range query.Selectors {
		if t.Metric == "" {
			continue
		}
		ok := false
		for _, r := range alert.Selectors {
			if compatible(t, r) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return len(query.Metrics()) > 0
}
