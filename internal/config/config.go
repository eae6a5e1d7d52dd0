// Package config reads and validates meshready.yaml: what the mesh is
// (namespaces, critical services and their dependencies), how strict to be
// (thresholds), and where the human evidence lives (documents, attestations,
// waivers, probe evidence).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshready/meshready/internal/rules"
)

// FileName is the name meshready looks for beside its inputs.
const FileName = "meshready.yaml"

// Config is meshready.yaml.
type Config struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`

	// ControlPlaneNamespace holds istiod (default istio-system).
	ControlPlaneNamespace string `yaml:"controlPlaneNamespace"`
	// RootNamespace is Istio's config root namespace, where mesh-wide
	// policies live (default: the control-plane namespace).
	RootNamespace string `yaml:"rootNamespace"`
	// MeshNamespaces hold mesh workloads. Empty: the injection-labelled namespaces.
	MeshNamespaces []string `yaml:"meshNamespaces"`
	// CriticalServices are the services the platform cannot launch without.
	// Empty: every Service in a mesh namespace is critical.
	CriticalServices []Service `yaml:"criticalServices"`
	// Teams whose sign-off the checklist requires.
	Teams []string `yaml:"teams"`

	Thresholds Thresholds `yaml:"thresholds"`

	// Documents maps item IDs (docs.*, ops.*, rollback.*, logging.retention)
	// to document paths, relative to this file, or http(s) links.
	Documents map[string]string `yaml:"documents"`
	// Attestations is the YAML file of human attestations and sign-offs.
	Attestations string `yaml:"attestations"`
	// AttestationStore chooses where attestations, sign-offs and waivers
	// live when no --store flag says: the file above (default) or a
	// ConfigMap in the cluster.
	AttestationStore AttestationStore `yaml:"attestationStore"`
	// EvidenceDir holds recorded probe results.
	EvidenceDir string `yaml:"evidenceDir"`
	// EvidenceMaxAge: probe records older than this no longer count.
	EvidenceMaxAge Duration `yaml:"evidenceMaxAge"`

	Waivers  []Waiver `yaml:"waivers"`
	Rollback Rollback `yaml:"rollback"`

	// Rules are the platform's own rules: CEL over matching objects, each
	// evaluated as item custom.<id> (see internal/rules).
	Rules []rules.Rule `yaml:"rules"`

	// Path is where the config was read from ("" for defaults); document
	// and store paths are relative to its directory.
	Path string `yaml:"-"`
}

// AttestationStore is where `meshready attest`, `signoff` and `waive`
// write and `meshready check` reads; the --store flags override it.
type AttestationStore struct {
	Kind      string `yaml:"kind"`      // file (default) or configmap
	Namespace string `yaml:"namespace"` // configmap: default controlPlaneNamespace
	Name      string `yaml:"name"`      // configmap: default meshready-attestations
}

// Service is a critical service.
type Service struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
	// DependsOn names the services it calls, "name" (same namespace) or "name.namespace".
	DependsOn []string `yaml:"dependsOn"`
	// Timeout is the route timeout this service needs (LLM calls run long).
	Timeout Duration `yaml:"timeout"`
	// Title is a display name ("QWEN LLM Service").
	Title string `yaml:"title"`
}

// Key returns "name.namespace".
func (s Service) Key() string { return s.Name + "." + s.Namespace }

// Host returns the service's cluster-local FQDN.
func (s Service) Host() string { return s.Name + "." + s.Namespace + ".svc.cluster.local" }

// Dependencies resolves DependsOn to services (namespace defaults to s's).
func (s Service) Dependencies() []Service {
	var out []Service
	for _, d := range s.DependsOn {
		name, ns, ok := strings.Cut(d, ".")
		if !ok {
			ns = s.Namespace
		}
		out = append(out, Service{Name: name, Namespace: ns})
	}
	return out
}

// Thresholds tune how strict checks are. Zero values take the defaults.
type Thresholds struct {
	IstiodCPURequest    Quantity `yaml:"istiodCPURequest"`    // default 500m
	IstiodMemoryRequest Quantity `yaml:"istiodMemoryRequest"` // default 2Gi
	// ServicesPerIstiodStep scales istiod requests: every this many services
	// adds one more unit of the base request (default 1000).
	ServicesPerIstiodStep int     `yaml:"servicesPerIstiodStep"`
	MinReplicas           int     `yaml:"minReplicas"`        // istiod and gateways, default 2
	ResourceUsageRatio    float64 `yaml:"resourceUsageRatio"` // live usage / limit, default 0.8
	MinTLSVersion         string  `yaml:"minTLSVersion"`      // default TLSV1_2
	ProxySkewMinors       int     `yaml:"proxySkewMinors"`    // proxies behind istiod, default 2
	CertExpiryDays        int     `yaml:"certExpiryDays"`     // default 30
	MTLSShare             float64 `yaml:"mtlsShare"`          // default 1.0
	ErrorRate             float64 `yaml:"errorRate"`          // 5xx share, default 0.01
	P99LatencyMs          float64 `yaml:"p99LatencyMs"`       // default 1000
	AddedLatencyP50Ms     float64 `yaml:"addedLatencyP50Ms"`  // default 2
	AddedLatencyP90Ms     float64 `yaml:"addedLatencyP90Ms"`  // default 5
	AddedLatencyP99Ms     float64 `yaml:"addedLatencyP99Ms"`  // default 10
	ProxyCPUPer1kRPS      float64 `yaml:"proxyCPUPer1kRPS"`   // cores, default 0.5
	ProxyMemoryMiB        float64 `yaml:"proxyMemoryMiB"`     // per proxy, default 100
	ProductionRPS         float64 `yaml:"productionRPS"`      // simulation.production-load target
	RecoverySeconds       float64 `yaml:"recoverySeconds"`    // default 60
}

// Waiver accepts findings of one item on objects matching a pattern.
type Waiver struct {
	Item    string `yaml:"item"`
	Object  string `yaml:"object"` // glob on "Kind/namespace/name"; empty = every object
	Reason  string `yaml:"reason"`
	By      string `yaml:"by"`
	Expires Date   `yaml:"expires"`
}

// Rollback holds the triggers that say when to roll back.
type Rollback struct {
	Triggers []Trigger `yaml:"triggers"`
}

// Trigger: roll back when Query compared with Threshold holds for For.
type Trigger struct {
	Name      string   `yaml:"name"`
	Query     string   `yaml:"query"`
	Op        string   `yaml:"op"` // >, >=, <, <=, ==, !=
	Threshold float64  `yaml:"threshold"`
	For       Duration `yaml:"for"`
}

// Default returns the configuration used when no file is found.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.APIVersion == "" {
		c.APIVersion = "meshready/v1"
	}
	if c.Kind == "" {
		c.Kind = "Config"
	}
	if c.ControlPlaneNamespace == "" {
		c.ControlPlaneNamespace = "istio-system"
	}
	if c.RootNamespace == "" {
		c.RootNamespace = c.ControlPlaneNamespace
	}
	if len(c.Teams) == 0 {
		c.Teams = []string{"platform", "security", "development", "operations"}
	}
	if c.EvidenceDir == "" {
		c.EvidenceDir = "evidence"
	}
	if c.EvidenceMaxAge == 0 {
		c.EvidenceMaxAge = Duration(30 * 24 * time.Hour)
	}
	t := &c.Thresholds
	if t.IstiodCPURequest.IsZero() {
		t.IstiodCPURequest = MustQuantity("500m")
	}
	if t.IstiodMemoryRequest.IsZero() {
		t.IstiodMemoryRequest = MustQuantity("2Gi")
	}
	setInt(&t.ServicesPerIstiodStep, 1000)
	setInt(&t.MinReplicas, 2)
	setFloat(&t.ResourceUsageRatio, 0.8)
	if t.MinTLSVersion == "" {
		t.MinTLSVersion = "TLSV1_2"
	}
	setInt(&t.ProxySkewMinors, 2)
	setInt(&t.CertExpiryDays, 30)
	setFloat(&t.MTLSShare, 1.0)
	setFloat(&t.ErrorRate, 0.01)
	setFloat(&t.P99LatencyMs, 1000)
	setFloat(&t.AddedLatencyP50Ms, 2)
	setFloat(&t.AddedLatencyP90Ms, 5)
	setFloat(&t.AddedLatencyP99Ms, 10)
	setFloat(&t.ProxyCPUPer1kRPS, 0.5)
	setFloat(&t.ProxyMemoryMiB, 100)
	setFloat(&t.RecoverySeconds, 60)
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setFloat(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

// Load reads and validates a config file. Errors name the file and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Parse decodes and validates config YAML; unknown fields are errors.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	c.applyDefaults()
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate returns every problem found, not just the first.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch st := c.AttestationStore; st.Kind {
	case "", "file":
		if st.Namespace != "" || st.Name != "" {
			bad("attestationStore: namespace and name need kind: configmap")
		}
	case "configmap":
		if st.Namespace != "" && !dns1123.MatchString(st.Namespace) {
			bad("attestationStore.namespace %q is not a valid namespace", st.Namespace)
		}
		if st.Name != "" && !dns1123.MatchString(st.Name) {
			bad("attestationStore.name %q is not a valid ConfigMap name", st.Name)
		}
	default:
		bad("attestationStore.kind %q: want file or configmap", st.Kind)
	}
	if c.APIVersion != "meshready/v1" {
		bad("apiVersion %q: want meshready/v1", c.APIVersion)
	}
	if c.Kind != "Config" {
		bad("kind %q: want Config", c.Kind)
	}
	for _, ns := range append([]string{c.ControlPlaneNamespace, c.RootNamespace}, c.MeshNamespaces...) {
		if !dns1123.MatchString(ns) {
			bad("namespace %q is not a valid Kubernetes name", ns)
		}
	}
	seen := map[string]bool{}
	for i, s := range c.CriticalServices {
		if !dns1123.MatchString(s.Name) {
			bad("criticalServices[%d].name %q is not a valid Service name", i, s.Name)
		}
		if s.Namespace == "" {
			bad("criticalServices[%d] (%s): namespace is required", i, s.Name)
		} else if !dns1123.MatchString(s.Namespace) {
			bad("criticalServices[%d].namespace %q is not a valid namespace", i, s.Namespace)
		}
		if seen[s.Name] {
			bad("criticalServices[%d]: %q listed twice (item IDs service.<name>.* must be unique)", i, s.Name)
		}
		seen[s.Name] = true
	}
	for i, s := range c.CriticalServices {
		for _, d := range s.Dependencies() {
			found := false
			for _, o := range c.CriticalServices {
				if o.Name == d.Name && o.Namespace == d.Namespace {
					found = true
				}
			}
			if !found {
				bad("criticalServices[%d] (%s): dependsOn %q is not a critical service (add it to criticalServices)", i, s.Name, d.Name+"."+d.Namespace)
			}
		}
	}
	for i, w := range c.Waivers {
		if w.Item == "" {
			bad("waivers[%d]: item is required", i)
		}
		if strings.TrimSpace(w.Reason) == "" {
			bad("waivers[%d] (%s): reason is required", i, w.Item)
		}
		if w.Expires.IsZero() {
			bad("waivers[%d] (%s): expires is required (a waiver without an end date is a permanent hole)", i, w.Item)
		}
		if _, err := filepath.Match(w.Object, ""); err != nil {
			bad("waivers[%d] (%s): object pattern %q: %v", i, w.Item, w.Object, err)
		}
	}
	for i, t := range c.Rollback.Triggers {
		if t.Name == "" || t.Query == "" {
			bad("rollback.triggers[%d]: name and query are required", i)
		}
		switch t.Op {
		case ">", ">=", "<", "<=", "==", "!=":
		default:
			bad("rollback.triggers[%d] (%s): op %q: want one of > >= < <= == !=", i, t.Name, t.Op)
		}
	}
	switch c.Thresholds.MinTLSVersion {
	case "TLSV1_2", "TLSV1_3":
	default:
		bad("thresholds.minTLSVersion %q: want TLSV1_2 or TLSV1_3", c.Thresholds.MinTLSVersion)
	}
	ids := make([]string, 0, len(c.Documents))
	for id := range c.Documents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if strings.TrimSpace(c.Documents[id]) == "" {
			bad("documents[%s]: empty path", id)
		}
	}
	errs = append(errs, rules.CompileAll(c.Rules)...)
	return errs
}

// Resolve makes a path from the config relative to the config's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") || c.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

// Critical returns the critical services named by the config.
func (c *Config) Critical() []Service { return c.CriticalServices }

// Duration is a time.Duration written as "30s", "5m", "2h" or "90d".
type Duration time.Duration

// ParseDuration accepts Go durations and a "d" (days) suffix.
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (examples: 30s, 5m, 2h, 90d)", s)
	}
	return d, nil
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Date is a day ("2026-12-31") or an RFC 3339 time.
type Date struct{ time.Time }

// ParseDate accepts YYYY-MM-DD or RFC 3339.
func ParseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		// A day-only expiry lasts to the end of that day (UTC).
		return t.Add(24*time.Hour - time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid date %q (want YYYY-MM-DD or RFC 3339)", s)
	}
	return t, nil
}

func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := ParseDate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.Time = t
	return nil
}

func (d Date) MarshalYAML() (any, error) { return d.Format(time.RFC3339), nil }

// Quantity is a Kubernetes resource quantity ("500m", "2Gi").
type Quantity struct{ resource.Quantity }

// MustQuantity parses a quantity known to be valid.
func MustQuantity(s string) Quantity { return Quantity{resource.MustParse(s)} }

func (q *Quantity) UnmarshalYAML(n *yaml.Node) error {
	v, err := resource.ParseQuantity(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: invalid quantity %q", n.Line, n.Value)
	}
	q.Quantity = v
	return nil
}

func (q Quantity) MarshalYAML() (any, error) { return q.String(), nil }
