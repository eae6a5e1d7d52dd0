package services

import (
	"fmt"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func communication() *check.Check {
	return &check.Check{
		ID:    "service.S.communication",
		Reads: reads(workloadReads, []string{snapshot.AuthorizationPolicy, snapshot.DestinationRule, snapshot.ConfigMap, snapshot.Namespace}),
		Why: "A service that cannot reach its dependencies is down, however healthy its pods look: a default-deny " +
			"policy without an ALLOW rule for the caller's identity, a DENY rule that catches it, or a " +
			"DestinationRule that turns off mTLS towards a STRICT server each break the call path, and each " +
			"only shows up as 403s or connection resets in production.",
		Fix: "For each declared dependency, add an ALLOW rule on the dependency's workloads naming the caller's " +
			"principal (cluster.local/ns/<caller-ns>/sa/<caller-sa>), make sure no DENY rule matches it, and " +
			"remove tls.mode DISABLE/SIMPLE from DestinationRules for the dependency's host (ISTIO_MUTUAL or unset).",
		Docs:      "https://istio.io/latest/docs/reference/config/security/authorization-policy/",
		Config:    communicationConfig,
		Telemetry: communicationTelemetry,
	}
}

func communicationConfig(c *check.Context) {
	if !service(c) {
		return
	}
	s := *c.Service
	deps := s.Dependencies()
	svcObj, _ := mesh.ServiceOf(c, s)
	if len(deps) == 0 {
		c.Pass(svcObj, "no dependencies declared for %s (criticalServices[].dependsOn in meshready.yaml): no call path to verify; only declared edges are checked", s.Name)
		return
	}
	if svcObj == nil {
		c.Fail(nil, "Service %s/%s (critical service %s) is not in the input: the identity it calls its dependencies with is unknown", s.Namespace, s.Name, s.Name).
			Got("no Service %s/%s", s.Namespace, s.Name).Want("the Service and its workload").
			Fix("include the Service and its Deployment/StatefulSet in the input (see service." + s.Name + ".mesh-integration)")
		return
	}
	ws := backingWorkloads(c, s)
	if len(ws) == 0 {
		c.Fail(svcObj, "%s selects no workload: the service account %s calls its dependencies with is unknown", svcObj.ID(), s.Name).
			Field("spec.selector").Got("no workload").Want("the workload serving %s", s.Name).
			Fix("make the Service selector match the workload's pod labels (see service." + s.Name + ".mesh-integration)")
		return
	}
	tds := trustDomains(c)
	var peers []peer
	seenSA := map[string]bool{}
	for _, w := range ws {
		sa := serviceAccount(w.Template)
		if !seenSA[sa] {
			seenSA[sa] = true
			peers = append(peers, newPeer(tds, s.Namespace, sa))
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].SA < peers[j].SA })

	root := c.Config.RootNamespace
	for _, d := range deps {
		dObj, dSvc := mesh.ServiceOf(c, d)
		if dObj == nil {
			c.Fail(svcObj, "%s depends on %s, but Service %s/%s is not in the input", s.Name, d.Key(), d.Namespace, d.Name).
				Got("no Service %s/%s", d.Namespace, d.Name).Want("the dependency's Service and workload").
				Fixf("include Service %s/%s and its workload in the input, or correct dependsOn for %s in meshready.yaml", d.Namespace, d.Name, s.Name)
			continue
		}
		dws := backingWorkloads(c, d)
		if len(dws) == 0 {
			c.Fail(dObj, "%s depends on %s, whose Service selects no workload: there is nothing to call", s.Name, d.Key()).
				Field("spec.selector").Got("no workload").Want("the workload serving %s", d.Name).
				Fix("make the Service selector match the workload's pod labels (see service." + d.Name + ".mesh-integration)")
			continue
		}
		for _, dw := range dws {
			applied, _ := workloadPolicies(c, d.Namespace, dw.Template.Labels)
			for _, p := range peers {
				checkEdge(c, s, d, dw, p, applied, snippetSelector(dSvc, dw))
			}
		}
		checkEdgeTLS(c, s, d, dObj, root)
	}
}

