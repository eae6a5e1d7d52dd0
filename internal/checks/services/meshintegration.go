package services

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func meshIntegration() *check.Check {
	return &check.Check{
		ID:    "service.S.mesh-integration",
		Reads: reads([]string{snapshot.Namespace, snapshot.Pod, snapshot.EndpointSlice}, workloadReads),
		Why: "A critical service is only in the mesh when its pods carry the sidecar and Istio knows how to " +
			"speak to its ports: a pod without the proxy gets no mTLS, no policy and no telemetry, a port " +
			"without a protocol is sniffed (or treated as opaque TCP) so HTTP routing, retries and timeouts " +
			"do not apply, and a Service that selects no pods or targets a port no container serves has no " +
			"endpoints at all.",
		Fix: "Label the namespace for injection (kubectl label namespace <ns> istio-injection=enabled) and " +
			"restart the workload; name each Service port <protocol>[-<suffix>] (http, http2, grpc, tcp, ...) " +
			"or set appProtocol; make the Service selector match the pod labels and its targetPort a port the " +
			"container declares.",
		Docs:   "https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/",
		Config: meshIntegrationConfig,
		Live:   meshIntegrationLive,
	}
}

// portProtocol returns the protocol Istio selects for a Service port from
// its appProtocol or name, and whether it is an explicit, supported one.
// (Istio's protocol selection: appProtocol first, else the name up to the
// first '-', "grpc-web" as a whole; unrecognised means auto-detection.)
func portProtocol(p corev1.ServicePort) (string, bool) {
	if p.Protocol == corev1.ProtocolUDP {
		return "UDP", true
	}
	src := p.Name
	if p.AppProtocol != nil && *p.AppProtocol != "" {
		src = *p.AppProtocol
		switch strings.ToLower(src) {
		case "kubernetes.io/h2c":
			return "HTTP2", true
		case "kubernetes.io/ws":
			return "HTTP", true
		case "kubernetes.io/wss":
			return "HTTPS", true
		}
	}
	l := strings.ToLower(src)
	if strings.HasPrefix(l, "grpc-web") {
		return "GRPC-Web", true
	}
	if i := strings.IndexByte(l, '-'); i >= 0 {
		l = l[:i]
	}
	switch l {
	case "http", "http2", "https", "grpc", "tcp", "tls", "mongo", "mysql", "redis":
		return strings.ToUpper(l), true
	}
	return "", false
}

