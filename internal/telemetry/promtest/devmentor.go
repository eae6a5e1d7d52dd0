package promtest

// DevMentor is the telemetry of the example mesh (examples/devmentor):
// qwen-llm, pbml-context and qdrant in namespace devmentor, the ingress
// gateway calling pbml-context, and pbml-context calling qwen-llm and
// qdrant, all over mutual TLS, with low error rates and latencies, lean
// proxies, istiod scraped, and the request_host tag the mesh-default
// Telemetry adds.
//
// Defective, it has the defects the telemetry items must catch: qdrant's
// proxies export nothing (a service with no series), a third of
// pbml-context → qwen-llm is plaintext, qwen-llm answers 5% 503s, its
// proxies use 150 MiB, and the custom tag is missing.
func DevMentor(defective bool) *Mesh {
	ns := "devmentor"
	w := func(name string, pods []string) Workload {
		return Workload{Name: name, Namespace: ns, Pods: pods, ProxyCPU: 0.03, ProxyMemMiB: 48}
	}
	m := &Mesh{
		Istiod:    true,
		CustomTag: "request_host",
		Services: []Service{
			{Name: "qwen-llm", Namespace: ns, Workload: w("qwen-llm", Pods("qwen-llm", 2)), ErrorRate: 0.001, LatencyMs: 400},
			{Name: "pbml-context", Namespace: ns, Workload: w("pbml-context", Pods("pbml-context", 2)), ErrorRate: 0.001, LatencyMs: 120},
			{Name: "qdrant", Namespace: ns, Workload: w("qdrant", StatefulPods("qdrant", 2)), ErrorRate: 0, LatencyMs: 20},
		},
		Gateways: []Workload{{Name: "istio-ingressgateway", Namespace: "istio-ingress", Pods: Pods("istio-ingressgateway", 2), ProxyCPU: 0.05, ProxyMemMiB: 60}},
		Edges: []Edge{
			{FromWorkload: "istio-ingressgateway", FromNamespace: "istio-ingress", To: "pbml-context", ToNamespace: ns, RPS: 100},
			{FromWorkload: "pbml-context", FromNamespace: ns, To: "qwen-llm", ToNamespace: ns, RPS: 5},
			{FromWorkload: "pbml-context", FromNamespace: ns, To: "qdrant", ToNamespace: ns, RPS: 200},
		},
	}
	if defective {
		m.CustomTag = ""
		m.Services[2].Workload.NoSidecar = true  // qdrant: no series at all
		m.Edges[2].RPS = 0                       // and so no request from pbml-context observed
		m.Edges[1].Plaintext = 1.0 / 3           // plaintext on pbml-context → qwen-llm
		m.Services[0].ErrorRate = 0.05           // qwen-llm: 5% 5xx
		m.Services[0].Workload.ProxyMemMiB = 150 // qwen-llm's proxies above 100 MiB
		m.Services[1].Workload.ProxyCPU = 0.02   // pbml-context carries less traffic without qdrant's
	}
	return m
}
