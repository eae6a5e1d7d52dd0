package gateway

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// maxPodsNamed bounds the pod names listed in one message.
const maxPodsNamed = 8

// gatewayPods returns a gateway workload's pods, split by readiness.
func gatewayPods(c *check.Context, w mesh.Workload) (all, ready, notReady []*snapshot.Object) {
	all = mesh.WorkloadPods(c, w)
	for _, o := range all {
		if p := mesh.PodOf(o); p != nil && mesh.PodReady(p) {
			ready = append(ready, o)
		} else {
			notReady = append(notReady, o)
		}
	}
	return all, ready, notReady
}

// selectorOf renders a workload's pod selector for kubectl -l.
func selectorOf(w mesh.Workload) string {
	var sel map[string]string
	switch t := w.Object.Typed.(type) {
	case *appsv1.Deployment:
		if t.Spec.Selector != nil {
			sel = t.Spec.Selector.MatchLabels
		}
	case *appsv1.StatefulSet:
		if t.Spec.Selector != nil {
			sel = t.Spec.Selector.MatchLabels
		}
	case *appsv1.DaemonSet:
		if t.Spec.Selector != nil {
			sel = t.Spec.Selector.MatchLabels
		}
	}
	if len(sel) == 0 {
		sel = gatewayIdentity(w.Template.Labels)
	}
	return labelString(sel)
}

func podStates(pods []*snapshot.Object) string {
	var parts []string
	for i, o := range pods {
		if i == maxPodsNamed {
			parts = append(parts, fmt.Sprintf("and %d more", len(pods)-maxPodsNamed))
			break
		}
		parts = append(parts, o.Name+" ("+mesh.PodNotReadyReason(mesh.PodOf(o))+")")
	}
	return strings.Join(parts, "; ")
}

// ingressLive checks the running ingress gateways: at least
// thresholds.minReplicas Ready pods each, and an external Service whose
// load balancer has an address (status.loadBalancer.ingress).
func ingressLive(c *check.Context) {
	wls := mesh.GatewayWorkloads(c)
	min := c.Config.Thresholds.MinReplicas
	var ingress []mesh.GatewayWorkload
	deployedFor := map[string]bool{}
	for _, w := range wls {
		if n := w.Template.Labels[mesh.LabelGatewayName]; n != "" {
			deployedFor[w.Object.Namespace+"/"+n] = true
		}
		if !w.Egress && !isEastWest(w) {
			ingress = append(ingress, w)
		}
	}
	for _, w := range ingress {
		liveReplicas(c, w.Workload, "ingress", min, true)
		liveExposure(c, w)
	}
	for _, kg := range mesh.KGateways(c) {
		if (kg.Decoded && kg.ClassName != "istio") || deployedFor[kg.Object.Namespace+"/"+kg.Object.Name] {
			continue
		}
		c.Fail(kg.Object, "Gateway API Gateway %s/%s has no gateway Deployment in the cluster (Istio deploys %s-istio for it): nothing serves its listeners", kg.Object.Namespace, kg.Object.Name, kg.Object.Name).
			Want("a Deployment %s/%s-istio with Ready pods", kg.Object.Namespace, kg.Object.Name).
			Fixf("kubectl -n %s get gateway.gateway.networking.k8s.io %s -o jsonpath='{.status.conditions}'   # Accepted/Programmed and their reasons\nkubectl -n %[1]s get deploy,svc -l gateway.networking.k8s.io/gateway-name=%[2]s", kg.Object.Namespace, kg.Object.Name)
	}
	if len(ingress) == 0 && len(mesh.KGateways(c)) == 0 {
		c.Fail(cpNamespace(c), "no ingress gateway runs in the cluster: no gateway workload and no Gateway API Gateway").
			Want("an ingress gateway Deployment with >= %d Ready pods behind a LoadBalancer Service", min).
			Fix(installGatewayFix)
	}
}

