package mesh

import (
	"sort"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshready/meshready/internal/snapshot"
)

// WorkloadIndex finds workloads by label selector without scanning a
// namespace per query. Build it once per check (NewWorkloadIndex) when many
// selectors are resolved (one per critical service, per policy...).
type WorkloadIndex struct {
	byPair map[labelPair][]Workload // workloads whose pod labels carry the pair, per namespace
}

// labelPair is one label key=value in a namespace: an index key.
type labelPair struct{ ns, key, value string }

// NewWorkloadIndex indexes every Deployment, StatefulSet and DaemonSet by its
// pod template labels. Reads WorkloadKinds.
func NewWorkloadIndex(r Reader) *WorkloadIndex {
	ix := &WorkloadIndex{byPair: map[labelPair][]Workload{}}
	seen := map[string]bool{}
	for _, k := range WorkloadKinds {
		for _, o := range r.List(k) {
			if seen[o.Namespace] {
				continue
			}
			seen[o.Namespace] = true
			for _, w := range Workloads(r, o.Namespace) {
				for lk, lv := range w.Template.Labels {
					key := labelPair{o.Namespace, lk, lv}
					ix.byPair[key] = append(ix.byPair[key], w)
				}
			}
		}
	}
	return ix
}

// Select returns the workloads in ns whose pod labels match sel, in
// namespace/kind/name order. An empty selector selects nothing (as a Service
// without selector has no pods).
func (ix *WorkloadIndex) Select(ns string, sel map[string]string) []Workload {
	if len(sel) == 0 {
		return nil
	}
	var best []Workload
	first := true
	for k, v := range sel {
		l := ix.byPair[labelPair{ns, k, v}]
		if first || len(l) < len(best) {
			best, first = l, false
		}
		if len(best) == 0 {
			return nil
		}
	}
	var out []Workload
	for _, w := range best {
		if snapshot.SelectorMatches(sel, w.Template.Labels) {
			out = append(out, w)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Object.ID() < out[j].Object.ID() })
	return out
}

// PolicyIndex finds the namespaced policies (AuthorizationPolicy,
// PeerAuthentication, RequestAuthentication) that apply to a workload:
// namespace-wide ones (no selector) in its namespace, those whose
// selector.matchLabels match its pod labels, and the same two from the root
// namespace, which apply mesh-wide. Policies bound by targetRef(s) (to a
// Gateway API Gateway, a Service or a waypoint) are not selector policies and
// are never returned. Build it once per check.
type PolicyIndex struct {
	root   string
	wide   map[string][]*snapshot.Object    // ns -> policies without selector
	byPair map[labelPair][]*snapshot.Object // the selector's pair with the smallest key -> policies
}

// NewPolicyIndex indexes the policies of one kind (snapshot.AuthorizationPolicy,
// snapshot.PeerAuthentication or snapshot.RequestAuthentication). Reads that kind.
func NewPolicyIndex(r Reader, kind, rootNamespace string) *PolicyIndex {
	ix := &PolicyIndex{root: rootNamespace, wide: map[string][]*snapshot.Object{}, byPair: map[labelPair][]*snapshot.Object{}}
	for _, o := range r.List(kind) {
		sel, targeted, ok := PolicySelector(o)
		if !ok || targeted {
			continue
		}
		if len(sel) == 0 {
			ix.wide[o.Namespace] = append(ix.wide[o.Namespace], o)
			continue
		}
		first := ""
		for k := range sel {
			if first == "" || k < first {
				first = k
			}
		}
		key := labelPair{o.Namespace, first, sel[first]}
		ix.byPair[key] = append(ix.byPair[key], o)
	}
	return ix
}

