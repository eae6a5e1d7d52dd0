package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/meshready/meshready/internal/evidence"
)

// Every gRPC server here is a real grpc-go server with the standard health
// service (google.golang.org/grpc/health) listening on 127.0.0.1.

// grpcInjector is a unary interceptor with a known latency distribution and
// abort rate, like injector: check k (in arrival order) sleeps
// delays[k % len(delays)]; an abort draws from a seeded generator and
// answers UNAVAILABLE (what Envoy turns an HTTP 503 into), so the abort
// count over n checks is binomial(n, abortP). Checks for the service
// "zero" pass untouched: they are noiseMeter's control requests.
type grpcInjector struct {
	delays  []time.Duration
	abortP  float64
	n       atomic.Int64
	aborted atomic.Int64
	mu      sync.Mutex
	rng     *mrand.Rand
	served  *Hist
	// stall, when set, is called before each check (coordinated omission test).
	stall func()
	// lastMD is the metadata of the last check (with :authority).
	lastMD metadata.MD
}

func newGRPCInjector(delays []time.Duration, abortP float64) *grpcInjector {
	return &grpcInjector{delays: delays, abortP: abortP, rng: mrand.New(mrand.NewPCG(1, 2)), served: NewHist()}
}

func (in *grpcInjector) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if r, ok := req.(*healthpb.HealthCheckRequest); ok && r.GetService() == "zero" {
		return h(ctx, req)
	}
	t0 := time.Now()
	k := in.n.Add(1) - 1
	md, _ := metadata.FromIncomingContext(ctx)
	in.mu.Lock()
	in.lastMD = md
	abort := in.rng.Float64() < in.abortP
	in.mu.Unlock()
	if in.stall != nil {
		in.stall()
	}
	if abort {
		in.aborted.Add(1)
		return nil, status.Error(codes.Unavailable, "injected abort")
	}
	if len(in.delays) > 0 {
		if d := in.delays[k%int64(len(in.delays))]; d > 0 {
			time.Sleep(d)
		}
	}
	in.mu.Lock()
	in.served.Record(time.Since(t0))
	in.mu.Unlock()
	return h(ctx, req)
}

func (in *grpcInjector) applied() *evidence.Latency {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.served.Latency()
}

type grpcTestServer struct {
	url    string // grpc://127.0.0.1:port
	addr   string
	health *health.Server
}

// newGRPCServer starts a gRPC server on 127.0.0.1 with the health service
// ("" and "zero" SERVING); in may be nil.
func newGRPCServer(t testing.TB, in *grpcInjector, opts ...grpc.ServerOption) *grpcTestServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		opts = append(opts, grpc.UnaryInterceptor(in.intercept))
	}
	s := grpc.NewServer(opts...)
	h := health.NewServer()
	h.SetServingStatus("zero", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	addr := ln.Addr().String()
	return &grpcTestServer{url: "grpc://" + addr, addr: addr, health: h}
}

// startGRPCNoise times health checks of the untouched service "zero" on
// their own connection: the cost of loopback gRPC at the moment.
func startGRPCNoise(t *testing.T, addr string) *noiseMeter {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := healthpb.NewHealthClient(conn)
	return startNoiseCalls(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "zero"})
		return err
	})
}

// The same injected distribution as the HTTP tests (60% 10 ms, 35% 25 ms,
// 5% 100 ms) behind a gRPC health service, with the same tolerances
// (injectedPercentilesOK): each percentile at least the delay the server
// applied, at most 1 ms + 2 × the control checks' percentile + 10% above.
func TestGRPCLoadMeasuresInjectedLatency(t *testing.T) {
	eventually(t, func(p *problems) {
		in := newGRPCInjector(injected(), 0)
		s := newGRPCServer(t, in)
		m := startGRPCNoise(t, s.addr)
		rec, err := Load(ctxT(t), LoadOptions{Common: testCommon(), Target: Target{URL: s.url}, Plan: Plan{QPS: 400, Duration: time.Second, Connections: 64}})
		if err != nil {
			t.Fatal(err)
		}
		r := rec.Results
		if r.Requests != 400 || r.Errors != 0 || in.n.Load() != 400 || r.StatusCodes["SERVING"] != 400 {
			p.add("requests %d errors %d served %d codes %v, want 400/0/400 all SERVING", r.Requests, r.Errors, in.n.Load(), r.StatusCodes)
		}
		if r.AchievedQPS < 0.95*400 || r.AchievedQPS > 1.02*400 {
			p.add("achieved %.1f req/s, want 380–408", r.AchievedQPS)
		}
		if rec.Verdict != evidence.Pass {
			p.add("verdict %s: %+v", rec.Verdict, rec.Reasons)
		}
		*p = append(*p, injectedPercentilesOK(t, r.LatencyMs, in.applied(), m)...)
	})
}

