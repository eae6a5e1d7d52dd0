// Package gateway implements the gateway items of the checklist.
package gateway

import (
	"fmt"
	"sort"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	return []*check.Check{ingressDeployed, egress, resources, tlsTermination}
}

// workloadKinds plus Gateway: what mesh.GatewayWorkloads reads.
var gatewayReads = []string{snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.Gateway}

func reads(extra ...string) []string {
	return append(append([]string{snapshot.Namespace}, gatewayReads...), extra...)
}

// cpNamespace is the control-plane Namespace object, where findings about
// something missing altogether point (nil when the input has none).
func cpNamespace(c *check.Context) *snapshot.Object {
	return c.Get(snapshot.Namespace, "", c.Config.ControlPlaneNamespace)
}

// istioGateway is an Istio Gateway with the workloads it selects.
type istioGateway struct {
	obj      *snapshot.Object
	gw       *networkingv1.Gateway
	selected []mesh.GatewayWorkload
	egress   bool
	eastWest bool
}

func istioGateways(c *check.Context, wls []mesh.GatewayWorkload) []istioGateway {
	var out []istioGateway
	for _, o := range c.List(snapshot.Gateway) {
		g, ok := o.Typed.(*networkingv1.Gateway)
		if !ok {
			continue
		}
		sel := mesh.GatewaySelects(g, wls)
		ew := len(sel) > 0
		for _, w := range sel {
			ew = ew && strings.Contains(w.Template.Labels[mesh.LabelIstio], "eastwest")
		}
		out = append(out, istioGateway{obj: o, gw: g, selected: sel, egress: mesh.IsEgressGateway(o, sel), eastWest: ew})
	}
	return out
}

func wref(w mesh.Workload) string {
	return fmt.Sprintf("%s %s/%s", w.Object.Kind, w.Object.Namespace, w.Object.Name)
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// gatewayIdentity keeps the labels that identify gateway pods.
func gatewayIdentity(l map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{mesh.LabelIstio, "app", mesh.LabelGatewayName} {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return l
	}
	return out
}

func matchLabelsYAML(l map[string]string, indent string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%s: %q\n", indent, k, l[k])
	}
	return b.String()
}

// workloadHPA returns the effective minimum replicas of a gateway workload
// and how it was decided; DaemonSets run one pod per node (-1).
func effectiveReplicas(c *check.Context, w mesh.Workload) (int32, string, *mesh.HPA) {
	if w.Replicas < 0 {
		return -1, "a DaemonSet (one pod per node)", nil
	}
	if h := mesh.HPAFor(c, w.Object); h != nil {
		return h.Min, fmt.Sprintf("HPA %s min %d / max %d", h.Object.Name, h.Min, h.Max), h
	}
	return w.Replicas, fmt.Sprintf("%d replica(s), no HPA", w.Replicas), nil
}

const installGatewayFix = `helm install istio-ingressgateway istio/gateway -n istio-ingress --create-namespace \
  --set autoscaling.minReplicas=2 --wait
# or with istioctl (IstioOperator):
spec:
  components:
    ingressGateways:
    - name: istio-ingressgateway
      enabled: true
      k8s:
        hpaSpec: {minReplicas: 2, maxReplicas: 5}`
