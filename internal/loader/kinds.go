package loader

import (
	"strings"

	istionetv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	istiosecv1 "istio.io/client-go/pkg/apis/security/v1"
	istiotelv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/meshready/meshready/internal/loader/monitoring"
	"github.com/meshready/meshready/internal/snapshot"
)

// kindSpec says how one kind key is decoded.
type kindSpec struct {
	// versions accepted for the typed form; other versions of the kind are
	// kept with their identity only (Typed nil).
	versions []string
	// newObj returns a pointer to an empty typed object; nil means the
	// object is kept as map[string]any.
	newObj func() any
	// skip lists top-level keys never decoded (Secret values).
	skip []string
	// convert turns a decoded object of some version into the typed form
	// (autoscaling/v1 HPA -> autoscaling/v2).
	convert map[string]func(any) any
	// newFor overrides newObj for some versions.
	newFor map[string]func() any
}

func (k *kindSpec) accepts(version string) bool {
	if len(k.versions) == 0 {
		return true
	}
	for _, v := range k.versions {
		if v == version {
			return true
		}
	}
	return false
}

func newOf[T any]() func() any { return func() any { return new(T) } }

var (
	istioNetVersions = []string{"v1", "v1beta1", "v1alpha3"}
	istioSecVersions = []string{"v1", "v1beta1"}
)

// kindSpecs lists the kinds meshready decodes. Istio kinds always decode into
// the istio.io/client-go networking/v1, security/v1 and telemetry/v1 types
// (EnvoyFilter: networking/v1alpha3), whatever apiVersion the input used:
// their specs are the same protobuf messages. TypeMeta keeps the input's
// apiVersion.
var kindSpecs = map[string]*kindSpec{
	snapshot.Namespace:      {versions: []string{"v1"}, newObj: newOf[corev1.Namespace]()},
	snapshot.Service:        {versions: []string{"v1"}, newObj: newOf[corev1.Service]()},
	snapshot.Pod:            {versions: []string{"v1"}, newObj: newOf[corev1.Pod]()},
	snapshot.Node:           {versions: []string{"v1"}, newObj: newOf[corev1.Node]()},
	snapshot.ConfigMap:      {versions: []string{"v1"}, newObj: newOf[corev1.ConfigMap]()},
	snapshot.Secret:         {versions: []string{"v1"}, newObj: newOf[corev1.Secret](), skip: []string{"data", "stringData"}},
	snapshot.ServiceAccount: {versions: []string{"v1"}, newObj: newOf[corev1.ServiceAccount]()},
	snapshot.Endpoints:      {versions: []string{"v1"}, newObj: newOf[corev1.Endpoints]()},

	snapshot.Deployment:  {versions: []string{"v1"}, newObj: newOf[appsv1.Deployment]()},
	snapshot.StatefulSet: {versions: []string{"v1"}, newObj: newOf[appsv1.StatefulSet]()},
	snapshot.DaemonSet:   {versions: []string{"v1"}, newObj: newOf[appsv1.DaemonSet]()},
	snapshot.ReplicaSet:  {versions: []string{"v1"}, newObj: newOf[appsv1.ReplicaSet]()},

	snapshot.HorizontalPodAutoscaler: {
		versions: []string{"v2", "v2beta2", "v1"},
		newObj:   newOf[autoscalingv2.HorizontalPodAutoscaler](),
		newFor:   map[string]func() any{"v1": newOf[autoscalingv1.HorizontalPodAutoscaler]()},
		convert:  map[string]func(any) any{"v1": func(o any) any { return hpaV1ToV2(o.(*autoscalingv1.HorizontalPodAutoscaler)) }},
	},
	snapshot.PodDisruptionBudget:            {versions: []string{"v1"}, newObj: newOf[policyv1.PodDisruptionBudget]()},
	snapshot.EndpointSlice:                  {versions: []string{"v1"}, newObj: newOf[discoveryv1.EndpointSlice]()},
	snapshot.MutatingWebhookConfiguration:   {versions: []string{"v1"}, newObj: newOf[admissionv1.MutatingWebhookConfiguration]()},
	snapshot.ValidatingWebhookConfiguration: {versions: []string{"v1"}, newObj: newOf[admissionv1.ValidatingWebhookConfiguration]()},
	snapshot.NetworkPolicy:                  {versions: []string{"v1"}, newObj: newOf[networkingv1.NetworkPolicy]()},
	snapshot.Ingress:                        {versions: []string{"v1"}, newObj: newOf[networkingv1.Ingress]()},

	snapshot.VirtualService:  {versions: istioNetVersions, newObj: newOf[istionetv1.VirtualService]()},
	snapshot.DestinationRule: {versions: istioNetVersions, newObj: newOf[istionetv1.DestinationRule]()},
	snapshot.Gateway:         {versions: istioNetVersions, newObj: newOf[istionetv1.Gateway]()},
	snapshot.ServiceEntry:    {versions: istioNetVersions, newObj: newOf[istionetv1.ServiceEntry]()},
	snapshot.Sidecar:         {versions: istioNetVersions, newObj: newOf[istionetv1.Sidecar]()},
	snapshot.EnvoyFilter:     {versions: []string{"v1alpha3"}, newObj: newOf[istionetv1alpha3.EnvoyFilter]()},
	snapshot.WorkloadEntry:   {versions: istioNetVersions, newObj: newOf[istionetv1.WorkloadEntry]()},
	snapshot.WorkloadGroup:   {versions: istioNetVersions, newObj: newOf[istionetv1.WorkloadGroup]()},

	snapshot.PeerAuthentication:    {versions: istioSecVersions, newObj: newOf[istiosecv1.PeerAuthentication]()},
	snapshot.AuthorizationPolicy:   {versions: istioSecVersions, newObj: newOf[istiosecv1.AuthorizationPolicy]()},
	snapshot.RequestAuthentication: {versions: istioSecVersions, newObj: newOf[istiosecv1.RequestAuthentication]()},
	snapshot.Telemetry:             {versions: []string{"v1", "v1alpha1"}, newObj: newOf[istiotelv1.Telemetry]()},

	// No typed module: kept as map[string]any, like an unstructured object
	// (integers are int64, other numbers float64).
	snapshot.IstioOperator: {versions: []string{"v1alpha1"}},
	snapshot.KGateway:      {},
	snapshot.KHTTPRoute:    {},

	snapshot.PrometheusRule: {versions: []string{"v1"}, newObj: newOf[monitoring.PrometheusRule]()},
	snapshot.ServiceMonitor: {versions: []string{"v1"}, newObj: newOf[monitoring.ServiceMonitor]()},
	snapshot.PodMonitor:     {versions: []string{"v1"}, newObj: newOf[monitoring.PodMonitor]()},
}

