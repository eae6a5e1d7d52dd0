package services

import (
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// monitoring is service.S.monitoring: telemetry only (monitoringTelemetry,
// in telemetry_services.go); without Prometheus the engine reports it pending.
func monitoring() *check.Check {
	return &check.Check{
		ID: "service.S.monitoring",
		Why: "Without request, error and latency series for the service, nobody can tell whether it is " +
			"healthy in the mesh, set SLOs, alert on it, or decide to roll back: a launch with a blind " +
			"spot on a critical service is a launch nobody can operate.",
		Fix: "Make sure the service's pods are injected (the sidecar emits istio_requests_total, " +
			"istio_request_duration_milliseconds and istio_request_bytes) and that Prometheus scrapes the " +
			"proxies (merged metrics on port 15020, or a PodMonitor for the istio-proxy containers); then " +
			"check: sum(rate(istio_requests_total{destination_service=\"<name>.<namespace>.svc.cluster.local\"}[5m]))",
		Docs:      "https://istio.io/latest/docs/reference/config/metrics/",
		Reads:     meshtel.Reads,
		Telemetry: monitoringTelemetry,
	}
}
