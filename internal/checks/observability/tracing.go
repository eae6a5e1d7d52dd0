package observability

import (
	"fmt"
	"strings"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func tracingCheck() *check.Check {
	return &check.Check{
		ID: "telemetry.tracing",
		Reads: []string{snapshot.ConfigMap, snapshot.Telemetry, snapshot.Namespace, snapshot.Service,
			snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, mesh.KindJaeger},
		Why: "Traces show where a slow or failing request spent its time across qwen-llm, pbml-context and qdrant. " +
			"Istio only reports spans when a tracing provider is defined in the mesh config and a Telemetry resource enables it with a sampling rate, and they must reach a running Jaeger.",
		Fix: "Define a tracing extension provider in the mesh config, enable it mesh-wide with a Telemetry resource in the root namespace " +
			"(tracing: [{providers: [{name: jaeger}], randomSamplingPercentage: 1.0}]) and deploy Jaeger " +
			"(kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/jaeger.yaml).",
		Docs:      "https://istio.io/latest/docs/tasks/observability/distributed-tracing/",
		Config:    tracingConfig,
		Telemetry: tracingTelemetry,
	}
}

const tracingProviderSnippet = `# in the istio ConfigMap, key "mesh" (or IstioOperator spec.meshConfig):
extensionProviders:
- name: jaeger
  opentelemetry:
    service: jaeger-collector.%s.svc.cluster.local
    port: 4317
# or zipkin: {service: zipkin.%s.svc.cluster.local, port: 9411}`

const tracingTelemetrySnippet = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: %s
spec:
  tracing:
  - providers:
    - name: %s
    randomSamplingPercentage: 1.0`

// providerService returns the service host and port a provider sends to ("" for none).
func providerService(p *meshv1alpha1.MeshConfig_ExtensionProvider) (string, uint32) {
	switch {
	case p.GetZipkin() != nil:
		return p.GetZipkin().GetService(), p.GetZipkin().GetPort()
	case p.GetOpentelemetry() != nil:
		return p.GetOpentelemetry().GetService(), p.GetOpentelemetry().GetPort()
	case p.GetDatadog() != nil:
		return p.GetDatadog().GetService(), p.GetDatadog().GetPort()
	case p.GetLightstep() != nil:
		return p.GetLightstep().GetService(), p.GetLightstep().GetPort()
	case p.GetSkywalking() != nil:
		return p.GetSkywalking().GetService(), p.GetSkywalking().GetPort()
	case p.GetEnvoyOtelAls() != nil:
		return p.GetEnvoyOtelAls().GetService(), p.GetEnvoyOtelAls().GetPort()
	}
	return "", 0
}

// clusterService parses an in-cluster host ("[ns/]name.ns.svc.cluster.local",
// "name.ns.svc", "name.ns") into namespace and name.
func clusterService(host string) (ns, name string, ok bool) {
	if _, h, cut := strings.Cut(host, "/"); cut {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(host, "."), ".cluster.local")
	host = strings.TrimSuffix(host, ".svc")
	parts := strings.Split(host, ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[1], parts[0], true
}

func servicePorts(s *corev1.Service) []int32 {
	var out []int32
	for _, p := range s.Spec.Ports {
		out = append(out, p.Port)
	}
	return out
}

func hasPort(s *corev1.Service, port int32) bool {
	for _, p := range s.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func tracingConfig(c *check.Context) {
	root := c.Config.RootNamespace
	cp := c.Config.ControlPlaneNamespace
	mcObj, mc := meshConfig(c)
	kinds := providerKinds(mc)
	tools := mesh.ToolWorkloads(c)

	// 1. Providers.
	var tracers []string
	for _, p := range mc.GetExtensionProviders() {
		if !tracingKinds[providerKind(p)] {
			continue
		}
		tracers = append(tracers, p.GetName())
		host, port := providerService(p)
		ns, name, ok := clusterService(host)
		if !ok {
			c.Pass(mcObj, "tracing provider %q (%s) sends spans to %s:%d (outside the cluster's Services: not verified)", p.GetName(), providerKind(p), host, port)
			continue
		}
		so := c.Get(snapshot.Service, ns, name)
		if so == nil {
			c.Fail(mcObj, "tracing provider %q sends spans to %s, but there is no Service %s/%s", p.GetName(), host, ns, name).
				Field("data[mesh].extensionProviders["+p.GetName()+"]").Got("%s:%d", host, port).Want("an existing Service").
				Fixf("point the provider at the collector's Service (e.g. jaeger-collector.%s.svc.cluster.local:4317 for OTLP, zipkin.%s.svc.cluster.local:9411 for Zipkin), or deploy it", cp, cp)
			continue
		}
		svc, _ := so.Typed.(*corev1.Service)
		if svc != nil && port != 0 && !hasPort(svc, int32(port)) {
			c.Fail(so, "tracing provider %q sends spans to port %d, but %s exposes %v", p.GetName(), port, so.ID(), servicePorts(svc)).
				Field("spec.ports").Got("%v", servicePorts(svc)).Want("%d", port).
				Fixf("set the provider's port to one of %v in the mesh config's extensionProviders[%s], or add port %d to %s", servicePorts(svc), p.GetName(), port, so.ID())
			continue
		}
		c.Pass(so, "tracing provider %q (%s) sends spans to %s port %d", p.GetName(), providerKind(p), so.ID(), port)
		if svc != nil && len(svc.Spec.Selector) > 0 && !selectsTracingBackend(tools, ns, svc.Spec.Selector) {
			c.Warn(so, "%s, which receives the spans of provider %q, selects no Jaeger, Zipkin, Tempo or OpenTelemetry Collector workload", so.ID(), p.GetName()).
				Field("spec.selector").Got("%v", svc.Spec.Selector).
				Fix("make the Service select the tracing backend's pods (e.g. app: jaeger), or point the provider at the backend's own Service")
		}
	}
	if len(tracers) == 0 {
		c.Fail(firstObject(mcObj, istiodObject(c)), "the mesh config defines no tracing extension provider (zipkin, opentelemetry, ...), so no Telemetry resource can send spans anywhere").
			Field("data[mesh].extensionProviders").Want("a tracing provider").
			Fixf(tracingProviderSnippet, cp, cp)
	}
	defaultTracers := mc.GetDefaultProviders().GetTracing()

	// 2. Telemetry enabling it, with a sampling rate.
	tel := loadTelemetries(c)
	var meshSampling *float64
	if s := mc.GetDefaultConfig().GetTracing(); s != nil && s.GetSampling() != 0 {
		v := s.GetSampling()
		meshSampling = &v
	}
	provName := "jaeger"
	if len(tracers) > 0 {
		provName = tracers[0]
	}
	// checkTelemetry validates one Telemetry's tracing block; it reports
	// whether the resource enables span reporting.
	checkTelemetry := func(s telemetryScope, scope string) bool {
		trs := s.T.Spec.GetTracing()
		enabled, disabled, sampling := tracingEntries(trs)
		bad, unnamed := false, false
		for i, tr := range trs {
			for _, p := range tr.GetProviders() {
				k := providerOf(kinds, p.GetName())
				if !tracingKinds[k] {
					got := "undefined"
					if k != "" {
						got = "a " + k + " provider"
					}
					bad = true
					c.Fail(s.Object, "%s names tracing provider %q, which is %s in the mesh config", s.Object.ID(), p.GetName(), got).
						Field(fmt.Sprintf("spec.tracing[%d].providers", i)).Got("%s", p.GetName()).Want("one of the tracing providers: %s", join(tracers)).
						Fixf("spec:\n  tracing:\n  - providers:\n    - name: %s", provName)
				}
			}
			if len(tr.GetProviders()) == 0 && len(defaultTracers) == 0 && !tr.GetDisableSpanReporting().GetValue() {
				unnamed = true
				c.Warn(s.Object, "%s enables tracing without naming a provider, and the mesh config sets no defaultProviders.tracing: spans only go to a legacy defaultConfig.tracing address, if any", s.Object.ID()).
					Field(fmt.Sprintf("spec.tracing[%d].providers", i)).
					Fixf("spec:\n  tracing:\n  - providers:\n    - name: %s", provName)
			}
		}
		if disabled && !enabled {
			c.Fail(s.Object, "%s disables span reporting for %s", s.Object.ID(), scope).
				Field("spec.tracing[].disableSpanReporting").Got("true").Want("false or unset").
				Fixf("remove disableSpanReporting from %s (a per-workload opt-out belongs in a Telemetry with a selector)", s.Object.ID())
			return false
		}
		if !enabled || bad {
			return false
		}
		switch {
		case sampling != nil && *sampling <= 0:
			c.Fail(s.Object, "%s sets randomSamplingPercentage %g for %s: no request is sampled", s.Object.ID(), *sampling, scope).
				Field("spec.tracing[].randomSamplingPercentage").Got("%g", *sampling).Want("> 0 (e.g. 1.0)").
				Fix("spec:\n  tracing:\n  - randomSamplingPercentage: 1.0")
			return false
		case unnamed:
			// Warned above: spans may still reach a legacy tracing address.
		case sampling != nil:
			c.Pass(s.Object, "%s enables tracing for %s at %g%% sampling", s.Object.ID(), scope, *sampling)
		case meshSampling != nil:
			c.Pass(s.Object, "%s enables tracing for %s; sampling %g%% from the mesh config's defaultConfig.tracing.sampling", s.Object.ID(), scope, *meshSampling)
		default:
			c.Warn(s.Object, "%s enables tracing for %s without a sampling rate: Istio's implicit default (1%%) applies", s.Object.ID(), scope).
				Field("spec.tracing[].randomSamplingPercentage").Want("an explicit rate").
				Fix("spec:\n  tracing:\n  - randomSamplingPercentage: 1.0")
		}
		return true
	}
	rootEnabled, rootReported := false, false
	for _, s := range tel.root {
		if len(s.T.Spec.GetTracing()) == 0 {
			continue
		}
		rootReported = true
		if checkTelemetry(s, "the whole mesh") {
			rootEnabled = true
		}
	}
	meshWide := rootEnabled
	if !rootEnabled && len(defaultTracers) > 0 && tracingKinds[providerOf(kinds, defaultTracers[0])] {
		meshWide = true
		if meshSampling != nil && *meshSampling > 0 {
			c.Pass(mcObj, "the mesh config's defaultProviders.tracing (%s) enables tracing mesh-wide at %g%% sampling", join(defaultTracers), *meshSampling)
		} else {
			c.Warn(mcObj, "the mesh config's defaultProviders.tracing (%s) enables tracing mesh-wide, but no Telemetry resource or defaultConfig.tracing.sampling sets a sampling rate", join(defaultTracers)).
				Field("data[mesh].defaultConfig.tracing.sampling").Want("an explicit rate").
				Fixf(tracingTelemetrySnippet, root, defaultTracers[0])
		}
	}
	nss := mesh.Namespaces(c, c.Config)
	var uncovered []string
	for _, ns := range nss {
		var nsTel []telemetryScope
		for _, s := range tel.ns[ns] {
			if len(s.T.Spec.GetTracing()) > 0 {
				nsTel = append(nsTel, s)
			}
		}
		if len(nsTel) == 0 {
			if !meshWide && !rootReported {
				uncovered = append(uncovered, ns)
			}
			continue
		}
		// A namespace-wide Telemetry's tracing replaces the mesh-wide one;
		// checkTelemetry reports a namespace that turns it off.
		for _, s := range nsTel {
			checkTelemetry(s, "namespace "+ns)
		}
	}
	for _, ns := range uncovered {
		c.Fail(namespaceObject(c, ns), "no Telemetry resource enables tracing for mesh namespace %s (none mesh-wide in %s, none in the namespace)", ns, root).
			Want("a Telemetry with a tracing block").
			Fixf(tracingTelemetrySnippet, root, provName)
	}
	if len(nss) == 0 && !meshWide && !rootReported {
		c.Fail(firstObject(mcObj, istiodObject(c)), "no Telemetry resource enables tracing mesh-wide (root namespace %s)", root).
			Fixf(tracingTelemetrySnippet, root, provName)
	}

	// 3. Jaeger.
	jaegers := tools[mesh.ToolJaeger]
	jcrs := c.List(mesh.KindJaeger)
	switch {
	case len(jaegers) > 0:
		c.Pass(jaegers[0].Object, "Jaeger deployed: %s (image %s)", mesh.ToolNames(jaegers), jaegers[0].Container.Image)
	case len(jcrs) > 0:
		c.Pass(jcrs[0], "Jaeger deployed by the Jaeger operator: %s", jcrs[0].ID())
	default:
		var others []mesh.ToolWorkload
		for _, t := range []string{mesh.ToolZipkin, mesh.ToolTempo, mesh.ToolOtelCollector} {
			others = append(others, tools[t]...)
		}
		if len(others) > 0 {
			c.Warn(others[0].Object, "no Jaeger deployed; spans go to %s (%s), which the checklist's \"Jaeger tracing setup\" does not name", others[0].Tool, mesh.ToolNames(others)).
				Want("Jaeger").
				Fix("deploy Jaeger (kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/jaeger.yaml), or waive this finding if your team standardised on another tracing backend")
			return
		}
		c.Fail(firstObject(mcObj, istiodObject(c)), "no Jaeger deployed: no workload runs a jaegertracing image and no Jaeger resource exists").
			Want("a Jaeger deployment receiving the mesh's spans").
			Fix("kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/jaeger.yaml\n# or install the Jaeger operator / Helm chart and point the tracing provider at its collector")
	}
}

// selectsTracingBackend reports whether a selector in ns matches a workload
// running a tracing backend.
func selectsTracingBackend(tools map[string][]mesh.ToolWorkload, ns string, sel map[string]string) bool {
	for _, t := range []string{mesh.ToolJaeger, mesh.ToolZipkin, mesh.ToolTempo, mesh.ToolOtelCollector} {
		for _, w := range tools[t] {
			if w.Object.Namespace == ns && snapshot.SelectorMatches(sel, w.Template.Labels) {
				return true
			}
		}
	}
	return false
}
