package meshtel

import (
	"fmt"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/telemetry"
)

// maxEdgeFindings bounds the per-edge findings (the rest are summarised).
const maxEdgeFindings = 25

// CheckMTLS reports the share of the mesh's requests that use mutual TLS
// (as the servers' proxies report them) against threshold, and names each
// source → destination edge that carries anything else (fail when the
// share is under the threshold, warn otherwise).
func CheckMTLS(c *check.Context, cl *telemetry.Client, threshold float64) {
	v := MTLS(cl)
	under := false
	switch {
	case v.ByPolicyErr != nil:
		Error(c, v.ByPolicyErr, "cannot measure the share of mutual-TLS traffic")
	case !v.HasShare:
		c.Warn(nil, "no request was reported by a server-side proxy in the last %s, so the share of mutual-TLS traffic cannot be measured", Window).
			Want("at least %s of requests over mutual TLS", Percent(threshold)).
			Fix("send traffic through the mesh (e.g. meshready probe perf.latency-impact) and check again within 5 minutes").
			Query(cl.Query(v.ByPolicyExpr, "no series"))
	case v.Share+1e-9 >= threshold:
		c.Pass(nil, "%s of the mesh's requests over the last %s used mutual TLS (threshold %s)", Percent(v.Share), Window, Percent(threshold)).
			Query(cl.Query(v.ByPolicyExpr, fmt.Sprintf("%s: share %s", v.PolicyList(), telemetry.FormatValue(v.Share))))
	default:
		under = true
		c.Fail(nil, "only %s of the mesh's requests over the last %s used mutual TLS (threshold %s, thresholds.mtlsShare)", Percent(v.Share), Window, Percent(threshold)).
			Got("%s", Percent(v.Share)).Want("at least %s", Percent(threshold)).
			Fix("make mTLS STRICT for the receiving namespaces (PeerAuthentication mode STRICT) and inject the callers; the edges below name who sends plaintext to whom").
			Query(cl.Query(v.ByPolicyExpr, fmt.Sprintf("%s: share %s", v.PolicyList(), telemetry.FormatValue(v.Share))))
	}
	if v.PlainErr != nil {
		Error(c, v.PlainErr, "cannot list the traffic that is not mutual TLS")
		return
	}
	for i, e := range v.Plain {
		if i == maxEdgeFindings {
			c.Warn(nil, "%d more edges carry traffic that is not mutual TLS (see the query)", len(v.Plain)-maxEdgeFindings).
				Fix("rerun the query to list them").Query(cl.Query(v.PlainExpr, fmt.Sprintf("%d series", len(v.Plain))))
			break
		}
		src := e.Source()
		if e.SrcWorkload == "" || e.SrcWorkload == "unknown" {
			src = "a client outside the mesh (source_workload unknown)"
		}
		msg := fmt.Sprintf("traffic that is not mutual TLS: %s → %s, %s with connection_security_policy=%q", src, e.Dst, Rate(e.RPS), e.Policy)
		fix := fmt.Sprintf("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: %s\nspec:\n  mtls:\n    mode: STRICT\n# then check the caller %s: its pods must run the istio-proxy sidecar, and no DestinationRule for %s may set tls.mode DISABLE or SIMPLE", e.Dst.Namespace, src, e.Dst.Name+"."+e.Dst.Namespace+".svc.cluster.local")
		val := fmt.Sprintf("%s for source_workload=%q, destination_service_name=%q", telemetry.FormatValue(e.RPS), e.SrcWorkload, e.Dst.Name)
		if under {
			c.Fail(nil, "%s", msg).Got("%s", e.Policy).Want("mutual_tls").Fix(fix).Query(cl.Query(v.PlainExpr, val))
		} else {
			c.Warn(nil, "%s", msg).Got("%s", e.Policy).Want("mutual_tls").Fix(fix).Query(cl.Query(v.PlainExpr, val))
		}
	}
}
