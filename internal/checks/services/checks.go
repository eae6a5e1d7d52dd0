// Package services implements the per-service items of the checklist
// (service.S.*): the engine expands them for each critical service and
// hands the service to every Func as c.Service.
package services

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	return []*check.Check{
		meshIntegration(),
		traffic(),
		resilience(),
		securityItem(),
		communication(),
		monitoring(),
	}
}

// service returns the critical service under evaluation, or reports an
// error (a per-service Func called without one is a bug) and returns false.
func service(c *check.Context) bool {
	if c.Service == nil {
		c.Error("no critical service was bound to this per-service item (a bug in meshready: please report it)")
		return false
	}
	return true
}
