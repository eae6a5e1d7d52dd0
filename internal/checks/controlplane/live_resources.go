package controlplane

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// scaledRequests is the request istiod needs for the mesh's size (as the
// config part computes it).
func scaledRequests(c *check.Context, services int) (cpu, mem *resource.Quantity, how string) {
	t := c.Config.Thresholds
	step := t.ServicesPerIstiodStep
	if step <= 0 {
		step = 1000
	}
	units := int64(1 + services/step)
	cpu = resource.NewMilliQuantity(t.IstiodCPURequest.MilliValue()*units, resource.DecimalSI)
	mem = resource.NewQuantity(t.IstiodMemoryRequest.Value()*units, resource.BinarySI)
	how = fmt.Sprintf("%d service(s): %d x %s CPU / %s memory", services, units, t.IstiodCPURequest.String(), t.IstiodMemoryRequest.String())
	return cpu, mem, how
}

// resourcesLive checks what the running istiod pods really got: requests
// and limits on their discovery container (after LimitRange defaults, VPA
// or a half-finished rollout), and requests at least the scaled thresholds.
// With Prometheus, usage against the limits too (live_usage.go).
func resourcesLive(c *check.Context) {
	ists := istiodsOrFail(c, "its resources cannot be checked")
	if ists == nil {
		return
	}
	wantCPU, wantMem, how := scaledRequests(c, len(c.List(snapshot.Service)))
	for _, i := range ists {
		pods := istiodPods(c, i)
		if len(pods.all) == 0 {
			noPodsFail(c, i, "there are no running istiod containers whose resources could be checked")
			continue
		}
		fix := resourcesFix(i.Object.Namespace, wantCPU, wantMem) + fmt.Sprintf("\n# then: kubectl -n %s rollout restart deployment/%s", i.Object.Namespace, i.Object.Name)
		var good []string
		var summary string
		for _, o := range pods.all {
			p := mesh.PodOf(o)
			ct := podContainer(p, mesh.IstiodContainer)
			if ct == nil {
				c.Fail(o, "istiod pod %s has no %q container", o.Name, mesh.IstiodContainer).
					Field("spec.containers").Want("a container named discovery").
					Fix("istioctl install --set profile=default -y   # reinstall istiod from the official chart")
				continue
			}
			r := ct.Resources
			var missing []string
			for _, f := range []struct {
				list corev1.ResourceList
				kind string
				name corev1.ResourceName
			}{{r.Requests, "requests", corev1.ResourceCPU}, {r.Requests, "requests", corev1.ResourceMemory},
				{r.Limits, "limits", corev1.ResourceCPU}, {r.Limits, "limits", corev1.ResourceMemory}} {
				if _, ok := f.list[f.name]; !ok {
					missing = append(missing, f.kind+"."+string(f.name))
				}
			}
			ok := true
			if len(missing) > 0 {
				ok = false
				c.Fail(o, "running istiod pod %s (Deployment %s): its discovery container has no %s", o.Name, i.Object.Name, strings.Join(missing, ", ")).
					Field("spec.containers[discovery].resources").Got("missing %s", strings.Join(missing, ", ")).Want("requests and limits for cpu and memory").
					Fix(fix)
			}
			if q, set := r.Requests[corev1.ResourceCPU]; set && q.Cmp(*wantCPU) < 0 {
				ok = false
				c.Fail(o, "running istiod pod %s requests %s CPU, below the %s needed for %s", o.Name, q.String(), wantCPU.String(), how).
					Field("spec.containers[discovery].resources.requests.cpu").Got("%s", q.String()).Want(">= %s", wantCPU.String()).Fix(fix)
			}
			if q, set := r.Requests[corev1.ResourceMemory]; set && q.Cmp(*wantMem) < 0 {
				ok = false
				c.Fail(o, "running istiod pod %s requests %s memory, below the %s needed for %s", o.Name, q.String(), wantMem.String(), how).
					Field("spec.containers[discovery].resources.requests.memory").Got("%s", q.String()).Want(">= %s", wantMem.String()).Fix(fix)
			}
			if ok {
				good = append(good, o.Name)
				summary = fmt.Sprintf("requests %s CPU / %s memory, limits %s CPU / %s memory",
					qty(r.Requests, corev1.ResourceCPU), qty(r.Requests, corev1.ResourceMemory), qty(r.Limits, corev1.ResourceCPU), qty(r.Limits, corev1.ResourceMemory))
			}
		}
		if len(good) > 0 {
			c.Pass(i.Object, "running istiod pod(s) %s of Deployment %s carry %s (need >= %s / %s for %s)",
				strings.Join(mesh.Limit(good, maxPodsNamed), ", "), i.Object.Name, summary, wantCPU.String(), wantMem.String(), how)
		}
	}
	resourcesUsage(c, ists) // live_usage.go: against the limits, with Prometheus
}

func qty(l corev1.ResourceList, n corev1.ResourceName) string {
	if q, ok := l[n]; ok {
		return q.String()
	}
	return "unset"
}
