package services

import (
	"fmt"
	"sort"
	"strings"

	security "istio.io/api/security/v1beta1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func securityReads() []string {
	return reads(workloadReads, []string{snapshot.AuthorizationPolicy, snapshot.PeerAuthentication})
}

func securityItem() *check.Check {
	return &check.Check{
		ID:    "service.S.security",
		Reads: securityReads(),
		Why: "A critical service must say who may call it and must only accept mutual-TLS: without an ALLOW " +
			"policy naming its callers, any workload in the mesh (or, without STRICT mTLS, any pod in the " +
			"cluster over plaintext) can reach it, and a compromised neighbour can use a costly LLM or read " +
			"a vector store. PERMISSIVE or DISABLE on its namespace, workload or port silently reopens " +
			"plaintext.",
		Fix: "Add an AuthorizationPolicy (action ALLOW) selecting the service's pods, with rules naming the " +
			"callers' principals (cluster.local/ns/<ns>/sa/<sa>) or namespaces, and a mesh-wide " +
			"PeerAuthentication with mtls.mode STRICT in the root namespace, with no namespace, workload or " +
			"port override weakening it.",
		Docs:   "https://istio.io/latest/docs/concepts/security/#authorization-policies",
		Config: securityConfig,
	}
}

func securityConfig(c *check.Context) {
	if !service(c) {
		return
	}
	s := *c.Service
	svcObj, svc := mesh.ServiceOf(c, s)
	if svcObj == nil {
		c.Fail(nil, "Service %s/%s (critical service %s) is not in the input: its workloads, and the policies that select them, cannot be found", s.Namespace, s.Name, s.Name).
			Got("no Service %s/%s", s.Namespace, s.Name).Want("the Service and its workload").
			Fix("include the Service and its Deployment/StatefulSet in the input (see service." + s.Name + ".mesh-integration)")
		return
	}
	ws := backingWorkloads(c, s)
	if len(ws) == 0 {
		c.Fail(svcObj, "%s selects no workload: no pods to which an authorization or mTLS policy could apply", svcObj.ID()).
			Field("spec.selector").Got("no workload matches %s", labelsString(svc.Spec.Selector)).Want("the workload serving %s", s.Name).
			Fix("make the Service selector match the workload's pod labels (see service." + s.Name + ".mesh-integration)")
		return
	}
	for _, w := range ws {
		labels := w.Template.Labels
		applied, tref := workloadPolicies(c, s.Namespace, labels)
		checkAllowPolicies(c, s, w, applied, snippetSelector(svc, w))
		for _, p := range tref {
			if targetsService(p, s) {
				c.Warn(p.Obj, "%s binds to Service %s by targetRef: only a waypoint proxy enforces that, the sidecar of %s ignores it", p.Obj.ID(), s.Name, w.Object.ID()).
					Field("spec.targetRefs").Got("targetRef kind Service").Want("spec.selector.matchLabels for sidecar workloads").
					Fixf("spec:\n  selector:\n    matchLabels:\n%s", selectorYAML(snippetSelector(svc, w), 6))
			}
		}
		checkStrictMTLS(c, s, w, svc != nil, func() []uint32 { return workloadTargetPorts(svc, w.Template) })
	}
}

func targetsService(p policy, s config.Service) bool {
	refs := p.AP.Spec.GetTargetRefs()
	if r := p.AP.Spec.GetTargetRef(); r != nil {
		refs = append(refs, r)
	}
	for _, r := range refs {
		ns := r.GetNamespace()
		if ns == "" {
			ns = p.Obj.Namespace
		}
		if r.GetKind() == "Service" && r.GetName() == s.Name && ns == s.Namespace {
			return true
		}
	}
	return false
}

// checkAllowPolicies requires an ALLOW policy naming callers on the
// workload, and reports policies that open it to anyone or close it to all.
func checkAllowPolicies(c *check.Context, s config.Service, w mesh.Workload, applied []policy, sel map[string]string) {
	var allows []policy
	identity := 0
	for _, p := range applied {
		switch p.action() {
		case security.AuthorizationPolicy_ALLOW:
			allows = append(allows, p)
		case security.AuthorizationPolicy_DENY:
			for i, r := range p.AP.Spec.GetRules() {
				if len(r.GetFrom()) == 0 && len(r.GetTo()) == 0 && len(r.GetWhen()) == 0 {
					c.Fail(p.Obj, "DENY policy %s has an empty rule: it rejects every request to %s", p.Obj.ID(), w.Object.ID()).
						Field(fmt.Sprintf("spec.rules[%d]", i)).Got("{}").Want("a rule naming what to deny (from/to/when)").
						Fixf("give spec.rules[%d] a from/to/when, or delete the policy: kubectl delete authorizationpolicy -n %s %s", i, p.Obj.Namespace, p.Obj.Name)
				}
			}
		}
	}
	for _, p := range allows {
		rules := p.AP.Spec.GetRules()
		if len(rules) == 0 {
			c.Pass(p.Obj, "%s is an allow-nothing policy on %s (default deny)", p.Obj.ID(), w.Object.ID())
			continue
		}
		for i, r := range rules {
			scope, desc := ruleScopeOf(r)
			field := fmt.Sprintf("spec.rules[%d].from", i)
			switch scope {
			case scopeIdentity:
				identity++
				c.Pass(p.Obj, "ALLOW policy %s selects %s and admits only %s", p.Obj.ID(), w.Object.ID(), desc).Field(field)
			case scopeAnyIdentity:
				c.Warn(p.Obj, "ALLOW policy %s admits any authenticated identity to %s (%s): every workload in the mesh can call %s", p.Obj.ID(), w.Object.ID(), desc, s.Name).
					Field(field).Got("%s", desc).Want("the callers' principals or namespaces").
					Fix("replace \"*\" with the callers, e.g.\nrules:\n- from:\n  - source:\n      principals:\n      - cluster.local/ns/<caller-namespace>/sa/<caller-service-account>")
			case scopeAnyone:
				c.Warn(p.Obj, "ALLOW policy %s admits callers to %s without naming them (%s)", p.Obj.ID(), w.Object.ID(), desc).
					Field(field).Got("%s", desc).Want("from.source.principals or namespaces").
					Fix("restrict the rule to its callers:\nrules:\n- from:\n  - source:\n      principals:\n      - cluster.local/ns/<caller-namespace>/sa/<caller-service-account>")
			}
		}
	}
	if identity > 0 {
		return
	}
	snippet := allowPolicySnippet(s.Name+"-allow-callers", s.Namespace, sel, []string{"cluster.local/ns/<caller-namespace>/sa/<caller-service-account>"})
	if len(allows) == 0 {
		c.Fail(w.Object, "no ALLOW AuthorizationPolicy selects %s (in namespace %s or the root namespace %s): any caller not denied can reach %s", w.Object.ID(), s.Namespace, c.Config.RootNamespace, s.Name).
			Got("no ALLOW policy").Want("an ALLOW policy naming %s's callers", s.Name).Fix(snippet)
		return
	}
	names := make([]string, len(allows))
	for i, p := range allows {
		names[i] = p.Obj.ID()
	}
	sort.Strings(names)
	c.Fail(preferWithRules(allows), "no ALLOW policy on %s names its callers by principal, namespace or service account (ALLOW policies: %s)", w.Object.ID(), strings.Join(names, ", ")).
		Field("spec.rules").Got("allow-nothing or unrestricted rules only").Want("a rule with from.source.principals or namespaces").Fix(snippet)
}

