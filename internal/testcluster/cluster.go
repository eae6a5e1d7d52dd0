// Package testcluster runs a real kube-apiserver backed by a real etcd on
// 127.0.0.1 for integration tests.
//
// There are no controllers (no kube-controller-manager, scheduler or
// kubelet): objects are stored and validated exactly as in a real cluster,
// RBAC is enforced, CRDs and server-side apply work, but nothing reconciles.
// In particular namespaces get no "default" ServiceAccount (so the
// ServiceAccount admission plugin is disabled), deleted namespaces stay
// Terminating, pods are never scheduled and garbage collection never runs.
//
// The binaries are built by tools/testcluster/build.sh into
// ${MESHREADY_BIN_CACHE:-$HOME/.cache/meshready/bin}; MESHREADY_KUBE_APISERVER
// and MESHREADY_ETCD override the paths. When they are missing, Start and
// Shared skip the test, unless MESHREADY_REQUIRE_CLUSTER is set (CI), in
// which case the test fails.
//
// Typical use, one cluster per test package:
//
//	func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		c := testcluster.Shared(t)
//		ns := c.NewNamespace(t)
//		...
//	}
package testcluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Versions of the binaries this package expects. They must match
// tools/testcluster/go.mod and tools/testcluster/etcd/go.mod (a test checks).
const (
	KubeVersion = "v1.37.2"
	EtcdVersion = "v3.6.16"
)

// Environment variables read by this package.
const (
	EnvKubeAPIServer = "MESHREADY_KUBE_APISERVER"   // path to the kube-apiserver binary
	EnvEtcd          = "MESHREADY_ETCD"             // path to the etcd binary
	EnvBinCache      = "MESHREADY_BIN_CACHE"        // directory build.sh writes to
	EnvRequire       = "MESHREADY_REQUIRE_CLUSTER"  // non-empty: missing binaries fail instead of skip
	EnvKeep          = "MESHREADY_TESTCLUSTER_KEEP" // non-empty: keep the temp dir (logs, certs, etcd data) after Stop
)

// ServiceClusterIPRange is the service CIDR handed to kube-apiserver. It is
// only allocation data; nothing routes to it.
const ServiceClusterIPRange = "10.96.0.0/16"

// DefaultDisabledAdmissionPlugins are switched off because nothing in a
// controller-less test cluster serves webhooks, evaluates policies or
// creates the per-namespace "default" ServiceAccount.
var DefaultDisabledAdmissionPlugins = []string{
	"MutatingAdmissionWebhook",
	"ValidatingAdmissionWebhook",
	"ValidatingAdmissionPolicy",
	"MutatingAdmissionPolicy",
	"ServiceAccount",
}

// Options tune New. The zero value is what Start and Shared use.
type Options struct {
	// KubeAPIServer and Etcd are binary paths; empty means look them up
	// (see BinaryPaths).
	KubeAPIServer, Etcd string
	// DisableAdmissionPlugins replaces DefaultDisabledAdmissionPlugins when
	// non-nil.
	DisableAdmissionPlugins []string
	// ExtraAPIServerArgs are appended to the kube-apiserver command line
	// (e.g. "--feature-gates=..."); for scalar flags the last value wins.
	ExtraAPIServerArgs []string
	// StartTimeout bounds the whole startup; default 2 minutes.
	StartTimeout time.Duration
}

// Cluster is a running etcd + kube-apiserver pair.
type Cluster struct {
	dir        string
	host       string
	kubeconfig string
	pki        *pki
	config     *rest.Config
	clientset  *kubernetes.Clientset
	dynamic    *dynamic.DynamicClient
	mapper     *restmapper.DeferredDiscoveryRESTMapper

	etcd, apiserver *process
	stopOnce        sync.Once
}

// ErrBinaryMissing is wrapped by errors about binaries that are not built.
var ErrBinaryMissing = errors.New("test cluster binary missing")

// BinDir is the directory tools/testcluster/build.sh writes to.
func BinDir() string {
	if d := os.Getenv(EnvBinCache); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "meshready", "bin")
}

