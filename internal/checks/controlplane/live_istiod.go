package controlplane

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// istiodDeployedLive checks the running control plane: every istiod
// Deployment has its desired replicas available and its pods Ready, and the
// Services that proxies and Istio's webhooks call have ready endpoints.
func istiodDeployedLive(c *check.Context) {
	ists := istiodsOrFail(c, "the mesh has no control plane")
	if ists == nil {
		return
	}
	for _, i := range ists {
		liveIstiodReplicas(c, i)
	}
	ep := newEndpointChecker(c)
	// Proxies fetch configuration and certificates from istiod on 15012.
	for _, i := range ists {
		for _, so := range mesh.ServicesSelecting(c, i.Object.Namespace, i.Deployment.Spec.Template.Labels) {
			if sp := servicePort(so, 15012); sp != nil {
				ep.check(so, sp, fmt.Sprintf("proxies of %s cannot fetch configuration or certificates (xDS, port 15012)", revLabel(i)), "")
			}
		}
	}
	liveWebhooks(c, ep)
}

// liveIstiodReplicas compares desired and available replicas and reports
// every istiod pod that is not Ready.
func liveIstiodReplicas(c *check.Context, i mesh.Istiod) {
	d := i.Deployment
	ns, name := i.Object.Namespace, i.Object.Name
	desired := mesh.Replicas(d)
	st := d.Status
	pods := istiodPods(c, i)
	ok := true
	switch {
	case desired == 0:
		ok = false
		c.Fail(i.Object, "istiod Deployment %s is scaled to zero in the cluster: no control plane is running", name).
			Field("spec.replicas").Got("0").Want(">= %d", c.Config.Thresholds.MinReplicas).
			Fixf("kubectl -n %s scale deployment/%s --replicas=%d", ns, name, c.Config.Thresholds.MinReplicas)
	case st.AvailableReplicas < desired:
		ok = false
		c.Fail(i.Object, "istiod Deployment %s has %d of %d desired replica(s) available (%d ready, %d updated)", name, st.AvailableReplicas, desired, st.ReadyReplicas, st.UpdatedReplicas).
			Field("status.availableReplicas").Got("%d", st.AvailableReplicas).Want("%d (spec.replicas)", desired).
			Fixf("kubectl -n %s rollout status deployment/%s\nkubectl -n %[1]s get pods -l %[3]s -o wide\nkubectl -n %[1]s describe deployment/%[2]s   # conditions: ProgressDeadlineExceeded, ReplicaFailure", ns, name, podSelector(i))
	}
	if st.ObservedGeneration > 0 && st.ObservedGeneration < d.Generation {
		c.Warn(i.Object, "istiod Deployment %s: the deployment controller has not yet observed generation %d (status is for generation %d): the replica counts may be stale", name, d.Generation, st.ObservedGeneration).
			Field("status.observedGeneration").Got("%d", st.ObservedGeneration).Want("%d", d.Generation).
			Fixf("kubectl -n %s rollout status deployment/%s   # then run meshready again", ns, name)
	}
	if desired > 0 && len(pods.all) == 0 {
		ok = false
		noPodsFail(c, i, "nothing serves injection, validation, xDS or certificates")
	}
	for _, o := range pods.notReady {
		ok = false
		c.Fail(o, "istiod pod %s (Deployment %s) is not Ready: %s", o.Name, name, mesh.PodNotReadyReason(mesh.PodOf(o))).
			Field("status.conditions[Ready]").Got("not Ready").Want("Ready=True").
			Fix(notReadyFix(o, mesh.IstiodContainer))
	}
	if ok {
		c.Pass(i.Object, "istiod Deployment %s/%s: %d/%d desired replica(s) available; Ready pods: %s",
			ns, name, st.AvailableReplicas, desired, mesh.PodNames(pods.ready, maxPodsNamed))
	}
}

// endpointChecker checks each Service's endpoints once and remembers the result.
type endpointChecker struct {
	c      *check.Context
	slices mesh.SliceIndex
	done   map[string]string // "ns/svc/port" -> "" when healthy, else the defect
}

func newEndpointChecker(c *check.Context) *endpointChecker {
	return &endpointChecker{c: c, slices: mesh.NewSliceIndex(c), done: map[string]string{}}
}

