package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/snapshot"
)

// fakeAPI is a minimal Kubernetes API on 127.0.0.1 for the faults a real
// API server does not produce on demand: expired continue tokens, a server
// that hangs or drops connections mid-list.
type fakeAPI struct {
	t         *testing.T
	resources map[string][]metav1.APIResource // "v1", "apps/v1", "networking.istio.io/v1"
	// lists answers a list request for a resource path (/api/v1/namespaces).
	lists map[string]func(w http.ResponseWriter, r *http.Request)
	srv   *httptest.Server
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, resources: map[string][]metav1.APIResource{}, lists: map[string]func(http.ResponseWriter, *http.Request){}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) config() *rest.Config { return &rest.Config{Host: f.srv.URL} }

func (f *fakeAPI) resource(gv, name, kind string, namespaced bool) {
	f.resources[gv] = append(f.resources[gv], metav1.APIResource{Name: name, Kind: kind, Namespaced: namespaced, Verbs: []string{"get", "list"}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func status(code int, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg}
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/version":
		writeJSON(w, 200, map[string]string{"major": "1", "minor": "37", "gitVersion": "v1.37.2"})
		return
	case p == "/api":
		writeJSON(w, 200, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
		return
	case p == "/apis":
		groups := map[string]*metav1.APIGroup{}
		var order []string
		for gv := range f.resources {
			g, v, ok := strings.Cut(gv, "/")
			if !ok {
				continue
			}
			if groups[g] == nil {
				groups[g] = &metav1.APIGroup{Name: g, PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: v}}
				order = append(order, g)
			}
			groups[g].Versions = append(groups[g].Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: v})
		}
		list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range order {
			list.Groups = append(list.Groups, *groups[g])
		}
		writeJSON(w, 200, list)
		return
	}
	if h := f.lists[p]; h != nil {
		h(w, r)
		return
	}
	gv := strings.TrimPrefix(strings.TrimPrefix(p, "/apis/"), "/api/")
	if res, ok := f.resources[gv]; ok {
		writeJSON(w, 200, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv, APIResources: res})
		return
	}
	writeJSON(w, 404, status(404, metav1.StatusReasonNotFound, "the server could not find the requested resource"))
}

func namespaceList(cont string, names ...string) *corev1.NamespaceList {
	l := &corev1.NamespaceList{TypeMeta: metav1.TypeMeta{Kind: "NamespaceList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{Continue: cont}}
	for _, n := range names {
		l.Items = append(l.Items, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"n": n}}})
	}
	return l
}

