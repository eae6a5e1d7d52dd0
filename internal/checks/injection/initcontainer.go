package injection

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// LabelPodSecurityEnforce is the Pod Security Admission enforce label.
const LabelPodSecurityEnforce = "pod-security.kubernetes.io/enforce"

// maxHoldFindings bounds the per-workload holdApplicationUntilProxyStarts warnings.
const maxHoldFindings = 25

var initContainer = &check.Check{
	ID: "injection.init-container",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet,
		snapshot.ConfigMap, snapshot.Pod, snapshot.Node},
	Why: "Without the Istio CNI plugin every injected pod starts with the istio-init container, which needs the " +
		"NET_ADMIN and NET_RAW capabilities to set up traffic redirection; Pod Security Admission at baseline or " +
		"restricted forbids them, so pods in such namespaces are rejected at creation. And an application that calls " +
		"the network before its proxy is ready fails its first requests (or crash-loops) unless it is held until the proxy starts.",
	Fix: "Install the Istio CNI node agent (istioctl install --set components.cni.enabled=true), or keep mesh namespaces " +
		"at the privileged Pod Security level; set holdApplicationUntilProxyStarts: true mesh-wide " +
		"(meshConfig.defaultConfig) or per workload (proxy.istio.io/config annotation).",
	Docs:   "https://istio.io/latest/docs/setup/additional-setup/cni/",
	Config: initContainerConfig,
	Live:   initContainerLive,
}

func initContainerConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	nss := mesh.Namespaces(c, c.Config)
	if len(nss) == 0 {
		c.Fail(c.Get(snapshot.Namespace, "", cp), "no mesh namespace (none labelled for injection, none listed in meshready.yaml): there is nothing to check").
			Want("at least one mesh namespace").
			Fix("kubectl label namespace <app-namespace> istio-injection=enabled")
		return
	}
	var values *mesh.InjectorValues
	if cms := mesh.InjectorConfigMaps(c, cp); len(cms) > 0 {
		iv, err := mesh.LoadInjectorValuesFrom(cms[0])
		if err != nil {
			c.Error("cannot read the injector values: %v", err)
		}
		values = iv
	}
	wls := meshWorkloads(c, nss)
	checkCNI(c, nss, values, wls)
	checkHold(c, values, wls)
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

