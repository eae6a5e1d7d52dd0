package services

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// maxPodsNamed bounds the pod names listed in one message.
const maxPodsNamed = 8

var (
	podIndexCache   snapCache[*mesh.PodIndex]
	sliceIndexCache snapCache[mesh.SliceIndex]
)

// livePodIndex is mesh.NewPodIndex, built once per snapshot.
func livePodIndex(c *check.Context) *mesh.PodIndex {
	return podIndexCache.get(c.List(snapshot.Pod), "", func() *mesh.PodIndex { return mesh.NewPodIndex(c) })
}

// liveSliceIndex is mesh.NewSliceIndex, built once per snapshot.
func liveSliceIndex(c *check.Context) mesh.SliceIndex {
	return sliceIndexCache.get(c.List(snapshot.EndpointSlice), "", func() mesh.SliceIndex { return mesh.NewSliceIndex(c) })
}

// meshIntegrationLive checks the critical service in the running cluster:
// its EndpointSlices hold ready endpoints for every Service port (service
// discovery works), and the Running pods its selector matches carry the
// proxy and are Ready.
func meshIntegrationLive(c *check.Context) {
	if !service(c) {
		return
	}
	s := *c.Service
	svcObj, svc := mesh.ServiceOf(c, s)
	if svcObj == nil {
		c.Fail(missingServiceAnchor(c, s), "Service %s/%s (critical service %s) does not exist in the cluster", s.Namespace, s.Name, s.Name).
			Got("no Service %s/%s", s.Namespace, s.Name).Want("a Service %s in namespace %s", s.Name, s.Namespace).
			Fixf("kubectl -n %s get services   # is it named differently? Create it, or correct criticalServices in meshready.yaml", s.Namespace)
		return
	}
	if svc == nil {
		c.Error("Service %s could not be decoded (see the input errors)", svcObj.ID())
		return
	}
	liveEndpoints(c, svcObj, svc)
	if len(svc.Spec.Selector) > 0 {
		livePods(c, svcObj, svc)
	}
}

// liveEndpoints checks the Service's EndpointSlices.
func liveEndpoints(c *check.Context, svcObj *snapshot.Object, svc *corev1.Service) {
	ns, name := svcObj.Namespace, svcObj.Name
	sum := mesh.SummarizeEndpoints(liveSliceIndex(c).Slices(ns, name))
	diag := fmt.Sprintf("kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s -o wide\nkubectl -n %[1]s get pods -l %[3]s -o wide   # Running and Ready?", ns, name, labelsString(svc.Spec.Selector))
	if len(svc.Spec.Selector) == 0 {
		diag = fmt.Sprintf("kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s -o yaml   # a Service without selector: its EndpointSlices are managed by hand or by another controller", ns, name)
	}
	switch {
	case sum.Slices == 0:
		c.Fail(svcObj, "%s has no EndpointSlice in the cluster: service discovery gives the mesh no endpoint for it, so calls fail (503 no healthy upstream)", svcObj.ID()).
			Field("EndpointSlice[kubernetes.io/service-name=" + name + "]").Got("none").Want("EndpointSlices with ready endpoints").
			Fix(diag)
		return
	case sum.Ready == 0:
		c.Fail(svcObj, "%s has no ready endpoint (%d not ready: %s): calls to it fail (503 no healthy upstream)", svcObj.ID(), sum.NotReady, sum.NotReadyList(maxPodsNamed)).
			Field("EndpointSlice.endpoints[].conditions.ready").Got("0 ready").Want(">= 1 ready endpoint").
			Fix(diag)
		return
	}
	ok := true
	for i, p := range svc.Spec.Ports {
		if sum.ReadyByPort[p.Name] == 0 {
			ok = false
			c.Fail(svcObj, "port %s of %s has no ready endpoint (its targetPort %s resolves on no ready pod), while the Service has %d ready endpoint(s) on other ports", portLabel(p), svcObj.ID(), targetPortString(p), sum.Ready).
				Field(fmt.Sprintf("spec.ports[%d].targetPort", i)).Got("no endpoint port %s", orDefaultStr(p.Name, "(unnamed)")).Want("ready endpoints on port %s", portLabel(p)).
				Fix(diag)
		}
	}
	if ok {
		pods := "no pod targetRefs"
		if len(sum.ReadyPods) > 0 {
			pods = "pods " + strings.Join(mesh.Limit(sum.ReadyPods, maxPodsNamed), ", ")
		}
		c.Pass(svcObj, "%s has %d ready endpoint(s) in %d EndpointSlice(s) for every port (%s)", svcObj.ID(), sum.Ready, sum.Slices, pods)
	}
}

