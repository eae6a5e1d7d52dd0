package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/testcluster"
)

// envCLIArgs makes the test binary run meshready itself (JSON array of
// arguments): the concurrent-writer test starts real separate processes.
const envCLIArgs = "MESHREADY_CLI_TEST_ARGS"

func init() {
	if s := os.Getenv(envCLIArgs); s != "" {
		var args []string
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(Main(args, StdIO()))
	}
}

// TestConfigMapStore runs `meshready attest|signoff|waive|check --store
// configmap` against a real kube-apiserver (one for all the subtests: it
// takes seconds to start, and this package has no TestMain).
func TestConfigMapStore(t *testing.T) {
	c := testcluster.Start(t)
	t.Run("RoundTrip", func(t *testing.T) { testConfigMapRoundTrip(t, c) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConfigMapConcurrentWriters(t, c) })
	t.Run("Corrupt", func(t *testing.T) { testConfigMapCorrupt(t, c) })
	t.Run("Restricted", func(t *testing.T) { testConfigMapRestricted(t, c) })
	t.Run("MissingOnCheck", func(t *testing.T) { testConfigMapMissingOnCheck(t, c) })
	t.Run("LiveCheck", func(t *testing.T) { testConfigMapLiveCheck(t, c) })
	t.Run("ChosenByConfig", func(t *testing.T) { testConfigMapChosenByConfig(t, c) })
}

