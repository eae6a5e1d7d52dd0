package operations

import "github.com/meshready/meshready/internal/check"

// Manual items are attested by a person; the engine reads the attestation
// (who, when, evidence link, expiry). Only their explanation lives here.

func manualChecks() []*check.Check {
	attest := func(id string) string {
		return "Record it: meshready attest " + id + " --by NAME --evidence URL --expires 90d"
	}
	return []*check.Check{
		{ID: "team.trained",
			Why:  "A mesh adds failure modes (sidecars, mTLS, xDS) the team must recognise; an untrained on-call engineer escalates or guesses.",
			Fix:  "Train the team on Istio operations (architecture, istioctl, traffic and security resources, common failures) and link the training record. " + attest("team.trained"),
			Docs: "https://istio.io/latest/docs/concepts/"},
		{ID: "team.procedures",
			Why:  "Procedures nobody has read do not run themselves: the operators must know the deploy, change and rollback procedures before beta traffic arrives.",
			Fix:  "Walk the team through the operational procedures (change, rollback, certificate rotation, upgrade) and link the session notes. " + attest("team.procedures"),
			Docs: "https://istio.io/latest/docs/ops/best-practices/"},
		{ID: "team.debug-procedures",
			Why:  "Debugging through a mesh (proxy-config, proxy-status, access logs, raising log levels) must be written down and known before the first incident.",
			Fix:  "Document the debug procedures (istioctl analyze, proxy-status, proxy-config, raising a proxy's log level, reading response flags) and link them. " + attest("team.debug-procedures"),
			Docs: "https://istio.io/latest/docs/ops/diagnostic-tools/"},
		{ID: "team.support-channels",
			Why:  "When the mesh misbehaves, people need to know where to ask and who answers: an on-call rotation, a channel, and an escalation path (including Istio community or vendor support).",
			Fix:  "Establish the support channels (on-call rotation, chat channel, escalation, vendor/community support) and link them. " + attest("team.support-channels"),
			Docs: "https://istio.io/latest/get-involved/"},
		signoff("signoff.platform", "platform"),
		signoff("signoff.security", "security"),
		signoff("signoff.development", "development"),
		signoff("signoff.operations", "operations"),
	}
}

func signoff(id, team string) *check.Check {
	return &check.Check{
		ID: id,
		Why: "The " + team + " team's approval says it has reviewed this readiness report and accepts the launch risk it describes. " +
			"It is bound to the digest of the report it approved, so it goes stale as soon as the evaluated state changes.",
		Fix:  "Have the " + team + " team review the report and sign it: meshready check <paths> -o json=report.json && meshready signoff " + team + " --by NAME --report report.json",
		Docs: "https://istio.io/latest/docs/releases/",
	}
}