// checkStrictMTLS requires STRICT mTLS for the workload and each port it serves.
func checkStrictMTLS(c *check.Context, s config.Service, w mesh.Workload, haveSvc bool, ports func() []uint32) {
	m := effectiveMTLS(c, c.Config.RootNamespace, s.Namespace, w.Template.Labels)
	for _, lvl := range m.Ambiguous {
		c.Warn(m.From, "several %s PeerAuthentications apply to %s and their creation times are unknown: istiod uses the oldest; meshready assumed the weakest", lvl, w.Object.ID()).
			Got("several %s policies", lvl).Want("one").Fix("keep one PeerAuthentication per level: kubectl get peerauthentication -A, then delete the extra ones")
	}
	meshStrict := m.MeshMode == modeStrict
	if m.Mode != modeStrict {
		obj := m.From
		got := fmt.Sprintf("%s (from %s)", m.Mode, orDefaultStr(refID(obj), "no PeerAuthentication: Istio's default"))
		fix := fmt.Sprintf("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: %s\nspec:\n  mtls:\n    mode: STRICT", c.Config.RootNamespace)
		if obj == nil {
			c.Fail(w.Object, "no PeerAuthentication applies to %s: Istio's default is PERMISSIVE, plaintext connections are accepted", w.Object.ID()).
				Got("%s", got).Want("STRICT").Fix(fix)
			return
		}
		if m.Level != "mesh-wide" {
			fix += fmt.Sprintf("\n# and set %s to STRICT (or delete it):\n# kubectl delete peerauthentication -n %s %s", obj.ID(), obj.Namespace, obj.Name)
		}
		c.Fail(obj, "mTLS for %s is %s (%s level, %s): plaintext connections are accepted", w.Object.ID(), m.Mode, m.Level, obj.ID()).
			Field(m.Field).Got("%s", got).Want("STRICT").Fix(fix)
		return
	}
	c.Pass(m.From, "mTLS for %s is STRICT (set by %s at %s level)", w.Object.ID(), refID(m.From), m.Level).Field(m.Field)
	if !meshStrict {
		got := "no mesh-wide PeerAuthentication"
		if m.Mesh != nil {
			got = "mesh-wide mode " + m.MeshMode
		}
		c.Warn(m.From, "%s is STRICT only through the %s-level %s: the mesh-wide default in %s is not STRICT (%s)", w.Object.ID(), m.Level, refID(m.From), c.Config.RootNamespace, got).
			Got("%s", got).Want("a mesh-wide PeerAuthentication STRICT in %s", c.Config.RootNamespace).
			Fixf("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: %s\nspec:\n  mtls:\n    mode: STRICT", c.Config.RootNamespace)
	}
	if len(m.Ports) == 0 || !haveSvc {
		return
	}
	served := map[uint32]bool{}
	for _, p := range ports() {
		served[p] = true
	}
	keys := make([]int, 0, len(m.Ports))
	for p := range m.Ports {
		keys = append(keys, int(p))
	}
	sort.Ints(keys)
	for _, k := range keys {
		port, mode := uint32(k), m.Ports[uint32(k)]
		if mode == modeStrict {
			continue
		}
		st := "a port the Service does not target"
		if served[port] {
			st = "a port " + s.Name + " serves"
		}
		report := c.Fail
		if !served[port] {
			report = c.Warn
		}
		f := report(m.portFrom, "%s sets port %d of %s to %s (%s): plaintext is accepted there", refID(m.portFrom), port, w.Object.ID(), mode, st)
		f.Field(fmt.Sprintf("spec.portLevelMtls[%d].mode", port)).Got("%s", mode).Want("STRICT").
			Fixf("spec:\n  portLevelMtls:\n    %d:\n      mode: STRICT   # or remove the override", port)
	}
}

func refID(o *snapshot.Object) string {
	if o == nil {
		return ""
	}
	return o.ID()
}
