package gateway

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var tlsTermination = &check.Check{
	ID:    "gateway.tls-termination",
	Reads: reads(snapshot.Secret, snapshot.KGateway, snapshot.KHTTPRoute),
	Why: "Every server an ingress gateway exposes is reachable from outside the mesh: plain HTTP without a redirect " +
		"sends credentials and tokens in clear text, a credentialName whose Secret is missing (or in the wrong " +
		"namespace, or of the wrong type) leaves the listener without a certificate so clients fail the handshake, " +
		"and TLS 1.0/1.1 are broken protocols that compliance scans reject.",
	Fix: "Terminate TLS on every external server (tls.mode SIMPLE or MUTUAL with credentialName naming a " +
		"kubernetes.io/tls Secret in the gateway workload's namespace), set minProtocolVersion to TLSV1_2 or higher, " +
		"and give plain-HTTP servers tls.httpsRedirect: true.",
	Docs:   "https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/",
	Config: tlsConfig,
	Live:   tlsLive,
}

var tlsRank = map[string]int{"TLSV1_0": 1, "TLSV1_1": 2, "TLSV1_2": 3, "TLSV1_3": 4}

func tlsConfig(c *check.Context) {
	wls := mesh.GatewayWorkloads(c)
	gws := istioGateways(c, wls)
	want := c.Config.Thresholds.MinTLSVersion
	wantRank := tlsRank[want]
	external := 0
	for _, g := range gws {
		if g.egress || g.eastWest {
			continue
		}
		external++
		// Secrets are read from the namespace of the gateway workloads the
		// Gateway selects (Istio's credentialName rule), else the Gateway's own.
		nss := map[string]bool{}
		for _, w := range g.selected {
			nss[w.Object.Namespace] = true
		}
		if len(nss) == 0 {
			nss[g.obj.Namespace] = true
		}
		for i, s := range g.gw.Spec.GetServers() {
			checkServer(c, g, i, s, sortedSet(nss), want, wantRank)
		}
	}
	for _, kg := range mesh.KGateways(c) {
		if kg.Decoded && kg.ClassName != "istio" {
			continue
		}
		external++
		checkKGateway(c, kg, wantRank)
	}
	if external == 0 {
		c.Fail(cpNamespace(c), "no ingress Gateway (Istio Gateway or Gateway API Gateway) is defined: no external server terminates TLS").
			Want("a Gateway with an HTTPS server (tls.mode SIMPLE, credentialName -> kubernetes.io/tls Secret)").
			Fix(httpsServerYAML("istio-ingress", "example-com-tls"))
	}
}

