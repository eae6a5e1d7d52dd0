package injection

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// annInterceptionMode turns traffic interception off (NONE) for one pod.
const annInterceptionMode = "sidecar.istio.io/interceptionMode"

// initContainerLive checks how the running injected pods get their traffic
// redirected: istio-init with NET_ADMIN and NET_RAW, or (CNI mode) the
// istio-validation init container with a Ready Istio CNI node agent on every
// node; and that no mesh workload's pods are being rejected at admission
// (Pod Security) as the Deployments' ReplicaFailure conditions report.
func initContainerLive(c *check.Context) {
	nss := mesh.Namespaces(c, c.Config)
	if len(nss) == 0 {
		c.Fail(c.Get(snapshot.Namespace, "", c.Config.ControlPlaneNamespace), "no mesh namespace (none labelled for injection, none listed in meshready.yaml): there is nothing to check").
			Want("at least one mesh namespace").
			Fix("kubectl label namespace <app-namespace> istio-injection=enabled")
		return
	}
	checkRejectedPods(c, nss)
	pods, gws := runningInjectedPods(c, nss)
	if len(pods) == 0 {
		noInjectedPods(c, nss, "the init containers")
		checkCNINodes(c, nil)
		return
	}
	exists := deploymentExists(c)
	g := newGrouper()
	var cniPods []injectedPod
	initOK, none := 0, 0
	for _, ip := range pods {
		if strings.EqualFold(ip.pod.Annotations[annInterceptionMode], "NONE") {
			none++
			continue
		}
		if mesh.InitContainerNamed(&ip.pod.Spec, mesh.ValidationInitName) != nil {
			cniPods = append(cniPods, ip)
			continue
		}
		ic := mesh.InitContainerNamed(&ip.pod.Spec, mesh.InitContainerName)
		switch {
		case ic == nil:
			g.add(ip.obj, mesh.PodOwner(ip.pod, exists), "no-init")
		case len(missingCaps(*ic, "NET_ADMIN", "NET_RAW")) > 0:
			g.add(ip.obj, mesh.PodOwner(ip.pod, exists), "caps:"+strings.Join(missingCaps(*ic, "NET_ADMIN", "NET_RAW"), ", "))
		default:
			initOK++
		}
	}
	for i, pg := range g.order {
		if i == maxNamed {
			c.Fail(nil, "and %d more group(s) of injected pods without working traffic redirection (first %d named above)", len(g.order)-maxNamed, maxNamed).
				Fix("istioctl install --set components.cni.enabled=true -y   # then restart the mesh workloads")
			break
		}
		restart := pg.owner.RestartCommand(pg.pods[0].Name)
		if pg.detail == "no-init" {
			c.Fail(pg.pods[0], "%s carry istio-proxy but neither the istio-init nor the istio-validation (CNI) init container: their traffic is not redirected through the proxy", pg.subject()).
				Field("spec.initContainers").Got("%s", initNames(mesh.PodOf(pg.pods[0]))).Want("istio-init (NET_ADMIN, NET_RAW) or istio-validation with the Istio CNI plugin").
				Fixf("Recreate the pods so the injector adds the init container (a hand-written proxy container is not enough):\n%s", restart)
			continue
		}
		caps := strings.TrimPrefix(pg.detail, "caps:")
		c.Fail(pg.pods[0], "%s: istio-init does not add %s, which it needs to install the iptables redirection", pg.subject(), caps).
			Field("spec.initContainers[istio-init].securityContext.capabilities.add").Got("%v", addedCaps(*mesh.InitContainerNamed(&mesh.PodOf(pg.pods[0]).Spec, mesh.InitContainerName))).Want("[NET_ADMIN NET_RAW]").
			Fixf("Recreate the pods with the current injector (it adds both capabilities):\n%s\n# or install the Istio CNI plugin: istioctl install --set components.cni.enabled=true -y", restart)
	}
	if initOK > 0 {
		c.Pass(nil, "%d running injected pod(s) start with istio-init holding NET_ADMIN and NET_RAW%s", initOK, gatewayNote(gws))
	}
	if none > 0 {
		c.Pass(nil, "%d running injected pod(s) set %s: NONE (no redirection by design)", none, annInterceptionMode)
	}
	if len(cniPods) > 0 {
		c.Pass(nil, "%d running injected pod(s) use the Istio CNI plugin (istio-validation init container, no privileged istio-init)%s", len(cniPods), gatewayNote(gws))
		checkCNINodes(c, cniPods)
	}
}

func initNames(p *corev1.Pod) string {
	var names []string
	for _, ic := range p.Spec.InitContainers {
		names = append(names, ic.Name)
	}
	if len(names) == 0 {
		return "no init containers"
	}
	return "init containers [" + strings.Join(names, ", ") + "]"
}

