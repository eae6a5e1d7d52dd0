// Package cluster reads a live Kubernetes cluster into the same snapshot
// objects the manifest loader produces, so that every check runs unchanged
// on files or on a cluster.
//
// What it reads, and how:
//
//   - Only the kinds asked for (the union of the enabled checks' Reads).
//     Discovery says which of them the server serves, in which version.
//   - Built-in kinds are listed in protobuf and decoded straight into
//     client-go's types, each page read into a buffer reused by the next
//     (body.go).
//   - Custom resources (Istio, Gateway API, Prometheus Operator...) are
//     listed as JSON and decoded by internal/loader, so their typed forms
//     are exactly the ones manifest files give (client-go Istio types,
//     map[string]any for the Gateway API...). Custom kinds the loader keeps
//     no typed form of are listed as metadata only.
//   - Secrets are never read with their data: they are listed in the
//     server's Table form, which carries each Secret's metadata and type
//     and nothing else.
//   - ConfigMaps are listed as metadata only; the data of a few is then
//     fetched one by one, by the rule in configmaps.go (mesh config and
//     sidecar injector, and the configuration of the observability tools).
//   - Every list is paged (Options.PageSize, continue tokens); a list whose
//     continue token expired (410) is restarted. A namespaced kind is first
//     asked for one object, whose answer says how many there are; a big
//     kind in few namespaces (10,000 pods in 25) is then listed namespace
//     by namespace, side by side, rather than in 20 pages one after the
//     other (each namespace's list is consistent in itself). At most
//     Options.Concurrency requests are in flight, and the whole load is
//     bounded by Options.Timeout.
//   - Lists are consistent reads (no resourceVersion). The API server
//     (1.31 and later) serves them from its watch cache as well; asking
//     for resourceVersion=0 (whatever the cache holds, possibly a little
//     stale, and unpaged) was measured on a 40,000-object mesh and saved
//     nothing on either side, so the snapshot stays current.
//   - Responses are not gzipped when the API server is on a loopback
//     address or meshready runs in a pod: compressing costs the server
//     more than the transfer it saves there.
//
// Faults: a kind meshready may not list (403) becomes a KindError holding
// the RBAC rule to add, and the load goes on; so do other errors the
// server reports for one custom kind. Istio's CRDs being absent is one
// KindError message for every Istio kind plus one warning. An unreachable
// or failing server, rejected credentials, or the timeout end the load
// with an error.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshready/meshready/internal/snapshot"
	mrversion "github.com/meshready/meshready/internal/version"
)

// Origin is the Origin.File of every object read from a cluster.
const Origin = "cluster"

// Defaults of Options. Bigger pages are no cheaper: on a 40,000-object
// mesh, pages of 5,000 cost the API server three times the CPU of pages
// of 500 (and took twice as long), and 4 or 16 requests in flight instead
// of 8 made no measurable difference.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultPageSize    = 500
	DefaultConcurrency = 8
)

// ErrConfig is wrapped by errors in the client configuration (no
// kubeconfig, an unknown context): the user's to fix, not the cluster's.
var ErrConfig = errors.New("kubernetes client configuration")

// Options say which cluster to read, what, and within what bounds.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG, then
	// ~/.kube/config, then the in-cluster configuration of a pod.
	Kubeconfig string
	// Context is the kubeconfig context; empty means the current one.
	Context string
	// Config, when set, is used instead of any kubeconfig (tests, or a
	// caller that built its own); ContextName then names it in reports.
	Config      *rest.Config
	ContextName string

	// Kinds are the kind keys to list (snapshot.Deployment, ...).
	Kinds []string
	// ControlPlaneNamespace is where istiod's ConfigMaps are (default istio-system).
	ControlPlaneNamespace string

	Timeout     time.Duration // whole load; default 60s
	PageSize    int64         // objects per list request; default 500
	Concurrency int           // requests in flight; default 8
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ControlPlaneNamespace == "" {
		o.ControlPlaneNamespace = "istio-system"
	}
}

