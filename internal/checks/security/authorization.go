package security

import (
	"fmt"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var authorization = &check.Check{
	ID: "security.authorization",
	Reads: append([]string{snapshot.Namespace, snapshot.Service, snapshot.ServiceAccount, snapshot.ConfigMap,
		snapshot.AuthorizationPolicy}, mesh.WorkloadKinds...),
	Why: "Without a default-deny (allow-nothing) policy every workload accepts calls from any workload in the mesh, so one " +
		"compromised pod can reach the model server and the vector store. Each critical service then needs an ALLOW policy that " +
		"names its callers by identity; a principal that names a service account or namespace that does not exist allows " +
		"nobody (the legitimate caller gets 403), and `*` or a rule without `from` allows everybody.",
	Fix: "Apply an allow-nothing AuthorizationPolicy (`spec: {}`) in the root namespace or in every mesh namespace, then one ALLOW " +
		"policy per critical workload with from.source.principals listing the callers' service accounts " +
		"(<trust-domain>/ns/<namespace>/sa/<service-account>).",
	Docs:   "https://istio.io/latest/docs/ops/best-practices/security/#use-default-deny-patterns",
	Config: checkAuthorization,
}

func allowNothingYAML(ns string) string {
	return fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-nothing
  namespace: %s
spec: {}`, ns)
}

func checkAuthorization(c *check.Context) {
	root := c.Config.RootNamespace
	pix := mesh.NewPolicyIndex(c, snapshot.AuthorizationPolicy, root)

	// 1. Default deny in every mesh namespace.
	meshNS := mesh.Namespaces(c, c.Config)
	rootDeny := allowNothingIn(pix, root)
	switch {
	case len(meshNS) == 0:
		c.Fail(nil, "no mesh namespace found (none configured in meshready.yaml, none labelled for injection): default-deny cannot be checked").
			Fix("kubectl label namespace <namespace> istio-injection=enabled\n# or list them in meshready.yaml: meshNamespaces: [<namespace>]")
	case rootDeny != nil:
		c.Pass(rootDeny, "allow-nothing policy %s in the root namespace denies by default in every mesh namespace (%s)", rootDeny.ID(), strings.Join(meshNS, ", "))
	default:
		for _, ns := range meshNS {
			if o := allowNothingIn(pix, ns); o != nil {
				c.Pass(o, "mesh namespace %s denies by default: allow-nothing policy %s", ns, o.ID())
				continue
			}
			c.Fail(namespaceObject(c, ns), "mesh namespace %s has no allow-nothing AuthorizationPolicy (in it or in the root namespace %s): any workload in the mesh may call its workloads", ns, root).
				Got("no default-deny").Want("an AuthorizationPolicy with `spec: {}` in %s or %s", ns, root).Fix(allowNothingYAML(ns))
		}
	}

	// 2. Each critical workload: an ALLOW policy naming callers that exist.
	svcs := critical(c)
	if len(svcs) == 0 {
		return
	}
	td, aliases := trustDomains(c)
	wix := mesh.NewWorkloadIndex(c)
	callers := callersOf(svcs)
	v := &validator{c: c, td: td, aliases: aliases, reported: map[string]bool{}}
	for _, s := range svcs {
		svcObj, svc := mesh.ServiceOf(c, s)
		if svc == nil {
			c.Fail(nil, "critical service %s: no Service %s/%s in the input, so its workloads and their policies cannot be found", s.Key(), s.Namespace, s.Name).
				Fix("create the Service, or correct criticalServices in meshready.yaml")
			continue
		}
		ws := wix.Select(s.Namespace, svc.Spec.Selector)
		if len(ws) == 0 {
			c.Fail(svcObj, "critical service %s selects no workload (selector %s), so no authorization policy can be checked for it", s.Key(), labelString(svc.Spec.Selector)).
				Field("spec.selector").Got("%s", labelString(svc.Spec.Selector)).Want("the pod labels of the service's Deployment/StatefulSet").
				Fixf("kubectl get deploy,sts -n %s --show-labels   # then align spec.selector of %s with the pod template labels", s.Namespace, svcObj.ID())
			continue
		}
		for _, w := range ws {
			v.workload(s, w, pix.For(w.Object.Namespace, w.Template.Labels), callers[s.Key()], wix)
		}
	}
}

func allowNothingIn(pix *mesh.PolicyIndex, ns string) *snapshot.Object {
	for _, o := range pix.NamespaceWide(ns) {
		if ap, ok := o.Typed.(*securityv1.AuthorizationPolicy); ok && mesh.IsAllowNothing(ap) {
			return o
		}
	}
	return nil
}

// callersOf inverts the config's dependsOn: service key -> its callers.
func callersOf(svcs []config.Service) map[string][]config.Service {
	out := map[string][]config.Service{}
	for _, s := range svcs {
		for _, d := range s.Dependencies() {
			out[d.Key()] = append(out[d.Key()], s)
		}
	}
	return out
}

type validator struct {
	c        *check.Context
	td       string
	aliases  []string
	reported map[string]bool // policy ID + field already reported
}

// fail reports a defect of a policy once, however many workloads it selects.
func (v *validator) fail(o *snapshot.Object, field, format string, args ...any) (check.F, bool) {
	key := o.ID() + "#" + field
	if v.reported[key] {
		return check.F{}, false
	}
	v.reported[key] = true
	return v.c.Fail(o, format, args...).Field(field), true
}

func (v *validator) workload(s config.Service, w mesh.Workload, pols []*snapshot.Object, callers []config.Service, wix *mesh.WorkloadIndex) {
	c := v.c
	var allows []*snapshot.Object
	var named []string
	bad := false
	for _, o := range pols {
		ap, ok := o.Typed.(*securityv1.AuthorizationPolicy)
		if !ok || ap.Spec.GetAction() != securityapi.AuthorizationPolicy_ALLOW || mesh.IsAllowNothing(ap) {
			continue
		}
		allows = append(allows, o)
		for ri, r := range ap.Spec.GetRules() {
			if len(r.GetFrom()) == 0 {
				bad = true
				if f, ok := v.fail(o, fmt.Sprintf("spec.rules[%d].from", ri), "%s rule %d has no `from`: it allows any caller to reach %s (critical service %s)", o.ID(), ri, w.Object.ID(), s.Key()); ok {
					f.Got("no from").Want("from.source.principals naming the callers").Fix(v.allowYAML(s, w, callers, wix))
				}
				continue
			}
			for fi, from := range r.GetFrom() {
				field := fmt.Sprintf("spec.rules[%d].from[%d].source", ri, fi)
				n, ok := v.source(o, field, from.GetSource(), s, w, callers, wix)
				if !ok {
					bad = true
				}
				named = append(named, n...)
			}
		}
	}
	if len(allows) == 0 {
		c.Fail(w.Object, "%s (critical service %s) is selected by no ALLOW AuthorizationPolicy: with default-deny every call to it is refused, without it every caller is allowed", w.Object.ID(), s.Key()).
			Want("an ALLOW policy selecting %s and naming its callers", labelString(w.Template.Labels)).
			Fix(v.allowYAML(s, w, callers, wix))
		return
	}
	if !bad && len(named) > 0 {
		c.Pass(w.Object, "%s (critical service %s) is selected by ALLOW %s naming %s", w.Object.ID(), s.Key(), idList(allows), strings.Join(dedupe(named), ", "))
	}
}

// source validates one rule source; it returns the identities it names and
// whether it is acceptable.
func (v *validator) source(o *snapshot.Object, field string, src *securityapi.Source, s config.Service, w mesh.Workload, callers []config.Service, wix *mesh.WorkloadIndex) ([]string, bool) {
	if len(src.GetPrincipals())+len(src.GetNamespaces())+len(src.GetServiceAccounts()) == 0 {
		if f, ok := v.fail(o, field, "%s %s names no peer identity (principals, namespaces or serviceAccounts): any workload matching its other conditions reaches %s (critical service %s)", o.ID(), field, w.Object.ID(), s.Key()); ok {
			f.Want("source.principals or source.namespaces").Fix(v.allowYAML(s, w, callers, wix))
		}
		return nil, false
	}
	good := true
	var named []string
	for i, p := range src.GetPrincipals() {
		pf := fmt.Sprintf("%s.principals[%d]", field, i)
		if p == "*" {
			good = false
			if f, ok := v.fail(o, pf, "%s allows principal \"*\" (any authenticated workload) to reach critical service %s", o.ID(), s.Key()); ok {
				f.Got("*").Want("the callers' principals").Fix(v.allowYAML(s, w, callers, wix))
			}
			continue
		}
		if strings.Contains(p, "*") {
			named = append(named, p)
			continue // a pattern: nothing to resolve
		}
		td, ns, sa, ok := mesh.ParsePrincipal(p)
		if !ok {
			good = false
			if f, ok := v.fail(o, pf, "%s principal %q is not of the form <trust-domain>/ns/<namespace>/sa/<service-account>: it matches no workload", o.ID(), p); ok {
				f.Got("%s", p).Want("%s/ns/<namespace>/sa/<service-account>", v.td).Fixf("correct %s of %s, e.g. %s/ns/<namespace>/sa/<service-account>", pf, o.ID(), v.td)
			}
			continue
		}
		if !v.trusted(td) {
			good = false
			if f, ok := v.fail(o, pf, "%s principal %q uses trust domain %s, but the mesh's is %s: it matches no workload", o.ID(), p, td, v.td); ok {
				f.Got("%s", td).Want("%s", v.td).Fixf("correct %s of %s to %s/ns/%s/sa/%s (or add %s to meshConfig.trustDomainAliases)", pf, o.ID(), v.td, ns, sa, td)
			}
			continue
		}
		if !v.accountOK(o, pf, p, ns, sa) {
			good = false
			continue
		}
		named = append(named, p)
	}
	for i, ns := range src.GetNamespaces() {
		nf := fmt.Sprintf("%s.namespaces[%d]", field, i)
		if ns == "*" {
			good = false
			if f, ok := v.fail(o, nf, "%s allows namespaces \"*\" (any namespace) to reach critical service %s", o.ID(), s.Key()); ok {
				f.Got("*").Want("the callers' namespaces or principals").Fix(v.allowYAML(s, w, callers, wix))
			}
			continue
		}
		if strings.Contains(ns, "*") {
			named = append(named, "namespace "+ns)
			continue
		}
		if !v.nsExists(ns) {
			good = false
			if f, ok := v.fail(o, nf, "%s allows namespace %q, which does not exist: it allows nobody", o.ID(), ns); ok {
				f.Got("%s", ns).Want("an existing namespace").Fixf("correct %s of %s (kubectl get namespaces), or create the namespace", nf, o.ID())
			}
			continue
		}
		named = append(named, "namespace "+ns)
	}
	for i, a := range src.GetServiceAccounts() {
		af := fmt.Sprintf("%s.serviceAccounts[%d]", field, i)
		ns, sa, ok := strings.Cut(a, "/")
		if !ok {
			ns, sa = o.Namespace, a
		}
		if !v.accountOK(o, af, a, ns, sa) {
			good = false
			continue
		}
		named = append(named, "serviceAccount "+ns+"/"+sa)
	}
	return named, good
}

func (v *validator) trusted(td string) bool {
	if td == v.td {
		return true
	}
	for _, a := range v.aliases {
		if a == td {
			return true
		}
	}
	return false
}

// accountOK checks that a principal's namespace and service account exist.
func (v *validator) accountOK(o *snapshot.Object, field, written, ns, sa string) bool {
	if !v.nsExists(ns) {
		if f, ok := v.fail(o, field, "%s names %q, but namespace %s does not exist: it allows nobody", o.ID(), written, ns); ok {
			f.Got("%s", ns).Want("an existing namespace").Fixf("correct %s of %s (kubectl get namespaces)", field, o.ID())
		}
		return false
	}
	if sa != "default" && v.c.Get(snapshot.ServiceAccount, ns, sa) == nil {
		if f, ok := v.fail(o, field, "%s names %q, but ServiceAccount %s/%s does not exist: the caller it means runs under another identity and gets 403", o.ID(), written, ns, sa); ok {
			f.Got("ServiceAccount %s/%s absent", ns, sa).Want("an existing ServiceAccount").
				Fixf("kubectl get serviceaccounts -n %s   # then correct %s of %s to the caller's service account\n# or create it and set spec.template.spec.serviceAccountName on the caller: kubectl create serviceaccount -n %s %s", ns, field, o.ID(), ns, sa)
		}
		return false
	}
	return true
}

// nsExists: a Namespace object, or else (inputs often omit Namespace
// manifests) objects that live in it.
func (v *validator) nsExists(ns string) bool {
	c := v.c
	if c.Get(snapshot.Namespace, "", ns) != nil {
		return true
	}
	for _, k := range []string{snapshot.ServiceAccount, snapshot.Service, snapshot.Deployment, snapshot.StatefulSet} {
		if len(c.InNamespace(k, ns)) > 0 {
			return true
		}
	}
	return false
}

// allowYAML proposes an ALLOW policy for a workload, naming the callers the
// config declares (dependsOn) by their workloads' service accounts.
func (v *validator) allowYAML(s config.Service, w mesh.Workload, callers []config.Service, wix *mesh.WorkloadIndex) string {
	var principals []string
	for _, cs := range callers {
		_, svc := mesh.ServiceOf(v.c, cs)
		if svc == nil {
			continue
		}
		for _, cw := range wix.Select(cs.Namespace, svc.Spec.Selector) {
			sa := cw.Template.Spec.ServiceAccountName
			principals = append(principals, mesh.PeerOf(v.td, cw.Object.Namespace, sa).Principal)
		}
	}
	principals = dedupe(principals)
	if len(principals) == 0 {
		principals = []string{v.td + "/ns/<caller-namespace>/sa/<caller-service-account>"}
	}
	sel := w.Template.Labels
	if _, svc := mesh.ServiceOf(v.c, s); svc != nil && len(svc.Spec.Selector) > 0 {
		sel = svc.Spec.Selector
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: %s-allow\n  namespace: %s\nspec:\n  selector:\n    matchLabels:\n%s\n  action: ALLOW\n  rules:\n    - from:\n        - source:\n            principals:\n",
		s.Name, w.Object.Namespace, matchLabelsYAML(sel, "      "))
	for _, p := range principals {
		fmt.Fprintf(&b, "              - %s\n", p)
	}
	return strings.TrimRight(b.String(), "\n")
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
