// Package injection implements the injection items of the checklist.
package injection

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	return []*check.Check{automatic, customConfig, proxyResources, initContainer}
}

// maxEvidence bounds per-object pass evidence, and maxNamed per-object
// findings of one kind, before the rest is summarised in one finding.
const (
	maxEvidence = 10
	maxNamed    = 50
)

// systemNamespaces never hold mesh workloads.
var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// meshWorkloads returns the workloads of the mesh namespaces that get a
// proxy (injected by the namespace or pod labels, or carrying one already),
// with the namespace labels they were judged with.
func meshWorkloads(c *check.Context, nss []string) []mesh.Workload {
	var out []mesh.Workload
	for _, ns := range nss {
		var nsLabels map[string]string
		if o := c.Get(snapshot.Namespace, "", ns); o != nil {
			nsLabels = o.Labels
		} else {
			// Listed in the config without a Namespace object: the config
			// says it is in the mesh, so judge its pods as injected.
			nsLabels = map[string]string{mesh.LabelInjection: "enabled"}
		}
		for _, w := range mesh.Workloads(c, ns) {
			if isGatewayTemplate(w) {
				continue // gateways are checked by the gateway.* items
			}
			if mesh.PodInjected(nsLabels, w.Template) {
				out = append(out, w)
			}
		}
	}
	return out
}

func isGatewayTemplate(w mesh.Workload) bool {
	if v := w.Template.Annotations[mesh.AnnotationInjectTemplates]; v != "" {
		for _, t := range strings.Split(v, ",") {
			if strings.TrimSpace(t) == "gateway" {
				return true
			}
		}
	}
	return w.Template.Labels[mesh.LabelGatewayName] != ""
}

// anchorFor picks the object a finding about a namespace should name: the
// Namespace itself, else its first workload, else the control-plane Namespace.
func anchorFor(c *check.Context, ns string) *snapshot.Object {
	if o := c.Get(snapshot.Namespace, "", ns); o != nil {
		return o
	}
	if ws := mesh.Workloads(c, ns); len(ws) > 0 {
		return ws[0].Object
	}
	return c.Get(snapshot.Namespace, "", c.Config.ControlPlaneNamespace)
}

func workloadRef(w mesh.Workload) string {
	return fmt.Sprintf("%s %s/%s", w.Object.Kind, w.Object.Namespace, w.Object.Name)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// kubectlKind is the resource name kubectl takes for a workload kind.
func kubectlKind(o *snapshot.Object) string { return strings.ToLower(o.Kind) }