// checkCNI: with the CNI plugin, pods need no privileged init container;
// without it, istio-init needs NET_ADMIN/NET_RAW, which Pod Security
// baseline and restricted forbid.
func checkCNI(c *check.Context, nss []string, values *mesh.InjectorValues, wls []mesh.Workload) {
	ds := mesh.CNIDaemonSet(c)
	valuesCNI := values != nil && (truthy(values.Lookup("istio_cni.enabled")) || truthy(values.Lookup("pilot.cni.enabled")))
	switch {
	case ds != nil && (values == nil || valuesCNI):
		c.Pass(ds, "the Istio CNI node agent (DaemonSet %s/%s) sets up traffic redirection: injected pods need no istio-init container with NET_ADMIN/NET_RAW", ds.Namespace, ds.Name)
		return
	case ds != nil:
		c.Warn(values.Object, "the Istio CNI DaemonSet %s/%s is installed, but the injector values do not enable CNI (istio_cni.enabled / pilot.cni.enabled): pods still get the privileged istio-init container", ds.Namespace, ds.Name).
			Field("data.values: pilot.cni.enabled").Got("false or unset").Want("true").
			Fix("istioctl install --set components.cni.enabled=true -y\n# Helm: helm upgrade istiod istio/istiod -n istio-system --reuse-values --set pilot.cni.enabled=true")
	case valuesCNI:
		c.Warn(values.Object, "the injector values enable CNI, but no istio-cni-node DaemonSet is in the input: if it is not installed, injected pods stay stuck in their istio-validation init container").
			Field("data.values: pilot.cni.enabled").Got("true").Want("an istio-cni-node DaemonSet").
			Fix("helm install istio-cni istio/cni -n istio-system --wait\n# verify: kubectl get ds -A -l k8s-app=istio-cni-node")
		return
	}
	// istio-init is in use (by sidecars; the gateway template has none).
	sidecars := map[string]int{}
	for _, w := range wls {
		sidecars[w.Object.Namespace]++
	}
	for _, ns := range nss {
		o := c.Get(snapshot.Namespace, "", ns)
		if o == nil {
			continue
		}
		level := o.Labels[LabelPodSecurityEnforce]
		gatewaysOnly := false
		if sidecars[ns] == 0 {
			ws := mesh.Workloads(c, ns)
			gatewaysOnly = len(ws) > 0
			for _, w := range ws {
				gatewaysOnly = gatewaysOnly && isGatewayTemplate(w)
			}
		}
		switch {
		case gatewaysOnly && (level == "baseline" || level == "restricted"):
			c.Pass(o, "mesh namespace %s enforces Pod Security %q but runs only gateways, which the gateway template injects without istio-init", ns, level)
		case level == "baseline" || level == "restricted":
			c.Fail(o, "mesh namespace %s enforces Pod Security %q, which forbids the NET_ADMIN and NET_RAW capabilities istio-init needs, and the Istio CNI plugin is not installed: injected pods are rejected", ns, level).
				Field("metadata.labels["+LabelPodSecurityEnforce+"]").Got("%s", level).Want("the Istio CNI plugin installed (or enforce=privileged)").
				Fixf("istioctl install --set components.cni.enabled=true -y   # then restart the workloads\n# or, accepting privileged pods in this namespace:\nkubectl label namespace %s %s=privileged --overwrite", ns, LabelPodSecurityEnforce)
		case level == "":
			c.Pass(o, "mesh namespace %s enforces no Pod Security level: istio-init may add NET_ADMIN/NET_RAW (a cluster-wide PodSecurity default, if any, is checked live)", ns)
		default:
			c.Pass(o, "mesh namespace %s enforces Pod Security %q: istio-init's NET_ADMIN/NET_RAW are allowed", ns, level)
		}
	}
	for _, w := range wls {
		for _, ic := range w.Template.Spec.InitContainers {
			if ic.Name != mesh.InitContainerName {
				continue
			}
			if missing := missingCaps(ic, "NET_ADMIN", "NET_RAW"); len(missing) > 0 {
				c.Fail(w.Object, "%s's istio-init container does not add %s: it cannot install the traffic redirection rules", workloadRef(w), strings.Join(missing, ", ")).
					Field("spec.template.spec.initContainers[istio-init].securityContext.capabilities.add").Got("%v", addedCaps(ic)).Want("[NET_ADMIN NET_RAW]").
					Fix("spec:\n  template:\n    spec:\n      initContainers:\n      - name: istio-init\n        securityContext:\n          capabilities:\n            add: [NET_ADMIN, NET_RAW]\n            drop: [ALL]\n# better: re-inject with the current injector (kubectl rollout restart) or install the Istio CNI plugin")
			}
		}
	}
}

func addedCaps(ct corev1.Container) []corev1.Capability {
	if ct.SecurityContext == nil || ct.SecurityContext.Capabilities == nil {
		return nil
	}
	return ct.SecurityContext.Capabilities.Add
}

func missingCaps(ct corev1.Container, want ...string) []string {
	have := map[string]bool{}
	for _, c := range addedCaps(ct) {
		have[strings.ToUpper(strings.TrimPrefix(string(c), "CAP_"))] = true
	}
	if ct.SecurityContext != nil && ct.SecurityContext.Privileged != nil && *ct.SecurityContext.Privileged {
		return nil
	}
	var out []string
	for _, w := range want {
		if !have[w] {
			out = append(out, w)
		}
	}
	return out
}

