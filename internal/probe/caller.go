package probe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
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

// caller picks the protocol from the URL's scheme.
func (t Target) caller(p Plan) (caller, error) {
	if t.IsGRPC() {
		return newGRPCCaller(t)
	}
	return newHTTPCaller(t, p)
}

type httpCaller struct {
	client        *http.Client
	base          *http.Request // each send clones it
	body          []byte
	attemptHeader string
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
	return &httpCaller{client: client, base: base, body: t.Body, attemptHeader: p.AttemptHeader}, nil
}

func (c *httpCaller) call(ctx context.Context) answer {
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
