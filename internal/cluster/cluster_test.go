package cluster_test

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/cluster/kubesim"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/testcluster"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

const exampleDir = "../../examples/devmentor"

//go:embed testdata/monitoring-crds.yaml
var monitoringCRDs []byte

// registryKinds is what `meshready check` lists: the union of the checks' Reads.
func registryKinds() []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range checks.All() {
		for _, k := range it.Reads {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// exampleManifests are the example's Kubernetes manifests (not its
// meshready.yaml and attestations.yaml).
func exampleManifests(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(exampleDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		switch filepath.Base(f) {
		case config.FileName, "attestations.yaml":
			continue
		}
		out = append(out, f)
	}
	return out
}

var devmentor struct {
	once  sync.Once
	err   error
	stats *kubesim.Stats
}

// devmentorCluster is the shared cluster with Istio's and the Prometheus
// Operator's CRDs, examples/devmentor applied, and what kubelets and
// controllers would add.
func devmentorCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Shared(t)
	devmentor.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		begin := time.Now()
		if devmentor.err = c.InstallIstioCRDs(ctx); devmentor.err != nil {
			return
		}
		if devmentor.err = c.ApplyYAML(ctx, monitoringCRDs); devmentor.err != nil {
			return
		}
		for _, f := range exampleManifests(t) {
			data, err := os.ReadFile(f)
			if err != nil {
				devmentor.err = err
				return
			}
			if err := c.ApplyYAML(ctx, data); err != nil {
				devmentor.err = fmt.Errorf("%s: %w", f, err)
				return
			}
		}
		devmentor.stats, devmentor.err = kubesim.Run(ctx, c.Clientset(), kubesim.Options{})
		t.Logf("devmentor applied and simulated in %v: %+v", time.Since(begin).Round(time.Millisecond), devmentor.stats)
	})
	if devmentor.err != nil {
		t.Fatalf("setting up examples/devmentor: %v", devmentor.err)
	}
	return c
}

