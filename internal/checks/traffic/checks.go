// Package traffic implements the traffic items of the checklist.
package traffic

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
