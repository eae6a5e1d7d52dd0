package services_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks/services"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

// liveMesh builds n services in 10 namespaces as a live cluster shows them:
// a Deployment, two Running and Ready injected pods and one EndpointSlice
// each (5n objects).
func liveMesh(n int) (*snapshot.Snapshot, *config.Config) {
	var objs []*snapshot.Object
	add := func(kind, key, ns, name string, labels map[string]string, typed any) {
		objs = append(objs, &snapshot.Object{Kind: kind, Key: key, Namespace: ns, Name: name, Labels: labels, Typed: typed, Origin: snapshot.Origin{File: "cluster"}})
	}
	cfg := config.Default()
	for i := 0; i < 10; i++ {
		add("Namespace", snapshot.Namespace, "", fmt.Sprintf("ns%d", i), map[string]string{"istio-injection": "enabled"}, &corev1.Namespace{})
	}
	ready := true
	for i := 0; i < n; i++ {
		ns, name := fmt.Sprintf("ns%d", i%10), fmt.Sprintf("svc%d", i)
		lbl := map[string]string{"app": name}
		cfg.CriticalServices = append(cfg.CriticalServices, config.Service{Name: name, Namespace: ns})
		add("Service", snapshot.Service, ns, name, nil, &corev1.Service{Spec: corev1.ServiceSpec{Selector: lbl,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}})
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
		add("Deployment", snapshot.Deployment, ns, name, nil, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl}})
		var eps []discoveryv1.Endpoint
		for j := 0; j < 2; j++ {
			pod := fmt.Sprintf("%s-7c9d8f6b5-%05d", name, j)
			pl := map[string]string{"app": name, "pod-template-hash": "7c9d8f6b5"}
			ctrl := true
			add("Pod", snapshot.Pod, ns, pod, pl, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, Labels: pl,
					OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: name + "-7c9d8f6b5", Controller: &ctrl}}},
				Spec:   corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", j), Containers: []corev1.Container{{Name: "app"}, {Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.30.2"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
			})
			eps = append(eps, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256)},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}})
		}
		pn, port := "http", int32(8080)
		sl := name + "-x" + fmt.Sprint(i%97)
		add("EndpointSlice", snapshot.EndpointSlice, ns, sl, map[string]string{"kubernetes.io/service-name": name},
			&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps, Ports: []discoveryv1.EndpointPort{{Name: &pn, Port: &port}}})
	}
	s := snapshot.New(objs)
	s.Live = &snapshot.LiveInfo{Context: "scale", ServerVersion: "v1.35.0"}
	return s, cfg
}

// The live part of service.S.mesh-integration runs once per critical
// service: it must use per-snapshot indexes, not scan pods and slices per service.
func TestLiveScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	snap, cfg := liveMesh(5000)
	var ck *check.Check
	for _, c := range services.Checks() {
		if c.ID == "service.S.mesh-integration" {
			ck = c
		}
	}
	start := time.Now()
	for i := range cfg.CriticalServices {
		s := cfg.CriticalServices[i]
		c := check.NewContext(snap, cfg, &s, ck.Reads, check.Live, time.Now())
		ck.Live(c)
		if st, _, fs := c.Result(); st != report.Pass {
			t.Fatalf("%s: %s %+v", s.Name, st, fs)
		}
	}
	el := time.Since(start)
	t.Logf("live mesh-integration × 5000 services (25,000 objects): %s", el)
}

// TestLiveConcurrent evaluates the live part from several goroutines, as
// the engine does: the per-snapshot pod and slice indexes must be safe (-race).
func TestLiveConcurrent(t *testing.T) {
	snap, cfg := liveMesh(200)
	var ck *check.Check
	for _, c := range services.Checks() {
		if c.ID == "service.S.mesh-integration" {
			ck = c
		}
	}
	done := make(chan string, len(cfg.CriticalServices))
	for w := 0; w < 8; w++ {
		go func(w int) {
			for i := w; i < len(cfg.CriticalServices); i += 8 {
				s := cfg.CriticalServices[i]
				c := check.NewContext(snap, cfg, &s, ck.Reads, check.Live, time.Now())
				ck.Live(c)
				st, _, _ := c.Result()
				done <- s.Name + ":" + string(st)
			}
		}(w)
	}
	for range cfg.CriticalServices {
		if r := <-done; !strings.HasSuffix(r, ":pass") {
			t.Error(r)
		}
	}
}
