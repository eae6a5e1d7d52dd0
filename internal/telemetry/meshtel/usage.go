package meshtel

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/meshready/meshready/internal/telemetry"
)

// UsageView is what some pods' container uses (cAdvisor): CPU cores
// (rate over Window) and the peak working set over Window, by "namespace/pod".
type UsageView struct {
	CPUExpr, MemExpr string
	CPUErr, MemErr   error
	CPU, Mem         map[string]float64 // cores, bytes
}

// ContainerUsage returns the usage of one container in the named pods of
// a namespace (queried once per run for the same pods).
func ContainerUsage(cl *telemetry.Client, namespace, container string, pods []string) *UsageView {
	ps := append([]string(nil), pods...)
	sort.Strings(ps)
	for i, p := range ps {
		ps[i] = regexp.QuoteMeta(p)
	}
	m := fmt.Sprintf(`{namespace=%q, container=%q, pod=~"%s"}`, namespace, container, strings.ReplaceAll(strings.Join(ps, "|"), `\`, `\\`))
	v := &UsageView{
		CPUExpr: fmt.Sprintf(`sum by (namespace, pod) (rate(container_cpu_usage_seconds_total%s[%s]))`, m, Window),
		MemExpr: fmt.Sprintf(`max by (namespace, pod) (max_over_time(container_memory_working_set_bytes%s[%s]))`, m, Window),
	}
	return memo(cl, "view:usage\x00"+v.CPUExpr, func() *UsageView {
		v.CPU, v.Mem = map[string]float64{}, map[string]float64{}
		var cpu, mem model.Vector
		parallel(
			func() { cpu, v.CPUErr = cl.Instant(bg, v.CPUExpr) },
			func() { mem, v.MemErr = cl.Instant(bg, v.MemExpr) },
		)
		for _, s := range cpu {
			v.CPU[label(s, "namespace")+"/"+label(s, "pod")] = float64(s.Value)
		}
		for _, s := range mem {
			v.Mem[label(s, "namespace")+"/"+label(s, "pod")] = float64(s.Value)
		}
		return v
	})
}
