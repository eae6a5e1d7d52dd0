package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshready/meshready/internal/evidence"
)

// TLSOptions configure `probe tls`.
type TLSOptions struct {
	Common
	URL        string // https://host[:port]
	ServerName string // name the certificate must be valid for (default the URL's host)
	CAFile     string // PEM roots instead of the system's
	Timeout    time.Duration
}

var tlsVersions = []struct {
	v    uint16
	name string
}{{tls.VersionTLS10, "TLS1.0"}, {tls.VersionTLS11, "TLS1.1"}, {tls.VersionTLS12, "TLS1.2"}, {tls.VersionTLS13, "TLS1.3"}}

func versionName(v uint16) string {
	for _, x := range tlsVersions {
		if x.v == v {
			return x.name
		}
	}
	return fmt.Sprintf("0x%04x", v)
}

// minVersionOf maps the config's TLSV1_2 / TLSV1_3 to a version.
func minVersionOf(s string) uint16 {
	if s == "TLSV1_3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// WeakCipherSuites are the TLS 1.0–1.2 suites a server should refuse: Go's
// insecure list (RC4, 3DES, CBC with SHA-256), key exchange without forward
// secrecy (TLS_RSA_*), and CBC with SHA-1 (outside Mozilla's intermediate
// profile, and Envoy's defaults).
func WeakCipherSuites() []*tls.CipherSuite {
	var out []*tls.CipherSuite
	out = append(out, tls.InsecureCipherSuites()...)
	for _, cs := range tls.CipherSuites() {
		if slices.Contains(cs.SupportedVersions, tls.VersionTLS13) {
			continue
		}
		if strings.HasPrefix(cs.Name, "TLS_RSA_") || strings.HasSuffix(cs.Name, "_CBC_SHA") {
			out = append(out, cs)
		}
	}
	return out
}

func allSuiteIDs() []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		ids = append(ids, cs.ID)
	}
	for _, cs := range tls.InsecureCipherSuites() {
		ids = append(ids, cs.ID)
	}
	return ids
}

// TLS inspects a TLS endpoint: the chain is valid for the server name
// against the system (or --ca) roots, the leaf's days to expiry, which
// protocol versions are accepted (the lowest must be at least the
// threshold), and that no weak cipher suite is accepted.
func TLS(ctx context.Context, o TLSOptions) (*evidence.Record, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want an https:// URL", o.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	name := o.ServerName
	if name == "" {
		name = u.Hostname()
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	var roots *x509.CertPool
	if o.CAFile != "" {
		if roots, err = loadRoots(o.CAFile); err != nil {
			return nil, err
		}
	}
	params := map[string]any{"serverName": name, "minTLSVersion": o.Thresholds.MinTLSVersion, "certExpiryDays": o.Thresholds.CertExpiryDays}
	if o.CAFile != "" {
		params["ca"] = o.CAFile
	} else {
		params["ca"] = "system roots"
	}
	rec := newRecord(evidence.KindTLS, o.URL, params)
	res := &evidence.TLSResults{ServerName: name, VersionsAccepted: []string{}, WeakCiphersOK: []string{}}
	rec.Results.TLS = res

	dial := func(c *tls.Config) (*tls.ConnectionState, error) {
		c.ServerName = name
		c.InsecureSkipVerify = true //nolint:gosec // the chain is verified below, by hand, to report why it fails
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: o.Timeout}, Config: c}
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		conn, err := d.DialContext(cctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		st := conn.(*tls.Conn).ConnectionState()
		return &st, nil
	}
	// 1. Default handshake: the chain and the negotiated version.
	st, err := dial(&tls.Config{MinVersion: tls.VersionTLS10, CipherSuites: allSuiteIDs()})
	if err != nil {
		if ctx.Err() != nil {
			return finish(rec, true), nil
		}
		rec.Reasons = append(rec.Reasons, reason(false, "TLS handshake with %s failed: %v", addr, err))
		return finish(rec, false), nil
	}
	res.NegotiatedVersion = versionName(st.Version)
	leaf := st.PeerCertificates[0]
	res.Subject, res.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	res.NotAfter = leaf.NotAfter.UTC().Format(time.RFC3339)
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	res.DaysToExpiry = leaf.NotAfter.Sub(now).Hours() / 24
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, verr := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: now})
	res.ChainValid = verr == nil
	if verr != nil {
		res.ChainError = verr.Error()
	}
	rootsName := "the system roots"
	if o.CAFile != "" {
		rootsName = o.CAFile
	}
	if verr == nil {
		rec.Reasons = append(rec.Reasons, reason(true, "certificate chain valid for %q against %s (issuer %s)", name, rootsName, res.Issuer))
	} else {
		rec.Reasons = append(rec.Reasons, reason(false, "certificate chain not valid for %q against %s: %v", name, rootsName, verr))
	}
	rec.Reasons = append(rec.Reasons, reason(res.DaysToExpiry >= float64(o.Thresholds.CertExpiryDays),
		"certificate expires %s: %.1f days left (at least %d)", res.NotAfter, res.DaysToExpiry, o.Thresholds.CertExpiryDays))

	// 2. Each protocol version on its own.
	var lowest uint16
	for _, v := range tlsVersions {
		if _, err := dial(&tls.Config{MinVersion: v.v, MaxVersion: v.v, CipherSuites: allSuiteIDs()}); err == nil {
			res.VersionsAccepted = append(res.VersionsAccepted, v.name)
			if lowest == 0 {
				lowest = v.v
			}
		}
	}
	want := minVersionOf(o.Thresholds.MinTLSVersion)
	if lowest != 0 {
		res.MinVersion = versionName(lowest)
	}
	rec.Reasons = append(rec.Reasons, reason(lowest >= want,
		"lowest protocol accepted: %s (accepted %s; at least %s)", res.MinVersion, strings.Join(res.VersionsAccepted, ", "), versionName(want)))

	// 3. Weak cipher suites, one at a time, at every pre-1.3 version the server accepts.
	for _, cs := range WeakCipherSuites() {
		res.WeakCiphersTried = append(res.WeakCiphersTried, cs.Name)
		for _, v := range tlsVersions[:3] {
			if !slices.Contains(res.VersionsAccepted, v.name) || !slices.Contains(cs.SupportedVersions, v.v) {
				continue
			}
			if _, err := dial(&tls.Config{MinVersion: v.v, MaxVersion: v.v, CipherSuites: []uint16{cs.ID}}); err == nil {
				res.WeakCiphersOK = append(res.WeakCiphersOK, cs.Name+" ("+v.name+")")
				break
			}
		}
	}
	rec.Reasons = append(rec.Reasons, reason(len(res.WeakCiphersOK) == 0,
		"weak cipher suites accepted: %d of %d tried%s", len(res.WeakCiphersOK), len(res.WeakCiphersTried), listSuffix(res.WeakCiphersOK)))
	return finish(rec, ctx.Err() != nil), nil
}

