// Package meshgen writes synthetic meshes for benchmarks: N services, each
// with a Deployment, Service, VirtualService, DestinationRule and
// AuthorizationPolicy, spread over namespaces, plus a control plane, and a
// knob that injects known defects into a share of the services.
package meshgen

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// Options shape the generated mesh.
type Options struct {
	Services      int     // number of services
	Namespaces    int     // namespaces they are spread over (default services/250, at least 1)
	DefectRate    float64 // share of services with a defect (no retries, PERMISSIVE mTLS, ...)
	FilesPerNS    bool    // one file per namespace (default) rather than one file
	CriticalNamed int     // services named critical in meshready.yaml (0: none, every Service is critical)
}

// Write generates the mesh into dir and returns the bytes written.
func Write(dir string, o Options) (int64, error) {
	if o.Services <= 0 {
		return 0, fmt.Errorf("services must be positive")
	}
	if o.Namespaces <= 0 {
		o.Namespaces = max(1, o.Services/250)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var total int64
	write := func(name string, fn func(w *bufio.Writer)) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		fn(w)
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		st, _ := f.Stat()
		total += st.Size()
		return f.Close()
	}
	if err := write("00-control-plane.yaml", func(w *bufio.Writer) { controlPlane(w, o) }); err != nil {
		return total, err
	}
	if err := write("meshready.yaml", func(w *bufio.Writer) { configFile(w, o) }); err != nil {
		return total, err
	}
	defectEvery := 0
	if o.DefectRate > 0 {
		defectEvery = int(1 / o.DefectRate)
	}
	for ns := 0; ns < o.Namespaces; ns++ {
		name := fmt.Sprintf("10-ns-%04d.yaml", ns)
		err := write(name, func(w *bufio.Writer) {
			nsName := fmt.Sprintf("team-%04d", ns)
			fmt.Fprintf(w, nsTmpl, nsName, nsName)
			for i := ns; i < o.Services; i += o.Namespaces {
				defect := defectEvery > 0 && i%defectEvery == 0
				service(w, nsName, fmt.Sprintf("svc-%05d", i), defect)
			}
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

const nsTmpl = `apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    istio-injection: enabled
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-nothing
  namespace: %s
spec: {}
`

func service(w *bufio.Writer, ns, name string, defect bool) {
	retries := `
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: 5xx,reset,connect-failure,refused-stream`
	mtls := "STRICT"
	if defect {
		retries = ""
		mtls = "PERMISSIVE"
	}
	fmt.Fprintf(w, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[2]s
  namespace: %[1]s
  labels: {app: %[2]s, version: v1}
spec:
  replicas: 2
  selector:
    matchLabels: {app: %[2]s}
  template:
    metadata:
      labels: {app: %[2]s, version: v1}
    spec:
      serviceAccountName: %[2]s
      containers:
      - name: app
        image: registry.example.com/%[2]s:1.0.0
        ports:
        - containerPort: 8080
          name: http
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 256Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  selector: {app: %[2]s}
  ports:
  - name: http
    port: 8080
    targetPort: http
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  hosts: [%[2]s]
  http:
  - route:
    - destination:
        host: %[2]s
        subset: v1
    timeout: 10s%[3]s
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  host: %[2]s
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool:
      tcp: {maxConnections: 100}
      http: {http1MaxPendingRequests: 100, http2MaxRequests: 1000}
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
  subsets:
  - name: v1
    labels: {version: v1}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  selector:
    matchLabels: {app: %[2]s}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/%[1]s/sa/%[2]s-client"]
`, ns, name, retries)
	if defect {
		fmt.Fprintf(w, `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  selector:
    matchLabels: {app: %[2]s}
  mtls: {mode: %[3]s}
`, ns, name, mtls)
	}
}

func controlPlane(w *bufio.Writer, o Options) {
	fmt.Fprint(w, `apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: istio-system
  labels: {app: istiod, istio.io/rev: default}
spec:
  replicas: 3
  selector:
    matchLabels: {app: istiod}
  template:
    metadata:
      labels: {app: istiod, istio.io/rev: default}
    spec:
      containers:
      - name: discovery
        image: docker.io/istio/pilot:1.28.1
        resources:
          requests: {cpu: "2", memory: 8Gi}
          limits: {cpu: "4", memory: 16Gi}
---
apiVersion: v1
kind: Service
metadata:
  name: istiod
  namespace: istio-system
spec:
  selector: {app: istiod}
  ports:
  - {name: grpc-xds, port: 15010}
  - {name: https-dns, port: 15012}
  - {name: https-webhook, port: 443, targetPort: 15017}
  - {name: http-monitoring, port: 15014}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls: {mode: STRICT}
`)
}

func configFile(w *bufio.Writer, o Options) {
	fmt.Fprint(w, "apiVersion: meshready/v1\nkind: Config\ncontrolPlaneNamespace: istio-system\n")
	if o.CriticalNamed > 0 {
		fmt.Fprint(w, "criticalServices:\n")
		ns := max(1, o.Namespaces)
		if o.Namespaces <= 0 {
			ns = max(1, o.Services/250)
		}
		for i := 0; i < o.CriticalNamed && i < o.Services; i++ {
			fmt.Fprintf(w, "- {name: svc-%05d, namespace: team-%04d}\n", i, i%ns)
		}
	}
}
