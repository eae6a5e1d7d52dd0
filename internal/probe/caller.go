package probe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
)

// answer is what one request of a load run got.
type answer struct {
	// err: no answer at all (refused, reset, timeout, TLS failure).
	err error
	// HTTP targets.
	status     int
	overloaded bool // x-envoy-overloaded was set
	attempts   int  // Plan.AttemptHeader's value
	// gRPC targets: grpc is the serving status of an answered health check,
	// else the RPC's status code name; grpcOK only for SERVING.
	grpc       string
	grpcOK     bool
	grpcDetail string // why a check was not SERVING
}

// caller sends one request of a load run. It is safe for concurrent use.
type caller interface {
	call(ctx context.Context) answer
	close()
}

// Multiplexed reports whether the target's requests share TCP connections
// (HTTP/2 with --http2, gRPC): then Plan.TCPConnections of them carry the
// concurrent requests; HTTP/1.1 opens one connection per concurrent request.
func (t Target) Multiplexed() bool { return t.IsGRPC() || t.HTTP2 }

// caller picks the protocol from the URL's scheme. A multiplexed target
// gets p.TCPConnections (at least 1) independent clients, each with its own
// TCP connection, taken in turn by each call.
func (t Target) caller(p Plan) (caller, error) {
	n := 1
	if t.Multiplexed() && p.TCPConnections > 1 {
		n = p.TCPConnections
	}
	cs := make([]caller, 0, n)
	for range n {
		var (
			c   caller
			err error
		)
		if t.IsGRPC() {
			c, err = newGRPCCaller(t)
		} else {
			c, err = newHTTPCaller(t, p)
		}
		if err != nil {
			for _, c := range cs {
				c.close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	if n == 1 {
		return cs[0], nil
	}
	return &roundRobin{callers: cs}, nil
}

// roundRobin spreads calls over several callers (each its own TCP
// connection) in turn, so that a load balancer in front of several
// gateway replicas sees several connections.
type roundRobin struct {
	callers []caller
	next    atomic.Uint64
}

func (r *roundRobin) call(ctx context.Context) answer {
	i := (r.next.Add(1) - 1) % uint64(len(r.callers))
	return r.callers[i].call(ctx)
}

func (r *roundRobin) close() {
	for _, c := range r.callers {
		c.close()
	}
}

type httpCaller struct {
	client        *http.Client
	base          *http.Request // each send clones it
	body          []byte
	attemptHeader string
	// HTTP/2 only: the first call opens the connection and the others wait
	// for it (ready closes when it got one, or ended), else net/http dials
	// a redundant connection for each request that arrives meanwhile.
	ready     chan struct{}
	first     atomic.Bool
	readyOnce sync.Once
}

func newHTTPCaller(t Target, p Plan) (*httpCaller, error) {
	base, err := http.NewRequest(t.method(), t.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	if base.URL.Scheme != "http" && base.URL.Scheme != "https" {
		return nil, fmt.Errorf("--url %q: want an http://, https://, grpc:// or grpcs:// URL", t.URL)
	}
	for k, vs := range t.Header {
		for _, v := range vs {
			base.Header.Add(k, v)
		}
	}
	if t.Header.Get("Host") != "" {
		base.Host = t.Header.Get("Host")
	}
	client, err := t.Client(p.Connections)
	if err != nil {
		return nil, err
	}
	c := &httpCaller{client: client, base: base, body: t.Body, attemptHeader: p.AttemptHeader}
	if t.HTTP2 {
		c.ready = make(chan struct{})
	}
	return c, nil
}

func (c *httpCaller) connected() { c.readyOnce.Do(func() { close(c.ready) }) }

func (c *httpCaller) call(ctx context.Context) answer {
	if c.ready != nil {
		if c.first.CompareAndSwap(false, true) {
			defer c.connected() // also when no connection was had
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { c.connected() }})
		} else {
			select {
			case <-c.ready:
			case <-ctx.Done():
				return answer{err: ctx.Err()}
			}
		}
	}
	req := c.base.Clone(ctx)
	if len(c.body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(c.body))
		req.ContentLength = int64(len(c.body))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a := answer{status: resp.StatusCode, overloaded: resp.Header.Get("X-Envoy-Overloaded") != ""}
	if c.attemptHeader != "" {
		a.attempts, _ = strconv.Atoi(resp.Header.Get(c.attemptHeader))
	}
	return a
}

func (c *httpCaller) close() { c.client.CloseIdleConnections() }
