package controlplane

import (
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/meshtel"
)

// usageSource names the series the usage comes from, for messages.
const usageSource = "cAdvisor's container_cpu_usage_seconds_total and container_memory_working_set_bytes for container discovery"

// resourcesUsage is the live part's usage check: with Prometheus, each
// running istiod pod's discovery container against its own limits (the
// pod's, which is what the kubelet enforces). At thresholds.resourceUsageRatio
// (default 80%) of the memory limit it fails: the next push storm (a
// rollout, a burst of endpoint changes) gets istiod OOM-killed, and every
// proxy loses its xDS stream until it is back. At that share of the CPU
// limit it warns: the kernel throttles istiod, which slows pushes and
// certificate signing but kills nothing. Without Prometheus it says that
// usage was not checked.
func resourcesUsage(c *check.Context, ists []mesh.Istiod) {
	ratio := c.Config.Thresholds.ResourceUsageRatio
	if !c.Telemetry.HasPrometheus() {
		c.NotApplicable("istiod's usage against %.0f%% of its limits was not checked: it needs Prometheus (pass --prometheus URL; it reads %s)", ratio*100, usageSource)
		if st, _, _ := c.Result(); st == report.Pass {
			c.Summary("istiod's requests and limits are set; usage against the limits not checked (pass --prometheus)")
		}
		return
	}
	cl := c.Telemetry
	for _, i := range ists {
		type limited struct {
			o        *snapshot.Object
			cpu, mem float64 // cores, bytes; 0 when unset
		}
		var pods []limited
		var names []string
		for _, o := range istiodPods(c, i).all {
			p := mesh.PodOf(o)
			if p == nil || p.Status.Phase != corev1.PodRunning {
				continue
			}
			ct := podContainer(p, mesh.IstiodContainer)
			if ct == nil {
				continue // reported above
			}
			l := limited{o: o}
			if q, ok := ct.Resources.Limits[corev1.ResourceCPU]; ok {
				l.cpu = float64(q.MilliValue()) / 1000
			}
			if q, ok := ct.Resources.Limits[corev1.ResourceMemory]; ok {
				l.mem = float64(q.Value())
			}
			if l.cpu == 0 && l.mem == 0 {
				continue // no limit to compare with: failed above
			}
			pods = append(pods, l)
			names = append(names, o.Name)
		}
		if len(pods) == 0 {
			continue
		}
		u := meshtel.ContainerUsage(cl, i.Object.Namespace, mesh.IstiodContainer, names)
		if u.CPUErr != nil {
			meshtel.Error(c, u.CPUErr, "cannot read istiod's CPU usage")
			continue
		}
		if u.MemErr != nil {
			meshtel.Error(c, u.MemErr, "cannot read istiod's memory usage")
			continue
		}
		if len(u.CPU) == 0 && len(u.Mem) == 0 {
			c.Error("Prometheus has no cAdvisor series for istiod's discovery container in pods %s, so its usage against the limits cannot be checked", strings.Join(mesh.Limit(names, maxPodsNamed), ", ")).
				Fix("scrape the kubelets' cAdvisor endpoint (/metrics/cadvisor), e.g. kube-prometheus-stack's kubelet ServiceMonitor or a kubernetes-nodes-cadvisor job in prometheus.yml").
				Query(cl.Query(u.MemExpr, "no series"))
			continue
		}
		var memOK, cpuOK []string
		for _, l := range pods {
			key := l.o.Namespace + "/" + l.o.Name
			cpu, hasCPU := u.CPU[key]
			mem, hasMem := u.Mem[key]
			if !hasCPU && !hasMem {
				c.Warn(l.o, "no cAdvisor series for istiod pod %s (container discovery): its usage against the limits is unknown", l.o.Name).
					Fix("check that the kubelet of the pod's node is scraped for /metrics/cadvisor").
					Query(cl.Query(u.MemExpr, "no series for pod "+l.o.Name))
				continue
			}
			if hasMem && l.mem > 0 {
				share := mem / l.mem
				val := fmt.Sprintf("%s bytes peak working set in the last %s", telemetry.FormatValue(mem), meshtel.Window)
				if share >= ratio {
					c.Fail(l.o, "istiod pod %s uses %s of its %s memory limit (%s peak over %s), at or above thresholds.resourceUsageRatio %.0f%%: the next push storm gets it OOM-killed",
						l.o.Name, meshtel.Percent(share), mib(l.mem), mib(mem), meshtel.Window, ratio*100).
						Field("spec.containers[discovery].resources.limits.memory").Got("%s (%s of the limit)", mib(mem), meshtel.Percent(share)).Want("below %.0f%% of %s", ratio*100, mib(l.mem)).
						Fix(usageFix(i, "memory", mem/ratio)).
						Query(cl.Query(u.MemExpr, val))
				} else {
					memOK = append(memOK, fmt.Sprintf("%s %s of %s (%s)", l.o.Name, mib(mem), mib(l.mem), meshtel.Percent(share)))
				}
			}
			if hasCPU && l.cpu > 0 {
				share := cpu / l.cpu
				val := fmt.Sprintf("%s cores over the last %s", telemetry.FormatValue(cpu), meshtel.Window)
				if share >= ratio {
					c.Warn(l.o, "istiod pod %s uses %s of its %s-core CPU limit (%s cores over %s), at or above thresholds.resourceUsageRatio %.0f%%: near the limit the kernel throttles it, which slows config pushes and certificate signing",
						l.o.Name, meshtel.Percent(share), telemetry.FormatValue(l.cpu), meshtel.Num(cpu), meshtel.Window, ratio*100).
						Field("spec.containers[discovery].resources.limits.cpu").Got("%s cores (%s of the limit)", meshtel.Num(cpu), meshtel.Percent(share)).Want("below %.0f%% of %s", ratio*100, telemetry.FormatValue(l.cpu)).
						Fix(usageFix(i, "cpu", cpu/ratio)).
						Query(cl.Query(u.CPUExpr, val))
				} else {
					cpuOK = append(cpuOK, fmt.Sprintf("%s %s of %s cores (%s)", l.o.Name, meshtel.Num(cpu), telemetry.FormatValue(l.cpu), meshtel.Percent(share)))
				}
			}
		}
		if len(memOK) > 0 {
			c.Pass(i.Object, "istiod's memory (peak working set over %s) is below %.0f%% of its limit: %s", meshtel.Window, ratio*100, meshtel.List(memOK, maxPodsNamed)).
				Query(cl.Query(u.MemExpr, meshtel.List(memOK, maxPodsNamed)))
		}
		if len(cpuOK) > 0 {
			c.Pass(i.Object, "istiod's CPU (rate over %s) is below %.0f%% of its limit: %s", meshtel.Window, ratio*100, meshtel.List(cpuOK, maxPodsNamed)).
				Query(cl.Query(u.CPUExpr, meshtel.List(cpuOK, maxPodsNamed)))
		}
	}
}

// mib prints bytes as MiB (or GiB from 1 GiB).
func mib(b float64) string {
	if b >= 1<<30 {
		return telemetry.FormatValue(math.Round(b/(1<<30)*100)/100) + " GiB"
	}
	return telemetry.FormatValue(math.Round(b/(1<<20))) + " MiB"
}

// usageFix raises the limit so that the usage seen sits below the ratio.
func usageFix(i mesh.Istiod, resource string, need float64) string {
	val := fmt.Sprintf("%dMi", int64(math.Ceil(need/(1<<20))))
	if resource == "cpu" {
		val = fmt.Sprintf("%dm", int64(math.Ceil(need*1000)))
	}
	return fmt.Sprintf("raise istiod's %[1]s limit to at least %[2]s (and look for what drives it: pilot_xds_pushes, the number of services and endpoints, a Sidecar resource per namespace trims what each proxy receives):\nkubectl -n %[3]s set resources deployment/%[4]s -c discovery --limits=%[1]s=%[2]s\n# or, with istioctl: --set components.pilot.k8s.resources.limits.%[1]s=%[2]s",
		resource, val, i.Object.Namespace, i.Object.Name)
}
