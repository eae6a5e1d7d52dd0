package testcluster

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// FieldManager is the server-side apply field manager used by Apply.
const FieldManager = "meshready-testcluster"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// IstioCRDs is the CRD bundle of istio.io/api (see testdata/istio-crds.yaml).
//
//go:embed testdata/istio-crds.yaml
var IstioCRDs []byte

// InstallIstioCRDs applies the Istio CRDs and waits until all of them are
// Established and served.
func (c *Cluster) InstallIstioCRDs(ctx context.Context) error {
	return c.ApplyYAML(ctx, IstioCRDs)
}

// ApplyYAML applies a multi-document YAML (or JSON) manifest; see Apply.
func (c *Cluster) ApplyYAML(ctx context.Context, manifest []byte) error {
	objs, err := DecodeYAML(manifest)
	if err != nil {
		return err
	}
	rs := make([]runtime.Object, len(objs))
	for i, o := range objs {
		rs[i] = o
	}
	return c.Apply(ctx, rs...)
}

// DecodeYAML splits a multi-document YAML or JSON manifest into objects,
// expanding kind: List.
func DecodeYAML(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for i := 0; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			if err := u.EachListItem(func(o runtime.Object) error {
				out = append(out, o.(*unstructured.Unstructured))
				return nil
			}); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, u)
	}
}

// Apply creates or updates objects with server-side apply (field manager
// FieldManager, forced), in order, as the admin. Objects may be typed
// (client-go scheme types need no TypeMeta; others must set it) or
// *unstructured.Unstructured. Namespaced objects without a namespace go to
// "default". CustomResourceDefinitions are waited for (Established and
// visible in discovery) before any later object is applied, and at the end.
func (c *Cluster) Apply(ctx context.Context, objs ...runtime.Object) error {
	var pendingCRDs []string
	flush := func() error {
		if len(pendingCRDs) == 0 {
			return nil
		}
		err := c.WaitForCRDs(ctx, pendingCRDs...)
		pendingCRDs = nil
		return err
	}
	for _, obj := range objs {
		u, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		isCRD := u.GroupVersionKind().GroupKind() == schema.GroupKind{Group: crdGVR.Group, Kind: "CustomResourceDefinition"}
		if !isCRD {
			if err := flush(); err != nil {
				return err
			}
		}
		if err := c.applyOne(ctx, u); err != nil {
			return err
		}
		if isCRD {
			pendingCRDs = append(pendingCRDs, u.GetName())
		}
	}
	return flush()
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy(), nil
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Empty() {
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil || len(gvks) == 0 {
			return nil, fmt.Errorf("apply %T: set apiVersion and kind (type not in the client-go scheme): %v", obj, err)
		}
		gvk = gvks[0]
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("apply %T: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

func (c *Cluster) applyOne(ctx context.Context, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	desc := fmt.Sprintf("%s %s", gvk.Kind, u.GetName())
	if gvk.Kind == "" || gvk.Version == "" {
		return fmt.Errorf("apply %q: apiVersion and kind are required", u.GetName())
	}
	if u.GetName() == "" {
		return fmt.Errorf("apply %s: metadata.name is required (generateName is not supported by apply)", gvk.Kind)
	}
	mapping, err := c.restMapping(ctx, gvk)
	if err != nil {
		return fmt.Errorf("apply %s: %w", desc, err)
	}
	// Fields a read-back object carries that apply rejects or misreads.
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(u.Object, "metadata", "uid")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")

	ri := c.dynamic.Resource(mapping.Resource)
	var res interface {
		Apply(context.Context, string, *unstructured.Unstructured, metav1.ApplyOptions, ...string) (*unstructured.Unstructured, error)
	} = ri
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if u.GetNamespace() == "" {
			u.SetNamespace(metav1.NamespaceDefault)
		}
		desc = fmt.Sprintf("%s %s/%s", gvk.Kind, u.GetNamespace(), u.GetName())
		res = ri.Namespace(u.GetNamespace())
	} else {
		u.SetNamespace("")
	}
	if _, err := res.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply %s: %w", desc, err)
	}
	return nil
}

// restMapping resolves gvk, refreshing discovery for a few seconds when the
// type is not (yet) known, e.g. right after its CRD was created.
func (c *Cluster) restMapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil || !meta.IsNoMatchError(err) || time.Now().After(deadline) {
			return m, err
		}
		c.mapper.Reset()
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitForCRDs waits until the named CustomResourceDefinitions are
// Established and their kinds resolve through Mapper.
func (c *Cluster) WaitForCRDs(ctx context.Context, names ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var kinds []schema.GroupVersionKind
	for _, name := range names {
		for {
			crd, err := c.dynamic.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err == nil && crdEstablished(crd) {
				kinds = append(kinds, servedKinds(crd)...)
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD %s not established: %v (last error: %v)", name, ctx.Err(), err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	c.mapper.Reset()
	for _, gvk := range kinds {
		if _, err := c.restMapping(ctx, gvk); err != nil {
			return fmt.Errorf("CRD kind %s not discoverable: %w", gvk, err)
		}
	}
	return nil
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func servedKinds(crd *unstructured.Unstructured) []schema.GroupVersionKind {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []schema.GroupVersionKind
	for _, v := range versions {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		if served, _ := m["served"].(bool); served && name != "" {
			out = append(out, schema.GroupVersionKind{Group: group, Version: name, Kind: kind})
		}
	}
	return out
}
