package injection

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Annotation keys whose values meshready validates.
const (
	annInject          = "sidecar.istio.io/inject"
	annProxyCPU        = "sidecar.istio.io/proxyCPU"
	annProxyCPULimit   = "sidecar.istio.io/proxyCPULimit"
	annProxyMemory     = "sidecar.istio.io/proxyMemory"
	annProxyMemLimit   = "sidecar.istio.io/proxyMemoryLimit"
	annProxyConfig     = "proxy.istio.io/config"
	annNativeSidecar   = "sidecar.istio.io/nativeSidecar"
	annBootstrap       = "sidecar.istio.io/bootstrapOverride"
	annInjectTemplates = "inject.istio.io/templates"
)

// validator checks one value; it returns a problem ("" when valid) and
// whether the problem is only a warning.
type validator func(v string) (problem string, warnOnly bool)

var validators = map[string]validator{
	annInject:                                boolish,
	"sidecar.istio.io/rewriteAppHTTPProbers": boolish,
	annNativeSidecar:                         boolish,
	"prometheus.istio.io/merge-metrics":      boolish,
	annProxyCPU:                              quantity,
	annProxyCPULimit:                         quantity,
	annProxyMemory:                           quantity,
	annProxyMemLimit:                         quantity,
	"readiness.status.sidecar.istio.io/failureThreshold":    intAtLeast(1),
	"readiness.status.sidecar.istio.io/periodSeconds":       intAtLeast(1),
	"readiness.status.sidecar.istio.io/initialDelaySeconds": intAtLeast(0),
	"readiness.status.sidecar.istio.io/applicationPorts":    portList(false),
	"status.sidecar.istio.io/port":                          port(true),
	"traffic.sidecar.istio.io/excludeInboundPorts":          portList(false),
	"traffic.sidecar.istio.io/excludeOutboundPorts":         portList(false),
	"traffic.sidecar.istio.io/includeInboundPorts":          portList(true),
	"traffic.sidecar.istio.io/includeOutboundPorts":         portList(false),
	"traffic.sidecar.istio.io/includeOutboundIPRanges":      cidrList(true),
	"traffic.sidecar.istio.io/excludeOutboundIPRanges":      cidrList(false),
	"sidecar.istio.io/interceptionMode":                     oneOf("REDIRECT", "TPROXY", "NONE"),
	"sidecar.istio.io/logLevel":                             oneOf("trace", "debug", "info", "warning", "error", "critical", "off"),
	"sidecar.istio.io/statsCompression":                     oneOf("brotli", "gzip", "zstd"),
	"sidecar.istio.io/userVolume":                           jsonValue,
	"sidecar.istio.io/userVolumeMount":                      jsonValue,
	annProxyConfig:                                          proxyConfig,
}

// boolish accepts what Istio's injector accepts; only true/false are unambiguous.
func boolish(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "false":
		return "", false
	case "y", "yes", "on", "n", "no", "off":
		return fmt.Sprintf("%q is accepted but ambiguous: write \"true\" or \"false\"", v), true
	}
	return fmt.Sprintf("%q is not a boolean (want \"true\" or \"false\")", v), false
}

func quantity(v string) (string, bool) {
	if _, err := resource.ParseQuantity(strings.TrimSpace(v)); err != nil {
		return fmt.Sprintf("%q is not a Kubernetes quantity (e.g. 100m, 128Mi)", v), false
	}
	return "", false
}

func intAtLeast(min int) validator {
	return func(v string) (string, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < min {
			return fmt.Sprintf("%q is not an integer >= %d", v, min), false
		}
		return "", false
	}
}

func port(zeroOK bool) validator {
	return func(v string) (string, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n > 65535 || n < 0 || (n == 0 && !zeroOK) {
			return fmt.Sprintf("%q is not a port number", v), false
		}
		return "", false
	}
}

func portList(starOK bool) validator {
	return func(v string) (string, bool) {
		v = strings.TrimSpace(v)
		if v == "" || (starOK && v == "*") {
			return "", false
		}
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return fmt.Sprintf("%q is not a comma-separated list of ports (bad entry %q)", v, p), false
			}
		}
		return "", false
	}
}

func cidrList(starOK bool) validator {
	return func(v string) (string, bool) {
		v = strings.TrimSpace(v)
		if v == "" || (starOK && v == "*") {
			return "", false
		}
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if _, _, err := net.ParseCIDR(p); err != nil {
				return fmt.Sprintf("%q is not a comma-separated list of CIDRs (bad entry %q)", v, p), false
			}
		}
		return "", false
	}
}

func oneOf(vals ...string) validator {
	return func(v string) (string, bool) {
		for _, x := range vals {
			if v == x {
				return "", false
			}
		}
		return fmt.Sprintf("%q is not one of %s", v, strings.Join(vals, ", ")), false
	}
}

func jsonValue(v string) (string, bool) {
	if !json.Valid([]byte(v)) {
		return fmt.Sprintf("%q is not valid JSON", v), false
	}
	return "", false
}

// proxyConfig parses a ProxyConfig overlay strictly: unknown fields are errors.
func proxyConfig(v string) (string, bool) {
	if _, err := parseProxyConfig(v); err != nil {
		return err.Error(), false
	}
	return "", false
}

func parseProxyConfig(v string) (*meshv1alpha1.ProxyConfig, error) {
	pc := &meshv1alpha1.ProxyConfig{}
	if strings.TrimSpace(v) == "" {
		return pc, nil
	}
	js, err := yaml.YAMLToJSON([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("is not valid YAML: %v", err)
	}
	if err := protojson.Unmarshal(js, pc); err != nil {
		return nil, fmt.Errorf("is not a valid ProxyConfig: %v", err)
	}
	return pc, nil
}
