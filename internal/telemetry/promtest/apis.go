package promtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Grafana, Jaeger and Kiali are not packaged for Debian, so their clients
// are tested against loopback servers that answer as the documented APIs do:
//
//   - Grafana: GET /api/search?type=dash-db
//     (https://grafana.com/docs/grafana/latest/developers/http_api/folder_dashboard_search/),
//     a JSON array of hits {id, uid, title, uri, url, slug, type, tags, isStarred, folderId, folderUid, folderTitle, folderUrl};
//   - Jaeger: GET /api/services and GET /api/traces?service=&lookback=&limit=
//     (the query service's HTTP JSON API, https://www.jaegertracing.io/docs/latest/apis/),
//     each {"data": ..., "total": n, "limit": 0, "offset": 0, "errors": null};
//   - Kiali: GET /api/status ({"status": {"Kiali state": ..., "Kiali version": ...},
//     "externalServices": [{"name", "version"}], "warningMessages": [...]}) and GET /healthz.

// GrafanaHit is one dashboard the fake Grafana lists.
type GrafanaHit struct {
	UID, Title, Folder string
	Tags               []string
}

// APIOptions describe what the fake APIs answer.
type APIOptions struct {
	Grafana                      []GrafanaHit
	GrafanaUser, GrafanaPassword string // required basic auth, if set
	JaegerServices               []string
	JaegerNoTraces               []string // listed services with no recent trace
	KialiState                   string   // default "running"
	KialiWarnings                []string
	KialiNoPrometheus            bool
}

// APIs are the running fake Grafana, Jaeger and Kiali (Kiali under /kiali, its usual web root).
type APIs struct {
	Grafana, Jaeger, Kiali *httptest.Server
	mu                     sync.Mutex
	calls                  map[string]int
}

// Calls returns how many requests a path received (for tests that check batching).
func (a *APIs) Calls(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[path]
}

// KialiURL is the Kiali base URL (web root /kiali).
func (a *APIs) KialiURL() string { return a.Kiali.URL + "/kiali" }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// StartAPIs serves the fake APIs on loopback until the end of the test.
func StartAPIs(t testing.TB, o APIOptions) *APIs {
	a := &APIs{calls: map[string]int{}}
	count := func(r *http.Request) {
		a.mu.Lock()
		a.calls[r.URL.Path]++
		a.mu.Unlock()
	}

	a.Grafana = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count(r)
		if o.GrafanaUser != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != o.GrafanaUser || p != o.GrafanaPassword {
				w.WriteHeader(http.StatusUnauthorized)
				writeJSON(w, map[string]string{"message": "Unauthorized"})
				return
			}
		}
		if r.URL.Path != "/api/search" {
			http.NotFound(w, r)
			return
		}
		var hits []map[string]any
		for i, d := range o.Grafana {
			if r.URL.Query().Get("type") != "" && r.URL.Query().Get("type") != "dash-db" {
				continue
			}
			slug := strings.ToLower(strings.ReplaceAll(d.Title, " ", "-"))
			h := map[string]any{"id": i + 1, "uid": d.UID, "title": d.Title, "uri": "db/" + slug, "url": "/d/" + d.UID + "/" + slug,
				"slug": "", "type": "dash-db", "tags": append([]string{}, d.Tags...), "isStarred": false}
			if d.Folder != "" {
				h["folderId"], h["folderUid"], h["folderTitle"], h["folderUrl"] = 7, "f"+d.Folder, d.Folder, "/dashboards/f/f"+d.Folder+"/"+d.Folder
			}
			hits = append(hits, h)
		}
		if hits == nil {
			hits = []map[string]any{}
		}
		writeJSON(w, hits)
	}))
	t.Cleanup(a.Grafana.Close)

	noTrace := map[string]bool{}
	for _, s := range o.JaegerNoTraces {
		noTrace[s] = true
	}
	a.Jaeger = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count(r)
		env := func(data any, total int) map[string]any {
			return map[string]any{"data": data, "total": total, "limit": 0, "offset": 0, "errors": nil}
		}
		switch r.URL.Path {
		case "/api/services":
			svcs := append([]string{}, o.JaegerServices...)
			writeJSON(w, env(svcs, len(svcs)))
		case "/api/traces":
			svc := r.URL.Query().Get("service")
			if svc == "" {
				w.WriteHeader(http.StatusBadRequest)
				writeJSON(w, map[string]any{"data": nil, "total": 0, "limit": 0, "offset": 0, "errors": []map[string]any{{"code": 400, "msg": "parameter 'service' is required"}}})
				return
			}
			listed := false
			for _, s := range o.JaegerServices {
				listed = listed || s == svc
			}
			if !listed || noTrace[svc] {
				writeJSON(w, env([]any{}, 0))
				return
			}
			start := time.Now().Add(-2 * time.Minute).UnixMicro()
			trace := map[string]any{
				"traceID": fmt.Sprintf("%016x", len(svc)*7919),
				"spans": []map[string]any{
					{"traceID": fmt.Sprintf("%016x", len(svc)*7919), "spanID": "a1", "operationName": svc + ".svc.cluster.local:8080/*", "references": []any{}, "startTime": start, "duration": 12000, "tags": []any{}, "logs": []any{}, "processID": "p1", "warnings": nil},
					{"traceID": fmt.Sprintf("%016x", len(svc)*7919), "spanID": "a2", "operationName": "outbound", "references": []any{}, "startTime": start + 100, "duration": 9000, "tags": []any{}, "logs": []any{}, "processID": "p1", "warnings": nil},
				},
				"processes": map[string]any{"p1": map[string]any{"serviceName": svc, "tags": []any{}}},
				"warnings":  nil,
			}
			writeJSON(w, env([]any{trace}, 0))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Jaeger.Close)

	a.Kiali = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count(r)
		switch r.URL.Path {
		case "/kiali/healthz":
			w.WriteHeader(http.StatusOK)
		case "/kiali/api/status":
			state := o.KialiState
			if state == "" {
				state = "running"
			}
			ext := []map[string]any{{"name": "Istio", "version": "1.28.0"}}
			if !o.KialiNoPrometheus {
				ext = append(ext, map[string]any{"name": "Prometheus", "version": "2.42.0", "url": "http://prometheus.monitoring:9090"})
			}
			writeJSON(w, map[string]any{
				"status":           map[string]string{"Kiali commit hash": "0123abc", "Kiali container version": "v2.4.0", "Kiali state": state, "Kiali version": "v2.4.0"},
				"externalServices": ext,
				"warningMessages":  append([]string{}, o.KialiWarnings...),
				"istioEnvironment": map[string]any{"isMaistra": false, "istioAPIEnabled": true},
			})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Kiali.Close)
	return a
}

