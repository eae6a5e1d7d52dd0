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

var istiodDeployed = &check.Check{
	ID: "controlplane.istiod-deployed",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.Service, snapshot.HorizontalPodAutoscaler,
		snapshot.MutatingWebhookConfiguration, snapshot.ValidatingWebhookConfiguration,
		snapshot.Pod, snapshot.EndpointSlice},
	Why: "istiod is the whole control plane: it serves proxy configuration (xDS on 15012), signs workload " +
		"certificates and answers the sidecar-injection and validation webhooks. Without a reachable istiod, " +
		"new pods start without a proxy (or not at all, with a fail-closed webhook) and config changes stop reaching proxies.",
	Fix: "Install istiod in the control-plane namespace (istioctl install, or the istio/base and istio/istiod Helm charts) " +
		"and keep its Service and webhook configurations pointing at it.",
	Docs:   "https://istio.io/latest/docs/setup/install/",
	Config: istiodDeployedConfig,
	Live:   istiodDeployedLive,
}

func istiodDeployedConfig(c *check.Context) {
	ists := istiodsOrFail(c, "the mesh has no control plane")
	if ists == nil {
		return
	}
	ns := c.Config.ControlPlaneNamespace
	for _, i := range ists {
		d := i.Deployment
		ok := true
		if i.Container == nil || i.Container.Image == "" {
			ok = false
			c.Fail(i.Object, "istiod Deployment %s has no %q container with an image", i.Object.Name, mesh.IstiodContainer).
				Field("spec.template.spec.containers").Want("a container named discovery running the istio/pilot image").
				Fix("Reinstall istiod from the official chart or istioctl rather than a hand-edited manifest:\nistioctl install --set profile=default -y")
		}
		reps := mesh.Replicas(d)
		hpa := mesh.HPAFor(c, i.Object)
		if reps == 0 && (hpa == nil || hpa.Min == 0) {
			ok = false
			c.Fail(i.Object, "istiod Deployment %s is scaled to zero replicas", i.Object.Name).
				Field("spec.replicas").Got("0").Want(">= 1 (>= %d for high availability)", c.Config.Thresholds.MinReplicas).
				Fixf("kubectl -n %s scale deployment/%s --replicas=%d", ns, i.Object.Name, c.Config.Thresholds.MinReplicas)
		}
		svcs := mesh.ServicesSelecting(c, ns, d.Spec.Template.Labels)
		var xds *snapshot.Object
		for _, so := range svcs {
			if servicePort(so, 15012) != nil {
				xds = so
				break
			}
		}
		switch {
		case len(svcs) == 0:
			ok = false
			c.Fail(i.Object, "no Service in %s selects the pods of istiod Deployment %s: proxies cannot fetch configuration (xDS, port 15012) and the injection webhook has no endpoint", ns, i.Object.Name).
				Want("a Service %s/%s selecting %s", ns, istiodServiceName(i), labelString(d.Spec.Template.Labels)).
				Fix(istiodServiceYAML(i, ns))
		case xds == nil:
			ok = false
			c.Fail(svcs[0], "Service %s selects istiod Deployment %s but does not expose port 15012 (secure xDS and certificate signing)", svcs[0].Name, i.Object.Name).
				Field("spec.ports").Want("port 15012 (https-dns: secure xDS and CA)").
				Fix(istiodServiceYAML(i, ns))
		}
		if ok {
			image := i.Image()
			c.Pass(i.Object, "istiod Deployment %s/%s (%s, image %s, %d replica(s)) is served by Service %s on port 15012",
				ns, i.Object.Name, revLabel(i), image, reps, xds.Name)
		}
	}
	checkWebhooks(c)
}

// checkWebhooks verifies that Istio's webhook configurations in the input
// point at a Service that exists and exposes the webhook port.
func checkWebhooks(c *check.Context) {
	type hook struct {
		cfg  *snapshot.Object
		name string
		cc   admissionregistrationv1.WebhookClientConfig
	}
	var hooks []hook
	for _, o := range c.List(snapshot.MutatingWebhookConfiguration) {
		if m, ok := o.Typed.(*admissionregistrationv1.MutatingWebhookConfiguration); ok {
			for _, w := range m.Webhooks {
				hooks = append(hooks, hook{o, w.Name, w.ClientConfig})
			}
		}
	}
	for _, o := range c.List(snapshot.ValidatingWebhookConfiguration) {
		if v, ok := o.Typed.(*admissionregistrationv1.ValidatingWebhookConfiguration); ok {
			for _, w := range v.Webhooks {
				hooks = append(hooks, hook{o, w.Name, w.ClientConfig})
			}
		}
	}
	for _, h := range hooks {
		if !strings.HasSuffix(h.name, ".istio.io") || h.cc.Service == nil {
			continue // not Istio's, or a URL webhook (external control plane)
		}
		ref := h.cc.Service
		port := int32(443)
		if ref.Port != nil {
			port = *ref.Port
		}
		so := c.Get(snapshot.Service, ref.Namespace, ref.Name)
		switch {
		case so == nil:
			c.Fail(h.cfg, "%s webhook %s calls Service %s/%s, which does not exist: pod creation (injection) or Istio config validation will fail or be skipped",
				h.cfg.Kind, h.name, ref.Namespace, ref.Name).
				Field("webhooks["+h.name+"].clientConfig.service").Got("%s/%s", ref.Namespace, ref.Name).Want("an existing istiod Service").
				Fix("Re-render the webhook configuration for the installed revision:\nistioctl install --set profile=default -y\n# or point the webhook at the istiod Service that exists (kubectl -n istio-system get svc -l app=istiod)")
		case servicePort(so, port) == nil:
			c.Fail(h.cfg, "%s webhook %s calls Service %s/%s on port %d, which the Service does not expose",
				h.cfg.Kind, h.name, ref.Namespace, ref.Name, port).
				Field("webhooks["+h.name+"].clientConfig.service.port").Got("%d", port).Want("a port of Service %s/%s", ref.Namespace, ref.Name).
				Fixf("Add the webhook port to Service %s/%s:\n  ports:\n  - name: https-webhook\n    port: 443\n    targetPort: 15017", ref.Namespace, ref.Name)
		default:
			c.Pass(h.cfg, "%s webhook %s points at Service %s/%s port %d", h.cfg.Kind, h.name, ref.Namespace, ref.Name, port)
		}
	}
}

func servicePort(o *snapshot.Object, port int32) *corev1.ServicePort {
	s, ok := o.Typed.(*corev1.Service)
	if !ok {
		return nil
	}
	for i := range s.Spec.Ports {
		if s.Spec.Ports[i].Port == port {
			return &s.Spec.Ports[i]
		}
	}
	return nil
}

func istiodServiceName(i mesh.Istiod) string {
	if i.Revision == mesh.DefaultRevision {
		return "istiod"
	}
	return "istiod-" + i.Revision
}

func istiodServiceYAML(i mesh.Istiod, ns string) string {
	var sel strings.Builder
	for _, k := range sortedKeys(i.Deployment.Spec.Template.Labels) {
		if k == "app" || k == "istio" || k == mesh.LabelRev {
			fmt.Fprintf(&sel, "    %s: %q\n", k, i.Deployment.Spec.Template.Labels[k])
		}
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  selector:
%s  ports:
  - {name: grpc-xds, port: 15010}
  - {name: https-dns, port: 15012}
  - {name: https-webhook, port: 443, targetPort: 15017}
  - {name: http-monitoring, port: 15014}`, istiodServiceName(i), ns, sel.String())
}
