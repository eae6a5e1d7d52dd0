package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/meshready/meshready/internal/snapshot"
)

// Annotations that servers and clients set, never the user: dropped.
var serverAnnotations = []string{
	"kubectl.kubernetes.io/last-applied-configuration", // the whole object again (and a Secret's values)
	"deployment.kubernetes.io/revision",                // the Deployment controller's counter
}

// Metadata fields the API server sets: an object carrying them cannot be
// re-created from the file (resourceVersion conflicts, uid and owner
// references point at objects that no longer exist).
var serverMetadata = []string{
	"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
}

// Content returns the object as a clean manifest: apiVersion, kind,
// metadata without server-set fields, and the spec (or data), never status.
// raw is used for objects that have no typed form (nil: not exportable).
func Content(o *snapshot.Object, raw RawFunc) (map[string]any, error) {
	var m map[string]any
	var err error
	switch t := o.Typed.(type) {
	case nil:
		if raw == nil {
			return nil, errNoContent
		}
		m, err = raw(o)
		if err == nil && m == nil {
			err = errNoContent
		}
	case map[string]any:
		m, err = viaJSON(t)
	default:
		if spec, ok := istioSpec(t); ok {
			m, err = istioContent(o, t, spec)
		} else if ro, ok := t.(runtime.Object); ok {
			m, err = kubeContent(o, ro)
		} else {
			err = fmt.Errorf("%s: cannot export a %T", o.ID(), t)
		}
	}
	if err != nil {
		return nil, err
	}
	clean(m, o)
	return m, nil
}

// errNoContent: the object was read without its content (a kind meshready
// does not decode, from a source that cannot be re-read).
var errNoContent = fmt.Errorf("its content was not read (a kind or version meshready does not decode, from a source it cannot re-read)")

// istioSpec returns the protobuf spec of an istio.io/client-go object.
func istioSpec(t any) (proto.Message, bool) {
	v := reflect.ValueOf(t)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName("Spec")
	if !f.IsValid() || !f.CanAddr() {
		return nil, false
	}
	m, ok := f.Addr().Interface().(proto.Message)
	return m, ok
}

func istioContent(o *snapshot.Object, t any, spec proto.Message) (map[string]any, error) {
	mo, ok := t.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%s: %T has no metadata", o.ID(), t)
	}
	meta, err := viaJSON(objectMeta(mo))
	if err != nil {
		return nil, err
	}
	dropNulls(meta)
	js, err := protojson.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: spec: %w", o.ID(), err)
	}
	var specMap map[string]any
	if err := decodeJSON(js, &specMap); err != nil {
		return nil, err
	}
	// The input's apiVersion: Istio's v1, v1beta1 and v1alpha3 share these specs.
	return map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind, "metadata": meta, "spec": specMap}, nil
}

func objectMeta(mo metav1.Object) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{
		Name: mo.GetName(), Namespace: mo.GetNamespace(), GenerateName: mo.GetGenerateName(),
		Labels: mo.GetLabels(), Annotations: mo.GetAnnotations(), Finalizers: mo.GetFinalizers(),
	}
}

func kubeContent(o *snapshot.Object, ro runtime.Object) (map[string]any, error) {
	m, err := viaJSON(ro)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.ID(), err)
	}
	// Typed objects print unset timestamps as null (creationTimestamp: null)
	// and unset non-pointer structs as {} (strategy: {}); neither means
	// anything in them.
	dropNulls(m)
	pruneZeroStructs(reflect.ValueOf(ro), m)
	// apiVersion from the Go type: the loader may have converted the object
	// (an autoscaling/v1 HPA is held as autoscaling/v2).
	if gvks, _, err := scheme.Scheme.ObjectKinds(ro); err == nil && len(gvks) > 0 {
		m["apiVersion"], m["kind"] = gvks[0].GroupVersion().String(), gvks[0].Kind
	} else {
		m["apiVersion"], m["kind"] = o.APIVersion, o.Kind
	}
	return m, nil
}

