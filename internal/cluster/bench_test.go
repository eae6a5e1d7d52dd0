package cluster_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshready/meshready/internal/cli"
	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/cluster/kubesim"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/meshgen"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/testcluster"
)

// createAll creates objects with the admin dynamic client, workers at a
// time (Apply is one at a time: too slow for tens of thousands).
// Namespaces go first.
func createAll(ctx context.Context, c *testcluster.Cluster, objs []*unstructured.Unstructured, workers int) error {
	var first, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	for _, batch := range [][]*unstructured.Unstructured{first, rest} {
		var next atomic.Int64
		var wg sync.WaitGroup
		var once sync.Once
		var ferr error
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(batch) {
						return
					}
					o := batch[i]
					gvk := o.GroupVersionKind()
					m, err := c.Mapper().RESTMapping(gvk.GroupKind(), gvk.Version)
					if err == nil {
						ri := c.Dynamic().Resource(m.Resource)
						if m.Scope.Name() == meta.RESTScopeNameNamespace {
							_, err = ri.Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{})
						} else {
							_, err = ri.Create(ctx, o, metav1.CreateOptions{})
						}
					}
					if err != nil && !apierrors.IsAlreadyExists(err) {
						once.Do(func() { ferr = err })
						return
					}
				}
			}()
		}
		wg.Wait()
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// benchKubeconfigEnv names the kubeconfig of a cluster already holding
// the 5,000-service mesh (as liveMesh5000 builds it, kept running by
// another process), so that BenchmarkLiveLoad5000 can be repeated, and
// variants compared, without ten minutes of setup each time.
const benchKubeconfigEnv = "MESHREADY_BENCH_KUBECONFIG"

const liveServices = 5000