// BinaryPaths returns the kube-apiserver and etcd binaries to run: the
// environment overrides, else the build.sh cache. The error wraps
// ErrBinaryMissing when one of them does not exist.
func BinaryPaths() (kubeAPIServer, etcd string, err error) {
	kubeAPIServer, etcd = defaultBinaryPaths()
	return kubeAPIServer, etcd, checkBinaries(kubeAPIServer, etcd)
}

func defaultBinaryPaths() (kubeAPIServer, etcd string) {
	kubeAPIServer = os.Getenv(EnvKubeAPIServer)
	if kubeAPIServer == "" {
		kubeAPIServer = filepath.Join(BinDir(), "kube-apiserver-"+KubeVersion)
	}
	etcd = os.Getenv(EnvEtcd)
	if etcd == "" {
		etcd = filepath.Join(BinDir(), "etcd-"+EtcdVersion)
	}
	return kubeAPIServer, etcd
}

func checkBinaries(paths ...string) error {
	var missing []string
	for _, p := range paths {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s (run `bash tools/testcluster/build.sh`, or set %s/%s)",
			ErrBinaryMissing, strings.Join(missing, ", "), EnvKubeAPIServer, EnvEtcd)
	}
	return nil
}

// New starts etcd and kube-apiserver and waits until the API server is
// ready. The caller must call Stop.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	apiserver, etcd := defaultBinaryPaths()
	if opts.KubeAPIServer == "" {
		opts.KubeAPIServer = apiserver
	}
	if opts.Etcd == "" {
		opts.Etcd = etcd
	}
	if err := checkBinaries(opts.KubeAPIServer, opts.Etcd); err != nil {
		return nil, err
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	// Free ports are picked by binding :0 and releasing, so another process
	// can grab one in between; such a start is retried on fresh ports.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var c *Cluster
		c, err = start(ctx, opts)
		if err == nil {
			return c, nil
		}
		if !strings.Contains(err.Error(), "address already in use") || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	sweepStaleDirs()
	dir, err := os.MkdirTemp("", tempDirPrefix)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Stop() // the error already carries the log tails
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]

	if c.pki, err = newPKI(dir); err != nil {
		return nil, err
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	c.etcd, err = startProcess("etcd", dir, opts.Etcd, []string{
		"--name=testcluster",
		"--data-dir=" + filepath.Join(dir, "etcd-data"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=testcluster=" + peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync", // data is thrown away; fsync only slows tests down
		"--log-level=warn",
		// A single member elects itself after one election timeout; the
		// default (1s) would be most of etcd's startup time.
		"--heartbeat-interval=10",
		"--election-timeout=50",
	})
	if err != nil {
		return nil, err
	}
	if err := waitEtcd(ctx, c.etcd, etcdURL); err != nil {
		return nil, err
	}

	disabled := opts.DisableAdmissionPlugins
	if disabled == nil {
		disabled = DefaultDisabledAdmissionPlugins
	}
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + c.pki.servingCertFile,
		"--tls-private-key-file=" + c.pki.servingKeyFile,
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--client-ca-file=" + c.pki.caFile,
		"--service-account-key-file=" + c.pki.saPubFile,
		"--service-account-signing-key-file=" + c.pki.saKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--allow-privileged=true",
		"--profiling=false",
	}
	if len(disabled) > 0 {
		args = append(args, "--disable-admission-plugins="+strings.Join(disabled, ","))
	}
	args = append(args, opts.ExtraAPIServerArgs...)
	if c.apiserver, err = startProcess("kube-apiserver", dir, opts.KubeAPIServer, args); err != nil {
		return nil, err
	}

	c.host = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	c.config = &rest.Config{
		Host: c.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.pki.caCertPEM,
			CertData: c.pki.adminCertPEM,
			KeyData:  c.pki.adminKeyPEM,
		},
		// Tests issue bursts of requests; client-side throttling would only
		// add latency.
		QPS:   500,
		Burst: 1000,
	}
	if c.clientset, err = kubernetes.NewForConfig(c.config); err != nil {
		return nil, err
	}
	if c.dynamic, err = dynamic.NewForConfig(c.config); err != nil {
		return nil, err
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.clientset.Discovery()))

	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	if c.kubeconfig, err = c.writeKubeconfig(); err != nil {
		return nil, err
	}
	return c, nil
}

