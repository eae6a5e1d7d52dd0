// Package security implements the security items of the checklist: mTLS,
// authorization, end-user authentication and security alerting.
package security

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	return []*check.Check{mtls, authorization, authentication, monitoring}
}
