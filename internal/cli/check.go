package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/render"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
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
}

func newCheckCmd(io IO) *cobra.Command {
	o := &CheckOptions{}
	cmd := &cobra.Command{
		Use:   "check [PATH...]",
		Short: "Evaluate the whole checklist over manifest files (or - for stdin)",
		Long: `Evaluate every item of the beta-readiness checklist over the YAML/JSON manifests
the mesh is deployed from (files and directories, recursively; - reads stdin).

meshready.yaml is read from --config, or else from the first directory given
(or the directory of the first file).

Output formats: ` + strings.Join(render.Formats(), ", ") + `. -o may be repeated,
and FORMAT=PATH writes that format to a file: -o text -o json=report.json -o html=report.html`,
		Example: `  meshready check examples/devmentor
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
	if len(o.Paths) == 0 {
		return exitcode.Usagef(errors.New("give the manifest files or directories to evaluate (or - for stdin); evaluating a live cluster is not available in this version"))
	}
	cfg, err := loadConfig(o.ConfigPath, o.Paths)
	if err != nil {
		return exitcode.Usagef(err)
	}
	objs, inputErrs, err := loader.Load(o.Paths, io.In)
	if err != nil {
		return exitcode.Usagef(err)
	}
	snap := snapshot.New(objs)
	snap.InputErrors = inputErrs

	var recs []attest.Record
	if cfg.Attestations != "" {
		store, err := attest.LoadFile(cfg.Resolve(cfg.Attestations))
		if err != nil {
			return exitcode.Usagef(fmt.Errorf("attestations: %w", err))
		}
		recs = store.Attestations
		// Waivers recorded with `meshready waive` count like the config's.
		for _, w := range store.Waivers {
			cfg.Waivers = append(cfg.Waivers, config.Waiver{Item: w.Item, Object: w.Object, Reason: w.Reason, By: w.By, Expires: config.Date{Time: w.Expires}})
		}
	}
	rep := engine.Run(snap, engine.Options{
		Config:       cfg,
		Items:        checks.All(),
		Only:         o.Only,
		Skip:         o.Skip,
		Now:          o.Now,
		Version:      version.String(),
		Attestations: recs,
		Inputs:       report.Inputs{Paths: o.Paths, Config: cfg.Path, Objects: len(objs)},
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
