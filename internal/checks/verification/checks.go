// Package verification implements the verification items of the checklist.
package verification

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
