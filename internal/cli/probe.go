package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/evidence"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/probe"
)

// ProbeOptions are the flags of `meshready probe KIND`.
type ProbeOptions struct {
	Kind        string
	URL         string
	ConfigPath  string
	EvidenceDir string
	Output      string // text | json
	NoRecord    bool
	Timeout     time.Duration // whole run; on expiry the record is partial

	// Requests.
	Method         string
	Headers        []string // "Name: value"
	Body           string
	HTTP2          bool
	CAFile         string
	Insecure       bool
	ServerName     string
	RequestTimeout time.Duration
	GRPCService    string // grpc:// targets: the service whose health is checked

	// Load.
	QPS            float64
	Duration       time.Duration
	Connections    int
	TCPConnections int // HTTP/2 and gRPC: TCP connections carrying the concurrent requests (load, step, soak)
	BaselineURL    string
	Rates          []float64
	Window         time.Duration

	// Resilience.
	MinOverflow   float64
	Fast503       time.Duration
	DirectURL     string
	AttemptHeader string
	AbortPercent  float64
	AbortStatus   int
	DelayPercent  float64
	Delay         time.Duration
	ApplyCmd      string
	RestoreCmd    string
	ApplyAfter    time.Duration
	RestoreAfter  time.Duration

	// Security.
	TokenFile        string
	TokenEnv         string
	InvalidTokenFile string
	TokenHeader      string
	Table            string
}

type probeKind struct {
	name, short, long, example string
	flags                      func(*cobra.Command, *ProbeOptions)
}

func loadFlags(cmd *cobra.Command, o *ProbeOptions, qps float64, dur time.Duration) {
	f := cmd.Flags()
	f.Float64Var(&o.QPS, "qps", qps, "requests per second (open loop: the schedule, not the server, sets the pace)")
	f.DurationVar(&o.Duration, "duration", dur, "how long to send")
	f.IntVar(&o.Connections, "connections", probe.DefaultConnections, "concurrent requests (HTTP/1.1: as many connections; HTTP/2 and gRPC multiplex them over one)")
	f.StringVar(&o.GRPCService, "grpc-service", "", `grpc:// targets: the service name sent in each health check ("" asks about the whole server)`)
}

// tcpConnectionsFlag adds --tcp-connections (load, step, soak).
func tcpConnectionsFlag(cmd *cobra.Command, o *ProbeOptions) {
	f := cmd.Flags()
	f.IntVar(&o.TCPConnections, "tcp-connections", 1, "for HTTP/2 and gRPC targets: how many TCP connections carry the concurrent requests (round-robin); default 1; HTTP/1.1 opens one per concurrent request")
	f.Lookup("connections").Usage = "concurrent requests (HTTP/1.1: as many connections; HTTP/2 and gRPC multiplex them over --tcp-connections)"
}

// grpcLoadHelp is the part of the load kinds' help about gRPC targets.
const grpcLoadHelp = `Targets: http:// and https:// (HTTP/1.1, or HTTP/2 with --http2: h2c prior
knowledge on http://, ALPN on https://), and gRPC servers as grpc://host:port
(plaintext HTTP/2) or grpcs://host:port (TLS; --ca, --insecure, --servername
apply). Each gRPC request is a grpc.health.v1.Health/Check call for
--grpc-service; an answer other than SERVING, or a failed call, is an error,
counted by name in statusCodes (SERVING, NOT_SERVING, UNAVAILABLE...). -H
headers are sent as gRPC metadata; -H "Host: name" sets the :authority.

HTTP/2 and gRPC multiplex the --connections concurrent requests over one TCP
connection unless --tcp-connections N asks for more (taken round-robin):
behind a load balancer each connection lands on one gateway replica, so use
N at least the number of replicas to load them all.`

