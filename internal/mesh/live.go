package mesh

// Live-state helpers: pods, nodes and EndpointSlices as a running cluster
// reports them (status set by the kubelet and the controllers). Used by the
// live parts of the items; offline inputs rarely carry these kinds.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshready/meshready/internal/snapshot"
)

// Labels and names the live helpers read.
const (
	LabelPodTemplateHash    = "pod-template-hash"
	LabelServiceName        = discoveryv1.LabelServiceName // kubernetes.io/service-name
	ValidationInitName      = "istio-validation"           // the CNI-mode init container
	AnnotationSidecarStatus = "sidecar.istio.io/status"
)

// LiveOrigin is the Origin.File of objects listed from a running cluster.
const LiveOrigin = "cluster"

// FromCluster reports whether an object was listed from the live cluster
// (rather than given as a file laid over it).
func FromCluster(o *snapshot.Object) bool { return o != nil && o.Origin.File == LiveOrigin }

// PodOf returns an object's typed Pod, or nil.
func PodOf(o *snapshot.Object) *corev1.Pod {
	p, _ := o.Typed.(*corev1.Pod)
	return p
}

// PodRunning reports whether a pod is Running and not being deleted.
func PodRunning(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning
}

// PodReady reports whether a pod is Running, not being deleted, and its
// Ready condition is True (all containers ready, readiness gates passed).
func PodReady(p *corev1.Pod) bool {
	if !PodRunning(p) {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodNotReadyReason says why a pod is not Ready, from its status: phase,
// deletion, waiting/terminated container reasons, restarts, the Ready
// condition's reason.
func PodNotReadyReason(p *corev1.Pod) string {
	var parts []string
	if p.DeletionTimestamp != nil {
		parts = append(parts, "terminating")
	}
	phase := string(p.Status.Phase)
	if phase == "" {
		phase = "unknown"
	}
	parts = append(parts, "phase "+phase)
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			parts = append(parts, fmt.Sprintf("container %s waiting: %s", cs.Name, cs.State.Waiting.Reason))
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "" && cs.State.Terminated.ExitCode != 0:
			parts = append(parts, fmt.Sprintf("container %s terminated: %s (exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
		case cs.State.Running != nil && !cs.Ready && !isInit(p, cs.Name):
			parts = append(parts, fmt.Sprintf("container %s not ready", cs.Name))
		}
		if cs.RestartCount > 0 {
			parts = append(parts, fmt.Sprintf("container %s restarted %d time(s)", cs.Name, cs.RestartCount))
		}
	}
	found := false
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		found = true
		if c.Status != corev1.ConditionTrue {
			s := "Ready=" + string(c.Status)
			if c.Reason != "" {
				s += " (" + c.Reason
				if c.Message != "" {
					s += ": " + c.Message
				}
				s += ")"
			}
			parts = append(parts, s)
		}
	}
	if !found {
		parts = append(parts, "no Ready condition reported")
	}
	return strings.Join(parts, ", ")
}

func isInit(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// ProxyContainer returns a pod spec's istio-proxy container: a regular
// container, or a native sidecar (an init container with restartPolicy
// Always); native says which. Nil without a proxy.
func ProxyContainer(spec *corev1.PodSpec) (ct *corev1.Container, native bool) {
	for i := range spec.Containers {
		if spec.Containers[i].Name == ProxyContainerName {
			return &spec.Containers[i], false
		}
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.Name == ProxyContainerName && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return c, true
		}
	}
	return nil, false
}

// InitContainerNamed returns a pod spec's init container by name, or nil.
func InitContainerNamed(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Name == name {
			return &spec.InitContainers[i]
		}
	}
	return nil
}

// PodOptsOut reports whether a pod opts out of injection, and how.
func PodOptsOut(meta map[string]string, annotations map[string]string) (bool, string) {
	if meta[LabelInjectPod] == "false" {
		return true, "label " + LabelInjectPod + "=false"
	}
	if annotations[AnnotationInject] == "false" {
		return true, "annotation " + AnnotationInject + "=false"
	}
	return false, ""
}

// IsGatewayPod reports whether a pod runs a gateway proxy (the gateway
// injection template, or deployed for a Gateway API Gateway).
func IsGatewayPod(p *corev1.Pod) bool {
	t := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels, Annotations: p.Annotations}, Spec: corev1.PodSpec{Containers: p.Spec.Containers}}
	return gatewaySignal(t) != ""
}

// Owner is the workload that owns a pod, as ownerReferences say.
type Owner struct {
	Kind, Namespace, Name string // "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "" (bare pod)
}

