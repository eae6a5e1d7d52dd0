// Package observability implements the observability items of the checklist.
package observability

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
