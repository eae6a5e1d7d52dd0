package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/render"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/rules"
	"github.com/meshready/meshready/internal/snapshot"
	"github.com/meshready/meshready/internal/telemetry"
	"github.com/meshready/meshready/internal/version"
)

// CheckOptions are the flags of `meshready check`.
type CheckOptions struct {
	Paths      []string
	ConfigPath string
	Outputs    []string // FORMAT or FORMAT=PATH
	Only, Skip []string
	FailOn     string // "" (blockers) or "warn"
	NoColor    bool
	Verbose    bool
	Now        time.Time // fixed clock for tests; zero means now
	CPUProfile string    // hidden: write a CPU profile (for performance work)
	// Telemetry: the Prometheus, Grafana, Jaeger and Kiali APIs (--prometheus ...).
	Telemetry telemetry.Options

	// Live mode: with no paths, the cluster of the kubeconfig context is
	// evaluated; with paths and any of these, the files are laid over it.
	Kubeconfig, Context string
	Live                bool
	Timeout             time.Duration
	// Store says where the attestations are (--store configmap reads them
	// from the cluster of Kubeconfig/Context, with one GET).
	Store StoreFlags
}

// live reports whether the check reads a cluster.
func (o *CheckOptions) live() bool {
	return len(o.Paths) == 0 || o.Live || o.Kubeconfig != "" || o.Context != ""
}

