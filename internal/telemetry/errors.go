package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// ErrorKind classifies why a telemetry API could not be used.
type ErrorKind string

const (
	// Unreachable: nothing answers at the URL (connection refused, no such host, no route).
	Unreachable ErrorKind = "unreachable"
	// Timeout: the API did not answer within --telemetry-timeout.
	Timeout ErrorKind = "timeout"
	// Unauthorized: HTTP 401 or 403.
	Unauthorized ErrorKind = "unauthorized"
	// WrongURL: something answers, but not the expected API (404, an HTML page, another JSON).
	WrongURL ErrorKind = "wrong-url"
	// TLSError: the TLS handshake failed (unknown CA, wrong host name, plain HTTP on an https URL).
	TLSError ErrorKind = "tls"
	// BadQuery: Prometheus rejected or failed one query (HTTP 400/422); other queries still run.
	BadQuery ErrorKind = "bad-query"
	// ServerError: the API answered 5xx (not ready, overloaded).
	ServerError ErrorKind = "server-error"
	// ConfigError: meshready's own settings are unusable (token file unreadable).
	ConfigError ErrorKind = "config"
)

// Error is a classified telemetry failure: a message a user can act on and
// the fix. Every error the client returns is an *Error.
type Error struct {
	Kind   ErrorKind
	Source string // "Prometheus", "Grafana", "Jaeger", "Kiali"
	URL    string // the base URL (credentials removed)
	Call   string // what was asked: a PromQL expression or "GET /api/v1/rules"
	Detail string // the underlying error, as the transport or the API said it
	Fix    string
	// Repeated is set on errors returned without a request, because an
	// earlier request to the same API failed the same way (see Client).
	Repeated bool
}

func (e *Error) Error() string { return e.Message() }

// Message is the one-line explanation for a report.
func (e *Error) Message() string {
	var what string
	switch e.Kind {
	case Unreachable:
		what = "is unreachable"
	case Timeout:
		what = "did not answer in time"
	case Unauthorized:
		what = "refused meshready's credentials"
	case WrongURL:
		what = "is not the " + e.Source + " API"
	case TLSError:
		what = "failed the TLS handshake"
	case BadQuery:
		what = "rejected the query"
	case ServerError:
		what = "failed"
	case ConfigError:
		what = "cannot be queried"
	default:
		what = "failed"
	}
	msg := fmt.Sprintf("%s at %s %s", e.Source, e.URL, what)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Repeated {
		msg += " (an earlier request failed this way; meshready did not ask again in this run)"
	}
	return msg
}

// AsError returns err as an *Error (wrapping an unclassified error as a ServerError).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: ServerError, Source: "telemetry", Detail: err.Error()}
}

// trips reports whether an error says the whole API is unusable and asking
// again would cost time, so that later requests fail at once instead of
// each waiting for the timeout. (A wrong URL or a 5xx answers fast; a bad
// query is about one query.)
func (e *Error) trips() bool {
	switch e.Kind {
	case Unreachable, Timeout, Unauthorized, TLSError, ConfigError:
		return true
	}
	return false
}

// flagFor names the URL flag of a source, for fixes.
func flagFor(source string) string {
	return "--" + strings.ToLower(source)
}

// classify turns a transport or API error into an *Error.
func classify(source, base, call string, err error, timeout string) *Error {
	e := &Error{Source: source, URL: base, Call: call}
	flag := flagFor(source)
	var apiErr *v1.Error
	var dnsErr *net.DNSError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	var certVerErr *tls.CertificateVerificationError
	var httpErr *statusError
	var gwErr *GatewayError
	switch {
	case errors.As(err, &gwErr):
		return classifyGateway(e, gwErr)
	case errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err):
		e.Kind = Timeout
		e.Detail = "no answer within " + timeout
		e.Fix = fmt.Sprintf("check that %s is healthy and not overloaded (its own logs and /-/ready), or give it longer: --telemetry-timeout 30s", source)
	case errors.As(err, &httpErr):
		return classifyStatus(e, httpErr.code, httpErr.body, timeout)
	case errors.As(err, &apiErr):
		return classifyAPI(e, apiErr, timeout)
	case errors.As(err, &dnsErr):
		e.Kind = Unreachable
		e.Detail = "host " + dnsErr.Name + " not found"
		e.Fix = fmt.Sprintf("check the host in %s; from outside the cluster, port-forward: kubectl -n monitoring port-forward svc/%s PORT and pass %s http://127.0.0.1:PORT", flag, strings.ToLower(source), flag)
	case errors.As(err, &uaErr) || errors.As(err, &certErr) || errors.As(err, &certVerErr):
		e.Kind = TLSError
		e.Detail = "certificate not trusted: " + rootCause(err)
		e.Fix = "pass the CA that signed its certificate: --prometheus-ca ca.pem (PEM; used for every telemetry URL)"
	case errors.As(err, &hostErr):
		e.Kind = TLSError
		e.Detail = "certificate does not match the host: " + rootCause(err)
		e.Fix = fmt.Sprintf("use the host name the certificate was issued for in %s", flag)
	case errors.As(err, &recErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		e.Kind = TLSError
		e.Detail = "the server does not speak TLS: " + rootCause(err)
		e.Fix = fmt.Sprintf("use http:// instead of https:// in %s", flag)
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ECONNRESET) || isDial(err):
		e.Kind = Unreachable
		e.Detail = rootCause(err)
		e.Fix = fmt.Sprintf("check that %s runs and the URL is right; from outside the cluster: kubectl -n monitoring port-forward svc/%s PORT, then %s http://127.0.0.1:PORT", source, strings.ToLower(source), flag)
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission):
		e.Kind = ConfigError
		e.Detail = err.Error()
		e.Fix = "make the credentials file readable (--prometheus-token-file / --prometheus-basic-auth-file)"
	default:
		e.Kind = Unreachable
		e.Detail = rootCause(err)
		e.Fix = fmt.Sprintf("check %s %s", flag, base)
	}
	return e
}