// liveMesh5000 returns the kubeconfig of a test API server holding the
// generated 5,000-service mesh, and the directory of its manifests and
// meshready.yaml.
func liveMesh5000(b testing.TB) (kubeconfig, dir string) {
	dir = b.TempDir()
	if _, err := meshgen.Write(dir, meshgen.Options{Services: liveServices}); err != nil {
		b.Fatal(err)
	}
	if kc := os.Getenv(benchKubeconfigEnv); kc != "" {
		return kc, dir
	}
	c := testcluster.Start(b)
	ctx := context.Background()
	begin := time.Now()
	if err := c.InstallIstioCRDs(ctx); err != nil {
		b.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if filepath.Base(f) == config.FileName {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		docs, err := testcluster.DecodeYAML(data)
		if err != nil {
			b.Fatal(err)
		}
		objs = append(objs, docs...)
	}
	if err := createAll(ctx, c, objs, 32); err != nil {
		b.Fatalf("creating the mesh: %v", err)
	}
	created := time.Since(begin)
	stats, err := kubesim.Run(ctx, c.Clientset(), kubesim.Options{Workers: 32})
	if err != nil {
		b.Fatalf("simulating kubelets and controllers: %v", err)
	}
	b.Logf("mesh of %d services: %d manifest objects created in %v; %+v in %v more",
		liveServices, len(objs), created.Round(time.Second), *stats, (time.Since(begin) - created).Round(time.Second))
	return c.Kubeconfig(), dir
}

// BenchmarkLiveLoad5000 loads the generated 5,000-service mesh (meshgen:
// 20 namespaces; per service a Deployment of 2 replicas, a Service, a
// VirtualService, a DestinationRule and an AuthorizationPolicy), with the
// ReplicaSets, injected Pods and EndpointSlices controllers would add,
// into a test API server, then measures:
//
//	load:  cluster.Load of the kinds the checks read (objects/s)
//	check: the whole `meshready check` against the cluster, in process
//
// Setting up the mesh takes a few minutes; run it alone:
//
//	go test ./internal/cluster -run '^$' -bench LiveLoad5000 -benchtime 5x
//
// or set MESHREADY_BENCH_KUBECONFIG to a cluster that holds the mesh.
func BenchmarkLiveLoad5000(b *testing.B) {
	if testing.Short() {
		b.Skip("sets up a 5,000-service mesh")
	}
	kubeconfig, dir := liveMesh5000(b)
	ctx := context.Background()
	const services = liveServices
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		b.Fatal(err)
	}
	kinds := registryKinds()

	b.Run("load", func(b *testing.B) {
		var objects int
		var last *cluster.Result
		cpu0 := selfCPU()
		for b.Loop() {
			res, err := cluster.Load(ctx, cluster.Options{Kubeconfig: kubeconfig, Kinds: kinds, ControlPlaneNamespace: cfg.ControlPlaneNamespace})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.KindErrors) > 0 {
				b.Fatalf("kind errors: %v", res.KindErrors)
			}
			objects += res.Stats.Objects
			last = res
		}
		// The API server runs on the same cores: the client's share of
		// the CPU says how much of a load is meshready's own work.
		b.ReportMetric((selfCPU()-cpu0).Seconds()/float64(b.N), "client-CPU-s/op")
		b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "objects/s")
		b.ReportMetric(float64(last.Stats.Objects), "objects/op")
		b.ReportMetric(float64(last.Stats.Requests), "requests/op")
		if n := len(last.Stats.Kinds); n > 0 {
			var parts []string
			for _, k := range last.Stats.Kinds {
				if k.Objects > 0 {
					parts = append(parts, k.Key+"="+strconv.Itoa(k.Objects)+"/"+k.Duration.Round(time.Millisecond).String())
				}
			}
			b.Logf("last load: %d objects in %v: %s", last.Stats.Objects, last.Stats.Duration.Round(time.Millisecond), strings.Join(parts, " "))
		}
		if snap := last.Snapshot(); len(snap.List(snapshot.Pod)) < 2*services {
			b.Errorf("%d pods loaded, want at least %d", len(snap.List(snapshot.Pod)), 2*services)
		}
	})

	b.Run("check", func(b *testing.B) {
		out := filepath.Join(b.TempDir(), "report.json")
		args := []string{"check", "--kubeconfig", kubeconfig, "--config", filepath.Join(dir, config.FileName), "-o", "json=" + out}
		for b.Loop() {
			var stdout, stderr bytes.Buffer
			code := cli.Main(args, cli.IO{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
			if code != 0 && code != 3 {
				b.Fatalf("meshready check exited %d: %s", code, stderr.String())
			}
		}
	})

	// process: `meshready check --kubeconfig ... -o json=FILE` as a user
	// runs it, reporting its CPU time and peak RSS besides the wall time.
	// process-gogc100 runs it with the Go runtime's default GOGC, which
	// live mode otherwise raises to 200 (cli.liveGC): the memory-for-CPU
	// trade, measured side by side.
	bin := filepath.Join(b.TempDir(), "meshready")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/meshready").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, v := range []struct{ name, env string }{{"process", ""}, {"process-gogc100", "GOGC=100"}} {
		b.Run(v.name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "report.json")
			var cpu time.Duration
			var maxRSS int64
			for b.Loop() {
				// A child's peak RSS counts its parent's RSS at the fork
				// (before exec): give back what the benchmarks before
				// this one left, so that the figure is meshready's.
				debug.FreeOSMemory()
				cmd := exec.Command(bin, "check", "--kubeconfig", kubeconfig, "--config", filepath.Join(dir, config.FileName), "-o", "json="+out)
				if v.env != "" {
					cmd.Env = append(os.Environ(), v.env)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				// Exit 3 (not ready) is a verdict, not a failure.
				if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 3) {
					b.Fatalf("meshready check: %v: %s", err, stderr.String())
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > maxRSS {
					maxRSS = ru.Maxrss // KiB on Linux
				}
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N), "CPU-s/op")
			b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MB")
		})
	}
}

// selfCPU is the CPU time this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