func checkServer(c *check.Context, g istioGateway, i int, s *networking.Server, nss []string, want string, wantRank int) {
	port := s.GetPort()
	proto := strings.ToUpper(port.GetProtocol())
	field := fmt.Sprintf("spec.servers[%d]", i)
	name := fmt.Sprintf("server %d (port %d %s, hosts %s)", i, port.GetNumber(), proto, strings.Join(s.GetHosts(), ","))
	tls := s.GetTls()
	gwName := g.obj.Namespace + "/" + g.obj.Name
	switch proto {
	case "HTTPS", "TLS":
	case "HTTP", "HTTP2", "":
		if tls.GetHttpsRedirect() {
			c.Pass(g.obj, "Gateway %s %s redirects plain HTTP to HTTPS", gwName, name)
		} else {
			c.Fail(g.obj, "Gateway %s %s serves plain HTTP without redirecting to HTTPS: external traffic crosses the network unencrypted", gwName, name).
				Field(field+".tls.httpsRedirect").Got("false").Want("true").
				Fixf("spec:\n  servers:\n  - port: {number: %d, name: http, protocol: HTTP}\n    hosts: [%s]\n    tls:\n      httpsRedirect: true", port.GetNumber(), strings.Join(s.GetHosts(), ", "))
		}
		return
	default:
		c.Fail(g.obj, "Gateway %s %s exposes %s without TLS: external traffic crosses the network unencrypted", gwName, name, proto).
			Field(field+".port.protocol").Got("%s", proto).Want("TLS (tls.mode SIMPLE or MUTUAL)").
			Fix(httpsServerYAML(nss[0], "<tls-secret>"))
		return
	}
	if tls == nil {
		c.Fail(g.obj, "Gateway %s %s is %s but has no tls settings: it cannot terminate TLS", gwName, name, proto).
			Field(field + ".tls").Got("unset").Want("mode: SIMPLE with credentialName").
			Fix(httpsServerYAML(nss[0], "<tls-secret>"))
		return
	}
	ok := true
	mode := tls.GetMode()
	creds := append([]string(nil), tls.GetCredentialNames()...)
	if tls.GetCredentialName() != "" {
		creds = append([]string{tls.GetCredentialName()}, creds...)
	}
	switch mode {
	case networking.ServerTLSSettings_SIMPLE, networking.ServerTLSSettings_MUTUAL, networking.ServerTLSSettings_OPTIONAL_MUTUAL:
	case networking.ServerTLSSettings_PASSTHROUGH:
		if len(creds) > 0 || tls.GetServerCertificate() != "" {
			c.Fail(g.obj, "Gateway %s %s sets a certificate but no tls.mode, which defaults to PASSTHROUGH: the certificate is ignored and TLS is not terminated", gwName, name).
				Field(field+".tls.mode").Got("unset (PASSTHROUGH)").Want("SIMPLE or MUTUAL").
				Fixf("spec:\n  servers:\n  - tls:\n      mode: SIMPLE\n      credentialName: %s", firstOr(creds, "<tls-secret>"))
		} else {
			c.Warn(g.obj, "Gateway %s %s passes TLS through to the backend: the gateway does not terminate it (no L7 routing, policy or telemetry on it)", gwName, name).
				Field(field + ".tls.mode").Got("PASSTHROUGH").Want("SIMPLE or MUTUAL (unless the backend must terminate)").
				Fix("spec:\n  servers:\n  - tls:\n      mode: SIMPLE\n      credentialName: <tls-secret>\n# or waive this finding if the backend must terminate TLS itself")
		}
		return
	default:
		c.Warn(g.obj, "Gateway %s %s uses tls.mode %s, which is for mesh-internal (east-west) traffic, not external clients", gwName, name, mode).
			Field(field+".tls.mode").Got("%s", mode).Want("SIMPLE or MUTUAL").
			Fix("spec:\n  servers:\n  - tls:\n      mode: SIMPLE\n      credentialName: <tls-secret>")
		return
	}
	// Certificate source.
	var certNote string
	switch {
	case len(creds) > 0:
		var notes []string
		for _, cred := range creds {
			for _, ns := range nss {
				if !checkSecret(c, g, field, name, cred, ns) {
					ok = false
				} else {
					notes = append(notes, "Secret "+ns+"/"+cred)
				}
			}
		}
		certNote = strings.Join(notes, ", ")
	case tls.GetServerCertificate() != "" || len(tls.GetTlsCertificates()) > 0:
		certNote = "certificate files mounted into the gateway (" + firstOr([]string{tls.GetServerCertificate()}, "tlsCertificates") + ")"
	default:
		ok = false
		c.Fail(g.obj, "Gateway %s %s terminates TLS but names no certificate (credentialName or serverCertificate)", gwName, name).
			Field(field+".tls.credentialName").Got("unset").Want("a kubernetes.io/tls Secret in %s", strings.Join(nss, ", ")).
			Fixf("kubectl -n %s create secret tls <name> --cert=tls.crt --key=tls.key\n# then: tls: {mode: SIMPLE, credentialName: <name>}", nss[0])
	}
	// Protocol versions (TLS_AUTO means Istio's default minimum, TLS 1.2).
	minV := tls.GetMinProtocolVersion().String()
	effMin := minV
	if tls.GetMinProtocolVersion() == networking.ServerTLSSettings_TLS_AUTO {
		effMin = "TLSV1_2"
	}
	if tlsRank[effMin] < wantRank {
		ok = false
		got := minV
		if tls.GetMinProtocolVersion() == networking.ServerTLSSettings_TLS_AUTO {
			got = "unset (Istio default TLSV1_2)"
		}
		c.Fail(g.obj, "Gateway %s %s accepts TLS versions below %s (minProtocolVersion %s)", gwName, name, want, got).
			Field(field+".tls.minProtocolVersion").Got("%s", got).Want(">= %s", want).
			Fixf("spec:\n  servers:\n  - tls:\n      minProtocolVersion: %s", want)
	}
	if maxV := tls.GetMaxProtocolVersion(); maxV != networking.ServerTLSSettings_TLS_AUTO && tlsRank[maxV.String()] < wantRank {
		ok = false
		c.Fail(g.obj, "Gateway %s %s caps TLS at %s, below the required %s", gwName, name, maxV, want).
			Field(field+".tls.maxProtocolVersion").Got("%s", maxV).Want(">= %s (or unset)", want).
			Fix("spec:\n  servers:\n  - tls:\n      maxProtocolVersion: TLSV1_3   # or remove it")
	}
	if ok {
		c.Pass(g.obj, "Gateway %s %s terminates TLS (%s) with %s, minimum %s", gwName, name, mode, certNote, effMin)
	}
}

