package observability

import (
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func kialiCheck() *check.Check {
	return &check.Check{
		ID: "telemetry.kiali",
		Reads: []string{snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.ConfigMap,
			snapshot.Service, mesh.KindKiali, mesh.KindPrometheus},
		Why: "Kiali draws the live service graph (who calls whom, with mTLS and error rates) and validates Istio config. " +
			"It builds everything from Prometheus: pointed at a Service that does not exist, it shows an empty graph exactly when you need it.",
		Fix: "Deploy Kiali (kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/kiali.yaml, or the Kiali operator) " +
			"and set external_services.prometheus.url to the in-cluster Prometheus Service (e.g. http://prometheus.istio-system:9090).",
		Docs:      "https://istio.io/latest/docs/ops/integrations/kiali/",
		Config:    kialiConfig,
		Telemetry: kialiTelemetry,
	}
}

type kialiConfigFile struct {
	IstioNamespace   string `json:"istio_namespace"`
	ExternalServices struct {
		Prometheus struct {
			URL string `json:"url"`
		} `json:"prometheus"`
	} `json:"external_services"`
}

func kialiConfig(c *check.Context) {
	tools := mesh.ToolWorkloads(c)
	kialis := tools[mesh.ToolKiali]
	crs := c.List(mesh.KindKiali)
	if len(kialis) == 0 && len(crs) == 0 {
		c.Fail(nil, "no Kiali deployed: no workload runs a kiali image and no Kiali (kiali-operator) resource exists").
			Want("Kiali pointed at Prometheus").
			Fix("kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/kiali.yaml\n# or: helm install kiali-server kiali/kiali-server -n istio-system --set external_services.prometheus.url=http://prometheus.istio-system:9090")
		return
	}
	type source struct {
		obj   *snapshot.Object
		field string
		cfg   kialiConfigFile
		ns    string
	}
	var srcs []source
	for _, k := range kialis {
		c.Pass(k.Object, "Kiali deployed: %s (image %s)", k.Object.ID(), k.Container.Image)
		cm := kialiConfigMap(c, k)
		if cm == nil {
			c.Fail(k.Object, "%s mounts no Kiali configuration ConfigMap (config.yaml), so where it reads Prometheus from cannot be checked", k.Object.ID()).
				Field("spec.template.spec.volumes").
				Fixf("create the ConfigMap kiali in %s with config.yaml:\n  external_services:\n    prometheus:\n      url: http://prometheus.%s:9090\nand mount it at /kiali-configuration", k.Object.Namespace, c.Config.ControlPlaneNamespace)
			continue
		}
		var f kialiConfigFile
		data := cm.Typed.(*corev1.ConfigMap).Data["config.yaml"]
		if err := yaml.Unmarshal([]byte(data), &f); err != nil {
			c.Fail(cm, "%s: config.yaml does not parse: %v", cm.ID(), err).Field("data[config.yaml]").
				Fix("correct the YAML of config.yaml (kubectl -n " + cm.Namespace + " edit configmap " + cm.Name + ")")
			continue
		}
		srcs = append(srcs, source{cm, "data[config.yaml].external_services.prometheus.url", f, k.Object.Namespace})
	}
	for _, o := range crs {
		c.Pass(o, "Kiali deployed by the Kiali operator: %s", o.ID())
		var f kialiConfigFile
		if !mesh.DecodeSpec(o, &f) {
			c.Warn(o, "%s: meshready did not decode its spec, so spec.external_services.prometheus.url is not verified", o.ID()).
				Field("spec.external_services.prometheus.url").
				Fixf("check it by hand: kubectl -n %s get kiali %s -o jsonpath='{.spec.external_services.prometheus.url}'", o.Namespace, o.Name)
			continue
		}
		ns := o.Namespace
		srcs = append(srcs, source{o, "spec.external_services.prometheus.url", f, ns})
	}
	for _, s := range srcs {
		u := s.cfg.ExternalServices.Prometheus.URL
		istioNS := s.cfg.IstioNamespace
		if istioNS == "" {
			istioNS = s.ns
		}
		defaulted := false
		if u == "" {
			u = "http://prometheus." + istioNS + ":9090"
			defaulted = true
		}
		checkKialiPrometheusURL(c, tools, s.obj, s.field, u, s.ns, defaulted)
	}
}

// kialiConfigMap finds the ConfigMap holding Kiali's config.yaml: one the
// workload mounts, else "kiali" in its namespace.
func kialiConfigMap(c *check.Context, k mesh.ToolWorkload) *snapshot.Object {
	var names []string
	for _, v := range k.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			names = append(names, v.ConfigMap.Name)
		}
	}
	names = append(names, "kiali")
	for _, n := range names {
		o := c.Get(snapshot.ConfigMap, k.Object.Namespace, n)
		if o == nil {
			continue
		}
		if cm, ok := o.Typed.(*corev1.ConfigMap); ok {
			if _, ok := cm.Data["config.yaml"]; ok {
				return o
			}
		}
	}
	return nil
}

