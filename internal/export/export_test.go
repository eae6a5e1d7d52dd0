package export

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const devmentor = "../../examples/devmentor"

// loadDir loads manifests and fails on input errors, except those of the
// non-manifest files beside them (meshready.yaml, attestations.yaml).
func loadDir(t *testing.T, paths ...string) *snapshot.Snapshot {
	t.Helper()
	objs, errs, err := loader.Load(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		switch filepath.Base(e.File) {
		case config.FileName, "attestations.yaml":
		default:
			t.Errorf("input error: %v", e)
		}
	}
	return snapshot.New(objs)
}

func devmentorConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join(devmentor, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func exportTo(t *testing.T, snap *snapshot.Snapshot, cfg *config.Config) (*Export, string) {
	t.Helper()
	e, err := Build(snap, Options{Config: cfg, Raw: FileRaw()})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "export")
	if err := e.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	return e, dir
}

type id struct{ kind, ns, name string }

func idOf(o *snapshot.Object) id { return id{o.Key, o.Namespace, o.Name} }

// TestRoundTripDevmentor exports the DevMentor mesh, loads the export back
// with the loader and checks that every exported object is equal to its
// original (typed equality; proto.Equal for Istio specs), and that
// `meshready check` gives the same results with the export in place of the
// originals.
func TestRoundTripDevmentor(t *testing.T) {
	cfg := devmentorConfig(t)
	orig := loadDir(t, devmentor)
	e, dir := exportTo(t, orig, cfg)
	if len(e.Incomplete) > 0 {
		t.Fatalf("incomplete: %v", e.Incomplete)
	}
	back := loadDir(t, dir)

	exported := e.Objects()
	if len(back.All()) != len(exported)+len(e.Installs) {
		t.Errorf("the export holds %d objects and %d install files, loading it gives %d objects", len(exported), len(e.Installs), len(back.All()))
	}
	// The IstioOperator generated to reinstall istiod as it is configured.
	op := back.Get(snapshot.IstioOperator, "istio-system", "meshready-default")
	if op == nil {
		t.Fatalf("no IstioOperator generated for istiod")
	}
	spec, _ := op.Typed.(map[string]any)["spec"].(map[string]any)
	pilot := fmt.Sprint(spec["components"])
	meshCfg, _ := spec["meshConfig"].(map[string]any)
	if spec["profile"] != "minimal" || !strings.Contains(pilot, "minReplicas:3") || !strings.Contains(pilot, "cpu:500m") ||
		!strings.Contains(pilot, "cni:map[enabled:true]") || meshCfg["rootNamespace"] != "istio-system" || meshCfg["outboundTrafficPolicy"] == nil {
		t.Errorf("generated IstioOperator: %v", spec)
	}
	kinds := map[string]bool{}
	for _, o := range exported {
		kinds[o.Key] = true
		b := back.Get(o.Key, o.Namespace, o.Name)
		if b == nil {
			t.Errorf("%s: exported but not loaded back", o.ID())
			continue
		}
		if diff := objectDiff(o, b); diff != "" {
			t.Errorf("%s: loaded back different: %s", o.ID(), diff)
		}
	}
	// What the export must contain for DevMentor.
	for _, want := range []string{
		snapshot.Namespace, snapshot.ConfigMap, snapshot.MutatingWebhookConfiguration, snapshot.Service,
		snapshot.Deployment, snapshot.ServiceAccount, snapshot.HorizontalPodAutoscaler, snapshot.PodDisruptionBudget,
		snapshot.Gateway, snapshot.VirtualService, snapshot.DestinationRule, snapshot.ServiceEntry,
		snapshot.PeerAuthentication, snapshot.AuthorizationPolicy, snapshot.RequestAuthentication, snapshot.Telemetry,
	} {
		if !kinds[want] {
			t.Errorf("no %s exported", want)
		}
	}
	for _, k := range orig.Kinds() {
		if IsMeshKind(k) && len(back.List(k)) != len(orig.List(k)) {
			t.Errorf("%s: %d in the input, %d in the export", k, len(orig.List(k)), len(back.List(k)))
		}
	}
	for _, o := range back.All() {
		if o.Key == snapshot.Secret {
			t.Errorf("a Secret was exported: %s", o.ID())
		}
	}
	for _, want := range []string{"istio-injection", "istio-system/istio", "istio-sidecar-injector", "istio-ingressgateway"} {
		found := false
		for _, o := range exported {
			if strings.Contains(o.Namespace+"/"+o.Name, want) || o.Labels[want] != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("nothing exported matches %q", want)
		}
	}

	// `meshready check` with the export in place of the originals: every
	// item has the same status and the same findings (file:line aside).
	var rest []*snapshot.Object
	isExported := map[id]bool{}
	for _, o := range exported {
		isExported[idOf(o)] = true
	}
	for _, o := range orig.All() {
		if !isExported[idOf(o)] {
			rest = append(rest, o)
		}
	}
	replaced := snapshot.New(append(rest, back.All()...))
	compareChecks(t, "export in place of the originals", cfg, orig, replaced)

	// And the export alone against the originals of the exported kinds alone.
	var origExported []*snapshot.Object
	for _, o := range orig.All() {
		if isExported[idOf(o)] {
			origExported = append(origExported, o)
		}
	}
	compareChecks(t, "export alone", cfg, snapshot.New(origExported), back)
}