// 10% of checks aborted with UNAVAILABLE: every abort, and nothing else,
// is counted as an error, by name; the share is within 4.5 binomial
// standard deviations of 10% (±4.3 points over 1,000 checks); the rate
// holds, since aborts answer at once.
func TestGRPCLoadCountsAborts(t *testing.T) {
	eventually(t, func(p *problems) {
		in := newGRPCInjector([]time.Duration{time.Millisecond}, 0.10)
		s := newGRPCServer(t, in)
		rec, err := Load(ctxT(t), LoadOptions{Common: testCommon(), Target: Target{URL: s.url}, Plan: Plan{QPS: 1000, Duration: time.Second, Connections: 32}})
		if err != nil {
			t.Fatal(err)
		}
		r := rec.Results
		ab := in.aborted.Load()
		t.Logf("server aborted %d of %d; measured %d errors of %d, codes %v", ab, in.n.Load(), r.Errors, r.Requests, r.StatusCodes)
		if r.Requests != 1000 || in.n.Load() != 1000 {
			p.add("requests %d, server saw %d, want 1000", r.Requests, in.n.Load())
		}
		if r.Errors != ab || r.StatusCodes["UNAVAILABLE"] != ab || r.StatusCodes["SERVING"] != r.Requests-ab {
			p.add("errors %d, codes %v; the server aborted %d", r.Errors, r.StatusCodes, ab)
		}
		if sd := math.Sqrt(0.1 * 0.9 / 1000); math.Abs(r.ErrorRate-0.1) > 4.5*sd {
			p.add("error share %.4f, want 0.1 ± %.4f", r.ErrorRate, 4.5*sd)
		}
		if r.AchievedQPS < 0.95*1000 {
			p.add("achieved %.1f req/s of 1000", r.AchievedQPS)
		}
		// The server answered UNAVAILABLE: no hint about an unreachable address.
		if fr := rec.FailedReasons(); rec.Verdict != evidence.Fail || !strings.Contains(fr, "UNAVAILABLE: injected abort") || strings.Contains(fr, "no gRPC answer") {
			p.add("verdict %s, reasons %s: want fail naming the first error", rec.Verdict, fr)
		}
	})
}

// A service that answers NOT_SERVING: every check is an error, by name.
func TestGRPCLoadNotServingIsError(t *testing.T) {
	s := newGRPCServer(t, nil)
	s.health.SetServingStatus("devmentor.Context", healthpb.HealthCheckResponse_NOT_SERVING)
	rec, err := Step(ctxT(t), StepOptions{Common: testCommon(), Target: Target{URL: s.url, GRPCService: "devmentor.Context"},
		Plan: Plan{Duration: 200 * time.Millisecond}, Rates: []float64{50, 100}})
	if err != nil {
		t.Fatal(err)
	}
	r := rec.Results
	if r.Requests != 30 || r.Errors != 30 || r.StatusCodes["NOT_SERVING"] != 30 || rec.Verdict != evidence.Fail {
		t.Errorf("verdict %s, requests %d errors %d codes %v, want 30 NOT_SERVING, fail", rec.Verdict, r.Requests, r.Errors, r.StatusCodes)
	}
	if rec.Parameters["grpcService"] != "devmentor.Context" || rec.Parameters["protocol"] != "grpc" {
		t.Errorf("parameters %v", rec.Parameters)
	}
}