// check verifies that a Service port has ready endpoints. consequence says
// what breaks without them; caller names who calls the port (for messages).
// It reports on the Service once per port and returns whether it is healthy.
func (e *endpointChecker) check(so *snapshot.Object, sp *corev1.ServicePort, consequence, caller string) bool {
	key := fmt.Sprintf("%s/%s/%d", so.Namespace, so.Name, sp.Port)
	if defect, seen := e.done[key]; seen {
		if defect != "" && caller != "" {
			e.c.Fail(so, "%s calls Service %s/%s port %d, which %s", caller, so.Namespace, so.Name, sp.Port, defect).
				Fix(endpointFix(so))
		}
		return defect == ""
	}
	c := e.c
	who := ""
	if caller != "" {
		who = caller + " calls it: "
	}
	sum := mesh.SummarizeEndpoints(e.slices.Slices(so.Namespace, so.Name))
	port := portName(sp)
	var defect string
	switch {
	case sum.Slices == 0:
		defect = "has no EndpointSlice"
		c.Fail(so, "Service %s/%s has no EndpointSlice in the cluster: %s%s", so.Namespace, so.Name, who, consequence).
			Field("EndpointSlice[kubernetes.io/service-name=" + so.Name + "]").Got("none").Want("an EndpointSlice with ready istiod endpoints").
			Fix(endpointFix(so))
	case sum.Ready == 0:
		defect = "has no ready endpoint"
		c.Fail(so, "Service %s/%s has no ready endpoint (%d not ready: %s): %s%s", so.Namespace, so.Name, sum.NotReady, sum.NotReadyList(maxPodsNamed), who, consequence).
			Field("EndpointSlice.endpoints[].conditions.ready").Got("0 ready").Want(">= 1 ready").
			Fix(endpointFix(so))
	case sum.ReadyByPort[port] == 0:
		defect = fmt.Sprintf("has no ready endpoint for port %s", portLabel(sp))
		c.Fail(so, "Service %s/%s has %d ready endpoint(s), but none serves port %s (its targetPort does not resolve on the pods): %s%s", so.Namespace, so.Name, sum.Ready, portLabel(sp), who, consequence).
			Field("spec.ports["+port+"].targetPort").Got("no endpoint port %s", portLabel(sp)).Want("ready endpoints on port %s", portLabel(sp)).
			Fix(endpointFix(so))
	default:
		pods := "pods " + strings.Join(mesh.Limit(sum.ReadyPods, maxPodsNamed), ", ")
		if len(sum.ReadyPods) == 0 {
			pods = "no pod targetRefs"
		}
		c.Pass(so, "Service %s/%s port %s has %d ready endpoint(s) (%s)", so.Namespace, so.Name, portLabel(sp), sum.ReadyByPort[port], pods)
	}
	e.done[key] = defect
	return defect == ""
}

func endpointFix(so *snapshot.Object) string {
	return fmt.Sprintf("kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s -o wide\nkubectl -n %[1]s describe service %[2]s   # does its selector match Ready istiod pods?\nkubectl -n %[1]s get pods -l app=istiod -o wide", so.Namespace, so.Name)
}

func portName(sp *corev1.ServicePort) string { return sp.Name }

func portLabel(sp *corev1.ServicePort) string {
	if sp.Name != "" {
		return fmt.Sprintf("%d (%s)", sp.Port, sp.Name)
	}
	return fmt.Sprint(sp.Port)
}

