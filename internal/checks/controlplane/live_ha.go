package controlplane

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// highAvailabilityLive checks where istiod really runs: at least
// thresholds.minReplicas Ready pods, on at least two distinct Nodes that
// exist and are Ready (spec.nodeName), and across zones where the cluster
// has several.
func highAvailabilityLive(c *check.Context) {
	ists := istiodsOrFail(c, "its availability cannot be checked")
	if ists == nil {
		return
	}
	min := c.Config.Thresholds.MinReplicas
	nodes := c.List(snapshot.Node)
	clusterZones := map[string]bool{}
	readyNodes := 0
	for _, o := range nodes {
		if n := mesh.NodeOf(o); n != nil {
			if z := o.Labels[mesh.LabelZone]; z != "" {
				clusterZones[z] = true
			}
			if mesh.NodeReady(n) {
				readyNodes++
			}
		}
	}
	if len(nodes) == 0 {
		c.Fail(cpNamespace(c), "no Node is in the snapshot: where istiod runs cannot be verified").
			Want("the cluster's Nodes (list nodes)").
			Fix("kubectl get nodes -o wide   # meshready needs list on nodes: see deploy/ for its ClusterRole")
		return
	}
	for _, i := range ists {
		name := i.Object.Name
		pods := istiodPods(c, i)
		if len(pods.all) == 0 {
			noPodsFail(c, i, "no replica runs, on any node")
			continue
		}
		// Ready pods on a Node that exists and is Ready count.
		var counted []*snapshot.Object
		for _, o := range pods.ready {
			p := mesh.PodOf(o)
			no := c.Get(snapshot.Node, "", p.Spec.NodeName)
			switch {
			case p.Spec.NodeName == "":
				c.Fail(o, "istiod pod %s is Ready but bound to no node (spec.nodeName empty): its placement cannot be verified", o.Name).
					Field("spec.nodeName").Got("empty").Want("a Node").
					Fixf("kubectl -n %s get pod %s -o wide", o.Namespace, o.Name)
			case no == nil:
				c.Fail(o, "istiod pod %s runs on node %s, which is not among the cluster's Nodes: the node is gone and the pod will be replaced", o.Name, p.Spec.NodeName).
					Field("spec.nodeName").Got("%s", p.Spec.NodeName).Want("an existing Node").
					Fixf("kubectl get node %s\nkubectl -n %s delete pod %s   # let the Deployment reschedule it", p.Spec.NodeName, o.Namespace, o.Name)
			case mesh.NodeOf(no) != nil && !mesh.NodeReady(mesh.NodeOf(no)):
				c.Fail(o, "istiod pod %s runs on node %s, which is not Ready: the replica is about to be evicted", o.Name, p.Spec.NodeName).
					Field("spec.nodeName").Got("%s (NotReady)", p.Spec.NodeName).Want("a Ready Node").
					Fixf("kubectl describe node %s\nkubectl -n %s delete pod %s   # reschedule it on a Ready node", p.Spec.NodeName, o.Namespace, o.Name)
			default:
				counted = append(counted, o)
			}
		}
		nodeNames, per := podNodes(counted)
		placement := placementString(nodeNames, per)
		ok := true
		if len(counted) < min {
			ok = false
			c.Fail(i.Object, "istiod Deployment %s has %d Ready replica(s) on Ready nodes (%s), fewer than %d: one more failure stops the control plane", name, len(counted), orDash(placement), min).
				Field("status.readyReplicas").Got("%d", len(counted)).Want(">= %d", min).
				Fixf("kubectl -n %s get pods -l %s -o wide\nkubectl -n %[1]s describe deployment/%[3]s", i.Object.Namespace, podSelector(i), name)
		}
		if len(counted) >= 2 && len(nodeNames) < 2 {
			ok = false
			fix := fmt.Sprintf("%s\n# then reschedule: kubectl -n %s rollout restart deployment/%s", spreadYAML(selectorLabels(i.Deployment.Spec.Template.Labels)), i.Object.Namespace, name)
			if readyNodes < 2 {
				fix = "The cluster has fewer than 2 Ready nodes: add nodes (kubectl get nodes), then:\n" + fix
			}
			c.Fail(i.Object, "all Ready istiod pods of Deployment %s run on one node (%s): draining or losing that node stops the control plane", name, placement).
				Field("spec.nodeName").Got("1 node: %s", nodeNames[0]).Want(">= 2 distinct nodes").
				Fix(fix)
		}
		zones := map[string]bool{}
		for _, n := range nodeNames {
			if no := c.Get(snapshot.Node, "", n); no != nil && no.Labels[mesh.LabelZone] != "" {
				zones[no.Labels[mesh.LabelZone]] = true
			}
		}
		if ok && len(clusterZones) > 1 && len(zones) == 1 && len(counted) >= 2 {
			c.Warn(i.Object, "istiod Deployment %s runs on %d nodes, all in zone %s, while the cluster spans %d zones: a zone outage stops the control plane", name, len(nodeNames), keysOf(zones)[0], len(clusterZones)).
				Field("spec.template.spec.topologySpreadConstraints").Got("1 zone").Want("pods in >= 2 zones").
				Fixf("# add a zone spread to the pod template (istioctl: components.pilot.k8s):\ntopologySpreadConstraints:\n- maxSkew: 1\n  topologyKey: topology.kubernetes.io/zone\n  whenUnsatisfiable: ScheduleAnyway\n  labelSelector:\n    matchLabels:\n%s# then: kubectl -n %s rollout restart deployment/%s", matchLabelsYAML(selectorLabels(i.Deployment.Spec.Template.Labels), "      "), i.Object.Namespace, name)
		}
		if ok {
			zoneNote := ""
			if len(zones) > 0 {
				zoneNote = fmt.Sprintf(" in zone(s) %s", strings.Join(keysOf(zones), ", "))
			}
			c.Pass(i.Object, "istiod Deployment %s: %d Ready replica(s) on %d distinct Ready nodes%s: %s", name, len(counted), len(nodeNames), zoneNote, placement)
		}
	}
}

func placementString(nodes []string, per map[string][]string) string {
	var parts []string
	for _, n := range nodes {
		parts = append(parts, fmt.Sprintf("%s: %s", n, strings.Join(mesh.Limit(per[n], maxPodsNamed), ", ")))
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