func listSuffix(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return " (" + strings.Join(s, ", ") + ")"
}

// MTLSOptions configure `probe mtls`.
type MTLSOptions struct {
	Common
	URL     string // http://pod-or-service:port, an in-mesh port
	Timeout time.Duration
}

// MTLS sends a plaintext HTTP request to an in-mesh port; under STRICT mTLS
// the sidecar accepts the TCP connection and then resets or closes it (or a
// TLS-only listener answers that it wants TLS). A response to the plaintext
// request means plaintext is accepted. A refused TCP connection proves
// nothing (nothing listens there) and fails the probe as inconclusive.
func MTLS(ctx context.Context, o MTLSOptions) (*evidence.Record, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want a plaintext http:// URL of an in-mesh port", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	rec := newRecord(evidence.KindMTLS, o.URL, map[string]any{"timeout": o.Timeout.String()})
	mr := &evidence.MTLSResults{}
	rec.Results.MTLS = mr
	connected := false
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: o.Timeout}).DialContext(ctx, network, addr)
			// A reset during connect also means something accepted the
			// connection (and dropped it at once); a refusal means nothing listens.
			if err == nil || errors.Is(err, syscall.ECONNRESET) {
				connected = true
			}
			return c, err
		},
		DisableKeepAlives: true,
	}
	client := &http.Client{Transport: tr, Timeout: o.Timeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	rec.Results.Requests = 1
	switch {
	case ctx.Err() != nil:
		return finish(rec, true), nil
	case err != nil && !connected:
		mr.Outcome = "TCP connection failed: " + err.Error()
		rec.Results.TransportErrors, rec.Results.Errors = 1, 1
		rec.Reasons = append(rec.Reasons, reason(false, "inconclusive: nothing accepted a TCP connection at %s (%v); give the address of an in-mesh port (pod IP or service and port)", u.Host, err))
	case err != nil:
		mr.Refused = true
		mr.Outcome = "connection accepted, then closed without an HTTP response: " + describeNetErr(err)
		rec.Results.TransportErrors, rec.Results.Errors = 1, 1
		rec.Reasons = append(rec.Reasons, reason(true, "plaintext request refused: %s", mr.Outcome))
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		mr.Status = resp.StatusCode
		rec.Results.StatusCodes = map[string]int64{fmt.Sprint(resp.StatusCode): 1}
		if resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("HTTP request to an HTTPS server")) {
			mr.Refused = true
			mr.Outcome = "HTTP 400: the port requires TLS"
			rec.Reasons = append(rec.Reasons, reason(true, "plaintext request refused: the port answered that it requires TLS"))
		} else {
			mr.Outcome = fmt.Sprintf("HTTP %d", resp.StatusCode)
			rec.Reasons = append(rec.Reasons, reason(false, "plaintext request accepted: got HTTP %d (mTLS is not STRICT on this port)", resp.StatusCode))
		}
	}
	return finish(rec, false), nil
}

