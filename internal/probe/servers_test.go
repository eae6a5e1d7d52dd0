package probe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/evidence"
)

// Every server here listens on 127.0.0.1 only.

func newLoopbackServer(t testing.TB, h http.Handler, h2c bool) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	if h2c {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		s.Config.Protocols = &p
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// injector is a server with a known latency distribution and abort rate:
// request k (in arrival order) sleeps delays[k % len(delays)]; an abort
// draws from a seeded generator so the abort count over n requests is
// binomial(n, abortP) (and reproducible for a given n).
type injector struct {
	delays      []time.Duration
	abortP      float64
	abortStatus int
	n           atomic.Int64
	h2          atomic.Int64
	mu          sync.Mutex
	rng         *mrand.Rand
	// served records the delay actually applied (the sleep overshoots its
	// request by up to a millisecond or more on a busy machine).
	served *Hist
}

func newInjector(delays []time.Duration, abortP float64) *injector {
	return &injector{delays: delays, abortP: abortP, abortStatus: 503, rng: mrand.New(mrand.NewPCG(1, 2)), served: NewHist()}
}

func (in *injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/zero" { // the control requests of noiseMeter
		return
	}
	t0 := time.Now()
	k := in.n.Add(1) - 1
	if r.ProtoMajor == 2 {
		in.h2.Add(1)
	}
	in.mu.Lock()
	abort := in.rng.Float64() < in.abortP
	in.mu.Unlock()
	if abort {
		w.WriteHeader(in.abortStatus)
		return
	}
	if len(in.delays) > 0 {
		if d := in.delays[k%int64(len(in.delays))]; d > 0 {
			time.Sleep(d)
		}
	}
	in.mu.Lock()
	in.served.Record(time.Since(t0))
	in.mu.Unlock()
	w.Write([]byte("ok"))
}

// applied is the latency distribution the server applied.
func (in *injector) applied() *evidence.Latency {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.served.Latency()
}

// spread returns a delay table with the given shares (in percent) of each delay.
func spread(parts ...any) []time.Duration {
	var out []time.Duration
	for i := 0; i < len(parts); i += 2 {
		for j := 0; j < parts[i].(int); j++ {
			out = append(out, parts[i+1].(time.Duration))
		}
	}
	// Interleave so that any window of arrivals sees the same mix.
	mrand.New(mrand.NewPCG(3, 4)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// limiter answers 503 (x-envoy-overloaded) at once beyond max concurrent requests.
func limiter(max int, work time.Duration) http.Handler {
	sem := make(chan struct{}, max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			time.Sleep(work)
			w.Write([]byte("ok"))
		default:
			w.Header().Set("X-Envoy-Overloaded", "true")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
}

// queuer serves one request at a time and makes the others wait: no breaker.
func queuer(work time.Duration) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		time.Sleep(work)
		mu.Unlock()
		w.Write([]byte("ok"))
	})
}

// --- certificates ---

type pki struct {
	caCert *x509.Certificate
	caKey  crypto.Signer
	caFile string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "meshready test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	f := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	return &pki{caCert: cert, caKey: key, caFile: f}
}

var (
	leafKeyOnce sync.Once
	leafKey     *rsa.PrivateKey
)

// leaf issues an RSA certificate (RSA so that TLS_RSA_* suites can be
// negotiated). All leaves share one key: generating 2048-bit keys is the
// slowest part of these tests on a busy machine.
func (p *pki) leaf(t testing.TB, notBefore, notAfter time.Time, dns []string, ips []net.IP) tls.Certificate {
	t.Helper()
	leafKeyOnce.Do(func() { leafKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	key := leafKey
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test server"},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: dns, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, p.caCert.Raw}, PrivateKey: key}
}

func tlsServer(t testing.TB, cert tls.Certificate, conf *tls.Config) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	s.Listener.Close()
	s.Listener = ln
	if conf == nil {
		conf = &tls.Config{}
	}
	conf.Certificates = []tls.Certificate{cert}
	s.TLS = conf
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// --- JWT ---

type jwtIssuer struct {
	key *rsa.PrivateKey
	kid string
	iss string
}

func newJWTIssuer() *jwtIssuer {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	return &jwtIssuer{key: k, kid: "k1", iss: "https://issuer.test"}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (j *jwtIssuer) sign(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": j.kid})
	c, _ := json.Marshal(claims)
	in := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(in))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, j.key, crypto.SHA256, sum[:])
	return in + "." + b64(sig)
}

func (j *jwtIssuer) jwks() []byte {
	n := b64(j.key.N.Bytes())
	e := b64(big.NewInt(int64(j.key.E)).Bytes())
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": j.kid, "alg": "RS256", "use": "sig", "n": n, "e": e}}})
	return b
}

// jwtServer validates bearer tokens against keys fetched from a JWKS URL,
// as Istio's RequestAuthentication does: missing → 403 (the policy needs a
// principal), invalid → 401, valid → 200.
func jwtServer(t testing.TB, jwksURL, iss string) *httptest.Server {
	t.Helper()
	resp, err := http.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid, N, E string }
	}
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		nb, _ := base64.RawURLEncoding.DecodeString(k.N)
		eb, _ := base64.RawURLEncoding.DecodeString(k.E)
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
	}
	verify := func(tok string) bool {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			return false
		}
		var h struct{ Alg, Kid string }
		hb, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil || json.Unmarshal(hb, &h) != nil || h.Alg != "RS256" || keys[h.Kid] == nil {
			return false
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return false
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(keys[h.Kid], crypto.SHA256, sum[:], sig) != nil {
			return false
		}
		var c struct {
			Iss string
			Exp int64
		}
		cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if json.Unmarshal(cb, &c) != nil || c.Iss != iss || time.Now().Unix() >= c.Exp {
			return false
		}
		return true
	}
	return newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			http.Error(w, "RBAC: access denied", http.StatusForbidden)
			return
		}
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !verify(tok) {
			http.Error(w, "Jwt verification fails", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("hello"))
	}), false)
}

func testCommon() Common {
	c := Common{}
	c.Thresholds.ErrorRate = 0.01
	c.Thresholds.P99LatencyMs = 1000
	c.Thresholds.AddedLatencyP50Ms = 2
	c.Thresholds.AddedLatencyP90Ms = 5
	c.Thresholds.AddedLatencyP99Ms = 10
	c.Thresholds.RecoverySeconds = 60
	c.Thresholds.MinTLSVersion = "TLSV1_2"
	c.Thresholds.CertExpiryDays = 30
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// problems collects what a timing-sensitive attempt got wrong.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// eventually runs a timing-sensitive check up to 3 times: on a shared
// machine one run can land in a multi-second stall (seen here: a 25 ms
// server sleep taking 500 ms while other jobs ran). Each failed attempt is
// logged; only the last one fails the test.
func eventually(t *testing.T, f func(p *problems)) {
	t.Helper()
	var p problems
	for attempt := 1; attempt <= 3; attempt++ {
		p = nil
		f(&p)
		if len(p) == 0 {
			return
		}
		t.Logf("attempt %d: %s", attempt, strings.Join(p, "; "))
	}
	t.Error(strings.Join(p, "; "))
}