// checkSecret verifies a credentialName: a Secret of type kubernetes.io/tls
// in the gateway workload's namespace. Only the Secret's metadata and type are read.
func checkSecret(c *check.Context, g istioGateway, field, server, name, ns string) bool {
	gwName := g.obj.Namespace + "/" + g.obj.Name
	o := c.Get(snapshot.Secret, ns, name)
	if o == nil && c.Unreadable(snapshot.Secret) {
		return false // the unreadable-kind error finding says why; absence proves nothing
	}
	if o == nil {
		where := ""
		if g.obj.Namespace != ns {
			if c.Get(snapshot.Secret, g.obj.Namespace, name) != nil {
				where = fmt.Sprintf(" (a Secret %s/%s exists, but Istio reads credentials from the gateway workload's namespace)", g.obj.Namespace, name)
			}
		}
		c.Fail(g.obj, "Gateway %s %s names credentialName %s, but there is no Secret %s/%s%s: the listener has no certificate", gwName, server, name, ns, name, where).
			Field(field+".tls.credentialName").Got("%s", name).Want("a kubernetes.io/tls Secret %s/%s", ns, name).
			Fixf("kubectl -n %s create secret tls %s --cert=tls.crt --key=tls.key\n# or with cert-manager: a Certificate with spec.secretName: %[2]s in namespace %[1]s", ns, name)
		return false
	}
	s, ok := o.Typed.(*corev1.Secret)
	if !ok {
		c.Warn(o, "Secret %s/%s (credentialName of Gateway %s) could not be decoded: its type is unknown", ns, name, gwName).
			Want("type kubernetes.io/tls").Fix("kubectl -n " + ns + " get secret " + name + " -o jsonpath='{.type}'")
		return false
	}
	if s.Type != corev1.SecretTypeTLS {
		c.Fail(o, "Secret %s/%s, the credentialName of Gateway %s %s, has type %s, not kubernetes.io/tls", ns, name, gwName, server, secretType(s)).
			Field("type").Got("%s", secretType(s)).Want("kubernetes.io/tls").
			Fixf("kubectl -n %s delete secret %s && kubectl -n %[1]s create secret tls %[2]s --cert=tls.crt --key=tls.key", ns, name)
		return false
	}
	return true
}

func secretType(s *corev1.Secret) string {
	if s.Type == "" {
		return "Opaque (unset)"
	}
	return string(s.Type)
}

// checkKGateway checks a Gateway API Gateway's listeners.
func checkKGateway(c *check.Context, kg mesh.KGateway, wantRank int) {
	name := kg.Object.Namespace + "/" + kg.Object.Name
	if !kg.Decoded {
		c.Warn(kg.Object, "Gateway API Gateway %s could not be read: its listeners' TLS is not checked", name).
			Fix("kubectl -n " + kg.Object.Namespace + " get gateway.gateway.networking.k8s.io " + kg.Object.Name + " -o yaml   # check each listener's tls")
		return
	}
	redirects := httpsRedirectRoutes(c, kg)
	for i, l := range kg.Listeners {
		field := fmt.Sprintf("spec.listeners[%d]", i)
		lname := fmt.Sprintf("listener %s (port %d %s)", l.Name, l.Port, l.Protocol)
		switch strings.ToUpper(l.Protocol) {
		case "HTTP":
			if r := redirects[l.Name]; r != "" || redirects[""] != "" {
				c.Pass(kg.Object, "Gateway %s %s redirects to HTTPS (HTTPRoute %s)", name, lname, firstNonEmpty(r, redirects[""]))
				continue
			}
			c.Fail(kg.Object, "Gateway %s %s serves plain HTTP and no HTTPRoute attached to it redirects to HTTPS", name, lname).
				Field(field).Got("HTTP without redirect").Want("an HTTPRoute with a RequestRedirect filter (scheme: https)").
				Fixf("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: https-redirect\n  namespace: %s\nspec:\n  parentRefs: [{name: %s, sectionName: %s}]\n  rules:\n  - filters:\n    - type: RequestRedirect\n      requestRedirect: {scheme: https, statusCode: 301}", kg.Object.Namespace, kg.Object.Name, l.Name)
		case "HTTPS", "TLS":
			if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
				if l.TLS != nil && strings.EqualFold(l.TLS.Mode, "Passthrough") {
					c.Warn(kg.Object, "Gateway %s %s passes TLS through: the gateway does not terminate it", name, lname).
						Field(field + ".tls.mode").Got("Passthrough").Want("Terminate").
						Fix("tls:\n  mode: Terminate\n  certificateRefs: [{name: <tls-secret>}]")
					continue
				}
				c.Fail(kg.Object, "Gateway %s %s names no certificate", name, lname).
					Field(field + ".tls.certificateRefs").Got("unset").Want("a kubernetes.io/tls Secret").
					Fix("tls:\n  mode: Terminate\n  certificateRefs: [{name: <tls-secret>}]")
				continue
			}
			good := true
			for _, ref := range l.TLS.CertificateRefs {
				ns := ref.Namespace
				if ns == "" {
					ns = kg.Object.Namespace
				}
				if ref.Kind != "" && ref.Kind != "Secret" {
					continue
				}
				o := c.Get(snapshot.Secret, ns, ref.Name)
				s, _ := typedSecret(o)
				switch {
				case o == nil && c.Unreadable(snapshot.Secret):
					good = false // the unreadable-kind error finding says why
				case o == nil:
					good = false
					c.Fail(kg.Object, "Gateway %s %s references Secret %s/%s, which does not exist", name, lname, ns, ref.Name).
						Field(field+".tls.certificateRefs").Got("%s/%s", ns, ref.Name).Want("an existing kubernetes.io/tls Secret").
						Fixf("kubectl -n %s create secret tls %s --cert=tls.crt --key=tls.key", ns, ref.Name)
				case s != nil && s.Type != corev1.SecretTypeTLS:
					good = false
					c.Fail(o, "Secret %s/%s, referenced by Gateway %s %s, has type %s, not kubernetes.io/tls", ns, ref.Name, name, lname, secretType(s)).
						Field("type").Got("%s", secretType(s)).Want("kubernetes.io/tls").
						Fixf("kubectl -n %s delete secret %s && kubectl -n %[1]s create secret tls %[2]s --cert=tls.crt --key=tls.key", ns, ref.Name)
				}
			}
			if good {
				note := "Istio's default minimum TLS 1.2"
				if wantRank > tlsRank["TLSV1_2"] {
					c.Warn(kg.Object, "Gateway %s %s: the minimum TLS version of a Gateway API listener is Istio's default (TLS 1.2), below the required TLS 1.3", name, lname).
						Field(field + ".tls.options").Want("a minimum of TLS 1.3").
						Fix("Use an Istio Gateway with tls.minProtocolVersion: TLSV1_3 for this host, or relax thresholds.minTLSVersion.")
					continue
				}
				c.Pass(kg.Object, "Gateway %s %s terminates TLS with a kubernetes.io/tls Secret (%s)", name, lname, note)
			}
		default:
			c.Fail(kg.Object, "Gateway %s %s exposes %s without TLS", name, lname, l.Protocol).
				Field(field+".protocol").Got("%s", l.Protocol).Want("HTTPS or TLS").
				Fix("listeners:\n- name: https\n  protocol: HTTPS\n  port: 443\n  tls: {mode: Terminate, certificateRefs: [{name: <tls-secret>}]}")
		}
	}
}

