package mesh

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodOwner(t *testing.T) {
	yes := true
	pod := func(labels map[string]string, kind, name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}}}
	}
	none := func(string, string) bool { return false }
	cases := []struct {
		p    *corev1.Pod
		want string
	}{
		{pod(map[string]string{LabelPodTemplateHash: "6f7d8c9b5"}, "ReplicaSet", "cart-api-6f7d8c9b5"), "Deployment shop/cart-api"},
		{pod(nil, "ReplicaSet", "cart-api-6f7d8c9b5"), "ReplicaSet shop/cart-api-6f7d8c9b5"},
		{pod(map[string]string{LabelPodTemplateHash: "other"}, "ReplicaSet", "cart-api-6f7d8c9b5"), "ReplicaSet shop/cart-api-6f7d8c9b5"},
		{pod(nil, "StatefulSet", "qdrant"), "StatefulSet shop/qdrant"},
		{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}}, "no controller (a bare pod)"},
	}
	for _, c := range cases {
		if got := PodOwner(c.p, none).String(); got != c.want {
			t.Errorf("PodOwner = %q, want %q", got, c.want)
		}
	}
	// Without the hash label, an existing Deployment confirms the name.
	exists := func(ns, name string) bool { return ns == "shop" && name == "cart-api" }
	if got := PodOwner(pod(nil, "ReplicaSet", "cart-api-6f7d8c9b5"), exists).String(); got != "Deployment shop/cart-api" {
		t.Errorf("PodOwner with an existing Deployment = %q", got)
	}
}

func TestProxyContainerNative(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	spec := &corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-validation"}, {Name: ProxyContainerName, RestartPolicy: &always}}}
	if ct, native := ProxyContainer(spec); ct == nil || !native {
		t.Fatalf("native sidecar not found: %v %v", ct, native)
	}
	spec.InitContainers[1].RestartPolicy = nil // a plain init container named istio-proxy is no sidecar
	if ct, _ := ProxyContainer(spec); ct != nil {
		t.Fatal("a run-to-completion init container counted as the proxy")
	}
}

func TestLabelsLastSetAt(t *testing.T) {
	t1 := metav1.NewTime(time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC))
	t2 := metav1.NewTime(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-create", Time: &t1, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:kubernetes.io/metadata.name":{}}}}`)}},
		{Manager: "kubectl-label", Time: &t2, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:istio-injection":{}}}}`)}},
	}}}
	at, mgr, ok := LabelsLastSetAt(ns, LabelInjection, LabelRev)
	if !ok || mgr != "kubectl-label" || !at.Equal(t2.Time) {
		t.Fatalf("got %v %q %v", at, mgr, ok)
	}
	if _, _, ok := LabelsLastSetAt(&corev1.Namespace{}, LabelInjection); ok {
		t.Fatal("no managedFields must give ok=false")
	}
}
