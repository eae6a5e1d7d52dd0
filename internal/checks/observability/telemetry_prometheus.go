package observability

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

var telCtx = context.Background()

// prometheusTelemetry is telemetry.prometheus with Prometheus' API: its
// scrape targets for istiod and the proxies are up (/api/v1/targets), and
// istio_requests_total has series.
func prometheusTelemetry(c *check.Context) {
	cl := meshtel.Prometheus(c)
	if cl == nil {
		return
	}
	cp := c.Config.ControlPlaneNamespace
	tr, err := cl.Targets(telCtx)
	if err != nil {
		meshtel.Error(c, err, "cannot list Prometheus' scrape targets")
	} else {
		var istiod, proxies []v1.ActiveTarget
		for _, t := range tr.Active {
			switch {
			case isIstiodTarget(t):
				istiod = append(istiod, t)
			case isProxyTarget(t):
				proxies = append(proxies, t)
			}
		}
		iu, pu := upTargets(istiod), upTargets(proxies)
		q := cl.APIQuery("prometheus", "GET /api/v1/targets", fmt.Sprintf("%d active targets; istiod: %d of %d up; proxies: %d of %d up", len(tr.Active), len(iu), len(istiod), len(pu), len(proxies)))
		switch {
		case len(istiod) == 0:
			c.Fail(nil, "Prometheus has no scrape target for istiod among its %d active targets (none with istiod/pilot in its job or labels, none on port 15014)", len(tr.Active)).
				Want("istiod's :15014/metrics scraped").Fixf(istiodServiceMonitor, cp, cp, "istiod").Query(q)
		case len(iu) == 0:
			c.Fail(nil, "every istiod target is down in Prometheus: %s", targetErrors(istiod, 5)).
				Got("%d of %d up", 0, len(istiod)).Want("up").
				Fixf("check istiod's pods and that Prometheus can reach them on port 15014:\nkubectl -n %s get pods -l app=istiod\nkubectl -n %s port-forward deploy/istiod 15014 & curl -s localhost:15014/metrics | head", cp, cp).Query(q)
		case len(iu) < len(istiod):
			c.Warn(nil, "%d of %d istiod targets are down: %s", len(istiod)-len(iu), len(istiod), targetErrors(istiod, 5)).
				Got("%d of %d up", len(iu), len(istiod)).Want("all up").
				Fixf("kubectl -n %s get pods -l app=istiod   # and the targets page of Prometheus (/targets)", cp).Query(q)
		default:
			c.Pass(nil, "istiod scraped: %d of %d targets up (%s)", len(iu), len(istiod), targetNames(istiod, 3)).Query(q)
		}
		switch {
		case len(proxies) == 0:
			c.Fail(nil, "Prometheus has no scrape target for the proxies among its %d active targets (none on /stats/prometheus, port 15090 or 15020, none with envoy in its job)", len(tr.Active)).
				Want("every proxy's /stats/prometheus scraped").Fixf(envoyPodMonitor, cp).Query(q)
		case len(pu) == 0:
			c.Fail(nil, "every proxy target is down in Prometheus: %s", targetErrors(proxies, 5)).
				Got("0 of %d up", len(proxies)).Want("up").
				Fix("check that Prometheus can reach the pods on the proxies' stats port (15020 or 15090): a NetworkPolicy, or STRICT mTLS on that port without a Prometheus in the mesh, blocks it").Query(q)
		case len(pu) < len(proxies):
			c.Warn(nil, "%d of %d proxy targets are down: %s", len(proxies)-len(pu), len(proxies), targetErrors(proxies, 5)).
				Got("%d of %d up", len(pu), len(proxies)).Want("all up").
				Fix("look at the down targets on Prometheus' /targets page: pods gone (stale discovery), the stats port blocked, or the proxy not ready").Query(q)
		default:
			c.Pass(nil, "proxies scraped: %d of %d targets up", len(pu), len(proxies)).Query(q)
		}
	}

	// istio_requests_total as the servers' proxies report it (the query
	// security.monitoring shares); only when that is empty, count every series.
	mv := meshtel.MTLS(cl)
	if mv.ByPolicyErr == nil && mv.Total > 0 {
		c.Pass(nil, "istio_requests_total present: the servers' proxies report %s", meshtel.Rate(mv.Total)).
			Query(cl.Query(mv.ByPolicyExpr, mv.PolicyList()))
		return
	}
	expr := meshtel.CountRequestsExpr
	vec, err := cl.Instant(telCtx, expr)
	if err != nil {
		meshtel.Error(c, err, "cannot count istio_requests_total")
		return
	}
	if len(vec) == 0 || vec[0].Value == 0 {
		c.Fail(nil, "istio_requests_total has no series in Prometheus: the proxies' Istio metrics are not scraped (or no request has gone through the mesh)").
			Want("istio_requests_total series").
			Fixf("scrape the proxies' merged metrics (/stats/prometheus on :15020, or :15090 for Envoy's own), e.g.\n"+envoyPodMonitor, cp).
			Query(cl.Query(expr, "no series"))
		return
	}
	if mv.ByPolicyErr != nil {
		c.Pass(nil, "istio_requests_total present: %s series", telemetry.FormatValue(float64(vec[0].Value))).Query(cl.Query(expr, telemetry.FormatValue(float64(vec[0].Value))))
		return
	}
	c.Warn(nil, "istio_requests_total has %s series, but none reported by a server's proxy (reporter=\"destination\") in the last %s: the receiving workloads are not injected or not scraped", telemetry.FormatValue(float64(vec[0].Value)), meshtel.Window).
		Want("reporter=\"destination\" series").
		Fixf("scrape the proxies of the receiving workloads too (they report reporter=\"destination\"), e.g.\n"+envoyPodMonitor, cp).
		Query(cl.Query(expr, telemetry.FormatValue(float64(vec[0].Value))))
}

