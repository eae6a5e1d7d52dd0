package mesh

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshready/meshready/internal/snapshot"
)

// Control-plane labels (as istio.io/api's label package names them).
const (
	LabelOperatorVersion = "operator.istio.io/version"
	LabelIstioTag        = "istio.io/tag"
	DefaultRevision      = "default"
	IstiodContainer      = "discovery"
)

// Istiod is one istiod Deployment: one control-plane revision.
type Istiod struct {
	Object     *snapshot.Object
	Deployment *appsv1.Deployment
	Revision   string            // "default" when the Deployment carries no revision
	Container  *corev1.Container // the "discovery" container, nil if absent
}

// IsIstiod reports whether a Deployment is an istiod (by name or app label).
func IsIstiod(o *snapshot.Object, d *appsv1.Deployment) bool {
	if o.Name == "istiod" || strings.HasPrefix(o.Name, "istiod-") {
		return true
	}
	return o.Labels["app"] == "istiod" || d.Spec.Template.Labels["app"] == "istiod"
}

// Istiods returns the istiod Deployments of a namespace. Reads Deployment.
func Istiods(r Reader, ns string) []Istiod {
	return istiods(r.InNamespace(snapshot.Deployment, ns))
}

// AllIstiods returns istiod Deployments in every namespace. Reads Deployment.
func AllIstiods(r Reader) []Istiod { return istiods(r.List(snapshot.Deployment)) }

func istiods(objs []*snapshot.Object) []Istiod {
	var out []Istiod
	for _, o := range objs {
		d, ok := o.Typed.(*appsv1.Deployment)
		if !ok || !IsIstiod(o, d) {
			continue
		}
		out = append(out, Istiod{Object: o, Deployment: d, Revision: istiodRevision(o, d), Container: containerNamed(&d.Spec.Template.Spec, IstiodContainer)})
	}
	return out
}

func istiodRevision(o *snapshot.Object, d *appsv1.Deployment) string {
	if r := o.Labels[LabelRev]; r != "" {
		return r
	}
	if r := d.Spec.Template.Labels[LabelRev]; r != "" {
		return r
	}
	if r, ok := strings.CutPrefix(o.Name, "istiod-"); ok && r != "" {
		return r
	}
	return DefaultRevision
}

func containerNamed(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

// ContainerNamed returns a pod spec's container by name, or nil.
func ContainerNamed(spec *corev1.PodSpec, name string) *corev1.Container {
	return containerNamed(spec, name)
}

// Version returns istiod's Istio version and where it was read from: the
// discovery image tag, else the operator.istio.io/version,
// app.kubernetes.io/version or helm.sh/chart label.
func (i Istiod) Version() (IstioVersion, string, bool) {
	if i.Container != nil {
		if tag := ImageTag(i.Container.Image); tag != "" {
			if v, ok := ParseIstioVersion(tag); ok {
				return v, "image " + i.Container.Image, true
			}
		}
	}
	for _, src := range []map[string]string{i.Object.Labels, i.Deployment.Spec.Template.Labels} {
		for _, k := range []string{LabelOperatorVersion, "app.kubernetes.io/version"} {
			if v, ok := ParseIstioVersion(src[k]); ok && src[k] != "" {
				return v, "label " + k + "=" + src[k], true
			}
		}
		if chart, ok := strings.CutPrefix(src["helm.sh/chart"], "istiod-"); ok {
			if v, ok := ParseIstioVersion(chart); ok {
				return v, "label helm.sh/chart=" + src["helm.sh/chart"], true
			}
		}
	}
	return IstioVersion{}, "", false
}

// Image is the discovery container's image ("" without one).
func (i Istiod) Image() string {
	if i.Container == nil {
		return ""
	}
	return i.Container.Image
}

// RevisionNames maps every name a namespace's istio.io/rev label may use to
// the istiod revision it reaches: revisions themselves, plus revision tags
// (MutatingWebhookConfigurations labelled istio.io/tag, pointing at
// istio.io/rev). Reads MutatingWebhookConfiguration.
func RevisionNames(r Reader, ists []Istiod) map[string]string {
	out := map[string]string{}
	for _, i := range ists {
		out[i.Revision] = i.Revision
	}
	for _, o := range r.List(snapshot.MutatingWebhookConfiguration) {
		if tag := o.Labels[LabelIstioTag]; tag != "" {
			if rev := o.Labels[LabelRev]; rev != "" {
				out[tag] = rev
			}
		}
	}
	return out
}

// Replicas returns a Deployment's desired replicas (the API default 1 when unset).
func Replicas(d *appsv1.Deployment) int32 { return replicas(d.Spec.Replicas) }

// HPA is a HorizontalPodAutoscaler reduced to what availability checks use.
type HPA struct {
	Object   *snapshot.Object
	Min, Max int32
}

// HPAFor returns the HorizontalPodAutoscaler that scales a workload object
// (same namespace, scaleTargetRef kind and name), or nil. Reads HorizontalPodAutoscaler.
func HPAFor(r Reader, target *snapshot.Object) *HPA {
	for _, o := range r.InNamespace(snapshot.HorizontalPodAutoscaler, target.Namespace) {
		var kind, name string
		var min *int32
		var max int32
		switch h := o.Typed.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			kind, name, min, max = h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas
		case *autoscalingv1.HorizontalPodAutoscaler:
			kind, name, min, max = h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas
		default:
			continue
		}
		if kind == target.Kind && name == target.Name {
			return &HPA{Object: o, Min: replicas(min), Max: max}
		}
	}
	return nil
}