// liveReplicas checks a gateway workload's Ready pods against min (and its
// Deployment's desired replicas); report says whether to record a pass.
func liveReplicas(c *check.Context, w mesh.Workload, role string, min int, report bool) bool {
	all, ready, notReady := gatewayPods(c, w)
	ns, name := w.Object.Namespace, w.Object.Name
	diag := fmt.Sprintf("kubectl -n %s get pods -l %s -o wide\nkubectl -n %[1]s describe %[3]s/%[4]s   # events: scheduling, probes, image pulls", ns, selectorOf(w), kubectlKind(w.Object), name)
	want := min
	if w.Replicas > int32(want) {
		want = int(w.Replicas)
	}
	ok := true
	switch {
	case len(all) == 0:
		ok = false
		c.Fail(w.Object, "%s gateway %s has no pod in the cluster: nothing serves its traffic", role, wref(w)).
			Got("0 pods matching %s", selectorOf(w)).Want(">= %d Ready pods", want).
			Fix(diag)
	case len(ready) < min:
		ok = false
		note := ""
		if len(notReady) > 0 {
			note = "; not Ready: " + podStates(notReady)
		}
		c.Fail(w.Object, "%s gateway %s has %d Ready pod(s), fewer than %d%s", role, wref(w), len(ready), min, note).
			Field("status.readyReplicas").Got("%d", len(ready)).Want(">= %d", min).
			Fix(diag)
	default:
		for _, o := range notReady {
			c.Warn(o, "%s gateway pod %s (%s) is not Ready: %s", role, o.Name, wref(w), mesh.PodNotReadyReason(mesh.PodOf(o))).
				Field("status.conditions[Ready]").Got("not Ready").Want("Ready=True").
				Fixf("kubectl -n %s describe pod %s\nkubectl -n %[1]s logs %[2]s -c istio-proxy", o.Namespace, o.Name)
		}
	}
	if d, isDep := w.Object.Typed.(*appsv1.Deployment); isDep && ok && d.Status.AvailableReplicas < mesh.Replicas(d) {
		ok = false
		c.Fail(w.Object, "%s gateway %s has %d of %d desired replica(s) available", role, wref(w), d.Status.AvailableReplicas, mesh.Replicas(d)).
			Field("status.availableReplicas").Got("%d", d.Status.AvailableReplicas).Want("%d", mesh.Replicas(d)).
			Fix(diag)
	}
	if ok && report {
		c.Pass(w.Object, "%s gateway %s: %d Ready pod(s) (>= %d): %s", role, wref(w), len(ready), min, mesh.PodNames(ready, maxPodsNamed))
	}
	return ok
}

// liveExposure checks the Services that expose an ingress gateway: a
// LoadBalancer has an address; a NodePort needs none.
func liveExposure(c *check.Context, w mesh.GatewayWorkload) bool {
	svcs := mesh.ServicesSelecting(c, w.Object.Namespace, w.Template.Labels)
	if len(svcs) == 0 {
		c.Fail(w.Object, "no Service in the cluster selects ingress gateway %s: it is not reachable", wref(w.Workload)).
			Want("a LoadBalancer Service in %s selecting %s", w.Object.Namespace, labelString(gatewayIdentity(w.Template.Labels))).
			Fix(serviceYAML(w.Workload))
		return false
	}
	ok, external := true, false
	for _, so := range svcs {
		s, isSvc := so.Typed.(*corev1.Service)
		if !isSvc {
			continue
		}
		switch s.Spec.Type {
		case corev1.ServiceTypeLoadBalancer:
			external = true
			var addrs []string
			for _, in := range s.Status.LoadBalancer.Ingress {
				switch {
				case in.IP != "":
					addrs = append(addrs, in.IP)
				case in.Hostname != "":
					addrs = append(addrs, in.Hostname)
				}
			}
			if len(addrs) == 0 {
				ok = false
				c.Fail(so, "LoadBalancer Service %s/%s of ingress gateway %s has no external address (status.loadBalancer.ingress is empty): clients cannot reach the mesh", so.Namespace, so.Name, wref(w.Workload)).
					Field("status.loadBalancer.ingress").Got("empty (pending)").Want("an IP or hostname").
					Fixf("kubectl -n %s describe service %s   # events from the load-balancer controller (quota, subnet, annotations)\n# on bare metal, install a load-balancer implementation (e.g. MetalLB) or expose the gateway as NodePort", so.Namespace, so.Name)
				continue
			}
			c.Pass(so, "LoadBalancer Service %s/%s of ingress gateway %s has external address(es) %s", so.Namespace, so.Name, wref(w.Workload), strings.Join(addrs, ", "))
		case corev1.ServiceTypeNodePort:
			external = true
			var ports []string
			for _, p := range s.Spec.Ports {
				if p.NodePort != 0 {
					ports = append(ports, fmt.Sprintf("%d->%d", p.NodePort, p.Port))
				}
			}
			c.Pass(so, "NodePort Service %s/%s exposes ingress gateway %s on node ports %s (no load-balancer address to check)", so.Namespace, so.Name, wref(w.Workload), strings.Join(ports, ", "))
		}
	}
	if !external {
		ok = false
		c.Warn(svcs[0], "ingress gateway %s is exposed only by ClusterIP Service %s in the cluster: it has no external address", wref(w.Workload), svcs[0].Name).
			Field("spec.type").Got("ClusterIP").Want("LoadBalancer (or NodePort)").
			Fixf("kubectl -n %s patch service %s -p '{\"spec\":{\"type\":\"LoadBalancer\"}}'", svcs[0].Namespace, svcs[0].Name)
	}
	return ok
}
