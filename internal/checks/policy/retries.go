package policy

import (
	"fmt"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var retries = &check.Check{
	ID:    "policy.retries",
	Reads: []string{snapshot.Namespace, snapshot.Service, snapshot.VirtualService},
	Why: "Without an explicit retry policy Istio retries every request twice on connect-failure, refused-stream, unavailable, " +
		"cancelled and retriable-status-codes, with no per-try timeout: on a slow backend (an LLM call) a retry can wait forever " +
		"or multiply load. An explicit policy says which failures are retried, how often, and how long each try may take; " +
		"attempts × perTryTimeout must fit in the route timeout or the last tries are cut off.",
	Fix: "On every http route to a critical service set retries.attempts, retries.perTryTimeout and retries.retryOn, and a route " +
		"timeout of at least attempts × perTryTimeout.",
	Docs:   "https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRetry",
	Config: checkRetries,
}

// istioDefaultRetries is what applies to a route without retries.
const istioDefaultRetries = "Istio's default applies: 2 attempts, retryOn connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, no perTryTimeout"

// retryOnValues are the retry conditions Envoy accepts (HTTP and gRPC);
// numeric status codes are accepted too.
var retryOnValues = map[string]bool{
	"5xx": true, "gateway-error": true, "reset": true, "reset-before-request": true, "connect-failure": true,
	"envoy-ratelimited": true, "retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true,
	"retriable-headers": true, "http3-post-connect-failure": true,
	"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true,
}

func checkRetries(c *check.Context) {
	svcs := mesh.CriticalOrReport(c)
	if len(svcs) == 0 {
		return
	}
	byDest := mesh.HTTPRoutesByDestination(c)
	seen := map[string]bool{}
	for _, s := range svcs {
		svcObj, _ := serviceObject(c, s)
		if svcObj == nil {
			continue
		}
		routes := byDest[s.Host()]
		if len(routes) == 0 {
			if vss := mesh.VirtualServicesFor(c, s.Host()); len(vss) > 0 && nonHTTPOnly(vss) {
				c.Pass(vss[0], "critical service %s is routed over tcp/tls only (%s): HTTP retries do not apply", s.Key(), ids(vss))
				continue
			}
			c.Fail(svcObj, "critical service %s: no http route sends traffic to %s, so %s", s.Key(), s.Host(), istioDefaultRetries).
				Want("a VirtualService route to %s with retries (attempts, perTryTimeout, retryOn)", s.Host()).
				Fixf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: %s
  namespace: %s
spec:
  hosts:
    - %s
  http:
    - route:
        - destination:
            host: %s
      timeout: %s
      retries:
        attempts: 2
        perTryTimeout: %s
        retryOn: connect-failure,refused-stream,unavailable,cancelled,503`, s.Name, s.Namespace, s.Host(), s.Host(), suggestedTimeout(s), suggestedPerTry(s))
			continue
		}
		for _, r := range routes {
			key := r.Name()
			if seen[key] {
				continue
			}
			seen[key] = true
			checkRoute(c, s, r)
		}
	}
}

func checkRoute(c *check.Context, s config.Service, r mesh.HTTPRouteRef) {
	f := r.Field() + ".retries"
	rt := r.Route.GetRetries()
	snippet := func() string {
		return fmt.Sprintf("kubectl edit virtualservice -n %s %s   # in %s:\n  timeout: %s\n  retries:\n    attempts: 2\n    perTryTimeout: %s\n    retryOn: connect-failure,refused-stream,unavailable,cancelled,503",
			r.Object.Namespace, r.Object.Name, r.Field(), suggestedTimeout(s), suggestedPerTry(s))
	}
	if rt == nil {
		c.Fail(r.Object, "route %s to critical service %s sets no retries: %s", r.Name(), s.Key(), istioDefaultRetries).
			Field(f).Got("absent").Want("attempts, perTryTimeout and retryOn").Fix(snippet())
		return
	}
	ok := true
	if rt.GetAttempts() <= 0 {
		ok = false
		c.Fail(r.Object, "route %s to critical service %s disables retries (attempts: %d)", r.Name(), s.Key(), rt.GetAttempts()).
			Field(f+".attempts").Got("%d", rt.GetAttempts()).Want("≥ 1").Fix(snippet())
	}
	if rt.GetPerTryTimeout() == nil {
		ok = false
		c.Fail(r.Object, "route %s to critical service %s sets retries without perTryTimeout: a hung try holds the request until the route timeout", r.Name(), s.Key()).
			Field(f+".perTryTimeout").Got("absent").Want("a duration, e.g. %s", suggestedPerTry(s)).Fix(snippet())
	}
	on := strings.TrimSpace(rt.GetRetryOn())
	if on == "" {
		ok = false
		c.Fail(r.Object, "route %s to critical service %s sets retries without retryOn: Istio's default conditions apply implicitly", r.Name(), s.Key()).
			Field(f + ".retryOn").Got("absent").Want("explicit conditions, e.g. connect-failure,refused-stream,unavailable,cancelled,503").Fix(snippet())
	} else {
		var unknown []string
		for _, v := range strings.Split(on, ",") {
			v = strings.TrimSpace(v)
			if !retryOnValues[v] && !isStatusCode(v) {
				unknown = append(unknown, v)
			}
		}
		if len(unknown) > 0 {
			ok = false
			c.Fail(r.Object, "route %s: retryOn has unknown conditions %s", r.Name(), strings.Join(unknown, ",")).
				Field(f+".retryOn").Got("%s", on).Want("Envoy retry conditions (5xx, gateway-error, reset, connect-failure, refused-stream, retriable-4xx, retriable-status-codes, cancelled, deadline-exceeded, unavailable, ...) or HTTP status codes").
				Fixf("correct spec.http[%d].retries.retryOn of %s, e.g. retryOn: connect-failure,refused-stream,unavailable,cancelled,503", r.Index, r.Object.ID())
		}
	}
	if !ok {
		return
	}
	per := rt.GetPerTryTimeout().AsDuration()
	budget := time.Duration(rt.GetAttempts()) * per
	if t := r.Route.GetTimeout(); t != nil {
		to := t.AsDuration()
		if to > 0 && budget > to {
			c.Fail(r.Object, "route %s: attempts × perTryTimeout = %d × %s = %s exceeds the route timeout %s, so the last tries are cut off", r.Name(), rt.GetAttempts(), per, budget, to).
				Field(f).Got("%d × %s = %s > timeout %s", rt.GetAttempts(), per, budget, to).Want("attempts × perTryTimeout ≤ timeout").
				Fixf("in %s of %s either raise timeout to at least %s or lower perTryTimeout to %s", r.Field(), r.Object.ID(), budget, to/time.Duration(rt.GetAttempts()))
			return
		}
		c.Pass(r.Object, "route %s to %s: retries attempts=%d perTryTimeout=%s retryOn=%s; %d × %s = %s fits the route timeout %s", r.Name(), s.Key(), rt.GetAttempts(), per, on, rt.GetAttempts(), per, budget, to)
		return
	}
	c.Pass(r.Object, "route %s to %s: retries attempts=%d perTryTimeout=%s retryOn=%s (no route timeout: nothing bounds the %s retry budget)", r.Name(), s.Key(), rt.GetAttempts(), per, on, budget)
}

func isStatusCode(v string) bool {
	if len(v) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v[0] >= '1' && v[0] <= '5'
}

func suggestedTimeout(s config.Service) string {
	if s.Timeout > 0 {
		return s.Timeout.D().String()
	}
	return "30s"
}

func suggestedPerTry(s config.Service) string {
	if s.Timeout > 0 {
		return (s.Timeout.D() / 2).String()
	}
	return "10s"
}

// nonHTTPOnly reports whether the VirtualServices have tcp or tls routes and no http route.
func nonHTTPOnly(vss []*snapshot.Object) bool {
	other := false
	for _, o := range vss {
		vs, ok := o.Typed.(*networkingv1.VirtualService)
		if !ok {
			continue
		}
		if len(vs.Spec.GetHttp()) > 0 {
			return false
		}
		if len(vs.Spec.GetTcp())+len(vs.Spec.GetTls()) > 0 {
			other = true
		}
	}
	return other
}
