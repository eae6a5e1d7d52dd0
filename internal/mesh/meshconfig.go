package mesh

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshready/meshready/internal/snapshot"
)

// MeshConfig is the parsed mesh configuration and the ConfigMap it came from.
type MeshConfig struct {
	Object *snapshot.Object
	Config *meshv1alpha1.MeshConfig
}

// LoadMeshConfig finds the mesh config ConfigMap ("istio", or "istio-<rev>"
// for revisioned installs) in the control-plane namespace and parses its
// "mesh" key. It returns nil, nil when there is none. Reads ConfigMap.
func LoadMeshConfig(r Reader, controlPlaneNS string) (*MeshConfig, error) {
	o := r.Get(snapshot.ConfigMap, controlPlaneNS, "istio")
	if o == nil {
		for _, cm := range r.InNamespace(snapshot.ConfigMap, controlPlaneNS) {
			if strings.HasPrefix(cm.Name, "istio-") && cm.Typed != nil {
				if _, ok := cm.Typed.(*corev1.ConfigMap).Data["mesh"]; ok {
					o = cm
					break
				}
			}
		}
	}
	if o == nil {
		return nil, nil
	}
	cm, ok := o.Typed.(*corev1.ConfigMap)
	if !ok {
		return nil, fmt.Errorf("%s: not decoded", o.ID())
	}
	mc := &meshv1alpha1.MeshConfig{}
	if raw := cm.Data["mesh"]; strings.TrimSpace(raw) != "" {
		js, err := yaml.YAMLToJSON([]byte(raw))
		if err != nil {
			return &MeshConfig{Object: o, Config: mc}, fmt.Errorf("%s key mesh: %v", o.ID(), err)
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(js, mc); err != nil {
			return &MeshConfig{Object: o, Config: mc}, fmt.Errorf("%s key mesh: %v", o.ID(), err)
		}
	}
	return &MeshConfig{Object: o, Config: mc}, nil
}

// InjectorValues is the sidecar injector's "values" (Helm values as JSON).
type InjectorValues struct {
	Object *snapshot.Object
	Values map[string]any
}

// LoadInjectorValues reads the istio-sidecar-injector ConfigMap (or
// istio-sidecar-injector-<rev>) in the control-plane namespace. Reads ConfigMap.
func LoadInjectorValues(r Reader, controlPlaneNS string) (*InjectorValues, error) {
	o := r.Get(snapshot.ConfigMap, controlPlaneNS, "istio-sidecar-injector")
	if o == nil {
		for _, cm := range r.InNamespace(snapshot.ConfigMap, controlPlaneNS) {
			if strings.HasPrefix(cm.Name, "istio-sidecar-injector") {
				o = cm
				break
			}
		}
	}
	if o == nil {
		return nil, nil
	}
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

// Lookup returns the value at a dotted path ("global.proxy.resources"), or nil.
func (iv *InjectorValues) Lookup(path string) any {
	if iv == nil {
		return nil
	}
	var cur any = iv.Values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// String renders a looked-up value compactly for evidence.
func String(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
