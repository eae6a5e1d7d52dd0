package gateway

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// tlsLive checks that every certificate an ingress gateway terminates TLS
// with exists in the cluster: each credentialName (Istio Gateway servers in
// SIMPLE/MUTUAL/OPTIONAL_MUTUAL mode) as a Secret in the namespace of the
// gateway pods that serve it, and each Gateway API listener's
// certificateRefs. Secrets are listed as metadata only: existence (and, for
// a file laid over the cluster, that it is not yet applied) is what is
// checked here; the type and validity are not readable.
func tlsLive(c *check.Context) {
	wls := mesh.GatewayWorkloads(c)
	checked := 0
	for _, g := range istioGateways(c, wls) {
		if g.egress || g.eastWest {
			continue
		}
		nss := map[string]bool{}
		for _, w := range g.selected {
			nss[w.Object.Namespace] = true
		}
		if len(nss) == 0 {
			nss[g.obj.Namespace] = true
		}
		for i, s := range g.gw.Spec.GetServers() {
			tls := s.GetTls()
			switch tls.GetMode() {
			case networking.ServerTLSSettings_SIMPLE, networking.ServerTLSSettings_MUTUAL, networking.ServerTLSSettings_OPTIONAL_MUTUAL:
			default:
				continue
			}
			creds := append([]string(nil), tls.GetCredentialNames()...)
			if tls.GetCredentialName() != "" {
				creds = append([]string{tls.GetCredentialName()}, creds...)
			}
			for _, cred := range creds {
				for _, ns := range sortedSet(nss) {
					checked++
					where := fmt.Sprintf("Gateway %s/%s server %d (port %d, hosts %s)", g.obj.Namespace, g.obj.Name, i, s.GetPort().GetNumber(), strings.Join(s.GetHosts(), ","))
					liveSecret(c, g.obj, fmt.Sprintf("spec.servers[%d].tls.credentialName", i), where, ns, cred)
				}
			}
		}
	}
	for _, kg := range mesh.KGateways(c) {
		if !kg.Decoded || kg.ClassName != "istio" {
			continue
		}
		for i, l := range kg.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				if ref.Kind != "" && ref.Kind != "Secret" {
					continue
				}
				ns := ref.Namespace
				if ns == "" {
					ns = kg.Object.Namespace
				}
				checked++
				where := fmt.Sprintf("Gateway %s/%s listener %s (port %d)", kg.Object.Namespace, kg.Object.Name, l.Name, l.Port)
				liveSecret(c, kg.Object, fmt.Sprintf("spec.listeners[%d].tls.certificateRefs", i), where, ns, ref.Name)
			}
		}
	}
	if checked == 0 {
		c.NotApplicable("no ingress Gateway server or listener names a certificate Secret (credentialName / certificateRefs): there is no Secret to look up in the cluster (the config part judges whether TLS is terminated)")
	}
}

// liveSecret reports whether the Secret a gateway server names exists in the cluster.
func liveSecret(c *check.Context, gw *snapshot.Object, field, where, ns, name string) {
	o := c.Get(snapshot.Secret, ns, name)
	if o == nil && c.Unreadable(snapshot.Secret) {
		// Secrets could not be listed: the error finding (with the RBAC
		// rule) says so; a missing Secret would be a guess, not a finding.
		return
	}
	if o == nil {
		note := ""
		if gw.Namespace != ns && c.Get(snapshot.Secret, gw.Namespace, name) != nil {
			note = fmt.Sprintf(" (a Secret %s/%s exists, but the gateway pods read credentials from their own namespace %s)", gw.Namespace, name, ns)
		}
		c.Fail(gw, "%s names certificate Secret %s, but there is no Secret %s/%s in the cluster%s: the listener has no certificate and TLS handshakes fail", where, name, ns, name, note).
			Field(field).Got("%s", name).Want("an existing kubernetes.io/tls Secret %s/%s", ns, name).
			Fixf("kubectl -n %s create secret tls %s --cert=tls.crt --key=tls.key\n# with cert-manager: kubectl -n %[1]s get certificate,certificaterequest   # is the Certificate for %[2]s Ready?", ns, name)
		return
	}
	var notes []string
	switch {
	case c.Live() == nil:
	case mesh.FromCluster(o):
		notes = append(notes, "listed from the cluster")
	default:
		notes = append(notes, "given in "+o.Origin.String()+", laid over the cluster: it exists once applied")
	}
	if cn := o.Annotations["cert-manager.io/certificate-name"]; cn != "" {
		notes = append(notes, "issued by cert-manager Certificate "+cn)
	}
	notes = append(notes, "read as metadata only: its type and expiry are not checked here")
	c.Pass(o, "%s: certificate Secret %s/%s exists (%s)", where, ns, name, strings.Join(notes, "; "))
}
