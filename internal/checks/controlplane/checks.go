// Package controlplane implements the controlplane items of the checklist.
package controlplane

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