// meshready.yaml's attestationStore chooses the ConfigMap (its namespace
// and name too) when no --store flag is given; --store file overrides it.
func testConfigMapChosenByConfig(t *testing.T, c *testcluster.Cluster) {
	ns := c.NewNamespace(t)
	dir, cfg := cmMesh(t, "STRICT", ns)
	if err := os.WriteFile(cfg, []byte("apiVersion: meshready/v1\nkind: Config\ncontrolPlaneNamespace: istio-system\n"+
		"attestationStore: {kind: configmap, namespace: "+ns+", name: team-records}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kc := c.Kubeconfig()
	t.Setenv("KUBECONFIG", kc)
	code, out, errOut := runCLI(t, "", "attest", "team.trained", "--by", "Dana Ops", "--evidence", "https://wiki/training", "--config", cfg)
	if code != exitcode.Ready || !strings.Contains(out, "ConfigMap "+ns+"/team-records") {
		t.Fatalf("attest with attestationStore in the config: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := c.Clientset().CoreV1().ConfigMaps(ns).Get(context.Background(), "team-records", metav1.GetOptions{}); err != nil {
		t.Fatalf("the config's ConfigMap was not written: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "attestations.yaml")); !os.IsNotExist(err) {
		t.Fatalf("the file store was written too: %v", err)
	}
	_, out, errOut = runCLI(t, "", "check", dir, "--config", cfg, "--only", "team.trained", "-o", "json")
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || itemOf(&r, "team.trained").Status != report.Pass {
		t.Fatalf("check without --store did not read the config's ConfigMap: %v %+v\n%s", err, itemOf(&r, "team.trained"), errOut)
	}
	_, out, _ = runCLI(t, "", "check", dir, "--config", cfg, "--only", "team.trained", "-o", "json", "--store", "file")
	r = report.Report{}
	if err := json.Unmarshal([]byte(out), &r); err != nil || itemOf(&r, "team.trained").Status != report.Pending {
		t.Fatalf("--store file did not override the config: %v %+v", err, itemOf(&r, "team.trained"))
	}
	bad := filepath.Join(t.TempDir(), "meshready.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: meshready/v1\nkind: Config\nattestationStore: {kind: vault}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "", "attest", "team.trained", "--by", "x", "--evidence", "y", "--config", bad); code != exitcode.Usage || !strings.Contains(errOut, "attestationStore.kind") {
		t.Fatalf("bad attestationStore.kind: exit %d: %s", code, errOut)
	}
}

// cmMesh is mini() with ns as the control-plane namespace: the config
// names it (the ConfigMap store then defaults to it) and the mesh-wide
// PeerAuthentication is there.
func cmMesh(t *testing.T, mtls, ns string) (dir, cfg string) {
	dir = mini(t, mtls)
	cfg = filepath.Join(dir, "meshready.yaml")
	mesh := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(mesh, bytes.ReplaceAll(mustRead(t, mesh), []byte("istio-system"), []byte(ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("apiVersion: meshready/v1\nkind: Config\ncontrolPlaneNamespace: "+ns+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// checkCM runs check over the files of dir with the store in the
// ConfigMap of the cluster of $KUBECONFIG (files stay offline: no
// --kubeconfig).
func checkCM(t *testing.T, kubeconfig, dir string, extra ...string) (int, *report.Report, string) {
	t.Helper()
	t.Setenv("KUBECONFIG", kubeconfig)
	args := append([]string{"check", dir, "--store", "configmap", "-o", "json"}, extra...)
	code, out, errOut := runCLI(t, "", args...)
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("check %v: exit %d, no JSON report: %v\n%s", args, code, err, errOut)
	}
	return code, &r, errOut
}

func getStoreCM(t *testing.T, c *testcluster.Cluster, ns string) (*corev1.ConfigMap, error) {
	t.Helper()
	return c.Clientset().CoreV1().ConfigMaps(ns).Get(context.Background(), attest.DefaultConfigMapName, metav1.GetOptions{})
}

func testConfigMapRoundTrip(t *testing.T, c *testcluster.Cluster) {
	ns := c.NewNamespace(t)
	dir, cfg := cmMesh(t, "PERMISSIVE", ns)
	kc := c.Kubeconfig()
	store := []string{"--store", "configmap", "--config", cfg, "--kubeconfig", kc}

	code, out, errOut := runCLI(t, "", append([]string{"attest", "team.trained", "--by", "Dana Ops", "--evidence", "https://wiki/training"}, store...)...)
	if code != exitcode.Ready || !strings.Contains(out, "(in ConfigMap "+ns+"/meshready-attestations)") {
		t.Fatalf("attest: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", append([]string{"waive", "security.mtls", "--object", "PeerAuthentication/" + ns + "/*", "--reason", "migration JIRA-1", "--expires", "7d", "--by", "Sam"}, store...)...)
	if code != exitcode.Ready {
		t.Fatalf("waive: exit %d\n%s%s", code, out, errOut)
	}
	cm, err := getStoreCM(t, c, ns)
	if err != nil {
		t.Fatal(err)
	}
	data := cm.Data[attest.ConfigMapKey]
	if !strings.HasPrefix(data, "# meshready attestations") || !strings.Contains(data, "by: Dana Ops") || !strings.Contains(data, "reason: migration JIRA-1") {
		t.Fatalf("ConfigMap data:\n%s", data)
	}

	_, rep, errOut := checkCM(t, kc, dir, "--config", cfg, "--only", "team.trained,security.mtls")
	it := itemOf(rep, "team.trained")
	if it.Status != report.Pass || len(it.Attestations) != 1 || it.Attestations[0].By != "Dana Ops" || it.Attestations[0].Evidence != "https://wiki/training" {
		t.Fatalf("check --store configmap: team.trained %+v\n%s", it, errOut)
	}
	if len(rep.Waivers) != 1 || rep.Waivers[0].Reason != "migration JIRA-1" {
		t.Fatalf("waiver from the ConfigMap not applied: %+v", rep.Waivers)
	}
	// Without --store configmap, the same check does not see the records.
	t.Setenv("KUBECONFIG", kc)
	_, out, _ = runCLI(t, "", "check", dir, "--config", cfg, "--only", "team.trained", "-o", "json")
	var fileRep report.Report
	if err := json.Unmarshal([]byte(out), &fileRep); err != nil || itemOf(&fileRep, "team.trained").Status != report.Pending {
		t.Fatalf("file store saw the ConfigMap's records: %v %+v", err, itemOf(&fileRep, "team.trained"))
	}

	// A sign-off bound to the report's digest, recorded in the ConfigMap.
	only := []string{"--config", cfg, "--only", "team.trained,signoff.security"}
	repPath := filepath.Join(dir, "report.json")
	_, rep, _ = checkCM(t, kc, dir, append(only, "-o", "json="+repPath)...)
	code, out, errOut = runCLI(t, "", append([]string{"signoff", "security", "--by", "Sam Sec", "--report", repPath}, store...)...)
	if code != exitcode.Ready || !strings.Contains(out, "in ConfigMap "+ns+"/meshready-attestations") {
		t.Fatalf("signoff: exit %d\n%s%s", code, out, errOut)
	}
	_, rep2, _ := checkCM(t, kc, dir, only...)
	if so := itemOf(rep2, "signoff.security"); so.Status != report.Pass || so.Attestations[0].Digest != rep.Digest {
		t.Fatalf("sign-off from the ConfigMap: %+v", so)
	}
}

// Separate meshready processes and goroutines add a record each to the
// same ConfigMap at once: every record is there afterwards.
func testConfigMapConcurrentWriters(t *testing.T, c *testcluster.Cluster) {
	ns := c.NewNamespace(t)
	kc := c.Kubeconfig()
	const procs, routines = 6, 6
	args := func(i int) []string {
		return []string{"attest", "team.trained", "--by", fmt.Sprintf("writer-%02d", i), "--evidence", "https://e",
			"--store", "configmap", "--store-namespace", ns, "--kubeconfig", kc}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, procs+routines)
	stderr := make([]bytes.Buffer, procs+routines)
	for i := range procs {
		a, _ := json.Marshal(args(i))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envCLIArgs+"="+string(a))
		cmd.Stderr = &stderr[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = cmd.Run()
		}()
	}
	for i := procs; i < procs+routines; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if code := Main(args(i), IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &stderr[i]}); code != 0 {
				errs[i] = fmt.Errorf("exit %d", code)
			}
		}()
	}
	close(start)
	wg.Wait()
	retried := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v\n%s", i, err, stderr[i].String())
		}
		if strings.Contains(stderr[i].String(), "re-read and written again, nothing lost") {
			retried++
		}
	}
	cm, err := getStoreCM(t, c, ns)
	if err != nil {
		t.Fatal(err)
	}
	f, err := attest.ParseFile("cm", []byte(cm.Data[attest.ConfigMapKey]))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range f.Attestations {
		seen[r.By] = true
	}
	if len(f.Attestations) != procs+routines || len(seen) != procs+routines {
		t.Fatalf("%d records from %d writers, want %d", len(f.Attestations), len(seen), procs+routines)
	}
	t.Logf("%d processes + %d goroutines: %d writers retried after a conflict", procs, routines, retried)
}

// A corrupt ConfigMap: attest refuses with the line and leaves it as it
// is; check says error on the manual items with the line and goes on.
func testConfigMapCorrupt(t *testing.T, c *testcluster.Cluster) {
	ctx := context.Background()
	ns := c.NewNamespace(t)
	dir, cfg := cmMesh(t, "STRICT", ns)
	bad := "attestations:\n- item: team.trained\n  by: dana\n   note: misindented\n"
	created, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: attest.DefaultConfigMapName, Namespace: ns}, Data: map[string]string{attest.ConfigMapKey: bad},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "", "attest", "team.trained", "--by", "x", "--evidence", "e", "--store", "configmap", "--config", cfg, "--kubeconfig", c.Kubeconfig())
	where := "ConfigMap " + ns + "/meshready-attestations, key attestations.yaml: yaml: line 4"
	if code != exitcode.Usage || !strings.Contains(errOut, where) || !strings.Contains(errOut, "the ConfigMap was not changed") {
		t.Fatalf("attest on a corrupt ConfigMap: exit %d\n%s", code, errOut)
	}
	if after, _ := getStoreCM(t, c, ns); after.ResourceVersion != created.ResourceVersion || after.Data[attest.ConfigMapKey] != bad {
		t.Fatal("the corrupt ConfigMap was overwritten")
	}
	code, rep, errOut := checkCM(t, c.Kubeconfig(), dir, "--config", cfg, "--only", "team.trained,security.mtls,signoff.platform")
	if code != exitcode.NotReady || !strings.Contains(errOut, "warning: attestations: "+where) {
		t.Fatalf("check: exit %d, stderr:\n%s", code, errOut)
	}
	for _, id := range []string{"team.trained", "signoff.platform"} {
		it := itemOf(rep, id)
		if it.Status != report.Error || !strings.Contains(it.Findings[0].Message, where) || !strings.Contains(it.Findings[0].Remediation, "kubectl -n "+ns+" edit configmap meshready-attestations") {
			t.Errorf("%s: %s %+v", id, it.Status, it.Findings)
		}
	}
	if it := itemOf(rep, "security.mtls"); it.Status != report.Pass {
		t.Errorf("the rest of the run did not go on: security.mtls %s", it.Status)
	}
}

// tokenKubeconfig writes a kubeconfig acting as a ServiceAccount.
func tokenKubeconfig(t *testing.T, c *testcluster.Cluster, ns, sa string) (path, token string) {
	t.Helper()
	token, err := c.TokenFor(context.Background(), ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), sa+".kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"+
		"users:\n- name: %s\n  user:\n    token: %s\ncontexts:\n- name: %s\n  context: {cluster: test, user: %s}\ncurrent-context: %s\n",
		c.Host(), base64.StdEncoding.EncodeToString(c.CAData()), sa, token, sa, sa, sa)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, token
}