func classifyAPI(e *Error, a *v1.Error, timeout string) *Error {
	switch a.Type {
	case v1.ErrBadData, v1.ErrExec:
		e.Kind = BadQuery
		e.Detail = a.Msg
		e.Fix = "meshready's query failed on this Prometheus: rerun it (query and time below) in the Prometheus UI; if the error is Prometheus' (e.g. out of memory, a remote-read backend), fix that; otherwise report the query as a meshready bug"
		return e
	case v1.ErrTimeout:
		e.Kind = Timeout
		e.Detail = "Prometheus gave up on the query: " + a.Msg
		e.Fix = "Prometheus is overloaded or the query is too heavy for it: give it longer (--telemetry-timeout 30s) or raise its --query.timeout"
		return e
	case v1.ErrCanceled:
		e.Kind = Timeout
		e.Detail = "the query was cancelled after " + timeout
		e.Fix = "give Prometheus longer: --telemetry-timeout 30s"
		return e
	case v1.ErrBadResponse:
		e.Kind = WrongURL
		e.Detail = "the answer is not Prometheus API JSON (" + short(a.Msg) + ")"
		e.Fix = "pass the Prometheus base URL (e.g. http://prometheus.monitoring:9090, or the path prefix a proxy serves it under), not a UI page or another service"
		return e
	}
	// ErrClient / ErrServer carry the status in the message: "client error: 401".
	if code, ok := statusIn(a.Msg); ok {
		return classifyStatus(e, code, a.Detail, timeout)
	}
	e.Kind = ServerError
	e.Detail = a.Error()
	e.Fix = "check Prometheus' logs"
	return e
}

func classifyStatus(e *Error, code int, body, timeout string) *Error {
	flag := flagFor(e.Source)
	switch {
	case code == 401 || code == 403:
		e.Kind = Unauthorized
		e.Detail = fmt.Sprintf("HTTP %d", code)
		if e.Source == "Prometheus" {
			e.Fix = "pass credentials Prometheus accepts: --prometheus-token-file FILE (a bearer token, e.g. kubectl create token SA > FILE) or --prometheus-basic-auth-file FILE (one line user:password); a 403 means the identity lacks access (e.g. the monitoring view role)"
		} else {
			e.Fix = fmt.Sprintf("give %s credentials in the URL (%s https://user:password@host/) or allow anonymous read access to its API", e.Source, flag)
		}
	case code == 404 || code == 405:
		e.Kind = WrongURL
		e.Detail = fmt.Sprintf("HTTP %d: no %s API under this URL", code, e.Source)
		e.Fix = fmt.Sprintf("pass the %s base URL (scheme, host, port and any path prefix a proxy adds), e.g. %s", e.Source, exampleURL(e.Source))
	case code >= 500:
		e.Kind = ServerError
		e.Detail = fmt.Sprintf("HTTP %d %s", code, short(body))
		e.Fix = fmt.Sprintf("check that %s is ready (its /-/ready or health page) and its logs", e.Source)
		if code == 504 {
			e.Kind = Timeout
			e.Fix = "a proxy in front of " + e.Source + " timed out: give it longer (--telemetry-timeout 30s) or query it directly"
		}
	case code == 400 || code == 422:
		e.Kind = BadQuery
		e.Detail = fmt.Sprintf("HTTP %d %s", code, short(body))
		e.Fix = "rerun the call shown below by hand to see why it is rejected"
	default:
		e.Kind = WrongURL
		e.Detail = fmt.Sprintf("unexpected HTTP %d", code)
		e.Fix = fmt.Sprintf("pass the %s base URL, e.g. %s", e.Source, exampleURL(e.Source))
	}
	return e
}

func exampleURL(source string) string {
	switch source {
	case "Prometheus":
		return "http://prometheus.monitoring:9090"
	case "Grafana":
		return "http://grafana.monitoring:3000"
	case "Jaeger":
		return "http://tracing.monitoring:16686 (the query service, not the collector)"
	case "Kiali":
		return "http://kiali.istio-system:20001/kiali"
	}
	return "http://host:port"
}

func statusIn(msg string) (int, bool) {
	i := strings.LastIndexByte(msg, ':')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(msg[i+1:]))
	return n, err == nil && n >= 100 && n < 600
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// rootCause strips url.Error's "Post \"...\": " prefix.
func rootCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// statusError is a non-2xx answer of a JSON API (Grafana, Jaeger, Kiali).
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, short(e.body)) }
