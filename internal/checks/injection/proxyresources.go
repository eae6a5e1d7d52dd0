package injection

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var proxyResources = &check.Check{
	ID: "injection.proxy-resources",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet,
		snapshot.ConfigMap, snapshot.Pod},
	Why: "Every injected pod carries an istio-proxy container. Without requests its CPU and memory are not reserved, " +
		"so a busy node starves the proxy and every request through it slows down; without limits one proxy " +
		"(e.g. with a huge config or a connection storm) can take a node's memory. Namespace LimitRange defaults rarely fit a proxy.",
	Fix: "Set global.proxy.resources (requests and limits) in the injector values, and override per workload with " +
		"sidecar.istio.io/proxyCPU, proxyCPULimit, proxyMemory and proxyMemoryLimit annotations where needed.",
	Docs:   "https://istio.io/latest/docs/reference/config/annotations/#SidecarProxyCPU",
	Config: proxyResourcesConfig,
	Live:   proxyResourcesLive,
}

// proxyField is one of the four proxy resource settings.
type proxyField struct {
	annotation string
	path       string // under global.proxy.resources
	container  string // requests.cpu ...
}

var proxyFields = []proxyField{
	{annProxyCPU, "requests.cpu", "requests.cpu"},
	{annProxyMemory, "requests.memory", "requests.memory"},
	{annProxyCPULimit, "limits.cpu", "limits.cpu"},
	{annProxyMemLimit, "limits.memory", "limits.memory"},
}

func proxyResourcesConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	nss := mesh.Namespaces(c, c.Config)
	global := map[string]string{}
	var valuesObj *snapshot.Object
	for _, cm := range mesh.InjectorConfigMaps(c, cp) {
		iv, err := mesh.LoadInjectorValuesFrom(cm)
		if err != nil {
			c.Error("cannot read the injector values: %v", err)
			continue
		}
		if valuesObj == nil {
			valuesObj = cm
		}
		for _, f := range proxyFields {
			if v := iv.Lookup("global.proxy.resources." + f.path); v != nil {
				if s := mesh.String(v); s != "" && global[f.path] == "" {
					global[f.path] = s
				}
			}
		}
	}
	var globalMissing []string
	for _, f := range proxyFields {
		if global[f.path] == "" {
			globalMissing = append(globalMissing, f.path)
		}
	}

	wls := meshWorkloads(c, nss)
	failing := 0
	fixes := map[string]string{}
	for _, w := range wls {
		if failWorkload(c, w, global, valuesObj != nil, failing >= maxNamed, fixes) {
			failing++
		}
	}
	if failing > maxNamed {
		c.Fail(nil, "and %d more injected workload(s) whose proxy gets no request or limit (first %d named above)", failing-maxNamed, maxNamed).
			Fix(globalFix())
	}

	switch {
	case valuesObj == nil && len(wls) == 0:
		c.Fail(c.Get(snapshot.Namespace, "", cp), "neither the injector values (ConfigMap %s/istio-sidecar-injector) nor any injected workload is in the input: proxy resources cannot be verified", cp).
			Want("global.proxy.resources requests and limits in the injector values").
			Fix(globalFix())
	case valuesObj != nil && len(globalMissing) > 0:
		msg := fmt.Sprintf("the injector's global.proxy.resources sets no %s: proxies injected without a per-pod annotation get none", strings.Join(globalMissing, ", "))
		if failing == 0 && len(wls) > 0 {
			// Every workload today overrides it; new ones will not.
			c.Warn(valuesObj, "%s (every current mesh workload overrides it by annotation)", msg).
				Field("data.values: global.proxy.resources").Got("%s", globalString(global)).Want("requests and limits for cpu and memory").
				Fix(globalFix())
		} else {
			c.Fail(valuesObj, "%s", msg).
				Field("data.values: global.proxy.resources").Got("%s", globalString(global)).Want("requests and limits for cpu and memory").
				Fix(globalFix())
		}
	case valuesObj != nil:
		c.Pass(valuesObj, "injector values set proxy resources for every injected pod: %s", globalString(global))
	}
	if len(wls) > 0 && failing == 0 {
		c.Pass(nil, "all %d injected workload(s) in the mesh namespaces get proxy requests and limits (global values or annotations)", len(wls))
	}
}