func meshIntegrationConfig(c *check.Context) {
	if !service(c) {
		return
	}
	s := *c.Service
	svcObj, svc := mesh.ServiceOf(c, s)
	if svcObj == nil {
		c.Fail(missingServiceAnchor(c, s), "Service %s/%s (critical service %s) is not in the input", s.Namespace, s.Name, s.Name).
			Got("no Service %s/%s", s.Namespace, s.Name).Want("a Service %s in namespace %s", s.Name, s.Namespace).
			Fixf("create the Service (or include its manifest in the input):\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  selector:\n    app: %s\n  ports:\n  - name: http\n    port: 8080\n    targetPort: http", s.Name, s.Namespace, s.Name)
		return
	}
	if svc == nil {
		c.Error("Service %s could not be decoded (see the input errors)", svcObj.ID())
		return
	}

	// Namespace in the mesh, and the labels injection is decided on.
	nss := mesh.Namespaces(c, c.Config)
	nsObj := c.Get(snapshot.Namespace, "", s.Namespace)
	var nsLabels map[string]string
	if nsObj != nil {
		nsLabels = nsObj.Labels
	}
	if mesh.IsMeshNamespace(nss, s.Namespace) {
		if nsObj == nil {
			c.Warn(svcObj, "namespace %s is a mesh namespace by meshready.yaml, but its Namespace object is not in the input: injection is judged from pod labels only", s.Namespace).
				Fixf("include the Namespace manifest in the input, labelled for injection:\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    istio-injection: enabled", s.Namespace)
		} else {
			c.Pass(nsObj, "namespace %s is a mesh namespace", s.Namespace)
		}
	} else {
		obj, note := nsObj, ""
		if nsObj == nil {
			obj, note = svcObj, " (and its Namespace object is not in the input)"
		}
		f := c.Fail(obj, "namespace %s of %s is not a mesh namespace%s", s.Namespace, svcObj.ID(), note).
			Got("mesh namespaces: %s", strings.Join(orNone(nss), ", ")).Want("%s among them", s.Namespace)
		f.Field("metadata.labels").
			Fixf("kubectl label namespace %s istio-injection=enabled\n# then restart the workloads: kubectl rollout restart deployment -n %s\n# (and list it under meshNamespaces in meshready.yaml if you set that list)", s.Namespace, s.Namespace)
	}

	// Ports carry an explicit protocol.
	if len(svc.Spec.Ports) == 0 {
		c.Fail(svcObj, "%s declares no ports", svcObj.ID()).Field("spec.ports").
			Fix("declare the ports the service serves:\nspec:\n  ports:\n  - name: http\n    port: 8080\n    targetPort: http")
	}
	for i, p := range svc.Spec.Ports {
		proto, ok := portProtocol(p)
		field := fmt.Sprintf("spec.ports[%d]", i)
		switch {
		case !ok && p.AppProtocol != nil && *p.AppProtocol != "":
			c.Fail(svcObj, "port %s of %s has appProtocol %q, which Istio does not recognise: its protocol is auto-detected", portLabel(p), svcObj.ID(), *p.AppProtocol).
				Field(field+".appProtocol").Got("%s", *p.AppProtocol).Want("one of http, http2, https, grpc, grpc-web, tcp, tls, mongo, mysql, redis, kubernetes.io/h2c").
				Fixf("spec:\n  ports:\n  - name: http-%d\n    port: %d\n    appProtocol: http   # or http2 / grpc / tcp: what the port really speaks", p.Port, p.Port)
		case !ok:
			name, what := p.Name, "is named "+p.Name+", which carries no protocol"
			if name == "" {
				name, what = "(unnamed)", "has no name and no appProtocol"
			}
			c.Fail(svcObj, "port %d of %s %s: Istio auto-detects its protocol (HTTP routing, retries and timeouts may not apply)", p.Port, svcObj.ID(), what).
				Field(field+".name").Got("%s", name).Want("<protocol>[-<suffix>] (http, http2, https, grpc, grpc-web, tcp, tls, mongo, mysql, redis) or an appProtocol").
				Fixf("spec:\n  ports:\n  - name: http   # or http-<suffix>, grpc, tcp...: what port %d really speaks\n    port: %d", p.Port, p.Port)
		default:
			how := "name " + p.Name
			if p.AppProtocol != nil && *p.AppProtocol != "" {
				how = "appProtocol " + *p.AppProtocol
			}
			if p.Protocol == corev1.ProtocolUDP {
				how = "protocol UDP (not proxied by the sidecar)"
			}
			c.Pass(svcObj, "port %d of %s: protocol %s (from its %s)", p.Port, svcObj.ID(), proto, how).Field(field)
		}
	}

	// The selector selects workloads, and they are injected and serve the target ports.
	if len(svc.Spec.Selector) == 0 {
		c.Fail(svcObj, "%s has no selector: it selects no pods, so the mesh has no endpoints to route to (unless endpoints are managed by hand)", svcObj.ID()).
			Field("spec.selector").Got("no selector").Want("the labels of %s's pods", s.Name).
			Fixf("spec:\n  selector:\n    app: %s   # the pod template's labels", s.Name)
		return
	}
	ws := workloadIndex(c).Select(s.Namespace, svc.Spec.Selector)
	if len(ws) == 0 {
		suggest := svc.Spec.Selector
		if a := missingServiceAnchor(c, s); a != nil && a.Key != snapshot.Namespace {
			if l := podLabels(a); len(l) > 0 {
				suggest = l // the pod labels of the workload named like the service
			}
		}
		c.Fail(svcObj, "the selector of %s (%s) selects no Deployment, StatefulSet or DaemonSet in namespace %s", svcObj.ID(), labelsString(svc.Spec.Selector), s.Namespace).
			Field("spec.selector").Got("%s: no workload's pod labels match", labelsString(svc.Spec.Selector)).Want("the pod template labels of %s's workload", s.Name).
			Fixf("make the Service selector equal to (a subset of) the workload's spec.template.metadata.labels, e.g.\nspec:\n  selector:\n%s", selectorYAML(suggest, 4))
		return
	}
	for _, w := range ws {
		c.Pass(w.Object, "%s selects %s (%s)", svcObj.ID(), w.Object.ID(), labelsString(svc.Spec.Selector))
		t := w.Template
		if t.Spec.HostNetwork {
			c.Fail(w.Object, "%s runs with hostNetwork: Istio does not inject host-network pods, so %s is outside the mesh", w.Object.ID(), s.Name).
				Field("spec.template.spec.hostNetwork").Got("true").Want("false").
				Fix("spec:\n  template:\n    spec:\n      hostNetwork: false")
		}
		if mesh.PodInjected(nsLabels, t) {
			c.Pass(w.Object, "%s gets the sidecar (%s)", w.Object.ID(), injectReason(s.Namespace, nsLabels, t))
		} else {
			why := fmt.Sprintf("namespace %s is not labelled for injection", s.Namespace)
			field := "spec.template.metadata"
			fix := fmt.Sprintf("kubectl label namespace %s istio-injection=enabled\nkubectl rollout restart %s -n %s %s", s.Namespace, strings.ToLower(w.Object.Kind), s.Namespace, w.Object.Name)
			if t.Labels[mesh.LabelInjectPod] == "false" || t.Annotations[mesh.AnnotationInject] == "false" {
				why = "its pod template opts out with sidecar.istio.io/inject: \"false\""
				field = "spec.template.metadata.labels[sidecar.istio.io/inject]"
				if t.Annotations[mesh.AnnotationInject] == "false" {
					field = "spec.template.metadata.annotations[sidecar.istio.io/inject]"
				}
				fix = "remove the opt-out from the pod template (or set it to \"true\"):\nspec:\n  template:\n    metadata:\n      labels:\n        sidecar.istio.io/inject: \"true\""
			}
			c.Fail(w.Object, "%s does not get the sidecar: %s", w.Object.ID(), why).Field(field).
				Got("no istio-proxy injected").Want("the istio-proxy sidecar in every pod").Fix(fix)
		}
		checkTargetPorts(c, svcObj, svc, w)
	}
}