// Result is what a load read.
type Result struct {
	Objects []*snapshot.Object
	Live    snapshot.LiveInfo
	// KindErrors says, per kind key, why a kind could not be read.
	KindErrors map[string]snapshot.KindError
	// InputErrors are objects the loader could not decode (kept without a
	// typed form, as from files).
	InputErrors []snapshot.InputError
	// Absent lists the custom kinds asked for whose CRD is not installed:
	// there are none of them (not an error, except for Istio's kinds).
	Absent []string
	// Warnings are said once to the user (e.g. Istio is not installed).
	Warnings []string
	Stats    Stats
}

// Stats measure a load.
type Stats struct {
	Duration time.Duration
	Requests int64 // API requests, discovery included
	Objects  int
	Kinds    []KindStats // sorted by kind key
}

// KindStats measure the listing of one kind.
type KindStats struct {
	Key      string
	Objects  int
	Requests int // list requests (pages)
	Restarts int // lists restarted after an expired continue token
	// Namespaces is the number of namespaces listed one by one when the
	// kind was split (0: one list across namespaces).
	Namespaces int
	Duration   time.Duration
}

// Snapshot indexes the result into a live snapshot.
func (r *Result) Snapshot() *snapshot.Snapshot {
	s := snapshot.New(r.Objects)
	live := r.Live
	s.Live = &live
	s.InputErrors = r.InputErrors
	for k, e := range r.KindErrors {
		s.KindErrors[k] = e
	}
	return s
}

// Load reads the asked kinds from the cluster.
func Load(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	begin := time.Now()
	cfg, ctxName, err := restConfig(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	l, err := newSession(cfg, ctxName, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	res := &Result{Live: snapshot.LiveInfo{Context: ctxName}, KindErrors: map[string]snapshot.KindError{}}
	l.res = res

	if res.Live.ServerVersion, err = l.serverVersion(ctx); err != nil {
		return nil, l.fatal(ctx, err)
	}
	disc, err := l.discover(ctx)
	if err != nil {
		return nil, l.fatal(ctx, err)
	}
	jobs := l.plan(disc, o.Kinds)
	if err := l.run(ctx, jobs); err != nil {
		return nil, l.fatal(ctx, err)
	}
	if err := l.configMapData(ctx, jobs); err != nil {
		return nil, l.fatal(ctx, err)
	}
	for _, j := range jobs {
		res.Objects = append(res.Objects, j.objs...)
		if !j.failed {
			res.Stats.Kinds = append(res.Stats.Kinds, KindStats{Key: j.key, Objects: len(j.objs), Requests: int(j.pages.Load()),
				Restarts: int(j.restarts.Load()), Namespaces: j.split, Duration: j.took})
		}
	}
	res.Stats.Objects = len(res.Objects)
	res.Stats.Requests = l.requests.Load()
	res.Stats.Duration = time.Since(begin)
	return res, nil
}

// restConfig builds the client configuration: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, else in-cluster; --context overrides
// the current context.
func restConfig(o Options) (*rest.Config, string, error) {
	if o.Config != nil {
		name := o.ContextName
		if name == "" {
			name = o.Config.Host
		}
		return rest.CopyConfig(o.Config), name, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", fmt.Errorf("%w: no kubeconfig (looked at $KUBECONFIG and ~/.kube/config) and not running in a pod: "+
				"give --kubeconfig/--context, or manifest paths to evaluate files", ErrConfig)
		}
		return nil, "", fmt.Errorf("%w: %v", ErrConfig, err)
	}
	name := o.Context
	if name == "" {
		if raw, err := cc.RawConfig(); err == nil {
			name = raw.CurrentContext
		}
	}
	if name == "" {
		name = cfg.Host
		if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
			name = "in-cluster"
		}
	}
	return cfg, name, nil
}

// session is one load in progress.
type session struct {
	o       Options
	host    string
	context string
	typed   kubernetes.Interface // protobuf, for the few single GETs
	pb      rest.Interface       // protobuf, for lists of built-in kinds
	raw     rest.Interface       // JSON, for custom resources, Tables and /version
	meta    metadata.Interface
	disc    discovery.DiscoveryInterface
	sem     chan struct{}
	bodies  bodyBuffers

	res      *Result
	mu       sync.Mutex // guards res.KindErrors, res.InputErrors
	requests atomic.Int64

	nsOnce  sync.Once
	nsNames []string
	nsErr   error
}

