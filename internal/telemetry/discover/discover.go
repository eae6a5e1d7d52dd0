// Package discover finds the cluster's Prometheus (`--prometheus auto`):
// it lists the Services, picks one by a fixed order, and says how to reach
// it. Inside a pod that is the Service's DNS name; from outside, the
// Kubernetes API server's service proxy with the kubeconfig's own
// transport and credentials, so no port-forward is needed.
//
// Candidates are Services (not ExternalName) that are labelled
// app.kubernetes.io/name=prometheus or app=prometheus, or are named
// prometheus, prometheus-k8s, kube-prometheus-stack-prometheus or
// prometheus-operated, and that have a port 9090 or a port named web,
// http-web or http (tried in that order). The first candidate in this
// order wins:
//
//  1. its namespace: istio-system, monitoring, prometheus, observability,
//     then any other namespace, alphabetically;
//  2. its name: prometheus, prometheus-k8s, kube-prometheus-stack-prometheus,
//     then other labelled Services alphabetically, and prometheus-operated
//     last (the Prometheus Operator's headless Service: one pod, not a
//     balanced address).
package discover

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Namespaces are searched first, in this order; then every other one.
var Namespaces = []string{"istio-system", "monitoring", "prometheus", "observability"}

// Names are the usual names of a Prometheus server's Service, preferred in
// this order (prometheus-operated comes after every labelled Service).
var Names = []string{"prometheus", "prometheus-k8s", "kube-prometheus-stack-prometheus"}

// operated is the Prometheus Operator's headless governing Service.
const operated = "prometheus-operated"

// PortNames are the port names tried after port 9090, in this order.
var PortNames = []string{"web", "http-web", "http"}

// DefaultTimeout bounds the search when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ErrConfig is wrapped by errors in the client configuration (no
// kubeconfig, an unknown context): the user's to fix.
var ErrConfig = errors.New("kubernetes client configuration")

// Options say which cluster to search.
type Options struct {
	// Kubeconfig and Context pick the cluster as `meshready check` does:
	// --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod's
	// in-cluster configuration.
	Kubeconfig, Context string
	// Config, when set, is used instead (tests, or a caller with its own).
	Config *rest.Config
	// InCluster says meshready runs in a pod of that cluster: the Service's
	// DNS name is used instead of the API server's proxy. Set on its own
	// when the in-cluster configuration is used.
	InCluster bool
	Timeout   time.Duration
}

// Candidate is a Service that looks like a Prometheus server.
type Candidate struct {
	Namespace, Name string
	Port            int32
	PortName        string
	// Match says why it is a candidate: "label app=prometheus", "name prometheus-k8s".
	Match string
	// Headless: clusterIP None.
	Headless bool
}

// String is "NAMESPACE/NAME:PORT".
func (c Candidate) String() string {
	return c.Namespace + "/" + c.Name + ":" + strconv.Itoa(int(c.Port))
}

// Result is the Prometheus found.
type Result struct {
	Service Candidate
	// URL is the Prometheus base URL to query.
	URL string
	// Transport carries the requests to URL (the kubeconfig's, through the
	// API server's service proxy); nil when URL is reached directly.
	Transport http.RoundTripper
	// Via says how URL reaches it, for messages.
	Via string
	// Candidates are all the candidates, in the order of preference
	// (Service is the first).
	Candidates []Candidate
}

// Describe is one line for the user: which Service, and how it is reached.
func (r *Result) Describe() string {
	s := fmt.Sprintf("Service %s/%s port %d (%s), found in the cluster, queried %s at %s", r.Service.Namespace, r.Service.Name, r.Service.Port, r.Service.Match, r.Via, r.URL)
	if n := len(r.Candidates) - 1; n > 0 {
		others := make([]string, 0, n)
		for _, c := range r.Candidates[1:] {
			others = append(others, c.String())
		}
		s += fmt.Sprintf("; %d other candidate(s) not used: %s (pass --prometheus URL to choose)", n, strings.Join(others, ", "))
	}
	return s
}

// NotFoundError says that no Service qualified, and what was searched.
type NotFoundError struct {
	// Searched names where and what the search looked for.
	Searched string
	// NearMisses are Services that matched by label or name but have no
	// usable port ("monitoring/prometheus: ports 80/metrics").
	NearMisses []string
}

func (e *NotFoundError) Error() string {
	msg := "no Prometheus Service found in the cluster: " + e.Searched
	if len(e.NearMisses) > 0 {
		msg += "; skipped (no port 9090, web, http-web or http, or ExternalName): " + strings.Join(e.NearMisses, ", ")
	}
	return msg + "; pass --prometheus URL"
}

// Searched describes the search, for messages.
func Searched() string {
	return fmt.Sprintf("looked in every namespace (%s first) for a Service labelled app.kubernetes.io/name=prometheus or app=prometheus, or named %s or %s, with a port 9090 or named %s",
		strings.Join(Namespaces, ", "), strings.Join(Names, ", "), operated, strings.Join(PortNames, ", "))
}

