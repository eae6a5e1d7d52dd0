package telemetry

import (
	"fmt"
	"net/http"
)

// GatewayError is an answer from something between meshready and the
// telemetry API, not from the API itself: e.g. the Kubernetes API server's
// service proxy refusing the request or finding no pod behind the Service.
// A RoundTripper given in Options.PrometheusTransport returns it, so that
// the error says who answered and the fix fits.
type GatewayError struct {
	Code   int    // HTTP status of the gateway's answer
	Detail string // what the gateway said
	Fix    string
}

func (e *GatewayError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Detail) }

// classifyGateway classifies a gateway's answer by its status.
func classifyGateway(e *Error, g *GatewayError) *Error {
	e.Detail = fmt.Sprintf("%s (HTTP %d)", g.Detail, g.Code)
	e.Fix = g.Fix
	switch {
	case g.Code == http.StatusUnauthorized || g.Code == http.StatusForbidden:
		e.Kind = Unauthorized
	case g.Code == http.StatusGatewayTimeout:
		e.Kind = Timeout
	case g.Code >= 500:
		e.Kind = ServerError
	default:
		e.Kind = WrongURL
	}
	return e
}
