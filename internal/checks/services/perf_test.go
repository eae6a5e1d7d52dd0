package services_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networkingapi "istio.io/api/networking/v1alpha3"
	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks/services"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/snapshot"
)

// bigMesh builds n services in 10 namespaces, each with a Deployment, a
// VirtualService, a DestinationRule and an AuthorizationPolicy (5n objects),
// each service depending on the next one.
func bigMesh(n int) (*snapshot.Snapshot, *config.Config) {
	var objs []*snapshot.Object
	add := func(kind, key, ns, name string, labels map[string]string, typed any) {
		objs = append(objs, &snapshot.Object{Kind: kind, Key: key, Namespace: ns, Name: name, Labels: labels, Typed: typed})
	}
	cfg := config.Default()
	for i := 0; i < 10; i++ {
		ns := fmt.Sprintf("ns%d", i)
		add("Namespace", snapshot.Namespace, "", ns, map[string]string{"istio-injection": "enabled"}, &corev1.Namespace{})
	}
	add("PeerAuthentication", snapshot.PeerAuthentication, "istio-system", "default", nil,
		&securityv1.PeerAuthentication{Spec: securityapi.PeerAuthentication{Mtls: &securityapi.PeerAuthentication_MutualTLS{Mode: securityapi.PeerAuthentication_MutualTLS_STRICT}}})
	for i := 0; i < n; i++ {
		ns, name := fmt.Sprintf("ns%d", i%10), fmt.Sprintf("svc%d", i)
		next := fmt.Sprintf("svc%d.ns%d", (i+1)%n, ((i+1)%n)%10)
		host := name + "." + ns + ".svc.cluster.local"
		lbl := map[string]string{"app": name}
		cfg.CriticalServices = append(cfg.CriticalServices, config.Service{Name: name, Namespace: ns, DependsOn: []string{next}, Timeout: config.Duration(30 * time.Second)})
		add("Service", snapshot.Service, ns, name, nil, &corev1.Service{Spec: corev1.ServiceSpec{Selector: lbl,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}})
		tmpl := corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: lbl},
			Spec:       corev1.PodSpec{ServiceAccountName: name, Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}
		add("Deployment", snapshot.Deployment, ns, name, nil, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl}})
		add("VirtualService", snapshot.VirtualService, ns, name, nil, &networkingv1.VirtualService{Spec: networkingapi.VirtualService{Hosts: []string{name},
			Http: []*networkingapi.HTTPRoute{{Route: []*networkingapi.HTTPRouteDestination{{Destination: &networkingapi.Destination{Host: host}}},
				Timeout: durationpb.New(30 * time.Second), Retries: &networkingapi.HTTPRetry{Attempts: 2, PerTryTimeout: durationpb.New(10 * time.Second), RetryOn: "5xx"}}}}})
		add("DestinationRule", snapshot.DestinationRule, ns, name, nil, &networkingv1.DestinationRule{Spec: networkingapi.DestinationRule{Host: host,
			TrafficPolicy: &networkingapi.TrafficPolicy{ConnectionPool: &networkingapi.ConnectionPoolSettings{Tcp: &networkingapi.ConnectionPoolSettings_TCPSettings{MaxConnections: 10}},
				OutlierDetection: &networkingapi.OutlierDetection{Interval: durationpb.New(time.Second)}}}})
		prev := (i + n - 1) % n
		add("AuthorizationPolicy", snapshot.AuthorizationPolicy, ns, name, nil, &securityv1.AuthorizationPolicy{Spec: securityapi.AuthorizationPolicy{
			Selector: &typeapi.WorkloadSelector{MatchLabels: lbl},
			Rules: []*securityapi.Rule{{From: []*securityapi.Rule_From{{Source: &securityapi.Source{
				Principals: []string{fmt.Sprintf("cluster.local/ns/ns%d/sa/svc%d", prev%10, prev)}}}}}}}})
	}
	return snapshot.New(objs), cfg
}

func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	snap, cfg := bigMesh(5000)
	start := time.Now()
	for _, ck := range services.Checks() {
		if ck.Config == nil {
			continue
		}
		for i := range cfg.CriticalServices {
			s := cfg.CriticalServices[i]
			c := check.NewContext(snap, cfg, &s, ck.Reads, check.Config, time.Now())
			ck.Config(c)
			if st, _, fs := c.Result(); st != "pass" {
				t.Fatalf("%s %s: %s %+v", ck.ID, s.Name, st, fs)
			}
		}
	}
	el := time.Since(start)
	t.Logf("5 per-service config parts × 5000 services (25,000 objects): %s", el)
}

// TestConcurrent evaluates every service from several goroutines, as the
// engine does: the per-snapshot caches must be safe (run with -race).
func TestConcurrent(t *testing.T) {
	snap, cfg := bigMesh(200)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(cfg.CriticalServices); i += 8 {
				s := cfg.CriticalServices[i]
				for _, ck := range services.Checks() {
					if ck.Config == nil {
						continue
					}
					c := check.NewContext(snap, cfg, &s, ck.Reads, check.Config, time.Now())
					ck.Config(c)
					if st, _, _ := c.Result(); st != "pass" {
						select {
						case errs <- fmt.Sprintf("%s %s: %s", ck.ID, s.Name, st):
						default:
						}
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