// checkTargetPorts verifies that each Service targetPort reaches a
// container port of the workload.
func checkTargetPorts(c *check.Context, svcObj *snapshot.Object, svc *corev1.Service, w mesh.Workload) {
	t := w.Template
	var declared []string
	numbers := map[int32]bool{}
	for _, ct := range t.Spec.Containers {
		for _, cp := range ct.Ports {
			numbers[cp.ContainerPort] = true
			if cp.Name != "" {
				declared = append(declared, fmt.Sprintf("%d (%s)", cp.ContainerPort, cp.Name))
			} else {
				declared = append(declared, fmt.Sprint(cp.ContainerPort))
			}
		}
	}
	for i, p := range svc.Spec.Ports {
		field := fmt.Sprintf("spec.ports[%d].targetPort", i)
		n, ok := targetPort(p, t)
		switch {
		case !ok:
			c.Fail(svcObj, "port %s of %s targets the container port named %q, which %s does not declare: the Service has no endpoints on that port", portLabel(p), svcObj.ID(), p.TargetPort.StrVal, w.Object.ID()).
				Field(field).Got("container ports of %s: %s", w.Object.Name, strings.Join(orNone(declared), ", ")).Want("a container port named %s", p.TargetPort.StrVal).
				Fixf("name the container port in %s:\nspec:\n  template:\n    spec:\n      containers:\n      - name: %s\n        ports:\n        - name: %s\n          containerPort: <the port the app listens on>", w.Object.ID(), firstContainer(t), p.TargetPort.StrVal)
		case numbers[n]:
			c.Pass(w.Object, "port %s of %s reaches container port %d of %s", portLabel(p), svcObj.ID(), n, w.Object.ID())
		case len(declared) == 0:
			c.Warn(w.Object, "port %s of %s targets %d, but %s declares no container ports: nothing shows the app listens there", portLabel(p), svcObj.ID(), n, w.Object.ID()).
				Field("spec.template.spec.containers[].ports").Got("no container ports").Want("containerPort %d", n).
				Fixf("spec:\n  template:\n    spec:\n      containers:\n      - name: %s\n        ports:\n        - name: %s\n          containerPort: %d", firstContainer(t), orDefaultStr(p.Name, "http"), n)
		default:
			c.Fail(svcObj, "port %s of %s targets %d, which %s does not declare (it declares %s): traffic to the Service goes to a port the app likely does not listen on", portLabel(p), svcObj.ID(), n, w.Object.ID(), strings.Join(declared, ", ")).
				Field(field).Got("targetPort %s", targetPortString(p)).Want("one of the container ports: %s", strings.Join(declared, ", ")).
				Fixf("point the Service at the container port by name (robust to port changes):\nspec:\n  ports:\n  - name: %s\n    port: %d\n    targetPort: <container port name>", orDefaultStr(p.Name, "http"), p.Port)
		}
	}
}

func injectionLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{mesh.LabelInjection, mesh.LabelRev} {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	return out
}

func firstContainer(t *corev1.PodTemplateSpec) string {
	if len(t.Spec.Containers) > 0 {
		return t.Spec.Containers[0].Name
	}
	return "app"
}

func orNone(list []string) []string {
	if len(list) == 0 {
		return []string{"none"}
	}
	return list
}

// injectReason says why injection applies (mirrors mesh.PodInjected).
func injectReason(ns string, nsLabels map[string]string, t *corev1.PodTemplateSpec) string {
	for _, ct := range t.Spec.Containers {
		if ct.Name == mesh.ProxyContainerName {
			return "the pod template already carries the istio-proxy container"
		}
	}
	if mesh.InjectionEnabled(nsLabels) {
		return fmt.Sprintf("namespace %s is labelled %s and the pod does not opt out", ns, labelsString(injectionLabels(nsLabels)))
	}
	return "the pod template is labelled sidecar.istio.io/inject=true"
}

func orDefaultStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// missingServiceAnchor is the object a "Service missing" finding points at:
// a workload named like the service (it has no Service), else the namespace.
func missingServiceAnchor(c *check.Context, s config.Service) *snapshot.Object {
	for _, k := range mesh.WorkloadKinds {
		if o := c.Get(k, s.Namespace, s.Name); o != nil {
			return o
		}
	}
	return c.Get(snapshot.Namespace, "", s.Namespace)
}

// podLabels returns a workload's pod template labels.
func podLabels(o *snapshot.Object) map[string]string {
	switch t := o.Typed.(type) {
	case *appsv1.Deployment:
		return t.Spec.Template.Labels
	case *appsv1.StatefulSet:
		return t.Spec.Template.Labels
	case *appsv1.DaemonSet:
		return t.Spec.Template.Labels
	}
	return nil
}
