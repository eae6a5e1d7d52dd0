package attest

import "errors"

// StoreError is a store that could not be read or written, with the fix
// to apply: reports show the two apart (a finding's message and its
// remediation).
type StoreError struct {
	Reason string
	Fix    string
	Err    error
}

func (e *StoreError) Error() string {
	if e.Fix == "" {
		return e.Reason
	}
	return e.Reason + "; " + e.Fix
}

func (e *StoreError) Unwrap() error { return e.Err }

// Explain splits an error into its reason and the fix, when it carries one.
func Explain(err error) (reason, fix string) {
	var se *StoreError
	if errors.As(err, &se) {
		return se.Reason, se.Fix
	}
	return err.Error(), ""
}