// PDBsFor returns the PodDisruptionBudgets of ns whose selector matches the
// pod labels. Reads PodDisruptionBudget.
func PDBsFor(r Reader, ns string, podLabels map[string]string) []*snapshot.Object {
	var out []*snapshot.Object
	for _, o := range r.InNamespace(snapshot.PodDisruptionBudget, ns) {
		p, ok := o.Typed.(*policyv1.PodDisruptionBudget)
		if !ok {
			continue
		}
		if LabelSelectorMatches(p.Spec.Selector, podLabels) {
			out = append(out, o)
		}
	}
	return out
}

// LabelSelectorMatches evaluates a metav1.LabelSelector (matchLabels and
// matchExpressions). A nil or empty selector matches nothing here: a PDB or
// webhook with no selector is treated as selecting no pods.
func LabelSelectorMatches(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}

// SelectorAllows evaluates a webhook-style selector where nil or empty
// means "everything" (as admission webhooks' namespaceSelector and objectSelector do).
func SelectorAllows(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}

// PDBBlocksDrain reports whether a PodDisruptionBudget leaves no pod
// evictable when the workload runs `replicas` pods, and why.
func PDBBlocksDrain(p *policyv1.PodDisruptionBudget, replicas int32) (bool, string) {
	if replicas < 1 {
		replicas = 1
	}
	if mu := p.Spec.MaxUnavailable; mu != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(mu, int(replicas), true)
		if err == nil && n < 1 {
			return true, fmt.Sprintf("maxUnavailable %s allows no eviction", mu.String())
		}
		return false, fmt.Sprintf("maxUnavailable %s", mu.String())
	}
	if ma := p.Spec.MinAvailable; ma != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(ma, int(replicas), true)
		if err == nil && int32(n) >= replicas {
			return true, fmt.Sprintf("minAvailable %s with %d replica(s) allows no eviction", ma.String(), replicas)
		}
		return false, fmt.Sprintf("minAvailable %s of %d replicas", ma.String(), replicas)
	}
	return false, "neither minAvailable nor maxUnavailable set"
}

// SpreadsPods reports whether a pod spec spreads its replicas over nodes or
// zones (pod anti-affinity or topology spread constraints), and how.
func SpreadsPods(spec *corev1.PodSpec) (bool, string) {
	if len(spec.TopologySpreadConstraints) > 0 {
		t := spec.TopologySpreadConstraints[0]
		return true, fmt.Sprintf("topologySpreadConstraints on %s (maxSkew %d, %s)", t.TopologyKey, t.MaxSkew, t.WhenUnsatisfiable)
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		pa := a.PodAntiAffinity
		if len(pa.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			return true, "required podAntiAffinity on " + pa.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey
		}
		if len(pa.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
			return true, "preferred podAntiAffinity on " + pa.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey
		}
	}
	return false, ""
}

// ServicesSelecting returns the Services of ns whose (non-empty) selector
// matches the pod labels. Reads Service.
func ServicesSelecting(r Reader, ns string, podLabels map[string]string) []*snapshot.Object {
	var out []*snapshot.Object
	for _, o := range r.InNamespace(snapshot.Service, ns) {
		s, ok := o.Typed.(*corev1.Service)
		if !ok || len(s.Spec.Selector) == 0 {
			continue
		}
		if snapshot.SelectorMatches(s.Spec.Selector, podLabels) {
			out = append(out, o)
		}
	}
	return out
}

// AllWorkloads returns the workloads of every namespace, namespace by
// namespace in sorted order. Reads Deployment, StatefulSet, DaemonSet.
func AllWorkloads(r Reader) []Workload {
	var nss []string
	seen := map[string]bool{}
	n := 0
	for _, k := range WorkloadKinds {
		n += len(r.List(k))
		for _, o := range r.List(k) {
			if !seen[o.Namespace] {
				seen[o.Namespace] = true
				nss = append(nss, o.Namespace)
			}
		}
	}
	sort.Strings(nss)
	out := make([]Workload, 0, n)
	for _, ns := range nss {
		out = append(out, Workloads(r, ns)...)
	}
	return out
}
