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
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/rollback"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
)

func newRollbackCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Decide a rollback (evaluate the triggers) and print the steps to roll the mesh back",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRollbackCheckCmd(io), newRollbackPlanCmd(io))
	return cmd
}

// RollbackCheckOptions are the flags of `meshready rollback check`.
type RollbackCheckOptions struct {
	ConfigPath string
	Prometheus telemetry.Options
	// Kubeconfig and Context pick the cluster --prometheus auto searches.
	Kubeconfig, Context string
	Step                time.Duration
	Output              string
	Now                 time.Time // fixed clock for tests; zero means now
}

func newRollbackCheckCmd(io IO) *cobra.Command {
	o := &RollbackCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check --prometheus URL",
		Short: "Evaluate the rollback triggers now: exit 0 hold, 3 roll back",
		Long: `Evaluate every rollback trigger of meshready.yaml (rollback.triggers: name,
PromQL query, op, threshold, for) against Prometheus, now. A trigger fires
when its query's value compared with the threshold holds, and, with a for
duration, held at every step of the window [now-for, now] (as an alert rule's
for does). Each trigger's value, threshold, query and verdict are printed.

A query that returns no series fires nothing (as with an alert rule); write
"or vector(0)" in the query if absence must count.

--prometheus auto uses the Prometheus Service found in the cluster of the
kubeconfig context (--kubeconfig, --context): through the API server's
service proxy with the kubeconfig's credentials, or directly in a pod.
The Service chosen is printed on stderr.

Exit codes: 0 hold (no trigger fired), 3 roll back (a trigger fired, even if
another could not be evaluated), 1 Prometheus could not answer (the message
says why), 2 usage or config error.`,
		Example: `  meshready rollback check --prometheus http://prometheus.monitoring:9090
  meshready rollback check --prometheus https://prom.example.com --prometheus-token-file token -o json
  meshready rollback check --prometheus auto --context prod`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return RunRollbackCheck(ctx, io, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", "", "path of meshready.yaml (default ./meshready.yaml)")
	f.StringVar(&o.Prometheus.Prometheus, "prometheus", "", "Prometheus base URL, e.g. http://prometheus.monitoring:9090 (user:password@ in it is basic auth), or auto to use the Prometheus Service found in the cluster")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file, for --prometheus auto (default $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&o.Context, "context", "", "kubeconfig context, for --prometheus auto (default the current one)")
	f.StringVar(&o.Prometheus.PrometheusTokenFile, "prometheus-token-file", "", "file holding a bearer token for Prometheus (read for every request)")
	f.StringVar(&o.Prometheus.PrometheusBasicAuthFile, "prometheus-basic-auth-file", "", "file holding one line user:password for Prometheus")
	f.StringVar(&o.Prometheus.PrometheusCAFile, "prometheus-ca", "", "PEM bundle of the CA that signed Prometheus' certificate")
	f.DurationVar(&o.Prometheus.Timeout, "telemetry-timeout", telemetry.DefaultTimeout, "bound on each request to Prometheus")
	f.DurationVar(&o.Step, "step", 0, "step of the for window (default: the window / 30, at least 15s)")
	f.StringVarP(&o.Output, "output", "o", "text", "text or json")
	return cmd
}

// RunRollbackCheck runs `meshready rollback check`.
func RunRollbackCheck(ctx context.Context, io IO, o *RollbackCheckOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return exitcode.Usagef(fmt.Errorf("-o %q: want text or json", o.Output))
	}
	if o.Prometheus.Prometheus == "" {
		return exitcode.Usagef(errors.New("--prometheus URL (or --prometheus auto) is required: the triggers are PromQL queries"))
	}
	cfg, err := loadConfig(o.ConfigPath, []string{"."})
	if err != nil {
		return exitcode.Usagef(err)
	}
	if len(cfg.Rollback.Triggers) == 0 {
		where := "the default configuration (no meshready.yaml here; give --config)"
		if cfg.Path != "" {
			where = cfg.Path
		}
		return exitcode.Usagef(fmt.Errorf("no rollback triggers in %s: define rollback.triggers (name, query, op, threshold, for)", where))
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	popts := o.Prometheus
	popts.Time = now
	if missing, err := findPrometheus(ctx, io, &popts, o.Kubeconfig, o.Context, popts.Timeout); err != nil {
		return err
	} else if missing != "" {
		return fmt.Errorf("cannot evaluate the rollback triggers: %s", missing)
	}
	client, err := telemetry.New(popts)
	if err != nil {
		return exitcode.Usagef(err)
	}
	rep := rollback.Evaluate(ctx, rollback.FromTelemetry(client), cfg.Rollback.Triggers,
		rollback.Options{Prometheus: client.PrometheusURL(), Now: now, Step: o.Step})
	if o.Output == "json" {
		err = rep.WriteJSON(io.Out)
	} else {
		err = rep.WriteText(io.Out)
	}
	if err != nil {
		return err
	}
	switch rep.Verdict {
	case rollback.RollBack:
		return &exitcode.NotReadyError{}
	case rollback.Failed:
		for _, r := range rep.Results {
			if r.Verdict == rollback.Failed {
				return fmt.Errorf("cannot evaluate the rollback triggers: %s", r.Message)
			}
		}
	}
	return nil
}

// RollbackPlanOptions are the flags of `meshready rollback plan`.
type RollbackPlanOptions struct {
	Inputs     inputOptions
	Output     string
	ExportDir  string
	ToRevision string
	ToVersion  string
}

func newRollbackPlanCmd(io IO) *cobra.Command {
	o := &RollbackPlanOptions{}
	cmd := &cobra.Command{
		Use:   "plan [PATH... | live]",
		Short: "Print the ordered steps that roll the mesh back, each with its verification",
		Long: `Print the ordered, copy-pasteable steps that roll the mesh back from its current
state, read from manifest files (PATH...) or from the cluster of the
kubeconfig context (live, or no PATH): preserve the failed state, move the
revision tags back to the previous revision (or reinstall the previous Istio
version when only one revision runs), restore the configuration from the
export taken before the change (meshready export), set the namespaces'
injection labels, restart the injected workloads (the services others call
before their callers, the gateways last), and verify. Each step has the
commands that verify it and what they must show.

Revisions, tags, namespaces, workloads and restart timeouts come from the
state read; --export-dir names the export to restore and, when it exists,
gives the version and labels to return to and the objects created since
(which kubectl apply does not delete).

-o markdown prints it for a runbook.`,
		Example: `  meshready rollback plan examples/devmentor --export-dir mesh-export
  meshready rollback plan live --to-revision 1-30-5 -o markdown > rollback.md`,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "live" {
				args = nil
			}
			o.Inputs.Paths = args
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return RunRollbackPlan(ctx, io, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Inputs.ConfigPath, "config", "", "path of meshready.yaml")
	f.StringVarP(&o.Output, "output", "o", "text", strings.Join(rollback.PlanFormats, " or "))
	f.StringVar(&o.ExportDir, "export-dir", "mesh-export", "the export taken before the change (meshready export), to restore")
	f.StringVar(&o.ToRevision, "to-revision", "", "the istiod revision to roll back to (default: the newest older than the current one)")
	f.StringVar(&o.ToVersion, "to-version", "", "the Istio version to reinstall when only one revision runs (default: the export's)")
	f.StringVar(&o.Inputs.Kubeconfig, "kubeconfig", "", "kubeconfig file, for live (default $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&o.Inputs.Context, "context", "", "kubeconfig context, for live (default the current one)")
	f.DurationVar(&o.Inputs.Timeout, "timeout", time.Minute, "bound on reading the cluster")
	return cmd
}

// RunRollbackPlan runs `meshready rollback plan`.
func RunRollbackPlan(ctx context.Context, io IO, o *RollbackPlanOptions) error {
	if o.Output != "text" && o.Output != "markdown" {
		return exitcode.Usagef(fmt.Errorf("-o %q: want %s", o.Output, strings.Join(rollback.PlanFormats, " or ")))
	}
	o.Inputs.Kinds = export.Kinds()
	cfg, snap, err := loadInputs(ctx, io, &o.Inputs)
	if err != nil {
		return err
	}
	var target *snapshot.Snapshot
	if st, err := os.Stat(o.ExportDir); err == nil && st.IsDir() {
		objs, errs, err := loader.Load([]string{o.ExportDir}, nil)
		if err != nil {
			return exitcode.Usagef(fmt.Errorf("--export-dir: %w", err))
		}
		for _, e := range errs {
			fmt.Fprintln(io.Err, "meshready: warning: export:", e.Error())
		}
		target = snapshot.New(objs)
	}
	var checkFlags []string
	if o.Inputs.live() {
		if o.Inputs.Kubeconfig != "" {
			checkFlags = append(checkFlags, "--kubeconfig", o.Inputs.Kubeconfig)
		}
		if o.Inputs.Context != "" {
			checkFlags = append(checkFlags, "--context", o.Inputs.Context)
		}
	}
	p, err := rollback.BuildPlan(snap, rollback.PlanOptions{
		Config: cfg, Inputs: o.Inputs.Paths, ConfigPath: o.Inputs.ConfigPath, CheckFlags: checkFlags,
		ExportDir: o.ExportDir, Target: target, ToRevision: o.ToRevision, ToVersion: o.ToVersion,
	})
	if err != nil {
		return exitcode.Usagef(err)
	}
	if o.Output == "markdown" {
		return p.WriteMarkdown(io.Out)
	}
	return p.WriteText(io.Out)
}
