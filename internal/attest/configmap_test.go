package attest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/testcluster"
)

// Every ConfigMap test runs against a real kube-apiserver (with RBAC), so
// that conflicts, 403s and sizes are the server's, not a fake's.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// as is the admin config impersonating a user in groups (subject to RBAC).
func as(c *testcluster.Cluster, user string, groups ...string) *rest.Config {
	cfg := c.Config()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

func addRecord(by string) func(*attest.File) error {
	return func(f *attest.File) error {
		f.Attestations = append(f.Attestations, attest.Record{Item: "team.trained", By: by, At: t0, Evidence: "https://wiki/" + by})
		return nil
	}
}

func getCM(t *testing.T, c *testcluster.Cluster, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := c.Clientset().CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func bys(f *attest.File) map[string]bool {
	m := map[string]bool{}
	for _, r := range f.Attestations {
		m[r.By] = true
	}
	return m
}

// The ConfigMap holds, under one key, exactly the bytes the file store
// writes for the same records.
func TestConfigMapRoundTripMatchesFile(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns}
	file := attest.FileStore{Path: filepath.Join(t.TempDir(), "attestations.yaml")}
	for _, s := range []attest.Store{st, file} {
		for _, by := range []string{"dana", "sam"} {
			if err := s.Update(ctx, addRecord(by)); err != nil {
				t.Fatalf("%s: %v", s.Describe(), err)
			}
		}
		if err := s.Update(ctx, func(f *attest.File) error {
			f.Waivers = append(f.Waivers, attest.Waiver{Item: "security.mtls", Object: "PeerAuthentication/legacy/*", Reason: "migration", By: "sam", At: t0, Expires: t0.AddDate(0, 1, 0)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	cm := getCM(t, c, ns, attest.DefaultConfigMapName)
	want, err := os.ReadFile(file.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data[attest.ConfigMapKey]; got != string(want) {
		t.Fatalf("ConfigMap data differs from the file:\n--- ConfigMap\n%s\n--- file\n%s", got, want)
	}
	if cm.Labels["app.kubernetes.io/managed-by"] != "meshready" {
		t.Errorf("labels: %v", cm.Labels)
	}
	f, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Attestations) != 2 || len(f.Waivers) != 1 || !bys(f)["dana"] || !bys(f)["sam"] {
		t.Fatalf("loaded %+v", f)
	}
	if st.Describe() != "ConfigMap "+ns+"/meshready-attestations" {
		t.Errorf("Describe: %s", st.Describe())
	}
}

// Reading a store nobody wrote yet is an empty store, not an error; so is
// a ConfigMap of that name without the key (other keys are kept on write).
func TestConfigMapMissingIsEmpty(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns, Name: "not-there"}
	f, err := st.Load(ctx)
	if err != nil || len(f.Attestations)+len(f.Waivers) != 0 {
		t.Fatalf("missing ConfigMap: %+v, %v", f, err)
	}
	if _, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns}, Data: map[string]string{"notes": "kept"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns, Name: "other"}
	if f, err := other.Load(ctx); err != nil || len(f.Attestations) != 0 {
		t.Fatalf("ConfigMap without the key: %+v, %v", f, err)
	}
	if err := other.Update(ctx, addRecord("dana")); err != nil {
		t.Fatal(err)
	}
	if cm := getCM(t, c, ns, "other"); cm.Data["notes"] != "kept" || !strings.Contains(cm.Data[attest.ConfigMapKey], "by: dana") {
		t.Fatalf("after update: %v", cm.Data)
	}
}

// A writer that lands between our read and our write makes the server
// refuse our update (409); the store re-reads and keeps both records.
func TestConfigMapConflictIsRetried(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns}
	if err := st.Update(ctx, addRecord("first")); err != nil {
		t.Fatal(err)
	}
	other := &attest.ConfigMapStore{Client: clientFor(t, c.Config()), Namespace: ns}
	calls := 0
	err := st.Update(ctx, func(f *attest.File) error {
		calls++
		if calls == 1 { // the other writer wins the race, once
			if err := other.Update(ctx, addRecord("intruder")); err != nil {
				return err
			}
		}
		return addRecord("ours")(f)
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || st.Conflicts() != 1 {
		t.Fatalf("fn ran %d times with %d conflicts, want 2 and 1", calls, st.Conflicts())
	}
	f, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := bys(f); len(f.Attestations) != 3 || !got["first"] || !got["intruder"] || !got["ours"] {
		t.Fatalf("records after the conflict: %v", got)
	}
}

// Writers that keep losing give up after Attempts with a clear error, and
// the ConfigMap keeps only the winners' records.
func TestConfigMapGivesUpAfterAttempts(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns, Attempts: 3}
	if err := st.Update(ctx, addRecord("first")); err != nil {
		t.Fatal(err)
	}
	other := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns}
	n := 0
	err := st.Update(ctx, func(f *attest.File) error {
		n++
		if err := other.Update(ctx, addRecord(fmt.Sprintf("winner-%d", n))); err != nil {
			return err
		}
		return addRecord("loser")(f)
	})
	if err == nil || !strings.Contains(err.Error(), "other writers changed it 3 times in a row") || !strings.Contains(err.Error(), "run the command again") {
		t.Fatalf("err = %v", err)
	}
	f, _ := st.Load(ctx)
	if got := bys(f); got["loser"] || len(f.Attestations) != 4 {
		t.Fatalf("records: %v", got)
	}
}

// Separate clients (as separate processes would be) adding one record each
// at the same time: none is lost.
func TestConfigMapConcurrentWriters(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	const n = 12
	stores := make([]*attest.ConfigMapStore, n)
	for i := range stores {
		stores[i] = &attest.ConfigMapStore{Client: clientFor(t, c.Config()), Namespace: ns}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = stores[i].Update(ctx, addRecord(fmt.Sprintf("writer-%02d", i)))
		}()
	}
	close(start)
	wg.Wait()
	conflicts, mostConflicts := 0, 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
		conflicts += stores[i].Conflicts()
		mostConflicts = max(mostConflicts, stores[i].Conflicts())
	}
	f, err := stores[0].Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Attestations) != n || len(bys(f)) != n {
		t.Fatalf("%d records (%d writers), want %d", len(f.Attestations), len(bys(f)), n)
	}
	t.Logf("%d writers, %d conflicts re-read and retried (at most %d for one writer, of %d attempts)", n, conflicts, mostConflicts, attest.DefaultAttempts)
}