// Find searches the cluster for its Prometheus. The error is a
// *NotFoundError when nothing qualifies, wraps ErrConfig when the
// kubeconfig is unusable, and otherwise says why the Services could not be
// listed (with the RBAC rule when access was denied).
func Find(ctx context.Context, o Options) (*Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	cfg, inCluster, err := restConfig(o)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	svcs, err := listServices(ctx, cs)
	if err != nil {
		return nil, err
	}
	cands, misses := Candidates(svcs)
	if len(cands) == 0 {
		return nil, &NotFoundError{Searched: Searched(), NearMisses: misses}
	}
	res := &Result{Service: cands[0], Candidates: cands}
	if inCluster {
		res.URL, res.Via = ServiceURL(cands[0]), "directly (in-cluster DNS)"
		return res, nil
	}
	if res.URL, err = ProxyURL(cfg, cands[0]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	res.Transport = NewProxyTransport(rt, cands[0])
	res.Via = "through the Kubernetes API server's service proxy with the kubeconfig's credentials"
	return res, nil
}

// restConfig loads the client configuration as internal/cluster does, and
// says whether it is a pod's in-cluster one.
func restConfig(o Options) (*rest.Config, bool, error) {
	if o.Config != nil {
		return o.Config, o.InCluster, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, false, fmt.Errorf("%w: no kubeconfig (looked at $KUBECONFIG and ~/.kube/config) and not running in a pod: "+
				"--prometheus auto searches a cluster; give --kubeconfig/--context, or --prometheus URL", ErrConfig)
		}
		return nil, false, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	// The deferred loader falls back to the in-cluster configuration when
	// no kubeconfig has a context: then meshready runs in a pod.
	inCluster := o.InCluster
	if raw, err := cc.RawConfig(); err == nil && len(raw.Contexts) == 0 && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		inCluster = true
	}
	return cfg, inCluster, nil
}

// listServices lists every Service; where that is forbidden (a user with
// namespace-scoped rights), the preferred namespaces one by one.
func listServices(ctx context.Context, cs kubernetes.Interface) ([]corev1.Service, error) {
	all, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err == nil {
		return all.Items, nil
	}
	if !apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("listing Services to find Prometheus: %v", err)
	}
	var out []corev1.Service
	var denied []string
	for _, ns := range Namespaces {
		l, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		switch {
		case err == nil:
			out = append(out, l.Items...)
		case apierrors.IsForbidden(err):
			denied = append(denied, ns)
		default:
			return nil, fmt.Errorf("listing Services in %s to find Prometheus: %v", ns, err)
		}
	}
	if len(denied) == len(Namespaces) {
		return nil, fmt.Errorf("listing Services to find Prometheus: access denied (%v); grant the kubeconfig's user list on services "+
			"(deploy/rbac.yaml's ClusterRole has it: - apiGroups: [\"\"] resources: [\"services\"] verbs: [\"list\"]), or pass --prometheus URL", err)
	}
	return out, nil
}

// Candidates returns the Services that qualify, best first, and the ones
// that matched but cannot be used (as "NAMESPACE/NAME: why").
func Candidates(svcs []corev1.Service) ([]Candidate, []string) {
	var cands []Candidate
	var misses []string
	for i := range svcs {
		s := &svcs[i]
		match := matchOf(s)
		if match == "" {
			continue
		}
		if s.Spec.Type == corev1.ServiceTypeExternalName {
			misses = append(misses, s.Namespace+"/"+s.Name+": ExternalName")
			continue
		}
		p, ok := portOf(s)
		if !ok {
			var ports []string
			for _, sp := range s.Spec.Ports {
				ports = append(ports, strings.TrimSuffix(fmt.Sprintf("%d/%s", sp.Port, sp.Name), "/"))
			}
			misses = append(misses, s.Namespace+"/"+s.Name+": ports "+strings.Join(ports, ", "))
			continue
		}
		cands = append(cands, Candidate{Namespace: s.Namespace, Name: s.Name, Port: p.Port, PortName: p.Name, Match: match,
			Headless: s.Spec.ClusterIP == corev1.ClusterIPNone})
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if ra, rb := nsRank(a.Namespace), nsRank(b.Namespace); ra != rb {
			return ra < rb
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if ra, rb := nameRank(a.Name), nameRank(b.Name); ra != rb {
			return ra < rb
		}
		return a.Name < b.Name
	})
	sort.Strings(misses)
	return cands, misses
}

func matchOf(s *corev1.Service) string {
	switch {
	case s.Labels["app.kubernetes.io/name"] == "prometheus":
		return "label app.kubernetes.io/name=prometheus"
	case s.Labels["app"] == "prometheus":
		return "label app=prometheus"
	case s.Name == operated || indexOf(Names, s.Name) >= 0:
		return "name " + s.Name
	}
	return ""
}

func portOf(s *corev1.Service) (corev1.ServicePort, bool) {
	for _, p := range s.Spec.Ports {
		if p.Port == 9090 && p.Protocol != corev1.ProtocolUDP {
			return p, true
		}
	}
	for _, name := range PortNames {
		for _, p := range s.Spec.Ports {
			if p.Name == name && p.Protocol != corev1.ProtocolUDP {
				return p, true
			}
		}
	}
	return corev1.ServicePort{}, false
}

func nsRank(ns string) int {
	if i := indexOf(Namespaces, ns); i >= 0 {
		return i
	}
	return len(Namespaces)
}

func nameRank(name string) int {
	if name == operated {
		return len(Names) + 1
	}
	if i := indexOf(Names, name); i >= 0 {
		return i
	}
	return len(Names)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// ServiceURL is the Service's in-cluster address: http://NAME.NS.svc:PORT.
func ServiceURL(c Candidate) string {
	return fmt.Sprintf("%s://%s.%s.svc:%d", scheme(c), c.Name, c.Namespace, c.Port)
}

// ProxyURL is the Service's address through the API server's service proxy:
// https://APISERVER/api/v1/namespaces/NS/services/NAME:PORT/proxy (any path
// prefix of the kubeconfig's server kept; https:NAME:PORT for a TLS port).
func ProxyURL(cfg *rest.Config, c Candidate) (string, error) {
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return "", err
	}
	u.Path = path.Join("/", u.Path, "api/v1/namespaces", c.Namespace, "services", proxyName(c), "proxy")
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// scheme is https for a port named https or https-*, else http.
func scheme(c Candidate) string {
	if c.PortName == "https" || strings.HasPrefix(c.PortName, "https-") {
		return "https"
	}
	return "http"
}
