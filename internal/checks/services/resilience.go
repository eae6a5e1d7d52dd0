package services

import (
	"fmt"
	"strings"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// istioDefaultRetry is what Istio applies when a route sets no retries
// (unless meshConfig.defaultHttpRetryPolicy overrides it).
const istioDefaultRetry = "Istio's default: 2 attempts on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, no per-try timeout"

func resilience() *check.Check {
	return &check.Check{
		ID:    "service.S.resilience",
		Reads: reads([]string{snapshot.Service, snapshot.VirtualService, snapshot.DestinationRule}),
		Why: "Retries hide transient failures (a pod restarting, a connection reset) from callers, and circuit " +
			"breaking stops a slow or failing instance from taking its callers down: connection-pool limits " +
			"shed load with fast 503s instead of unbounded queues, outlier detection ejects the bad endpoint. " +
			"Istio's defaults are unlimited pools, no ejection, and retries without a per-try timeout.",
		Fix: "Set retries (attempts, perTryTimeout, retryOn) on every HTTP route to the service, and " +
			"connectionPool limits plus outlierDetection in its DestinationRule's trafficPolicy.",
		Docs:   "https://istio.io/latest/docs/tasks/traffic-management/circuit-breaking/",
		Config: resilienceConfig,
	}
}

// retrySnippet suggests retries whose attempts fit in the route timeout:
// (attempts + 1) × perTryTimeout ≤ timeout.
func retrySnippet(r mesh.HTTPRouteRef, s config.Service) string {
	timeout := s.Timeout.D()
	if t := r.Route.GetTimeout(); t != nil && t.AsDuration() > 0 {
		timeout = t.AsDuration()
	}
	per := "10s   # (attempts + 1) x perTryTimeout within the route timeout"
	if timeout > 0 {
		per = yamlDur((timeout / 3).Truncate(time.Second)) + "   # (attempts + 1) x perTryTimeout within the route timeout " + yamlDur(timeout)
	}
	return fmt.Sprintf("spec:\n  http:\n  - ...   # %s\n    retries:\n      attempts: 2\n      perTryTimeout: %s\n      retryOn: connect-failure,refused-stream,unavailable,cancelled,503", r.Field(), per)
}

func resilienceConfig(c *check.Context) {
	if !service(c) {
		return
	}
	s := *c.Service
	host := s.Host()
	svcObj, svc := mesh.ServiceOf(c, s)

	// Retries on every HTTP route to S.
	routes := serviceRoutes(c, s, c.ByHost(snapshot.VirtualService, host))
	if ok, protos := tcpOnly(svc); ok {
		c.Pass(svcObj, "%s serves only non-HTTP protocols (%s): HTTP retries do not apply (circuit breaking does)", svcObj.ID(), strings.Join(protos, ", "))
		routes = nil
	} else if len(routes) == 0 {
		c.Fail(svcObj, "no HTTP route sends traffic to %s, so no retries are configured (%s)", host, istioDefaultRetry).
			Got("no VirtualService http route to %s", host).Want("http routes with retries").
			Fixf("%s\n    retries:\n      attempts: 2\n      perTryTimeout: 10s\n      retryOn: connect-failure,refused-stream,unavailable,cancelled,503", vsSnippet(s, wantTimeout(s)))
	}
	for _, r := range routes {
		checkRetries(c, r, s)
	}

	// Circuit breaking on S's DestinationRule(s).
	drs := exactDestinationRules(c, host)
	if len(drs) == 0 {
		drs = hostDestinationRules(c, host)
	}
	if len(drs) == 0 {
		c.Fail(svcObj, "no DestinationRule for %s: no connection-pool limits and no outlier detection (Istio's defaults: effectively unlimited, no ejection)", host).
			Got("no DestinationRule").Want("a DestinationRule with connectionPool limits and outlierDetection").
			Fix(drSnippet(s))
		return
	}
	for _, o := range drs {
		dr, ok := o.Typed.(*networkingv1.DestinationRule)
		if !ok {
			continue
		}
		checkCircuitBreaker(c, o, dr, s)
	}
}

func checkRetries(c *check.Context, r mesh.HTTPRouteRef, s config.Service) {
	rt := r.Route.GetRetries()
	field := r.Field() + ".retries"
	if rt == nil {
		c.Fail(r.Object, "%s sets no retries: %s", r.Name(), istioDefaultRetry).
			Field(field).Got("unset (%s)", istioDefaultRetry).Want("retries with attempts, perTryTimeout and retryOn").
			Fix(retrySnippet(r, s))
		return
	}
	if rt.GetAttempts() <= 0 {
		c.Fail(r.Object, "%s disables retries (attempts: 0): every transient failure reaches the caller", r.Name()).
			Field(field + ".attempts").Got("0").Want("≥ 1").Fix(retrySnippet(r, s))
		return
	}
	ok := true
	if rt.GetPerTryTimeout() == nil {
		ok = false
		c.Fail(r.Object, "%s retries without perTryTimeout: one hung attempt uses up the whole route timeout and no retry happens", r.Name()).
			Field(field + ".perTryTimeout").Got("unset").Want("a per-try timeout").Fix(retrySnippet(r, s))
	}
	if strings.TrimSpace(rt.GetRetryOn()) == "" {
		ok = false
		c.Fail(r.Object, "%s retries without retryOn: the conditions are Istio's implicit default, not a decision", r.Name()).
			Field(field + ".retryOn").Got("unset").Want("explicit conditions, e.g. connect-failure,refused-stream,unavailable,cancelled,503").Fix(retrySnippet(r, s))
	}
	if ok {
		c.Pass(r.Object, "%s retries %d times, %s per try, on %s", r.Name(), rt.GetAttempts(), dur(rt.GetPerTryTimeout()), rt.GetRetryOn()).Field(field)
	}
}

// poolLimits describes the connection-pool limits a policy sets ("" if none).
func poolLimits(cp *networking.ConnectionPoolSettings) string {
	var parts []string
	if n := cp.GetTcp().GetMaxConnections(); n > 0 {
		parts = append(parts, fmt.Sprintf("tcp.maxConnections %d", n))
	}
	if n := cp.GetHttp().GetHttp1MaxPendingRequests(); n > 0 {
		parts = append(parts, fmt.Sprintf("http.http1MaxPendingRequests %d", n))
	}
	if n := cp.GetHttp().GetHttp2MaxRequests(); n > 0 {
		parts = append(parts, fmt.Sprintf("http.http2MaxRequests %d", n))
	}
	return strings.Join(parts, ", ")
}

// outlier describes the ejection an outlierDetection enables ("" if none).
func outlier(od *networking.OutlierDetection) string {
	if od == nil {
		return ""
	}
	var parts []string
	// consecutive5xxErrors defaults to 5 when outlierDetection is set; an explicit 0 disables it.
	switch v := od.GetConsecutive_5XxErrors(); {
	case v == nil && od.GetConsecutiveErrors() == 0:
		parts = append(parts, "consecutive5xxErrors 5 (default)")
	case v == nil:
		parts = append(parts, fmt.Sprintf("consecutiveErrors %d", od.GetConsecutiveErrors()))
	case v.GetValue() > 0:
		parts = append(parts, fmt.Sprintf("consecutive5xxErrors %d", v.GetValue()))
	}
	if v := od.GetConsecutiveGatewayErrors(); v.GetValue() > 0 {
		parts = append(parts, fmt.Sprintf("consecutiveGatewayErrors %d", v.GetValue()))
	}
	if v := od.GetFailurePercentageThreshold(); v.GetValue() > 0 {
		parts = append(parts, fmt.Sprintf("failurePercentageThreshold %d", v.GetValue()))
	}
	if len(parts) == 0 {
		return ""
	}
	if i := od.GetInterval(); i != nil {
		parts = append(parts, "interval "+dur(i))
	}
	if b := od.GetBaseEjectionTime(); b != nil {
		parts = append(parts, "baseEjectionTime "+dur(b))
	}
	return strings.Join(parts, ", ")
}

// checkCircuitBreaker requires connection-pool limits and outlier
// detection from the DestinationRule's trafficPolicy, or else from every
// one of its subsets (a subset's policy overrides the top level).
func checkCircuitBreaker(c *check.Context, o *snapshot.Object, dr *networkingv1.DestinationRule, s config.Service) {
	tp := dr.Spec.GetTrafficPolicy()
	pool, od := poolLimits(tp.GetConnectionPool()), outlier(tp.GetOutlierDetection())
	poolField, odField := "spec.trafficPolicy.connectionPool", "spec.trafficPolicy.outlierDetection"

	// Port-level settings can carry them instead.
	if pool == "" || od == "" {
		for i, pl := range tp.GetPortLevelSettings() {
			if pool == "" {
				if p := poolLimits(pl.GetConnectionPool()); p != "" {
					pool, poolField = p+fmt.Sprintf(" (port %d)", pl.GetPort().GetNumber()), fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].connectionPool", i)
				}
			}
			if od == "" {
				if p := outlier(pl.GetOutlierDetection()); p != "" {
					od, odField = p+fmt.Sprintf(" (port %d)", pl.GetPort().GetNumber()), fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].outlierDetection", i)
				}
			}
		}
	}
	// Or every subset.
	if subsets := dr.Spec.GetSubsets(); len(subsets) > 0 && (pool == "" || od == "") {
		allPool, allOD := pool == "", od == ""
		for _, ss := range subsets {
			if poolLimits(ss.GetTrafficPolicy().GetConnectionPool()) == "" {
				allPool = false
			}
			if outlier(ss.GetTrafficPolicy().GetOutlierDetection()) == "" {
				allOD = false
			}
		}
		if allPool {
			pool, poolField = "set on every subset", "spec.subsets[].trafficPolicy.connectionPool"
		}
		if allOD {
			od, odField = "set on every subset", "spec.subsets[].trafficPolicy.outlierDetection"
		}
	}

	if pool != "" {
		c.Pass(o, "%s limits the connection pool: %s", o.ID(), pool).Field(poolField)
	} else {
		got := "unset"
		if tp.GetConnectionPool() != nil {
			got = "connectionPool without maxConnections, http1MaxPendingRequests or http2MaxRequests"
		}
		c.Fail(o, "%s sets no connection-pool limit for %s: Istio's defaults are effectively unlimited, so overload queues instead of failing fast", o.ID(), s.Name).
			Field("spec.trafficPolicy.connectionPool").Got("%s", got).Want("tcp.maxConnections and/or http.http1MaxPendingRequests / http.http2MaxRequests").
			Fix("spec:\n  trafficPolicy:\n    connectionPool:\n      tcp:\n        maxConnections: 100\n      http:\n        http1MaxPendingRequests: 50\n        http2MaxRequests: 100")
	}
	if od != "" {
		c.Pass(o, "%s ejects failing endpoints: %s", o.ID(), od).Field(odField)
	} else {
		got := "unset"
		if tp.GetOutlierDetection() != nil {
			got = "outlierDetection with every error threshold at 0 (ejection disabled)"
		}
		c.Fail(o, "%s sets no outlier detection for %s: a failing endpoint keeps receiving traffic", o.ID(), s.Name).
			Field("spec.trafficPolicy.outlierDetection").Got("%s", got).Want("outlierDetection with consecutive5xxErrors (or consecutiveGatewayErrors), interval and baseEjectionTime").
			Fix("spec:\n  trafficPolicy:\n    outlierDetection:\n      consecutive5xxErrors: 5\n      interval: 30s\n      baseEjectionTime: 30s\n      maxEjectionPercent: 50")
	}
}
