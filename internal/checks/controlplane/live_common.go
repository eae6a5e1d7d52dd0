package controlplane

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// maxPodsNamed bounds the pod names listed in one message.
const maxPodsNamed = 8

// istiodWorkload is an istiod Deployment as a mesh.Workload.
func istiodWorkload(i mesh.Istiod) mesh.Workload {
	return mesh.Workload{Object: i.Object, Template: &i.Deployment.Spec.Template, Replicas: mesh.Replicas(i.Deployment)}
}

// livePods is one workload's pods split by readiness.
type livePods struct {
	all, ready, notReady []*snapshot.Object
}

func splitPods(pods []*snapshot.Object) livePods {
	lp := livePods{all: pods}
	for _, o := range pods {
		p := mesh.PodOf(o)
		if p == nil {
			continue
		}
		if mesh.PodReady(p) {
			lp.ready = append(lp.ready, o)
		} else {
			lp.notReady = append(lp.notReady, o)
		}
	}
	return lp
}

// istiodPods returns the pods of one istiod Deployment. Reads Pod.
func istiodPods(c *check.Context, i mesh.Istiod) livePods {
	return splitPods(mesh.WorkloadPods(c, istiodWorkload(i)))
}

// podSelector renders the label selector kubectl can use for a workload's pods.
func podSelector(i mesh.Istiod) string {
	if s := i.Deployment.Spec.Selector; s != nil && len(s.MatchLabels) > 0 {
		return labelString(s.MatchLabels)
	}
	return labelString(selectorLabels(i.Deployment.Spec.Template.Labels))
}

// noPodsFail reports an istiod Deployment without pods in the cluster.
func noPodsFail(c *check.Context, i mesh.Istiod, what string) {
	ns := i.Object.Namespace
	c.Fail(i.Object, "istiod Deployment %s has no pod in the cluster: %s", i.Object.Name, what).
		Got("0 pods matching %s", podSelector(i)).Want("%d Ready pod(s)", mesh.Replicas(i.Deployment)).
		Fixf("kubectl -n %s describe deployment/%s   # events: quota, admission or scheduling failures\nkubectl -n %[1]s get replicasets -l %[3]s", ns, i.Object.Name, podSelector(i))
}

// notReadyFix is the usual diagnosis of a pod that is not Ready.
func notReadyFix(o *snapshot.Object, container string) string {
	return fmt.Sprintf("kubectl -n %s describe pod %s   # events: scheduling, probes, image pulls\nkubectl -n %[1]s logs %[2]s -c %s --previous", o.Namespace, o.Name, container)
}

// podNodes returns the distinct node names of pods, sorted, and the pods per node.
func podNodes(pods []*snapshot.Object) ([]string, map[string][]string) {
	per := map[string][]string{}
	for _, o := range pods {
		if p := mesh.PodOf(o); p != nil {
			per[p.Spec.NodeName] = append(per[p.Spec.NodeName], o.Name)
		}
	}
	nodes := make([]string, 0, len(per))
	for n := range per {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	return nodes, per
}

// containerResources returns a pod's container by name (or nil).
func podContainer(p *corev1.Pod, name string) *corev1.Container {
	return mesh.ContainerNamed(&p.Spec, name)
}
