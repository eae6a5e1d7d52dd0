// Package exitcode decides meshready's exit codes in one place, the same for
// every output format.
package exitcode

import (
	"errors"

	"github.com/meshready/meshready/internal/report"
)

const (
	Ready    = 0 // the verdict is ready (or the command succeeded)
	Internal = 1 // meshready itself failed (a bug, an unreachable cluster)
	Usage    = 2 // bad flags, arguments or config
	NotReady = 3 // the verdict is not ready (or a probe, rollback trigger or diff failed)
)

// UsageError marks errors the user can fix by changing the command or config.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef wraps an error as a usage error.
func Usagef(err error) error { return &UsageError{err} }

// NotReadyError carries the verdict out of a command that printed its report.
type NotReadyError struct{ Reason string }

func (e *NotReadyError) Error() string { return e.Reason }

// FromError maps an error returned by a command to its exit code.
func FromError(err error) int {
	var u *UsageError
	var n *NotReadyError
	switch {
	case err == nil:
		return Ready
	case errors.As(err, &n):
		return NotReady
	case errors.As(err, &u):
		return Usage
	}
	return Internal
}

// ForReport maps a report to an exit code. With failOnWarn, an item at warn
// also makes the run fail, as --fail-on warn asks.
func ForReport(r *report.Report, failOnWarn bool) int {
	if r.Verdict != report.Ready {
		return NotReady
	}
	if failOnWarn && r.Summary.Warn > 0 {
		return NotReady
	}
	return Ready
}