// clusterScoped lists the cluster-scoped kind keys: their objects never get
// a namespace. Every other kind is namespaced.
var clusterScoped = map[string]bool{
	snapshot.Namespace:                                              true,
	snapshot.Node:                                                   true,
	snapshot.MutatingWebhookConfiguration:                           true,
	snapshot.ValidatingWebhookConfiguration:                         true,
	"PersistentVolume":                                              true,
	"ComponentStatus":                                               true,
	"ClusterRole.rbac.authorization.k8s.io":                         true,
	"ClusterRoleBinding.rbac.authorization.k8s.io":                  true,
	"CustomResourceDefinition.apiextensions.k8s.io":                 true,
	"APIService.apiregistration.k8s.io":                             true,
	"ValidatingAdmissionPolicy.admissionregistration.k8s.io":        true,
	"ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io": true,
	"MutatingAdmissionPolicy.admissionregistration.k8s.io":          true,
	"MutatingAdmissionPolicyBinding.admissionregistration.k8s.io":   true,
	"StorageClass.storage.k8s.io":                                   true,
	"CSIDriver.storage.k8s.io":                                      true,
	"CSINode.storage.k8s.io":                                        true,
	"VolumeAttachment.storage.k8s.io":                               true,
	"PriorityClass.scheduling.k8s.io":                               true,
	"IngressClass.networking.k8s.io":                                true,
	"IPAddress.networking.k8s.io":                                   true,
	"ServiceCIDR.networking.k8s.io":                                 true,
	"RuntimeClass.node.k8s.io":                                      true,
	"CertificateSigningRequest.certificates.k8s.io":                 true,
	"ClusterTrustBundle.certificates.k8s.io":                        true,
	"FlowSchema.flowcontrol.apiserver.k8s.io":                       true,
	"PriorityLevelConfiguration.flowcontrol.apiserver.k8s.io":       true,
	"DeviceClass.resource.k8s.io":                                   true,
	"GatewayClass.gateway.networking.k8s.io":                        true,
	"ClusterIssuer.cert-manager.io":                                 true,
	"ClusterPolicy.kyverno.io":                                      true,
	"ClusterServingRuntime.serving.kserve.io":                       true,
	"ClusterStorageContainer.serving.kserve.io":                     true,
}

// IsClusterScoped reports whether objects of a kind key have no namespace.
func IsClusterScoped(kindKey string) bool { return clusterScoped[kindKey] }

// apiVersionParts splits "group/version" (or "version").
func apiVersionParts(apiVersion string) (group, version string) {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

// hpaV1ToV2 converts an autoscaling/v1 HPA to the v2 form: its CPU target
// becomes a Resource metric, as the API server's conversion does.
func hpaV1ToV2(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	out := &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta}
	out.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{
		Kind:       in.Spec.ScaleTargetRef.Kind,
		Name:       in.Spec.ScaleTargetRef.Name,
		APIVersion: in.Spec.ScaleTargetRef.APIVersion,
	}
	out.Spec.MinReplicas = in.Spec.MinReplicas
	out.Spec.MaxReplicas = in.Spec.MaxReplicas
	if in.Spec.TargetCPUUtilizationPercentage != nil {
		out.Spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: in.Spec.TargetCPUUtilizationPercentage,
				},
			},
		}}
	}
	out.Status.ObservedGeneration = in.Status.ObservedGeneration
	out.Status.LastScaleTime = in.Status.LastScaleTime
	out.Status.CurrentReplicas = in.Status.CurrentReplicas
	out.Status.DesiredReplicas = in.Status.DesiredReplicas
	if in.Status.CurrentCPUUtilizationPercentage != nil {
		out.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{
				Name:    corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: in.Status.CurrentCPUUtilizationPercentage},
			},
		}}
	}
	return out
}