// failWorkload reports one workload whose proxy ends up without a request
// or limit (or with a limit below its request); it returns true if so.
// With quiet set it only counts: the caller summarises the rest.
func failWorkload(c *check.Context, w mesh.Workload, global map[string]string, haveValues, quiet bool, fixes map[string]string) bool {
	t := w.Template
	// Pre-injected templates carry the proxy container itself.
	if ct := mesh.ContainerNamed(&t.Spec, mesh.ProxyContainerName); ct != nil && ct.Image != "auto" {
		var missing []string
		for _, f := range proxyFields {
			list := ct.Resources.Requests
			if strings.HasPrefix(f.path, "limits") {
				list = ct.Resources.Limits
			}
			name := f.path[strings.Index(f.path, ".")+1:]
			if _, ok := list[corev1.ResourceName(name)]; !ok {
				missing = append(missing, f.path)
			}
		}
		if len(missing) > 0 && quiet {
			return true
		}
		if len(missing) > 0 {
			c.Fail(w.Object, "%s's istio-proxy container sets no %s", workloadRef(w), strings.Join(missing, ", ")).
				Field("spec.template.spec.containers[istio-proxy].resources").Got("missing %s", strings.Join(missing, ", ")).Want("requests and limits for cpu and memory").
				Fix("spec:\n  template:\n    spec:\n      containers:\n      - name: istio-proxy\n        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n          limits: {cpu: \"2\", memory: 1Gi}")
			return true
		}
		return false
	}
	eff := map[string]string{}
	var missing []string
	for _, f := range proxyFields {
		if v := t.Annotations[f.annotation]; v != "" {
			eff[f.path] = v
		} else if global[f.path] != "" {
			eff[f.path] = global[f.path]
		} else {
			missing = append(missing, f.path)
		}
	}
	if len(missing) > 0 && quiet {
		return true
	}
	if len(missing) > 0 {
		src := "the injector values set none"
		if !haveValues {
			src = "the injector values are not in the input"
		}
		var anns []string
		for _, f := range proxyFields {
			for _, m := range missing {
				if m == f.path {
					anns = append(anns, f.annotation)
				}
			}
		}
		c.Fail(w.Object, "%s's injected proxy gets no %s: no %s annotation and %s", workloadRef(w), strings.Join(missing, ", "), strings.Join(anns, "/"), src).
			Field("spec.template.metadata.annotations").Got("missing %s", strings.Join(anns, ", ")).Want("proxy requests and limits (annotations or global.proxy.resources)").
			Fix(cachedFix(fixes, anns))
		return true
	}
	for _, p := range [][2]string{{"requests.cpu", "limits.cpu"}, {"requests.memory", "limits.memory"}} {
		req, err1 := resource.ParseQuantity(eff[p[0]])
		lim, err2 := resource.ParseQuantity(eff[p[1]])
		if err1 == nil && err2 == nil && lim.Cmp(req) < 0 {
			if quiet {
				return true
			}
			c.Fail(w.Object, "%s's injected proxy would get %s %s above %s %s: the pod is rejected", workloadRef(w), p[0], eff[p[0]], p[1], eff[p[1]]).
				Field("spec.template.metadata.annotations").Got("%s=%s, %s=%s", p[0], eff[p[0]], p[1], eff[p[1]]).Want("limit >= request").
				Fix(annotationFix([]string{annProxyCPU, annProxyCPULimit, annProxyMemory, annProxyMemLimit}))
			return true
		}
	}
	return false
}

func globalString(g map[string]string) string {
	var parts []string
	for _, f := range proxyFields {
		v := g[f.path]
		if v == "" {
			v = "unset"
		}
		parts = append(parts, f.path+"="+v)
	}
	return strings.Join(parts, ", ")
}

func globalFix() string {
	return `# istioctl (IstioOperator) or Helm values for istiod:
values:
  global:
    proxy:
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: "2", memory: 1Gi}`
}

func annotationFix(anns []string) string {
	ex := map[string]string{annProxyCPU: "100m", annProxyMemory: "128Mi", annProxyCPULimit: "\"2\"", annProxyMemLimit: "1Gi"}
	var b strings.Builder
	b.WriteString("spec:\n  template:\n    metadata:\n      annotations:\n")
	for _, a := range anns {
		v := ex[a]
		if !strings.HasPrefix(v, "\"") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "        %s: %s\n", a, v)
	}
	b.WriteString("# or set global.proxy.resources in the injector values")
	return b.String()
}

func cachedFix(cache map[string]string, anns []string) string {
	key := strings.Join(anns, ",")
	f, ok := cache[key]
	if !ok {
		f = annotationFix(anns)
		cache[key] = f
	}
	return f
}
