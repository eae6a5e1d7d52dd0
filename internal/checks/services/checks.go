// Package services implements the services items of the checklist.
package services

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check { return nil }