func typedSecret(o *snapshot.Object) (*corev1.Secret, bool) {
	if o == nil {
		return nil, false
	}
	s, ok := o.Typed.(*corev1.Secret)
	return s, ok
}

// httpsRedirectRoutes maps listener (sectionName, "" for all) to an
// HTTPRoute attached to the Gateway that redirects to https.
func httpsRedirectRoutes(c *check.Context, kg mesh.KGateway) map[string]string {
	out := map[string]string{}
	for _, o := range c.List(snapshot.KHTTPRoute) {
		if o.Typed == nil {
			continue
		}
		b, err := json.Marshal(o.Typed)
		if err != nil {
			continue
		}
		var r struct {
			Spec struct {
				ParentRefs []struct {
					Name        string `json:"name"`
					Namespace   string `json:"namespace"`
					SectionName string `json:"sectionName"`
				} `json:"parentRefs"`
				Rules []struct {
					Filters []struct {
						Type            string `json:"type"`
						RequestRedirect *struct {
							Scheme string `json:"scheme"`
						} `json:"requestRedirect"`
					} `json:"filters"`
				} `json:"rules"`
			} `json:"spec"`
		}
		if json.Unmarshal(b, &r) != nil {
			continue
		}
		redirect := false
		for _, rule := range r.Spec.Rules {
			for _, f := range rule.Filters {
				if f.Type == "RequestRedirect" && f.RequestRedirect != nil && strings.EqualFold(f.RequestRedirect.Scheme, "https") {
					redirect = true
				}
			}
		}
		if !redirect {
			continue
		}
		for _, p := range r.Spec.ParentRefs {
			ns := p.Namespace
			if ns == "" {
				ns = o.Namespace
			}
			if p.Name == kg.Object.Name && ns == kg.Object.Namespace {
				out[p.SectionName] = o.Namespace + "/" + o.Name
			}
		}
	}
	return out
}

func httpsServerYAML(ns, secret string) string {
	return fmt.Sprintf(`kubectl -n %[1]s create secret tls %[2]s --cert=tls.crt --key=tls.key
# Gateway servers:
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [app.example.com]
    tls:
      mode: SIMPLE
      credentialName: %[2]s
      minProtocolVersion: TLSV1_2
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [app.example.com]
    tls:
      httpsRedirect: true`, ns, secret)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstOr(list []string, def string) string {
	for _, s := range list {
		if s != "" {
			return s
		}
	}
	return def
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
