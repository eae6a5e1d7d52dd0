// Package operations implements the operations items of the checklist.
package operations

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
