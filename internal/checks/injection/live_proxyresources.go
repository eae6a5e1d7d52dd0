package injection

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
)

// proxyResourcesLive checks what the injector really wrote: every running
// injected pod's istio-proxy container carries cpu and memory requests and
// limits (gateways are left to gateway.resources).
func proxyResourcesLive(c *check.Context) {
	nss := mesh.Namespaces(c, c.Config)
	if len(nss) == 0 {
		noMeshNamespaces(c)
		return
	}
	pods, gws := runningInjectedPods(c, nss)
	if len(pods) == 0 {
		noInjectedPods(c, nss, "the proxies' resources")
		return
	}
	exists := deploymentExists(c)
	g := newGrouper()
	values := map[string]int{}
	good := 0
	for _, ip := range pods {
		r := ip.proxy.Resources
		var missing []string
		for _, f := range proxyFields {
			kind, name, _ := strings.Cut(f.path, ".")
			list := r.Requests
			if kind == "limits" {
				list = r.Limits
			}
			if _, ok := list[corev1.ResourceName(name)]; !ok {
				missing = append(missing, f.path)
			}
		}
		if len(missing) > 0 {
			g.add(ip.obj, mesh.PodOwner(ip.pod, exists), strings.Join(missing, ", "))
			continue
		}
		good++
		values[fmt.Sprintf("requests %s/%s, limits %s/%s", q(r.Requests, corev1.ResourceCPU), q(r.Requests, corev1.ResourceMemory), q(r.Limits, corev1.ResourceCPU), q(r.Limits, corev1.ResourceMemory))]++
	}
	for i, pg := range g.order {
		if i == maxNamed {
			c.Fail(nil, "and %d more group(s) of injected pods whose istio-proxy lacks requests or limits (first %d named above)", len(g.order)-maxNamed, maxNamed).Fix(globalFix())
			break
		}
		var anns []string
		for _, f := range proxyFields {
			if strings.Contains(pg.detail, f.path) {
				anns = append(anns, f.annotation)
			}
		}
		fix := annotationFix(anns)
		if pg.owner.Kind != "" {
			fix = fmt.Sprintf("# on %s's pod template (or global.proxy.resources in the injector values), then recreate the pods:\n%s\n%s", pg.owner, fix, pg.owner.RestartCommand(pg.pods[0].Name))
		}
		c.Fail(pg.pods[0], "%s: the injected istio-proxy container has no %s", pg.subject(), pg.detail).
			Field("spec.containers[istio-proxy].resources").Got("missing %s", pg.detail).Want("requests and limits for cpu and memory").
			Fix(fix)
	}
	if good > 0 {
		var vs []string
		for _, k := range sortedKeys(values) {
			vs = append(vs, fmt.Sprintf("%s (%d pod(s))", k, values[k]))
		}
		c.Pass(nil, "%d of %d running injected pod(s) in the mesh namespaces carry istio-proxy requests and limits: %s%s", good, len(pods), strings.Join(vs, "; "), gatewayNote(gws))
	}
}

func q(l corev1.ResourceList, n corev1.ResourceName) string {
	v := l[n]
	return v.String()
}