// A gRPC server that stalls for 500 ms: the checks due during the stall
// count their wait (open loop), as over HTTP.
func TestGRPCLoadCorrectsCoordinatedOmission(t *testing.T) {
	in := newGRPCInjector(nil, 0)
	var mu sync.Mutex
	var start time.Time
	in.stall = func() {
		mu.Lock()
		if start.IsZero() {
			start = time.Now()
		}
		st := start
		mu.Unlock()
		if e := time.Since(st); e > 200*time.Millisecond && e < 700*time.Millisecond {
			time.Sleep(700*time.Millisecond - e)
		}
	}
	s := newGRPCServer(t, in)
	eventually(t, func(p *problems) {
		mu.Lock()
		start = time.Time{}
		mu.Unlock()
		run, err := RunLoad(ctxT(t), Target{URL: s.url}, Plan{QPS: 200, Duration: time.Second, Connections: 4})
		if err != nil {
			t.Fatal(err)
		}
		if v := ms(run.All.Quantile(75)); v < 150 {
			p.add("p75 from intended send time = %.1f ms, want > 150 ms (stall not counted)", v)
		}
		if v := ms(run.Service.Quantile(75)); v > 50 {
			p.add("p75 from actual send time = %.1f ms, want < 50 ms (only the 4 in-flight checks stalled)", v)
		}
	})
}

