// Package operations implements the pre-production and rollback items of
// the checklist: documentation, operational readiness (dashboards, alert
// rules, runbooks), team readiness, the rollback plan and the final sign-off.
package operations

import "github.com/meshready/meshready/internal/check"

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	out := []*check.Check{
		docsArchitectureCheck(),
		docsRunbooksCheck(),
		opsDashboardsCheck(),
		opsAlertRulesCheck(),
	}
	out = append(out, genericDocChecks()...)
	out = append(out, manualChecks()...)
	out = append(out, rollbackTriggerChecks()...)
	out = append(out, rollbackProcedureChecks()...)
	return out
}
