package gateway

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// resourcesLive checks the running gateway pods (ingress and egress): their
// proxy container carries cpu and memory requests and limits (what the
// gateway injection template and any LimitRange really produced), and each
// gateway has at least its minimum of Ready pods (the HPA's minReplicas, or
// thresholds.minReplicas).
func resourcesLive(c *check.Context) {
	wls := mesh.GatewayWorkloads(c)
	if len(wls) == 0 {
		c.Fail(cpNamespace(c), "no gateway workload runs in the cluster: there are no gateway resources to check").
			Want("an ingress gateway with requests/limits and >= %d Ready pods", c.Config.Thresholds.MinReplicas).
			Fix(installGatewayFix)
		return
	}
	for _, w := range wls {
		role := "ingress"
		if w.Egress {
			role = "egress"
		}
		min := c.Config.Thresholds.MinReplicas
		if h := mesh.HPAFor(c, w.Object); h != nil && int(h.Min) > min {
			min = int(h.Min)
		}
		replicasOK := true
		if w.Replicas >= 0 {
			replicasOK = liveReplicas(c, w.Workload, role, min, false)
		}
		all, _, _ := gatewayPods(c, w.Workload)
		if len(all) == 0 && w.Replicas < 0 {
			c.Fail(w.Object, "%s gateway %s (a DaemonSet) has no pod in the cluster", role, wref(w.Workload)).
				Got("0 pods matching %s", selectorOf(w.Workload)).Want("one Ready pod per node").
				Fixf("kubectl -n %s describe daemonset/%s   # nodeSelector, tolerations, events", w.Object.Namespace, w.Object.Name)
			continue
		}
		byMissing := map[string][]string{}
		var order []string
		var got string
		for _, o := range all {
			p := mesh.PodOf(o)
			if p == nil || !mesh.PodRunning(p) {
				continue
			}
			ct := mesh.ContainerNamed(&p.Spec, mesh.ProxyContainerName)
			if ct == nil && len(p.Spec.Containers) > 0 {
				ct = &p.Spec.Containers[0]
			}
			if ct == nil {
				continue
			}
			var missing []string
			for _, f := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} {
				kind, res, _ := strings.Cut(f, ".")
				list := ct.Resources.Requests
				if kind == "limits" {
					list = ct.Resources.Limits
				}
				if _, ok := list[corev1.ResourceName(res)]; !ok {
					missing = append(missing, f)
				}
			}
			if len(missing) == 0 {
				r := ct.Resources
				got = fmt.Sprintf("requests %s CPU / %s memory, limits %s CPU / %s memory", qs(r.Requests, corev1.ResourceCPU), qs(r.Requests, corev1.ResourceMemory), qs(r.Limits, corev1.ResourceCPU), qs(r.Limits, corev1.ResourceMemory))
				continue
			}
			k := ct.Name + ": " + strings.Join(missing, ", ")
			if _, seen := byMissing[k]; !seen {
				order = append(order, k)
			}
			byMissing[k] = append(byMissing[k], o.Name)
		}
		for _, k := range order {
			cname, miss, _ := strings.Cut(k, ": ")
			pods := byMissing[k]
			first := c.Get(snapshot.Pod, w.Object.Namespace, pods[0])
			c.Fail(first, "%s gateway %s: running pod(s) %s have no %s on their %s container", role, wref(w.Workload), strings.Join(limitNames(pods), ", "), miss, cname).
				Field("spec.containers["+cname+"].resources").Got("missing %s", miss).Want("requests and limits for cpu and memory").
				Fixf("spec:\n  template:\n    spec:\n      containers:\n      - name: %s\n        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n          limits: {cpu: \"2\", memory: 1Gi}\n# Helm (istio/gateway): --set resources.requests.cpu=100m ... then:\nkubectl -n %s rollout restart %s/%s", cname, w.Object.Namespace, kubectlKind(w.Object), w.Object.Name)
		}
		if len(order) == 0 && got != "" && replicasOK {
			_, ready, _ := gatewayPods(c, w.Workload)
			c.Pass(w.Object, "%s gateway %s: %d Ready pod(s) (minimum %d), running with %s", role, wref(w.Workload), len(ready), min, got)
		}
	}
}

func qs(l corev1.ResourceList, n corev1.ResourceName) string {
	v := l[n]
	return v.String()
}

func limitNames(names []string) []string {
	if len(names) <= maxPodsNamed {
		return names
	}
	return append(append([]string(nil), names[:maxPodsNamed]...), fmt.Sprintf("and %d more", len(names)-maxPodsNamed))
}
