package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/discover"
)

// prometheusAuto is the --prometheus value that searches the cluster of the
// kubeconfig context for its Prometheus (package discover). Discovery is
// opt-in: it sends requests through the API server's service proxy (which
// needs the services/proxy right a read-only user may lack) to a pod the
// user did not name; an explicit URL always wins, and no --prometheus
// leaves the telemetry parts pending as before.
const prometheusAuto = "auto"

// findPrometheus resolves --prometheus auto in t: the URL (and, from
// outside the cluster, the API server's transport) of the Prometheus
// Service found. When none is found or the search fails, t is left without
// Prometheus and the returned message says what was searched, for the
// telemetry parts to stay pending with it. A kubeconfig that cannot be
// used is a usage error.
func findPrometheus(ctx context.Context, io IO, t *telemetry.Options, kubeconfig, kubeContext string, timeout time.Duration) (missing string, err error) {
	if t.Prometheus != prometheusAuto {
		return "", nil
	}
	res, err := discover.Find(ctx, discover.Options{Kubeconfig: kubeconfig, Context: kubeContext, Timeout: timeout})
	if errors.Is(err, discover.ErrConfig) {
		return "", exitcode.Usagef(fmt.Errorf("--prometheus auto: %w", err))
	}
	if err != nil {
		// The credentials and CA were for the Prometheus not found.
		t.Prometheus, t.PrometheusTokenFile, t.PrometheusBasicAuthFile = "", "", ""
		if t.Grafana == "" && t.Jaeger == "" && t.Kiali == "" {
			t.PrometheusCAFile = ""
		}
		var nf *discover.NotFoundError
		if errors.As(err, &nf) {
			missing = "needs Prometheus: --prometheus auto found none: " + err.Error()
		} else {
			missing = "needs Prometheus: --prometheus auto could not search the cluster: " + err.Error()
		}
		return missing, nil
	}
	t.Prometheus, t.PrometheusTransport = res.URL, res.Transport
	fmt.Fprintln(io.Err, "meshready: Prometheus:", res.Describe())
	return "", nil
}