// TestPagingRestartsOnExpiredContinue: a 410 on a continue token restarts
// the list, so that no object is missing or read twice.
func TestPagingRestartsOnExpiredContinue(t *testing.T) {
	f := newFakeAPI(t)
	f.resource("v1", "namespaces", "Namespace", false)
	var expired atomic.Bool
	var limits sync.Map
	f.lists["/api/v1/namespaces"] = func(w http.ResponseWriter, r *http.Request) {
		limits.Store(r.URL.Query().Get("limit"), true)
		switch r.URL.Query().Get("continue") {
		case "":
			writeJSON(w, 200, namespaceList("page2", "a", "b"))
		case "page2":
			if !expired.Swap(true) {
				writeJSON(w, 410, status(410, metav1.StatusReasonExpired, "The provided continue parameter is too old to display a consistent list result."))
				return
			}
			writeJSON(w, 200, namespaceList("page3", "c", "d"))
		case "page3":
			writeJSON(w, 200, namespaceList("", "e"))
		}
	}
	res, err := cluster.Load(context.Background(), cluster.Options{Config: f.config(), Kinds: []string{snapshot.Namespace}, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range res.Objects {
		names = append(names, o.Name)
		if _, ok := o.Typed.(*corev1.Namespace); !ok || o.Labels["n"] != o.Name || o.Origin.File != cluster.Origin {
			t.Errorf("%s: typed %T, labels %v, origin %v", o.Name, o.Typed, o.Labels, o.Origin)
		}
	}
	if got := strings.Join(names, ","); got != "a,b,c,d,e" {
		t.Errorf("namespaces %s, want a,b,c,d,e", got)
	}
	if _, ok := limits.Load("2"); !ok {
		t.Errorf("lists not paged with limit=2")
	}
	if len(res.Stats.Kinds) != 1 || res.Stats.Kinds[0].Restarts != 1 || res.Stats.Kinds[0].Requests != 5 {
		t.Errorf("stats %+v, want 1 restart and 5 requests", res.Stats.Kinds)
	}
}

// TestForbiddenAndFailingKinds: a 403 gives a KindError with the rule; a
// server error on a custom kind only fails that kind; on a built-in kind
// it ends the load.
func TestForbiddenAndFailingKinds(t *testing.T) {
	f := newFakeAPI(t)
	f.resource("v1", "namespaces", "Namespace", false)
	f.resource("v1", "secrets", "Secret", true)
	f.resource("networking.istio.io/v1", "virtualservices", "VirtualService", true)
	f.resource("networking.istio.io/v1", "destinationrules", "DestinationRule", true)
	f.lists["/api/v1/namespaces"] = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, namespaceList("", "default")) }
	f.lists["/api/v1/secrets"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 403, status(403, metav1.StatusReasonForbidden,
			`secrets is forbidden: User "system:serviceaccount:ops:reader" cannot list resource "secrets" in API group "" at the cluster scope`))
	}
	f.lists["/apis/networking.istio.io/v1/destinationrules"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 500, status(500, metav1.StatusReasonInternalError, "conversion webhook for networking.istio.io/v1beta1, Kind=DestinationRule failed"))
	}
	// Served as JSON in v1beta1 form; decoded by the loader into the
	// client-go networking/v1 type, as from a file.
	f.lists["/apis/networking.istio.io/v1/virtualservices"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"apiVersion":"networking.istio.io/v1","kind":"VirtualServiceList","metadata":{"resourceVersion":"7"},"items":[
			{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews","namespace":"shop","managedFields":[{"manager":"kubectl"}]},
			 "spec":{"hosts":["reviews"],"http":[{"timeout":"5s","route":[{"destination":{"host":"reviews","subset":"v1"}}]}]}}]}`)
	}
	kinds := []string{snapshot.Namespace, snapshot.Secret, snapshot.VirtualService, snapshot.DestinationRule}
	res, err := cluster.Load(context.Background(), cluster.Options{Config: f.config(), ContextName: "fake", Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	se := res.KindErrors[snapshot.Secret]
	wantRule := "- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"list\"]"
	if !strings.Contains(se.Remediation, wantRule) || !strings.Contains(se.Remediation, "system:serviceaccount:ops:reader") {
		t.Errorf("secret kind error: %+v", se)
	}
	if de := res.KindErrors[snapshot.DestinationRule]; !strings.Contains(de.Message, "conversion webhook") {
		t.Errorf("destinationrule kind error: %+v", de)
	}
	snap := res.Snapshot()
	vs := snap.Get(snapshot.VirtualService, "shop", "reviews")
	if vs == nil {
		t.Fatalf("VirtualService not read: %v", res.Objects)
	}
	typed, ok := vs.Typed.(*networkingv1.VirtualService)
	if !ok || typed.Spec.GetHttp()[0].GetTimeout().AsDuration() != 5*time.Second || len(typed.ManagedFields) != 0 {
		t.Errorf("VirtualService typed %T %+v", vs.Typed, typed)
	}
	if snap.Get(snapshot.Namespace, "", "default") == nil || snap.Live == nil || snap.Live.ServerVersion != "v1.37.2" || snap.Live.Context != "fake" {
		t.Errorf("namespace or live info missing: %+v", snap.Live)
	}

	// The same failure on a built-in kind: the storage is failing, the load ends.
	f.lists["/api/v1/namespaces"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 500, status(500, metav1.StatusReasonInternalError, "etcdserver: request timed out"))
	}
	if _, err := cluster.Load(context.Background(), cluster.Options{Config: f.config(), Kinds: kinds, Timeout: 5 * time.Second}); err == nil || !strings.Contains(err.Error(), "etcdserver") {
		t.Errorf("a failing built-in list: err %v", err)
	}
}

// TestSecretsAreReadAsTable: Secrets are asked for in the Table form, and
// their type comes from it.
func TestSecretsAreReadAsTable(t *testing.T) {
	f := newFakeAPI(t)
	f.resource("v1", "secrets", "Secret", true)
	f.lists["/api/v1/secrets"] = func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "as=Table") || r.URL.Query().Get("includeObject") != "Metadata" {
			writeJSON(w, 406, status(406, metav1.StatusReasonNotAcceptable, "meshready must ask for a Table: "+r.Header.Get("Accept")))
			return
		}
		obj := `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"tls","namespace":"gw","annotations":{"a":"b","kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"tls.key\":\"c2VjcmV0\"}}"}}}`
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},
			"columnDefinitions":[{"name":"Name","type":"string"},{"name":"Type","type":"string"},{"name":"Data","type":"string"},{"name":"Age","type":"string"}],
			"rows":[{"cells":["tls","kubernetes.io/tls",2,"1d"],"object":%s}]}`, obj)
	}
	res, err := cluster.Load(context.Background(), cluster.Options{Config: f.config(), Kinds: []string{snapshot.Secret}})
	if err != nil || len(res.KindErrors) > 0 {
		t.Fatalf("err %v, kind errors %v", err, res.KindErrors)
	}
	o := res.Snapshot().Get(snapshot.Secret, "gw", "tls")
	s, ok := o.Typed.(*corev1.Secret)
	if !ok || s.Type != corev1.SecretTypeTLS || o.Annotations["a"] != "b" {
		t.Fatalf("secret %+v", o)
	}
	if _, leaked := o.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; leaked {
		t.Errorf("the last-applied annotation (the Secret's values) was kept")
	}
}

