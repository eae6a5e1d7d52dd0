package observability

import (
	"sort"
	"strings"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	telemetryapi "istio.io/api/telemetry/v1alpha1"
	telemetryv1 "istio.io/client-go/pkg/apis/telemetry/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// meshConfig loads the mesh config; a missing ConfigMap gives Istio's
// defaults (an empty MeshConfig), a broken one is reported as an error.
// The returned object is nil when there is no mesh config ConfigMap.
func meshConfig(c *check.Context) (*snapshot.Object, *meshv1alpha1.MeshConfig) {
	mc, err := mesh.LoadMeshConfig(c, c.Config.ControlPlaneNamespace)
	if err != nil {
		c.Error("cannot read the mesh config: %v", err).
			Fix("correct the YAML under the \"mesh\" key of the istio ConfigMap (istioctl analyze reports the offending line)")
	}
	if mc == nil {
		return nil, &meshv1alpha1.MeshConfig{}
	}
	if mc.Config == nil {
		return mc.Object, &meshv1alpha1.MeshConfig{}
	}
	return mc.Object, mc.Config
}

// providerKinds maps each extension provider name to its kind ("zipkin",
// "opentelemetry", "envoyFileAccessLog", ...).
func providerKinds(mc *meshv1alpha1.MeshConfig) map[string]string {
	out := map[string]string{}
	for _, p := range mc.GetExtensionProviders() {
		out[p.GetName()] = providerKind(p)
	}
	return out
}

func providerKind(p *meshv1alpha1.MeshConfig_ExtensionProvider) string {
	switch {
	case p.GetZipkin() != nil:
		return "zipkin"
	case p.GetOpentelemetry() != nil:
		return "opentelemetry"
	case p.GetDatadog() != nil:
		return "datadog"
	case p.GetLightstep() != nil:
		return "lightstep"
	case p.GetSkywalking() != nil:
		return "skywalking"
	case p.GetStackdriver() != nil:
		return "stackdriver"
	case p.GetOpencensus() != nil:
		return "opencensus"
	case p.GetPrometheus() != nil:
		return "prometheus"
	case p.GetEnvoyFileAccessLog() != nil:
		return "envoyFileAccessLog"
	case p.GetEnvoyHttpAls() != nil:
		return "envoyHttpAls"
	case p.GetEnvoyTcpAls() != nil:
		return "envoyTcpAls"
	case p.GetEnvoyOtelAls() != nil:
		return "envoyOtelAls"
	case p.GetEnvoyExtAuthzHttp() != nil, p.GetEnvoyExtAuthzGrpc() != nil:
		return "extAuthz"
	}
	return "unknown"
}

var tracingKinds = map[string]bool{"zipkin": true, "opentelemetry": true, "datadog": true, "lightstep": true, "skywalking": true, "stackdriver": true, "opencensus": true}
var accessLogKinds = map[string]bool{"envoyFileAccessLog": true, "envoyHttpAls": true, "envoyTcpAls": true, "envoyOtelAls": true, "stackdriver": true}

// builtinProviders are the provider names istiod knows without an
// extensionProviders entry.
var builtinProviders = map[string]string{"prometheus": "prometheus", "envoy": "envoyFileAccessLog", "stackdriver": "stackdriver"}

// providerOf resolves a provider name to its kind ("" when undefined).
func providerOf(kinds map[string]string, name string) string {
	if k, ok := kinds[name]; ok {
		return k
	}
	return builtinProviders[name]
}

// telemetryScope is a Telemetry resource and what it applies to.
type telemetryScope struct {
	Object *snapshot.Object
	T      *telemetryv1.Telemetry
}

// telemetries indexes the Telemetry resources: the mesh-wide ones (root
// namespace, no selector or targetRef) and, per namespace, the
// namespace-wide ones; workload-scoped ones are listed apart.
type telemetries struct {
	root     []telemetryScope
	ns       map[string][]telemetryScope
	workload []telemetryScope
}

func loadTelemetries(c *check.Context) telemetries {
	out := telemetries{ns: map[string][]telemetryScope{}}
	root := c.Config.RootNamespace
	for _, o := range c.List(snapshot.Telemetry) {
		t, ok := o.Typed.(*telemetryv1.Telemetry)
		if !ok {
			continue
		}
		s := telemetryScope{o, t}
		scoped := len(t.Spec.GetSelector().GetMatchLabels()) > 0 || t.Spec.GetTargetRef() != nil || len(t.Spec.GetTargetRefs()) > 0
		switch {
		case scoped:
			out.workload = append(out.workload, s)
		case o.Namespace == root:
			out.root = append(out.root, s)
		default:
			out.ns[o.Namespace] = append(out.ns[o.Namespace], s)
		}
	}
	return out
}

// namespaceObject returns the Namespace object of ns, or nil.
func namespaceObject(c *check.Context, ns string) *snapshot.Object {
	return c.Get(snapshot.Namespace, "", ns)
}

// tracingEnabled says whether a Tracing list enables span reporting (some
// entry without disableSpanReporting) and the sampling it sets (nil: unset).
func tracingEntries(ts []*telemetryapi.Tracing) (enabled, disabled bool, sampling *float64) {
	for _, tr := range ts {
		if tr.GetDisableSpanReporting().GetValue() {
			disabled = true
			continue
		}
		enabled = true
		if p := tr.GetRandomSamplingPercentage(); p != nil {
			v := p.GetValue()
			sampling = &v
		}
	}
	return enabled, disabled, sampling
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func join(xs []string) string { return strings.Join(xs, ", ") }

// firstObject returns the first non-nil object.
func firstObject(os ...*snapshot.Object) *snapshot.Object {
	for _, o := range os {
		if o != nil {
			return o
		}
	}
	return nil
}

// istiodObject returns the first istiod Deployment of the control-plane namespace, or nil.
func istiodObject(c *check.Context) *snapshot.Object {
	if ists := mesh.Istiods(c, c.Config.ControlPlaneNamespace); len(ists) > 0 {
		return ists[0].Object
	}
	return nil
}
