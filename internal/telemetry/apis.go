package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// endpoint is one JSON API (Grafana, Jaeger, Kiali).
type endpoint struct {
	source     string
	base       *url.URL
	http       *http.Client
	user, pass string
}

// maxBody bounds what meshready reads of one answer.
const maxBody = 64 << 20

// getJSON GETs base+path?query, once per run, and decodes the JSON answer
// with decode (which also summarises it for the record).
func (c *Client) getJSON(ctx context.Context, ep *endpoint, path string, q url.Values, decode func([]byte) (any, string, error)) (any, error) {
	u := ep.base.JoinPath(path)
	u.RawQuery = q.Encode()
	callText := "GET " + path
	if u.RawQuery != "" {
		callText += "?" + u.RawQuery
	}
	base := ep.base.String()
	return c.do(ctx, ep.source, ep.source+"\x00"+callText, callText, func(ctx context.Context) (any, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, "", &Error{Kind: ConfigError, Source: ep.source, URL: base, Call: callText, Detail: err.Error()}
		}
		req.Header.Set("Accept", "application/json")
		if ep.user != "" {
			req.SetBasicAuth(ep.user, ep.pass)
		}
		resp, err := ep.http.Do(req)
		if err != nil {
			return nil, "", classify(ep.source, base, callText, err, c.timeout.String())
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return nil, "", classify(ep.source, base, callText, err, c.timeout.String())
		}
		if resp.StatusCode/100 != 2 {
			return nil, "", classify(ep.source, base, callText, &statusError{code: resp.StatusCode, body: string(body)}, c.timeout.String())
		}
		v, summary, err := decode(body)
		if err != nil {
			return nil, "", &Error{Kind: WrongURL, Source: ep.source, URL: base, Call: callText,
				Detail: fmt.Sprintf("the answer to %s is not %s API JSON (%v; it starts %q)", callText, ep.source, err, short(string(body[:min(len(body), 60)]))),
				Fix:    fmt.Sprintf("pass the %s base URL, e.g. %s", ep.source, exampleURL(ep.source))}
		}
		return v, summary, nil
	})
}

func (c *Client) missing(source, call string) error {
	return &Error{Kind: ConfigError, Source: source, URL: "(none)", Call: call, Detail: "no " + source + " URL given", Fix: "pass " + flagFor(source) + " URL"}
}

// GrafanaDashboard is one hit of Grafana's search API
// (GET /api/search?type=dash-db: https://grafana.com/docs/grafana/latest/developers/http_api/folder_dashboard_search/).
type GrafanaDashboard struct {
	ID          int64    `json:"id"`
	UID         string   `json:"uid"`
	Title       string   `json:"title"`
	URL         string   `json:"url"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	FolderTitle string   `json:"folderTitle"`
}

// GrafanaSearchCall is the call GrafanaDashboards makes.
const GrafanaSearchCall = "GET /api/search?limit=5000&type=dash-db"

// GrafanaDashboards lists the dashboards Grafana has (one search of up to 5000).
func (c *Client) GrafanaDashboards(ctx context.Context) ([]GrafanaDashboard, error) {
	if c.grafana == nil {
		return nil, c.missing("Grafana", GrafanaSearchCall)
	}
	v, err := c.getJSON(ctx, c.grafana, "/api/search", url.Values{"type": {"dash-db"}, "limit": {"5000"}}, func(b []byte) (any, string, error) {
		var out []GrafanaDashboard
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("%d dashboards", len(out)), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]GrafanaDashboard), nil
}

// jaegerEnvelope is the envelope of Jaeger's query API
// (https://www.jaegertracing.io/docs/latest/apis/#http-json-internal).
type jaegerEnvelope struct {
	Data   json.RawMessage `json:"data"`
	Total  int             `json:"total"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

func decodeJaeger(b []byte, into any) error {
	var env jaegerEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return err
	}
	if len(env.Errors) > 0 {
		return fmt.Errorf("Jaeger error %d: %s", env.Errors[0].Code, env.Errors[0].Msg)
	}
	if len(env.Data) == 0 {
		return fmt.Errorf("no data field")
	}
	if string(env.Data) == "null" {
		return nil
	}
	return json.Unmarshal(env.Data, into)
}

