package probe

// gRPC targets (grpc://host:port in plaintext HTTP/2, grpcs://host:port
// over TLS): every request of a load run, and the one request of
// `probe grpc-health`, is a grpc.health.v1.Health/Check call, the standard
// health service that gRPC servers (and Kubernetes' gRPC probes) implement.
// The open-loop scheduling, the latency from the intended send time and the
// histogram are the same as for HTTP (RunLoad); only the call differs.

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/version"
)

const grpcHealthMethod = "grpc.health.v1.Health/Check"

// IsGRPC reports whether the target is a gRPC server (grpc:// or grpcs://).
func (t Target) IsGRPC() bool {
	s, _, _ := strings.Cut(t.URL, "://")
	s = strings.ToLower(s)
	return s == "grpc" || s == "grpcs"
}

// grpcAddress splits a grpc:// or grpcs:// URL into host:port and whether it uses TLS.
func grpcAddress(raw string) (addr string, useTLS bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("--url: %w", err)
	}
	useTLS = strings.EqualFold(u.Scheme, "grpcs")
	if (!useTLS && !strings.EqualFold(u.Scheme, "grpc")) || u.Hostname() == "" {
		return "", false, fmt.Errorf("--url %q: want grpc://host:port (plaintext) or grpcs://host:port (TLS)", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("--url %q: a gRPC target is only host:port (the probe calls %s; name the service with --grpc-service)", raw, grpcHealthMethod)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if useTLS {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port), useTLS, nil
}

type grpcCaller struct {
	conn    *grpc.ClientConn
	client  healthpb.HealthClient
	req     *healthpb.HealthCheckRequest
	md      metadata.MD
	timeout time.Duration
}

func newGRPCCaller(t Target) (*grpcCaller, error) {
	addr, useTLS, err := grpcAddress(t.URL)
	if err != nil {
		return nil, err
	}
	if m := t.method(); m != "GET" && m != "POST" {
		return nil, fmt.Errorf("--method %s: a gRPC target is always called with %s", m, grpcHealthMethod)
	}
	if len(t.Body) > 0 {
		return nil, fmt.Errorf("--body: a gRPC target is always called with %s (its request is the service name, --grpc-service)", grpcHealthMethod)
	}
	if !useTLS && (t.CAFile != "" || t.Insecure || t.ServerName != "") {
		return nil, fmt.Errorf("--ca, --insecure and --servername are TLS options: use grpcs://%s for a TLS target", addr)
	}
	opts := []grpc.DialOption{
		grpc.WithNoProxy(),              // probes go to the address given, never through a proxy
		grpc.WithDisableServiceConfig(), // the probe's call needs no service config from the resolver
		grpc.WithUserAgent("meshready/" + version.String()),
	}
	if useTLS {
		conf, err := t.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	md := metadata.MD{}
	for k, vs := range t.Header {
		if strings.EqualFold(k, "Host") {
			// The :authority pseudo-header is what a gateway routes on.
			opts = append(opts, grpc.WithAuthority(vs[0]))
			continue
		}
		md.Append(strings.ToLower(k), vs...)
	}
	// The "passthrough" resolver hands host:port to the dialer as it is:
	// names are resolved at connect time like any TCP client's.
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", t.URL, err)
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	c := &grpcCaller{conn: conn, client: healthpb.NewHealthClient(conn), req: &healthpb.HealthCheckRequest{Service: t.GRPCService}, timeout: timeout}
	if len(md) > 0 {
		c.md = md
	}
	return c, nil
}

func (c *grpcCaller) call(ctx context.Context) answer {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, c.md)
	}
	resp, err := c.client.Check(ctx, c.req)
	if err != nil {
		st := status.Convert(err)
		name := codeName(st.Code())
		return answer{grpc: name, grpcDetail: name + ": " + st.Message() + grpcHint(st, c.req.GetService(), c.timeout)}
	}
	s := resp.GetStatus()
	a := answer{grpc: s.String(), grpcOK: s == healthpb.HealthCheckResponse_SERVING}
	if !a.grpcOK {
		a.grpcDetail = fmt.Sprintf("the server answered %s for %s", s, serviceDesc(c.req.GetService()))
	}
	return a
}

func (c *grpcCaller) close() { _ = c.conn.Close() }

// codeName is the canonical upper-case name of a gRPC status code (UNAVAILABLE).
func codeName(c codes.Code) string { return rpccode.Code(c).String() }

func serviceDesc(svc string) string {
	if svc == "" {
		return `the whole server (service "")`
	}
	return fmt.Sprintf("service %q", svc)
}

// grpcHint says what usually causes a failed health check and what to do.
func grpcHint(st *status.Status, svc string, timeout time.Duration) string {
	switch st.Code() {
	case codes.Unavailable:
		// grpc-go's own connection failures; an UNAVAILABLE answered by the
		// server or a proxy (Envoy's "no healthy upstream") needs no hint.
		if m := st.Message(); strings.HasPrefix(m, "connection error") || strings.Contains(m, "transport:") {
			return " (no gRPC answer: is the address right, does the port speak gRPC, and is it TLS (then grpcs://) or plaintext (grpc://)?)"
		}
	case codes.DeadlineExceeded:
		return fmt.Sprintf(" (no answer within %s, --request-timeout)", timeout)
	case codes.Unimplemented:
		return " (the server does not offer " + grpcHealthMethod + ": register the standard health service, google.golang.org/grpc/health in Go)"
	case codes.NotFound:
		return fmt.Sprintf(" (the health service does not know %s: check the name, package.Service)", serviceDesc(svc))
	}
	return ""
}

// GRPCHealthOptions configure `probe grpc-health`: one health check.
type GRPCHealthOptions struct {
	Common
	Target // URL grpc:// or grpcs://, GRPCService, TLS options, Header (metadata), Timeout (default 10s)
}

// GRPCHealth calls grpc.health.v1.Health/Check once: pass when the answer
// is SERVING; NOT_SERVING, an unknown service, no health service or no
// answer within the timeout fail, with the reason.
func GRPCHealth(ctx context.Context, o GRPCHealthOptions) (*evidence.Record, error) {
	if !o.IsGRPC() {
		return nil, fmt.Errorf("--url %q: want grpc://host:port (plaintext) or grpcs://host:port (TLS)", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	c, err := newGRPCCaller(o.Target)
	if err != nil {
		return nil, err
	}
	defer c.close()
	rec := newRecord(evidence.KindGRPCHealth, o.URL, map[string]any{
		"call": grpcHealthMethod, "service": o.GRPCService, "timeout": o.Timeout.String(),
	})
	t0 := time.Now()
	a := c.call(ctx)
	lat := time.Since(t0)
	if ctx.Err() != nil {
		return finish(rec, true), nil
	}
	res := &evidence.GRPCHealthResults{Service: o.GRPCService, Status: a.grpc, LatencyMs: ms(lat), Error: a.grpcDetail}
	rec.Results.GRPCHealth = res
	rec.Results.Requests = 1
	rec.Results.StatusCodes = map[string]int64{a.grpc: 1}
	if !a.grpcOK {
		rec.Results.Errors, rec.Results.ErrorRate = 1, 1
	}
	msg := fmt.Sprintf("health of %s: %s", serviceDesc(o.GRPCService), a.grpc)
	if a.grpcDetail != "" && !strings.HasPrefix(a.grpcDetail, "the server answered") {
		msg = fmt.Sprintf("health of %s: %s", serviceDesc(o.GRPCService), a.grpcDetail)
	}
	rec.Reasons = []evidence.Reason{reason(a.grpcOK, "%s", msg)}
	return finish(rec, false), nil
}
