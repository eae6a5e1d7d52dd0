package observability

import (
	"fmt"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

const (
	annScrape      = "prometheus.io/scrape"
	annMergeMetric = "prometheus.istio.io/merge-metrics"
)

func prometheusCheck() *check.Check {
	return &check.Check{
		ID: "telemetry.prometheus",
		Reads: []string{snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.ConfigMap,
			snapshot.ServiceMonitor, snapshot.PodMonitor, mesh.KindPrometheus, snapshot.Service, snapshot.Namespace},
		Why: "Every other observability item (dashboards, alerts, Kiali, the rollback triggers) reads Prometheus. " +
			"If Prometheus does not scrape istiod (port 15014) and the proxies (/stats/prometheus), the mesh is flying blind: " +
			"no request, error or latency series, no control-plane health.",
		Fix: "Deploy Prometheus (kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/prometheus.yaml, " +
			"or the prometheus-operator) and scrape istiod and the proxies: the sample's annotation-driven kubernetes-pods job, " +
			"or a ServiceMonitor for istiod (port http-monitoring) and a PodMonitor for the proxies (path /stats/prometheus).",
		Docs:      "https://istio.io/latest/docs/ops/integrations/prometheus/",
		Config:    prometheusConfig,
		Telemetry: prometheusTelemetry,
	}
}

const istiodServiceMonitor = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: istiod
  namespace: %s
spec:
  selector:
    matchLabels:
      app: istiod
  endpoints:
  - port: http-monitoring
    interval: 15s
# or, with an annotation-driven kubernetes-pods job, annotate istiod's pods:
# kubectl -n %s patch deployment %s --type merge -p '{"spec":{"template":{"metadata":{"annotations":{"prometheus.io/scrape":"true","prometheus.io/port":"15014"}}}}}'`

const envoyPodMonitor = `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: istio-proxies
  namespace: %s
spec:
  namespaceSelector:
    any: true
  selector:
    matchExpressions:
    - key: security.istio.io/tlsMode   # set on every injected pod
      operator: Exists
  podMetricsEndpoints:
  - port: http-envoy-prom              # the istio-proxy container's :15090
    path: /stats/prometheus
# or, in a Prometheus configuration file, a job with kubernetes_sd_configs [{role: pod}],
# metrics_path /stats/prometheus and a keep rule on __meta_kubernetes_pod_container_port_name matching .*-envoy-prom`

func prometheusConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	tools := mesh.ToolWorkloads(c)
	proms := tools[mesh.ToolPrometheus]
	crs := c.List(mesh.KindPrometheus)
	istiods := mesh.Istiods(c, cp)
	var istiodObj *snapshot.Object
	if len(istiods) > 0 {
		istiodObj = istiods[0].Object
	}
	if len(proms) == 0 && len(crs) == 0 {
		c.Fail(istiodObj, "no Prometheus deployed: no Deployment/StatefulSet runs a prometheus image and no Prometheus (prometheus-operator) resource exists, so istiod and the proxies are scraped by nothing").
			Want("a Prometheus scraping istiod (:15014) and the proxies (/stats/prometheus)").
			Fix("kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/prometheus.yaml\n# or install kube-prometheus-stack and add a ServiceMonitor for istiod and a PodMonitor for the proxies")
		return
	}
	var promObj *snapshot.Object
	if len(proms) > 0 {
		promObj = proms[0].Object
		c.Pass(promObj, "Prometheus deployed: %s (image %s)", mesh.ToolNames(proms), proms[0].Container.Image)
	}
	for _, o := range crs {
		promObj = firstObject(promObj, o)
		c.Pass(o, "Prometheus deployed by the prometheus-operator: %s", o.ID())
	}

	jobs := mesh.ScrapeJobs(c)
	sms := mesh.Monitors(c, snapshot.ServiceMonitor)
	pms := mesh.Monitors(c, snapshot.PodMonitor)
	var annJobs []mesh.ScrapeJob
	for _, j := range jobs {
		if j.AnnotationDriven() {
			annJobs = append(annJobs, j)
		}
	}

	// istiod.
	if len(istiods) == 0 {
		c.Fail(nil, "no istiod Deployment in %s: there is no control plane to scrape", cp).
			Fix("install istiod (istioctl install, or helm install istiod istio/istiod -n " + cp + ") or set controlPlaneNamespace in meshready.yaml")
	}
	for _, ist := range istiods {
		podLabels := ist.Deployment.Spec.Template.Labels
		var by []string
		for _, j := range jobs {
			if !j.AnnotationDriven() && !j.ServiceAnnotationDriven() && j.ScrapesIstiod() && j.DiscoversNamespace(cp) {
				by = append(by, fmt.Sprintf("scrape job %q (%s %s)", j.Name, j.Object.ID(), j.Field))
			}
		}
		svcs := mesh.ServicesSelecting(c, cp, podLabels)
		for _, m := range sms {
			if !m.SelectsNamespace(cp) || !m.ScrapesMonitoringPort() {
				continue
			}
			if m.Spec == nil {
				by = append(by, m.Object.ID()+" (by its name; its spec was not decoded)")
				continue
			}
			for _, s := range svcs {
				if m.Selects(s.Labels) {
					by = append(by, m.Object.ID()+" (selects "+s.ID()+")")
					break
				}
			}
		}
		for _, m := range pms {
			if m.Spec != nil && m.SelectsNamespace(cp) && m.Selects(podLabels) && m.ScrapesMonitoringPort() && !m.ScrapesProxyPort() {
				by = append(by, m.Object.ID())
			}
		}
		for _, so := range svcs {
			if so.Annotations[annScrape] != "true" {
				continue
			}
			for _, j := range jobs {
				if j.ServiceAnnotationDriven() && j.DiscoversNamespace(cp) {
					by = append(by, fmt.Sprintf("%s annotated %s=true with scrape job %q (%s)", so.ID(), annScrape, j.Name, j.Object.ID()))
					break
				}
			}
		}
		if ist.Deployment.Spec.Template.Annotations[annScrape] == "true" {
			for _, j := range annJobs {
				if j.DiscoversNamespace(cp) {
					by = append(by, fmt.Sprintf("annotation %s=true with scrape job %q (%s)", annScrape, j.Name, j.Object.ID()))
					break
				}
			}
		}
		if len(by) == 0 {
			c.Fail(ist.Object, "istiod's metrics (port 15014) are not scraped: no scrape job, ServiceMonitor or PodMonitor selects it, and its pods are not annotated %s=true for an annotation-driven job", annScrape).
				Field("spec.template.metadata.annotations").
				Got("%s=%q", annScrape, ist.Deployment.Spec.Template.Annotations[annScrape]).
				Want("scraped on :15014 (http-monitoring)").
				Fixf(istiodServiceMonitor, cp, cp, ist.Object.Name)
			continue
		}
		c.Pass(ist.Object, "istiod (revision %s) scraped by %s", ist.Revision, join(by))
	}

	// The proxies.
	moObj, mc := meshConfig(c)
	merge := mc.GetEnablePrometheusMerge() == nil || mc.GetEnablePrometheusMerge().GetValue()
	nss := mesh.Namespaces(c, c.Config)
	var proxyBy []string
	var proxyObj *snapshot.Object
	partial := false
	for _, j := range jobs {
		if j.ScrapesProxies() {
			proxyBy = append(proxyBy, fmt.Sprintf("scrape job %q (%s %s)", j.Name, j.Object.ID(), j.Field))
			proxyObj = firstObject(proxyObj, j.Object)
		}
	}
	for _, m := range append(append([]mesh.Monitor(nil), pms...), sms...) {
		if !m.ScrapesProxyPort() {
			continue
		}
		var missing []string
		for _, ns := range nss {
			if !m.SelectsNamespace(ns) {
				missing = append(missing, ns)
			}
		}
		if len(missing) > 0 && m.Object.Key == snapshot.PodMonitor {
			partial = true
			c.Fail(m.Object, "%s scrapes the proxies' /stats/prometheus but its namespaceSelector leaves out mesh namespace(s) %s", m.Object.ID(), join(missing)).
				Field("spec.namespaceSelector").Got("%s", namespaceSelectorString(m)).
				Want("any: true, or matchNames listing every mesh namespace").
				Fix("spec:\n  namespaceSelector:\n    any: true")
			continue
		}
		proxyBy = append(proxyBy, m.Object.ID())
		proxyObj = firstObject(proxyObj, m.Object)
	}
	var annCover []string
	for _, j := range annJobs {
		ok := true
		for _, ns := range nss {
			if !j.DiscoversNamespace(ns) {
				ok = false
			}
		}
		if ok {
			annCover = append(annCover, fmt.Sprintf("%q (%s)", j.Name, j.Object.ID()))
		}
	}
	mergeField := "data[mesh].enablePrometheusMerge"
	switch {
	case len(proxyBy) > 0:
		c.Pass(proxyObj, "proxies' metrics scraped by %s", join(proxyBy))
	case len(annCover) > 0 && merge:
		c.Pass(firstObject(moObj, promObj), "proxies' metrics scraped through the prometheus.io annotations Istio injects (enablePrometheusMerge is on) by annotation-driven job(s) %s", join(annCover))
		annotationOptOuts(c, nss)
	case len(annCover) > 0 && !merge:
		c.Fail(firstObject(moObj, promObj), "enablePrometheusMerge is false, so injected pods carry no prometheus.io annotations and the annotation-driven job(s) %s never scrape the proxies", join(annCover)).
			Field(mergeField).Got("false").Want("true (the default), or a job/PodMonitor for /stats/prometheus").
			Fixf("# in the istio ConfigMap (or IstioOperator meshConfig):\nenablePrometheusMerge: true\n# or add a PodMonitor for the proxies:\n"+envoyPodMonitor, cp)
	case partial:
		// The PodMonitor's gap is reported above.
	default:
		target := firstObject(jobsObject(jobs), promObj)
		c.Fail(target, "no scrape configuration reaches the proxies: no job or PodMonitor scrapes /stats/prometheus and no annotation-driven pod job covers the mesh namespaces %s", join(nss)).
			Want("a scrape job or PodMonitor for the Envoy stats endpoint").
			Fixf(envoyPodMonitor, cp)
	}
}

