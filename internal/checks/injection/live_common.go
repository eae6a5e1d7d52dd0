package injection

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

// podGroup is the pods of one owner that share one defect.
type podGroup struct {
	owner  mesh.Owner
	detail string
	pods   []*snapshot.Object
}

// grouper collects pods by owner and defect, keeping first-seen order.
type grouper struct {
	idx   map[string]*podGroup
	order []*podGroup
}

func newGrouper() *grouper { return &grouper{idx: map[string]*podGroup{}} }

func (g *grouper) add(o *snapshot.Object, owner mesh.Owner, detail string) {
	k := owner.String() + "|" + o.Namespace + "|" + detail
	if owner.Kind == "" {
		k += "|" + o.Name
	}
	pg := g.idx[k]
	if pg == nil {
		pg = &podGroup{owner: owner, detail: detail}
		g.idx[k] = pg
		g.order = append(g.order, pg)
	}
	pg.pods = append(pg.pods, o)
}

// subject names the pods of a group for messages.
func (pg *podGroup) subject() string {
	if pg.owner.Kind == "" {
		return "pod " + pg.pods[0].Namespace + "/" + pg.pods[0].Name + " (no controller)"
	}
	return fmt.Sprintf("%d Running pod(s) of %s (%s)", len(pg.pods), pg.owner, mesh.PodNames(pg.pods, maxPodsNamed))
}

// deploymentExists resolves ReplicaSet owners without a pod-template-hash label.
func deploymentExists(c *check.Context) func(ns, name string) bool {
	return func(ns, name string) bool { return c.Get(snapshot.Deployment, ns, name) != nil }
}

// injectedPod is a Running pod of a mesh namespace that carries a proxy.
type injectedPod struct {
	obj    *snapshot.Object
	pod    *corev1.Pod
	proxy  *corev1.Container
	native bool
}

// runningInjectedPods returns the Running, non-gateway pods of the mesh
// namespaces that carry an istio-proxy, and how many gateway pods were left
// to the gateway.* items. Reads Pod.
func runningInjectedPods(c *check.Context, nss []string) (out []injectedPod, gateways int) {
	for _, ns := range nss {
		for _, o := range c.InNamespace(snapshot.Pod, ns) {
			p := mesh.PodOf(o)
			if p == nil || !mesh.PodRunning(p) {
				continue
			}
			ct, native := mesh.ProxyContainer(&p.Spec)
			if ct == nil {
				continue
			}
			if mesh.IsGatewayPod(p) {
				gateways++
				continue
			}
			out = append(out, injectedPod{o, p, ct, native})
		}
	}
	return out, gateways
}

func gatewayNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d gateway pod(s) are checked by the gateway.* items", n)
}

// noInjectedPods reports that the live part found nothing to verify.
func noInjectedPods(c *check.Context, nss []string, what string) {
	c.Warn(anchorFor(c, nss[0]), "no Running pod with an istio-proxy (other than gateways) in the mesh namespaces (%s): %s cannot be verified live", strings.Join(nss, ", "), what).
		Want("the mesh workloads running").
		Fixf("kubectl get pods -n %s -o wide   # deploy the workloads, then run meshready again", nss[0])
}
