package testcluster

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// Start starts a cluster for one test and stops it in t.Cleanup. Missing
// binaries skip the test unless MESHREADY_REQUIRE_CLUSTER is set. Prefer
// Shared when several tests in a package need a cluster: startup costs a
// few seconds.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with Options, e.g. extra kube-apiserver flags.
func StartWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	begin := time.Now()
	c, err := New(context.Background(), opts)
	if err != nil {
		failOrSkip(t, err)
	}
	t.Logf("testcluster: kube-apiserver %s ready at %s in %v", KubeVersion, c.Host(), time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testcluster logs:\n%s", c.Logs(30))
		}
		c.Stop()
	})
	return c
}

var shared struct {
	sync.Mutex
	inMain  bool // Main is running the tests
	started bool
	c       *Cluster
	err     error
}

// Shared returns the cluster shared by all tests of the package, starting
// it on first use. The package must stop it via TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
//
// Tests sharing a cluster should keep to their own namespaces
// (NewNamespace) and not change cluster-scoped state they did not create.
// If startup failed once, every later call fails (or skips) the same way.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.inMain {
		t.Fatal("testcluster.Shared needs `func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }` " +
			"in the test package, so the shared cluster is stopped; or use testcluster.Start")
	}
	if !shared.started {
		shared.started = true
		begin := time.Now()
		shared.c, shared.err = New(context.Background(), Options{})
		if shared.err == nil {
			t.Logf("testcluster: shared kube-apiserver %s ready at %s in %v", KubeVersion, shared.c.Host(), time.Since(begin).Round(time.Millisecond))
		}
	}
	if shared.err != nil {
		failOrSkip(t, shared.err)
	}
	c := shared.c
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testcluster logs:\n%s", c.Logs(30))
		}
	})
	return c
}

// Main runs the tests and then stops the shared cluster, if one was
// started. Use it as os.Exit(testcluster.Main(m)) in TestMain.
func Main(m *testing.M) int {
	shared.Lock()
	shared.inMain = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	shared.c.Stop()
	shared.c, shared.err, shared.started, shared.inMain = nil, nil, false, false
	return code
}

func failOrSkip(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrBinaryMissing) && os.Getenv(EnvRequire) == "" {
		t.Skipf("%v; set %s=1 to fail instead of skip", err, EnvRequire)
	}
	t.Fatalf("testcluster: %v", err)
}