func TestGRPCHealthProbe(t *testing.T) {
	s := newGRPCServer(t, nil)
	s.health.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	noHealth := func() string { // a gRPC server without the health service
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer()
		go gs.Serve(ln)
		t.Cleanup(gs.Stop)
		return "grpc://" + ln.Addr().String()
	}()
	for _, c := range []struct {
		name, url, service string
		verdict, status    string
		errHas             string
	}{
		{"whole server", s.url, "", evidence.Pass, "SERVING", ""},
		{"serving service", s.url, "up", evidence.Pass, "SERVING", ""},
		{"not serving", s.url, "down", evidence.Fail, "NOT_SERVING", "answered NOT_SERVING"},
		{"unknown service", s.url, "nope", evidence.Fail, "NOT_FOUND", `does not know service "nope"`},
		{"no health service", noHealth, "", evidence.Fail, "UNIMPLEMENTED", "register the standard health service"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, err := GRPCHealth(ctxT(t), GRPCHealthOptions{Common: testCommon(), Target: Target{URL: c.url, GRPCService: c.service, Timeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			g := rec.Results.GRPCHealth
			if rec.Kind != evidence.KindGRPCHealth || rec.Verdict != c.verdict || g == nil || g.Status != c.status || g.Service != c.service {
				t.Fatalf("verdict %s, results %+v, reasons %+v; want %s %s", rec.Verdict, g, rec.Reasons, c.verdict, c.status)
			}
			if !strings.Contains(g.Error, c.errHas) || (c.errHas == "") != (g.Error == "") {
				t.Errorf("error %q, want it to say %q", g.Error, c.errHas)
			}
			if rec.Results.StatusCodes[c.status] != 1 || rec.Results.Requests != 1 || (rec.Results.Errors == 1) != (c.verdict == evidence.Fail) {
				t.Errorf("results %+v", rec.Results)
			}
		})
	}
}

// Nothing listens on the port: the probe fails at once, saying so.
func TestGRPCHealthUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "grpc://" + ln.Addr().String()
	ln.Close()
	rec, err := GRPCHealth(ctxT(t), GRPCHealthOptions{Common: testCommon(), Target: Target{URL: url, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	g := rec.Results.GRPCHealth
	if rec.Verdict != evidence.Fail || g.Status != "UNAVAILABLE" || !strings.Contains(g.Error, "connection refused") || !strings.Contains(g.Error, "is the address right") {
		t.Errorf("verdict %s, %+v", rec.Verdict, g)
	}
	// A load run against it: every check an error, the first one named.
	lr, err := Load(ctxT(t), LoadOptions{Common: testCommon(), Target: Target{URL: url}, Plan: Plan{QPS: 100, Duration: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Verdict != evidence.Fail || lr.Results.Errors != 10 || lr.Results.StatusCodes["UNAVAILABLE"] != 10 || !strings.Contains(lr.FailedReasons(), "connection refused") {
		t.Errorf("load: verdict %s, results %+v, reasons %s", lr.Verdict, lr.Results, lr.FailedReasons())
	}
}

// A listener that accepts connections and never answers (a hung server):
// the check gives up at --request-timeout with DEADLINE_EXCEEDED.
func TestGRPCHealthSilentServerTimesOut(t *testing.T) {
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
			t.Cleanup(func() { c.Close() })
		}
	}()
	rec, err := GRPCHealth(ctxT(t), GRPCHealthOptions{Common: testCommon(), Target: Target{URL: "grpc://" + ln.Addr().String(), Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	g := rec.Results.GRPCHealth
	if rec.Verdict != evidence.Fail || g.Status != "DEADLINE_EXCEEDED" || !strings.Contains(g.Error, "no answer within 300ms") {
		t.Errorf("verdict %s, %+v", rec.Verdict, g)
	}
}

// grpcs:// with the test CA passes; without it the chain is refused; a
// plaintext grpc:// call to the TLS port gets no gRPC answer.
func TestGRPCHealthTLS(t *testing.T) {
	p := newPKI(t)
	cert := p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil, loopIPs)
	s := newGRPCServer(t, nil, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	tlsURL := "grpcs://" + s.addr
	rec, err := GRPCHealth(ctxT(t), GRPCHealthOptions{Common: testCommon(), Target: Target{URL: tlsURL, CAFile: p.caFile}})
	if err != nil || rec.Verdict != evidence.Pass {
		t.Fatalf("with the CA: %v %+v", err, rec)
	}
	rec, err = GRPCHealth(ctxT(t), GRPCHealthOptions{Common: testCommon(), Target: Target{URL: tlsURL, Timeout: 5 * time.Second}})
	if err != nil || rec.Verdict != evidence.Fail || !strings.Contains(rec.Results.GRPCHealth.Error, "certificate") {
		t.Errorf("without the CA: %v %+v", err, rec.Results.GRPCHealth)
	}
	rec, err = GRPCHealth(ctxT(t), GRPCHealthOptions{Common: testCommon(), Target: Target{URL: s.url, Timeout: 2 * time.Second}})
	if err != nil || rec.Verdict != evidence.Fail {
		t.Errorf("plaintext to a TLS port: %v %+v", err, rec.Results.GRPCHealth)
	}
	// A load over TLS.
	lr, err := Load(ctxT(t), LoadOptions{Common: testCommon(), Target: Target{URL: tlsURL, CAFile: p.caFile}, Plan: Plan{QPS: 100, Duration: 200 * time.Millisecond}})
	if err != nil || lr.Results.Requests != 20 || lr.Results.StatusCodes["SERVING"] != 20 {
		t.Errorf("load over TLS: %v %+v", err, lr.Results)
	}
}

// -H headers arrive as metadata; -H "Host: x" as the :authority a gateway routes on.
func TestGRPCMetadataAndAuthority(t *testing.T) {
	in := newGRPCInjector(nil, 0)
	s := newGRPCServer(t, in)
	h := map[string][]string{"X-Tenant": {"a"}, "Host": {"context.devmentor.svc:9090"}}
	rec, err := GRPCHealth(ctxT(t), GRPCHealthOptions{Common: testCommon(), Target: Target{URL: s.url, Header: h}})
	if err != nil || rec.Verdict != evidence.Pass {
		t.Fatalf("%v %+v", err, rec)
	}
	in.mu.Lock()
	md := in.lastMD
	in.mu.Unlock()
	if got := md.Get("x-tenant"); len(got) != 1 || got[0] != "a" {
		t.Errorf("x-tenant metadata %v", got)
	}
	if got := md.Get(":authority"); len(got) != 1 || got[0] != "context.devmentor.svc:9090" {
		t.Errorf(":authority %v", got)
	}
}

func TestGRPCTargetErrors(t *testing.T) {
	for _, c := range []struct {
		t    Target
		want string
	}{
		{Target{URL: "grpc://127.0.0.1:9/pkg.Svc/Method"}, "only host:port"},
		{Target{URL: "grpc://:9090"}, "want grpc://host:port"},
		{Target{URL: "grpc://127.0.0.1:9", Body: []byte("x")}, "--body"},
		{Target{URL: "grpc://127.0.0.1:9", Method: "DELETE"}, "--method DELETE"},
		{Target{URL: "grpc://127.0.0.1:9", CAFile: "ca.pem"}, "use grpcs://127.0.0.1:9"},
		{Target{URL: "grpcs://127.0.0.1:9", CAFile: "/nonexistent/ca.pem"}, "--ca"},
	} {
		_, err := RunLoad(ctxT(t), c.t, Plan{QPS: 10, Duration: time.Second})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want it to say %q", c.t, err, c.want)
		}
	}
	if _, err := GRPCHealth(ctxT(t), GRPCHealthOptions{Target: Target{URL: "http://127.0.0.1:9"}}); err == nil || !strings.Contains(err.Error(), "want grpc://") {
		t.Errorf("http URL: %v", err)
	}
}

// countingListener counts the TCP connections a server accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// connCounter is a grpc stats.Handler that tags each server connection
// with a number and counts the RPCs each connection carried.
type connCounter struct {
	ids  atomic.Int64
	mu   sync.Mutex
	rpcs map[int64]int64
}

type connIDKey struct{}

func (c *connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connIDKey{}, c.ids.Add(1))
}
func (c *connCounter) HandleConn(context.Context, stats.ConnStats) {}
func (c *connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}
func (c *connCounter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.Begin); !ok {
		return
	}
	id, _ := ctx.Value(connIDKey{}).(int64)
	c.mu.Lock()
	c.rpcs[id]++
	c.mu.Unlock()
}

func (c *connCounter) perConn() map[int64]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int64]int64{}
	for k, v := range c.rpcs {
		out[k] = v
	}
	return out
}

// spreadOK checks that per-connection request counts name exactly want
// connections, add up to total and differ by at most one (round-robin).
func spreadOK(per map[int64]int64, want int, total int64) string {
	var sum, lo, hi int64
	lo = math.MaxInt64
	for _, n := range per {
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	if len(per) != want || sum != total || lo < 1 || hi-lo > 1 {
		return fmt.Sprintf("requests per connection %v (sum %d): want %d connections sharing %d requests round-robin", per, sum, want, total)
	}
	return ""
}

// --tcp-connections for gRPC: a run with TCPConnections 4 opens exactly 4
// TCP connections to the server and spreads the checks over them in turn;
// the default opens one. The record names the count.
func TestGRPCLoadTCPConnections(t *testing.T) {
	for _, c := range []struct{ tcp, want int }{{4, 4}, {0, 1}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl := &countingListener{Listener: ln}
		cc := &connCounter{rpcs: map[int64]int64{}}
		s := grpc.NewServer(grpc.StatsHandler(cc))
		healthpb.RegisterHealthServer(s, health.NewServer())
		go s.Serve(cl)
		t.Cleanup(s.Stop)
		rec, err := Load(ctxT(t), LoadOptions{Common: testCommon(), Target: Target{URL: "grpc://" + ln.Addr().String()},
			Plan: Plan{QPS: 400, Duration: 500 * time.Millisecond, Connections: 16, TCPConnections: c.tcp}})
		if err != nil {
			t.Fatal(err)
		}
		r := rec.Results
		if r.Requests != 200 || r.Errors != 0 {
			t.Errorf("tcp %d: requests %d errors %d (first: %+v), want 200/0", c.tcp, r.Requests, r.Errors, rec.Reasons)
		}
		if n := cl.accepted.Load(); n != int64(c.want) {
			t.Errorf("tcp %d: the server accepted %d connections, want %d", c.tcp, n, c.want)
		}
		if msg := spreadOK(cc.perConn(), c.want, r.Requests); msg != "" {
			t.Errorf("tcp %d: %s", c.tcp, msg)
		}
		if got := rec.Parameters["tcpConnections"]; got != c.want {
			t.Errorf("tcp %d: parameters.tcpConnections %v, want %d", c.tcp, got, c.want)
		}
	}
}

// More TCP connections than concurrent requests is refused.
func TestGRPCLoadTCPConnectionsAboveConnections(t *testing.T) {
	_, err := RunLoad(ctxT(t), Target{URL: "grpc://127.0.0.1:9"}, Plan{QPS: 10, Duration: time.Second, Connections: 2, TCPConnections: 3})
	if err == nil || !strings.Contains(err.Error(), "at most as many TCP connections") {
		t.Errorf("error %v", err)
	}
}