func newSession(cfg *rest.Config, ctxName string, o Options) (*session, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "meshready/" + mrversion.String()
	// Concurrency is bounded by Options.Concurrency; client-side
	// throttling (5 requests/s by default) would only add latency.
	cfg.QPS, cfg.Burst = -1, 0
	cfg.RateLimiter = nil
	// The server's deprecation warnings (e.g. on v1 Endpoints) are about
	// meshready's requests, not the user's cluster: not printed.
	cfg.WarningHandler = rest.NoWarnings{}
	// A backstop for the calls that take no context (discovery): no
	// request outlives the load.
	cfg.Timeout = o.Timeout
	// Gzip costs the API server more CPU than the transfer it saves when
	// the server is on this host or meshready runs in the cluster; across
	// a WAN it is worth it.
	if nearby(cfg.Host) {
		cfg.DisableCompression = true
	}

	pb := rest.CopyConfig(cfg)
	pb.ContentType = "application/vnd.kubernetes.protobuf"
	pb.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	typed, err := kubernetes.NewForConfig(pb)
	if err != nil {
		return nil, err
	}
	pb.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	pbRaw, err := rest.UnversionedRESTClientFor(pb)
	if err != nil {
		return nil, err
	}
	js := rest.CopyConfig(cfg)
	js.ContentType = "application/json"
	js.AcceptContentTypes = "application/json"
	js.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	raw, err := rest.UnversionedRESTClientFor(js)
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &session{
		o: o, host: cfg.Host, context: ctxName,
		typed: typed, pb: pbRaw, raw: raw, meta: md, disc: dc,
		sem: make(chan struct{}, o.Concurrency), bodies: make(bodyBuffers, o.Concurrency),
	}, nil
}

// nearby reports whether the API server is on a loopback address, or
// meshready runs in a pod (in the cluster's network).
func nearby(host string) bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return h == "localhost"
}

func (l *session) kindError(key string, e snapshot.KindError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.res.KindErrors[key]; !ok {
		l.res.KindErrors[key] = e
	}
}

func (l *session) serverVersion(ctx context.Context) (string, error) {
	l.requests.Add(1)
	res := l.raw.Get().AbsPath("/version").Do(ctx)
	if err := res.Error(); err != nil {
		return "", err
	}
	body, err := res.Raw()
	if err != nil {
		return "", err
	}
	var v version.Info
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("/version: %v", err)
	}
	return v.GitVersion, nil
}

// fatal words an error that ends the load.
func (l *session) fatal(ctx context.Context, err error) error {
	where := fmt.Sprintf("the Kubernetes API server at %s (context %s)", l.host, l.context)
	switch {
	case errors.Is(err, ErrConfig):
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s did not answer within %v (--timeout): %v", where, l.o.Timeout, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("reading %s: canceled", where)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s rejected meshready's credentials (401 Unauthorized): renew them (e.g. log in again) or pick another --context: %v", where, err)
	}
	return fmt.Errorf("cannot read %s: %v", where, err)
}

// isFatal says whether an error while listing one kind ends the whole
// load: the server could not be reached, rejected the credentials, or
// failed on a built-in kind (its storage is failing). A 403, a 404, or a
// server error on one custom kind (a broken conversion webhook, an
// unavailable aggregated API) only makes that kind unreadable.
func isFatal(err error, custom bool) bool {
	if apierrors.IsUnauthorized(err) {
		return true
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return true // no answer from the server
	}
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
		return false
	}
	return !custom && st.Status().Code >= 500
}

// forbidden turns a 403 into a KindError naming the rule to add.
func forbidden(err error, group, resource string, verbs []string) snapshot.KindError {
	return snapshot.KindError{
		Message:     fmt.Sprintf("forbidden: %v", err),
		Remediation: forbiddenRemediation(err, group, resource, verbs),
	}
}

func forbiddenRemediation(err error, group, resource string, verbs []string) string {
	who := "the identity meshready runs as"
	if m := userRE.FindStringSubmatch(err.Error()); m != nil {
		who = m[1]
	}
	return fmt.Sprintf("grant %s read access: add this rule to a ClusterRole bound to it "+
		"(deploy/rbac.yaml holds every rule meshready needs):\n%s", who, ruleSnippet(group, resource, verbs))
}

func sortedUnique(keys []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func joinMax(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + fmt.Sprintf(" and %d more", len(list)-n)
}
