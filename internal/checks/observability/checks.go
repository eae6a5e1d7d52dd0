// Package observability implements the observability items of the
// checklist: telemetry (Prometheus, Grafana, tracing, Kiali), metrics and
// logging. Only the config parts are evaluated here; the telemetry parts
// (series present, targets up, APIs healthy) are pending until a
// Prometheus is given.
package observability

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations, in checklist order.
func Checks() []*check.Check {
	return []*check.Check{
		prometheusCheck(),
		grafanaCheck(),
		tracingCheck(),
		kialiCheck(),
		metricsServiceCheck(),
		metricsProxyCheck(),
		metricsControlPlaneCheck(),
		metricsCustomCheck(),
		accessLogsCheck(),
		errorLogsCheck(),
		debugLogsCheck(),
		retentionCheck(),
	}
}
