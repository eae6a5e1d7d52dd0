package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/meshready/meshready/internal/diff"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/report"
)

func newDiffCmd(io IO) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "diff OLD.json NEW.json",
		Short:   "What changed between two reports; exit 3 when something regressed",
		Example: `  meshready check ./manifests -o json=new.json; meshready diff main.json new.json`,
		Args:    cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return RunDiff(io, args[0], args[1], format)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "text", "text or json")
	return cmd
}

func readReport(path string) (*report.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, exitcode.Usagef(err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, exitcode.Usagef(fmt.Errorf("%s: not a JSON report: %v", path, err))
	}
	if r.SchemaVersion != report.SchemaVersion {
		return nil, exitcode.Usagef(fmt.Errorf("%s: schemaVersion %q, want %s", path, r.SchemaVersion, report.SchemaVersion))
	}
	return &r, nil
}

// RunDiff compares two JSON reports.
func RunDiff(io IO, oldPath, newPath, format string) error {
	if format != "text" && format != "json" {
		return exitcode.Usagef(fmt.Errorf("-o %q: want text or json", format))
	}
	old, err := readReport(oldPath)
	if err != nil {
		return err
	}
	new, err := readReport(newPath)
	if err != nil {
		return err
	}
	res := diff.Compare(old, new)
	if format == "json" {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprint(io.Out, res.Text())
	}
	if res.HasRegression() {
		return &exitcode.NotReadyError{Reason: "regressed"}
	}
	return nil
}