func requestFlags(cmd *cobra.Command, o *ProbeOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Method, "method", "GET", "HTTP method")
	f.StringArrayVarP(&o.Headers, "header", "H", nil, `request header "Name: value", repeatable ("Host: app.example.com" sets the Host)`)
	f.StringVar(&o.Body, "body", "", "request body")
	f.BoolVar(&o.HTTP2, "http2", false, "speak HTTP/2 (h2c prior knowledge on http://, ALPN on https://)")
	f.StringVar(&o.CAFile, "ca", "", "PEM file of roots to trust for https:// and grpcs:// (default: the system's)")
	f.BoolVar(&o.Insecure, "insecure", false, "do not verify the server's certificate")
	f.StringVar(&o.ServerName, "servername", "", "TLS server name (SNI and verification; default the URL's host)")
	f.DurationVar(&o.RequestTimeout, "request-timeout", 30*time.Second, "timeout of each request")
}

var probeKinds = []probeKind{
	{name: evidence.KindLoad, short: "Constant-rate load, optionally against a baseline (perf.latency-impact, perf.resource-overhead, simulation.production-load)",
		long: grpcLoadHelp,
		example: "  meshready probe load --url http://gateway.example/api --baseline-url http://10.0.0.12:8080/api --qps 500 --duration 60s\n" +
			"  meshready probe load --url grpc://10.0.0.12:9090 --grpc-service devmentor.Context --qps 200 --duration 60s",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			loadFlags(c, o, 100, 30*time.Second)
			requestFlags(c, o)
			tcpConnectionsFlag(c, o)
			c.Flags().StringVar(&o.BaselineURL, "baseline-url", "", "the same service without the mesh: the difference is the mesh's added latency")
		}},
	{name: evidence.KindStep, short: "Stepped rates: throughput follows and latency stays within the SLO up to the target (perf.scaling)",
		long:    grpcLoadHelp,
		example: "  meshready probe step --url http://gateway.example/api --rates 100,200,400,800 --duration 30s",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			loadFlags(c, o, 0, 30*time.Second)
			requestFlags(c, o)
			tcpConnectionsFlag(c, o)
			c.Flags().Float64SliceVar(&o.Rates, "rates", nil, "rates of the steps, req/s (each --duration long); the last is the target")
		}},
	{name: evidence.KindSoak, short: "Long constant-rate run judged window by window (perf.stability)",
		long:    grpcLoadHelp,
		example: "  meshready probe soak --url http://gateway.example/api --qps 200 --duration 2h",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			loadFlags(c, o, 100, time.Hour)
			requestFlags(c, o)
			tcpConnectionsFlag(c, o)
			c.Flags().DurationVar(&o.Window, "window", 0, "window length (default duration/20 within 1s–1m)")
		}},
	{name: evidence.KindCircuitBreaker, short: "Overload beyond the limits must give fast 503s, not queueing (resilience.circuit-breaking)",
		example: "  meshready probe circuit-breaker --url http://gateway.example/api --qps 2000 --connections 256 --duration 20s",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			loadFlags(c, o, 1000, 20*time.Second)
			requestFlags(c, o)
			c.Flags().Float64Var(&o.MinOverflow, "min-overflow", 0.01, "least share of 503 answers that shows the breaker tripped")
			c.Flags().DurationVar(&o.Fast503, "fast-503", 100*time.Millisecond, "slowest p90 of the 503 answers that still counts as fast")
		}},
	{name: evidence.KindRetries, short: "Injected transient failures are retried and hidden from the client (resilience.retries)",
		example: "  meshready probe retries --url http://gateway.example/api --direct-url http://10.0.0.12:8080/api --qps 100 --duration 30s",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			loadFlags(c, o, 100, 30*time.Second)
			requestFlags(c, o)
			c.Flags().StringVar(&o.DirectURL, "direct-url", "", "the failing upstream without the mesh (proves failures were injected)")
			c.Flags().StringVar(&o.AttemptHeader, "attempt-header", "x-envoy-attempt-count", "response header in which the upstream echoes its attempt number")
		}},
	{name: evidence.KindFault, short: "The observed abort/delay rate matches the configured fault within a binomial tolerance (resilience.fault-injection)",
		example: "  meshready probe fault --url http://gateway.example/api -H 'x-chaos: on' --abort-percent 10 --abort-status 503 --qps 200 --duration 30s",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			loadFlags(c, o, 200, 30*time.Second)
			requestFlags(c, o)
			f := c.Flags()
			f.Float64Var(&o.AbortPercent, "abort-percent", 0, "configured abort percentage")
			f.IntVar(&o.AbortStatus, "abort-status", 503, "configured abort HTTP status")
			f.Float64Var(&o.DelayPercent, "delay-percent", 0, "configured delay percentage")
			f.DurationVar(&o.Delay, "delay", 0, "configured fixed delay")
		}},
	{name: evidence.KindRecovery, short: "After the fault ends the error rate returns to baseline within thresholds.recoverySeconds (resilience.recovery)",
		example: "  meshready probe recovery --url http://gateway.example/api --qps 50 --duration 3m \\\n    --apply-cmd 'kubectl apply -f fault.yaml' --apply-after 30s --restore-cmd 'kubectl delete -f fault.yaml' --restore-after 90s",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			loadFlags(c, o, 50, 3*time.Minute)
			requestFlags(c, o)
			f := c.Flags()
			f.DurationVar(&o.Window, "window", time.Second, "error-rate window")
			f.StringVar(&o.ApplyCmd, "apply-cmd", "", "shell command that injects the fault (else inject it by hand during the run)")
			f.StringVar(&o.RestoreCmd, "restore-cmd", "", "shell command that removes the fault (its completion is the fault's end)")
			f.DurationVar(&o.ApplyAfter, "apply-after", 30*time.Second, "when to run --apply-cmd")
			f.DurationVar(&o.RestoreAfter, "restore-after", 90*time.Second, "when to run --restore-cmd")
		}},
	{name: evidence.KindTLS, short: "Certificate chain, days to expiry, lowest protocol version, weak ciphers (gateway TLS, sectest)",
		example: "  meshready probe tls --url https://app.example.com",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			f := c.Flags()
			f.StringVar(&o.CAFile, "ca", "", "PEM file of roots (default: the system's)")
			f.StringVar(&o.ServerName, "servername", "", "name the certificate must be valid for (default the URL's host)")
			f.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "timeout of each handshake")
		}},
	{name: evidence.KindMTLS, short: "A plaintext request to an in-mesh port is refused (sectest.mtls-encryption)",
		example: "  kubectl run probe --rm -i --image=... -- meshready probe mtls --url http://10.1.2.3:8080/   # from outside the mesh",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			c.Flags().DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "timeout of the request")
		}},
	{name: evidence.KindAuthn, short: "No token and invalid tokens rejected, a valid token accepted (sectest.authentication)",
		example: "  meshready probe authn --url https://app.example.com/api --token-env APP_TOKEN",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			requestFlags(c, o)
			f := c.Flags()
			f.StringVar(&o.TokenFile, "token-file", "", "file holding a valid JWT (never printed)")
			f.StringVar(&o.TokenEnv, "token-env", "", "name of the environment variable holding a valid JWT (never printed)")
			f.StringVar(&o.InvalidTokenFile, "invalid-token-file", "", "file holding another token that must be rejected (e.g. expired, other issuer)")
			f.StringVar(&o.TokenHeader, "token-header", "Authorization", "header carrying the token (Authorization gets \"Bearer \")")
		}},
	{name: evidence.KindGRPCHealth, short: "One grpc.health.v1.Health/Check call: pass when the answer is SERVING (evidence only: no checklist item reads it)",
		long: `The target is grpc://host:port (plaintext) or grpcs://host:port (TLS).
NOT_SERVING, SERVICE_UNKNOWN, an unknown service (NOT_FOUND), a server without
the health service (UNIMPLEMENTED) and no answer within --request-timeout
(UNAVAILABLE, DEADLINE_EXCEEDED) fail, with the reason. -H headers are sent as
gRPC metadata; -H "Host: name" sets the :authority (the route through a gateway).`,
		example: "  meshready probe grpc-health --url grpc://10.0.0.12:9090 --service devmentor.Context\n" +
			"  meshready probe grpc-health --url grpcs://grpc.example.com:443 --ca ca.pem",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			f := c.Flags()
			f.StringVar(&o.GRPCService, "service", "", `service name to ask about ("" asks about the whole server)`)
			f.StringArrayVarP(&o.Headers, "header", "H", nil, `metadata "Name: value", repeatable ("Host: name" sets the :authority)`)
			f.StringVar(&o.CAFile, "ca", "", "PEM file of roots to trust for grpcs:// (default: the system's)")
			f.BoolVar(&o.Insecure, "insecure", false, "do not verify the server's certificate")
			f.StringVar(&o.ServerName, "servername", "", "TLS server name (default the URL's host)")
			f.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "how long to wait for the answer")
		}},
	{name: evidence.KindAuthz, short: "A table of requests and the allow/deny the policies must give (sectest.authorization, sectest.policy-enforcement)",
		long: `The table is YAML:

  url: https://app.example.com        # base URL (--url overrides)
  cases:
    - name: anonymous cannot delete
      method: DELETE
      path: /api/items/1
      expect: deny                     # 401/403
    - name: reader can list
      path: /api/items
      tokenEnv: READER_TOKEN           # or tokenFile: reader.jwt (never printed)
      headers: {x-tenant: a}
      expect: allow                    # any answer but 401/403/5xx`,
		example: "  meshready probe authz --table authz.yaml",
		flags: func(c *cobra.Command, o *ProbeOptions) {
			requestFlags(c, o)
			c.Flags().StringVar(&o.Table, "table", "", "YAML table of requests and expected decisions (required)")
		}},
}