// checkEdge evaluates Istio's authorization order for requests from peer p
// to a dependency's workload: CUSTOM, then DENY (any match denies), then
// ALLOW (if any ALLOW policy applies, one of its rules must match; an
// ALLOW policy without rules matches nothing).
func checkEdge(c *check.Context, s, d config.Service, dw mesh.Workload, p peer, applied []policy, sel map[string]string) {
	edge := fmt.Sprintf("%s → %s (%s → %s)", s.Name, d.Name, p.Principal(), dw.Object.ID())
	for _, pol := range applied {
		if pol.action() == security.AuthorizationPolicy_CUSTOM {
			c.Warn(pol.Obj, "%s: CUSTOM policy %s delegates the decision to provider %q, which meshready cannot evaluate", edge, pol.Obj.ID(), pol.AP.Spec.GetProvider().GetName()).
				Got("CUSTOM action").Want("a decision meshready can verify, or an attested external check").
				Fixf("verify with the provider that %s is allowed, then waive this finding for %s in meshready.yaml", p.Principal(), pol.Obj.ID())
		}
	}
	denied := false
	for _, pol := range applied {
		if pol.action() != security.AuthorizationPolicy_DENY {
			continue
		}
		for i, r := range pol.AP.Spec.GetRules() {
			src, restricted, why := ruleMatch(r, p, pol.Obj.Namespace)
			field := fmt.Sprintf("spec.rules[%d]", i)
			switch {
			case src == yes && !restricted:
				denied = true
				c.Fail(pol.Obj, "%s: DENY policy %s matches every request from %s", edge, pol.Obj.ID(), s.Name).
					Field(field).Got("DENY rule matching %s", p.Principal()).Want("no DENY rule matching the caller").
					Fixf("exclude the caller from spec.rules[%d], e.g.\nrules:\n- from:\n  - source:\n      notPrincipals:\n      - %s", i, p.Principal())
			case src == yes:
				c.Warn(pol.Obj, "%s: DENY policy %s denies some requests from %s (the operations/conditions of its rule)", edge, pol.Obj.ID(), s.Name).
					Field(field).Got("DENY rule matching %s for some operations", p.Principal()).Want("no DENY rule matching the calls %s makes", s.Name).
					Fixf("check that %s never calls the denied operations, or exclude it:\n  - source:\n      notPrincipals:\n      - %s", s.Name, p.Principal())
			case src == maybe:
				c.Warn(pol.Obj, "%s: DENY policy %s may match %s, depending on %s", edge, pol.Obj.ID(), s.Name, strings.Join(why, ", ")).
					Field(field).Got("a DENY rule on request attributes meshready cannot see").Want("no DENY rule matching the caller").
					Fixf("make sure the rule cannot match calls from %s (probe it: meshready probe sectest.policy-enforcement)", p.Principal())
			}
		}
	}
	if denied {
		return
	}
	var allows []policy
	for _, pol := range applied {
		if pol.action() == security.AuthorizationPolicy_ALLOW {
			allows = append(allows, pol)
		}
	}
	if len(allows) == 0 {
		c.Pass(dw.Object, "%s: no ALLOW policy selects %s, so requests not denied are allowed", edge, dw.Object.ID())
		return
	}
	var maybes []string
	var maybeObj *snapshot.Object
	for _, pol := range allows {
		for i, r := range pol.AP.Spec.GetRules() {
			src, restricted, why := ruleMatch(r, p, pol.Obj.Namespace)
			switch src {
			case yes:
				msg := fmt.Sprintf("%s: allowed by %s spec.rules[%d]", edge, pol.Obj.ID(), i)
				if restricted {
					msg += " (for the operations/conditions the rule names)"
				}
				c.Pass(pol.Obj, "%s", msg).Field(fmt.Sprintf("spec.rules[%d]", i))
				return
			case maybe:
				maybes = append(maybes, fmt.Sprintf("%s spec.rules[%d] (%s)", pol.Obj.ID(), i, strings.Join(why, ", ")))
				if maybeObj == nil {
					maybeObj = pol.Obj
				}
			}
		}
	}
	snippet := allowPolicySnippet(d.Name+"-allow-"+s.Name, d.Namespace, sel, []string{p.Principal()})
	if len(maybes) > 0 {
		c.Warn(maybeObj, "%s: allowed only if a request attribute meshready cannot see matches: %s", edge, strings.Join(maybes, "; ")).
			Got("conditional ALLOW rules only").Want("an ALLOW rule naming %s", p.Principal()).Fix(snippet)
		return
	}
	names := make([]string, len(allows))
	for i, pol := range allows {
		names[i] = pol.Obj.ID()
	}
	target := preferWithRules(allows)
	c.Fail(target, "%s: denied: ALLOW policies apply to %s (%s) but no rule admits %s", edge, dw.Object.ID(), strings.Join(names, ", "), p.Principal()).
		Field("spec.rules").Got("no ALLOW rule matching %s (namespace %s)", p.Principal(), p.Namespace).Want("an ALLOW rule with principals [%s] or namespaces [%s]", p.Principal(), p.Namespace).
		Fix(snippet)
}

