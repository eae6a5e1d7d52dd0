package probe

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/evidence"
)

var loopIPs = []net.IP{net.ParseIP("127.0.0.1")}

// strongTLS is a TLS 1.2+ server configuration with only AEAD ECDHE suites.
func strongTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}
}

func reasonFailed(rec *evidence.Record, substr string) bool {
	for _, r := range rec.Reasons {
		if !r.OK && strings.Contains(r.Message, substr) {
			return true
		}
	}
	return false
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	now := time.Now()
	valid := p.leaf(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), []string{"localhost"}, loopIPs)

	t.Run("valid", func(t *testing.T) {
		s := tlsServer(t, valid, strongTLS())
		rec, err := TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL, CAFile: p.caFile})
		if err != nil {
			t.Fatal(err)
		}
		r := rec.Results.TLS
		if rec.Verdict != evidence.Pass || !r.ChainValid || r.MinVersion != "TLS1.2" || len(r.WeakCiphersOK) != 0 || r.DaysToExpiry < 89 || r.DaysToExpiry > 90 {
			t.Errorf("verdict %s %+v: %+v", rec.Verdict, r, rec.Reasons)
		}
	})
	t.Run("untrusted without --ca", func(t *testing.T) {
		s := tlsServer(t, valid, strongTLS())
		rec, _ := TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL})
		if rec.Verdict != evidence.Fail || rec.Results.TLS.ChainValid {
			t.Errorf("verdict %s chain valid %v", rec.Verdict, rec.Results.TLS.ChainValid)
		}
	})
	t.Run("expired", func(t *testing.T) {
		s := tlsServer(t, p.leaf(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), []string{"localhost"}, loopIPs), strongTLS())
		rec, _ := TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL, CAFile: p.caFile})
		r := rec.Results.TLS
		if rec.Verdict != evidence.Fail || r.ChainValid || !strings.Contains(r.ChainError, "expired") || r.DaysToExpiry > -0.9 {
			t.Errorf("verdict %s %+v", rec.Verdict, r)
		}
	})
	t.Run("expiring soon", func(t *testing.T) {
		s := tlsServer(t, p.leaf(t, now.Add(-time.Hour), now.Add(10*24*time.Hour), []string{"localhost"}, loopIPs), strongTLS())
		rec, _ := TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL, CAFile: p.caFile})
		if rec.Verdict != evidence.Fail || !rec.Results.TLS.ChainValid || !reasonFailed(rec, "days left") {
			t.Errorf("verdict %s: %+v", rec.Verdict, rec.Reasons)
		}
	})
	t.Run("wrong host", func(t *testing.T) {
		s := tlsServer(t, p.leaf(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), []string{"other.example"}, nil), strongTLS())
		rec, _ := TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL, CAFile: p.caFile})
		r := rec.Results.TLS
		if rec.Verdict != evidence.Fail || r.ChainValid || !strings.Contains(r.ChainError, "127.0.0.1") {
			t.Errorf("verdict %s %+v", rec.Verdict, r)
		}
		// The same certificate is valid when the name it was issued for is asked.
		rec, _ = TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL, CAFile: p.caFile, ServerName: "other.example"})
		if !rec.Results.TLS.ChainValid {
			t.Errorf("--servername other.example: %s", rec.Results.TLS.ChainError)
		}
	})
	t.Run("TLS 1.0 only", func(t *testing.T) {
		// crypto/tls accepts an explicit TLS 1.0 server configuration (the
		// tls10server GODEBUG only changes the default minimum).
		s := tlsServer(t, valid, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10})
		rec, _ := TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL, CAFile: p.caFile})
		r := rec.Results.TLS
		if rec.Verdict != evidence.Fail || r.MinVersion != "TLS1.0" || strings.Join(r.VersionsAccepted, ",") != "TLS1.0" || !reasonFailed(rec, "lowest protocol") {
			t.Errorf("verdict %s %+v", rec.Verdict, r)
		}
	})
	t.Run("weak ciphers", func(t *testing.T) {
		s := tlsServer(t, valid, &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}})
		rec, _ := TLS(ctxT(t), TLSOptions{Common: testCommon(), URL: s.URL, CAFile: p.caFile})
		got := strings.Join(rec.Results.TLS.WeakCiphersOK, ",")
		if rec.Verdict != evidence.Fail || !strings.Contains(got, "TLS_RSA_WITH_AES_128_GCM_SHA256") || !strings.Contains(got, "TLS_RSA_WITH_3DES_EDE_CBC_SHA") || len(rec.Results.TLS.WeakCiphersOK) != 2 {
			t.Errorf("verdict %s, weak accepted %s", rec.Verdict, got)
		}
	})
}