// A ConfigMap whose key does not parse is reported with the ConfigMap, the
// key and the line, and is not written.
func TestConfigMapCorruptIsNotOverwritten(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	for _, tc := range []struct{ name, data, want string }{
		{"syntax", "attestations:\n- item: team.trained\n  by: dana\n   note: misindented\n", "yaml: line 4: mapping values are not allowed"},
		{"missing-by", "attestations:\n- item: team.trained\n  by: dana\n  at: 2026-11-27T12:00:00Z\n- item: team.trained\n  at: 2026-11-27T12:00:00Z\n", "line 5: attestations[1]: item, by and at are required"},
		{"unknown-field", "attestations: []\nwaiver: []\n", "line 2: field waiver not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: ns}, Data: map[string]string{attest.ConfigMapKey: tc.data},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns, Name: tc.name}
			err = st.Update(ctx, addRecord("dana"))
			prefix := fmt.Sprintf("ConfigMap %s/%s, key attestations.yaml: ", ns, tc.name)
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "the ConfigMap was not changed: correct it with kubectl -n "+ns+" edit configmap "+tc.name) {
				t.Fatalf("err = %v", err)
			}
			if !errors.Is(err, attest.ErrCorrupt) {
				t.Errorf("not ErrCorrupt: %v", err)
			}
			after := getCM(t, c, ns, tc.name)
			if after.ResourceVersion != created.ResourceVersion || after.Data[attest.ConfigMapKey] != tc.data {
				t.Fatal("the corrupt ConfigMap was written")
			}
			if _, err := st.Load(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// An identity without the rights gets the server's 403 and the exact rule
// to grant: get for a reader, get/update (+create) for a writer.
func TestConfigMapForbiddenGivesRule(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	eve := &attest.ConfigMapStore{Client: clientFor(t, as(c, "eve")), Namespace: ns}
	_, err := eve.Load(ctx)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "eve" cannot get resource "configmaps"`) ||
		!strings.Contains(err.Error(), "resourceNames: [\"meshready-attestations\"]\n    verbs: [\"get\"]") {
		t.Fatalf("read as eve: %v", err)
	}
	err = eve.Update(ctx, addRecord("eve"))
	reason, fix := attest.Explain(err)
	if !apierrors.IsForbidden(err) || !strings.Contains(reason, "forbidden") ||
		fix != attest.RBACFix(ns, attest.DefaultConfigMapName, true) ||
		!strings.Contains(fix, "in a Role in namespace "+ns) ||
		!strings.Contains(fix, "resources: [\"configmaps\"]\n    resourceNames: [\"meshready-attestations\"]\n    verbs: [\"get\", \"update\"]\n  - apiGroups: [\"\"]\n    resources: [\"configmaps\"]\n    verbs: [\"create\"]") {
		t.Fatalf("write as eve:\nreason: %s\nfix: %s", reason, fix)
	}
	if _, err := c.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, attest.DefaultConfigMapName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("eve created the ConfigMap: %v", err)
	}
}

// deploy/attestation-store-rbac.yaml lets its group write the store, and
// only that ConfigMap once it exists; others stay forbidden.
func TestDeployWriterRole(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	if _, err := c.Clientset().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("../../deploy/attestation-store-rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyYAML(ctx, manifest); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitAllowed(ctx, "dana", []string{"meshready-attestors"}, authorizationv1.ResourceAttributes{
		Namespace: "istio-system", Verb: "create", Resource: "configmaps"}); err != nil {
		t.Fatal(err)
	}
	dana := &attest.ConfigMapStore{Client: clientFor(t, as(c, "dana", "meshready-attestors")), Namespace: "istio-system"}
	for _, by := range []string{"dana", "dana-again"} { // create, then update
		if err := dana.Update(ctx, addRecord(by)); err != nil {
			t.Fatalf("%s as a member of meshready-attestors: %v", by, err)
		}
	}
	if f, err := dana.Load(ctx); err != nil || len(f.Attestations) != 2 {
		t.Fatalf("load: %+v %v", f, err)
	}
	if _, err := c.Clientset().CoreV1().ConfigMaps("istio-system").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "istio"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	otherCM := &attest.ConfigMapStore{Client: dana.Client, Namespace: "istio-system", Name: "istio"}
	if err := otherCM.Update(ctx, addRecord("dana")); !apierrors.IsForbidden(err) {
		t.Fatalf("the writer role reaches another ConfigMap: %v", err)
	}
	outsider := &attest.ConfigMapStore{Client: clientFor(t, as(c, "mallory", "other-team")), Namespace: "istio-system"}
	if err := outsider.Update(ctx, addRecord("mallory")); !apierrors.IsForbidden(err) {
		t.Fatalf("a non-member wrote: %v", err)
	}
}

// A write that would not fit a ConfigMap is refused before it is sent, and
// the ConfigMap keeps what it had.
func TestConfigMapTooLarge(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	ns := c.NewNamespace(t)
	st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns}
	if err := st.Update(ctx, addRecord("dana")); err != nil {
		t.Fatal(err)
	}
	before := getCM(t, c, ns, attest.DefaultConfigMapName)
	err := st.Update(ctx, func(f *attest.File) error {
		for i := 0; i < 8000; i++ {
			f.Attestations = append(f.Attestations, attest.Record{Item: "team.trained", By: fmt.Sprintf("person-%05d", i), At: t0, Evidence: "https://wiki.example.com/training/records/" + strings.Repeat("x", 40)})
		}
		return nil
	})
	if !errors.Is(err, attest.ErrTooLarge) || !strings.Contains(err.Error(), "over the 900 KiB") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("err = %v", err)
	}
	if after := getCM(t, c, ns, attest.DefaultConfigMapName); after.ResourceVersion != before.ResourceVersion {
		t.Fatal("the ConfigMap was written")
	}
}

// noGit makes git find no user: no global or system config, and a working
// directory outside any repository.
func noGit(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	t.Chdir(dir)
}

// Identity: --by, else git's user with email, else the Kubernetes user from
// a SelfSubjectReview; recorded as given.
func TestIdentityFallback(t *testing.T) {
	c := testcluster.Shared(t)
	ctx := ctxT(t)
	noGit(t)
	dana := clientFor(t, as(c, "dana@example.com", "meshready-attestors"))
	if who, err := attest.Identity(ctx, "Dana Ops", dana); err != nil || who != "Dana Ops" {
		t.Fatalf("--by: %q %v", who, err)
	}
	if who, err := attest.Identity(ctx, "", dana); err != nil || who != "dana@example.com" {
		t.Fatalf("Kubernetes user: %q %v", who, err)
	}
	if _, err := attest.Identity(ctx, "", nil); !errors.Is(err, attest.ErrNoIdentity) || !strings.Contains(err.Error(), "--by NAME") {
		t.Fatalf("nobody: %v", err)
	}
	bad := clientFor(t, c.ConfigForToken("not-a-token"))
	if _, err := attest.Identity(ctx, "", bad); !errors.Is(err, attest.ErrNoIdentity) || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("rejected credentials: %v", err)
	}
	gitcfg := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(gitcfg, []byte("[user]\n\tname = Dana Ops\n\temail = dana@example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", gitcfg)
	if who, err := attest.Identity(ctx, "", dana); err != nil || who != "Dana Ops <dana@example.com>" {
		t.Fatalf("git user: %q %v", who, err)
	}
}

// BenchmarkConfigMapUpdate: one record added (GET + UPDATE) to a store of
// about 100 records on the loopback test cluster.
func BenchmarkConfigMapUpdate(b *testing.B) {
	c := testcluster.Shared(b)
	ns := c.NewNamespace(b)
	ctx := context.Background()
	st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns}
	for i := range 100 {
		if err := st.Update(ctx, addRecord(fmt.Sprintf("seed-%03d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := st.Update(ctx, addRecord(fmt.Sprintf("bench-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConfigMapLoad: what `meshready check --store configmap` adds,
// one GET and a parse of about 100 records.
func BenchmarkConfigMapLoad(b *testing.B) {
	c := testcluster.Shared(b)
	ns := c.NewNamespace(b)
	ctx := context.Background()
	st := &attest.ConfigMapStore{Client: c.Clientset(), Namespace: ns}
	if err := st.Update(ctx, func(f *attest.File) error {
		for i := range 100 {
			_ = addRecord(fmt.Sprintf("seed-%03d", i))(f)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := st.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
