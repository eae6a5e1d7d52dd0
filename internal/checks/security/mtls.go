package security

import (
	"fmt"
	"sort"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	securityapi "istio.io/api/security/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var mtls = &check.Check{
	ID:    "security.mtls",
	Reads: []string{snapshot.Namespace, snapshot.PeerAuthentication, snapshot.DestinationRule},
	Why: "Without STRICT mTLS mesh-wide, a workload accepts plaintext from anything that can reach its pod IP: no peer " +
		"identity, no encryption, and authorization policies on principals cannot hold. One PERMISSIVE or DISABLE " +
		"PeerAuthentication, or a DestinationRule that turns client TLS off, reopens that hole for its scope.",
	Fix: "Apply a PeerAuthentication with no selector and mtls.mode STRICT in the root namespace, remove PERMISSIVE/DISABLE " +
		"overrides (or waive them with a reason and an expiry), and let in-mesh DestinationRules use ISTIO_MUTUAL (or omit tls).",
	Docs:   "https://istio.io/latest/docs/tasks/security/authentication/mtls-migration/",
	Config: checkMTLS,
}

const strictMeshWide = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: %s
spec:
  mtls:
    mode: STRICT`

func checkMTLS(c *check.Context) {
	root := c.Config.RootNamespace

	// 1. The mesh-wide policy: no selector, in the root namespace, STRICT.
	var meshWide []*snapshot.Object
	for _, o := range c.InNamespace(snapshot.PeerAuthentication, root) {
		pa, ok := o.Typed.(*securityv1.PeerAuthentication)
		if ok && len(pa.Spec.GetSelector().GetMatchLabels()) == 0 {
			meshWide = append(meshWide, o)
		}
	}
	switch {
	case len(meshWide) == 0:
		c.Fail(namespaceObject(c, root), "no mesh-wide PeerAuthentication (no selector) in the root namespace %s: the mesh default is PERMISSIVE, so workloads accept plaintext", root).
			Got("none").Want("PeerAuthentication in %s without selector, mtls.mode STRICT", root).
			Fixf(strictMeshWide, root)
	default:
		if len(meshWide) > 1 {
			c.Warn(meshWide[1], "%d mesh-wide PeerAuthentications in %s (%s): Istio uses only the oldest one", len(meshWide), root, idList(meshWide)).
				Fixf("keep one mesh-wide PeerAuthentication: kubectl delete peerauthentication -n %s %s", meshWide[1].Namespace, meshWide[1].Name)
		}
		for _, o := range meshWide {
			mode := o.Typed.(*securityv1.PeerAuthentication).Spec.GetMtls().GetMode()
			if mode == securityapi.PeerAuthentication_MutualTLS_STRICT {
				c.Pass(o, "mesh-wide PeerAuthentication %s sets mtls.mode STRICT", o.ID())
				continue
			}
			c.Fail(o, "mesh-wide PeerAuthentication %s sets mtls.mode %s%s: workloads accept plaintext", o.ID(), mode, unsetNote(mode)).
				Field("spec.mtls.mode").Got("%s", mode).Want("STRICT").Fixf(strictMeshWide, root)
		}
	}

	// 2. No narrower PeerAuthentication weakens it (namespace, workload, port).
	weak := func(m securityapi.PeerAuthentication_MutualTLS_Mode) bool {
		return m == securityapi.PeerAuthentication_MutualTLS_PERMISSIVE || m == securityapi.PeerAuthentication_MutualTLS_DISABLE
	}
	narrower := 0
	for _, o := range c.List(snapshot.PeerAuthentication) {
		pa, ok := o.Typed.(*securityv1.PeerAuthentication)
		if !ok {
			continue
		}
		sel := pa.Spec.GetSelector().GetMatchLabels()
		scope := "namespace " + o.Namespace
		if len(sel) > 0 {
			scope = "workloads " + labelString(sel) + " in " + o.Namespace
			if o.Namespace == root {
				scope = "workloads " + labelString(sel) + " in every namespace"
			}
		} else if o.Namespace == root {
			continue // a mesh-wide policy: checked above
		}
		narrower++
		bad := false
		if m := pa.Spec.GetMtls().GetMode(); weak(m) {
			bad = true
			c.Fail(o, "%s sets mtls.mode %s for %s: plaintext is accepted there", o.ID(), m, scope).
				Field("spec.mtls.mode").Got("%s", m).Want("STRICT or UNSET (inherit)").
				Fixf("kubectl patch peerauthentication -n %s %s --type merge -p '{\"spec\":{\"mtls\":{\"mode\":\"STRICT\"}}}'\n# or waive it in meshready.yaml with a reason and an expiry if a plaintext client must remain", o.Namespace, o.Name)
		}
		ports := make([]uint32, 0, len(pa.Spec.GetPortLevelMtls()))
		for p := range pa.Spec.GetPortLevelMtls() {
			ports = append(ports, p)
		}
		sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
		for _, p := range ports {
			m := pa.Spec.GetPortLevelMtls()[p].GetMode()
			if !weak(m) {
				continue
			}
			bad = true
			c.Fail(o, "%s sets mtls.mode %s on port %d for %s: plaintext is accepted on that port", o.ID(), m, p, scope).
				Field(fmt.Sprintf("spec.portLevelMtls[%d].mode", p)).Got("%s", m).Want("STRICT").
				Fixf("kubectl patch peerauthentication -n %s %s --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/portLevelMtls/%d\"}]'\n# or waive it in meshready.yaml (e.g. a metrics port scraped without mTLS) with a reason and an expiry", o.Namespace, o.Name, p)
		}
		if !bad {
			c.Pass(o, "%s (%s) keeps mTLS: mode %s, no PERMISSIVE/DISABLE port", o.ID(), scope, pa.Spec.GetMtls().GetMode())
		}
	}

	// 3. No DestinationRule turns client-side mTLS off towards an in-mesh host.
	meshNS := mesh.Namespaces(c, c.Config)
	for _, o := range c.List(snapshot.DestinationRule) {
		dr, ok := o.Typed.(*networkingv1.DestinationRule)
		if !ok {
			continue
		}
		host := mesh.ResolveShortName(dr.Spec.GetHost(), o.Namespace)
		if !inMesh(c, meshNS, host) {
			continue
		}
		bad := false
		check := func(field string, tls *networkingapi.ClientTLSSettings) {
			if tls == nil {
				return
			}
			switch tls.GetMode() {
			case networkingapi.ClientTLSSettings_DISABLE, networkingapi.ClientTLSSettings_SIMPLE:
				bad = true
				c.Fail(o, "%s sets %s mode %s towards in-mesh host %s: its clients send %s instead of Istio mTLS", o.ID(), field, tls.GetMode(), host, plainOr(tls.GetMode())).
					Field(field+".mode").Got("%s", tls.GetMode()).Want("ISTIO_MUTUAL, or no tls block (auto mTLS)").
					Fixf("kubectl edit destinationrule -n %s %s   # remove %s, or set:\n%s:\n  mode: ISTIO_MUTUAL", o.Namespace, o.Name, field, field)
			}
		}
		tp := dr.Spec.GetTrafficPolicy()
		check("spec.trafficPolicy.tls", tp.GetTls())
		for i, p := range tp.GetPortLevelSettings() {
			check(fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].tls", i), p.GetTls())
		}
		for si, s := range dr.Spec.GetSubsets() {
			check(fmt.Sprintf("spec.subsets[%d].trafficPolicy.tls", si), s.GetTrafficPolicy().GetTls())
			for i, p := range s.GetTrafficPolicy().GetPortLevelSettings() {
				check(fmt.Sprintf("spec.subsets[%d].trafficPolicy.portLevelSettings[%d].tls", si, i), p.GetTls())
			}
		}
		if !bad {
			c.Pass(o, "%s does not disable mTLS towards in-mesh host %s", o.ID(), host)
		}
	}
}

func unsetNote(m securityapi.PeerAuthentication_MutualTLS_Mode) string {
	if m == securityapi.PeerAuthentication_MutualTLS_UNSET {
		return " (UNSET at mesh level means PERMISSIVE)"
	}
	return ""
}

func plainOr(m networkingapi.ClientTLSSettings_TLSmode) string {
	if m == networkingapi.ClientTLSSettings_SIMPLE {
		return "one-way TLS without a client certificate"
	}
	return "plaintext"
}

// inMesh reports whether a DestinationRule host names (or, as a wildcard,
// covers) a service in a mesh namespace.
func inMesh(c *check.Context, meshNS []string, host string) bool {
	if strings.HasPrefix(host, "*") {
		suffix := host[1:] // ".ns.svc.cluster.local", ".svc.cluster.local", ".local", ""
		if suffix == "" {
			return true
		}
		for _, ns := range meshNS {
			if strings.HasSuffix("."+ns+".svc.cluster.local", suffix) {
				return true
			}
		}
		return false
	}
	rest, ok := strings.CutSuffix(host, ".svc.cluster.local")
	if !ok {
		return false
	}
	_, ns, ok := strings.Cut(rest, ".")
	return ok && mesh.IsMeshNamespace(meshNS, ns)
}

func idList(objs []*snapshot.Object) string {
	s := make([]string, len(objs))
	for i, o := range objs {
		s[i] = o.ID()
	}
	return strings.Join(s, ", ")
}
