package mesh

import (
	"encoding/json"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/snapshot"
)

// Gateway-related labels and annotations.
const (
	AnnotationInjectTemplates = "inject.istio.io/templates"
	LabelGatewayName          = "gateway.networking.k8s.io/gateway-name"
	LabelIstio                = "istio"
)

// GatewayWorkload is a workload that runs an Istio gateway proxy.
type GatewayWorkload struct {
	Workload
	Egress bool
	Why    string // how it was recognised, for evidence
}

// GatewayKinds are the kinds GatewayWorkloads reads.
var GatewayKinds = []string{snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.Gateway}

// GatewayWorkloads returns every gateway workload in every namespace: those
// injected with the gateway template, running the proxy in router mode,
// deployed for a Gateway API Gateway, labelled istio=*gateway, or selected by
// an Istio Gateway. Reads Deployment, StatefulSet, DaemonSet, Gateway.
func GatewayWorkloads(r Reader) []GatewayWorkload {
	var gws []*networkingv1.Gateway
	for _, o := range r.List(snapshot.Gateway) {
		if g, ok := o.Typed.(*networkingv1.Gateway); ok && len(g.Spec.GetSelector()) > 0 {
			gws = append(gws, g)
		}
	}
	var out []GatewayWorkload
	for _, w := range AllWorkloads(r) {
		if d, ok := w.Object.Typed.(*appsv1.Deployment); ok && IsIstiod(w.Object, d) {
			continue
		}
		why := gatewaySignal(w.Template)
		if why == "" {
			for _, g := range gws {
				if snapshot.SelectorMatches(g.Spec.GetSelector(), w.Template.Labels) {
					why = "selected by Gateway " + g.Namespace + "/" + g.Name
					break
				}
			}
		}
		if why != "" {
			out = append(out, GatewayWorkload{Workload: w, Egress: isEgress(w), Why: why})
		}
	}
	return out
}

func gatewaySignal(t *corev1.PodTemplateSpec) string {
	if v := t.Annotations[AnnotationInjectTemplates]; v != "" {
		for _, tpl := range strings.Split(v, ",") {
			if strings.TrimSpace(tpl) == "gateway" {
				return AnnotationInjectTemplates + "=gateway"
			}
		}
	}
	if n := t.Labels[LabelGatewayName]; n != "" {
		return "deployed for Gateway API Gateway " + n
	}
	for _, c := range t.Spec.Containers {
		if c.Name != ProxyContainerName {
			continue
		}
		for _, a := range c.Args {
			if a == "router" {
				return "istio-proxy runs in router mode"
			}
		}
	}
	if v := t.Labels[LabelIstio]; strings.HasSuffix(v, "gateway") {
		return "label istio=" + v
	}
	return ""
}

func isEgress(w Workload) bool {
	return strings.Contains(w.Template.Labels[LabelIstio], "egress") ||
		strings.Contains(w.Template.Labels["app"], "egress") ||
		strings.Contains(w.Object.Name, "egress")
}

// GatewaySelects returns the gateway workloads an Istio Gateway's selector
// picks (in every namespace, as Istio does by default). An empty selector
// matches every gateway workload, as in Istio.
func GatewaySelects(g *networkingv1.Gateway, wls []GatewayWorkload) []GatewayWorkload {
	sel := g.Spec.GetSelector()
	var out []GatewayWorkload
	for _, w := range wls {
		if snapshot.SelectorMatches(sel, w.Template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// IsEgressGateway reports whether an Istio Gateway configures egress: it
// selects only egress workloads, or, selecting none, is named for egress.
func IsEgressGateway(o *snapshot.Object, selected []GatewayWorkload) bool {
	if len(selected) == 0 {
		g, _ := o.Typed.(*networkingv1.Gateway)
		return strings.Contains(o.Name, "egress") || (g != nil && strings.Contains(g.Spec.GetSelector()[LabelIstio], "egress"))
	}
	for _, w := range selected {
		if !w.Egress {
			return false
		}
	}
	return true
}

// KGateway is a Gateway API Gateway, read from whatever form the loader kept.
type KGateway struct {
	Object    *snapshot.Object
	Decoded   bool
	ClassName string
	Listeners []KListener
}

// KListener is one Gateway API listener.
type KListener struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
	Hostname string `json:"hostname"`
	TLS      *struct {
		Mode            string `json:"mode"`
		CertificateRefs []struct {
			Kind      string `json:"kind"`
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"certificateRefs"`
	} `json:"tls"`
}

// KGatewayOf decodes a Gateway API Gateway (Decoded false when the loader kept no body).
func KGatewayOf(o *snapshot.Object) KGateway {
	kg := KGateway{Object: o}
	if o.Typed == nil {
		return kg
	}
	b, err := json.Marshal(o.Typed)
	if err != nil {
		return kg
	}
	var doc struct {
		Spec struct {
			GatewayClassName string      `json:"gatewayClassName"`
			Listeners        []KListener `json:"listeners"`
		} `json:"spec"`
	}
	if json.Unmarshal(b, &doc) != nil {
		return kg
	}
	kg.Decoded = true
	kg.ClassName = doc.Spec.GatewayClassName
	kg.Listeners = doc.Spec.Listeners
	return kg
}

// KGateways returns the Gateway API Gateways. Reads Gateway.gateway.networking.k8s.io.
func KGateways(r Reader) []KGateway {
	var out []KGateway
	for _, o := range r.List(snapshot.KGateway) {
		out = append(out, KGatewayOf(o))
	}
	return out
}