// DevMentorAPIs are the Grafana, Jaeger and Kiali of the example mesh:
// the four Istio dashboards and one per critical service, traces from the
// three services, Kiali running and reading Prometheus. Defective: no
// control-plane dashboard and no qdrant dashboard, no span from qdrant,
// and Kiali warning about its configuration.
func DevMentorAPIs(defective bool) APIOptions {
	o := APIOptions{
		Grafana: []GrafanaHit{
			{UID: "istio-mesh", Title: "Istio Mesh Dashboard", Folder: "Istio", Tags: []string{"istio"}},
			{UID: "istio-service", Title: "Istio Service Dashboard", Folder: "Istio", Tags: []string{"istio"}},
			{UID: "istio-workload", Title: "Istio Workload Dashboard", Folder: "Istio", Tags: []string{"istio"}},
			{UID: "istio-control-plane", Title: "Istio Control Plane Dashboard", Folder: "Istio", Tags: []string{"istio"}},
			{UID: "devmentor-qwen-llm", Title: "DevMentor / qwen-llm", Folder: "DevMentor", Tags: []string{"devmentor"}},
			{UID: "devmentor-pbml-context", Title: "DevMentor / pbml-context", Folder: "DevMentor", Tags: []string{"devmentor"}},
			{UID: "devmentor-qdrant", Title: "DevMentor / qdrant", Folder: "DevMentor", Tags: []string{"devmentor"}},
		},
		JaegerServices: []string{"istio-ingressgateway.istio-ingress", "pbml-context.devmentor", "qwen-llm.devmentor", "qdrant.devmentor"},
	}
	if defective {
		o.Grafana = append(o.Grafana[:3], o.Grafana[4:6]...)
		o.JaegerServices = o.JaegerServices[:3]
		o.KialiWarnings = []string{"Kiali could not connect to the Istio control plane (istiod-debug endpoint): check istio_namespace"}
	}
	return o
}