func exampleConfig(t testing.TB) *config.Config {
	cfg, err := config.Load(filepath.Join(exampleDir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestLiveParity: the live snapshot of examples/devmentor has the objects
// and typed forms of the file snapshot, and every config part of every
// item has the same status live as from the files. It is the first test on
// the shared cluster (test files sort so), before others add objects.
func TestLiveParity(t *testing.T) {
	c := devmentorCluster(t)
	cfg := exampleConfig(t)
	fileObjs, inputErrs, err := loader.Load(exampleManifests(t), nil)
	if err != nil || len(inputErrs) > 0 {
		t.Fatalf("loading the example: %v %v", err, inputErrs)
	}
	kinds := registryKinds()
	for _, o := range fileObjs {
		kinds = append(kinds, o.Key)
	}
	ctx := context.Background()
	res, err := cluster.Load(ctx, cluster.Options{Kubeconfig: c.Kubeconfig(), Kinds: kinds, ControlPlaneNamespace: cfg.ControlPlaneNamespace, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("live load: %v", err)
	}
	logStats(t, res)
	if len(res.KindErrors) > 0 || len(res.InputErrors) > 0 || len(res.Warnings) > 0 {
		t.Errorf("kind errors %v, input errors %v, warnings %v", res.KindErrors, res.InputErrors, res.Warnings)
	}
	if res.Live.Context != "testcluster" || res.Live.ServerVersion != testcluster.KubeVersion {
		t.Errorf("live info = %+v, want context testcluster, version %s", res.Live, testcluster.KubeVersion)
	}
	live := res.Snapshot()
	for _, f := range fileObjs {
		l := live.Get(f.Key, f.Namespace, f.Name)
		if l == nil {
			t.Errorf("%s (%s): not in the live snapshot", f.ID(), f.Key)
			continue
		}
		if l.Origin.File != cluster.Origin || l.Origin.Line != 0 {
			t.Errorf("%s: origin %v", l.ID(), l.Origin)
		}
		if reflect.TypeOf(l.Typed) != reflect.TypeOf(f.Typed) {
			t.Errorf("%s: live typed %T, file typed %T", f.ID(), l.Typed, f.Typed)
		}
		for k, v := range f.Labels {
			if l.Labels[k] != v {
				t.Errorf("%s: label %s = %q live, %q in the file", f.ID(), k, l.Labels[k], v)
			}
		}
		switch ft := f.Typed.(type) {
		case *corev1.ConfigMap:
			// Every ConfigMap of the example is one whose data a check reads.
			lt := l.Typed.(*corev1.ConfigMap)
			if !reflect.DeepEqual(lt.Data, ft.Data) {
				t.Errorf("%s: live data keys %v, file data keys %v", f.ID(), keys(lt.Data), keys(ft.Data))
			}
		case *corev1.Secret:
			lt := l.Typed.(*corev1.Secret)
			if lt.Type != ft.Type || len(lt.Data) > 0 || len(lt.StringData) > 0 {
				t.Errorf("%s: live secret type %q with %d data keys; want type %q and no data", f.ID(), lt.Type, len(lt.Data), ft.Type)
			}
		}
	}

	// Config parts: the same status live as from files.
	fileSnap := snapshot.New(fileObjs)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	opts := engine.Options{Config: cfg, Items: checks.All(), Now: now, Version: "test"}
	fromFiles := engine.Run(fileSnap, opts)
	fromLive := engine.Run(live, opts)
	liveItems := map[string]report.Item{}
	for _, it := range fromLive.Items {
		liveItems[it.ID] = it
	}
	compared := 0
	for _, fi := range fromFiles.Items {
		li, ok := liveItems[fi.ID]
		if !ok {
			t.Errorf("%s: evaluated from files, not live", fi.ID)
			continue
		}
		fs, ls := partStatus(fi, check.Config), partStatus(li, check.Config)
		if fs == "" {
			continue
		}
		compared++
		if fs != ls {
			t.Errorf("%s config part: %s from files, %s live\n  files: %s\n  live:  %s", fi.ID, fs, ls, findings(fi), findings(li))
		}
	}
	if compared < 50 {
		t.Errorf("only %d config parts compared", compared)
	}
	t.Logf("%d config parts compared; live verdict %s (%d pass, %d fail, %d error, %d pending)",
		compared, fromLive.Verdict, fromLive.Summary.Pass, fromLive.Summary.Fail, fromLive.Summary.Error, fromLive.Summary.Pending)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func partStatus(it report.Item, p check.Part) report.Status {
	for _, pr := range it.Parts {
		if pr.Part == string(p) {
			return pr.Status
		}
	}
	return ""
}

func findings(it report.Item) string {
	var out []string
	for _, f := range it.Findings {
		if f.Part == string(check.Config) && f.Status != report.Pass {
			out = append(out, fmt.Sprintf("[%s] %s", f.Status, f.Message))
		}
	}
	return strings.Join(out, "; ")
}

func logStats(t testing.TB, res *cluster.Result) {
	t.Helper()
	var parts []string
	for _, k := range res.Stats.Kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k.Key, k.Objects))
	}
	t.Logf("live load: %d objects, %d requests in %v (%s)", res.Stats.Objects, res.Stats.Requests, res.Stats.Duration.Round(time.Millisecond), strings.Join(parts, " "))
}

// rbacManifest is deploy/rbac.yaml.
func rbacManifest(t testing.TB) []byte {
	data, err := os.ReadFile("../../deploy/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestLiveServiceAccount: the ServiceAccount of deploy/rbac.yaml, with a
// token from the TokenRequest API, reads everything meshready lists.
func TestLiveServiceAccount(t *testing.T) {
	c := devmentorCluster(t)
	ctx := context.Background()
	if err := c.ApplyYAML(ctx, rbacManifest(t)); err != nil {
		t.Fatal(err)
	}
	sa, err := c.ConfigForServiceAccount(ctx, "meshready", "meshready")
	if err != nil {
		t.Fatal(err)
	}
	kinds := registryKinds()
	res, err := cluster.Load(ctx, cluster.Options{Config: sa, ContextName: "meshready-sa", Kinds: kinds})
	if err != nil {
		t.Fatalf("load as the meshready ServiceAccount: %v", err)
	}
	logStats(t, res)
	if len(res.KindErrors) > 0 {
		t.Errorf("the ServiceAccount of deploy/rbac.yaml lacks rights: %v", res.KindErrors)
	}
	admin, err := cluster.Load(ctx, cluster.Options{Config: c.Config(), Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Stats.Objects, admin.Stats.Objects; got != want {
		t.Errorf("the ServiceAccount read %d objects, the admin %d", got, want)
	}
	// ConfigMap data is read with the ServiceAccount's get right.
	if cm := res.Snapshot().Get(snapshot.ConfigMap, "istio-system", "istio"); cm == nil || cm.Typed.(*corev1.ConfigMap).Data["mesh"] == "" {
		t.Errorf("the mesh config's data was not read as the ServiceAccount")
	}
}

// TestLiveFewerRights: a ServiceAccount without Secrets and ConfigMaps gets
// KindErrors naming the rule to add, and the items reading them error.
func TestLiveFewerRights(t *testing.T) {
	c := devmentorCluster(t)
	ctx := context.Background()
	ns := c.NewNamespace(t)
	var rules []rbacv1.PolicyRule
	for _, r := range cluster.RBACRules(registryKinds()) {
		var res []string
		for _, name := range r.Resources {
			if name != "secrets" && name != "configmaps" {
				res = append(res, name)
			}
		}
		if len(res) > 0 {
			r.Resources = res
			rules = append(rules, r)
		}
	}
	name := ns + "-reader"
	objs := []runtime.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "limited", Namespace: ns}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "limited", Namespace: ns}},
		},
	}
	if err := c.Apply(ctx, objs...); err != nil {
		t.Fatal(err)
	}
	sa, err := c.ConfigForServiceAccount(ctx, ns, "limited")
	if err != nil {
		t.Fatal(err)
	}
	res, err := cluster.Load(ctx, cluster.Options{Config: sa, ContextName: "limited", Kinds: registryKinds()})
	if err != nil {
		t.Fatalf("a 403 must not end the load: %v", err)
	}
	if len(res.KindErrors) != 2 {
		t.Errorf("kind errors: %v, want Secret and ConfigMap", res.KindErrors)
	}
	for key, want := range map[string]string{
		snapshot.Secret:    "- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"list\"]",
		snapshot.ConfigMap: "- apiGroups: [\"\"]\n  resources: [\"configmaps\"]\n  verbs: [\"get\", \"list\"]",
	} {
		ke, ok := res.KindErrors[key]
		if !ok {
			continue
		}
		if !strings.Contains(ke.Remediation, want) || !strings.Contains(ke.Remediation, "system:serviceaccount:"+ns+":limited") {
			t.Errorf("%s remediation does not name the rule and the account:\n%s\n(message: %s)", key, ke.Remediation, ke.Message)
		}
		if !strings.Contains(ke.Message, "forbidden") {
			t.Errorf("%s message: %s", key, ke.Message)
		}
	}
	// The run goes on: the item reading Secrets reports an error finding
	// with the rule; the items that need neither evaluate.
	rep := engine.Run(res.Snapshot(), engine.Options{Config: exampleConfig(t), Items: checks.All(), Version: "test"})
	var errored, evaluated int
	for _, it := range rep.Items {
		named := false
		for _, f := range it.Findings {
			if f.Status == report.Error && strings.Contains(f.Remediation, `resources: ["secrets"]`) {
				named = true
			}
		}
		switch st := partStatus(it, check.Config); {
		case named:
			errored++
		case st == report.Pass || st == report.Fail || st == report.Warn:
			evaluated++
		}
	}
	if errored == 0 || evaluated < 20 {
		t.Errorf("%d items errored naming the secrets rule, %d evaluated", errored, evaluated)
	}
}

// TestLiveFaults: a cluster without Istio's CRDs gives one clear error per
// Istio kind and one warning; a stopped API server ends the load within
// the timeout.
func TestLiveFaults(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	res, err := cluster.Load(ctx, cluster.Options{Kubeconfig: c.Kubeconfig(), Kinds: registryKinds()})
	if err != nil {
		t.Fatal(err)
	}
	var istio []string
	msgs := map[string]bool{}
	for k, e := range res.KindErrors {
		if !strings.Contains(k, ".istio.io") {
			t.Errorf("unexpected kind error on %s: %v", k, e)
			continue
		}
		istio = append(istio, k)
		msgs[e.Message] = true
	}
	if len(istio) < 8 || len(msgs) != 1 || len(res.Warnings) != 1 {
		t.Errorf("Istio kinds in error %v, distinct messages %v, warnings %v", istio, msgs, res.Warnings)
	}
	t.Logf("warning: %s", res.Warnings)
	if len(res.Absent) == 0 {
		t.Errorf("absent CRDs (Gateway API, Prometheus Operator) not reported as absent")
	}

	// Stop removes the cluster's directory, kubeconfig included.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	data, err := os.ReadFile(c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	begin := time.Now()
	_, err = cluster.Load(ctx, cluster.Options{Kubeconfig: kubeconfig, Kinds: registryKinds(), Timeout: 5 * time.Second})
	took := time.Since(begin)
	if err == nil || took > 6*time.Second {
		t.Fatalf("stopped server: err %v after %v", err, took)
	}
	t.Logf("stopped server: %v after %v", err, took.Round(time.Millisecond))
}