func describeNetErr(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "connection reset"):
		return "connection reset"
	case errors.Is(err, io.EOF) || strings.Contains(s, "EOF"):
		return "connection closed (EOF)"
	}
	return s
}

// Decision classifies a response for authn/authz: 401 and 403 are deny; a
// 5xx or no response is an error; anything else means the request got past
// the policy (allow).
func Decision(status int, err error) string {
	switch {
	case err != nil || status >= 500:
		return "error"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "deny"
	}
	return "allow"
}

// AuthnOptions configure `probe authn`.
type AuthnOptions struct {
	Common
	Target
	// Token is a valid JWT (never printed or recorded); TokenSource says
	// where it came from ("file x", "env Y") for the record.
	Token, TokenSource string
	// InvalidToken, when set, is an extra token that must be rejected (e.g. expired).
	InvalidToken string
	// Header carrying the token (default Authorization, value "Bearer TOKEN").
	Header string
}

// Authn checks that requests without a token or with invalid tokens are
// rejected (401/403) and a request with a valid token is accepted.
func Authn(ctx context.Context, o AuthnOptions) (*evidence.Record, error) {
	if o.Token == "" {
		return nil, errors.New("a valid token is needed: --token-file FILE or --token-env NAME")
	}
	if o.Header == "" {
		o.Header = "Authorization"
	}
	rec := newRecord(evidence.KindAuthn, o.URL, map[string]any{"tokenSource": o.TokenSource, "header": o.Header, "method": o.method()})
	type tc struct {
		name, token, expect string
	}
	cases := []tc{{"no token", "", "deny"}, {"tampered signature", tamper(o.Token), "deny"}}
	if none, ok := algNone(o.Token); ok {
		cases = append(cases, tc{"unsigned (alg none)", none, "deny"})
	}
	cases = append(cases, tc{"malformed token", "not-a-jwt", "deny"})
	if o.InvalidToken != "" {
		cases = append(cases, tc{"given invalid token", o.InvalidToken, "deny"})
	}
	cases = append(cases, tc{"valid token", o.Token, "allow"})
	client, err := o.Target.Client(1)
	if err != nil {
		return nil, err
	}
	for _, c := range cases {
		h := o.Header
		var v string
		if c.token != "" {
			v = c.token
			if strings.EqualFold(h, "Authorization") {
				v = "Bearer " + c.token
			}
		}
		st, err := do(ctx, client, o.Target, o.URL, map[string]string{h: v})
		if ctx.Err() != nil {
			return finish(rec, true), nil
		}
		rec.Results.Authn = append(rec.Results.Authn, caseResult(c.name, o.method(), "", c.expect, st, err))
	}
	judgeCases(rec, rec.Results.Authn)
	return finish(rec, false), nil
}

func caseResult(name, method, path, expect string, st int, err error) evidence.Case {
	got := Decision(st, err)
	c := evidence.Case{Name: name, Method: method, Path: path, Expect: expect, Status: st, Got: got, OK: got == expect}
	if err != nil {
		c.Error = err.Error()
	}
	return c
}

func judgeCases(rec *evidence.Record, cases []evidence.Case) {
	for _, c := range cases {
		what := fmt.Sprintf("HTTP %d", c.Status)
		if c.Error != "" {
			what = c.Error
		}
		rec.Results.Requests++
		if c.Error != "" || c.Status >= 500 {
			rec.Results.Errors++
		}
		rec.Reasons = append(rec.Reasons, reason(c.OK, "%s: expected %s, got %s (%s)", c.Name, c.Expect, c.Got, what))
	}
	if len(cases) == 0 {
		rec.Reasons = append(rec.Reasons, reason(false, "no cases"))
	}
}

