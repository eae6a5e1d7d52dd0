// Package bench measures the whole meshready process on generated meshes:
//
//	go test ./bench -run '^$' -bench . -benchtime 5x
//
// Each benchmark builds cmd/meshready once, generates a mesh with
// internal/meshgen, and runs `meshready check DIR -o json` as a user would,
// reporting wall time per run, CPU time per run, peak RSS (MB) and objects
// evaluated per second.
package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/meshgen"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meshready-bench")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "meshready")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/meshready").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

// benchCheck runs the whole process on a generated mesh. critical is the
// number of services meshready.yaml names critical; 0 leaves the strict
// default, where every Service is critical and gets its six service.S.* items.
func benchCheck(b *testing.B, services, critical int) {
	bin := binary(b)
	dir := b.TempDir()
	size, err := meshgen.Write(dir, meshgen.Options{Services: services, DefectRate: 0.01, CriticalNamed: critical})
	if err != nil {
		b.Fatal(err)
	}
	objects := services * 5
	b.SetBytes(size)
	b.ResetTimer()
	var maxRSS int64
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "check", dir, "-o", "json")
		cmd.Stdout = io.Discard
		err := cmd.Run()
		// Exit 3 (not ready) is the expected verdict: the mesh has defects.
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 3) {
			b.Fatalf("meshready check: %v", err)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > maxRSS {
			maxRSS = ru.Maxrss // KiB on Linux
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MB")
	// On two cores the CPU time exceeds the wall time: the loader and
	// the engine run in parallel.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "CPU-s/op")
	b.ReportMetric(float64(objects)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

// A platform names its critical services (DevMentor names three); ten here.
func BenchmarkCheckFiles1k(b *testing.B)  { benchCheck(b, 1000, 10) }
func BenchmarkCheckFiles5k(b *testing.B)  { benchCheck(b, 5000, 10) }
func BenchmarkCheckFiles20k(b *testing.B) { benchCheck(b, 20000, 10) }

// The strict default: no critical services named, so all 5,000 are, and the
// report carries 30,000 per-service items.
func BenchmarkCheckFiles5kAllCritical(b *testing.B) { benchCheck(b, 5000, 0) }
