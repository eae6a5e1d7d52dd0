package injection

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// automaticLive checks that every Running pod of every mesh namespace
// carries the proxy (an istio-proxy container, or a native sidecar), unless
// it opts out or runs on the host network. Pods without it are named with
// the restart that injects it; when the Namespace's managedFields tell when
// its injection label was set, pods created before that are told apart from
// pods the injector skipped.
func automaticLive(c *check.Context) {
	nss := mesh.Namespaces(c, c.Config)
	if len(nss) == 0 {
		noMeshNamespaces(c)
		return
	}
	exists := deploymentExists(c)
	running, failing := 0, 0
	for _, ns := range nss {
		nsObj := c.Get(snapshot.Namespace, "", ns)
		var nsLabels map[string]string
		var labelledAt time.Time
		var manager string
		known := false
		if nsObj != nil {
			nsLabels = nsObj.Labels
			if n, ok := nsObj.Typed.(*corev1.Namespace); ok {
				labelledAt, manager, known = mesh.LabelsLastSetAt(n, mesh.LabelInjection, mesh.LabelRev)
			}
		}
		enabled := nsObj == nil || mesh.InjectionEnabled(nsLabels) // listed in the config without an object: judged as injected
		g := newGrouper()
		var nRun, nProxy, nNative, nOut, nHost int
		for _, o := range c.InNamespace(snapshot.Pod, ns) {
			p := mesh.PodOf(o)
			if p == nil || !mesh.PodRunning(p) {
				continue
			}
			nRun++
			if _, native := mesh.ProxyContainer(&p.Spec); native {
				nProxy++
				nNative++
				continue
			} else if ct, _ := mesh.ProxyContainer(&p.Spec); ct != nil {
				nProxy++
				continue
			}
			if out, _ := mesh.PodOptsOut(p.Labels, p.Annotations); out {
				nOut++
				continue
			}
			if p.Spec.HostNetwork {
				nHost++
				continue
			}
			g.add(o, mesh.PodOwner(p, exists), missingReason(p, ns, enabled, known, labelledAt, manager))
		}
		running += nRun
		for _, pg := range g.order {
			failing++
			if failing > maxNamed {
				continue
			}
			fix := pg.owner.RestartCommand(pg.pods[0].Name)
			if !enabled {
				fix = fmt.Sprintf("kubectl label namespace %s istio-injection=enabled\n%s", ns, fix)
			}
			c.Fail(pg.pods[0], "%s in mesh namespace %s run without the istio-proxy sidecar: %s", pg.subject(), ns, pg.detail).
				Field("spec.containers").Got("%s", containerNames(mesh.PodOf(pg.pods[0]))).Want("an istio-proxy container (or native sidecar)").
				Fix(fix)
		}
		if nRun > 0 && len(g.order) == 0 {
			var notes []string
			if nNative > 0 {
				notes = append(notes, fmt.Sprintf("%d as native sidecars", nNative))
			}
			if nOut > 0 {
				notes = append(notes, fmt.Sprintf("%d opted out with sidecar.istio.io/inject=false (named by injection.custom-config)", nOut))
			}
			if nHost > 0 {
				notes = append(notes, fmt.Sprintf("%d on the host network (never injected)", nHost))
			}
			note := ""
			if len(notes) > 0 {
				note = " (" + strings.Join(notes, "; ") + ")"
			}
			c.Pass(nsObj, "mesh namespace %s: %d of %d Running pod(s) carry the istio-proxy sidecar%s", ns, nProxy, nRun, note)
		}
	}
	if failing > maxNamed {
		c.Fail(nil, "and %d more group(s) of Running pods without the proxy (first %d named above)", failing-maxNamed, maxNamed).
			Fix("kubectl rollout restart deployment -n <namespace>   # for each mesh namespace listed above")
	}
	if running == 0 {
		c.Warn(anchorFor(c, nss[0]), "no Running pod in the mesh namespaces (%s): that every pod carries the proxy cannot be verified live", strings.Join(nss, ", ")).
			Want("the mesh workloads running").
			Fixf("kubectl get pods -n %s   # deploy the workloads, then run meshready again", nss[0])
	}
}

// missingReason explains why a Running pod of a mesh namespace has no proxy.
func missingReason(p *corev1.Pod, ns string, enabled, known bool, labelledAt time.Time, manager string) string {
	created := p.CreationTimestamp.Time
	switch {
	case !enabled:
		return fmt.Sprintf("namespace %s is not labelled for injection, so the injector skips its pods", ns)
	case known && !created.IsZero() && created.Before(labelledAt):
		return fmt.Sprintf("created before namespace %s's injection label was last set (by %s at %s): started before injection was turned on, they must be restarted",
			ns, manager, labelledAt.UTC().Format(time.RFC3339))
	case known && !created.IsZero():
		return fmt.Sprintf("created after namespace %s was labelled (%s): the injector did not inject them (webhook unreachable with failurePolicy Ignore, or an objectSelector/neverInjectSelector skipped them)",
			ns, labelledAt.UTC().Format(time.RFC3339))
	default:
		return "they most likely started before the namespace was labelled for injection (or while the injector was unreachable); restarting them injects the proxy"
	}
}

func containerNames(p *corev1.Pod) string {
	var names []string
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	return "containers [" + strings.Join(names, ", ") + "]"
}
