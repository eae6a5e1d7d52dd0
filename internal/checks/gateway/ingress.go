package gateway

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var ingressDeployed = &check.Check{
	ID:    "gateway.ingress-deployed",
	Reads: reads(snapshot.Service, snapshot.KGateway, snapshot.HorizontalPodAutoscaler, snapshot.Pod),
	Why: "The ingress gateway is the mesh's front door: every external request enters through it. A single replica " +
		"makes each rollout or node drain an outage, and a gateway without an external Service (LoadBalancer or " +
		"NodePort) is not reachable at all. An Istio Gateway whose selector matches no gateway pods configures nothing.",
	Fix: "Deploy an ingress gateway (the istio/gateway Helm chart or istioctl) with at least 2 replicas (or an HPA " +
		"with minReplicas >= 2) behind a LoadBalancer Service, and make Gateway selectors match its pod labels.",
	Docs:   "https://istio.io/latest/docs/setup/additional-setup/gateway/",
	Config: ingressConfig,
	Live:   ingressLive,
}

func ingressConfig(c *check.Context) {
	wls := mesh.GatewayWorkloads(c)
	gws := istioGateways(c, wls)
	kgs := mesh.KGateways(c)
	min := int32(c.Config.Thresholds.MinReplicas)

	for _, g := range gws {
		if len(g.selected) == 0 && !g.egress {
			c.Fail(g.obj, "Gateway %s/%s selects no gateway workload (selector %s): its servers are configured on no proxy", g.obj.Namespace, g.obj.Name, labelString(g.gw.Spec.GetSelector())).
				Field("spec.selector").Got("%s", labelString(g.gw.Spec.GetSelector())).Want("the labels of an ingress gateway's pods (e.g. istio=ingressgateway)").
				Fix("kubectl get pods -A -l istio=ingressgateway --show-labels   # find the gateway's labels\n# then:\nspec:\n  selector:\n    istio: ingressgateway")
		}
	}

	var ingress []mesh.GatewayWorkload
	for _, w := range wls {
		if !w.Egress && !isEastWest(w) {
			ingress = append(ingress, w)
		}
	}
	checked := map[string]bool{}
	for _, w := range ingress {
		checked[w.Object.Namespace+"/"+w.Template.Labels[mesh.LabelGatewayName]] = true
		ok := true
		eff, how, hpa := effectiveReplicas(c, w.Workload)
		if eff >= 0 && eff < min {
			ok = false
			target, field := w.Object, "spec.replicas"
			if hpa != nil {
				target, field = hpa.Object, "spec.minReplicas"
			}
			fix := fmt.Sprintf("kubectl -n %s autoscale %s %s --min=%d --max=5 --cpu-percent=80\n# Helm (istio/gateway): --set autoscaling.minReplicas=%[4]d", w.Object.Namespace, kubectlKind(w.Object), w.Object.Name, min)
			if hpa != nil {
				fix = fmt.Sprintf("kubectl -n %s patch hpa %s --type merge -p '{\"spec\":{\"minReplicas\":%d}}'\n# Helm (istio/gateway): --set autoscaling.minReplicas=%[3]d", hpa.Object.Namespace, hpa.Object.Name, min)
			}
			c.Fail(target, "ingress gateway %s runs with %s: one pod is a single point of failure for all inbound traffic", wref(w.Workload), how).
				Field(field).Got("%d", eff).Want(">= %d", min).
				Fix(fix)
		}
		svcs := mesh.ServicesSelecting(c, w.Object.Namespace, w.Template.Labels)
		var external, internal *snapshot.Object
		for _, so := range svcs {
			s, _ := so.Typed.(*corev1.Service)
			if s == nil {
				continue
			}
			switch s.Spec.Type {
			case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
				if external == nil {
					external = so
				}
			default:
				if internal == nil {
					internal = so
				}
			}
		}
		switch {
		case len(svcs) == 0:
			ok = false
			c.Fail(w.Object, "no Service selects ingress gateway %s: it is not reachable", wref(w.Workload)).
				Want("a LoadBalancer Service in %s selecting %s", w.Object.Namespace, labelString(gatewayIdentity(w.Template.Labels))).
				Fix(serviceYAML(w.Workload))
		case external == nil:
			ok = false
			c.Warn(internal, "ingress gateway %s is exposed only by ClusterIP Service %s: it is reachable from outside only through another load balancer or Ingress", wref(w.Workload), internal.Name).
				Field("spec.type").Got("ClusterIP").Want("LoadBalancer (or NodePort)").
				Fixf("kubectl -n %s patch service %s -p '{\"spec\":{\"type\":\"LoadBalancer\"}}'", internal.Namespace, internal.Name)
		}
		if ok {
			c.Pass(w.Object, "ingress gateway %s (%s): %s, exposed by %s Service %s", wref(w.Workload), w.Why, how, serviceType(external), external.Name)
		}
	}

	for _, kg := range kgs {
		if kg.Decoded && kg.ClassName != "istio" {
			continue // another controller's Gateway, or a waypoint / east-west class
		}
		if checked[kg.Object.Namespace+"/"+kg.Object.Name] {
			continue // its deployment is in the input and was checked above
		}
		name := kg.Object.Name + "-istio"
		hpa := mesh.HPAFor(c, &snapshot.Object{Kind: "Deployment", Namespace: kg.Object.Namespace, Name: name})
		if hpa != nil && hpa.Min >= min {
			c.Pass(kg.Object, "Gateway API Gateway %s/%s: Istio deploys Deployment %s, scaled by HPA %s (min %d)", kg.Object.Namespace, kg.Object.Name, name, hpa.Object.Name, hpa.Min)
			continue
		}
		c.Warn(kg.Object, "Gateway API Gateway %s/%s: Istio deploys its Deployment %s at run time with 1 replica unless told otherwise; the input does not show >= %d", kg.Object.Namespace, kg.Object.Name, name, min).
			Field("spec.infrastructure").Want("an HPA on Deployment %s with minReplicas >= %d", name, min).
			Fixf("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: %[1]s\n  namespace: %[2]s\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}\n  minReplicas: %[3]d\n  maxReplicas: 5\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}", name, kg.Object.Namespace, min)
	}

	if len(ingress) == 0 && len(kgs) == 0 {
		c.Fail(cpNamespace(c), "no ingress gateway is deployed: no gateway workload (Deployment with the gateway injection template, istio=ingressgateway label, or selected by a Gateway) and no Gateway API Gateway").
			Want("an ingress gateway Deployment with >= %d replicas and a LoadBalancer Service", min).
			Fix(installGatewayFix)
	}
}

func isEastWest(w mesh.GatewayWorkload) bool {
	return w.Template.Labels[mesh.LabelIstio] == "eastwestgateway"
}

func serviceType(o *snapshot.Object) string {
	if s, ok := o.Typed.(*corev1.Service); ok && s.Spec.Type != "" {
		return string(s.Spec.Type)
	}
	return "ClusterIP"
}

func kubectlKind(o *snapshot.Object) string {
	switch o.Kind {
	case "StatefulSet":
		return "statefulset"
	case "DaemonSet":
		return "daemonset"
	}
	return "deployment"
}

func serviceYAML(w mesh.Workload) string {
	return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + w.Object.Name + "\n  namespace: " + w.Object.Namespace +
		"\nspec:\n  type: LoadBalancer\n  selector:\n" + matchLabelsYAML(gatewayIdentity(w.Template.Labels), "    ") +
		"  ports:\n  - {name: http2, port: 80, targetPort: 8080}\n  - {name: https, port: 443, targetPort: 8443}"
}
