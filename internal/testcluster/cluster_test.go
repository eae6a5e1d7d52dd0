package testcluster_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshready/meshready/internal/testcluster"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

var vsGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

func TestCluster(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	v, err := c.Clientset().Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.GitVersion != testcluster.KubeVersion {
		t.Errorf("server version = %q, want %q", v.GitVersion, testcluster.KubeVersion)
	}

	// The kubeconfig file works as the admin.
	if kcfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig()); err != nil {
		t.Errorf("load kubeconfig: %v", err)
	} else if _, err := kubernetes.NewForConfigOrDie(kcfg).CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("list secrets with kubeconfig: %v", err)
	}

	begin := time.Now()
	if err := c.InstallIstioCRDs(ctx); err != nil {
		t.Fatalf("install Istio CRDs: %v", err)
	}
	t.Logf("Istio CRDs installed and established in %v", time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	// Installing again is a no-op apply.
	if err := c.InstallIstioCRDs(ctx); err != nil {
		t.Fatalf("re-install Istio CRDs: %v", err)
	}
	t.Logf("Istio CRDs re-applied in %v", time.Since(begin).Round(time.Millisecond))
	begin = time.Now()

	ns := c.NewNamespace(t)
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "VirtualService",
		"metadata":   map[string]any{"name": "reviews", "namespace": ns},
		"spec": map[string]any{
			"hosts": []any{"reviews"},
			"http": []any{map[string]any{
				"route": []any{map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v1"}}},
			}},
		},
	}}
	if _, err := c.Dynamic().Resource(vsGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create VirtualService: %v", err)
	}
	list, err := c.Dynamic().Resource(vsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list VirtualServices: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].GetName() != "reviews" {
		t.Fatalf("listed %d VirtualServices, want [reviews]: %+v", len(list.Items), list.Items)
	}
	t.Logf("VirtualService created and listed in %v", time.Since(begin).Round(time.Millisecond))
	hosts, _, _ := unstructured.NestedStringSlice(list.Items[0].Object, "spec", "hosts")
	if len(hosts) != 1 || hosts[0] != "reviews" {
		t.Errorf("spec.hosts = %v, want [reviews]", hosts)
	}

	// Schema validation from the CRD is enforced.
	bad := vs.DeepCopy()
	bad.SetName("bad")
	_ = unstructured.SetNestedField(bad.Object, "not-a-list", "spec", "hosts")
	if _, err := c.Dynamic().Resource(vsGVR).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("create invalid VirtualService: err = %v, want Invalid", err)
	}
}

func TestApplyAndServiceAccountToken(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := c.NewNamespace(t)
	other := c.NewNamespace(t)

	// Typed objects without TypeMeta, and YAML.
	err := c.Apply(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: ns}},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "read-config", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"},
			}},
		},
	)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	err = c.ApplyYAML(ctx, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader-read-config
  namespace: `+ns+`
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-config}
subjects: [{kind: ServiceAccount, name: reader, namespace: `+ns+`}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: `+ns+`}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: `+other+`}
data: {a: "1"}
`))
	if err != nil {
		t.Fatalf("apply YAML: %v", err)
	}

	cfg, err := c.ConfigForServiceAccount(ctx, ns, "reader")
	if err != nil {
		t.Fatal(err)
	}
	restricted := kubernetes.NewForConfigOrDie(cfg)
	cms, err := restricted.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list configmaps as reader in own namespace: %v", err)
	}
	if len(cms.Items) == 0 {
		t.Errorf("reader sees no configmaps in %s", ns)
	}
	if _, err := restricted.CoreV1().ConfigMaps(other).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list configmaps in %s as reader: err = %v, want Forbidden", other, err)
	}
	if _, err := restricted.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets as reader: err = %v, want Forbidden", err)
	}
	review, err := restricted.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil {
		want := "system:serviceaccount:" + ns + ":reader"
		if got := review.Status.UserInfo.Username; got != want {
			t.Errorf("whoami = %q, want %q", got, want)
		}
	} else {
		t.Errorf("SelfSubjectReview: %v", err)
	}

	// A bad token is rejected.
	bad := kubernetes.NewForConfigOrDie(c.ConfigForToken("not-a-token"))
	if _, err := bad.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("list with bad token: err = %v, want Unauthorized", err)
	}

	// Dynamic client as the restricted account works the same way.
	dyn := dynamic.NewForConfigOrDie(cfg)
	if _, err := dyn.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(ns).Get(ctx, "settings", metav1.GetOptions{}); err != nil {
		t.Errorf("dynamic get as reader: %v", err)
	}
}

// The binary versions here must be the ones tools/testcluster builds.
func TestVersionsMatchToolsModules(t *testing.T) {
	for _, tc := range []struct{ gomod, module, want string }{
		{"../../tools/testcluster/go.mod", "k8s.io/kubernetes", testcluster.KubeVersion},
		{"../../tools/testcluster/etcd/go.mod", "go.etcd.io/etcd/server/v3", testcluster.EtcdVersion},
	} {
		data, err := os.ReadFile(tc.gomod)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(tc.module) + `\s+(v\S+)`).FindSubmatch(data)
		if m == nil {
			t.Errorf("%s: no requirement on %s", tc.gomod, tc.module)
			continue
		}
		if string(m[1]) != tc.want {
			t.Errorf("%s requires %s %s, testcluster expects %s", tc.gomod, tc.module, m[1], tc.want)
		}
	}
}

// testdata/istio-crds.yaml must stay a copy of the istio.io/api module's CRDs.
func TestIstioCRDsMatchModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("istio.io/api module not available: %v", err)
	}
	want, err := os.ReadFile(filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(testcluster.IstioCRDs), string(want)) {
		t.Errorf("testdata/istio-crds.yaml differs from %s/kubernetes/customresourcedefinitions.gen.yaml; refresh it (see its header)", dir)
	}
}

// Start gives a test its own cluster; Stop removes every trace of it.
func TestStartStop(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	if _, err := c.Clientset().CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
		t.Fatalf("get kube-system: %v", err)
	}
	if c.Host() == testcluster.Shared(t).Host() {
		t.Errorf("Start returned the shared cluster")
	}
	c.Stop()
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still there after Stop: %v", c.Dir(), err)
	}
	cfg := c.Config()
	cfg.Timeout = 2 * time.Second
	if _, err := kubernetes.NewForConfigOrDie(cfg).Discovery().ServerVersion(); err == nil {
		t.Errorf("API server still answers after Stop")
	}
	c.Stop() // idempotent; t.Cleanup calls it again too
}
