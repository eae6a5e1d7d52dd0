package loader

import (
	"bytes"
	"fmt"
)

// genManifests writes n services, each as a Deployment, a Service, a
// VirtualService (retries, timeouts), a DestinationRule (trafficPolicy) and
// an AuthorizationPolicy: about 1.7 KB and 5 objects a service, the shape
// of the 5,000-service (8.5 MB) input meshready must read in well under a
// second.
func genManifests(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 1800)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  replicas: 3
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s, version: v1}
    spec:
      serviceAccountName: %[1]s
      containers:
      - name: app
        image: example.com/%[1]s:1.%[3]d
        resources:
          requests: {cpu: 100m, memory: 128Mi}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  selector: {app: %[1]s}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  hosts: [%[1]s]
  http:
  - route:
    - destination: {host: %[1]s, subset: v2}
      weight: 10
    - destination: {host: %[1]s, subset: v1}
      weight: 90
    timeout: 5s
    retries:
      attempts: 3
      perTryTimeout: 1.5s
      retryOn: 5xx
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  host: %[1]s.%[2]s.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100}
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  selector:
    matchLabels: {app: %[1]s}
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/%[2]s/sa/frontend"]}
`, fmt.Sprintf("svc-%d", i), fmt.Sprintf("team-%d", i%50), i)
	}
	return b.Bytes()
}

// genList is genManifests as one `kind: List` document, the shape of
// `kubectl get ... -o yaml`.
func genList(n int) []byte {
	var b bytes.Buffer
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for _, doc := range bytes.Split(genManifests(n), []byte("---\n")) {
		if len(doc) == 0 {
			continue
		}
		for i, line := range bytes.Split(bytes.TrimSuffix(doc, []byte("\n")), []byte("\n")) {
			if i == 0 {
				b.WriteString("- ")
			} else {
				b.WriteString("  ")
			}
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
