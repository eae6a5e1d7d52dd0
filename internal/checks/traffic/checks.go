// Package traffic implements the traffic-management items of the
// checklist: routing rules, load balancing, circuit breakers and fault
// injection left on production routes.
package traffic

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	return []*check.Check{routingRules, loadBalancing, circuitBreakers, faultInjection}
}