// viaJSON turns a value into plain maps, slices and scalars (integers as int64).
func viaJSON(v any) (map[string]any, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := decodeJSON(js, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeJSON(js []byte, into *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	*into = numbers(*into).(map[string]any)
	return nil
}

// numbers replaces json.Numbers by int64 or float64.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
		if x == nil {
			return map[string]any{}
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// clean removes status and server-set metadata, and what the server or
// istiod fills in on their own.
func clean(m map[string]any, o *snapshot.Object) {
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, k := range serverMetadata {
			delete(meta, k)
		}
		if a, ok := meta["annotations"].(map[string]any); ok {
			for _, k := range serverAnnotations {
				delete(a, k)
			}
			if len(a) == 0 {
				delete(meta, "annotations")
			}
		}
		if l, ok := meta["labels"].(map[string]any); ok && len(l) == 0 {
			delete(meta, "labels")
		}
		if o.Namespace != "" {
			meta["namespace"] = o.Namespace
		} else {
			delete(meta, "namespace")
		}
	}
	switch o.Key {
	case snapshot.Service:
		// The cluster IP is allocated by the API server: re-creating a
		// Service with it fails when the address was reused. Headless
		// ("None") is the user's choice and stays.
		if spec, ok := m["spec"].(map[string]any); ok {
			if ip, _ := spec["clusterIP"].(string); ip != "None" {
				delete(spec, "clusterIP")
				delete(spec, "clusterIPs")
			}
		}
	case snapshot.MutatingWebhookConfiguration, snapshot.ValidatingWebhookConfiguration:
		// istiod writes the CA bundle into its webhooks.
		if whs, ok := m["webhooks"].([]any); ok {
			for _, wh := range whs {
				if cc, ok := wh.(map[string]any)["clientConfig"].(map[string]any); ok {
					delete(cc, "caBundle")
				}
			}
		}
	}
}

// dropNulls removes null fields.
func dropNulls(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			dropNulls(e)
		}
	case []any:
		for _, e := range x {
			dropNulls(e)
		}
	}
}

// Encode writes objects as one YAML stream: apiVersion, kind, metadata
// (name, namespace, labels, annotations) first, every other key sorted.
func Encode(docs []map[string]any) ([]byte, error) {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		enc.CompactSeqIndent()
		if err := enc.Encode(node(d, "")); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

var keyOrder = map[string][]string{
	"":          {"apiVersion", "kind", "metadata", "spec", "data", "binaryData", "webhooks"},
	".metadata": {"name", "generateName", "namespace", "labels", "annotations"},
}

func node(v any, path string) *yaml.Node {
	switch x := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		first := keyOrder[path]
		if strings.HasSuffix(path, ".metadata") {
			first = keyOrder[".metadata"]
		}
		rank := func(k string) int {
			for i, f := range first {
				if f == k {
					return i
				}
			}
			return len(first)
		}
		sort.Slice(keys, func(i, j int) bool {
			ri, rj := rank(keys[i]), rank(keys[j])
			if ri != rj {
				return ri < rj
			}
			return keys[i] < keys[j]
		})
		for _, k := range keys {
			kn := &yaml.Node{}
			_ = kn.Encode(k)
			n.Content = append(n.Content, kn, node(x[k], path+"."+k))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range x {
			n.Content = append(n.Content, node(e, path+"[]"))
		}
		return n
	}
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		_ = n.Encode(fmt.Sprint(v))
	}
	if s, ok := v.(string); ok && strings.Contains(s, "\n") && n.Style == 0 {
		n.Style = yaml.LiteralStyle
	}
	return n
}

// pruneZeroStructs removes, guided by the Go type the map was marshalled
// from, what encoding/json prints for zero-valued struct fields ({}, or a
// zero IntOrString's 0). Pointers to empty structs (emptyDir: {}) are set
// on purpose and stay.
func pruneZeroStructs(v reflect.Value, m any) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		mm, ok := m.(map[string]any)
		if !ok {
			return
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			fv := v.Field(i)
			if f.Anonymous && name == "" {
				pruneZeroStructs(fv, mm) // inlined (TypeMeta, ObjectMeta in some types)
				continue
			}
			if name == "" {
				name = f.Name
			}
			sub, present := mm[name]
			if !present {
				continue
			}
			// encoding/json's omitempty never omits a struct. A zero struct
			// decodes from an absent field just the same, so it goes: as {}
			// always, and in any form (targetPort: 0) when omitempty says
			// absent was meant.
			if fv.Kind() == reflect.Struct && fv.IsZero() {
				if e, ok := sub.(map[string]any); (ok && len(e) == 0) || strings.Contains(opts, "omitempty") {
					delete(mm, name)
					continue
				}
			}
			pruneZeroStructs(fv, sub)
		}
	case reflect.Slice, reflect.Array:
		l, ok := m.([]any)
		if !ok || v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len() && i < len(l); i++ {
			pruneZeroStructs(v.Index(i), l[i])
		}
	case reflect.Map:
		mm, ok := m.(map[string]any)
		if !ok || v.Type().Key().Kind() != reflect.String {
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			if sub, ok := mm[iter.Key().String()]; ok {
				pruneZeroStructs(iter.Value(), sub)
			}
		}
	}
}
