package controlplane

import (
	"fmt"
	"strings"

	policyv1 "k8s.io/api/policy/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var highAvailability = &check.Check{
	ID: "controlplane.high-availability",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.HorizontalPodAutoscaler, snapshot.PodDisruptionBudget,
		snapshot.Pod, snapshot.Node},
	Why: "With one istiod pod, every node drain, eviction or crash stops certificate signing, config pushes and sidecar " +
		"injection until it is rescheduled (a fail-closed injection webhook then blocks pod creation). Two or more replicas, " +
		"spread over nodes, with a PodDisruptionBudget that still allows drains, keep the control plane up through routine maintenance.",
	Fix: "Run istiod with at least 2 replicas (HPA minReplicas >= 2), a PodDisruptionBudget with maxUnavailable: 1 " +
		"(or minAvailable: 1 with >= 2 replicas), and pod anti-affinity or topology spread on kubernetes.io/hostname.",
	Docs:   "https://istio.io/latest/docs/setup/install/helm/#installation-steps",
	Config: highAvailabilityConfig,
	Live:   highAvailabilityLive,
}

func highAvailabilityConfig(c *check.Context) {
	ists := istiodsOrFail(c, "its availability cannot be checked")
	if ists == nil {
		return
	}
	ns := c.Config.ControlPlaneNamespace
	min := int32(c.Config.Thresholds.MinReplicas)
	for _, i := range ists {
		d := i.Deployment
		name := i.Object.Name
		ok := true
		reps := mesh.Replicas(d)
		effective := reps
		hpa := mesh.HPAFor(c, i.Object)
		if hpa != nil {
			effective = hpa.Min
			if hpa.Min < min {
				ok = false
				c.Fail(hpa.Object, "HorizontalPodAutoscaler %s lets istiod Deployment %s scale down to %d replica(s)", hpa.Object.Name, name, hpa.Min).
					Field("spec.minReplicas").Got("%d", hpa.Min).Want(">= %d", min).
					Fixf("kubectl -n %s patch hpa %s --type merge -p '{\"spec\":{\"minReplicas\":%d}}'\n# istioctl: --set values.pilot.autoscaleMin=%[3]d", ns, hpa.Object.Name, min)
			}
		} else if reps < min {
			ok = false
			c.Fail(i.Object, "istiod Deployment %s runs %d replica(s) and has no HorizontalPodAutoscaler", name, reps).
				Field("spec.replicas").Got("%d", reps).Want(">= %d", min).
				Fixf("# istioctl (IstioOperator overlay):\nspec:\n  components:\n    pilot:\n      k8s:\n        replicaCount: %d\n        hpaSpec: {minReplicas: %[1]d, maxReplicas: 5}\n# or: kubectl -n %s scale deployment/%s --replicas=%[1]d", min, ns, name)
		}

		pdbs := mesh.PDBsFor(c, ns, d.Spec.Template.Labels)
		var pdbNote string
		if len(pdbs) == 0 {
			ok = false
			c.Fail(i.Object, "no PodDisruptionBudget selects the pods of istiod Deployment %s: a node drain can evict every replica at once", name).
				Want("a PodDisruptionBudget in %s selecting %s", ns, labelString(selectorLabels(d.Spec.Template.Labels))).
				Fix(pdbYAML(ns, name, selectorLabels(d.Spec.Template.Labels)))
		}
		for _, po := range pdbs {
			p, _ := po.Typed.(*policyv1.PodDisruptionBudget)
			blocks, how := mesh.PDBBlocksDrain(p, effective)
			if blocks {
				ok = false
				c.Fail(po, "PodDisruptionBudget %s blocks node drains for istiod Deployment %s: %s", po.Name, name, how).
					Field("spec").Got("%s", how).Want("at least one pod evictable (maxUnavailable: 1)").
					Fixf("kubectl -n %s patch pdb %s --type merge -p '{\"spec\":{\"minAvailable\":null,\"maxUnavailable\":1}}'", ns, po.Name)
			} else if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
				ok = false
				c.Fail(po, "PodDisruptionBudget %s for istiod Deployment %s sets neither minAvailable nor maxUnavailable: it protects nothing", po.Name, name).
					Field("spec").Want("maxUnavailable: 1").
					Fixf("kubectl -n %s patch pdb %s --type merge -p '{\"spec\":{\"maxUnavailable\":1}}'", ns, po.Name)
			} else {
				pdbNote = fmt.Sprintf("PodDisruptionBudget %s (%s)", po.Name, how)
			}
		}

		spread, how := mesh.SpreadsPods(&d.Spec.Template.Spec)
		if !spread {
			ok = false
			c.Fail(i.Object, "istiod Deployment %s sets neither pod anti-affinity nor topology spread constraints: its replicas may all land on one node", name).
				Field("spec.template.spec.affinity").Got("unset").Want("podAntiAffinity or topologySpreadConstraints on kubernetes.io/hostname").
				Fix(spreadYAML(selectorLabels(d.Spec.Template.Labels)))
		}
		if ok {
			scale := fmt.Sprintf("%d replicas", reps)
			if hpa != nil {
				scale = fmt.Sprintf("HPA %s min %d / max %d", hpa.Object.Name, hpa.Min, hpa.Max)
			}
			c.Pass(i.Object, "istiod Deployment %s: %s; %s; %s", name, scale, pdbNote, how)
		}
	}
}

// selectorLabels keeps the labels that identify istiod pods (app, istio,
// istio.io/rev), or all of them when none of those is set.
func selectorLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"app", "istio", mesh.LabelRev} {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return l
	}
	return out
}

func matchLabelsYAML(l map[string]string, indent string) string {
	var b strings.Builder
	for _, k := range sortedKeys(l) {
		fmt.Fprintf(&b, "%s%s: %q\n", indent, k, l[k])
	}
	return b.String()
}

func pdbYAML(ns, name string, l map[string]string) string {
	return fmt.Sprintf(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: %s
  namespace: %s
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
%s`, name, ns, matchLabelsYAML(l, "      "))
}

func spreadYAML(l map[string]string) string {
	return fmt.Sprintf(`# in the Deployment's pod template (istioctl: components.pilot.k8s.affinity):
spec:
  template:
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels:
%s`, matchLabelsYAML(l, "            "))
}
