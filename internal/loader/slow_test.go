package loader

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshready/meshready/internal/snapshot"
)

// slowObj is an object decoded by the reference path.
type slowObj struct {
	key, ns, name string
	typed         any
}

// decodeSlow is the reference decoder the fast path is checked against (and
// benchmarked against): documents split as kubectl splits them, each
// converted YAML -> JSON by sigs.k8s.io/yaml, read into a map for its
// identity, then decoded again from JSON into the typed object by
// encoding/json, whose Istio specs decode themselves through jsonpb.
func decodeSlow(data []byte, isJSON bool) ([]slowObj, error) {
	var docs [][]byte
	if isJSON {
		docs = [][]byte{data}
	} else {
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			docs = append(docs, doc)
		}
	}
	var out []slowObj
	for _, doc := range docs {
		j, err := sigsyaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		var u map[string]any
		if err := json.Unmarshal(j, &u); err != nil {
			return nil, err
		}
		if u == nil {
			continue
		}
		kind, _ := u["kind"].(string)
		if items, ok := u["items"].([]any); ok && strings.HasSuffix(kind, "List") {
			apiVersion, _ := u["apiVersion"].(string)
			for _, it := range items {
				m := it.(map[string]any)
				if kind != "List" && m["kind"] == nil && m["apiVersion"] == nil {
					m["kind"], m["apiVersion"] = strings.TrimSuffix(kind, "List"), apiVersion
				}
				ij, _ := json.Marshal(m)
				o, err := slowObject(ij, m)
				if err != nil {
					return nil, err
				}
				out = append(out, o)
			}
			continue
		}
		o, err := slowObject(j, u)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func slowObject(j []byte, u map[string]any) (slowObj, error) {
	apiVersion, _ := u["apiVersion"].(string)
	kind, _ := u["kind"].(string)
	meta, _ := u["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	key := snapshot.KindKey(apiVersion, kind)
	if clusterScoped[key] {
		ns = ""
	} else if ns == "" {
		ns = DefaultNamespace
	}
	o := slowObj{key: key, ns: ns, name: name}
	spec := kindSpecs[key]
	_, version := apiVersionParts(apiVersion)
	if spec == nil || !spec.accepts(version) {
		return o, nil
	}
	if spec.newObj == nil {
		var m map[string]any
		if err := utiljson.Unmarshal(j, &m); err != nil {
			return o, err
		}
		if md, ok := m["metadata"].(map[string]any); ok {
			if ns == "" {
				delete(md, "namespace")
			} else {
				md["namespace"] = ns
			}
		}
		o.typed = m
		return o, nil
	}
	newObj := spec.newObj
	if f := spec.newFor[version]; f != nil {
		newObj = f
	}
	ptr := newObj()
	if key == snapshot.PrometheusRule {
		// PromQL given as a bare number or bool (expr: 1): keep its text,
		// as the fast path does.
		spec, _ := u["spec"].(map[string]any)
		groups, _ := spec["groups"].([]any)
		for _, g := range groups {
			rules, _ := g.(map[string]any)["rules"].([]any)
			for _, r := range rules {
				if rm, ok := r.(map[string]any); ok {
					if e, ok := rm["expr"]; ok && e != nil {
						if _, isStr := e.(string); !isStr {
							rm["expr"] = fmt.Sprint(e)
						}
					}
				}
			}
		}
		j, _ = json.Marshal(u)
	}
	if err := json.Unmarshal(j, ptr); err != nil {
		return o, fmt.Errorf("%s %s/%s: %w", key, ns, name, err)
	}
	if conv := spec.convert[version]; conv != nil {
		ptr = conv(ptr)
	}
	if mo, ok := ptr.(metav1.Object); ok {
		mo.SetNamespace(ns)
	}
	if s, ok := ptr.(*corev1.Secret); ok {
		s.Data, s.StringData = nil, nil
		delete(s.Annotations, lastApplied)
	}
	o.typed = ptr
	return o, nil
}

// typedEqual compares two typed objects: protobuf fields with proto.Equal,
// the rest with the Kubernetes semantic equality.
func typedEqual(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	if _, ok := a.(map[string]any); ok {
		return reflect.DeepEqual(a, b)
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() != reflect.Pointer || va.Elem().Kind() != reflect.Struct {
		return reflect.DeepEqual(a, b)
	}
	va, vb = va.Elem(), vb.Elem()
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i), vb.Field(i)
		if !va.Type().Field(i).IsExported() {
			continue
		}
		if pm, ok := fa.Addr().Interface().(proto.Message); ok {
			if !proto.Equal(pm, fb.Addr().Interface().(proto.Message)) {
				return false
			}
			continue
		}
		if !apiequality.Semantic.DeepEqual(fa.Interface(), fb.Interface()) {
			return false
		}
	}
	return true
}

func jsonOf(x any) string {
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
