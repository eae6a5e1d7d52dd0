package cluster

import (
	"fmt"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

// TestBuiltinTypesMatchLoader: each built-in kind is listed into the Go
// type the loader decodes the same kind into, so that checks see one type
// whatever the source.
func TestBuiltinTypesMatchLoader(t *testing.T) {
	for key, b := range builtins {
		kind, _ := splitKey(key)
		apiVersion := b.version
		if b.group != "" {
			apiVersion = b.group + "/" + b.version
		}
		doc := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":"x","namespace":"y"}}`, apiVersion, kind)
		objs, errs := loader.LoadBytes("probe.json", []byte(doc))
		if len(objs) != 1 || len(errs) > 0 || objs[0].Key != key {
			t.Errorf("%s: the loader gave %v %v", key, objs, errs)
			continue
		}
		want := reflect.TypeOf(objs[0].Typed)
		var got reflect.Type
		switch key {
		case snapshot.ConfigMap:
			got = reflect.TypeOf(&corev1.ConfigMap{})
		case snapshot.Secret:
			got = reflect.TypeOf(&corev1.Secret{})
		default:
			list, err := newList(schema.GroupVersion{Group: b.group, Version: b.version}, kind)
			if err != nil {
				t.Fatal(err)
			}
			items, ok := reflect.TypeOf(list).Elem().FieldByName("Items")
			if !ok {
				t.Fatalf("%s: %T has no Items", key, list)
			}
			got = reflect.PointerTo(items.Type.Elem())
		}
		if got != want {
			t.Errorf("%s: listed as %v, the loader decodes %v", key, got, want)
		}
	}
}

func TestCustomKindsDecodedLikeTheLoader(t *testing.T) {
	for _, c := range []struct {
		apiVersion, kind string
		typed            bool
	}{
		{"networking.istio.io/v1", "VirtualService", true},
		{"networking.istio.io/v1beta1", "VirtualService", true},
		{"networking.istio.io/v1alpha3", "EnvoyFilter", true},
		{"gateway.networking.k8s.io/v1", "HTTPRoute", true},
		{"monitoring.coreos.com/v1", "PrometheusRule", true},
		{"grafana.integreatly.org/v1beta1", "GrafanaDashboard", false}, // metadata only
		{"kiali.io/v1alpha1", "Kiali", false},
	} {
		if got := loaderDecodes(c.apiVersion, c.kind); got != c.typed {
			t.Errorf("%s %s: typed %v, want %v", c.apiVersion, c.kind, got, c.typed)
		}
	}
}

func TestDataRule(t *testing.T) {
	mount := func(kind, ns, name, image string, cms ...string) *snapshot.Object {
		spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}
		for _, cm := range cms {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: cm, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}})
		}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: spec}}}
		return &snapshot.Object{Kind: kind, Key: snapshot.Deployment, Namespace: ns, Name: name, Typed: d}
	}
	r := NewDataRule("istio-system", []*snapshot.Object{
		mount("Deployment", "monitoring", "prometheus", "quay.io/prometheus/prometheus:v3.5.0", "prometheus-config", "prometheus-rules"),
		mount("Deployment", "monitoring", "kiali", "quay.io/kiali/kiali:v2.12.0"),
		mount("Deployment", "shop", "app", "registry.example.com/app:1", "app-config"),
	})
	owned := []metav1.OwnerReference{{APIVersion: "monitoring.coreos.com/v1", Kind: "Prometheus", Name: "k8s"}}
	for _, c := range []struct {
		ns, name string
		labels   map[string]string
		owners   []metav1.OwnerReference
		want     bool
	}{
		{"istio-system", "istio", nil, nil, true},
		{"istio-system", "istio-canary", nil, nil, true},
		{"istio-system", "istio-sidecar-injector", nil, nil, true},
		{"istio-system", "other", nil, nil, false},
		{"shop", "istio", nil, nil, false},
		{"monitoring", "prometheus-config", nil, nil, true},
		{"monitoring", "prometheus-rules", nil, nil, true},
		{"monitoring", "prometheus-k8s-rulefiles-0", nil, owned, false},
		{"monitoring", "kiali", nil, nil, true},
		{"shop", "kiali", nil, nil, false},
		{"anywhere", "dash", map[string]string{LabelGrafanaDashboard: ""}, nil, true},
		{"shop", "app-config", nil, nil, false}, // mounted, but by an application
	} {
		if got := r.Reason(c.ns, c.name, c.labels, c.owners) != ""; got != c.want {
			t.Errorf("%s/%s: data read %v, want %v", c.ns, c.name, got, c.want)
		}
	}
}

func TestOverlay(t *testing.T) {
	o := func(key, ns, name, file string) *snapshot.Object {
		return &snapshot.Object{Key: key, Namespace: ns, Name: name, Origin: snapshot.Origin{File: file}}
	}
	live := []*snapshot.Object{o(snapshot.Service, "a", "x", "cluster"), o(snapshot.Service, "a", "y", "cluster"), o(snapshot.Deployment, "a", "x", "cluster")}
	files := []*snapshot.Object{o(snapshot.Service, "a", "x", "f.yaml"), o(snapshot.Service, "b", "z", "f.yaml")}
	s := snapshot.New(Overlay(live, files))
	if len(s.All()) != 4 || s.Get(snapshot.Service, "a", "x").Origin.File != "f.yaml" || s.Get(snapshot.Deployment, "a", "x").Origin.File != "cluster" {
		t.Errorf("overlay: %v", s.All())
	}
}

func TestRBACRulesAndPlural(t *testing.T) {
	for in, want := range map[string]string{"gateway": "gateways", "policy": "policies", "prometheus": "prometheuses", "ingress": "ingresses", "gateway-class": "gateway-classes"} {
		if got := plural(in); got != want {
			t.Errorf("plural(%s) = %s, want %s", in, got, want)
		}
	}
	got := RBACRules([]string{snapshot.ConfigMap, snapshot.Secret, snapshot.Deployment, snapshot.Gateway, snapshot.KGateway, "Widget.example.com"})
	rule := func(group, resource string, verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs}
	}
	want := []rbacv1.PolicyRule{
		rule("", "configmaps", "get", "list"),
		rule("", "secrets", "list"),
		rule("apps", "deployments", "list"),
		rule("example.com", "widgets", "list"),
		rule("gateway.networking.k8s.io", "gateways", "list"),
		rule("networking.istio.io", "gateways", "list"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules:\n%v\nwant\n%v", got, want)
	}
}

func TestListMeta(t *testing.T) {
	for _, c := range []struct{ body, cont string }{
		{`{"apiVersion":"v1","items":[{"metadata":{"name":"a"}}],"kind":"XList","metadata":{"continue":"tok","resourceVersion":"5"}}`, "tok"},
		{"{\"items\":[],\"metadata\":{\"continue\":\"t2\"}}\n", "t2"},
		// metadata first: the last "metadata" is an item's; the full decode finds the list's.
		{`{"metadata":{"continue":"t3"},"items":[{"metadata":{"name":"a"}}]}`, "t3"},
		{`{"items":[{"metadata":{"name":"a"}}],"metadata":{}}`, ""},
	} {
		lm, err := listMeta([]byte(c.body))
		if err != nil || lm.Continue != c.cont {
			t.Errorf("%s: continue %q, %v; want %q", c.body, lm.Continue, err, c.cont)
		}
	}
}