func newProbeCmd(io IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe KIND --url URL",
		Short: "Run an active verification (load, resilience, security) and record it as evidence",
		Long: `Run one verification against the URL given (through the ingress gateway, or
from a pod inside the mesh), print the result and write it as a JSON evidence
record into the evidence directory (evidenceDir of meshready.yaml, or
--evidence-dir); ` + "`meshready check`" + ` counts the newest passing record within
evidenceMaxAge.

Exit codes: 0 pass, 3 fail or partial (interrupted by Ctrl-C or --timeout:
the partial record is saved and never counts), 2 usage error.
-o json prints the evidence record on stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, k := range probeKinds {
		o := &ProbeOptions{Kind: k.name}
		sub := &cobra.Command{
			Use:     k.name + " --url URL",
			Short:   k.short,
			Long:    k.short + ".\n\n" + k.long,
			Example: k.example,
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return RunProbe(ctx, io, o)
			},
		}
		f := sub.Flags()
		urlHelp := "target URL"
		switch {
		case k.name == evidence.KindGRPCHealth:
			urlHelp = "grpc://host:port (plaintext) or grpcs://host:port (TLS)"
		case grpcKinds[k.name]:
			urlHelp = "target URL (also grpc://host:port, grpcs://host:port)"
		}
		f.StringVar(&o.URL, "url", "", urlHelp)
		f.StringVar(&o.ConfigPath, "config", "", "meshready.yaml (thresholds, evidenceDir); default ./meshready.yaml if present")
		f.StringVar(&o.EvidenceDir, "evidence-dir", "", "where to write the record (default: the config's evidenceDir)")
		f.StringVarP(&o.Output, "output", "o", "text", "text or json (the evidence record)")
		f.BoolVar(&o.NoRecord, "no-record", false, "do not write an evidence record")
		f.DurationVar(&o.Timeout, "timeout", 0, "stop the run after this long (the record is then partial)")
		k.flags(sub, o)
		cmd.AddCommand(sub)
	}
	return cmd
}

// loadProbeConfig reads --config, else ./meshready.yaml when present, else defaults.
func loadProbeConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	if _, err := os.Stat(config.FileName); err == nil {
		return config.Load(config.FileName)
	}
	return config.Default(), nil
}

func evidenceDir(cfg *config.Config, flag string) string {
	if flag != "" {
		return flag
	}
	return cfg.Resolve(cfg.EvidenceDir)
}

func (o *ProbeOptions) target() (probe.Target, error) {
	t := probe.Target{URL: o.URL, Method: strings.ToUpper(o.Method), HTTP2: o.HTTP2, CAFile: o.CAFile, Insecure: o.Insecure,
		ServerName: o.ServerName, Timeout: o.RequestTimeout, Header: http.Header{}, GRPCService: o.GRPCService}
	if o.Body != "" {
		t.Body = []byte(o.Body)
	}
	for _, h := range o.Headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return t, fmt.Errorf("--header %q: want \"Name: value\"", h)
		}
		t.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return t, nil
}

// tcpKinds are the probes with --tcp-connections.
var tcpKinds = map[string]bool{evidence.KindLoad: true, evidence.KindStep: true, evidence.KindSoak: true}

// grpcKinds are the probes that take grpc:// and grpcs:// targets.
var grpcKinds = map[string]bool{evidence.KindLoad: true, evidence.KindStep: true, evidence.KindSoak: true, evidence.KindGRPCHealth: true}

// RunProbe runs one probe, records it and prints it.
func RunProbe(ctx context.Context, io IO, o *ProbeOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return exitcode.Usagef(fmt.Errorf("-o %q: want text or json", o.Output))
	}
	if o.URL == "" && !(o.Kind == evidence.KindAuthz && o.Table != "") {
		return exitcode.Usagef(errors.New("--url is required"))
	}
	cfg, err := loadProbeConfig(o.ConfigPath)
	if err != nil {
		return exitcode.Usagef(err)
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	t, err := o.target()
	if err != nil {
		return exitcode.Usagef(err)
	}
	if t.IsGRPC() && !grpcKinds[o.Kind] {
		return exitcode.Usagef(fmt.Errorf("--url %s: probe %s speaks HTTP only; gRPC targets work with probe load, step, soak and grpc-health", o.URL, o.Kind))
	}
	if tcpKinds[o.Kind] {
		conns := o.Connections
		if conns <= 0 {
			conns = probe.DefaultConnections
		}
		if o.TCPConnections < 1 {
			return exitcode.Usagef(fmt.Errorf("--tcp-connections %d: want at least 1 TCP connection", o.TCPConnections))
		}
		if o.TCPConnections > conns {
			return exitcode.Usagef(fmt.Errorf("--tcp-connections %d: more TCP connections than concurrent requests (--connections %d); give at most %d", o.TCPConnections, conns, conns))
		}
	}
	common := probe.Common{Thresholds: cfg.Thresholds}
	plan := probe.Plan{QPS: o.QPS, Duration: o.Duration, Connections: o.Connections, TCPConnections: o.TCPConnections, Window: o.Window}
	var bar *progressBar
	if io.Terminal && stderrIsTerminal(io) {
		bar = &progressBar{w: io.Err}
		plan.Progress = bar.update
	}
	var rec *evidence.Record
	switch o.Kind {
	case evidence.KindLoad:
		rec, err = probe.Load(ctx, probe.LoadOptions{Common: common, Target: t, Plan: plan, BaselineURL: o.BaselineURL})
	case evidence.KindStep:
		rec, err = probe.Step(ctx, probe.StepOptions{Common: common, Target: t, Plan: plan, Rates: o.Rates})
	case evidence.KindSoak:
		rec, err = probe.Soak(ctx, probe.SoakOptions{Common: common, Target: t, Plan: plan})
	case evidence.KindCircuitBreaker:
		rec, err = probe.CircuitBreaker(ctx, probe.CircuitBreakerOptions{Common: common, Target: t, Plan: plan, MinOverflowShare: o.MinOverflow, MaxFast503: o.Fast503})
	case evidence.KindRetries:
		plan.AttemptHeader = o.AttemptHeader
		rec, err = probe.Retries(ctx, probe.RetriesOptions{Common: common, Target: t, Plan: plan, DirectURL: o.DirectURL})
	case evidence.KindFault:
		rec, err = probe.Fault(ctx, probe.FaultOptions{Common: common, Target: t, Plan: plan, AbortPercent: o.AbortPercent, AbortStatus: o.AbortStatus, DelayPercent: o.DelayPercent, Delay: o.Delay})
	case evidence.KindRecovery:
		ro := probe.RecoveryOptions{Common: common, Target: t, Plan: plan}
		if o.ApplyCmd != "" {
			ro.Apply, ro.ApplyAt, ro.ApplyDesc = probe.ShellCommand(o.ApplyCmd), o.ApplyAfter, o.ApplyCmd
		}
		if o.RestoreCmd != "" {
			ro.Restore, ro.RestoreAt, ro.RestoreDesc = probe.ShellCommand(o.RestoreCmd), o.RestoreAfter, o.RestoreCmd
		}
		rec, err = probe.Recovery(ctx, ro)
	case evidence.KindTLS:
		rec, err = probe.TLS(ctx, probe.TLSOptions{Common: common, URL: o.URL, ServerName: o.ServerName, CAFile: o.CAFile, Timeout: o.RequestTimeout})
	case evidence.KindMTLS:
		rec, err = probe.MTLS(ctx, probe.MTLSOptions{Common: common, URL: o.URL, Timeout: o.RequestTimeout})
	case evidence.KindAuthn:
		tok, terr := probe.ReadToken(o.TokenFile, o.TokenEnv)
		if terr != nil {
			return exitcode.Usagef(terr)
		}
		if tok == "" {
			return exitcode.Usagef(errors.New("a valid token is needed: --token-file FILE or --token-env NAME"))
		}
		src := "env " + o.TokenEnv
		if o.TokenFile != "" {
			src = "file " + o.TokenFile
		}
		inv, terr := probe.ReadToken(o.InvalidTokenFile, "")
		if terr != nil {
			return exitcode.Usagef(terr)
		}
		rec, err = probe.Authn(ctx, probe.AuthnOptions{Common: common, Target: t, Token: tok, TokenSource: src, InvalidToken: inv, Header: o.TokenHeader})
	case evidence.KindGRPCHealth:
		rec, err = probe.GRPCHealth(ctx, probe.GRPCHealthOptions{Common: common, Target: t})
	case evidence.KindAuthz:
		if o.Table == "" {
			return exitcode.Usagef(errors.New("--table is required"))
		}
		tab, terr := probe.LoadAuthzTable(o.Table)
		if terr != nil {
			return exitcode.Usagef(terr)
		}
		rec, err = probe.Authz(ctx, probe.AuthzOptions{Common: common, Target: t, Table: tab})
	default:
		return exitcode.Usagef(fmt.Errorf("unknown probe kind %q", o.Kind))
	}
	bar.done()
	if err != nil {
		return exitcode.Usagef(err)
	}
	if !o.NoRecord {
		if _, werr := evidence.Write(evidenceDir(cfg, o.EvidenceDir), rec); werr != nil {
			return fmt.Errorf("recording the result: %w", werr)
		}
	}
	if o.Output == "json" {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return err
		}
	} else {
		printRecord(io, rec)
	}
	if rec.Verdict != evidence.Pass {
		return &exitcode.NotReadyError{} // the result is printed above
	}
	return nil
}

// printRecord writes the human summary of a record.
func printRecord(io IO, rec *evidence.Record) {
	w := io.Out
	verdict := strings.ToUpper(rec.Verdict)
	fmt.Fprintf(w, "probe %s %s: %s\n", rec.Kind, rec.Target, verdict)
	r := rec.Results
	if r.LatencyMs != nil {
		l := r.LatencyMs
		fmt.Fprintf(w, "  %d requests, %d errors (%.3f%%), %.1f req/s achieved\n", r.Requests, r.Errors, 100*r.ErrorRate, r.AchievedQPS)
		fmt.Fprintf(w, "  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
		if r.Errors > 0 && len(r.StatusCodes) > 0 {
			fmt.Fprintf(w, "  answers     %s\n", countsLine(r.StatusCodes))
		}
		if r.Unsent > 0 {
			fmt.Fprintf(w, "  %d requests were never sent: every connection was still busy when the run's time was up (target too slow for --qps, or too few --connections)\n", r.Unsent)
		}
	}
	if b := r.Baseline; b != nil && b.LatencyMs != nil {
		fmt.Fprintf(w, "  baseline    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  (%s)\n", b.LatencyMs.P50, b.LatencyMs.P90, b.LatencyMs.P99, b.LatencyMs.P999, b.Target)
	}
	if a := r.AddedLatencyMs; a != nil {
		fmt.Fprintf(w, "  added       p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f\n", a.P50, a.P90, a.P99, a.P999)
	}
	for _, s := range r.Steps {
		mark := "✓"
		if !s.OK {
			mark = "✗"
		}
		p99 := 0.0
		if s.LatencyMs != nil {
			p99 = s.LatencyMs.P99
		}
		fmt.Fprintf(w, "  %s step %.0f req/s: %.1f achieved, p99 %.3f ms, errors %.3f%%\n", mark, s.TargetQPS, s.AchievedQPS, p99, 100*s.ErrorRate)
	}
	if g := r.GRPCHealth; g != nil {
		fmt.Fprintf(w, "  %s in %.3f ms\n", g.Status, g.LatencyMs)
	}
	for _, c := range append(append([]evidence.Case{}, r.Authn...), r.Authz...) {
		mark := "✓"
		if !c.OK {
			mark = "✗"
		}
		fmt.Fprintf(w, "  %s %s: expected %s, got %s (HTTP %d)\n", mark, c.Name, c.Expect, c.Got, c.Status)
	}
	for _, x := range rec.Reasons {
		mark := "✓"
		if !x.OK {
			mark = "✗"
		}
		fmt.Fprintf(w, "  %s %s\n", mark, x.Message)
	}
	if rec.File != "" {
		fmt.Fprintf(w, "  evidence: %s\n", rec.File)
	}
	if rec.Verdict == evidence.Partial {
		fmt.Fprintln(w, "  (partial run: recorded, but it never counts as passing)")
	}
}

// countsLine is "200 95, 503 5" (keys sorted).
func countsLine(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// progressBar draws one line on stderr while a load runs (terminals only).
type progressBar struct {
	w     interface{ Write([]byte) (int, error) }
	drawn bool
}

func (b *progressBar) update(p probe.Progress) {
	frac := 0.0
	if p.Duration > 0 {
		frac = min(1, p.Elapsed.Seconds()/p.Duration.Seconds())
	}
	const width = 30
	n := int(frac * width)
	label := p.Label
	if label != "" {
		label += " "
	}
	fmt.Fprintf(b.w, "\r%s[%s%s] %3.0f%% %6d req %4d err  p50 %.2fms p99 %.2fms ", label, strings.Repeat("=", n), strings.Repeat(" ", width-n),
		100*frac, p.Done, p.Errors, float64(p.P50)/1e6, float64(p.P99)/1e6)
	b.drawn = true
}

func (b *progressBar) done() {
	if b != nil && b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// stderrIsTerminal: the progress bar goes to stderr, so stderr itself must
// be a terminal (not a pipe, a file or /dev/null).
func stderrIsTerminal(io IO) bool {
	f, ok := io.Err.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// relPath shortens a path under the working directory for display.
func relPath(p string) string {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return p
}