var checkTime = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

func compareChecks(t *testing.T, what string, cfg *config.Config, a, b *snapshot.Snapshot) {
	t.Helper()
	ra, rb := runChecks(cfg, a), runChecks(cfg, b)
	if len(ra.Items) != len(rb.Items) {
		t.Fatalf("%s: %d items vs %d", what, len(ra.Items), len(rb.Items))
	}
	evaluated := 0
	for i := range ra.Items {
		x, y := ra.Items[i], rb.Items[i]
		if x.ID != y.ID || x.Status != y.Status {
			t.Errorf("%s: item %s is %s on the originals, %s %s on the export", what, x.ID, x.Status, y.ID, y.Status)
			continue
		}
		if fx, fy := findings(x), findings(y); fx != fy {
			t.Errorf("%s: item %s findings differ:\noriginals:\n%s\nexport:\n%s", what, x.ID, fx, fy)
		}
		if x.Status != report.Pending && x.Status != report.NotApplicable {
			evaluated++
		}
	}
	if evaluated == 0 {
		t.Errorf("%s: no item was evaluated", what)
	}
	t.Logf("%s: %d items, %d evaluated, identical", what, len(ra.Items), evaluated)
}

func runChecks(cfg *config.Config, s *snapshot.Snapshot) *report.Report {
	return engine.Run(s, engine.Options{Config: cfg, Items: checks.All(), Now: checkTime, Version: "test"})
}

// findings prints an item's findings without where the objects were read.
func findings(it report.Item) string {
	var b strings.Builder
	for _, p := range it.Parts {
		fmt.Fprintf(&b, "part %s %s %s\n", p.Part, p.Status, p.Message)
	}
	for _, f := range it.Findings {
		obj := ""
		if f.Object != nil {
			obj = f.Object.Kind + "/" + f.Object.Namespace + "/" + f.Object.Name
		}
		fmt.Fprintf(&b, "%s %s %s %s %s %s %s\n", f.Status, f.Part, obj, f.Field, f.Observed, f.Expected, f.Message)
	}
	return b.String()
}

// objectDiff compares an original object with the one loaded back from the
// export; "" when equal.
func objectDiff(o, b *snapshot.Object) string {
	if o.APIVersion != b.APIVersion || o.Kind != b.Kind || o.Key != b.Key {
		return fmt.Sprintf("identity %s %s, loaded %s %s", o.APIVersion, o.Kind, b.APIVersion, b.Kind)
	}
	if !mapsEqual(o.Labels, b.Labels) || !mapsEqual(withoutServerAnnotations(o.Annotations), b.Annotations) {
		return fmt.Sprintf("labels/annotations %v %v, loaded %v %v", o.Labels, o.Annotations, b.Labels, b.Annotations)
	}
	if (o.Typed == nil) != (b.Typed == nil) {
		return fmt.Sprintf("typed %T, loaded %T", o.Typed, b.Typed)
	}
	if spec, ok := istioSpec(o.Typed); ok {
		bspec, _ := istioSpec(b.Typed)
		if !proto.Equal(spec, bspec) {
			return fmt.Sprintf("spec %v, loaded %v", spec, bspec)
		}
		om, bm := o.Typed.(metav1.Object), b.Typed.(metav1.Object)
		if !apiequality.Semantic.DeepEqual(objectMeta(om), objectMeta(bm)) {
			return fmt.Sprintf("metadata %+v, loaded %+v", objectMeta(om), objectMeta(bm))
		}
		ot, bt := reflect.ValueOf(o.Typed).Elem().FieldByName("TypeMeta").Interface(), reflect.ValueOf(b.Typed).Elem().FieldByName("TypeMeta").Interface()
		if ot != bt {
			return fmt.Sprintf("type %v, loaded %v", ot, bt)
		}
		return ""
	}
	if _, ok := o.Typed.(map[string]any); ok {
		if !reflect.DeepEqual(o.Typed, b.Typed) {
			return fmt.Sprintf("%v, loaded %v", o.Typed, b.Typed)
		}
		return ""
	}
	if !apiequality.Semantic.DeepEqual(o.Typed, b.Typed) {
		return fmt.Sprintf("%+v\nloaded\n%+v", o.Typed, b.Typed)
	}
	return ""
}

