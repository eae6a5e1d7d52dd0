// Command meshready tells whether an Istio service mesh is ready for launch.
package main

import (
	"os"

	"github.com/meshready/meshready/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], cli.StdIO())) }
