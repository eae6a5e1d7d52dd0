package render

import "github.com/meshready/meshready/internal/report"

// sampleReport is the one input every golden file renders: a not-ready
// evaluation with every status, a per-service item, a multi-line YAML
// remediation, a finding on no object, a live (no file) object, an applied and
// an expired waiver, attestations (one stale), input errors and blocking items.
// Items are in checklist order, as the engine emits them.
func sampleReport() *report.Report {
	const (
		vsFile  = "manifests/base/virtual-services.yaml"
		drFile  = "manifests/base/destination-rules.yaml"
		gwFile  = "manifests/base/gateway.yaml"
		cpFile  = "manifests/base/istiod.yaml"
		secFile = "manifests/prod/security.yaml"
	)
	circuitWaiver := report.Waiver{
		Item:    "traffic.circuit-breakers",
		Object:  "DestinationRule/legacy/*",
		Reason:  "legacy services are decommissioned in Q3; no traffic shaping until then",
		By:      "platform-team",
		Expires: "2026-09-30",
		Used:    1,
	}
	authzWaiver := report.Waiver{
		Item:    "security.authorization",
		Object:  "Namespace/batch",
		Reason:  "batch jobs call no mesh services",
		By:      "sec-team",
		Expires: "2025-01-31",
		Expired: true,
	}

	items := []report.Item{
		{
			ID: "controlplane.istiod-deployed", Section: "Core Components", Group: "Istio Control Plane",
			Title: "istiod properly deployed", Kind: "config+live", Severity: report.Blocker, Status: report.Pass,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Pass, Message: "istiod Deployment declared"},
				{Part: "live", Status: report.Pass, Message: "2/2 istiod pods ready"},
			},
			Findings: []report.Finding{
				{Status: report.Pass, Part: "config", Message: "istiod Deployment declared with image docker.io/istio/pilot:1.26.2",
					Object: &report.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod", File: cpFile, Line: 1}},
				{Status: report.Pass, Part: "live", Message: "2/2 replicas ready",
					Object: &report.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod", File: "cluster"}},
			},
		},
		{
			ID: "controlplane.high-availability", Section: "Core Components", Group: "Istio Control Plane",
			Title: "High availability configured", Kind: "config+live", Severity: report.Blocker, Status: report.Fail,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Fail, Message: "istiod can be taken down by a single eviction"},
				{Part: "live", Status: report.Pass, Message: "istiod pods spread over 2 nodes"},
			},
			Findings: []report.Finding{
				{Status: report.Fail, Part: "config", Message: "istiod has no PodDisruptionBudget",
					Object:      &report.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod", File: cpFile, Line: 1},
					Remediation: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: istiod\n  namespace: istio-system\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: istiod\n"},
				{Status: report.Fail, Part: "config", Message: "istiod runs a single replica",
					Object: &report.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod", File: cpFile, Line: 1},
					Field:  "spec.replicas", Observed: "1", Expected: ">= 2",
					Remediation: "kubectl -n istio-system scale deployment/istiod --replicas=2"},
				{Status: report.Pass, Part: "live", Message: "pods on nodes ip-10-0-1-12, ip-10-0-2-40",
					Object: &report.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod", File: "cluster"}},
			},
		},
		{
			ID: "gateway.egress", Section: "Core Components", Group: "Gateway Configuration",
			Title: "Egress gateway configured (if needed)", Kind: "config", Severity: report.Minor, Status: report.NotApplicable,
			Parts: []report.PartResult{
				{Part: "config", Status: report.NotApplicable, Message: "no ServiceEntry with MESH_EXTERNAL hosts: no egress to control"},
			},
			Findings: []report.Finding{
				{Status: report.NotApplicable, Part: "config", Message: "no ServiceEntry with MESH_EXTERNAL hosts: no egress to control"},
			},
		},
		{
			ID: "gateway.tls-termination", Section: "Core Components", Group: "Gateway Configuration",
			Title: "TLS termination configured", Kind: "config+live", Severity: report.Blocker, Status: report.Warn,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Warn, Message: "1 HTTPS server accepts TLS below 1.2"},
				{Part: "live", Status: report.Pass, Message: "certificate shop-tls valid for 74 days"},
			},
			Findings: []report.Finding{
				{Status: report.Warn, Part: "config", Message: "server https-shop accepts TLS 1.0 and 1.1",
					Object: &report.ObjectRef{Kind: "Gateway", Namespace: "istio-ingress", Name: "public-gateway", File: gwFile, Line: 12},
					Field:  "spec.servers[0].tls.minProtocolVersion", Observed: "(unset: TLSV1_0)", Expected: "TLSV1_2",
					Remediation: "set spec.servers[0].tls.minProtocolVersion: TLSV1_2"},
			},
		},
		{
			ID: "security.mtls", Section: "Service Configuration", Group: "Security",
			Title: "mTLS enabled", Kind: "config", Severity: report.Blocker, Status: report.Fail,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Fail, Message: "mesh-wide mTLS is PERMISSIVE"},
			},
			Findings: []report.Finding{
				{Status: report.Fail, Part: "config", Message: "mesh-wide PeerAuthentication allows plaintext",
					Object: &report.ObjectRef{Kind: "PeerAuthentication", Namespace: "istio-system", Name: "default", File: secFile, Line: 1},
					Field:  "spec.mtls.mode", Observed: "PERMISSIVE", Expected: "STRICT",
					Remediation: "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istio-system\nspec:\n  mtls:\n    mode: STRICT"},
			},
		},
		{
			ID: "security.authorization", Section: "Service Configuration", Group: "Security",
			Title: "Authorization policies defined", Kind: "config", Severity: report.Blocker, Status: report.Fail,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Fail, Message: "1 of 3 mesh namespaces has no AuthorizationPolicy"},
			},
			Findings: []report.Finding{
				{Status: report.Pass, Part: "config", Message: "deny-by-default policy present",
					Object: &report.ObjectRef{Kind: "AuthorizationPolicy", Namespace: "shop", Name: "allow-nothing", File: secFile, Line: 14}},
				{Status: report.Fail, Part: "config", Message: "namespace batch has no AuthorizationPolicy: every workload accepts every caller",
					Object:      &report.ObjectRef{Kind: "Namespace", Name: "batch", File: "manifests/base/namespaces.yaml", Line: 20},
					Remediation: "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-nothing\n  namespace: batch\nspec: {}",
					Waiver:      &authzWaiver},
			},
		},
		{
			ID: "traffic.circuit-breakers", Section: "Service Configuration", Group: "Traffic Management",
			Title: "Circuit breakers set", Kind: "config", Severity: report.Blocker, Status: report.Warn,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Warn, Message: "1 DestinationRule without outlier detection (waived)"},
			},
			Findings: []report.Finding{
				{Status: report.Pass, Part: "config", Message: "outlierDetection set",
					Object: &report.ObjectRef{Kind: "DestinationRule", Namespace: "shop", Name: "checkout", File: drFile, Line: 1}},
				{Status: report.Warn, Part: "config", Message: "DestinationRule has no outlierDetection",
					Object: &report.ObjectRef{Kind: "DestinationRule", Namespace: "legacy", Name: "billing-v1", File: drFile, Line: 31},
					Field:  "spec.trafficPolicy.outlierDetection", Expected: "consecutive5xxErrors and baseEjectionTime set",
					Waiver: &circuitWaiver},
			},
		},
		{
			ID: "telemetry.prometheus", Section: "Monitoring & Observability", Group: "Telemetry",
			Title: "Prometheus integration complete", Kind: "config+telemetry", Severity: report.Blocker, Status: report.Error,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Pass, Message: "istio-proxy scrape annotations present"},
				{Part: "telemetry", Status: report.Error, Message: "Prometheus query failed"},
			},
			Findings: []report.Finding{
				{Status: report.Error, Part: "telemetry", Message: "query failed: 403 Forbidden",
					Query:       &report.Query{Source: "prometheus", Expr: `count(up{job="envoy-stats"} == 1)`, Time: "2025-06-02T10:00:00Z"},
					Remediation: "give the token used by --prometheus read access to the query API"},
			},
		},
		{
			ID: "metrics.service", Section: "Monitoring & Observability", Group: "Metrics",
			Title: "Service metrics collected", Kind: "telemetry", Severity: report.Blocker, Status: report.Pass,
			Parts: []report.PartResult{
				{Part: "telemetry", Status: report.Pass, Message: "12 of 12 services report istio_requests_total"},
			},
			Findings: []report.Finding{
				{Status: report.Pass, Part: "telemetry", Message: "istio_requests_total reported by every mesh service",
					Query: &report.Query{Source: "prometheus", Expr: `count(count by (destination_service) (istio_requests_total))`, Time: "2025-06-02T10:00:00Z", Value: "12"}},
			},
		},
		{
			ID: "logging.debug-logs", Section: "Monitoring & Observability", Group: "Logging",
			Title: "Debug logs configured", Kind: "config", Severity: report.Minor, Status: report.Warn,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Warn, Message: "a workload runs its proxy at debug level"},
			},
			Findings: []report.Finding{
				{Status: report.Warn, Part: "config", Message: "proxy log level is debug, which floods the logs at production load",
					Object: &report.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "cart", File: "manifests/prod/cart.yaml", Line: 5},
					Field:  `metadata.annotations["sidecar.istio.io/logLevel"]`, Observed: "debug", Expected: "warning",
					Remediation: "kubectl -n shop annotate deployment/cart sidecar.istio.io/logLevel=warning --overwrite"},
			},
		},
		{
			ID: "service.checkout.mesh-integration", Section: "Service-Specific Configuration", Group: "checkout",
			Title: "Service mesh integration verified", Kind: "config+live", Severity: report.Blocker, Status: report.Pass, Service: "checkout",
			Parts: []report.PartResult{
				{Part: "config", Status: report.Pass, Message: "namespace shop has istio-injection=enabled"},
				{Part: "live", Status: report.Pass, Message: "3/3 pods have an istio-proxy"},
			},
			Findings: []report.Finding{
				{Status: report.Pass, Part: "config", Message: "injection enabled",
					Object: &report.ObjectRef{Kind: "Namespace", Name: "shop", File: "manifests/base/namespaces.yaml", Line: 1}},
				{Status: report.Pass, Part: "live", Message: "3/3 pods injected",
					Object: &report.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "checkout", File: "cluster"}},
			},
		},
		{
			ID: "service.checkout.resilience", Section: "Service-Specific Configuration", Group: "checkout",
			Title: "Retry policies and circuit breakers configured", Kind: "config", Severity: report.Blocker, Status: report.Fail, Service: "checkout",
			Parts: []report.PartResult{
				{Part: "config", Status: report.Fail, Message: "no retries and no circuit breaker for checkout"},
			},
			Findings: []report.Finding{
				{Status: report.Fail, Part: "config", Message: "no DestinationRule for host checkout.shop.svc.cluster.local",
					Expected:    "a DestinationRule with connectionPool and outlierDetection",
					Remediation: "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: checkout\n  namespace: shop\nspec:\n  host: checkout.shop.svc.cluster.local\n  trafficPolicy:\n    connectionPool:\n      http:\n        http1MaxPendingRequests: 100\n    outlierDetection:\n      consecutive5xxErrors: 5\n      interval: 30s\n      baseEjectionTime: 30s\n"},
				{Status: report.Warn, Part: "config", Message: "route retries on every error, including non-idempotent POSTs",
					Object: &report.ObjectRef{Kind: "VirtualService", Namespace: "shop", Name: "checkout", File: vsFile, Line: 40},
					Field:  "spec.http[0].retries.retryOn", Observed: "5xx,reset,connect-failure", Expected: "connect-failure,refused-stream,unavailable"},
			},
		},
		{
			ID: "service.checkout.monitoring", Section: "Service-Specific Configuration", Group: "checkout",
			Title: "Monitoring enabled and metrics collected", Kind: "telemetry", Severity: report.Blocker, Status: report.Pending, Service: "checkout",
			Parts: []report.PartResult{
				{Part: "telemetry", Status: report.Pending, Message: "waiting for traffic: checkout has reported no requests in the last 1h"},
			},
			Findings: []report.Finding{
				{Status: report.Pending, Part: "telemetry", Message: "waiting for traffic: checkout has reported no requests in the last 1h"},
			},
		},
		{
			ID: "perf.latency-impact", Section: "Performance Verification", Group: "Load Testing",
			Title: "Latency impacts measured", Kind: "probe", Severity: report.Blocker, Status: report.Pending,
			Parts: []report.PartResult{
				{Part: "probe", Status: report.Pending, Message: "no latency evidence in evidence/: run `meshready probe latency` and commit the result"},
			},
		},
		{
			ID: "team.trained", Section: "Pre-Production Checklist", Group: "Team Readiness",
			Title: "Team trained on Istio", Kind: "manual", Severity: report.Blocker, Status: report.Pass,
			Parts: []report.PartResult{
				{Part: "manual", Status: report.Pass, Message: "attested by alice@example.com"},
			},
			Attestations: []report.Attestation{
				{Item: "team.trained", By: "alice@example.com", At: "2025-05-20", Evidence: "https://wiki.example.com/istio-training",
					Note: "all on-call engineers completed the Istio workshop", Expires: "2026-05-20", Status: report.Pass},
			},
		},
		{
			ID: "team.procedures", Section: "Pre-Production Checklist", Group: "Team Readiness",
			Title: "Operational procedures understood", Kind: "manual", Severity: report.Blocker, Status: report.Pending,
			Parts: []report.PartResult{
				{Part: "manual", Status: report.Pending, Message: "no attestation for team.procedures in attestations.yaml"},
			},
		},
		{
			ID: "signoff.platform", Section: "Final Sign-off", Group: "Final Sign-off",
			Title: "Platform team approval", Kind: "manual", Severity: report.Blocker, Status: report.Fail,
			Parts: []report.PartResult{
				{Part: "manual", Status: report.Fail, Message: "the sign-off approves another state of the mesh"},
			},
			Attestations: []report.Attestation{
				{Item: "signoff.platform", By: "bob@example.com", At: "2025-05-28", Digest: "sha256:1f0c7e",
					Status: report.Fail, Reason: "approved digest sha256:1f0c7e, this report is sha256:9b2d41"},
			},
		},
	}

	r := &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          report.Tool{Name: "meshready", Version: "0.4.0"},
		Verdict:       report.NotReady,
		Digest:        "sha256:9b2d41",
		Inputs: report.Inputs{
			Paths:      []string{"manifests/base", "manifests/prod"},
			Config:     "meshready.yaml",
			Cluster:    "prod-eu-1",
			Prometheus: "https://prometheus.example.com",
			Objects:    214,
		},
		InputErrors: []report.InputError{
			{File: "manifests/prod/broken.yaml", Line: 14, Message: "yaml: line 14: mapping values are not allowed in this context"},
			{File: "manifests/prod/README.txt", Message: "not a Kubernetes manifest (no apiVersion/kind)"},
		},
		Waivers: []report.Waiver{circuitWaiver, authzWaiver},
		Items:   items,
	}
	for _, it := range items {
		r.Summary.Add(it.Status)
		if it.Severity == report.Blocker && it.Status != report.Pass && it.Status != report.NotApplicable {
			r.Blocking = append(r.Blocking, it.ID)
		}
	}
	return r
}