// PodOwner resolves a pod's controller. A ReplicaSet is followed to its
// Deployment by the Deployment controller's naming rule: it names its
// ReplicaSets <deployment>-<pod-template-hash> and labels their pods with
// that hash, so a ReplicaSet owner whose name ends in the pod's hash belongs
// to that Deployment (no ReplicaSet needs to be read). Without the hash label
// the name before the last '-' is taken when deploymentExists confirms it;
// otherwise the ReplicaSet itself is the owner.
func PodOwner(p *corev1.Pod, deploymentExists func(ns, name string) bool) Owner {
	for _, ref := range p.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		o := Owner{Kind: ref.Kind, Namespace: p.Namespace, Name: ref.Name}
		if ref.Kind != "ReplicaSet" {
			return o
		}
		if h := p.Labels[LabelPodTemplateHash]; h != "" {
			if dep, ok := strings.CutSuffix(ref.Name, "-"+h); ok && dep != "" {
				o.Kind, o.Name = "Deployment", dep
			}
			return o
		}
		if i := strings.LastIndexByte(ref.Name, '-'); i > 0 && deploymentExists != nil && deploymentExists(p.Namespace, ref.Name[:i]) {
			o.Kind, o.Name = "Deployment", ref.Name[:i]
		}
		return o
	}
	return Owner{Namespace: p.Namespace}
}

// String is "Deployment ns/name", or "no controller" for a bare pod.
func (o Owner) String() string {
	if o.Kind == "" {
		return "no controller (a bare pod)"
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// RestartCommand is the kubectl command that recreates the owner's pods
// (for a bare pod: delete it so its creator recreates it).
func (o Owner) RestartCommand(pod string) string {
	switch o.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return fmt.Sprintf("kubectl rollout restart %s/%s -n %s", strings.ToLower(o.Kind), o.Name, o.Namespace)
	case "":
		return fmt.Sprintf("kubectl delete pod %s -n %s   # a bare pod: recreate it from its manifest afterwards", pod, o.Namespace)
	default:
		return fmt.Sprintf("kubectl delete pod %s -n %s   # owned by %s %s: its controller recreates it", pod, o.Namespace, o.Kind, o.Name)
	}
}

// WorkloadPods returns the pods of a workload: pods of its namespace that
// its selector matches and whose controller (resolved by PodOwner) is the
// workload itself. Pods come sorted by name. Reads Pod.
func WorkloadPods(r Reader, w Workload) []*snapshot.Object {
	sel := workloadSelector(w)
	var out []*snapshot.Object
	for _, o := range r.InNamespace(snapshot.Pod, w.Object.Namespace) {
		p := PodOf(o)
		if p == nil {
			continue
		}
		if sel != nil {
			if !LabelSelectorMatches(sel, p.Labels) {
				continue
			}
		} else if !snapshot.SelectorMatches(w.Template.Labels, p.Labels) || len(w.Template.Labels) == 0 {
			continue
		}
		own := PodOwner(p, func(_, name string) bool { return w.Object.Kind == "Deployment" && name == w.Object.Name })
		if own.Kind != "" && (own.Kind != w.Object.Kind || own.Name != w.Object.Name) {
			continue
		}
		out = append(out, o)
	}
	return out
}

func workloadSelector(w Workload) *metav1.LabelSelector {
	switch t := w.Object.Typed.(type) {
	case *appsv1.Deployment:
		return t.Spec.Selector
	case *appsv1.StatefulSet:
		return t.Spec.Selector
	case *appsv1.DaemonSet:
		return t.Spec.Selector
	}
	return nil
}

// PodNames lists pod names, at most max, then "and N more".
func PodNames(pods []*snapshot.Object, max int) string {
	var names []string
	for i, o := range pods {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(pods)-max))
			break
		}
		names = append(names, o.Name)
	}
	return strings.Join(names, ", ")
}

// NodeOf returns an object's typed Node, or nil.
func NodeOf(o *snapshot.Object) *corev1.Node {
	n, _ := o.Typed.(*corev1.Node)
	return n
}

// NodeReady reports whether a node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// LabelZone is the well-known zone label of Nodes.
const LabelZone = corev1.LabelTopologyZone

// SliceIndex holds EndpointSlices by the Service they belong to
// (label kubernetes.io/service-name). Build it once per check.
type SliceIndex map[string][]*snapshot.Object // key "ns/service"

// NewSliceIndex indexes every EndpointSlice. Reads EndpointSlice.
func NewSliceIndex(r Reader) SliceIndex {
	ix := SliceIndex{}
	for _, o := range r.List(snapshot.EndpointSlice) {
		if svc := o.Labels[LabelServiceName]; svc != "" {
			k := o.Namespace + "/" + svc
			ix[k] = append(ix[k], o)
		}
	}
	return ix
}

// Slices returns the EndpointSlices of one Service.
func (ix SliceIndex) Slices(ns, svc string) []*snapshot.Object { return ix[ns+"/"+svc] }

