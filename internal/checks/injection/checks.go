// Package injection implements the injection items of the checklist.
package injection

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
