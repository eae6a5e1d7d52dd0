package kubesim

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Injector writes pods as Istio's sidecar injector (istiod's /inject
// webhook) would, from the values of the cluster's injector ConfigMap.
type Injector struct {
	ProxyImage   string // e.g. docker.io/istio/proxyv2:1.31.4
	CNI          bool   // istio-validation init container instead of istio-init
	HoldApp      bool   // holdApplicationUntilProxyStarts: istio-proxy first, with a postStart wait
	Revision     string // "default" unless the values name one
	ProxyRequest corev1.ResourceList
	ProxyLimit   corev1.ResourceList
	LogLevel     string
}

// injectorFromValues reads the injector ConfigMap's "values" (Helm values
// as JSON or YAML); istiodImage gives the tag when the values name none.
func injectorFromValues(values, istiodImage string, cniDaemonSet bool) *Injector {
	in := &Injector{
		Revision: "default",
		CNI:      cniDaemonSet,
		LogLevel: "warning",
		ProxyRequest: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		ProxyLimit: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		},
	}
	hub, tag, image := "docker.io/istio", "", "proxyv2"
	if i := strings.LastIndex(istiodImage, ":"); i > 0 && !strings.Contains(istiodImage[i:], "/") {
		tag = istiodImage[i+1:]
		if j := strings.LastIndex(istiodImage[:i], "/"); j > 0 {
			hub = istiodImage[:j]
		}
	}
	var v struct {
		Revision string `json:"revision"`
		Global   struct {
			Hub   string `json:"hub"`
			Tag   any    `json:"tag"`
			Proxy struct {
				Image                           string `json:"image"`
				LogLevel                        string `json:"logLevel"`
				HoldApplicationUntilProxyStarts bool   `json:"holdApplicationUntilProxyStarts"`
				Resources                       struct {
					Requests corev1.ResourceList `json:"requests"`
					Limits   corev1.ResourceList `json:"limits"`
				} `json:"resources"`
			} `json:"proxy"`
		} `json:"global"`
		IstioCNI struct {
			Enabled bool `json:"enabled"`
		} `json:"istio_cni"`
	}
	if values != "" && yaml.Unmarshal([]byte(values), &v) == nil {
		if v.Revision != "" {
			in.Revision = v.Revision
		}
		if v.Global.Hub != "" {
			hub = v.Global.Hub
		}
		switch t := v.Global.Tag.(type) {
		case string:
			if t != "" {
				tag = t
			}
		case float64:
			tag = fmt.Sprint(t)
		}
		if v.Global.Proxy.Image != "" {
			image = v.Global.Proxy.Image
		}
		if v.Global.Proxy.LogLevel != "" {
			in.LogLevel = v.Global.Proxy.LogLevel
		}
		in.HoldApp = v.Global.Proxy.HoldApplicationUntilProxyStarts
		in.CNI = in.CNI || v.IstioCNI.Enabled
		if len(v.Global.Proxy.Resources.Requests) > 0 {
			in.ProxyRequest = v.Global.Proxy.Resources.Requests
		}
		if len(v.Global.Proxy.Resources.Limits) > 0 {
			in.ProxyLimit = v.Global.Proxy.Resources.Limits
		}
	}
	if tag == "" {
		tag = "latest"
	}
	in.ProxyImage = image
	if !strings.Contains(image, "/") {
		in.ProxyImage = hub + "/" + image + ":" + tag
	}
	return in
}

// Injected reports whether the injector injects a pod of a namespace with
// these labels: istio-injection=enabled or an istio.io/rev label on the
// namespace, or sidecar.istio.io/inject=true on the pod, and not
// sidecar.istio.io/inject=false on the pod nor istio-injection=disabled.
func Injected(nsLabels map[string]string, pod *corev1.Pod) bool {
	podLabel := pod.Labels["sidecar.istio.io/inject"]
	if podLabel == "" {
		podLabel = pod.Annotations["sidecar.istio.io/inject"]
	}
	if podLabel == "false" || nsLabels["istio-injection"] == "disabled" {
		return false
	}
	return nsLabels["istio-injection"] == "enabled" || nsLabels["istio.io/rev"] != "" || podLabel == "true"
}

var istioVolumes = []string{"workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"}

