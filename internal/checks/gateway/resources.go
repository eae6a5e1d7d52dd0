package gateway

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var resources = &check.Check{
	ID:    "gateway.resources",
	Reads: reads(snapshot.KGateway, snapshot.HorizontalPodAutoscaler, snapshot.PodDisruptionBudget, snapshot.Pod),
	Why: "Gateways carry all north-south traffic: without CPU/memory requests they are squeezed by noisy neighbours " +
		"and add latency to every request; without limits a traffic spike can exhaust the node; without an HPA or " +
		"several replicas they cannot absorb load; and without a PodDisruptionBudget a node drain can take every " +
		"gateway pod down at once.",
	Fix: "Give each gateway's istio-proxy container requests and limits, an HPA (minReplicas >= 2) or >= 2 replicas, " +
		"and a PodDisruptionBudget with maxUnavailable: 1 (the istio/gateway chart: resources, autoscaling.*, podDisruptionBudget).",
	Docs:   "https://istio.io/latest/docs/setup/additional-setup/gateway/",
	Config: resourcesConfig,
	Live:   resourcesLive,
}

func resourcesConfig(c *check.Context) {
	wls := mesh.GatewayWorkloads(c)
	kgs := mesh.KGateways(c)
	min := int32(c.Config.Thresholds.MinReplicas)
	deployedFor := map[string]bool{}
	for _, w := range wls {
		if n := w.Template.Labels[mesh.LabelGatewayName]; n != "" {
			deployedFor[w.Object.Namespace+"/"+n] = true
		}
		ok := true
		role := "ingress"
		if w.Egress {
			role = "egress"
		}
		// Resources: on the istio-proxy container, else the proxy annotations
		// the gateway injection template reads.
		ct := mesh.ContainerNamed(&w.Template.Spec, mesh.ProxyContainerName)
		if ct == nil && len(w.Template.Spec.Containers) > 0 {
			ct = &w.Template.Spec.Containers[0]
		}
		var missing []string
		ann := map[string]string{"requests.cpu": "sidecar.istio.io/proxyCPU", "requests.memory": "sidecar.istio.io/proxyMemory",
			"limits.cpu": "sidecar.istio.io/proxyCPULimit", "limits.memory": "sidecar.istio.io/proxyMemoryLimit"}
		var got []string
		for _, f := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} {
			kind, res, _ := strings.Cut(f, ".")
			list := corev1.ResourceList(nil)
			if ct != nil {
				list = ct.Resources.Requests
				if kind == "limits" {
					list = ct.Resources.Limits
				}
			}
			if q, set := list[corev1.ResourceName(res)]; set {
				got = append(got, f+"="+q.String())
			} else if v := w.Template.Annotations[ann[f]]; v != "" {
				got = append(got, f+"="+v+" (annotation)")
			} else {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			ok = false
			cname := "istio-proxy"
			if ct != nil {
				cname = ct.Name
			}
			c.Fail(w.Object, "%s gateway %s sets no %s on its %s container", role, wref(w.Workload), strings.Join(missing, ", "), cname).
				Field("spec.template.spec.containers["+cname+"].resources").Got("missing %s", strings.Join(missing, ", ")).Want("requests and limits for cpu and memory").
				Fixf("spec:\n  template:\n    spec:\n      containers:\n      - name: %s\n        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n          limits: {cpu: \"2\", memory: 1Gi}\n# Helm (istio/gateway): --set resources.requests.cpu=100m --set resources.limits.memory=1Gi ...", cname)
		}

		eff, how, hpa := effectiveReplicas(c, w.Workload)
		switch {
		case eff < 0:
			// DaemonSet: one pod per node.
		case hpa != nil && hpa.Min < min:
			ok = false
			c.Warn(hpa.Object, "HorizontalPodAutoscaler %s lets %s gateway %s scale down to %d replica(s)", hpa.Object.Name, role, wref(w.Workload), hpa.Min).
				Field("spec.minReplicas").Got("%d", hpa.Min).Want(">= %d", min).
				Fixf("kubectl -n %s patch hpa %s --type merge -p '{\"spec\":{\"minReplicas\":%d}}'", hpa.Object.Namespace, hpa.Object.Name, min)
		case hpa == nil && eff < min:
			ok = false
			c.Fail(w.Object, "%s gateway %s has %s", role, wref(w.Workload), how).
				Field("spec.replicas").Got("%d", eff).Want("an HPA or >= %d replicas", min).
				Fixf("kubectl -n %s autoscale %s %s --min=%d --max=5 --cpu-percent=80", w.Object.Namespace, kubectlKind(w.Object), w.Object.Name, min)
		}

		pdbNote := ""
		pdbs := mesh.PDBsFor(c, w.Object.Namespace, w.Template.Labels)
		if len(pdbs) == 0 {
			ok = false
			c.Fail(w.Object, "no PodDisruptionBudget selects %s gateway %s: a node drain can evict all its pods at once", role, wref(w.Workload)).
				Want("a PodDisruptionBudget selecting %s", labelString(gatewayIdentity(w.Template.Labels))).
				Fixf("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n%s", w.Object.Name, w.Object.Namespace, matchLabelsYAML(gatewayIdentity(w.Template.Labels), "      "))
		}
		replicas := eff
		if replicas < 0 {
			replicas = 2 // a DaemonSet on several nodes
		}
		for _, po := range pdbs {
			p, _ := po.Typed.(*policyv1.PodDisruptionBudget)
			if blocks, why := mesh.PDBBlocksDrain(p, replicas); blocks {
				ok = false
				c.Fail(po, "PodDisruptionBudget %s blocks node drains for %s gateway %s: %s", po.Name, role, wref(w.Workload), why).
					Field("spec").Got("%s", why).Want("at least one pod evictable (maxUnavailable: 1)").
					Fixf("kubectl -n %s patch pdb %s --type merge -p '{\"spec\":{\"minAvailable\":null,\"maxUnavailable\":1}}'", po.Namespace, po.Name)
			} else {
				pdbNote = fmt.Sprintf("PodDisruptionBudget %s (%s)", po.Name, why)
			}
		}
		if ok {
			c.Pass(w.Object, "%s gateway %s: %s; %s; %s", role, wref(w.Workload), strings.Join(got, ", "), how, pdbNote)
		}
	}
	for _, kg := range kgs {
		if (kg.Decoded && kg.ClassName != "istio") || deployedFor[kg.Object.Namespace+"/"+kg.Object.Name] {
			continue
		}
		c.Warn(kg.Object, "Gateway API Gateway %s/%s: Istio creates its Deployment at run time, so its resources, autoscaling and disruption budget are not in the input", kg.Object.Namespace, kg.Object.Name).
			Field("spec.infrastructure.parametersRef").Want("a ConfigMap overlay with resources, an HPA and a PDB for Deployment %s-istio", kg.Object.Name).
			Fix("Give the Gateway an infrastructure.parametersRef ConfigMap that sets deployment resources, horizontalPodAutoscaler and podDisruptionBudget (see https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/#automated-deployment), or check the live cluster.")
	}
	if len(wls) == 0 && len(kgs) == 0 {
		c.Fail(cpNamespace(c), "no gateway workload is deployed: there are no gateway resources to check").
			Want("an ingress gateway with requests/limits, an HPA or >= %d replicas and a PodDisruptionBudget", min).
			Fix(installGatewayFix)
	}
}