// TestHangingServerTimesOut: a server that accepts and never answers ends
// the load at the timeout with a clear message.
func TestHangingServerTimesOut(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	begin := time.Now()
	_, err := cluster.Load(context.Background(), cluster.Options{Config: &rest.Config{Host: hang.URL}, Kinds: []string{snapshot.Namespace}, Timeout: time.Second})
	took := time.Since(begin)
	if err == nil || !strings.Contains(err.Error(), "did not answer within 1s") || took > 3*time.Second {
		t.Fatalf("err %v after %v", err, took)
	}
}

// TestDyingServer: a server that dies in the middle of a list (its
// connections reset) ends the load with an error within the timeout:
// client-go retries a reset GET about ten times, a second apart, then
// gives up. (A server that is gone refuses connections, which is not
// retried: see TestLiveFaults.)
func TestDyingServer(t *testing.T) {
	f := newFakeAPI(t)
	f.resource("v1", "namespaces", "Namespace", false)
	f.resource("v1", "services", "Service", true)
	f.lists["/api/v1/services"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, &corev1.ServiceList{TypeMeta: metav1.TypeMeta{Kind: "ServiceList", APIVersion: "v1"}})
	}
	f.lists["/api/v1/namespaces"] = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("continue") == "" {
			writeJSON(w, 200, namespaceList("next", "a"))
			return
		}
		// Mid-list: the connection drops.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}
	begin := time.Now()
	_, err := cluster.Load(context.Background(), cluster.Options{Config: f.config(), Kinds: []string{snapshot.Namespace, snapshot.Service}, Timeout: 30 * time.Second})
	took := time.Since(begin)
	if err == nil || !strings.Contains(err.Error(), "connection reset") || took > 30*time.Second {
		t.Fatalf("err %v after %v", err, took)
	}
	t.Logf("dying server: %v after %v", err, took.Round(time.Millisecond))
}

// TestIstioCRDsAbsentReportedOnce is in TestLiveFaults (real API server).