// liveWebhooks checks that every Istio webhook calls an existing Service
// with ready endpoints, and that istiod has patched its CA bundle in.
func liveWebhooks(c *check.Context, ep *endpointChecker) {
	type hook struct {
		cfg    *snapshot.Object
		name   string
		cc     admissionregistrationv1.WebhookClientConfig
		policy string
		inject bool
	}
	var hooks []hook
	policy := func(p *admissionregistrationv1.FailurePolicyType) string {
		if p == nil {
			return string(admissionregistrationv1.Fail) // the API default
		}
		return string(*p)
	}
	for _, o := range c.List(snapshot.MutatingWebhookConfiguration) {
		if m, ok := o.Typed.(*admissionregistrationv1.MutatingWebhookConfiguration); ok {
			for _, w := range m.Webhooks {
				hooks = append(hooks, hook{o, w.Name, w.ClientConfig, policy(w.FailurePolicy), true})
			}
		}
	}
	for _, o := range c.List(snapshot.ValidatingWebhookConfiguration) {
		if v, ok := o.Typed.(*admissionregistrationv1.ValidatingWebhookConfiguration); ok {
			for _, w := range v.Webhooks {
				hooks = append(hooks, hook{o, w.Name, w.ClientConfig, policy(w.FailurePolicy), false})
			}
		}
	}
	n := 0
	for _, h := range hooks {
		if !strings.HasSuffix(h.name, ".istio.io") {
			continue // not Istio's
		}
		n++
		if h.cc.Service == nil {
			continue // a URL webhook (external control plane): not reachable through a Service here
		}
		ref := h.cc.Service
		port := int32(443)
		if ref.Port != nil {
			port = *ref.Port
		}
		consequence := "Istio configuration is not validated (failurePolicy Ignore)"
		switch {
		case h.inject && h.policy == string(admissionregistrationv1.Fail):
			consequence = "pod creation in injected namespaces is rejected (failurePolicy Fail)"
		case h.inject:
			consequence = "pods in injected namespaces start without a proxy (failurePolicy Ignore)"
		case h.policy == string(admissionregistrationv1.Fail):
			consequence = "every write of an Istio resource is rejected (failurePolicy Fail)"
		}
		caller := fmt.Sprintf("%s %s webhook %s", h.cfg.Kind, h.cfg.Name, h.name)
		ok := true
		if len(h.cc.CABundle) == 0 {
			ok = false
			c.Fail(h.cfg, "%s has no caBundle in the cluster: the API server cannot verify istiod's serving certificate, so every call fails and %s", caller, consequence).
				Field("webhooks["+h.name+"].clientConfig.caBundle").Got("empty").Want("istiod's CA certificate (istiod patches it in at start)").
				Fixf("kubectl -n %s logs deployment/istiod -c discovery | grep -i webhook   # istiod patches the caBundle; look for patch errors (RBAC on %s)\nkubectl get %s %s -o jsonpath='{.webhooks[*].clientConfig.caBundle}' | wc -c",
					ref.Namespace, strings.ToLower(h.cfg.Kind)+"s", strings.ToLower(h.cfg.Kind), h.cfg.Name)
		}
		so := c.Get(snapshot.Service, ref.Namespace, ref.Name)
		if so == nil {
			c.Fail(h.cfg, "%s calls Service %s/%s, which does not exist in the cluster: %s", caller, ref.Namespace, ref.Name, consequence).
				Field("webhooks["+h.name+"].clientConfig.service").Got("%s/%s", ref.Namespace, ref.Name).Want("an existing istiod Service").
				Fix("kubectl -n " + ref.Namespace + " get svc -l app=istiod   # the Services istiod has\nistioctl install --set profile=default -y   # re-renders the webhook for the installed revision")
			continue
		}
		sp := servicePort(so, port)
		if sp == nil {
			c.Fail(h.cfg, "%s calls Service %s/%s on port %d, which the Service does not expose: %s", caller, ref.Namespace, ref.Name, port, consequence).
				Field("webhooks["+h.name+"].clientConfig.service.port").Got("%d", port).Want("a port of Service %s/%s", ref.Namespace, ref.Name).
				Fixf("kubectl -n %s get service %s -o yaml   # add port 443 -> targetPort 15017 (https-webhook)", ref.Namespace, ref.Name)
			continue
		}
		if !ep.check(so, sp, consequence, caller) {
			ok = false
		}
		if ok {
			c.Pass(h.cfg, "%s calls Service %s/%s port %d, which has ready endpoints; its caBundle is set (%s)", caller, ref.Namespace, ref.Name, port, h.policy)
		}
	}
	if n == 0 {
		c.Fail(cpNamespace(c), "no Istio webhook configuration (a *.istio.io webhook calling a Service) is in the cluster: pods are not injected and Istio configuration is not validated").
			Want("MutatingWebhookConfiguration istio-sidecar-injector and ValidatingWebhookConfiguration istio-validator-<namespace>").
			Fix("istioctl install --set profile=default -y   # creates both webhook configurations\nkubectl get mutatingwebhookconfigurations,validatingwebhookconfigurations -l app=sidecar-injector")
	}
}
