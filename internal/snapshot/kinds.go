package snapshot

// Kind keys are "Kind.group" (core kinds have no group), as kubectl prints them,
// so that Istio's Gateway and the Gateway API's Gateway never collide.
const (
	Namespace                      = "Namespace"
	Service                        = "Service"
	Pod                            = "Pod"
	Node                           = "Node"
	ConfigMap                      = "ConfigMap"
	Secret                         = "Secret"
	ServiceAccount                 = "ServiceAccount"
	Endpoints                      = "Endpoints"
	Deployment                     = "Deployment.apps"
	StatefulSet                    = "StatefulSet.apps"
	DaemonSet                      = "DaemonSet.apps"
	ReplicaSet                     = "ReplicaSet.apps"
	HorizontalPodAutoscaler        = "HorizontalPodAutoscaler.autoscaling"
	PodDisruptionBudget            = "PodDisruptionBudget.policy"
	EndpointSlice                  = "EndpointSlice.discovery.k8s.io"
	MutatingWebhookConfiguration   = "MutatingWebhookConfiguration.admissionregistration.k8s.io"
	ValidatingWebhookConfiguration = "ValidatingWebhookConfiguration.admissionregistration.k8s.io"
	NetworkPolicy                  = "NetworkPolicy.networking.k8s.io"
	Ingress                        = "Ingress.networking.k8s.io"

	VirtualService        = "VirtualService.networking.istio.io"
	DestinationRule       = "DestinationRule.networking.istio.io"
	Gateway               = "Gateway.networking.istio.io"
	ServiceEntry          = "ServiceEntry.networking.istio.io"
	Sidecar               = "Sidecar.networking.istio.io"
	EnvoyFilter           = "EnvoyFilter.networking.istio.io"
	WorkloadEntry         = "WorkloadEntry.networking.istio.io"
	WorkloadGroup         = "WorkloadGroup.networking.istio.io"
	PeerAuthentication    = "PeerAuthentication.security.istio.io"
	AuthorizationPolicy   = "AuthorizationPolicy.security.istio.io"
	RequestAuthentication = "RequestAuthentication.security.istio.io"
	Telemetry             = "Telemetry.telemetry.istio.io"
	IstioOperator         = "IstioOperator.install.istio.io"

	KGateway   = "Gateway.gateway.networking.k8s.io"
	KHTTPRoute = "HTTPRoute.gateway.networking.k8s.io"

	PrometheusRule = "PrometheusRule.monitoring.coreos.com"
	ServiceMonitor = "ServiceMonitor.monitoring.coreos.com"
	PodMonitor     = "PodMonitor.monitoring.coreos.com"
)

// KindKey builds the key of an apiVersion ("group/version" or "v1") and kind.
func KindKey(apiVersion, kind string) string {
	group := ""
	for i := 0; i < len(apiVersion); i++ {
		if apiVersion[i] == '/' {
			group = apiVersion[:i]
			break
		}
	}
	if group == "" {
		return kind
	}
	return kind + "." + group
}
