// Command meshgen writes a synthetic mesh for benchmarks:
//
//	go run ./cmd/meshgen -services 5000 -out /tmp/mesh5k
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/meshready/meshready/internal/meshgen"
)

func main() {
	var o meshgen.Options
	out := flag.String("out", "", "directory to write (required)")
	flag.IntVar(&o.Services, "services", 1000, "number of services")
	flag.IntVar(&o.Namespaces, "namespaces", 0, "namespaces (default services/250)")
	flag.Float64Var(&o.DefectRate, "defects", 0.01, "share of services with injected defects")
	flag.IntVar(&o.CriticalNamed, "critical", 0, "services named critical in meshready.yaml (0: every Service is critical)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "meshgen: -out is required")
		os.Exit(2)
	}
	n, err := meshgen.Write(*out, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshgen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d services, %.1f MB to %s\n", o.Services, float64(n)/1e6, *out)
}