// checkHold verifies apps are held until their proxy is ready: mesh-wide
// (meshConfig.defaultConfig or injector values), by native sidecars, or per
// workload (proxy.istio.io/config).
func checkHold(c *check.Context, values *mesh.InjectorValues, wls []mesh.Workload) {
	cp := c.Config.ControlPlaneNamespace
	var global string
	mc, err := mesh.LoadMeshConfig(c, cp)
	if err != nil {
		c.Error("cannot read the mesh config: %v", err)
	}
	if mc != nil && mc.Config.GetDefaultConfig().GetHoldApplicationUntilProxyStarts().GetValue() {
		global = fmt.Sprintf("meshConfig.defaultConfig.holdApplicationUntilProxyStarts in ConfigMap %s/%s", mc.Object.Namespace, mc.Object.Name)
	} else if values != nil && truthy(values.Lookup("global.proxy.holdApplicationUntilProxyStarts")) {
		global = fmt.Sprintf("global.proxy.holdApplicationUntilProxyStarts in ConfigMap %s/%s", values.Object.Namespace, values.Object.Name)
	} else if native := nativeSidecarsOn(c, values); native != "" {
		global = native
	}
	if global != "" {
		c.Pass(nil, "applications wait for their proxy: %s", global)
		return
	}
	if len(wls) == 0 {
		anchor := c.Get(snapshot.Namespace, "", cp)
		if mc != nil {
			anchor = mc.Object
		}
		c.Warn(anchor, "holdApplicationUntilProxyStarts is not set mesh-wide: applications that call the network at start may fail until their proxy is ready").
			Field("data.mesh: defaultConfig.holdApplicationUntilProxyStarts").Got("unset").Want("true").
			Fix(holdMeshFix(cp))
		return
	}
	var lacking []mesh.Workload
	held := 0
	for _, w := range wls {
		a := w.Template.Annotations
		if strings.EqualFold(a[annNativeSidecar], "true") {
			held++
			continue
		}
		if raw, ok := a[annProxyConfig]; ok {
			if pc, err := parseProxyConfig(raw); err == nil && pc.GetHoldApplicationUntilProxyStarts().GetValue() {
				held++
				continue
			}
		}
		lacking = append(lacking, w)
	}
	for i, w := range lacking {
		if i == maxHoldFindings {
			rest := len(lacking) - maxHoldFindings
			c.Warn(nil, "%d more injected workload(s) are not held until their proxy starts (first %d named above)", rest, maxHoldFindings).
				Fix(holdMeshFix(cp))
			break
		}
		c.Warn(w.Object, "%s is not held until its proxy starts (holdApplicationUntilProxyStarts is set neither mesh-wide nor in its %s annotation): calls made at start-up can fail", workloadRef(w), annProxyConfig).
			Field("spec.template.metadata.annotations["+annProxyConfig+"]").Got("no holdApplicationUntilProxyStarts").Want("holdApplicationUntilProxyStarts: true").
			Fixf("spec:\n  template:\n    metadata:\n      annotations:\n        %s: |\n          holdApplicationUntilProxyStarts: true\n# or mesh-wide:\n%s", annProxyConfig, holdMeshFix(cp))
	}
	if len(lacking) == 0 {
		c.Pass(nil, "all %d injected workload(s) hold the application until the proxy starts (per-workload %s or native sidecars)", held, annProxyConfig)
	}
}

// nativeSidecarsOn reports whether proxies are injected as native sidecars
// (init containers with restartPolicy Always), which start before the app.
func nativeSidecarsOn(c *check.Context, values *mesh.InjectorValues) string {
	if values != nil && truthy(values.Lookup("pilot.env.ENABLE_NATIVE_SIDECARS")) {
		return fmt.Sprintf("native sidecars (pilot.env.ENABLE_NATIVE_SIDECARS in ConfigMap %s/%s)", values.Object.Namespace, values.Object.Name)
	}
	for _, i := range mesh.Istiods(c, c.Config.ControlPlaneNamespace) {
		if i.Container == nil {
			continue
		}
		for _, e := range i.Container.Env {
			if e.Name == "ENABLE_NATIVE_SIDECARS" && strings.EqualFold(e.Value, "true") {
				return fmt.Sprintf("native sidecars (ENABLE_NATIVE_SIDECARS=true on Deployment %s/%s)", i.Object.Namespace, i.Object.Name)
			}
		}
	}
	return ""
}

func holdMeshFix(cp string) string {
	return fmt.Sprintf(`# istioctl / Helm values (ConfigMap %s/istio, key mesh):
meshConfig:
  defaultConfig:
    holdApplicationUntilProxyStarts: true`, cp)
}
