package security

import (
	"fmt"
	"strings"

	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var authentication = &check.Check{
	ID:    "security.authentication",
	Reads: append([]string{snapshot.RequestAuthentication, snapshot.AuthorizationPolicy}, mesh.GatewayKinds...),
	Why: "End-user authentication at the ingress is what keeps the platform's APIs from being called anonymously. A " +
		"RequestAuthentication only validates tokens that are present: a request without any token passes it untouched. " +
		"Only an AuthorizationPolicy that requires a request principal turns that into \"no valid JWT, no entry\".",
	Fix: "Apply a RequestAuthentication (issuer plus jwksUri or jwks) on the ingress gateway workload and, on the same workload, an " +
		"AuthorizationPolicy that requires a request principal (ALLOW with from.source.requestPrincipals, or DENY with " +
		"notRequestPrincipals: [\"*\"]).",
	Docs:   "https://istio.io/latest/docs/tasks/security/authorization/authz-jwt/",
	Config: checkAuthentication,
}

// gatewayNameLabel marks the pods of a Gateway API gateway deployment.
const gatewayNameLabel = mesh.LabelGatewayName

// ingressGateways returns the ingress gateway workloads (mesh.GatewayWorkloads
// without the egress and east-west gateways).
func ingressGateways(c *check.Context) []mesh.Workload {
	var out []mesh.Workload
	for _, g := range mesh.GatewayWorkloads(c) {
		if g.Egress || strings.Contains(g.Template.Labels[mesh.LabelIstio], "eastwest") {
			continue
		}
		out = append(out, g.Workload)
	}
	return out
}

// appliesByTarget reports whether a policy bound by targetRef(s) applies to
// a Gateway API gateway workload.
func appliesByTarget(o *snapshot.Object, w mesh.Workload) bool {
	var refs []*typeapi.PolicyTargetReference
	switch t := o.Typed.(type) {
	case *securityv1.AuthorizationPolicy:
		refs = append(refs, t.Spec.GetTargetRefs()...)
		if t.Spec.GetTargetRef() != nil {
			refs = append(refs, t.Spec.GetTargetRef())
		}
	case *securityv1.RequestAuthentication:
		refs = append(refs, t.Spec.GetTargetRefs()...)
		if t.Spec.GetTargetRef() != nil {
			refs = append(refs, t.Spec.GetTargetRef())
		}
	}
	gwName := w.Template.Labels[gatewayNameLabel]
	for _, r := range refs {
		ns := r.GetNamespace()
		if ns == "" {
			ns = o.Namespace
		}
		if r.GetKind() == "Gateway" && gwName != "" && r.GetName() == gwName && ns == w.Object.Namespace {
			return true
		}
	}
	return false
}

// policiesFor returns the policies of a kind that apply to a gateway workload.
func policiesFor(c *check.Context, pix *mesh.PolicyIndex, kind string, w mesh.Workload) []*snapshot.Object {
	out := pix.For(w.Object.Namespace, w.Template.Labels)
	for _, o := range c.InNamespace(kind, w.Object.Namespace) {
		if appliesByTarget(o, w) {
			out = append(out, o)
		}
	}
	return out
}

func checkAuthentication(c *check.Context) {
	gws := ingressGateways(c)
	if len(gws) == 0 {
		c.Fail(nil, "no ingress gateway workload found (no workload selected by an Istio Gateway, labelled istio=ingressgateway, or deployed for a Gateway API Gateway): there is no ingress path to authenticate").
			Fix("install the ingress gateway (see gateway.ingress-deployed): helm install istio-ingressgateway istio/gateway -n istio-ingress")
		return
	}
	root := c.Config.RootNamespace
	raix := mesh.NewPolicyIndex(c, snapshot.RequestAuthentication, root)
	apix := mesh.NewPolicyIndex(c, snapshot.AuthorizationPolicy, root)
	for _, w := range gws {
		ras := policiesFor(c, raix, snapshot.RequestAuthentication, w)
		if len(ras) == 0 {
			c.Fail(w.Object, "no RequestAuthentication applies to ingress gateway %s: end-user JWTs are not validated", w.Object.ID()).
				Want("a RequestAuthentication selecting %s (or namespace-wide in %s)", labelString(gatewaySelector(w)), w.Object.Namespace).
				Fix(raYAML(w))
			continue
		}
		raOK := true
		for _, o := range ras {
			ra := o.Typed.(*securityv1.RequestAuthentication)
			rules := ra.Spec.GetJwtRules()
			if len(rules) == 0 {
				raOK = false
				c.Fail(o, "%s has no jwtRules: it validates nothing", o.ID()).Field("spec.jwtRules").Got("none").Want("issuer and jwksUri (or jwks)").Fix(raYAML(w))
				continue
			}
			for i, r := range rules {
				f := fmt.Sprintf("spec.jwtRules[%d]", i)
				if r.GetIssuer() == "" {
					raOK = false
					c.Fail(o, "%s %s has no issuer", o.ID(), f).Field(f+".issuer").Got("empty").Want("the token issuer (iss claim)").
						Fixf("kubectl edit requestauthentication -n %s %s   # set %s.issuer: https://<your-issuer>", o.Namespace, o.Name, f)
				}
				if r.GetJwksUri() == "" && r.GetJwks() == "" {
					raOK = false
					c.Fail(o, "%s %s sets neither jwksUri nor jwks: the keys are left to OpenID discovery from the issuer at runtime", o.ID(), f).
						Field(f+".jwksUri").Got("empty").Want("jwksUri (or inline jwks)").
						Fixf("kubectl edit requestauthentication -n %s %s   # set %s.jwksUri: https://<your-issuer>/.well-known/jwks.json", o.Namespace, o.Name, f)
				}
			}
		}
		aps := policiesFor(c, apix, snapshot.AuthorizationPolicy, w)
		req, open := requiresToken(aps)
		switch {
		case open != nil:
			c.Fail(open.obj, "%s rule %d allows requests to ingress gateway %s without any token (no requestPrincipals, no `to`, no `when`), so the JWT requirement of %s is bypassed", open.obj.ID(), open.rule, w.Object.ID(), req.obj.ID()).
				Field(fmt.Sprintf("spec.rules[%d]", open.rule)).Got("unconditional ALLOW rule").Want("every ALLOW rule on the gateway requires requestPrincipals, or limited to public paths by `to`").
				Fixf("kubectl edit authorizationpolicy -n %s %s   # add to rule %d:\n- from:\n    - source:\n        requestPrincipals: [\"*\"]", open.obj.Namespace, open.obj.Name, open.rule)
		case req == nil:
			c.Fail(ras[0], "%s validates JWTs on ingress gateway %s, but no AuthorizationPolicy requires a request principal: requests without a token pass (RequestAuthentication only rejects invalid tokens)", ras[0].ID(), w.Object.ID()).
				Got("RequestAuthentication alone").Want("an AuthorizationPolicy on the same workload requiring requestPrincipals").
				Fix(requireJWTYAML(w))
		case raOK:
			c.Pass(req.obj, "ingress gateway %s: %s validates JWTs and %s %s", w.Object.ID(), idList(ras), req.obj.ID(), req.how)
		}
	}
}

type ruleRef struct {
	obj  *snapshot.Object
	rule int
	how  string
}

// requiresToken finds the policy that makes a token mandatory, and an ALLOW
// rule that lets token-less requests through anyway.
func requiresToken(aps []*snapshot.Object) (req, open *ruleRef) {
	var allowReq *ruleRef
	for _, o := range aps {
		ap, ok := o.Typed.(*securityv1.AuthorizationPolicy)
		if !ok {
			continue
		}
		for i, r := range ap.Spec.GetRules() {
			switch ap.Spec.GetAction() {
			case securityapi.AuthorizationPolicy_DENY:
				for _, f := range r.GetFrom() {
					for _, p := range f.GetSource().GetNotRequestPrincipals() {
						if p == "*" && req == nil {
							req = &ruleRef{o, i, "denies requests without a request principal (notRequestPrincipals: [\"*\"])"}
						}
					}
				}
			case securityapi.AuthorizationPolicy_ALLOW:
				needs := len(r.GetFrom()) > 0
				for _, f := range r.GetFrom() {
					if len(f.GetSource().GetRequestPrincipals()) == 0 {
						needs = false
					}
				}
				if needs {
					if allowReq == nil {
						allowReq = &ruleRef{o, i, "allows only requests with a request principal (from.source.requestPrincipals)"}
					}
				} else if len(r.GetTo()) == 0 && len(r.GetWhen()) == 0 && open == nil {
					open = &ruleRef{o, i, ""}
				}
			}
		}
	}
	if req != nil {
		return req, nil // a DENY on missing tokens wins over any ALLOW
	}
	if allowReq == nil {
		return nil, nil
	}
	return allowReq, open
}

func gatewaySelector(w mesh.Workload) map[string]string {
	l := w.Template.Labels
	for _, k := range []string{"istio", gatewayNameLabel, "app"} {
		if v, ok := l[k]; ok {
			return map[string]string{k: v}
		}
	}
	return l
}

func raYAML(w mesh.Workload) string {
	return fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: ingress-jwt
  namespace: %s
spec:
  selector:
    matchLabels:
%s
  jwtRules:
    - issuer: https://<your-issuer>
      jwksUri: https://<your-issuer>/.well-known/jwks.json`, w.Object.Namespace, matchLabelsYAML(gatewaySelector(w), "      "))
}

func requireJWTYAML(w mesh.Workload) string {
	return fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: %s
spec:
  selector:
    matchLabels:
%s
  action: DENY
  rules:
    - from:
        - source:
            notRequestPrincipals: ["*"]`, w.Object.Namespace, matchLabelsYAML(gatewaySelector(w), "      "))
}