func upTargets(ts []v1.ActiveTarget) []v1.ActiveTarget {
	var out []v1.ActiveTarget
	for _, t := range ts {
		if t.Health == v1.HealthGood {
			out = append(out, t)
		}
	}
	return out
}

func targetLabel(t v1.ActiveTarget, names ...string) []string {
	var out []string
	for _, n := range names {
		if v := string(t.Labels[model.LabelName(n)]); v != "" {
			out = append(out, strings.ToLower(v))
		}
		if v := t.DiscoveredLabels[n]; v != "" {
			out = append(out, strings.ToLower(v))
		}
	}
	return out
}

func targetPort(t v1.ActiveTarget) (string, string) {
	u, err := url.Parse(t.ScrapeURL)
	if err != nil {
		return "", ""
	}
	return u.Port(), u.Path
}

// isIstiodTarget: a target whose job or Kubernetes labels name istiod
// (or pilot, or the discovery container), or that scrapes port 15014.
func isIstiodTarget(t v1.ActiveTarget) bool {
	port, _ := targetPort(t)
	if port == "15014" {
		return true
	}
	for _, v := range append(targetLabel(t, "job", "app", "service", "container", "__meta_kubernetes_service_name",
		"__meta_kubernetes_pod_label_app", "__meta_kubernetes_pod_container_name"), strings.ToLower(t.ScrapePool)) {
		if strings.Contains(v, "istiod") || strings.Contains(v, "pilot") || v == "discovery" {
			return true
		}
	}
	return false
}

// isProxyTarget: a target on the proxies' stats path or ports, or whose
// job or container names Envoy / the istio-proxy.
func isProxyTarget(t v1.ActiveTarget) bool {
	port, path := targetPort(t)
	if strings.Contains(path, "/stats/prometheus") || port == "15090" || port == "15020" {
		return true
	}
	for _, v := range append(targetLabel(t, "job", "container", "__meta_kubernetes_pod_container_name", "__meta_kubernetes_pod_container_port_name"), strings.ToLower(t.ScrapePool)) {
		if strings.Contains(v, "envoy") || strings.Contains(v, "istio-proxy") || strings.Contains(v, "sidecar") {
			return true
		}
	}
	return false
}

func targetNames(ts []v1.ActiveTarget, n int) string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("job %s %s", t.Labels["job"], t.ScrapeURL))
	}
	sort.Strings(out)
	return meshtel.List(out, n)
}

func targetErrors(ts []v1.ActiveTarget, n int) string {
	var out []string
	for _, t := range ts {
		if t.Health == v1.HealthGood {
			continue
		}
		e := t.LastError
		if e == "" {
			e = string(t.Health)
		}
		out = append(out, fmt.Sprintf("%s (job %s): %s", t.ScrapeURL, t.Labels["job"], e))
	}
	sort.Strings(out)
	return meshtel.List(out, n)
}
