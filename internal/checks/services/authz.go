package services

// AuthorizationPolicy semantics for sidecar workloads, evaluated offline.
// Policy selection and value matching come from internal/mesh (PolicyIndex,
// MatchValue, PeerOf); the rule evaluation here is three-valued (a rule on
// IPs, JWTs or headers "may" match) and distinguishes partial DENY rules,
// which mesh.AllowsPeer does not.

import (
	"fmt"
	"strings"

	security "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// policy is one decoded AuthorizationPolicy.
type policy struct {
	Obj *snapshot.Object
	AP  *securityv1.AuthorizationPolicy
}

func (p policy) action() security.AuthorizationPolicy_Action { return p.AP.Spec.GetAction() }

// hasTargetRef reports whether the policy binds by targetRef(s): those are
// enforced by waypoints and gateways, never by a workload's sidecar.
func (p policy) hasTargetRef() bool {
	return p.AP.Spec.GetTargetRef() != nil || len(p.AP.Spec.GetTargetRefs()) > 0
}

// workloadPolicies returns the AuthorizationPolicies a sidecar workload in
// ns with pod labels enforces (mesh.PolicyIndex: namespace-wide and
// selector policies of ns and of the root namespace), and apart, the
// policies of ns bound by targetRef(s), which a sidecar does not enforce.
func workloadPolicies(c *check.Context, ns string, labels map[string]string) (applied, targetRef []policy) {
	ix := authzPolicies(c)
	for _, o := range ix.pix.For(ns, labels) {
		if ap, ok := o.Typed.(*securityv1.AuthorizationPolicy); ok {
			applied = append(applied, policy{o, ap})
		}
	}
	return applied, ix.targetRef[ns]
}

// tri is a three-valued match result: a static check cannot know request
// attributes (IPs, JWTs, headers), so some matches are "maybe".
type tri int

const (
	no tri = iota
	maybe
	yes
)

// peer is a calling workload's identity as the server's sidecar sees it over mTLS.
type peer struct {
	Principals []string // one per trust domain (and alias): "<td>/ns/<ns>/sa/<sa>"
	Namespace  string
	SA         string
	TDs        []string
}

// newPeer builds the identity of service account sa in ns, with one
// principal per trust domain (the mesh's and its aliases).
func newPeer(tds []string, ns, sa string) peer {
	p := peer{Namespace: ns, SA: sa, TDs: tds}
	for _, td := range tds {
		p.Principals = append(p.Principals, mesh.PeerOf(td, ns, sa).Principal)
	}
	return p
}

// Principal is the identity printed in messages and remediations.
func (p peer) Principal() string { return p.Principals[0] }

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if mesh.MatchValue(p, v) {
				return true
			}
		}
	}
	return false
}

// saIn reports whether "ns/sa" is in a serviceAccounts list; an entry
// without "/" names a service account of the policy's namespace (no wildcards).
func saIn(list []string, nsSA, policyNS string) bool {
	for _, v := range list {
		if !strings.Contains(v, "/") {
			v = policyNS + "/" + v
		}
		if v == nsSA {
			return true
		}
	}
	return false
}