// livePods checks the Running pods the Service selects: each carries the
// proxy and is Ready.
func livePods(c *check.Context, svcObj *snapshot.Object, svc *corev1.Service) {
	ns := svcObj.Namespace
	exists := func(ns, name string) bool { return c.Get(snapshot.Deployment, ns, name) != nil }
	type group struct {
		owner  mesh.Owner
		reason string
		pods   []*snapshot.Object
	}
	var groups []*group
	idx := map[string]*group{}
	add := func(o *snapshot.Object, owner mesh.Owner, kind, reason string) {
		k := kind + "|" + owner.String() + "|" + reason
		if owner.Kind == "" {
			k += "|" + o.Name
		}
		g := idx[k]
		if g == nil {
			g = &group{owner: owner, reason: kind + "|" + reason}
			idx[k] = g
			groups = append(groups, g)
		}
		g.pods = append(g.pods, o)
	}
	running, good := 0, 0
	for _, o := range livePodIndex(c).Select(ns, svc.Spec.Selector) {
		p := mesh.PodOf(o)
		if p == nil || !mesh.PodRunning(p) {
			continue
		}
		running++
		owner := mesh.PodOwner(p, exists)
		ct, _ := mesh.ProxyContainer(&p.Spec)
		switch {
		case ct == nil:
			why := "no istio-proxy container"
			if out, how := mesh.PodOptsOut(p.Labels, p.Annotations); out {
				why = "no istio-proxy container: it opts out with " + how
			} else if p.Spec.HostNetwork {
				why = "no istio-proxy container: it runs on the host network, which Istio never injects"
			}
			add(o, owner, "proxy", why)
		case !mesh.PodReady(p):
			add(o, owner, "ready", mesh.PodNotReadyReason(p))
		default:
			good++
		}
	}
	if running == 0 {
		c.Fail(svcObj, "the selector of %s (%s) matches no Running pod in the cluster", svcObj.ID(), labelsString(svc.Spec.Selector)).
			Field("spec.selector").Got("%s: no Running pod", labelsString(svc.Spec.Selector)).Want("the Running pods of %s's workload", svcObj.Name).
			Fixf("kubectl -n %s get pods -l %s   # none: is the workload scaled to zero, or do its pod labels differ?\nkubectl -n %[1]s get deploy,sts -o wide", ns, labelsString(svc.Spec.Selector))
		return
	}
	for _, g := range groups {
		kind, reason, _ := strings.Cut(g.reason, "|")
		subject := fmt.Sprintf("%d Running pod(s) of %s behind %s (%s)", len(g.pods), g.owner, svcObj.ID(), mesh.PodNames(g.pods, maxPodsNamed))
		if g.owner.Kind == "" {
			subject = fmt.Sprintf("pod %s behind %s (no controller)", g.pods[0].Name, svcObj.ID())
		}
		first := g.pods[0]
		if kind == "proxy" {
			fix := g.owner.RestartCommand(first.Name)
			switch {
			case strings.Contains(reason, "opts out"):
				fix = "remove sidecar.istio.io/inject: \"false\" from the pod template, then:\n" + fix
			case !nsInjected(c, ns):
				fix = fmt.Sprintf("kubectl label namespace %s istio-injection=enabled\n%s", ns, fix)
			}
			c.Fail(first, "%s run outside the mesh: %s (no mTLS, policy or telemetry for %s)", subject, reason, svcObj.Name).
				Field("spec.containers").Got("%s", podContainerNames(mesh.PodOf(first))).Want("an istio-proxy container (or native sidecar)").
				Fix(fix)
			continue
		}
		c.Warn(first, "%s are not Ready: %s", subject, reason).
			Field("status.conditions[Ready]").Got("not Ready").Want("Ready=True").
			Fixf("kubectl -n %s describe pod %s\nkubectl -n %[1]s logs %[2]s --all-containers --tail=50", first.Namespace, first.Name)
	}
	if good > 0 && len(groups) == 0 {
		c.Pass(svcObj, "all %d Running pod(s) behind %s carry the istio-proxy sidecar and are Ready", good, svcObj.ID())
	} else if good > 0 {
		c.Pass(svcObj, "%d of %d Running pod(s) behind %s carry the istio-proxy sidecar and are Ready", good, running, svcObj.ID())
	}
}

func podContainerNames(p *corev1.Pod) string {
	var names []string
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	return "containers [" + strings.Join(names, ", ") + "]"
}

// nsInjected reports whether a namespace's labels turn injection on.
func nsInjected(c *check.Context, ns string) bool {
	o := c.Get(snapshot.Namespace, "", ns)
	return o != nil && mesh.InjectionEnabled(o.Labels)
}
