package discover

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/meshready/meshready/internal/telemetry"
)

// NewProxyTransport wraps the kubeconfig's transport for the API server's
// service proxy to the Service c:
//
//   - it sends every request as a GET: the Prometheus client POSTs queries
//     as forms, and a POST through the proxy is the RBAC verb "create" on
//     services/proxy, which a read-only user should not need; GET is "get";
//   - an answer of the API server itself (a Kubernetes Status: access
//     denied, no endpoints, Service gone) becomes a *telemetry.GatewayError
//     that says so, with the fix (e.g. the RBAC rule to add), instead of
//     passing for a broken Prometheus.
func NewProxyTransport(next http.RoundTripper, c Candidate) http.RoundTripper {
	return &proxyTransport{next: next, svc: c}
}

type proxyTransport struct {
	next http.RoundTripper
	svc  Candidate
}

func (t *proxyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		g, err := asGET(r)
		if err != nil {
			return nil, err
		}
		r = g
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode < 300 || !isJSON(resp.Header.Get("Content-Type")) {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var st struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Message    string `json:"message"`
		Reason     string `json:"reason"`
	}
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.APIVersion == "v1" {
		return nil, t.gatewayError(resp.StatusCode, st.Message)
	}
	// Prometheus' own error: pass it on as it came.
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// asGET turns a form POST into the same request as a GET with the form in
// the query string.
func asGET(r *http.Request) (*http.Request, error) {
	var form []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		form = b
	}
	g := r.Clone(r.Context())
	g.Method, g.Body, g.GetBody, g.ContentLength = http.MethodGet, nil, nil, 0
	g.Header.Del("Content-Type")
	u := *r.URL
	if len(form) > 0 {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += string(form)
	}
	g.URL = &u
	return g, nil
}

func isJSON(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json"
}

// gatewayError explains an answer of the API server's proxy.
func (t *proxyTransport) gatewayError(code int, msg string) *telemetry.GatewayError {
	c := t.svc
	where := fmt.Sprintf("the Kubernetes API server's service proxy to %s/%s", c.Namespace, c.Name)
	direct := fmt.Sprintf("or port-forward (kubectl -n %s port-forward svc/%s %d) and pass --prometheus http://127.0.0.1:%d", c.Namespace, c.Name, c.Port, c.Port)
	g := &telemetry.GatewayError{Code: code, Detail: where + ": " + strings.TrimSpace(msg)}
	switch {
	case code == http.StatusUnauthorized:
		g.Fix = "the API server did not accept the kubeconfig's credentials: log in again (kubectl get --raw /version checks them), " + direct
	case code == http.StatusForbidden:
		g.Fix = fmt.Sprintf("the kubeconfig's user may not use the service proxy: grant it, in namespace %s, a Role with the rule "+
			`- apiGroups: [""] resources: ["services/proxy"] resourceNames: [%q] verbs: ["get"] `+
			"(kubectl -n %s create role meshready-prometheus-proxy --verb=get --resource=services/proxy --resource-name=%s, "+
			"then kubectl -n %s create rolebinding meshready-prometheus-proxy --role=meshready-prometheus-proxy --user=USER); "+
			"meshready sends only GET requests, so get is enough; %s",
			c.Namespace, proxyName(c), c.Namespace, proxyName(c), c.Namespace, direct)
	case code == http.StatusNotFound:
		g.Fix = fmt.Sprintf("the Service %s/%s is gone or its port %d changed: run again, %s", c.Namespace, c.Name, c.Port, direct)
	case code >= 500:
		g.Fix = fmt.Sprintf("the API server reached no ready Prometheus pod behind Service %s/%s: check kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s and the pods it selects; %s",
			c.Namespace, c.Name, c.Namespace, c.Name, direct)
	default:
		g.Fix = direct
	}
	return g
}

// proxyName is the Service's name as the proxy path and RBAC resourceNames
// spell it: NAME:PORT (https:NAME:PORT for a TLS port).
func proxyName(c Candidate) string {
	n := fmt.Sprintf("%s:%d", c.Name, c.Port)
	if scheme(c) == "https" {
		n = "https:" + n
	}
	return n
}