// Inject rewrites a pod as the injector would: the sidecar template adds
// an istio-proxy container and an init container (istio-validation with
// the CNI node agent, else istio-init), its volumes and labels; the
// gateway template (inject.istio.io/templates: gateway) fills in the
// istio-proxy container's image ("auto").
func (in *Injector) Inject(p *corev1.Pod) {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	name := p.Labels["app.kubernetes.io/name"]
	if name == "" {
		name = p.Labels["app"]
	}
	if name == "" {
		name = p.GenerateName
	}
	rev := p.Labels["app.kubernetes.io/version"]
	if rev == "" {
		rev = p.Labels["version"]
	}
	if rev == "" {
		rev = "latest"
	}
	p.Labels["security.istio.io/tlsMode"] = "istio"
	p.Labels["service.istio.io/canonical-name"] = strings.TrimSuffix(name, "-")
	p.Labels["service.istio.io/canonical-revision"] = rev
	p.Annotations["istio.io/rev"] = in.Revision

	status := map[string]any{"containers": []string{"istio-proxy"}, "initContainers": nil, "volumes": istioVolumes, "imagePullSecrets": nil, "revision": in.Revision}
	if p.Annotations["inject.istio.io/templates"] == "gateway" {
		for i := range p.Spec.Containers {
			c := &p.Spec.Containers[i]
			if c.Name == "istio-proxy" {
				if c.Image == "auto" || c.Image == "" {
					c.Image = in.ProxyImage
				}
				if len(c.Args) == 0 {
					c.Args = []string{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=" + in.LogLevel}
				}
				if c.ReadinessProbe == nil {
					c.ReadinessProbe = readiness()
				}
			}
		}
		p.Spec.Volumes = append(p.Spec.Volumes, volumes()...)
		b, _ := json.Marshal(status)
		p.Annotations["sidecar.istio.io/status"] = string(b)
		return
	}

	if len(p.Spec.Containers) > 0 {
		p.Annotations["kubectl.kubernetes.io/default-container"] = p.Spec.Containers[0].Name
		p.Annotations["kubectl.kubernetes.io/default-logs-container"] = p.Spec.Containers[0].Name
	}
	p.Annotations["prometheus.io/scrape"] = "true"
	p.Annotations["prometheus.io/port"] = "15020"
	p.Annotations["prometheus.io/path"] = "/stats/prometheus"

	iptables := []string{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"}
	init := corev1.Container{
		Name:            "istio-init",
		Image:           in.ProxyImage,
		Args:            iptables,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Resources:       corev1.ResourceRequirements{Requests: in.ProxyRequest, Limits: in.ProxyLimit},
		SecurityContext: &corev1.SecurityContext{
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}},
			RunAsUser:                ptr[int64](0),
			RunAsGroup:               ptr[int64](0),
			RunAsNonRoot:             ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(false),
		},
	}
	if in.CNI {
		init.Name = "istio-validation"
		init.Args = append(iptables, "--run-validation", "--skip-rule-apply")
		init.SecurityContext = &corev1.SecurityContext{
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsUser:                ptr[int64](1337),
			RunAsGroup:               ptr[int64](1337),
			RunAsNonRoot:             ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
		}
	}
	status["initContainers"] = []string{init.Name}
	p.Spec.InitContainers = append([]corev1.Container{init}, p.Spec.InitContainers...)

	proxy := corev1.Container{
		Name:  "istio-proxy",
		Image: in.ProxyImage,
		Args: []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
			"--proxyLogLevel=" + in.LogLevel, "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"},
		Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "PILOT_CERT_PROVIDER", Value: "istiod"},
			{Name: "CA_ADDR", Value: "istiod.istio-system.svc:15012"},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "ISTIO_META_WORKLOAD_NAME", Value: strings.TrimSuffix(name, "-")},
		},
		ReadinessProbe:  readiness(),
		Resources:       in.proxyResources(p.Annotations),
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsUser:                ptr[int64](1337),
			RunAsGroup:               ptr[int64](1337),
			RunAsNonRoot:             ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "workload-socket", MountPath: "/var/run/secrets/workload-spiffe-uds"},
			{Name: "credential-socket", MountPath: "/var/run/secrets/credential-uds"},
			{Name: "workload-certs", MountPath: "/var/run/secrets/workload-spiffe-credentials"},
			{Name: "istiod-ca-cert", MountPath: "/var/run/secrets/istio"},
			{Name: "istio-data", MountPath: "/var/lib/istio/data"},
			{Name: "istio-envoy", MountPath: "/etc/istio/proxy"},
			{Name: "istio-token", MountPath: "/var/run/secrets/tokens"},
			{Name: "istio-podinfo", MountPath: "/etc/istio/pod"},
		},
	}
	hold := in.HoldApp
	if v, ok := p.Annotations["proxy.istio.io/config"]; ok && strings.Contains(v, "holdApplicationUntilProxyStarts: true") {
		hold = true
	}
	if hold {
		proxy.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"pilot-agent", "wait"}}}}
		p.Spec.Containers = append([]corev1.Container{proxy}, p.Spec.Containers...)
	} else {
		p.Spec.Containers = append(p.Spec.Containers, proxy)
	}
	p.Spec.Volumes = append(p.Spec.Volumes, volumes()...)
	b, _ := json.Marshal(status)
	p.Annotations["sidecar.istio.io/status"] = string(b)
}

// proxyResources applies the sidecar.istio.io/proxyCPU... annotations over the values.
func (in *Injector) proxyResources(ann map[string]string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for k, v := range in.ProxyRequest {
		r.Requests[k] = v
	}
	for k, v := range in.ProxyLimit {
		r.Limits[k] = v
	}
	set := func(l corev1.ResourceList, name corev1.ResourceName, ann string) {
		if q, err := resource.ParseQuantity(ann); err == nil && ann != "" {
			l[name] = q
		}
	}
	set(r.Requests, corev1.ResourceCPU, ann["sidecar.istio.io/proxyCPU"])
	set(r.Requests, corev1.ResourceMemory, ann["sidecar.istio.io/proxyMemory"])
	set(r.Limits, corev1.ResourceCPU, ann["sidecar.istio.io/proxyCPULimit"])
	set(r.Limits, corev1.ResourceMemory, ann["sidecar.istio.io/proxyMemoryLimit"])
	return r
}

func readiness() *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intstr.FromInt32(15021), Scheme: corev1.URISchemeHTTP}},
		PeriodSeconds:    15,
		TimeoutSeconds:   3,
		FailureThreshold: 4,
	}
}

func volumes() []corev1.Volume {
	empty := func(name string, medium corev1.StorageMedium) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: medium}}}
	}
	return []corev1.Volume{
		empty("workload-socket", ""),
		empty("credential-socket", ""),
		empty("workload-certs", ""),
		empty("istio-envoy", corev1.StorageMediumMemory),
		empty("istio-data", ""),
		{Name: "istio-podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
		}}}},
		{Name: "istio-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "istio-ca", ExpirationSeconds: ptr[int64](43200), Path: "istio-token"},
		}}}}},
		{Name: "istiod-ca-cert", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "istio-ca-root-cert"}}}},
	}
}

func ptr[T any](v T) *T { return &v }