func withoutServerAnnotations(a map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for _, k := range serverAnnotations {
		delete(out, k)
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestExportIsStable: the same input gives the same files, byte for byte.
func TestExportIsStable(t *testing.T) {
	cfg := devmentorConfig(t)
	_, d1 := exportTo(t, loadDir(t, devmentor), cfg)
	_, d2 := exportTo(t, loadDir(t, devmentor), cfg)
	f1, f2 := readTree(t, d1), readTree(t, d2)
	if len(f1) != len(f2) {
		t.Fatalf("%d files vs %d", len(f1), len(f2))
	}
	for name, data := range f1 {
		if name == ReadmeName {
			continue // names the directory
		}
		if f2[name] != data {
			t.Errorf("%s differs between two exports", name)
		}
	}
	golden(t, "devmentor.README.golden", strings.ReplaceAll(f1[ReadmeName], d1, "EXPORT"))
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", p, lineDiff(string(want), got))
	}
}

func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, w, g)
		}
	}
	return ""
}

// TestExportCleansLiveObjects: objects as a cluster returns them (status,
// managedFields, server metadata, last-applied, allocated IPs, CA bundles)
// are written without what the server set, load back equal to the objects
// minus those fields, and Secrets never appear, only their names.
func TestExportCleansLiveObjects(t *testing.T) {
	cfg := config.Default()
	snap := loadDir(t, "testdata/live")
	e, dir := exportTo(t, snap, cfg)
	files := readTree(t, dir)
	all := ""
	for name, data := range files {
		if name != ReadmeName {
			all += data
		}
	}
	for _, bad := range []string{
		"status:", "managedFields", "resourceVersion", "uid:", "creationTimestamp", "generation:",
		"last-applied-configuration", "ownerReferences", "deployment.kubernetes.io/revision",
		"10.96.3.4", "caBundle", "kind: Secret", "c2VjcmV0", "s3cret",
		"observedGeneration", "readyReplicas", "targetPort: 0",
	} {
		if strings.Contains(all, bad) {
			t.Errorf("the export contains %q", bad)
		}
	}
	for _, want := range []string{"clusterIP: None", "emptyDir: {}", "kind: WasmPlugin", "istio.io/rev: canary"} {
		if !strings.Contains(all, want) {
			t.Errorf("the export lacks %q", want)
		}
	}
	readme := files[ReadmeName]
	for _, want := range []string{"istio-ingress/ingress-cert (present, type kubernetes.io/tls)", "istio-system/cacerts (present", "istio-ingress/gateway-pull (not among the inputs)", "Gateway/istio-ingress/public spec.servers[0].tls.credentialName"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.txt does not say %q:\n%s", want, readme)
		}
	}
	if len(e.Incomplete) > 0 {
		t.Errorf("incomplete: %v", e.Incomplete)
	}

	back := loadDir(t, dir)
	for _, o := range e.Objects() {
		b := back.Get(o.Key, o.Namespace, o.Name)
		if b == nil {
			t.Errorf("%s not loaded back", o.ID())
			continue
		}
		if diff := objectDiff(withoutServerFields(t, o), b); diff != "" {
			t.Errorf("%s: loaded back different from the original minus server fields: %s", o.ID(), diff)
		}
	}
}