// checkEdgeTLS verifies that the DestinationRule the caller uses for the
// dependency's host keeps Istio mTLS (tls unset or ISTIO_MUTUAL).
func checkEdgeTLS(c *check.Context, s, d config.Service, dObj *snapshot.Object, root string) {
	host := d.Host()
	o := effectiveDestinationRule(c, host, s.Namespace, d.Namespace, root)
	if o == nil {
		c.Pass(dObj, "%s → %s: no DestinationRule for %s applies to callers in %s, so Istio's auto mTLS is used", s.Name, d.Name, host, s.Namespace)
		return
	}
	dr, ok := o.Typed.(*networkingv1.DestinationRule)
	if !ok {
		return
	}
	type tlsAt struct {
		field string
		tls   *networking.ClientTLSSettings
	}
	at := []tlsAt{{"spec.trafficPolicy.tls", dr.Spec.GetTrafficPolicy().GetTls()}}
	for i, pl := range dr.Spec.GetTrafficPolicy().GetPortLevelSettings() {
		at = append(at, tlsAt{fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].tls", i), pl.GetTls()})
	}
	for i, ss := range dr.Spec.GetSubsets() {
		at = append(at, tlsAt{fmt.Sprintf("spec.subsets[%d].trafficPolicy.tls", i), ss.GetTrafficPolicy().GetTls()})
		for j, pl := range ss.GetTrafficPolicy().GetPortLevelSettings() {
			at = append(at, tlsAt{fmt.Sprintf("spec.subsets[%d].trafficPolicy.portLevelSettings[%d].tls", i, j), pl.GetTls()})
		}
	}
	bad := false
	for _, a := range at {
		if a.tls == nil {
			continue
		}
		mode := a.tls.GetMode()
		switch mode {
		case networking.ClientTLSSettings_DISABLE, networking.ClientTLSSettings_SIMPLE:
			bad = true
			what := "sends plaintext"
			if mode == networking.ClientTLSSettings_SIMPLE {
				what = "originates TLS without the mesh client certificate"
			}
			c.Fail(o, "%s → %s: %s sets tls.mode %s, so %s %s to %s: the mesh identity is lost and a STRICT server rejects it", s.Name, d.Name, o.ID(), mode, s.Name, what, d.Name).
				Field(a.field+".mode").Got("%s", mode).Want("ISTIO_MUTUAL (or unset: auto mTLS)").
				Fixf("spec:\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL   # at %s", a.field)
		case networking.ClientTLSSettings_MUTUAL:
			bad = true
			c.Warn(o, "%s → %s: %s sets tls.mode MUTUAL with its own certificates: the server sees that certificate's identity, not %s's service account", s.Name, d.Name, o.ID(), s.Name).
				Field(a.field+".mode").Got("MUTUAL").Want("ISTIO_MUTUAL (or unset: auto mTLS)").
				Fixf("spec:\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL   # at %s", a.field)
		}
	}
	if !bad {
		c.Pass(o, "%s → %s: %s (the DestinationRule callers in %s use for %s) keeps Istio mTLS", s.Name, d.Name, o.ID(), s.Namespace, host)
	}
}

// preferWithRules returns the first ALLOW policy that has rules (where a
// caller would be added), else the first one (an allow-nothing policy).
func preferWithRules(allows []policy) *snapshot.Object {
	for _, p := range allows {
		if len(p.AP.Spec.GetRules()) > 0 {
			return p.Obj
		}
	}
	return allows[0].Obj
}

// snippetSelector is the selector to put in a remediation policy: the
// Service's selector (stable labels) when it has one, else the pod labels.
func snippetSelector(svc *corev1.Service, w mesh.Workload) map[string]string {
	if svc != nil && len(svc.Spec.Selector) > 0 {
		return svc.Spec.Selector
	}
	return w.Template.Labels
}