func do(ctx context.Context, client *http.Client, t Target, target string, headers map[string]string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, t.method(), target, bytes.NewReader(t.Body))
	if err != nil {
		return 0, err
	}
	for k, vs := range t.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if h := t.Header.Get("Host"); h != "" {
		req.Host = h
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, redact(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// redact drops the URL's query from client errors (it may carry secrets).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// tamper changes one character in the middle of a JWT's signature.
func tamper(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || i == len(tok)-1 {
		return tok + "x"
	}
	b := []byte(tok)
	j := i + 1 + (len(tok)-i-1)/2
	if b[j] == 'A' {
		b[j] = 'B'
	} else {
		b[j] = 'A'
	}
	return string(b)
}

// algNone rewrites a JWT with header {"alg":"none"} and no signature.
func algNone(tok string) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return h + "." + parts[1] + ".", true
}

// AuthzTable is the YAML table of `probe authz --table FILE`.
type AuthzTable struct {
	// URL is the base the case paths are joined to (--url overrides it).
	URL   string      `yaml:"url"`
	Cases []AuthzCase `yaml:"cases"`
}

// AuthzCase is one request and the decision the policies should give it.
type AuthzCase struct {
	Name    string            `yaml:"name"`
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"`
	Headers map[string]string `yaml:"headers"`
	// TokenEnv / TokenFile: a bearer token for this request (never printed).
	TokenEnv  string `yaml:"tokenEnv"`
	TokenFile string `yaml:"tokenFile"`
	Expect    string `yaml:"expect"` // allow | deny
}

// LoadAuthzTable reads and validates a table; relative token files are
// resolved against the table's directory.
func LoadAuthzTable(path string) (*AuthzTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := &AuthzTable{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	if len(t.Cases) == 0 {
		errs = append(errs, fmt.Errorf("%s: no cases", path))
	}
	for i, c := range t.Cases {
		if c.Expect != "allow" && c.Expect != "deny" {
			errs = append(errs, fmt.Errorf("%s: cases[%d] (%s): expect %q: want allow or deny", path, i, c.Name, c.Expect))
		}
		if c.TokenEnv != "" && c.TokenFile != "" {
			errs = append(errs, fmt.Errorf("%s: cases[%d] (%s): give tokenEnv or tokenFile, not both", path, i, c.Name))
		}
		if c.TokenFile != "" && !strings.HasPrefix(c.TokenFile, "/") {
			t.Cases[i].TokenFile = dirOf(path) + c.TokenFile
		}
		if c.Name == "" {
			t.Cases[i].Name = fmt.Sprintf("%s %s", c.Method, c.Path)
		}
	}
	return t, errors.Join(errs...)
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return ""
}

// ReadToken reads a token from a file or an environment variable (by name).
func ReadToken(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("token file %s is empty", file)
		}
		return t, nil
	case env != "":
		t := strings.TrimSpace(os.Getenv(env))
		if t == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", env)
		}
		return t, nil
	}
	return "", nil
}

// AuthzOptions configure `probe authz`.
type AuthzOptions struct {
	Common
	Target // URL: the base URL (overrides the table's)
	Table  *AuthzTable
}

// Authz sends every request of the table and compares the decision (deny
// for 401/403) with the expected one.
func Authz(ctx context.Context, o AuthzOptions) (*evidence.Record, error) {
	base := o.URL
	if base == "" {
		base = o.Table.URL
	}
	if base == "" {
		return nil, errors.New("give the base URL: --url or url: in the table")
	}
	rec := newRecord(evidence.KindAuthz, base, map[string]any{"cases": len(o.Table.Cases)})
	client, err := o.Target.Client(1)
	if err != nil {
		return nil, err
	}
	for _, c := range o.Table.Cases {
		tok, err := ReadToken(c.TokenFile, c.TokenEnv)
		if err != nil {
			rec.Results.Authz = append(rec.Results.Authz, evidence.Case{Name: c.Name, Method: c.Method, Path: c.Path, Expect: c.Expect, Got: "error", Error: err.Error()})
			continue
		}
		h := map[string]string{}
		for k, v := range c.Headers {
			h[k] = v
		}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		t := o.Target
		if c.Method != "" {
			t.Method = strings.ToUpper(c.Method)
		}
		st, err := do(ctx, client, t, strings.TrimRight(base, "/")+"/"+strings.TrimLeft(c.Path, "/"), h)
		if ctx.Err() != nil {
			return finish(rec, true), nil
		}
		rec.Results.Authz = append(rec.Results.Authz, caseResult(c.Name, t.method(), c.Path, c.Expect, st, err))
	}
	judgeCases(rec, rec.Results.Authz)
	return finish(rec, false), nil
}