// withoutServerFields returns a copy of a typed object without what the
// export drops.
func withoutServerFields(t *testing.T, o *snapshot.Object) *snapshot.Object {
	t.Helper()
	c := *o
	c.Annotations = withoutServerAnnotations(o.Annotations)
	if len(c.Annotations) == 0 {
		c.Annotations = nil
	}
	ro, ok := o.Typed.(runtime.Object)
	if !ok {
		return &c
	}
	cp := ro.DeepCopyObject()
	v := reflect.ValueOf(cp).Elem()
	if st := v.FieldByName("Status"); st.IsValid() {
		st.Set(reflect.Zero(st.Type()))
	}
	m := cp.(metav1.Object)
	m.SetManagedFields(nil)
	m.SetResourceVersion("")
	m.SetUID("")
	m.SetCreationTimestamp(metav1.Time{})
	m.SetGeneration(0)
	m.SetOwnerReferences(nil)
	m.SetAnnotations(c.Annotations)
	switch x := cp.(type) {
	case *corev1.Service:
		if x.Spec.ClusterIP != "None" {
			x.Spec.ClusterIP, x.Spec.ClusterIPs = "", nil
		}
	case *admissionv1.MutatingWebhookConfiguration:
		for i := range x.Webhooks {
			x.Webhooks[i].ClientConfig.CABundle = nil
		}
	}
	c.Typed = cp
	return &c
}

// TestUntypedIstioKindFromStdinIsIncomplete: an Istio object meshready
// keeps without content (WasmPlugin) can be re-read from its file, not
// from stdin; the export then says it is incomplete.
func TestUntypedIstioKindFromStdinIsIncomplete(t *testing.T) {
	data, err := os.ReadFile("testdata/live/wasm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := loader.LoadBytes(loader.StdinName, data)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	e, err := Build(snapshot.New(objs), Options{Config: config.Default(), Raw: FileRaw()})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Incomplete) != 1 || !strings.Contains(e.Incomplete[0].Object, "WasmPlugin") {
		t.Fatalf("incomplete = %v", e.Incomplete)
	}
	if !strings.Contains(e.Readme("x"), "INCOMPLETE") {
		t.Errorf("README does not say INCOMPLETE")
	}
}

func TestWriteRefusesOtherDirectoriesAndReplacesAPreviousExport(t *testing.T) {
	snap := loadDir(t, "testdata/live")
	e, err := Build(snap, Options{Config: config.Default(), Raw: FileRaw()})
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()

	other := filepath.Join(base, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "notes.yaml"), []byte("x: 1\n"), 0o644)
	if err := e.Write(other, true); err == nil || !strings.Contains(err.Error(), "not a previous export") {
		t.Errorf("writing into a foreign directory: %v", err)
	}

	empty := filepath.Join(base, "empty")
	os.MkdirAll(empty, 0o755)
	if err := e.Write(empty, false); err != nil {
		t.Errorf("writing into an empty directory: %v", err)
	}
	if err := e.Write(empty, false); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("writing over a previous export without overwrite: %v", err)
	}
	stale := filepath.Join(empty, "99-stale.yaml")
	os.WriteFile(stale, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stale}\n"), 0o644)
	if err := e.Write(empty, true); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("a stale file survived --overwrite")
	}
	entries, _ := os.ReadDir(base)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	sort.Strings(names)
	if fmt.Sprint(names) != "[empty other]" {
		t.Errorf("left behind: %v", names)
	}
}

func TestFileNamesOrderTheApply(t *testing.T) {
	order := []string{
		FileName(snapshot.Namespace, ""),
		FileName(snapshot.ConfigMap, "istio-system"),
		FileName(snapshot.Service, "a"),
		FileName(snapshot.Deployment, "a"),
		FileName(snapshot.ServiceEntry, "a"),
		FileName(snapshot.Gateway, "a"),
		FileName(snapshot.DestinationRule, "z"),
		FileName(snapshot.VirtualService, "a"),
		FileName("WasmPlugin.extensions.istio.io", "a"),
		FileName(snapshot.PeerAuthentication, "a"),
		FileName(snapshot.AuthorizationPolicy, "a"),
		FileName(snapshot.Telemetry, "a"),
	}
	if !sort.StringsAreSorted(order) {
		t.Errorf("not in apply order: %q", order)
	}
	if got := FileName(snapshot.IstioOperator, "istio-system"); !strings.HasPrefix(got, "install/") {
		t.Errorf("IstioOperator goes to %s", got)
	}
}
