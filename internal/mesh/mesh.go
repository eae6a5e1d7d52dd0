// Package mesh derives the mesh-level views that many checks share from a
// snapshot: which namespaces are in the mesh, which services are critical,
// the workloads behind a Service, the mesh and injector configuration.
// Every function reads through a Reader, so a check's reads stay declared.
package mesh

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/snapshot"
)

// Reader is what both *snapshot.Snapshot and *check.Context offer.
type Reader interface {
	List(kind string) []*snapshot.Object
	InNamespace(kind, ns string) []*snapshot.Object
	Get(kind, ns, name string) *snapshot.Object
	ByHost(kind, fqdn string) []*snapshot.Object
}

// Injection labels and annotations (as istio.io/api's annotation and label packages name them).
const (
	LabelInjection     = "istio-injection"
	LabelRev           = "istio.io/rev"
	AnnotationInject   = "sidecar.istio.io/inject"
	LabelInjectPod     = "sidecar.istio.io/inject"
	ProxyContainerName = "istio-proxy"
	InitContainerName  = "istio-init"
)

// InjectionEnabled reports whether a namespace's labels turn on injection.
func InjectionEnabled(labels map[string]string) bool {
	if labels[LabelInjection] == "enabled" {
		return true
	}
	_, rev := labels[LabelRev]
	return rev && labels[LabelInjection] != "disabled"
}

// Namespaces returns the mesh namespaces: the config's list, or else every
// Namespace object labelled for injection. Reads Namespace.
func Namespaces(r Reader, cfg *config.Config) []string {
	if len(cfg.MeshNamespaces) > 0 {
		out := append([]string(nil), cfg.MeshNamespaces...)
		sort.Strings(out)
		return out
	}
	var out []string
	for _, ns := range r.List(snapshot.Namespace) {
		if InjectionEnabled(ns.Labels) {
			out = append(out, ns.Name)
		}
	}
	return out
}

// IsMeshNamespace reports whether ns is in the list.
func IsMeshNamespace(nss []string, ns string) bool {
	for _, n := range nss {
		if n == ns {
			return true
		}
	}
	return false
}

// CriticalServices returns the config's critical services, or else every
// Service in a mesh namespace (a gate is strict by default). Reads Namespace, Service.
func CriticalServices(r Reader, cfg *config.Config) []config.Service {
	if len(cfg.CriticalServices) > 0 {
		return cfg.CriticalServices
	}
	var out []config.Service
	for _, ns := range Namespaces(r, cfg) {
		for _, s := range r.InNamespace(snapshot.Service, ns) {
			out = append(out, config.Service{Name: s.Name, Namespace: s.Namespace})
		}
	}
	return out
}

// Workload is a pod-owning object (Deployment, StatefulSet, DaemonSet) or a bare Pod.
type Workload struct {
	Object   *snapshot.Object
	Template *corev1.PodTemplateSpec // for a Pod: its metadata and spec
	Replicas int32                   // desired; 1 for a Pod, -1 for a DaemonSet
}

// WorkloadKinds are the kinds Workloads reads.
var WorkloadKinds = []string{snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet}

// Workloads returns the workloads of a namespace (Deployments, StatefulSets, DaemonSets).
func Workloads(r Reader, ns string) []Workload {
	var out []Workload
	for _, o := range r.InNamespace(snapshot.Deployment, ns) {
		if d, ok := o.Typed.(*appsv1.Deployment); ok {
			out = append(out, Workload{o, &d.Spec.Template, replicas(d.Spec.Replicas)})
		}
	}
	for _, o := range r.InNamespace(snapshot.StatefulSet, ns) {
		if s, ok := o.Typed.(*appsv1.StatefulSet); ok {
			out = append(out, Workload{o, &s.Spec.Template, replicas(s.Spec.Replicas)})
		}
	}
	for _, o := range r.InNamespace(snapshot.DaemonSet, ns) {
		if d, ok := o.Typed.(*appsv1.DaemonSet); ok {
			out = append(out, Workload{o, &d.Spec.Template, -1})
		}
	}
	return out
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1 // the API server's default
	}
	return *p
}

// SelectWorkloads returns the workloads in ns whose pod labels match sel.
// An empty selector selects nothing here (a Service without selector has no pods).
func SelectWorkloads(r Reader, ns string, sel map[string]string) []Workload {
	if len(sel) == 0 {
		return nil
	}
	var out []Workload
	for _, w := range Workloads(r, ns) {
		if snapshot.SelectorMatches(sel, w.Template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// ServiceOf returns a critical service's Service object and typed form (nil if absent).
func ServiceOf(r Reader, s config.Service) (*snapshot.Object, *corev1.Service) {
	o := r.Get(snapshot.Service, s.Namespace, s.Name)
	if o == nil {
		return nil, nil
	}
	svc, _ := o.Typed.(*corev1.Service)
	return o, svc
}

// BackingWorkloads returns the workloads a critical service's Service selects.
func BackingWorkloads(r Reader, s config.Service) []Workload {
	_, svc := ServiceOf(r, s)
	if svc == nil {
		return nil
	}
	return SelectWorkloads(r, s.Namespace, svc.Spec.Selector)
}

// PodInjected reports whether injection applies to a pod template in a
// namespace with the given labels: the namespace turns it on and the pod does
// not opt out (label or annotation sidecar.istio.io/inject=false), or the pod
// already carries the proxy container.
func PodInjected(nsLabels map[string]string, t *corev1.PodTemplateSpec) bool {
	for _, c := range t.Spec.Containers {
		if c.Name == ProxyContainerName {
			return true
		}
	}
	if t.Labels[LabelInjectPod] == "false" || t.Annotations[AnnotationInject] == "false" {
		return false
	}
	if InjectionEnabled(nsLabels) {
		return true
	}
	// A pod label can turn injection on where the namespace is unlabelled
	// and the webhook's objectSelector allows it.
	return t.Labels[LabelInjectPod] == "true" && nsLabels[LabelInjection] != "disabled"
}