func TestMTLS(t *testing.T) {
	// A listener that reads the request and resets the connection, as a
	// STRICT sidecar does to plaintext.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			c.Read(make([]byte, 512))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	plain := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), false)
	tlsOnly := tlsServer(t, newPKI(t).leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil, loopIPs), nil)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name, url, verdict string
		refused            bool
	}{
		{"reset", "http://" + ln.Addr().String() + "/", evidence.Pass, true},
		{"tls only", strings.Replace(tlsOnly.URL, "https://", "http://", 1), evidence.Pass, true},
		{"plaintext accepted", plain.URL, evidence.Fail, false},
		{"nothing listening", "http://" + closedAddr + "/", evidence.Fail, false},
	} {
		rec, err := MTLS(ctxT(t), MTLSOptions{Common: testCommon(), URL: tc.url, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Verdict != tc.verdict || rec.Results.MTLS.Refused != tc.refused {
			t.Errorf("%s: verdict %s refused %v (%s)", tc.name, rec.Verdict, rec.Results.MTLS.Refused, rec.Results.MTLS.Outcome)
		}
	}
}

func TestAuthn(t *testing.T) {
	iss := newJWTIssuer()
	jwks := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(iss.jwks()) }), false)
	s := jwtServer(t, jwks.URL, iss.iss)
	valid := iss.sign(map[string]any{"iss": iss.iss, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	expired := iss.sign(map[string]any{"iss": iss.iss, "sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()})
	f := filepath.Join(t.TempDir(), "token")
	os.WriteFile(f, []byte(valid+"\n"), 0o600)
	tok, err := ReadToken(f, "")
	if err != nil || tok != valid {
		t.Fatalf("ReadToken: %v", err)
	}
	rec, err := Authn(ctxT(t), AuthnOptions{Common: testCommon(), Target: Target{URL: s.URL}, Token: tok, TokenSource: "file " + f, InvalidToken: expired})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != evidence.Pass || len(rec.Results.Authn) != 6 {
		t.Errorf("verdict %s: %+v", rec.Verdict, rec.Results.Authn)
	}
	// The record never holds a token.
	for _, c := range rec.Results.Authn {
		if strings.Contains(c.Error, valid[:20]) {
			t.Errorf("token leaked in %+v", c)
		}
	}
	for _, r := range rec.Reasons {
		if strings.Contains(r.Message, valid[:20]) {
			t.Errorf("token leaked in %q", r.Message)
		}
	}
	// A server that lets everything through fails.
	open := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), false)
	rec, _ = Authn(ctxT(t), AuthnOptions{Common: testCommon(), Target: Target{URL: open.URL}, Token: valid})
	if rec.Verdict != evidence.Fail {
		t.Errorf("open server: verdict %s", rec.Verdict)
	}
	// A token signed by another key is rejected too (as the tampered one).
	other := newJWTIssuer().sign(map[string]any{"iss": iss.iss, "exp": time.Now().Add(time.Hour).Unix()})
	rec, _ = Authn(ctxT(t), AuthnOptions{Common: testCommon(), Target: Target{URL: s.URL}, Token: other})
	if rec.Verdict != evidence.Fail || !reasonFailed(rec, "valid token: expected allow, got deny") {
		t.Errorf("foreign token as valid: verdict %s %+v", rec.Verdict, rec.Reasons)
	}
}

func TestAuthz(t *testing.T) {
	s := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/admin") && r.Header.Get("Authorization") != "Bearer admin-token":
			http.Error(w, "RBAC: access denied", http.StatusForbidden)
		case r.Method == http.MethodDelete:
			http.Error(w, "RBAC: access denied", http.StatusForbidden)
		}
	}), false)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "admin.token"), []byte("admin-token"), 0o600)
	table := filepath.Join(dir, "authz.yaml")
	os.WriteFile(table, []byte(`cases:
  - {name: public read, method: GET, path: /items, expect: allow}
  - {name: anonymous admin, method: GET, path: /admin, expect: deny}
  - {name: admin with token, method: GET, path: /admin, tokenFile: admin.token, expect: allow}
  - {name: delete denied, method: DELETE, path: /items/1, expect: deny}
`), 0o600)
	tab, err := LoadAuthzTable(table)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Authz(ctxT(t), AuthzOptions{Common: testCommon(), Target: Target{URL: s.URL}, Table: tab})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != evidence.Pass || len(rec.Results.Authz) != 4 {
		t.Errorf("verdict %s: %+v", rec.Verdict, rec.Results.Authz)
	}
	// A table that expects the delete to be allowed fails on that case only.
	tab.Cases[3].Expect = "allow"
	rec, _ = Authz(ctxT(t), AuthzOptions{Common: testCommon(), Target: Target{URL: s.URL}, Table: tab})
	if rec.Verdict != evidence.Fail || !reasonFailed(rec, "delete denied: expected allow, got deny") {
		t.Errorf("verdict %s: %+v", rec.Verdict, rec.Reasons)
	}
	if _, err := LoadAuthzTable(writeFile(t, "cases:\n  - {path: /x, expect: maybe}\n")); err == nil {
		t.Error("expect: maybe accepted")
	}
}

func writeFile(t *testing.T, s string) string {
	f := filepath.Join(t.TempDir(), "f.yaml")
	os.WriteFile(f, []byte(s), 0o600)
	return f
}

// Load over https with HTTP/2 negotiated by ALPN, trusting the test CA.
func TestLoadHTTPSWithHTTP2(t *testing.T) {
	p := newPKI(t)
	var h2 atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
	}))
	s.Listener.Close()
	s.Listener = ln
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil, loopIPs)}}
	s.StartTLS()
	t.Cleanup(s.Close)
	eventually(t, func(pr *problems) {
		h2.Store(0)
		rec, err := Load(ctxT(t), LoadOptions{Common: testCommon(), Target: Target{URL: s.URL, HTTP2: true, CAFile: p.caFile}, Plan: Plan{QPS: 200, Duration: 250 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Verdict != evidence.Pass || h2.Load() != 50 {
			pr.add("verdict %s, %d of 50 over HTTP/2: %+v", rec.Verdict, h2.Load(), rec.Reasons)
		}
	})
	// Without the CA the chain is refused: every request is a transport error.
	rec, _ := Load(ctxT(t), LoadOptions{Common: testCommon(), Target: Target{URL: s.URL}, Plan: Plan{QPS: 100, Duration: 100 * time.Millisecond}})
	if rec.Verdict != evidence.Fail || rec.Results.TransportErrors != 10 {
		t.Errorf("untrusted: verdict %s, transport errors %d", rec.Verdict, rec.Results.TransportErrors)
	}
}
