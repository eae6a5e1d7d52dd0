package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/export"
)

// ExportOptions are the flags of `meshready export`.
type ExportOptions struct {
	Dir             string
	Inputs          inputOptions
	Overwrite       bool
	AllowIncomplete bool
}

func newExportCmd(io IO) *cobra.Command {
	o := &ExportOptions{}
	cmd := &cobra.Command{
		Use:   "export DIR [PATH...]",
		Short: "Write the mesh configuration as clean manifests that kubectl apply -f DIR restores",
		Long: `Write the mesh configuration, read from manifest files (PATH..., - for stdin) or,
with no PATH, from the cluster of the kubeconfig context, into DIR: Istio's
objects of every kind (and the Gateway API's), the mesh config and sidecar
injector ConfigMaps, Istio's injection webhooks and revision tags, the
gateways' workloads, Services, ServiceAccounts, autoscalers and disruption
budgets, and the Namespaces with their injection labels.

Objects are written without what the API server sets (status, managedFields,
resourceVersion, uid, creationTimestamp, generation, owner references,
kubectl's last-applied annotation, allocated cluster IPs, webhook CA bundles),
one file per kind and namespace, named so that kubectl apply -f DIR applies
them in a safe order. DIR/install/ holds the IstioOperator that reinstalls
istiod as configured (istioctl input; kubectl apply -f does not read it).

Secrets are never exported: DIR/README.txt lists the ones the configuration
uses, to be restored from their own source.

DIR must be new or empty; --overwrite replaces a previous export (as a whole:
a stale file would be applied with the rest).`,
		Example: `  meshready export mesh-export examples/devmentor
  meshready export mesh-export-$(date +%F) --context prod   # from the cluster
  kubectl apply -f mesh-export                               # restore`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Dir, o.Inputs.Paths = args[0], args[1:]
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return RunExport(ctx, io, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Inputs.ConfigPath, "config", "", "path of meshready.yaml")
	f.BoolVar(&o.Overwrite, "overwrite", false, "replace a previous export in DIR")
	f.BoolVar(&o.AllowIncomplete, "allow-incomplete", false, "write the export even if some objects' content could not be read (README.txt lists them)")
	f.StringVar(&o.Inputs.Kubeconfig, "kubeconfig", "", "kubeconfig file, with no PATH (default $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&o.Inputs.Context, "context", "", "kubeconfig context, with no PATH (default the current one)")
	f.DurationVar(&o.Inputs.Timeout, "timeout", time.Minute, "bound on reading the cluster")
	return cmd
}

// RunExport runs `meshready export`.
func RunExport(ctx context.Context, io IO, o *ExportOptions) error {
	if strings.TrimSpace(o.Dir) == "" || o.Dir == "-" {
		return exitcode.Usagef(errors.New("give the directory to write the export to: meshready export DIR [PATH...]"))
	}
	o.Inputs.Kinds = export.Kinds()
	cfg, snap, err := loadInputs(ctx, io, &o.Inputs)
	if err != nil {
		return err
	}
	raw := export.FileRaw()
	e, err := export.Build(snap, export.Options{Config: cfg, Raw: raw})
	if err != nil {
		return err
	}
	if len(e.Incomplete) > 0 {
		for _, p := range e.Incomplete {
			fmt.Fprintf(io.Err, "meshready: cannot export %s: %s\n", p.Object, p.Reason)
		}
		if !o.AllowIncomplete {
			return fmt.Errorf("%d object(s) could not be exported, so the export would not restore the mesh; nothing was written (--allow-incomplete writes the rest and says so in README.txt)", len(e.Incomplete))
		}
	}
	if err := e.Write(o.Dir, o.Overwrite); err != nil {
		if errors.Is(err, export.ErrExists) || strings.Contains(err.Error(), "--overwrite") {
			return exitcode.Usagef(err)
		}
		return err
	}
	files := len(e.Files)
	fmt.Fprintf(io.Out, "Exported %d objects in %d files to %s", e.Count(), files, o.Dir)
	if len(e.Installs) > 0 {
		var names []string
		for _, in := range e.Installs {
			names = append(names, in.Name)
		}
		fmt.Fprintf(io.Out, ", and %s for istioctl", strings.Join(names, ", "))
	}
	fmt.Fprintln(io.Out, ".")
	if len(e.Secrets) > 0 {
		var names []string
		for _, s := range e.Secrets {
			names = append(names, s.Namespace+"/"+s.Name)
		}
		fmt.Fprintf(io.Out, "Secrets used but NOT exported (restore them from their own source): %s\n", strings.Join(names, ", "))
	}
	if len(e.MissingNamespaces) > 0 {
		fmt.Fprintf(io.Out, "Namespaces without a Namespace object in the inputs (create them before applying): %s\n", strings.Join(e.MissingNamespaces, ", "))
	}
	if len(e.Incomplete) > 0 {
		fmt.Fprintf(io.Out, "INCOMPLETE: %d object(s) could not be exported (listed in %s/README.txt).\n", len(e.Incomplete), o.Dir)
	}
	fmt.Fprintf(io.Out, "See %s/%s. Restore with: kubectl apply -f %s\n", o.Dir, export.ReadmeName, o.Dir)
	return nil
}
