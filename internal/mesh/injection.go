package mesh

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshready/meshready/internal/snapshot"
)

// BuiltinInjectTemplates are the injection templates istiod ships; they are
// used when the injector ConfigMap is not among the inputs.
var BuiltinInjectTemplates = []string{"sidecar", "gateway", "grpc-simple", "grpc-agent", "waypoint", "kube-gateway", "spire"}

// InjectorConfig is the sidecar injector's "config" key (one per revision).
type InjectorConfig struct {
	Object           *snapshot.Object
	Policy           string   // "enabled" (default) or "disabled"
	DefaultTemplates []string // default: [sidecar]
	Templates        []string // template names, sorted
}

// InjectorConfigMaps returns the istio-sidecar-injector ConfigMaps
// ("istio-sidecar-injector" and "istio-sidecar-injector-<rev>") of the
// control-plane namespace. Reads ConfigMap.
func InjectorConfigMaps(r Reader, controlPlaneNS string) []*snapshot.Object {
	var out []*snapshot.Object
	for _, cm := range r.InNamespace(snapshot.ConfigMap, controlPlaneNS) {
		if cm.Name == "istio-sidecar-injector" || strings.HasPrefix(cm.Name, "istio-sidecar-injector-") {
			out = append(out, cm)
		}
	}
	return out
}

// ParseInjectorConfig reads a sidecar injector ConfigMap's "config" key.
func ParseInjectorConfig(o *snapshot.Object) (*InjectorConfig, error) {
	cm, ok := o.Typed.(*corev1.ConfigMap)
	if !ok {
		return nil, fmt.Errorf("%s: not decoded", o.ID())
	}
	ic := &InjectorConfig{Object: o, Policy: "enabled"}
	raw := cm.Data["config"]
	if strings.TrimSpace(raw) == "" {
		return ic, nil
	}
	var doc struct {
		Policy           string         `json:"policy"`
		DefaultTemplates []string       `json:"defaultTemplates"`
		Templates        map[string]any `json:"templates"`
	}
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		return ic, fmt.Errorf("%s key config: %v", o.ID(), err)
	}
	if doc.Policy != "" {
		ic.Policy = doc.Policy
	}
	ic.DefaultTemplates = doc.DefaultTemplates
	for name := range doc.Templates {
		ic.Templates = append(ic.Templates, name)
	}
	sort.Strings(ic.Templates)
	return ic, nil
}

// HasTemplate reports whether the config defines a template name.
func (ic *InjectorConfig) HasTemplate(name string) bool {
	for _, t := range ic.Templates {
		if t == name {
			return true
		}
	}
	return false
}

// CNIDaemonSet returns the Istio CNI node agent DaemonSet (an
// istio-cni-node DaemonSet in any namespace), or nil. Reads DaemonSet.
func CNIDaemonSet(r Reader) *snapshot.Object {
	for _, o := range r.List(snapshot.DaemonSet) {
		if o.Name == "istio-cni-node" || o.Labels["k8s-app"] == "istio-cni-node" {
			return o
		}
	}
	return nil
}

// LoadInjectorValuesFrom parses the "values" key of one injector ConfigMap.
func LoadInjectorValuesFrom(o *snapshot.Object) (*InjectorValues, error) {
	cm, ok := o.Typed.(*corev1.ConfigMap)
	if !ok {
		return nil, fmt.Errorf("%s: not decoded", o.ID())
	}
	v := map[string]any{}
	if raw := cm.Data["values"]; strings.TrimSpace(raw) != "" {
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			return &InjectorValues{Object: o, Values: v}, fmt.Errorf("%s key values: %v", o.ID(), err)
		}
	}
	return &InjectorValues{Object: o, Values: v}, nil
}
