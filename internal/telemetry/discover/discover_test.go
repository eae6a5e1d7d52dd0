package discover_test

// These tests run against a real kube-apiserver (internal/testcluster).
//
// Limitation: a query cannot go end to end through the service proxy here.
// The kube-apiserver refuses to proxy to loopback endpoints, and tests must
// not make anything connect to a non-loopback address; so the Services
// created below select no pod and have no EndpointSlice (the test cluster
// runs no controller that would make one, and the test checks there is
// none): the proxy has nowhere to connect to. What is tested is the
// discovery, the URL and the transport, and that a query through the proxy
// URL reaches the API server with the kubeconfig's credentials as a GET:
// the API server answers itself (503, no endpoints; 403 without the RBAC
// rule), and meshready reports that as a clear telemetry error.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meshready/meshready/internal/cli"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/telemetry/discover"
	"github.com/meshready/meshready/internal/testcluster"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

var ctx = context.Background()

// service is a Service that selects no pod: nothing to connect to.
func service(ns, name string, labels map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"meshready-test": "no-such-pod"}, Ports: ports},
	}
}

func port(name string, n int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: n, Protocol: corev1.ProtocolTCP}
}

func create(t *testing.T, c *testcluster.Cluster, objs ...any) {
	t.Helper()
	cs := c.Clientset()
	for _, o := range objs {
		var err error
		switch x := o.(type) {
		case *corev1.Namespace:
			_, err = cs.CoreV1().Namespaces().Create(ctx, x, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
		case *corev1.Service:
			_, err = cs.CoreV1().Services(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		default:
			t.Fatalf("create %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func namespaces(t *testing.T, c *testcluster.Cluster, names ...string) {
	for _, n := range names {
		create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
}

func names(cs []discover.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

// TestFind walks one cluster from no Prometheus to several candidates, so
// every step sees what the previous ones created.
func TestFind(t *testing.T) {
	c := testcluster.Shared(t)
	admin := discover.Options{Config: c.Config()}
	namespaces(t, c, "istio-system", "monitoring", "observability", "prometheus", "shop")

	// Nothing qualifies: a labelled Service without a Prometheus port, an
	// ExternalName, and unrelated Services.
	create(t, c,
		service("shop", "prometheus", map[string]string{"app": "prometheus"}, port("metrics", 80)),
		service("monitoring", "grafana", map[string]string{"app": "grafana"}, port("http", 3000)),
		service("shop", "cart", nil, port("http", 9090)),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "prometheus", Name: "prometheus"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "prometheus.invalid"}},
	)
	_, err := discover.Find(ctx, admin)
	var nf *discover.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("no candidate: err %v, want a NotFoundError", err)
	}
	for _, want := range []string{"istio-system, monitoring, prometheus, observability first", "app.kubernetes.io/name=prometheus", "prometheus-operated",
		"shop/prometheus: ports 80/metrics", "prometheus/prometheus: ExternalName", "pass --prometheus URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("not-found message lacks %q: %s", want, err)
		}
	}
	t.Run("cli: none found", func(t *testing.T) { cliNoneFound(t, c) })

	// Candidates in several namespaces: the preferred namespace first, then
	// by name (prometheus-operated after the others), other namespaces last.
	create(t, c,
		service("shop", "metrics-prometheus", map[string]string{"app.kubernetes.io/name": "prometheus"}, port("web", 9090)),
		service("observability", "prometheus", nil, port("", 9090)),
		service("monitoring", "prometheus-operated", nil, port("web", 9090)),
		service("monitoring", "kube-prometheus-stack-prometheus", map[string]string{"app": "kube-prometheus-stack-prometheus"}, port("reloader-web", 8080), port("http-web", 9090)),
		service("monitoring", "prometheus-server", map[string]string{"app.kubernetes.io/name": "prometheus"}, port("http", 80)),
	)
	res, err := discover.Find(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	want := "monitoring/kube-prometheus-stack-prometheus:9090 monitoring/prometheus-server:80 monitoring/prometheus-operated:9090 observability/prometheus:9090 shop/metrics-prometheus:9090"
	if got := strings.Join(names(res.Candidates), " "); got != want {
		t.Errorf("candidates\n got %s\nwant %s", got, want)
	}

	// istio-system comes first.
	create(t, c, service("istio-system", "prometheus", map[string]string{"app.kubernetes.io/name": "prometheus"}, port("http", 9090)))
	res, err = discover.Find(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if res.Service.String() != "istio-system/prometheus:9090" || res.Service.Match != "label app.kubernetes.io/name=prometheus" {
		t.Fatalf("chose %+v", res.Service)
	}
	wantURL := strings.TrimRight(c.Host(), "/") + "/api/v1/namespaces/istio-system/services/prometheus:9090/proxy"
	if res.URL != wantURL || res.Transport == nil || !strings.Contains(res.Via, "service proxy") {
		t.Errorf("URL %s via %q (transport %v), want %s", res.URL, res.Via, res.Transport != nil, wantURL)
	}
	if d := res.Describe(); !strings.Contains(d, "Service istio-system/prometheus port 9090") || !strings.Contains(d, "5 other candidate(s)") {
		t.Errorf("describe: %s", d)
	}

	// Nothing behind any of these Services: no EndpointSlice anywhere, so
	// the API server's proxy has no address to connect to.
	for _, ns := range []string{"istio-system", "monitoring", "observability", "prometheus", "shop"} {
		l, err := c.Clientset().DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 0 {
			t.Fatalf("EndpointSlices in %s: %d, %v (the test must not give the proxy an address)", ns, len(l.Items), err)
		}
	}

	// A query through the proxy URL reaches the API server, which answers
	// itself: no endpoints. meshready says so, with the fix.
	_, err = query(t, res)
	t.Logf("a query through the proxy: %v", err)
	if kind(err) != telemetry.ServerError || !strings.Contains(err.Error(), "service proxy to istio-system/prometheus") ||
		!strings.Contains(err.Error(), "no endpoints available") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("query through the proxy: %v", err)
	}
	var te *telemetry.Error
	if errors.As(err, &te) && !strings.Contains(te.Fix, "get endpointslices -l kubernetes.io/service-name=prometheus") {
		t.Errorf("fix: %s", te.Fix)
	}

	// In a pod, the Service's DNS name, reached directly.
	inPod, err := discover.Find(ctx, discover.Options{Config: c.Config(), InCluster: true})
	if err != nil {
		t.Fatal(err)
	}
	if inPod.URL != "http://prometheus.istio-system.svc:9090" || inPod.Transport != nil {
		t.Errorf("in-cluster URL %s (transport %v)", inPod.URL, inPod.Transport != nil)
	}

	t.Run("cli: found", func(t *testing.T) { cliFound(t, c, wantURL) })
	t.Run("the read-only identity of deploy/rbac.yaml", func(t *testing.T) {
		readOnlyIdentity(t, c)
	})
}

// query asks vector(1) through what Find returned, as `meshready check` does.
func query(t *testing.T, res *discover.Result) (any, error) {
	t.Helper()
	cl, err := telemetry.New(telemetry.Options{Prometheus: res.URL, PrometheusTransport: res.Transport})
	if err != nil {
		t.Fatal(err)
	}
	return cl.Instant(ctx, "vector(1)")
}

func kind(err error) telemetry.ErrorKind {
	var e *telemetry.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return "not a telemetry.Error"
}

// readOnlyIdentity: a ServiceAccount that may list Services (as deploy/
// rbac.yaml grants) finds Prometheus, but the proxy answers 403 until it
// is granted the rule the error names; with that rule (get only, since
// meshready sends GETs) the request reaches the proxy (503, no endpoints).
// One without even list rights is told the rule to list Services.
func readOnlyIdentity(t *testing.T, c *testcluster.Cluster) {
	const ns, sa = "meshready-discover", "reader"
	namespaces(t, c, ns)
	create(t, c,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nobody"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "meshready-discover-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "meshready-discover-reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "meshready-discover-reader"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: sa}}},
	)
	cfg, err := c.ConfigForServiceAccount(ctx, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	res, err := discover.Find(ctx, discover.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	_, err = query(t, res)
	var te *telemetry.Error
	if kind(err) != telemetry.Unauthorized || !errors.As(err, &te) {
		t.Fatalf("without services/proxy: %v", err)
	}
	for _, want := range []string{`resources: ["services/proxy"] resourceNames: ["prometheus:9090"] verbs: ["get"]`, "in namespace istio-system", "port-forward"} {
		if !strings.Contains(te.Fix, want) {
			t.Errorf("403 fix lacks %q: %s", want, te.Fix)
		}
	}
	if strings.Contains(err.Error(), cfg.BearerToken) {
		t.Errorf("the error prints the token")
	}

	// The rule the fix names, and nothing more.
	create(t, c,
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "meshready-prometheus-proxy"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services/proxy"}, ResourceNames: []string{"prometheus:9090"}, Verbs: []string{"get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "meshready-prometheus-proxy"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "meshready-prometheus-proxy"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: sa}}},
	)
	if _, err = query(t, res); kind(err) != telemetry.ServerError || !strings.Contains(err.Error(), "no endpoints available") {
		t.Errorf("with the rule: %v, want the proxy's 503", err)
	}

	none, err := c.ConfigForServiceAccount(ctx, ns, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	_, err = discover.Find(ctx, discover.Options{Config: none})
	if err == nil || !strings.Contains(err.Error(), `resources: ["services"] verbs: ["list"]`) || errors.As(err, new(*discover.NotFoundError)) {
		t.Errorf("no list rights: %v", err)
	}
}

// TestProxyURLKeepsTheServerPath: a kubeconfig server with a path prefix
// (e.g. Rancher's /k8s/clusters/ID) keeps it. No request is made.
func TestProxyURLKeepsTheServerPath(t *testing.T) {
	for host, want := range map[string]string{
		"https://rancher.example/k8s/clusters/c-1": "https://rancher.example/k8s/clusters/c-1/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy",
		"https://127.0.0.1:6443/":                  "https://127.0.0.1:6443/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy",
	} {
		got, err := discover.ProxyURL(&rest.Config{Host: host}, discover.Candidate{Namespace: "monitoring", Name: "prometheus-k8s", Port: 9090, PortName: "web"})
		if err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", host, got, err, want)
		}
	}
	if got := discover.ServiceURL(discover.Candidate{Namespace: "monitoring", Name: "prometheus", Port: 9443, PortName: "https"}); got != "https://prometheus.monitoring.svc:9443" {
		t.Errorf("TLS port: %s", got)
	}
}

// runCLI runs meshready in process, with the test cluster as the
// kubeconfig's (through $KUBECONFIG: `check PATH` stays a check of files,
// and only --prometheus auto reads the cluster).
func runCLI(t *testing.T, c *testcluster.Cluster, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("KUBECONFIG", c.Kubeconfig())
	var out, errb bytes.Buffer
	code := cli.Main(args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// checkTelemetry runs `meshready check examples/devmentor --prometheus
// auto --only metrics.service` and returns the report and stderr.
func checkTelemetry(t *testing.T, c *testcluster.Cluster) (*report.Report, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := runCLI(t, c, "check", "../../../examples/devmentor", "--prometheus", "auto", "--only", "metrics.service", "-o", "json="+out)
	if code != exitcode.NotReady {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Items) == 0 {
		t.Fatal("no item")
	}
	return &rep, stderr
}

func telemetryPart(it report.Item) report.PartResult {
	for _, p := range it.Parts {
		if p.Part == "telemetry" {
			return p
		}
	}
	return report.PartResult{}
}

const rollbackConfig = `apiVersion: meshready/v1
kind: Config
rollback:
  triggers:
  - name: rollback-istiod
    query: (sum(up{job="istiod"}) or vector(0))
    op: "<"
    threshold: 1
`

func rollbackCheck(t *testing.T, c *testcluster.Cluster) (int, string, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "meshready.yaml")
	if err := os.WriteFile(cfg, []byte(rollbackConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return runCLI(t, c, "rollback", "check", "--prometheus", "auto", "--config", cfg)
}

// cliNoneFound: no Prometheus in the cluster: the telemetry parts stay
// pending and say what was searched; rollback check cannot evaluate.
func cliNoneFound(t *testing.T, c *testcluster.Cluster) {
	rep, _ := checkTelemetry(t, c)
	for _, it := range rep.Items {
		p := telemetryPart(it)
		if p.Status != report.Pending || !strings.Contains(p.Message, "--prometheus auto found none") || !strings.Contains(p.Message, "looked in every namespace") {
			t.Errorf("%s: telemetry part %+v", it.ID, p)
		}
	}
	if rep.Inputs.Prometheus != "" {
		t.Errorf("inputs.prometheus %q", rep.Inputs.Prometheus)
	}
	code, _, stderr := rollbackCheck(t, c)
	if code != exitcode.Internal || !strings.Contains(stderr, "found none") {
		t.Errorf("rollback check: exit %d, %s", code, stderr)
	}
}

// cliFound: the Prometheus found is named on stderr and in the report's
// inputs; the API server's 503 (no endpoints) is a clear telemetry error.
func cliFound(t *testing.T, c *testcluster.Cluster, url string) {
	rep, stderr := checkTelemetry(t, c)
	if rep.Inputs.Prometheus != url {
		t.Errorf("inputs.prometheus %q, want %q", rep.Inputs.Prometheus, url)
	}
	if !strings.Contains(stderr, "meshready: Prometheus: Service istio-system/prometheus port 9090") {
		t.Errorf("stderr: %s", stderr)
	}
	for _, it := range rep.Items {
		p := telemetryPart(it)
		if p.Status != report.Error || !strings.Contains(p.Message+fmt.Sprint(it.Findings), "no endpoints available") {
			t.Errorf("%s: telemetry part %+v findings %+v", it.ID, p, it.Findings)
		}
	}
	code, stdout, stderr := rollbackCheck(t, c)
	if code != exitcode.Internal || !strings.Contains(stderr, "no endpoints available") || !strings.Contains(stdout, "(Prometheus "+url+")") {
		t.Errorf("rollback check: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// TestAutoWithoutKubeconfig: --prometheus auto with no cluster to search
// is a usage error that says so (no request is made).
func TestAutoWithoutKubeconfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var out, errb bytes.Buffer
	code := cli.Main([]string{"check", "../../../examples/devmentor", "--prometheus", "auto"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != exitcode.Usage || !strings.Contains(errb.String(), "--prometheus auto") || !strings.Contains(errb.String(), "no kubeconfig") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}