// readyReport is a small report that passes.
func readyReport() *report.Report {
	items := []report.Item{
		{
			ID: "controlplane.istiod-deployed", Section: "Core Components", Group: "Istio Control Plane",
			Title: "istiod properly deployed", Kind: "config+live", Severity: report.Blocker, Status: report.Pass,
			Parts: []report.PartResult{
				{Part: "config", Status: report.Pass, Message: "istiod Deployment declared"},
				{Part: "live", Status: report.Pass, Message: "2/2 istiod pods ready"},
			},
			Findings: []report.Finding{
				{Status: report.Pass, Part: "config", Message: "istiod Deployment declared",
					Object: &report.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod", File: "istiod.yaml", Line: 1}},
			},
		},
		{
			ID: "gateway.egress", Section: "Core Components", Group: "Gateway Configuration",
			Title: "Egress gateway configured (if needed)", Kind: "config", Severity: report.Minor, Status: report.NotApplicable,
			Parts: []report.PartResult{
				{Part: "config", Status: report.NotApplicable, Message: "no external hosts"},
			},
		},
		{
			ID: "signoff.platform", Section: "Final Sign-off", Group: "Final Sign-off",
			Title: "Platform team approval", Kind: "manual", Severity: report.Blocker, Status: report.Pass,
			Parts: []report.PartResult{
				{Part: "manual", Status: report.Pass, Message: "signed off"},
			},
			Attestations: []report.Attestation{
				{Item: "signoff.platform", By: "bob@example.com", At: "2025-06-01", Digest: "sha256:77aa01", Status: report.Pass},
			},
		},
	}
	r := &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          report.Tool{Name: "meshready", Version: "0.4.0"},
		Verdict:       report.Ready,
		Digest:        "sha256:77aa01",
		Inputs:        report.Inputs{Paths: []string{"mesh/"}, Objects: 12},
		Items:         items,
	}
	for _, it := range items {
		r.Summary.Add(it.Status)
	}
	return r
}