// A ServiceAccount that may only read: check works (it only GETs),
// attest is refused with the rule to grant. Once granted, attest without
// --by records the Kubernetes user. Nobody at all: check says error on the
// manual items with the get rule, and goes on.
func testConfigMapRestricted(t *testing.T, c *testcluster.Cluster) {
	ctx := context.Background()
	ns := c.NewNamespace(t)
	dir, cfg := cmMesh(t, "STRICT", ns)
	role := func(name string, rules ...rbacv1.PolicyRule) []runtime.Object {
		return []runtime.Object{
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules},
			&rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
			},
		}
	}
	get := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{attest.DefaultConfigMapName}, Verbs: []string{"get"}}
	write := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{attest.DefaultConfigMapName}, Verbs: []string{"get", "update"}}
	create := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}}
	objs := append(role("reader", get), role("writer", write, create)...)
	objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: ns}})
	if err := c.Apply(ctx, objs...); err != nil {
		t.Fatal(err)
	}
	// RBAC reaches the authorizer through an informer: wait for both Roles.
	for sa, attrs := range map[string]authorizationv1.ResourceAttributes{
		"reader": {Namespace: ns, Verb: "get", Resource: "configmaps", Name: attest.DefaultConfigMapName},
		"writer": {Namespace: ns, Verb: "create", Resource: "configmaps"},
	} {
		if err := c.WaitAllowed(ctx, "system:serviceaccount:"+ns+":"+sa, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}, attrs); err != nil {
			t.Fatal(err)
		}
	}
	noGitUser(t)

	reader, readerToken := tokenKubeconfig(t, c, ns, "reader")
	code, out, errOut := runCLI(t, "", "attest", "team.trained", "--by", "x", "--evidence", "e", "--store", "configmap", "--config", cfg, "--kubeconfig", reader)
	wantRule := "resources: [\"configmaps\"]\n    resourceNames: [\"meshready-attestations\"]\n    verbs: [\"get\", \"update\"]\n  - apiGroups: [\"\"]\n    resources: [\"configmaps\"]\n    verbs: [\"create\"]"
	if code != exitcode.Usage || !strings.Contains(errOut, `"system:serviceaccount:`+ns+`:reader" cannot create resource "configmaps"`) ||
		!strings.Contains(errOut, "grant the writer these rules in a Role in namespace "+ns) || !strings.Contains(errOut, wantRule) {
		t.Fatalf("attest as a reader: exit %d\n%s", code, errOut)
	}
	if strings.Contains(out+errOut, readerToken) {
		t.Fatal("the token was printed")
	}
	if _, err := getStoreCM(t, c, ns); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused attest left a ConfigMap: %v", err)
	}

	writer, _ := tokenKubeconfig(t, c, ns, "writer")
	code, out, errOut = runCLI(t, "", "attest", "team.trained", "--evidence", "https://e", "--store", "configmap", "--config", cfg, "--kubeconfig", writer)
	who := "system:serviceaccount:" + ns + ":writer"
	if code != exitcode.Ready || !strings.Contains(out, "attested by "+who) {
		t.Fatalf("attest as the writer, no --by and no git user: exit %d\n%s%s", code, out, errOut)
	}

	_, rep, errOut := checkCM(t, reader, dir, "--config", cfg, "--only", "team.trained")
	if it := itemOf(rep, "team.trained"); it.Status != report.Pass || it.Attestations[0].By != who {
		t.Fatalf("check as the reader: %+v\n%s", it, errOut)
	}

	nobody, _ := tokenKubeconfig(t, c, ns, "nobody")
	code, rep, errOut = checkCM(t, nobody, dir, "--config", cfg, "--only", "team.trained,security.mtls")
	it := itemOf(rep, "team.trained")
	if code != exitcode.NotReady || it.Status != report.Error || !strings.Contains(it.Findings[0].Message, "forbidden") ||
		!strings.Contains(it.Findings[0].Remediation, "resourceNames: [\"meshready-attestations\"]\n    verbs: [\"get\"]") ||
		itemOf(rep, "security.mtls").Status != report.Pass {
		t.Fatalf("check as nobody: exit %d %+v\n%s", code, it, errOut)
	}
}