// TestConfigErrors: no kubeconfig and not in a pod, or an unknown context,
// is a configuration error (the CLI's usage error), not a cluster error.
func TestConfigErrors(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := cluster.Load(context.Background(), cluster.Options{Kinds: []string{snapshot.Namespace}})
	if err == nil || !strings.Contains(err.Error(), "no kubeconfig") {
		t.Errorf("no kubeconfig: %v", err)
	}
	if !isConfigErr(err) {
		t.Errorf("no kubeconfig: not an ErrConfig: %v", err)
	}
	kc := t.TempDir() + "/kubeconfig"
	writeFile(t, kc, "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n")
	_, err = cluster.Load(context.Background(), cluster.Options{Kubeconfig: kc, Context: "nope", Kinds: []string{snapshot.Namespace}})
	if !isConfigErr(err) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown context: %v", err)
	}
	// The current context, unreachable: a cluster error naming it.
	_, err = cluster.Load(context.Background(), cluster.Options{Kubeconfig: kc, Kinds: []string{snapshot.Namespace}, Timeout: 3 * time.Second})
	if err == nil || isConfigErr(err) || !strings.Contains(err.Error(), "context a") {
		t.Errorf("unreachable: %v", err)
	}
}

func isConfigErr(err error) bool { return errors.Is(err, cluster.ErrConfig) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBigKindSplitByNamespace: a namespaced kind with thousands of objects
// in few namespaces is listed namespace by namespace; a small one is paged.
func TestBigKindSplitByNamespace(t *testing.T) {
	f := newFakeAPI(t)
	f.resource("v1", "namespaces", "Namespace", false)
	f.resource("v1", "services", "Service", true)
	f.resource("v1", "serviceaccounts", "ServiceAccount", true)
	nss := []string{"a", "b", "c"}
	f.lists["/api/v1/namespaces"] = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, namespaceList("", nss...)) }
	services := func(ns string, n int) *corev1.ServiceList {
		l := &corev1.ServiceList{TypeMeta: metav1.TypeMeta{Kind: "ServiceList", APIVersion: "v1"}}
		for i := 0; i < n; i++ {
			l.Items = append(l.Items, corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%04d", i), Namespace: ns}})
		}
		return l
	}
	var perNS atomic.Int64
	f.lists["/api/v1/services"] = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("limit") != "1" {
			t.Errorf("services listed across namespaces with limit %s after the probe", r.URL.Query().Get("limit"))
		}
		l := services("a", 1)
		rem := int64(3*1000 - 1)
		l.Continue, l.RemainingItemCount = "more", &rem
		writeJSON(w, 200, l)
	}
	for _, ns := range nss {
		f.lists["/api/v1/namespaces/"+ns+"/services"] = func(w http.ResponseWriter, r *http.Request) {
			perNS.Add(1)
			l := services(ns, 500)
			if r.URL.Query().Get("continue") == "" {
				l.Continue = "p2"
			} else {
				l = services(ns, 1000)
				l.Items = l.Items[500:]
			}
			writeJSON(w, 200, l)
		}
	}
	f.lists["/api/v1/serviceaccounts"] = func(w http.ResponseWriter, r *http.Request) {
		l := &corev1.ServiceAccountList{TypeMeta: metav1.TypeMeta{Kind: "ServiceAccountList", APIVersion: "v1"}}
		for i := 0; i < 3; i++ {
			l.Items = append(l.Items, corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sa%d", i), Namespace: "a"}})
		}
		if r.URL.Query().Get("limit") == "1" {
			rem := int64(2)
			l.Items, l.Continue, l.RemainingItemCount = l.Items[:1], "rest", &rem
		} else if r.URL.Query().Get("continue") == "rest" {
			l.Items = l.Items[1:]
		}
		writeJSON(w, 200, l)
	}
	res, err := cluster.Load(context.Background(), cluster.Options{Config: f.config(), Kinds: []string{snapshot.Service, snapshot.ServiceAccount}})
	if err != nil {
		t.Fatal(err)
	}
	snap := res.Snapshot()
	if n := len(snap.List(snapshot.Service)); n != 3000 || perNS.Load() != 6 {
		t.Errorf("%d services in %d per-namespace requests, want 3000 in 6", n, perNS.Load())
	}
	if n := len(snap.List(snapshot.ServiceAccount)); n != 3 {
		t.Errorf("%d service accounts, want 3 (the probe's and the rest)", n)
	}
	for _, k := range res.Stats.Kinds {
		if (k.Key == snapshot.Service) != (k.Namespaces == 3) {
			t.Errorf("stats %+v", k)
		}
	}
}
