package mesh

import (
	"reflect"
	"testing"
)

func TestParsePromQLMetrics(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5m]))`, []string{"istio_request_duration_milliseconds_bucket"}},
		{`sum(rate(a_total[5m])) by (job) / on(job) group_left(version) b_info`, []string{"a_total", "b_info"}},
		{`absent(up{job=~".*istiod.*"} == 1)`, []string{"up"}},
		{`{__name__="pilot_xds_pushes", type="cds"}`, []string{"pilot_xds_pushes"}},
		{`max without (instance) (x offset 5m) > bool 3`, []string{"x"}},
		{`label_replace(up, "dst", "$1", "src", "(.*)")`, []string{"up"}},
		{`vector(1)`, nil},
		{`time() - process_start_time_seconds # uptime`, []string{"process_start_time_seconds"}},
	} {
		if got := ParsePromQL(tc.expr).Metrics(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: metrics %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestClassifyAlertExpr(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []AlertTopic
	}{
		{`up{job="istiod"} == 0`, []AlertTopic{TopicIstiodDown}},
		{`absent(pilot_info)`, []AlertTopic{TopicIstiodDown}},
		{`kube_deployment_status_replicas_available{namespace="istio-system",deployment="istiod"} < 1`, []AlertTopic{TopicIstiodDown}},
		{`sum(rate(pilot_total_xds_rejects[5m])) > 0`, []AlertTopic{TopicXDSPushErrors, TopicControlPlane}},
		{`sum(rate(pilot_xds_pushes{type=~".*_senderr"}[5m])) > 0`, []AlertTopic{TopicXDSPushErrors, TopicControlPlane}},
		{`histogram_quantile(0.99, sum(rate(pilot_proxy_convergence_time_bucket[5m])) by (le)) > 10`, []AlertTopic{TopicControlPlane}},
		{`sum(rate(istio_requests_total{response_code=~"5.."}[5m])) / sum(rate(istio_requests_total[5m])) > 0.01`, []AlertTopic{Topic5xxRate}},
		{`sum(rate(istio_requests_total{response_code!~"5.."}[5m])) < 1`, nil},
		{`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket[5m]))) > 1000`, []AlertTopic{TopicP99Latency}},
		{`histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket[5m]))) > 1000`, nil},
		{`(citadel_server_root_cert_expiry_timestamp - time()) < 86400 * 30`, []AlertTopic{TopicCertExpiry}},
		{`kube_pod_container_status_ready{container="istio-proxy"} == 0`, []AlertTopic{TopicProxyNotReady}},
		{`envoy_server_state != 0`, []AlertTopic{TopicProxyNotReady}},
		{`sum(rate(envoy_cluster_upstream_cx_connect_fail[5m])) > 1`, []AlertTopic{TopicProxyErrors}},
		{`node_filesystem_avail_bytes < 1e9`, nil},
	} {
		if got := ClassifyAlertExpr(tc.expr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: topics %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestPromQLSanity(t *testing.T) {
	for expr, ok := range map[string]bool{
		`sum(rate(x[5m])) > 0`:             true,
		`x{a="(", b='}'} > 0`:              true,
		`sum(rate(x[5m]) > 0`:              false,
		`x{a="b"`:                          false,
		`x{a="b}`:                          false,
		`   `:                              false,
		`sum(x) by (le)] `:                 false,
		"x{a=`raw \\ (`} # comment with (": true,
	} {
		if err := PromQLSanity(expr); (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", expr, err, ok)
		}
	}
}

func TestExprWatches(t *testing.T) {
	trigger5xx := `sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="devmentor", response_code=~"5.."}[5m])) / sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="devmentor"}[5m]))`
	for _, tc := range []struct {
		alert, query string
		want         bool
	}{
		{`sum by (destination_service_name) (rate(istio_requests_total{reporter="destination", response_code=~"5.."}[5m])) / sum by (destination_service_name) (rate(istio_requests_total{reporter="destination"}[5m])) > 0.01`, trigger5xx, true},
		{`sum(rate(istio_requests_total{reporter="destination", response_code="403"}[5m])) > 1`, trigger5xx, false},
		{`sum(rate(istio_requests_total{reporter="source", response_flags=~"UF|UH"}[5m])) > 1`, trigger5xx, false},
		{`absent(up{job="istiod"} == 1)`, `sum(up{job="istiod"}) < 1`, true},
		{`max(up{job="envoy-stats"}) == 0`, `sum(up{job="istiod"}) < 1`, false},
		{`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_service_name!="qwen-llm"}[5m]))) > 1000`,
			`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_service_name="qwen-llm"}[5m])))`, false},
		{`histogram_quantile(0.99, sum by (le, destination_service_name) (rate(istio_request_duration_milliseconds_bucket[5m]))) > 1000`,
			`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_service_name="qwen-llm"}[5m])))`, true},
		{`up == 0`, `vector(1)`, false},
	} {
		if got := ExprWatches(ParsePromQL(tc.alert), ParsePromQL(tc.query)); got != tc.want {
			t.Errorf("alert %s\nquery %s\n: got %v, want %v", tc.alert, tc.query, got, tc.want)
		}
	}
}