// noGitUser makes git find no user.name, so identity falls back to the
// cluster.
func noGitUser(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	t.Chdir(dir)
}

// No ConfigMap yet: check sees an empty store (pending, not error) and,
// being read-only, creates nothing.
func testConfigMapMissingOnCheck(t *testing.T, c *testcluster.Cluster) {
	ns := c.NewNamespace(t)
	dir, cfg := cmMesh(t, "STRICT", ns)
	code, rep, errOut := checkCM(t, c.Kubeconfig(), dir, "--config", cfg, "--only", "team.trained")
	if it := itemOf(rep, "team.trained"); code != exitcode.NotReady || it.Status != report.Pending || errOut != "" {
		t.Fatalf("missing ConfigMap: exit %d %+v\n%s", code, it, errOut)
	}
	if _, err := getStoreCM(t, c, ns); !apierrors.IsNotFound(err) {
		t.Fatalf("check wrote the store: %v", err)
	}
	for _, bad := range [][]string{
		{"check", dir, "--store", "etcd"},
		{"check", dir, "--store-namespace", ns},
		{"attest", "team.trained", "--by", "x", "--evidence", "e", "--store", "configmap", "--file", "a.yaml"},
	} {
		if code, _, errOut := runCLI(t, "", bad...); code != exitcode.Usage || errOut == "" {
			t.Errorf("%v: exit %d %s", bad, code, errOut)
		}
	}
}

