package security

import (
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// monitoringTelemetry is security.monitoring with Prometheus: the share of
// the mesh's traffic over mutual TLS reaches thresholds.mtlsShare (each
// edge carrying anything else is named), and the alerts on authorization
// denials and non-mTLS traffic are loaded in Prometheus, not only written.
func monitoringTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	meshtel.CheckMTLS(c, cl, c.Config.Thresholds.MTLSShare)

	rv := meshtel.Rules(cl)
	if rv.Err != nil {
		meshtel.Error(c, rv.Err, "cannot read the rules Prometheus has loaded")
		return
	}
	q := cl.APIQuery("prometheus", "GET /api/v1/rules", rv.Summary)
	var denial, plain *meshtel.LoadedRule
	for i := range rv.Rules {
		r := &rv.Rules[i]
		if denial == nil && isDenialAlert(r.Expr) {
			denial = r
		}
		if plain == nil && isPlaintextAlert(r.Expr) {
			plain = r
		}
	}
	if denial != nil {
		c.Pass(nil, "Prometheus has loaded alert %s (%s) on authorization denials", denial.Alert, denial.Where()).Query(q)
	} else {
		c.Fail(nil, "no alert on authorization denials is loaded in Prometheus (%d alerting rules loaded): one written in the manifests but not loaded never fires", len(rv.Rules)).
			Want("a loaded alerting rule on istio_requests_total{response_code=\"403\"}").
			Fixf(alertsYAML+"\n# and make Prometheus load it (the Prometheus resource's ruleSelector, or rule_files)", denialRule).Query(q)
	}
	if plain != nil {
		c.Pass(nil, "Prometheus has loaded alert %s (%s) on traffic that is not mutual TLS", plain.Alert, plain.Where()).Query(q)
	} else {
		c.Fail(nil, "no alert on non-mTLS traffic is loaded in Prometheus (%d alerting rules loaded)", len(rv.Rules)).
			Want("a loaded alerting rule on istio_requests_total{connection_security_policy!=\"mutual_tls\"}").
			Fixf(alertsYAML+"\n# and make Prometheus load it (the Prometheus resource's ruleSelector, or rule_files)", plaintextRule).Query(q)
	}
}