func checkKialiPrometheusURL(c *check.Context, tools map[string][]mesh.ToolWorkload, obj *snapshot.Object, field, raw, kialiNS string, defaulted bool) {
	what := "external_services.prometheus.url " + raw
	if defaulted {
		what = "external_services.prometheus.url unset, so Kiali's default " + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		c.Fail(obj, "%s: %s is not a URL", obj.ID(), what).Field(field).Got("%s", raw).
			Want("http://<prometheus-service>.<namespace>:9090").
			Fixf("external_services:\n  prometheus:\n    url: http://prometheus.%s:9090", c.Config.ControlPlaneNamespace)
		return
	}
	host := u.Hostname()
	ns, name, ok := clusterService(host)
	if !ok && !strings.Contains(host, ".") {
		ns, name, ok = kialiNS, host, true
	}
	if !ok {
		c.Warn(obj, "%s: %s is outside the cluster's Services, so meshready cannot verify it offline", obj.ID(), what).Field(field).
			Fix("check it from the Kiali pod: kubectl -n " + kialiNS + " exec deploy/kiali -- curl -s " + raw + "/-/ready")
		return
	}
	so := c.Get(snapshot.Service, ns, name)
	if so == nil {
		c.Fail(obj, "%s: %s points at Service %s/%s, which does not exist", obj.ID(), what, ns, name).
			Field(field).Got("%s", raw).Want("the URL of an existing Prometheus Service").
			Fixf("external_services:\n  prometheus:\n    url: %s", suggestPrometheusURL(c, tools))
		return
	}
	svc, _ := so.Typed.(*corev1.Service)
	port := int32(80)
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		port = int32(n)
	}
	if svc != nil && !hasPort(svc, port) {
		c.Fail(obj, "%s: %s uses port %d, but %s exposes %v", obj.ID(), what, port, so.ID(), servicePorts(svc)).
			Field(field).Got("%d", port).Want("one of %v", servicePorts(svc)).
			Fixf("external_services:\n  prometheus:\n    url: %s://%s.%s:%d", u.Scheme, name, ns, firstPort(svc))
		return
	}
	if svc != nil && len(svc.Spec.Selector) > 0 && !selectsPrometheus(c, tools, ns, svc.Spec.Selector) {
		c.Fail(obj, "%s: %s points at %s, which selects no Prometheus pods", obj.ID(), what, so.ID()).
			Field(field).Got("selector %v", svc.Spec.Selector).Want("a Service in front of Prometheus").
			Fixf("external_services:\n  prometheus:\n    url: %s", suggestPrometheusURL(c, tools))
		return
	}
	sel := ""
	if svc != nil && len(svc.Spec.Selector) > 0 {
		sel = " and selects Prometheus pods"
	}
	c.Pass(obj, "Kiali reads Prometheus (%s): %s exists, exposes port %d%s", what, so.ID(), port, sel)
}

func firstPort(s *corev1.Service) int32 {
	if len(s.Spec.Ports) == 0 {
		return 9090
	}
	return s.Spec.Ports[0].Port
}

// selectsPrometheus reports whether a selector in ns matches a Prometheus
// workload, or the namespace holds a Prometheus resource (its pods are
// created by the operator and are not in the manifests).
func selectsPrometheus(c *check.Context, tools map[string][]mesh.ToolWorkload, ns string, sel map[string]string) bool {
	for _, w := range tools[mesh.ToolPrometheus] {
		if w.Object.Namespace == ns && snapshot.SelectorMatches(sel, w.Template.Labels) {
			return true
		}
	}
	return len(c.InNamespace(mesh.KindPrometheus, ns)) > 0
}

// suggestPrometheusURL names the Service in front of the first Prometheus workload.
func suggestPrometheusURL(c *check.Context, tools map[string][]mesh.ToolWorkload) string {
	for _, w := range tools[mesh.ToolPrometheus] {
		for _, so := range mesh.ServicesSelecting(c, w.Object.Namespace, w.Template.Labels) {
			if svc, ok := so.Typed.(*corev1.Service); ok {
				return "http://" + so.Name + "." + so.Namespace + ":" + strconv.Itoa(int(firstPort(svc)))
			}
		}
	}
	return "http://prometheus." + c.Config.ControlPlaneNamespace + ":9090"
}