func namespaceSelectorString(m mesh.Monitor) string {
	if m.Spec == nil {
		return "unknown"
	}
	if m.Spec.NamespaceSelector.Any {
		return "any: true"
	}
	if len(m.Spec.NamespaceSelector.MatchNames) == 0 {
		return "none (the monitor's own namespace " + m.Object.Namespace + ")"
	}
	return "matchNames: " + join(m.Spec.NamespaceSelector.MatchNames)
}

func jobsObject(jobs []mesh.ScrapeJob) *snapshot.Object {
	if len(jobs) == 0 {
		return nil
	}
	return jobs[0].Object
}

// annotationOptOuts warns about mesh workloads whose proxies opt out of the
// annotation-driven scrape (prometheus.io/scrape=false or merge-metrics=false
// with no annotation of their own).
func annotationOptOuts(c *check.Context, nss []string) {
	for _, ns := range nss {
		nsObj := namespaceObject(c, ns)
		var nsLabels map[string]string
		if nsObj != nil {
			nsLabels = nsObj.Labels
		}
		for _, w := range mesh.Workloads(c, ns) {
			if !mesh.PodInjected(nsLabels, w.Template) {
				continue
			}
			a := w.Template.Annotations
			kind := strings.ToLower(w.Object.Kind)
			for _, k := range []string{annScrape, annMergeMetric} {
				if a[k] != "false" {
					continue
				}
				c.Warn(w.Object, "%s's pods are annotated %s=false: Istio does not add its prometheus.io annotations, so Prometheus does not scrape their proxy", w.Object.ID(), k).
					Field("spec.template.metadata.annotations["+k+"]").Got("false").Want("absent").
					Fixf("kubectl -n %s patch %s %s --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/template/metadata/annotations/%s\"}]'\n# or scrape it with a PodMonitor for /stats/prometheus", ns, kind, w.Object.Name, strings.ReplaceAll(k, "/", "~1"))
			}
		}
	}
}