// For returns the policies that apply to a workload with pod labels in ns,
// sorted by namespace and name (root-namespace policies included).
func (ix *PolicyIndex) For(ns string, podLabels map[string]string) []*snapshot.Object {
	var out []*snapshot.Object
	collect := func(n string) {
		out = append(out, ix.wide[n]...)
		for k, v := range podLabels {
			for _, o := range ix.byPair[labelPair{n, k, v}] {
				sel, _, _ := PolicySelector(o)
				if snapshot.SelectorMatches(sel, podLabels) {
					out = append(out, o)
				}
			}
		}
	}
	collect(ns)
	if ix.root != "" && ix.root != ns {
		collect(ix.root)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// NamespaceWide returns the policies without selector (nor targetRef) of ns.
func (ix *PolicyIndex) NamespaceWide(ns string) []*snapshot.Object { return ix.wide[ns] }

// PolicySelector returns a security policy's selector.matchLabels, whether it
// is bound by targetRef/targetRefs instead, and whether o is a decoded
// AuthorizationPolicy, PeerAuthentication or RequestAuthentication.
func PolicySelector(o *snapshot.Object) (sel map[string]string, targeted, ok bool) {
	switch t := o.Typed.(type) {
	case *securityv1.AuthorizationPolicy:
		return t.Spec.GetSelector().GetMatchLabels(), t.Spec.GetTargetRef() != nil || len(t.Spec.GetTargetRefs()) > 0, true
	case *securityv1.RequestAuthentication:
		return t.Spec.GetSelector().GetMatchLabels(), t.Spec.GetTargetRef() != nil || len(t.Spec.GetTargetRefs()) > 0, true
	case *securityv1.PeerAuthentication:
		return t.Spec.GetSelector().GetMatchLabels(), false, true
	}
	return nil, false, false
}

// IsAllowNothing reports whether an AuthorizationPolicy is Istio's
// allow-nothing policy: action ALLOW with no rules (e.g. `spec: {}`), which
// denies every request to the workloads it applies to unless another ALLOW
// policy matches.
func IsAllowNothing(ap *securityv1.AuthorizationPolicy) bool {
	return ap.Spec.GetAction() == securityapi.AuthorizationPolicy_ALLOW && len(ap.Spec.GetRules()) == 0 &&
		ap.Spec.GetProvider() == nil
}

// Peer is the identity of a caller: its SPIFFE principal
// ("cluster.local/ns/<ns>/sa/<sa>") and namespace.
type Peer struct {
	Principal string
	Namespace string
}

// PeerOf builds the Peer of a service account in a namespace.
func PeerOf(trustDomain, ns, serviceAccount string) Peer {
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	return Peer{Principal: trustDomain + "/ns/" + ns + "/sa/" + serviceAccount, Namespace: ns}
}

// DefaultTrustDomain is the mesh's trust domain when mesh config sets none.
const DefaultTrustDomain = "cluster.local"

// ParsePrincipal splits "<trust-domain>/ns/<ns>/sa/<sa>"; ok is false for other forms.
func ParsePrincipal(p string) (trustDomain, ns, sa string, ok bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
		return "", "", "", false
	}
	return parts[0], parts[2], parts[4], true
}

// Decision is the outcome of AllowsPeer: whether a peer may call a
// workload, and the policy (and rule index) that decided, nil when no policy did.
type Decision struct {
	Allowed bool
	Policy  *snapshot.Object
	Rule    int
	Reason  string
}

// AllowsPeer evaluates, for a peer identity only (no JWT, any operation),
// the AuthorizationPolicies that apply to a workload (pass PolicyIndex.For's
// result) the way Istio does: a DENY rule that matches the peer
// unconditionally (no `to`, no `when`) denies; with no ALLOW policy the call
// is allowed; otherwise some ALLOW rule must match the peer (its `to` and
// `when` are taken as satisfiable: some request is allowed). Rules that need
// a request principal (JWT) do not match a peer. CUSTOM policies are ignored.
func AllowsPeer(policies []*snapshot.Object, p Peer) Decision {
	anyAllow := false
	var allowed *Decision
	for _, o := range policies {
		ap, ok := o.Typed.(*securityv1.AuthorizationPolicy)
		if !ok {
			continue
		}
		switch ap.Spec.GetAction() {
		case securityapi.AuthorizationPolicy_DENY:
			for i, r := range ap.Spec.GetRules() {
				if len(r.GetTo()) == 0 && len(r.GetWhen()) == 0 && ruleFromMatches(r, p, o.Namespace) {
					return Decision{Allowed: false, Policy: o, Rule: i, Reason: "denied by DENY policy " + o.ID()}
				}
			}
		case securityapi.AuthorizationPolicy_ALLOW:
			anyAllow = true
			if allowed != nil {
				continue
			}
			for i, r := range ap.Spec.GetRules() {
				if ruleFromMatches(r, p, o.Namespace) {
					allowed = &Decision{Allowed: true, Policy: o, Rule: i, Reason: "allowed by " + o.ID()}
					break
				}
			}
		}
	}
	if allowed != nil {
		return *allowed
	}
	if !anyAllow {
		return Decision{Allowed: true, Reason: "no ALLOW policy applies (everything is allowed)"}
	}
	return Decision{Allowed: false, Reason: "no ALLOW rule matches " + p.Principal}
}

// ruleFromMatches: no `from` matches any peer; otherwise one `from` source
// must match (its fields ANDed, each field's values ORed).
func ruleFromMatches(r *securityapi.Rule, p Peer, policyNS string) bool {
	if len(r.GetFrom()) == 0 {
		return true
	}
	for _, f := range r.GetFrom() {
		if SourceMatchesPeer(f.GetSource(), p, policyNS) {
			return true
		}
	}
	return false
}

// SourceMatchesPeer reports whether a rule's source matches a peer identity.
// Sources that need a request principal, or IP blocks, never match a peer
// given by identity alone.
func SourceMatchesPeer(s *securityapi.Source, p Peer, policyNS string) bool {
	if s == nil {
		return true
	}
	if len(s.GetRequestPrincipals()) > 0 || len(s.GetIpBlocks()) > 0 || len(s.GetRemoteIpBlocks()) > 0 {
		return false
	}
	if v := s.GetPrincipals(); len(v) > 0 && !anyMatch(v, p.Principal) {
		return false
	}
	if v := s.GetNotPrincipals(); len(v) > 0 && anyMatch(v, p.Principal) {
		return false
	}
	if v := s.GetNamespaces(); len(v) > 0 && !anyMatch(v, p.Namespace) {
		return false
	}
	if v := s.GetNotNamespaces(); len(v) > 0 && anyMatch(v, p.Namespace) {
		return false
	}
	_, _, sa, _ := ParsePrincipal(p.Principal)
	nsSA := p.Namespace + "/" + sa
	if v := s.GetServiceAccounts(); len(v) > 0 && !serviceAccountIn(v, nsSA, policyNS) {
		return false
	}
	if v := s.GetNotServiceAccounts(); len(v) > 0 && serviceAccountIn(v, nsSA, policyNS) {
		return false
	}
	return true
}

func serviceAccountIn(list []string, nsSA, policyNS string) bool {
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

func anyMatch(patterns []string, v string) bool {
	for _, p := range patterns {
		if MatchValue(p, v) {
			return true
		}
	}
	return false
}

// MatchValue applies Istio's string matching for policy values: exact, "*"
// (any non-empty value), prefix "abc*" or suffix "*abc".
func MatchValue(pattern, v string) bool {
	switch {
	case pattern == "*":
		return v != ""
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(v, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(v, pattern[:len(pattern)-1])
	}
	return pattern == v
}
