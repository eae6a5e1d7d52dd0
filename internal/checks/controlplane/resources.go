package controlplane

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var resources = &check.Check{
	ID:    "controlplane.resources",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.Service, snapshot.Pod},
	Why: "istiod's memory grows with the number of services, endpoints and proxies it pushes to, and its CPU with the " +
		"rate of config and endpoint changes. Without requests it is scheduled onto busy nodes and starved; without a " +
		"memory limit a push storm can take a node down, and a too-small limit gets istiod OOM-killed mid-push, stalling every proxy. " +
		"Live with Prometheus, each running istiod's usage is compared with its own limits (cAdvisor): a peak working set at " +
		"thresholds.resourceUsageRatio (default 80%) of the memory limit fails, as the next push storm would OOM-kill it; CPU at that share of " +
		"the limit warns, as throttling slows pushes but kills nothing.",
	Fix: "Set requests (at least the thresholds, scaled with the number of services) and limits on istiod's discovery " +
		"container, e.g. with istioctl: --set components.pilot.k8s.resources.requests.cpu=500m " +
		"--set components.pilot.k8s.resources.requests.memory=2Gi (and limits). When the usage is near the limits, raise them " +
		"(or trim what istiod pushes: Sidecar resources per namespace) and run meshready check --prometheus URL again.",
	Docs:   "https://istio.io/latest/docs/ops/deployment/performance-and-scalability/",
	Config: resourcesConfig,
	Live:   resourcesLive,
}

func resourcesConfig(c *check.Context) {
	ists := istiodsOrFail(c, "its resources cannot be checked")
	if ists == nil {
		return
	}
	t := c.Config.Thresholds
	services := len(c.List(snapshot.Service))
	step := t.ServicesPerIstiodStep
	if step <= 0 {
		step = 1000
	}
	units := int64(1 + services/step)
	wantCPU := resource.NewMilliQuantity(t.IstiodCPURequest.MilliValue()*units, resource.DecimalSI)
	wantMem := resource.NewQuantity(t.IstiodMemoryRequest.Value()*units, resource.BinarySI)
	scale := fmt.Sprintf("%d service(s): %d x the base request (%s CPU, %s memory per %d services)",
		services, units, t.IstiodCPURequest.String(), t.IstiodMemoryRequest.String(), step)

	for _, i := range ists {
		if i.Container == nil {
			c.Fail(i.Object, "istiod Deployment %s has no %q container: its resources cannot be checked", i.Object.Name, mesh.IstiodContainer).
				Field("spec.template.spec.containers").Want("a container named discovery").
				Fix("Reinstall istiod from the official chart or istioctl: istioctl install --set profile=default -y")
			continue
		}
		r := i.Container.Resources
		field := "spec.template.spec.containers[discovery].resources"
		fix := resourcesFix(c.Config.ControlPlaneNamespace, wantCPU, wantMem)
		ok := true
		need := func(list corev1.ResourceList, kind string, name corev1.ResourceName) *resource.Quantity {
			q, set := list[name]
			if !set {
				ok = false
				c.Fail(i.Object, "istiod Deployment %s sets no %s %s", i.Object.Name, string(name), kind).
					Field(field + "." + kind + "." + string(name)).Got("unset").Want("set").Fix(fix)
				return nil
			}
			return &q
		}
		reqCPU := need(r.Requests, "requests", corev1.ResourceCPU)
		reqMem := need(r.Requests, "requests", corev1.ResourceMemory)
		limCPU := need(r.Limits, "limits", corev1.ResourceCPU)
		limMem := need(r.Limits, "limits", corev1.ResourceMemory)
		if reqCPU != nil && reqCPU.Cmp(*wantCPU) < 0 {
			ok = false
			c.Fail(i.Object, "istiod Deployment %s requests %s CPU, below the %s needed for %s", i.Object.Name, reqCPU.String(), wantCPU.String(), scale).
				Field(field+".requests.cpu").Got("%s", reqCPU.String()).Want(">= %s", wantCPU.String()).Fix(fix)
		}
		if reqMem != nil && reqMem.Cmp(*wantMem) < 0 {
			ok = false
			c.Fail(i.Object, "istiod Deployment %s requests %s memory, below the %s needed for %s", i.Object.Name, reqMem.String(), wantMem.String(), scale).
				Field(field+".requests.memory").Got("%s", reqMem.String()).Want(">= %s", wantMem.String()).Fix(fix)
		}
		for _, p := range []struct {
			name     string
			req, lim *resource.Quantity
		}{{"cpu", reqCPU, limCPU}, {"memory", reqMem, limMem}} {
			if p.req != nil && p.lim != nil && p.lim.Cmp(*p.req) < 0 {
				ok = false
				c.Fail(i.Object, "istiod Deployment %s has a %s limit (%s) below its request (%s): the API server rejects such pods", i.Object.Name, p.name, p.lim.String(), p.req.String()).
					Field(field+".limits."+p.name).Got("%s", p.lim.String()).Want(">= %s", p.req.String()).Fix(fix)
			}
		}
		if ok {
			c.Pass(i.Object, "istiod Deployment %s requests %s CPU / %s memory (need >= %s / %s for %s) and is limited to %s CPU / %s memory",
				i.Object.Name, reqCPU.String(), reqMem.String(), wantCPU.String(), wantMem.String(), scale, limCPU.String(), limMem.String())
		}
	}
}

func resourcesFix(ns string, cpu, mem *resource.Quantity) string {
	limMem := mem.DeepCopy()
	limMem.Add(mem.DeepCopy()) // twice the request leaves room for push storms
	return fmt.Sprintf(`# istioctl (IstioOperator overlay):
spec:
  components:
    pilot:
      k8s:
        resources:
          requests: {cpu: %[1]s, memory: %[2]s}
          limits: {cpu: "%[4]d", memory: %[3]s}
# or patch the Deployment directly (re-applied by your installer next time):
# kubectl -n %[5]s set resources deployment/istiod -c discovery --requests=cpu=%[1]s,memory=%[2]s --limits=cpu=%[4]d,memory=%[3]s`,
		cpu.String(), mem.String(), limMem.String(), cpuLimitCores(cpu), ns)
}

// cpuLimitCores suggests a CPU limit: four times the request, at least 2 cores.
func cpuLimitCores(req *resource.Quantity) int64 {
	n := (req.MilliValue()*4 + 999) / 1000
	if n < 2 {
		n = 2
	}
	return n
}
