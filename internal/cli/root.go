// Package cli is meshready's command line: one file per command, each with an
// options struct and a run function that tests call directly.
package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/version"
)

// IO is the streams a command uses; tests pass buffers.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Terminal is true when Out is a terminal (colour, progress bars).
	Terminal bool
}

// StdIO returns the process's streams.
func StdIO() IO {
	return IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Terminal: isTerminal(os.Stdout)}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// Main runs meshready with args and returns the exit code.
func Main(args []string, io IO) int {
	root := NewRoot(io)
	root.SetArgs(args)
	err := root.Execute()
	code := exitcode.FromError(err)
	// A not-ready verdict has been printed by the report itself; other
	// errors (and refusals that carry a reason) are said on stderr.
	if err != nil && err.Error() != "" {
		fmt.Fprintln(io.Err, "meshready:", err)
	}
	return code
}

// NewRoot builds the command tree.
func NewRoot(io IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "meshready",
		Short: "Tell, with evidence, whether an Istio service mesh is ready for launch",
		Long: `meshready evaluates an Istio service mesh against the beta-readiness checklist:
configuration (manifest files or a live cluster), live state, Prometheus telemetry,
recorded probes, documents and signed human attestations, and gives one verdict
a CI pipeline can gate on.

Exit codes: 0 ready, 3 not ready, 2 usage or config error, 1 internal error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return exitcode.Usagef(fmt.Errorf("unknown command %q (see meshready --help)", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitcode.Usagef(err) })
	root.AddCommand(
		newCheckCmd(io),
		newChecksCmd(io),
		newExplainCmd(io),
		newVersionCmd(io),
		newAttestCmd(io),
		newSignoffCmd(io),
		newWaiveCmd(io),
		newDiffCmd(io),
		newProbeCmd(io),
		newEvidenceCmd(io),
		newRollbackCmd(io),
		newExportCmd(io),
	)
	// Unknown commands and bad arguments are usage errors.
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		args := c.Args
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return exitcode.Usagef(err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

func newVersionCmd(io IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meshready's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(io.Out, "meshready", version.String())
			return nil
		},
	}
}