// JaegerServicesCall is the call JaegerServices makes.
const JaegerServicesCall = "GET /api/services"

// JaegerServices lists the services Jaeger holds spans of (GET /api/services).
func (c *Client) JaegerServices(ctx context.Context) ([]string, error) {
	if c.jaeger == nil {
		return nil, c.missing("Jaeger", JaegerServicesCall)
	}
	v, err := c.getJSON(ctx, c.jaeger, "/api/services", nil, func(b []byte) (any, string, error) {
		var out []string
		if err := decodeJaeger(b, &out); err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("%d services", len(out)), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// JaegerTrace is the part of a Jaeger trace meshready reports.
type JaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		StartTime     int64  `json:"startTime"` // microseconds since the epoch
		Duration      int64  `json:"duration"`  // microseconds
		ProcessID     string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// Start is the earliest span's start.
func (t JaegerTrace) Start() time.Time {
	var first int64
	for _, s := range t.Spans {
		if first == 0 || s.StartTime < first {
			first = s.StartTime
		}
	}
	return time.UnixMicro(first).UTC()
}

// JaegerTracesCall is the call JaegerTraces makes for a service.
func JaegerTracesCall(service string, lookback time.Duration, limit int) string {
	q := url.Values{"service": {service}, "lookback": {lookbackString(lookback)}, "limit": {strconv.Itoa(limit)}}
	return "GET /api/traces?" + q.Encode()
}

func lookbackString(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/time.Minute)) + "m"
}

// JaegerTraces returns up to limit recent traces of a service (GET /api/traces).
func (c *Client) JaegerTraces(ctx context.Context, service string, lookback time.Duration, limit int) ([]JaegerTrace, error) {
	if c.jaeger == nil {
		return nil, c.missing("Jaeger", JaegerTracesCall(service, lookback, limit))
	}
	q := url.Values{"service": {service}, "lookback": {lookbackString(lookback)}, "limit": {strconv.Itoa(limit)}}
	v, err := c.getJSON(ctx, c.jaeger, "/api/traces", q, func(b []byte) (any, string, error) {
		var out []JaegerTrace
		if err := decodeJaeger(b, &out); err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("%d traces", len(out)), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]JaegerTrace), nil
}

// KialiStatus is Kiali's GET /api/status answer
// (https://kiali.io/docs/configuration/ ... the status endpoint the UI reads).
type KialiStatus struct {
	Status           map[string]string `json:"status"`
	ExternalServices []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		URL     string `json:"url"`
	} `json:"externalServices"`
	WarningMessages []string `json:"warningMessages"`
}

// State is "Kiali state" (running), Version "Kiali version".
func (s KialiStatus) State() string   { return s.Status["Kiali state"] }
func (s KialiStatus) Version() string { return s.Status["Kiali version"] }

// KialiStatusCall is the call KialiStatus makes.
const KialiStatusCall = "GET /api/status"

// KialiStatus returns Kiali's status (GET /api/status).
func (c *Client) KialiStatus(ctx context.Context) (KialiStatus, error) {
	if c.kiali == nil {
		return KialiStatus{}, c.missing("Kiali", KialiStatusCall)
	}
	v, err := c.getJSON(ctx, c.kiali, "/api/status", nil, func(b []byte) (any, string, error) {
		var s KialiStatus
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, "", err
		}
		if s.Status == nil {
			return nil, "", fmt.Errorf("no status field")
		}
		return s, fmt.Sprintf("state %q, version %q, %d external services, %d warnings", s.State(), s.Version(), len(s.ExternalServices), len(s.WarningMessages)), nil
	})
	if err != nil {
		return KialiStatus{}, err
	}
	return v.(KialiStatus), nil
}

// KialiHealthzCall is the call KialiHealthz makes.
const KialiHealthzCall = "GET /healthz"

// KialiHealthz reports whether Kiali's /healthz answers 2xx (used when /api/status is not available).
func (c *Client) KialiHealthz(ctx context.Context) error {
	if c.kiali == nil {
		return c.missing("Kiali", KialiHealthzCall)
	}
	_, err := c.getJSON(ctx, c.kiali, "/healthz", nil, func(b []byte) (any, string, error) {
		return true, strings.TrimSpace(short(string(b))), nil
	})
	return err
}