// EndpointsSummary counts a Service's endpoints from its EndpointSlices.
type EndpointsSummary struct {
	Slices      int
	Ready       int
	NotReady    int
	ReadyPods   []string          // targetRef pod names of ready endpoints, sorted
	ReadyByPort map[string]int    // port name -> ready endpoints serving it
	NotReadyPod map[string]string // pod -> "terminating" / "not ready"
}

// NotReadyList names the not-ready endpoints' pods with why (at most max,
// then "and N more"), for findings.
func (s EndpointsSummary) NotReadyList(max int) string {
	if len(s.NotReadyPod) == 0 {
		return "no pod targetRefs"
	}
	keys := make([]string, 0, len(s.NotReadyPod))
	for k := range s.NotReadyPod {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range Limit(keys, max) {
		if why, ok := s.NotReadyPod[k]; ok {
			parts = append(parts, k+" "+why)
		} else {
			parts = append(parts, k)
		}
	}
	return strings.Join(parts, ", ")
}

// Limit keeps the first n names of a list and says how many it left out,
// so that a finding about thousands of pods stays readable.
func Limit(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(append([]string(nil), list[:n]...), fmt.Sprintf("and %d more", len(list)-n))
}

// EndpointReady is the endpoint's ready condition; nil means ready (the
// API's "unknown state, interpret as ready").
func EndpointReady(e discoveryv1.Endpoint) bool {
	if e.Conditions.Ready == nil {
		return true
	}
	return *e.Conditions.Ready
}

// SummarizeEndpoints counts ready endpoints across slices, per port name.
func SummarizeEndpoints(slices []*snapshot.Object) EndpointsSummary {
	s := EndpointsSummary{ReadyByPort: map[string]int{}, NotReadyPod: map[string]string{}}
	seen := map[string]bool{}
	for _, o := range slices {
		es, ok := o.Typed.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		s.Slices++
		for _, e := range es.Endpoints {
			pod := ""
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				pod = e.TargetRef.Name
			}
			if EndpointReady(e) {
				s.Ready++
				if pod != "" && !seen[pod] {
					seen[pod] = true
					s.ReadyPods = append(s.ReadyPods, pod)
				}
				for _, p := range es.Ports {
					name := ""
					if p.Name != nil {
						name = *p.Name
					}
					s.ReadyByPort[name]++
				}
				continue
			}
			s.NotReady++
			if pod != "" {
				why := "not ready"
				if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
					why = "terminating"
				}
				s.NotReadyPod[pod] = why
			}
		}
	}
	sort.Strings(s.ReadyPods)
	return s
}

// PodIndex finds pods by label selector without scanning a namespace per
// query (as WorkloadIndex does for workloads). Build it once per snapshot.
type PodIndex struct {
	byPair map[labelPair][]*snapshot.Object
}

// NewPodIndex indexes every Pod by its labels. Reads Pod.
func NewPodIndex(r Reader) *PodIndex {
	ix := &PodIndex{byPair: map[labelPair][]*snapshot.Object{}}
	for _, o := range r.List(snapshot.Pod) {
		for k, v := range o.Labels {
			key := labelPair{o.Namespace, k, v}
			ix.byPair[key] = append(ix.byPair[key], o)
		}
	}
	return ix
}

// Select returns the pods of ns whose labels match sel, sorted by name. An
// empty selector selects nothing.
func (ix *PodIndex) Select(ns string, sel map[string]string) []*snapshot.Object {
	if len(sel) == 0 {
		return nil
	}
	var best []*snapshot.Object
	first := true
	for k, v := range sel {
		l := ix.byPair[labelPair{ns, k, v}]
		if first || len(l) < len(best) {
			best, first = l, false
		}
		if len(best) == 0 {
			return nil
		}
	}
	var out []*snapshot.Object
	for _, o := range best {
		if snapshot.SelectorMatches(sel, o.Labels) {
			out = append(out, o) // List order: already sorted by namespace, name
		}
	}
	return out
}

// LabelsLastSetAt returns when the manager that last wrote one of the given
// label keys of an object updated it (from metadata.managedFields), and
// which manager it was. ok is false when managedFields are absent (the
// source dropped them) or name none of the keys. The time is an upper bound
// of when the label was set: the manager may have changed other fields later.
func LabelsLastSetAt(meta *corev1.Namespace, keys ...string) (at time.Time, manager string, ok bool) {
	for _, mf := range meta.ManagedFields {
		if mf.FieldsV1 == nil || mf.Time == nil {
			continue
		}
		raw := string(mf.FieldsV1.Raw)
		for _, k := range keys {
			if strings.Contains(raw, `"f:`+k+`"`) && (!ok || mf.Time.Time.After(at)) {
				at, manager, ok = mf.Time.Time, mf.Manager, true
			}
		}
	}
	return at, manager, ok
}