// Live mode (no paths): the cluster is evaluated and its ConfigMap store
// read, through the same --kubeconfig.
func testConfigMapLiveCheck(t *testing.T, c *testcluster.Cluster) {
	ns := c.NewNamespace(t)
	_, cfg := cmMesh(t, "STRICT", ns)
	now := time.Now().UTC()
	if code, _, errOut := runCLI(t, "", "attest", "team.procedures", "--by", "Ops", "--evidence", "https://runbooks", "--store", "configmap", "--config", cfg, "--kubeconfig", c.Kubeconfig()); code != 0 {
		t.Fatalf("attest: %s", errOut)
	}
	code, out, errOut := runCLI(t, "", "check", "--kubeconfig", c.Kubeconfig(), "--config", cfg, "--store", "configmap", "--only", "team.procedures", "-o", "json")
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("live check: exit %d: %v\n%s", code, err, errOut)
	}
	it := itemOf(&rep, "team.procedures")
	if len(it.Attestations) != 1 || it.Attestations[0].By != "Ops" || rep.Inputs.Cluster == "" {
		t.Fatalf("live check: %+v (inputs %+v)\n%s", it, rep.Inputs, errOut)
	}
	if at, _ := time.Parse(time.RFC3339, it.Attestations[0].At); at.Before(now.Add(-time.Minute)) {
		t.Errorf("attestation time %s", it.Attestations[0].At)
	}
}
