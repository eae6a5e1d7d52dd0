// Package policy implements the policy items of the checklist: the
// VirtualServices, DestinationRules, traffic policies and retries that the
// critical services need.
package policy

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	return []*check.Check{virtualServices, destinationRules, trafficPolicies, retries}
}