// sourceMatch evaluates one rule source against the peer: every set field
// must match (fields are ANDed).
func sourceMatch(s *security.Source, p peer, policyNS string) (tri, []string) {
	res, why := yes, []string(nil)
	matchField := func(pos, neg, vals []string) {
		if len(pos) > 0 && !anyMatch(pos, vals) {
			res = no
		}
		if len(neg) > 0 && anyMatch(neg, vals) {
			res = no
		}
	}
	matchField(s.GetPrincipals(), s.GetNotPrincipals(), p.Principals)
	matchField(s.GetNamespaces(), s.GetNotNamespaces(), []string{p.Namespace})
	nsSA := p.Namespace + "/" + p.SA
	if v := s.GetServiceAccounts(); len(v) > 0 && !saIn(v, nsSA, policyNS) {
		res = no
	}
	if v := s.GetNotServiceAccounts(); len(v) > 0 && saIn(v, nsSA, policyNS) {
		res = no
	}
	matchField(s.GetTrustDomains(), s.GetNotTrustDomains(), p.TDs)
	if res == no {
		return no, nil
	}
	unknown := func(vals []string, what string) {
		if len(vals) > 0 {
			res = maybe
			why = append(why, what)
		}
	}
	unknown(s.GetRequestPrincipals(), "requestPrincipals (a JWT)")
	unknown(s.GetNotRequestPrincipals(), "notRequestPrincipals")
	unknown(s.GetIpBlocks(), "ipBlocks")
	unknown(s.GetNotIpBlocks(), "notIpBlocks")
	unknown(s.GetRemoteIpBlocks(), "remoteIpBlocks")
	unknown(s.GetNotRemoteIpBlocks(), "notRemoteIpBlocks")
	return res, why
}

// ruleMatch evaluates a rule for requests from the peer. src says whether
// the rule's sources (and source conditions) match the peer; restricted
// that it only covers some requests (to: operations, request conditions).
func ruleMatch(r *security.Rule, p peer, policyNS string) (src tri, restricted bool, why []string) {
	src = yes
	if froms := r.GetFrom(); len(froms) > 0 {
		src = no
		for _, f := range froms {
			m, w := sourceMatch(f.GetSource(), p, policyNS)
			if m > src {
				src = m
			}
			if m == maybe {
				why = append(why, w...)
			}
			if m == yes {
				why = nil
				break
			}
		}
	}
	if len(r.GetTo()) > 0 {
		restricted = true
	}
	for _, cond := range r.GetWhen() {
		var vals []string
		switch cond.GetKey() {
		case "source.principal":
			vals = p.Principals
		case "source.namespace":
			vals = []string{p.Namespace}
		default:
			restricted = true
			continue
		}
		if (len(cond.GetValues()) > 0 && !anyMatch(cond.GetValues(), vals)) || anyMatch(cond.GetNotValues(), vals) {
			src = no
		}
	}
	return src, restricted, why
}

// ruleScope classifies an ALLOW rule by who it admits.
type ruleScope int

const (
	scopeIdentity    ruleScope = iota // named principals / namespaces / service accounts / JWT principals
	scopeAnyIdentity                  // "*" principals or namespaces: any authenticated caller
	scopeAnyone                       // no source restriction by identity
)

func ruleScopeOf(r *security.Rule) (ruleScope, string) {
	froms := r.GetFrom()
	if len(froms) == 0 {
		return scopeAnyone, "no from: any caller"
	}
	worst, desc := scopeIdentity, []string(nil)
	for _, f := range froms {
		s := f.GetSource()
		ids := append(append(append(append([]string(nil), s.GetPrincipals()...), s.GetNamespaces()...), s.GetServiceAccounts()...), s.GetRequestPrincipals()...)
		switch {
		case len(ids) == 0:
			worst = scopeAnyone
			desc = append(desc, "a source without principals, namespaces or serviceAccounts")
		case contains(ids, "*"):
			if worst < scopeAnyIdentity {
				worst = scopeAnyIdentity
			}
			desc = append(desc, "\"*\" (any authenticated identity)")
		default:
			desc = append(desc, strings.Join(ids, ", "))
		}
	}
	return worst, strings.Join(desc, "; ")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// allowPolicySnippet is an ALLOW policy admitting the given principals to
// the workloads matched by sel in ns.
func allowPolicySnippet(name, ns string, sel map[string]string, principals []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n", name, ns)
	if len(sel) > 0 {
		fmt.Fprintf(&b, "  selector:\n    matchLabels:\n%s\n", selectorYAML(sel, 6))
	}
	b.WriteString("  action: ALLOW\n  rules:\n  - from:\n    - source:\n        principals:\n")
	for _, p := range principals {
		fmt.Fprintf(&b, "        - %s\n", p)
	}
	return strings.TrimRight(b.String(), "\n")
}
