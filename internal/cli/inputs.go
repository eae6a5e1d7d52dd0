package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

// inputOptions say where a command reads the mesh from: manifest paths, as
// `meshready check` reads them, or, with none, the cluster of the
// kubeconfig context.
type inputOptions struct {
	Paths      []string
	ConfigPath string
	Kubeconfig string
	Context    string
	// Kinds are the kind keys to list from a cluster.
	Kinds   []string
	Timeout time.Duration
}

// live reports whether the inputs are a cluster.
func (o *inputOptions) live() bool { return len(o.Paths) == 0 }

// loadInputs reads meshready.yaml (--config, else beside the first path,
// else the defaults) and the mesh's objects. Input documents that could not
// be read are said on stderr; the rest is used.
func loadInputs(ctx context.Context, io IO, o *inputOptions) (*config.Config, *snapshot.Snapshot, error) {
	cfg, err := loadConfig(o.ConfigPath, o.Paths)
	if err != nil {
		return nil, nil, exitcode.Usagef(err)
	}
	var snap *snapshot.Snapshot
	if o.live() {
		res, err := cluster.Load(ctx, cluster.Options{
			Kubeconfig: o.Kubeconfig, Context: o.Context, Kinds: o.Kinds,
			ControlPlaneNamespace: cfg.ControlPlaneNamespace, Timeout: o.Timeout,
		})
		if err != nil {
			if errors.Is(err, cluster.ErrConfig) {
				return nil, nil, exitcode.Usagef(err)
			}
			return nil, nil, err
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(io.Err, "meshready: warning:", w)
		}
		snap = res.Snapshot()
		for k, e := range snap.KindErrors {
			fmt.Fprintf(io.Err, "meshready: warning: cannot read %s: %s\n", k, e.Message)
		}
	} else {
		objs, inputErrs, err := loader.Load(o.Paths, io.In)
		if err != nil {
			return nil, nil, exitcode.Usagef(err)
		}
		objs, inputErrs = dropOwnFiles(cfg, objs, inputErrs)
		snap = snapshot.New(objs)
		snap.InputErrors = inputErrs
	}
	for _, e := range snap.InputErrors {
		fmt.Fprintln(io.Err, "meshready: warning: input:", e.Error())
	}
	return cfg, snap, nil
}
