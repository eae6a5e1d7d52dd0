// Package gateway implements the gateway items of the checklist.
package gateway

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