// checkCNINodes verifies the Istio CNI node agent is Ready on every node it
// should run on. cniPods are the injected pods that depend on it (nil when
// none does: the DaemonSet is then checked only if it exists).
func checkCNINodes(c *check.Context, cniPods []injectedPod) {
	dsObj := mesh.CNIDaemonSet(c)
	if dsObj == nil {
		if len(cniPods) > 0 {
			c.Fail(cniPods[0].obj, "%d running injected pod(s) use CNI mode (istio-validation), but no istio-cni-node DaemonSet is in the cluster: new pods on any node stay stuck in istio-validation", len(cniPods)).
				Want("DaemonSet istio-cni-node Ready on every node").
				Fix("helm install istio-cni istio/cni -n istio-system --wait\n# or: istioctl install --set components.cni.enabled=true -y\n# verify: kubectl get ds -A -l k8s-app=istio-cni-node")
		}
		return
	}
	ds, ok := dsObj.Typed.(*appsv1.DaemonSet)
	if !ok {
		return
	}
	nodes := c.List(snapshot.Node)
	if len(nodes) == 0 {
		c.Warn(dsObj, "no Node is in the snapshot: that the Istio CNI node agent runs on every node cannot be verified").
			Want("the cluster's Nodes").
			Fix("kubectl get nodes   # meshready needs list on nodes: see deploy/ for its ClusterRole")
		return
	}
	w := mesh.Workload{Object: dsObj, Template: &ds.Spec.Template, Replicas: -1}
	readyOn := map[string]bool{}
	notReadyOn := map[string]string{}
	for _, o := range mesh.WorkloadPods(c, w) {
		p := mesh.PodOf(o)
		if mesh.PodReady(p) {
			readyOn[p.Spec.NodeName] = true
		} else {
			notReadyOn[p.Spec.NodeName] = o.Name + ": " + mesh.PodNotReadyReason(p)
		}
	}
	dependents := map[string][]*snapshot.Object{}
	for _, ip := range cniPods {
		dependents[ip.pod.Spec.NodeName] = append(dependents[ip.pod.Spec.NodeName], ip.obj)
	}
	covered, skipped := 0, 0
	for _, no := range nodes {
		n := mesh.NodeOf(no)
		if n == nil {
			continue
		}
		if !snapshot.SelectorMatches(ds.Spec.Template.Spec.NodeSelector, no.Labels) || !toleratesAll(ds.Spec.Template.Spec.Tolerations, n.Spec.Taints) {
			skipped++
			continue
		}
		if readyOn[no.Name] {
			covered++
			continue
		}
		state := "no istio-cni-node pod"
		if why, ok := notReadyOn[no.Name]; ok {
			state = "istio-cni-node pod not Ready (" + why + ")"
		}
		impact := "injected pods scheduled there stay stuck in their istio-validation init container"
		if d := dependents[no.Name]; len(d) > 0 {
			impact = fmt.Sprintf("%s; injected pods running there now: %s", impact, mesh.PodNames(d, maxPodsNamed))
		}
		c.Fail(no, "node %s has %s: %s", no.Name, state, impact).
			Want("a Ready istio-cni-node pod (DaemonSet %s/%s)", dsObj.Namespace, dsObj.Name).
			Fixf("kubectl -n %s get pods -l k8s-app=istio-cni-node -o wide --field-selector spec.nodeName=%s\nkubectl -n %[1]s describe daemonset/%[3]s   # nodeSelector, tolerations, image pulls", dsObj.Namespace, no.Name, dsObj.Name)
	}
	if covered > 0 {
		note := ""
		if skipped > 0 {
			note = fmt.Sprintf(" (%d node(s) outside its nodeSelector/tolerations)", skipped)
		}
		c.Pass(dsObj, "the Istio CNI node agent (DaemonSet %s/%s) is Ready on %d node(s)%s", dsObj.Namespace, dsObj.Name, covered, note)
	}
}

// toleratesAll reports whether tolerations cover every NoSchedule/NoExecute taint.
func toleratesAll(tols []corev1.Toleration, taints []corev1.Taint) bool {
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for _, tol := range tols {
			if tol.Effect != "" && tol.Effect != t.Effect {
				continue
			}
			switch {
			case tol.Key == "" && tol.Operator == corev1.TolerationOpExists:
				ok = true
			case tol.Key == t.Key && tol.Operator == corev1.TolerationOpExists:
				ok = true
			case tol.Key == t.Key && (tol.Operator == corev1.TolerationOpEqual || tol.Operator == "") && tol.Value == t.Value:
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// checkRejectedPods reports mesh Deployments whose pods the API server
// rejects (ReplicaFailure), e.g. Pod Security forbidding istio-init's
// capabilities.
func checkRejectedPods(c *check.Context, nss []string) {
	for _, ns := range nss {
		for _, o := range c.InNamespace(snapshot.Deployment, ns) {
			d, ok := o.Typed.(*appsv1.Deployment)
			if !ok {
				continue
			}
			for _, cond := range d.Status.Conditions {
				if cond.Type != appsv1.DeploymentReplicaFailure || cond.Status != corev1.ConditionTrue {
					continue
				}
				msg := cond.Message
				fix := fmt.Sprintf("kubectl -n %s describe deployment/%s   # the ReplicaFailure message", ns, o.Name)
				if strings.Contains(msg, "PodSecurity") || strings.Contains(msg, "NET_ADMIN") || strings.Contains(msg, "istio-init") {
					fix = fmt.Sprintf("istioctl install --set components.cni.enabled=true -y   # no privileged istio-init needed\n# or, accepting privileged pods: kubectl label namespace %s %s=privileged --overwrite\n# then: kubectl rollout restart deployment/%s -n %[1]s", ns, LabelPodSecurityEnforce, o.Name)
				}
				c.Fail(o, "Deployment %s/%s cannot create its pods: %s (%s)", ns, o.Name, cond.Reason, msg).
					Field("status.conditions[ReplicaFailure]").Got("%s: %s", cond.Reason, msg).Want("no ReplicaFailure").
					Fix(fix)
			}
		}
	}
}