func newCheckCmd(io IO) *cobra.Command {
	o := &CheckOptions{}
	cmd := &cobra.Command{
		Use:   "check [PATH...]",
		Short: "Evaluate the whole checklist over a live cluster or manifest files (- for stdin)",
		Long: `Evaluate every item of the beta-readiness checklist over the YAML/JSON manifests
the mesh is deployed from (files and directories, recursively; - reads stdin),
or, with no path, over the cluster of the current kubeconfig context
(--kubeconfig, --context; in a pod, its in-cluster configuration). Paths given
with --live, --kubeconfig or --context are laid over the live cluster: each
file object replaces the live one of the same kind, namespace and name, as if
applied. The live parts of the checklist are evaluated only against a cluster.

meshready.yaml is read from --config, or else from the first directory given
(or the directory of the first file).

Output formats: ` + strings.Join(render.Formats(), ", ") + `. -o may be repeated,
and FORMAT=PATH writes that format to a file: -o text -o json=report.json -o html=report.html`,
		Example: `  meshready check                                   # the current kubeconfig context
  meshready check --context prod -o json=report.json
  meshready check --live ./changed-manifests         # what if these were applied
  meshready check examples/devmentor
  meshready check ./manifests -o json=report.json -o junit=junit.xml
  kustomize build overlays/prod | meshready check - --config meshready.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = args
			return RunCheck(io, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", "", "path of meshready.yaml")
	f.StringArrayVarP(&o.Outputs, "output", "o", nil, "output FORMAT[=PATH], repeatable ("+strings.Join(render.Formats(), ", ")+"); default text on stdout")
	f.StringSliceVar(&o.Only, "only", nil, "evaluate only these items: IDs, globs (security.*), ID prefixes (security) or section names")
	f.StringSliceVar(&o.Skip, "skip", nil, "skip these items (same forms as --only)")
	f.StringVar(&o.FailOn, "fail-on", "blocker", "what makes the exit code 3: blocker (a blocker not pass) or warn (also any item at warn)")
	f.BoolVar(&o.NoColor, "no-color", false, "no ANSI colour in text output")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "show the evidence of passing items too")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster to evaluate (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.Context, "context", "", "kubeconfig context of the cluster to evaluate (default the current context)")
	f.BoolVar(&o.Live, "live", false, "with paths: lay the files over the live cluster instead of evaluating them alone")
	f.DurationVar(&o.Timeout, "timeout", cluster.DefaultTimeout, "give up reading the cluster after this long")
	addTelemetryFlags(f, &o.Telemetry)
	o.Store.register(f)
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile to this file")
	_ = f.MarkHidden("cpuprofile")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return render.Formats(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("only", completeItemIDs)
	_ = cmd.RegisterFlagCompletionFunc("skip", completeItemIDs)
	return cmd
}

func completeItemIDs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var ids []string
	for _, m := range checks.Catalog() {
		ids = append(ids, m.ID)
	}
	return ids, cobra.ShellCompDirectiveNoFileComp
}

// output is one parsed -o flag.
type output struct {
	renderer render.Renderer
	path     string // "" for stdout
}

func parseOutputs(specs []string) ([]output, error) {
	if len(specs) == 0 {
		specs = []string{"text"}
	}
	var outs []output
	stdout := 0
	for _, s := range specs {
		name, path, _ := strings.Cut(s, "=")
		r, ok := render.Get(name)
		if !ok {
			return nil, exitcode.Usagef(fmt.Errorf("unknown output format %q (formats: %s)", name, strings.Join(render.Formats(), ", ")))
		}
		if path == "" || path == "-" {
			stdout++
			path = ""
		}
		outs = append(outs, output{r, path})
	}
	if stdout > 1 {
		return nil, exitcode.Usagef(errors.New("only one output can go to stdout; give the others a path: -o json=report.json"))
	}
	return outs, nil
}

// RunCheck runs `meshready check`.
func RunCheck(io IO, o *CheckOptions) error {
	outs, err := parseOutputs(o.Outputs)
	if err != nil {
		return err
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return exitcode.Usagef(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	failOnWarn := false
	switch o.FailOn {
	case "", "blocker":
	case "warn":
		failOnWarn = true
	default:
		return exitcode.Usagef(fmt.Errorf("--fail-on %q: want blocker or warn", o.FailOn))
	}
	cfg, err := loadConfig(o.ConfigPath, o.Paths)
	if err != nil {
		return exitcode.Usagef(err)
	}
	var objs []*snapshot.Object
	var inputErrs []snapshot.InputError
	if len(o.Paths) > 0 {
		if objs, inputErrs, err = loader.Load(o.Paths, io.In); err != nil {
			return exitcode.Usagef(err)
		}
	}
	var live *cluster.Result
	if o.live() {
		liveGC()
		if live, err = loadCluster(io, o, cfg); err != nil {
			return err
		}
		objs = cluster.Overlay(live.Objects, objs)
		inputErrs = append(live.InputErrors, inputErrs...)
	}
	objs, inputErrs = dropOwnFiles(cfg, objs, inputErrs)
	snap := snapshot.New(objs)
	snap.InputErrors = inputErrs
	inputs := report.Inputs{Paths: o.Paths, Config: cfg.Path, Objects: len(objs)}
	if live != nil {
		snap.Live = &live.Live
		snap.KindErrors = live.KindErrors
		inputs.Cluster = live.Live.Context
	}

	store, storeErr, err := checkStore(io, o.Store, o.Kubeconfig, o.Context, o.Timeout, cfg)
	if err != nil {
		return err
	}
	recs := store.Attestations
	// Waivers recorded with `meshready waive` count like the config's.
	for _, w := range store.Waivers {
		cfg.Waivers = append(cfg.Waivers, config.Waiver{Item: w.Item, Object: w.Object, Reason: w.Reason, By: w.By, Expires: config.Date{Time: w.Expires}})
	}
	telMissing, err := findPrometheus(context.Background(), io, &o.Telemetry, o.Kubeconfig, o.Context, o.Timeout)
	if err != nil {
		return err
	}
	tel, err := telemetryClient(o.Telemetry)
	if err != nil {
		return exitcode.Usagef(err)
	}
	if tel != nil {
		inputs.Prometheus = tel.PrometheusURL()
	}
	rep := engine.Run(snap, engine.Options{
		Config:       cfg,
		Items:        checks.All(),
		Only:         o.Only,
		Skip:         o.Skip,
		Now:          o.Now,
		Version:      version.String(),
		Attestations: recs,
		Inputs:       inputs,

		AttestationsError: storeErr,

		TelemetryClient:  tel,
		TelemetryMissing: telMissing,
	})
	if len(rep.Items) == 0 {
		return exitcode.Usagef(errors.New("--only/--skip selected no item (see meshready checks list)"))
	}
	for _, out := range outs {
		if err := writeOutput(io, out, rep, o); err != nil {
			return err
		}
	}
	if exitcode.ForReport(rep, failOnWarn) != exitcode.Ready {
		return &exitcode.NotReadyError{}
	}
	return nil
}

// liveGC trades memory for CPU in live mode, where decoding tens of
// thousands of typed objects makes the default GOGC=100 collect often: at
// 200 a 5,000-service live check used about 20% less CPU for about 80 MB
// more peak memory (see README, Performance). GOGC in the environment wins.
func liveGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

// loadCluster reads the kinds the checks declare from the cluster. A bad
// kubeconfig or context is a usage error; a cluster that cannot be read
// is an internal one (exit 1).
func loadCluster(io IO, o *CheckOptions, cfg *config.Config) (*cluster.Result, error) {
	var kinds []string
	for _, it := range checks.All() {
		kinds = append(kinds, it.Reads...)
	}
	kinds = append(kinds, rules.Kinds(cfg.Rules)...) // the kinds meshready.yaml's rules match
	res, err := cluster.Load(context.Background(), cluster.Options{
		Kubeconfig:            o.Kubeconfig,
		Context:               o.Context,
		Kinds:                 kinds,
		ControlPlaneNamespace: cfg.ControlPlaneNamespace,
		Timeout:               o.Timeout,
	})
	if errors.Is(err, cluster.ErrConfig) {
		return nil, exitcode.Usagef(err)
	}
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(io.Err, "meshready: warning:", w)
	}
	return res, nil
}

func writeOutput(io IO, out output, rep *report.Report, o *CheckOptions) error {
	ropts := render.Options{Verbose: o.Verbose}
	if out.path == "" {
		ropts.Color = io.Terminal && !o.NoColor && os.Getenv("NO_COLOR") == ""
		return out.renderer.Render(io.Out, rep, ropts)
	}
	if dir := filepath.Dir(out.path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(out.path)
	if err != nil {
		return exitcode.Usagef(err)
	}
	if err := out.renderer.Render(f, rep, ropts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// dropOwnFiles removes what meshready itself keeps beside the manifests —
// its config, the attestation store and recorded probe evidence — from the
// loaded inputs: they are not Kubernetes objects.
func dropOwnFiles(cfg *config.Config, objs []*snapshot.Object, errs []snapshot.InputError) ([]*snapshot.Object, []snapshot.InputError) {
	own := func(file string) bool {
		f := filepath.Clean(file)
		if cfg.Path != "" && f == filepath.Clean(cfg.Path) {
			return true
		}
		if cfg.Attestations != "" && f == filepath.Clean(cfg.Resolve(cfg.Attestations)) {
			return true
		}
		ev := filepath.Clean(cfg.Resolve(cfg.EvidenceDir))
		return cfg.Path != "" && strings.HasPrefix(f, ev+string(filepath.Separator))
	}
	keptObjs := objs[:0]
	for _, o := range objs {
		if !own(o.Origin.File) {
			keptObjs = append(keptObjs, o)
		}
	}
	var keptErrs []snapshot.InputError
	for _, e := range errs {
		if !own(e.File) {
			keptErrs = append(keptErrs, e)
		}
	}
	return keptObjs, keptErrs
}

// loadConfig reads --config, or meshready.yaml beside the first input, or defaults.
func loadConfig(explicit string, paths []string) (*config.Config, error) {
	if explicit != "" {
		return config.Load(explicit)
	}
	for _, p := range paths {
		if p == "-" {
			continue
		}
		dir := p
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			dir = filepath.Dir(p)
		}
		cand := filepath.Join(dir, config.FileName)
		if _, err := os.Stat(cand); err == nil {
			return config.Load(cand)
		}
		break
	}
	return config.Default(), nil
}

// addTelemetryFlags registers the telemetry API flags: with --prometheus
// (and --grafana, --jaeger, --kiali) the telemetry parts of the checklist
// are evaluated instead of pending.
func addTelemetryFlags(f *pflag.FlagSet, t *telemetry.Options) {
	f.StringVar(&t.Prometheus, "prometheus", "", "Prometheus base URL (e.g. http://127.0.0.1:9090 after kubectl -n monitoring port-forward svc/prometheus 9090), or auto to use the Prometheus Service found in the cluster (through the API server's service proxy; in a pod, directly): evaluates the telemetry parts")
	f.StringVar(&t.PrometheusTokenFile, "prometheus-token-file", "", "file holding a bearer token for Prometheus (read for every request)")
	f.StringVar(&t.PrometheusBasicAuthFile, "prometheus-basic-auth-file", "", "file holding one line user:password for Prometheus")
	f.StringVar(&t.PrometheusCAFile, "prometheus-ca", "", "PEM file of the CA that signs the telemetry URLs' certificates (besides the system roots)")
	f.StringVar(&t.Grafana, "grafana", "", "Grafana base URL (user:password@ in it if needed): checks the dashboards through its API")
	f.StringVar(&t.Jaeger, "jaeger", "", "Jaeger query base URL (e.g. http://tracing.monitoring:16686): checks that critical services report traces")
	f.StringVar(&t.Kiali, "kiali", "", "Kiali base URL (e.g. http://kiali.istio-system:20001/kiali): checks its status")
	f.DurationVar(&t.Timeout, "telemetry-timeout", telemetry.DefaultTimeout, "give up on each telemetry request after this long (the items needing it say error)")
}

// telemetryClient builds the client when any telemetry URL was given.
func telemetryClient(t telemetry.Options) (*telemetry.Client, error) {
	if t.Prometheus == "" && t.Grafana == "" && t.Jaeger == "" && t.Kiali == "" {
		if t.PrometheusTokenFile != "" || t.PrometheusBasicAuthFile != "" || t.PrometheusCAFile != "" {
			return nil, errors.New("--prometheus-token-file, --prometheus-basic-auth-file and --prometheus-ca need --prometheus URL (or --grafana/--jaeger/--kiali)")
		}
		return nil, nil
	}
	return telemetry.New(t)
}
