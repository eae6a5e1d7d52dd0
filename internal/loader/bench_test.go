package loader

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared machine it
// varies less than the wall clock. The benchmarks report it per operation
// as cpu-ms/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func TestLoadGeneratedSmoke(t *testing.T) {
	data := genManifests(200)
	objs, errs := LoadBytes("gen.yaml", data)
	for _, e := range errs {
		t.Errorf("unexpected error: %v", e)
	}
	if len(objs) != 1000 {
		t.Fatalf("got %d objects, want 1000", len(objs))
	}
	for _, o := range objs {
		if o.Typed == nil {
			t.Errorf("%s at %s: not typed", o.ID(), o.Origin)
		}
	}
	// The generated documents must all take the fast parser.
	if fast, total := compareWithYAMLv3(t, string(genManifests(5)), false); fast != total {
		t.Errorf("fast parser took %d of %d chunks", fast, total)
	}
}

// TestLoadMemory reports the heap of one load of 5,000 services; run it
// alone under /usr/bin/time -v for the peak RSS:
// MESHREADY_LOADER_MEM=1 go test -run TestLoadMemory -v ./internal/loader
func TestLoadMemory(t *testing.T) {
	if os.Getenv("MESHREADY_LOADER_MEM") == "" {
		t.Skip("set MESHREADY_LOADER_MEM=1")
	}
	data := genManifests(5000)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start, cpu := time.Now(), cpuTime()
	objs, errs := LoadBytes("gen.yaml", data)
	wall, cpuUsed := time.Since(start), cpuTime()-cpu
	runtime.ReadMemStats(&after)
	runtime.GC()
	var live runtime.MemStats
	runtime.ReadMemStats(&live)
	t.Logf("%d bytes -> %d objects, %d errors in %v (cpu %v); allocated %d MB, heap peak-ish %d MB, live after GC %d MB",
		len(data), len(objs), len(errs), wall, cpuUsed, (after.TotalAlloc-before.TotalAlloc)>>20, after.HeapSys>>20, (live.HeapAlloc-before.HeapAlloc)>>20)
	runtime.KeepAlive(objs)
}

// BenchmarkLoad reads 5,000 generated services (25,000 objects, ~8.5 MB).
func BenchmarkLoad(b *testing.B) {
	data := genManifests(5000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	defer reportCPU(b, start)
	for i := 0; i < b.N; i++ {
		objs, errs := LoadBytes("gen.yaml", data)
		if len(objs) != 25000 || len(errs) != 0 {
			b.Fatalf("%d objects, %d errors", len(objs), len(errs))
		}
	}
}

// BenchmarkLoadReference reads the same input through decodeSlow, the
// YAML -> JSON -> map -> typed (jsonpb for Istio specs) path.
func BenchmarkLoadReference(b *testing.B) {
	data := genManifests(5000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	defer reportCPU(b, start)
	for i := 0; i < b.N; i++ {
		objs, err := decodeSlow(data, false)
		if err != nil || len(objs) != 25000 {
			b.Fatalf("%d objects, %v", len(objs), err)
		}
	}
}

// BenchmarkLoadList reads the same objects as one List document.
func BenchmarkLoadList(b *testing.B) {
	data := genList(5000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	defer reportCPU(b, start)
	for i := 0; i < b.N; i++ {
		objs, errs := LoadBytes("list.yaml", data)
		if len(objs) != 25000 || len(errs) != 0 {
			b.Fatalf("%d objects, %d errors", len(objs), len(errs))
		}
	}
}