// waitEtcd polls etcd's /health endpoint.
func waitEtcd(ctx context.Context, p *process, url string) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return p.failure("etcd did not start")
		}
		select {
		case <-ctx.Done():
			return p.failure("etcd not healthy at %s: %v", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitReady polls /readyz, then waits for the "default" namespace, which
// the apiserver creates shortly after it first reports ready.
func (c *Cluster) waitReady(ctx context.Context) error {
	rc := c.clientset.Discovery().RESTClient()
	var last error
	for {
		body, err := rc.Get().AbsPath("/readyz").Timeout(5 * time.Second).DoRaw(ctx)
		if err == nil {
			_, err = c.clientset.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
			if err == nil {
				return nil
			}
		} else if len(body) > 0 {
			err = fmt.Errorf("%w: %s", err, body)
		}
		last = err
		if c.apiserver.exited() {
			return c.apiserver.failure("kube-apiserver did not start")
		}
		if c.etcd.exited() {
			return c.etcd.failure("etcd died while kube-apiserver was starting")
		}
		select {
		case <-ctx.Done():
			return c.apiserver.failure("kube-apiserver not ready at %s: %v (last: %v)", c.host, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) writeKubeconfig() (string, error) {
	b64 := base64.StdEncoding.EncodeToString
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testcluster
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: testcluster
  context:
    cluster: testcluster
    user: admin
current-context: testcluster
`, c.host, b64(c.pki.caCertPEM), b64(c.pki.adminCertPEM), b64(c.pki.adminKeyPEM))
	path := filepath.Join(c.dir, "kubeconfig")
	return path, os.WriteFile(path, []byte(kubeconfig), 0o600)
}

// Stop kills kube-apiserver and etcd and removes the temp dir (unless
// MESHREADY_TESTCLUSTER_KEEP is set). It is safe to call more than once.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	c.stopOnce.Do(func() {
		c.apiserver.stop()
		c.etcd.stop()
		if os.Getenv(EnvKeep) == "" {
			_ = os.RemoveAll(c.dir)
		} else {
			_ = os.Remove(filepath.Join(c.dir, ownerFile)) // not stale: kept on purpose
		}
	})
}

// Config returns a copy of the admin (system:masters) client config.
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Kubeconfig is the path of an admin kubeconfig file for the cluster.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Host is the API server URL, https://127.0.0.1:<port>.
func (c *Cluster) Host() string { return c.host }

// CAData is the PEM CA bundle that verifies the API server.
func (c *Cluster) CAData() []byte { return append([]byte(nil), c.pki.caCertPEM...) }

// Dir is the cluster's temp dir; etcd.log and kube-apiserver.log are there.
func (c *Cluster) Dir() string { return c.dir }

// Clientset is an admin typed client.
func (c *Cluster) Clientset() kubernetes.Interface { return c.clientset }

// Dynamic is an admin dynamic client.
func (c *Cluster) Dynamic() dynamic.Interface { return c.dynamic }

// Mapper is a discovery-backed RESTMapper; Apply and InstallIstioCRDs
// reset it when they add CRDs.
func (c *Cluster) Mapper() meta.ResettableRESTMapper { return c.mapper }

// Logs returns the last n lines of the etcd and kube-apiserver logs.
func (c *Cluster) Logs(n int) string {
	return fmt.Sprintf("--- etcd (%s)\n%s\n--- kube-apiserver (%s)\n%s\n",
		c.etcd.logPath, c.etcd.tail(n), c.apiserver.logPath, c.apiserver.tail(n))
}

// ConfigForToken returns a client config that authenticates with a bearer
// token (see TokenFor) instead of the admin certificate.
func (c *Cluster) ConfigForToken(token string) *rest.Config {
	return &rest.Config{
		Host:            c.host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData()},
		QPS:             c.config.QPS,
		Burst:           c.config.Burst,
	}
}

const (
	tempDirPrefix = "meshready-testcluster-"
	ownerFile     = "owner.pid" // pid of the test process that made the dir
)

// sweepStaleDirs removes temp dirs (about 125 MB each, mostly etcd's
// preallocated WAL) left by test processes that died without Stop. Their
// children died with them (see sysProcAttr).
func sweepStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // being created, or not ours
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 && !processAlive(pid) {
			_ = os.RemoveAll(d)
		}
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
