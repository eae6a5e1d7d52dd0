package observability

import (
	"fmt"
	"strings"

	telemetryapi "istio.io/api/telemetry/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

func accessLogsCheck() *check.Check {
	return &check.Check{
		ID:    "logging.access-logs",
		Reads: []string{snapshot.ConfigMap, snapshot.Telemetry, snapshot.Namespace},
		Why: "Envoy access logs are the per-request record (status, response flags, upstream, duration) that explains a 503 or a timeout after the fact. " +
			"They are off by default in Istio.",
		Fix:    "Turn them on mesh-wide: a Telemetry in the root namespace with accessLogging: [{providers: [{name: envoy}]}], or meshConfig.accessLogFile: /dev/stdout.",
		Docs:   "https://istio.io/latest/docs/tasks/observability/logs/access-log/",
		Config: accessLogsConfig,
	}
}

const accessLogTelemetrySnippet = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: %s
spec:
  accessLogging:
  - providers:
    - name: envoy
# or in the mesh config: accessLogFile: /dev/stdout`

// accessLogEntries says whether an accessLogging list turns logging on (an
// entry not disabled) or only off (every entry disabled, for all traffic).
func accessLogEntries(als []*telemetryapi.AccessLogging) (enabled, disabledAll bool) {
	disabledAll = len(als) > 0
	for _, al := range als {
		if al.GetDisabled().GetValue() {
			if al.GetMatch() != nil && al.GetMatch().GetMode() != telemetryapi.WorkloadMode_CLIENT_AND_SERVER {
				disabledAll = false
			}
			continue
		}
		enabled = true
		disabledAll = false
	}
	return enabled, disabledAll
}

func accessLogsConfig(c *check.Context) {
	root := c.Config.RootNamespace
	mcObj, mc := meshConfig(c)
	kinds := providerKinds(mc)
	defaults := mc.GetDefaultProviders().GetAccessLogging()
	checkProviders := func(s telemetryScope) bool {
		ok := true
		for i, al := range s.T.Spec.GetAccessLogging() {
			for _, p := range al.GetProviders() {
				if k := providerOf(kinds, p.GetName()); !accessLogKinds[k] {
					ok = false
					c.Fail(s.Object, "%s logs to provider %q, which the mesh config does not define as an access-log provider: nothing is logged", s.Object.ID(), p.GetName()).
						Field(fmt.Sprintf("spec.accessLogging[%d].providers", i)).Got("%s", p.GetName()).Want("envoy (built in) or a defined access-log provider").
						Fix("spec:\n  accessLogging:\n  - providers:\n    - name: envoy")
				}
			}
			if len(al.GetProviders()) == 0 && len(defaults) == 0 && !al.GetDisabled().GetValue() {
				c.Warn(s.Object, "%s turns access logging on without naming a provider, and the mesh config sets no defaultProviders.accessLogging", s.Object.ID()).
					Field(fmt.Sprintf("spec.accessLogging[%d].providers", i)).
					Fix("spec:\n  accessLogging:\n  - providers:\n    - name: envoy")
			}
		}
		return ok
	}

	// The mesh-wide Telemetry, when it configures access logging, takes
	// precedence over the mesh config's legacy settings.
	tel := loadTelemetries(c)
	rootState := "" // "", "on", "off", "broken"
	for _, s := range tel.root {
		als := s.T.Spec.GetAccessLogging()
		if len(als) == 0 {
			continue
		}
		on, off := accessLogEntries(als)
		switch {
		case off:
			rootState = "off"
			c.Fail(s.Object, "%s disables access logging for the whole mesh", s.Object.ID()).
				Field("spec.accessLogging[].disabled").Got("true").Want("false or unset").
				Fixf("remove disabled: true from %s", s.Object.ID())
		case on && checkProviders(s):
			rootState = "on"
			c.Pass(s.Object, "%s turns access logs on for the whole mesh", s.Object.ID())
		case on:
			rootState = "broken"
		}
	}
	legacy := false
	if f := mc.GetAccessLogFile(); f != "" && rootState == "" {
		legacy = true
		c.Pass(mcObj, "mesh config accessLogFile %s: every proxy writes access logs", f)
	}
	if rootState == "" {
		for _, name := range defaults {
			if k := providerOf(kinds, name); !accessLogKinds[k] {
				c.Fail(mcObj, "the mesh config's defaultProviders.accessLogging names %q, which is not an access-log provider", name).
					Field("data[mesh].defaultProviders.accessLogging").Got("%s", name).Want("envoy or a defined envoyFileAccessLog/envoyOtelAls provider").
					Fix("defaultProviders:\n  accessLogging:\n  - envoy")
				continue
			}
			legacy = true
			c.Pass(mcObj, "the mesh config's defaultProviders.accessLogging (%s) turns access logs on mesh-wide", name)
		}
	}
	meshWide := rootState == "on" || (rootState == "" && legacy)
	nss := mesh.Namespaces(c, c.Config)
	for _, ns := range nss {
		covered, reported := meshWide, rootState == "off" || rootState == "broken"
		for _, s := range tel.ns[ns] {
			als := s.T.Spec.GetAccessLogging()
			if len(als) == 0 {
				continue
			}
			on, off := accessLogEntries(als)
			switch {
			case off:
				covered, reported = false, true
				c.Fail(s.Object, "%s disables access logging for mesh namespace %s", s.Object.ID(), ns).
					Field("spec.accessLogging[].disabled").Got("true").Want("false or unset").
					Fixf("remove disabled: true from %s (use a filter, e.g. response.code >= 400, to cut volume instead)", s.Object.ID())
			case on:
				covered = checkProviders(s)
				reported = !covered
				if covered {
					c.Pass(s.Object, "%s turns access logs on for namespace %s", s.Object.ID(), ns)
				}
			}
		}
		if !covered && !reported {
			c.Fail(namespaceObject(c, ns), "mesh namespace %s has no access logs: no accessLogFile or default provider in the mesh config, and no Telemetry in %s or %s turns them on", ns, root, ns).
				Want("access logging for every mesh namespace").
				Fixf(accessLogTelemetrySnippet, root)
		}
	}
	if len(nss) == 0 && !meshWide && rootState == "" {
		c.Fail(mcObj, "access logs are off: no accessLogFile or defaultProviders.accessLogging in the mesh config and no mesh-wide Telemetry turns them on").
			Field("data[mesh].accessLogFile").Want("/dev/stdout, or a Telemetry with accessLogging").
			Fixf(accessLogTelemetrySnippet, root)
	}
}

func errorLogsCheck() *check.Check {
	return &check.Check{
		ID:    "logging.error-logs",
		Reads: append([]string{snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.Namespace, snapshot.Service}, mesh.AlertRuleKinds...),
		Why: "Errors nobody looks at are not monitored. Either an alert fires on the mesh's 5xx rate and proxy errors, " +
			"or the proxies' and istiod's logs are shipped to a store (Loki, Elasticsearch, a cloud log service) where they can be searched and alerted on.",
		Fix: "Add an alert on the 5xx share of istio_requests_total (and Envoy upstream errors), and/or deploy a log pipeline " +
			"(fluent-bit, Vector, Promtail/Alloy + Loki, OpenTelemetry Collector) that ships container logs.",
		Docs:      "https://istio.io/latest/docs/ops/best-practices/observability/",
		Config:    errorLogsConfig,
		Telemetry: errorLogsTelemetry,
	}
}

func errorLogsConfig(c *check.Context) {
	rules := mesh.AlertRules(c)
	cov := mesh.CoverageOf(rules)
	tools := mesh.ToolWorkloads(c)
	found := false
	if rs := cov[mesh.Topic5xxRate]; len(rs) > 0 {
		found = true
		c.Pass(rs[0].Object, "5xx rate alerted by %s", join(cov.Names(mesh.Topic5xxRate)))
	}
	if rs := cov[mesh.TopicProxyErrors]; len(rs) > 0 {
		found = true
		c.Pass(rs[0].Object, "proxy errors alerted by %s", join(cov.Names(mesh.TopicProxyErrors)))
	}
	for _, t := range mesh.LogPipelineTools {
		for _, w := range tools[t] {
			found = true
			c.Pass(w.Object, "log pipeline deployed: %s runs %s (%s)", w.Object.ID(), t, w.Container.Image)
		}
	}
	if found {
		return
	}
	var anchor *snapshot.Object
	if len(rules) > 0 {
		anchor = rules[0].Object
	}
	c.Fail(anchor, "errors are not monitored: none of %d alert rules watches the 5xx rate or proxy errors, and no log pipeline (fluent-bit, fluentd, Vector, Promtail/Loki, Alloy, OpenTelemetry Collector) is deployed", len(rules)).
		Want("an alert on the 5xx rate / proxy errors, or a log pipeline").
		Fix(mesh.PrometheusRuleSnippet(c.Config.ControlPlaneNamespace, mesh.AlertTopicRule(mesh.Topic5xxRate, c.Config.Thresholds)) +
			"# and/or: helm install fluent-bit fluent/fluent-bit -n logging --create-namespace")
}

func debugLogsCheck() *check.Check {
	return &check.Check{
		ID:    "logging.debug-logs",
		Reads: []string{snapshot.ConfigMap, snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.Namespace},
		Why: "Debug or trace logging left on mesh-wide multiplies log volume and CPU in every proxy and in istiod, and buries real errors; " +
			"but during an incident the team must know how to raise one workload's level quickly.",
		Fix: "Keep global.proxy.logLevel at warning (or info) and istiod's --log_output_level at default:info; raise a single proxy's level on demand " +
			"with `istioctl proxy-config log <pod> --level debug` (or the sidecar.istio.io/logLevel annotation) and document it in the document named for logging.debug-logs.",
		Docs:   "https://istio.io/latest/docs/ops/diagnostic-tools/component-logging/",
		Config: debugLogsConfig,
	}
}

func isVerbose(level string) bool {
	l := strings.ToLower(strings.TrimSpace(level))
	return l == "debug" || l == "trace"
}

// verboseScopes returns the scopes of "scope:level,scope:level" set to debug/trace.
func verboseScopes(spec string) []string {
	var out []string
	for _, part := range strings.Split(spec, ",") {
		scope, level, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			if isVerbose(scope) {
				out = append(out, "default")
			}
			continue
		}
		if isVerbose(level) {
			out = append(out, scope)
		}
	}
	return out
}

// istiodLogLevel returns istiod's --log_output_level value ("" when unset).
func istiodLogLevel(ct *corev1.Container) string {
	if ct == nil {
		return ""
	}
	args := append(append([]string(nil), ct.Command...), ct.Args...)
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--log_output_level="); ok {
			return v
		}
		if a == "--log_output_level" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

const (
	annLogLevel          = "sidecar.istio.io/logLevel"
	annComponentLogLevel = "sidecar.istio.io/componentLogLevel"
	annAgentLogLevel     = "sidecar.istio.io/agentLogLevel"
)

// debugDocKeywords are ways to raise a log level a document should mention.
var debugDocKeywords = []string{"proxy-config log", "loglevel", "log_output_level", "--level", "/logging", "ctrlz", "admin log", "componentloglevel", "agentloglevel"}

func debugLogsConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	iv, err := mesh.LoadInjectorValues(c, cp)
	if err != nil {
		c.Error("cannot read the sidecar injector values: %v", err).
			Fix("correct the YAML under the \"values\" key of the istio-sidecar-injector ConfigMap")
	}
	// Mesh-wide proxy levels.
	if iv != nil {
		lvl := mesh.String(iv.Lookup("global.proxy.logLevel"))
		if iv.Lookup("global.proxy.logLevel") == nil {
			lvl = ""
		}
		switch {
		case isVerbose(lvl):
			c.Fail(iv.Object, "every proxy logs at %s: the injector's global.proxy.logLevel is %s mesh-wide", lvl, lvl).
				Field("data[values].global.proxy.logLevel").Got("%s", lvl).Want("warning (the default) or info").
				Fix("helm upgrade istiod istio/istiod -n " + cp + " --reuse-values --set global.proxy.logLevel=warning\n# then restart the mesh workloads to re-inject")
		case lvl == "":
			c.Pass(iv.Object, "proxy log level not set in the injector values: Istio's default (warning) applies mesh-wide")
		default:
			c.Pass(iv.Object, "proxy log level %s mesh-wide (global.proxy.logLevel)", lvl)
		}
		if cl := iv.Lookup("global.proxy.componentLogLevel"); cl != nil {
			if vs := verboseScopes(mesh.String(cl)); len(vs) > 0 {
				c.Fail(iv.Object, "the injector's global.proxy.componentLogLevel sets %s to debug/trace in every proxy", join(vs)).
					Field("data[values].global.proxy.componentLogLevel").Got("%s", mesh.String(cl)).Want("misc:error (the default)").
					Fix("helm upgrade istiod istio/istiod -n " + cp + " --reuse-values --set global.proxy.componentLogLevel=misc:error")
			}
		}
	} else {
		c.Pass(nil, "no sidecar injector ConfigMap in %s: Istio's default proxy log level (warning) applies", cp)
	}
	// istiod.
	istiods := mesh.Istiods(c, cp)
	for _, ist := range istiods {
		lv := istiodLogLevel(ist.Container)
		vs := verboseScopes(lv)
		wide := false
		for _, s := range vs {
			if s == "default" || s == "all" {
				wide = true
			}
		}
		switch {
		case wide:
			c.Fail(ist.Object, "istiod logs at debug: --log_output_level=%s", lv).
				Field("spec.template.spec.containers[discovery].args").Got("--log_output_level=%s", lv).Want("default:info").
				Fixf("helm upgrade istiod istio/istiod -n %s --reuse-values --set global.logging.level=default:info   # renders --log_output_level=default:info\n# the running %s can be lowered at once: istioctl admin log --level default:info", cp, ist.Object.ID())
		case len(vs) > 0:
			c.Warn(ist.Object, "istiod logs scope(s) %s at debug/trace (--log_output_level=%s): heavy at scale; lower them after the investigation", join(vs), lv).
				Field("spec.template.spec.containers[discovery].args").Got("--log_output_level=%s", lv).Want("default:info").
				Fix("istioctl admin log --level " + strings.Join(vs, ":info,") + ":info   # then remove the flag from the Deployment")
		case lv == "":
			c.Pass(ist.Object, "istiod log level not set: default:info")
		default:
			c.Pass(ist.Object, "istiod --log_output_level=%s", lv)
		}
	}
	// Per-workload annotations.
	type verbose struct {
		w   mesh.Workload
		why string
	}
	var injected int
	var debug []verbose
	for _, ns := range mesh.Namespaces(c, c.Config) {
		var nsLabels map[string]string
		if o := namespaceObject(c, ns); o != nil {
			nsLabels = o.Labels
		}
		for _, w := range mesh.Workloads(c, ns) {
			if !mesh.PodInjected(nsLabels, w.Template) {
				continue
			}
			injected++
			a := w.Template.Annotations
			var why []string
			if isVerbose(a[annLogLevel]) {
				why = append(why, annLogLevel+"="+a[annLogLevel])
			}
			for _, k := range []string{annComponentLogLevel, annAgentLogLevel} {
				if vs := verboseScopes(a[k]); len(vs) > 0 {
					why = append(why, k+"="+a[k])
				}
			}
			if len(why) > 0 {
				debug = append(debug, verbose{w, join(why)})
			}
		}
	}
	switch {
	case len(debug) >= 2 && len(debug)*2 >= injected:
		var names []string
		for _, d := range debug {
			names = append(names, d.w.Object.ID())
		}
		d := debug[0]
		c.Fail(d.w.Object, "%d of %d injected workloads run their proxy at debug/trace (%s): that is debug logging mesh-wide in all but name", len(debug), injected, join(names)).
			Field("spec.template.metadata.annotations").Got("%s", d.why).Want("debug on a few workloads at most, for a limited time").
			Fixf("remove the annotations %s / %s / %s from the pod templates, or lower them per pod: istioctl proxy-config log <pod> -n <ns> --level warning", annLogLevel, annComponentLogLevel, annAgentLogLevel)
	default:
		for _, d := range debug {
			c.Pass(d.w.Object, "per-workload debug logging on %s (%s): acceptable on a few workloads; remove it when the investigation ends", d.w.Object.ID(), d.why)
		}
	}

	// The documented way to raise a level.
	id := "logging.debug-logs"
	p, ok := c.Config.Documents[id]
	if !ok {
		c.Fail(nil, "no document explains how to raise a workload's log level: none is configured for %s", id).
			Fixf("write it (e.g. `istioctl proxy-config log <pod> --level debug`, the %s annotation, `istioctl admin log` for istiod) and name it in meshready.yaml:\ndocuments:\n  %s: docs/debug-logging.md", annLogLevel, id)
		return
	}
	engine.CheckDocument(c, id, nil)
	if strings.Contains(p, "://") {
		return
	}
	doc, err := engine.ReadDocument(c.Config.Resolve(p))
	if err != nil || strings.TrimSpace(doc.Text) == "" {
		return // CheckDocument reported it
	}
	text := strings.ToLower(doc.Text)
	for _, k := range debugDocKeywords {
		if strings.Contains(text, k) {
			c.Pass(nil, "document %s explains raising log levels (mentions %q)", p, k)
			return
		}
	}
	c.Fail(nil, "document %s does not explain how to raise a workload's log level: it mentions none of istioctl proxy-config log, %s, --log_output_level, istioctl admin log", p, annLogLevel).
		Fixf("add a section to %s, e.g.:\n## Raising log levels\nistioctl proxy-config log <pod> -n <ns> --level debug   # one proxy, no restart\nistioctl proxy-config log <pod> -n <ns> --level warning # back to normal\nistioctl admin log --level ads:debug                    # istiod, one scope", p)
}

func retentionCheck() *check.Check {
	return &check.Check{
		ID: "logging.retention",
		Why: "How long access and error logs are kept decides whether an incident can be investigated a week later, and whether the platform meets its " +
			"data-protection obligations (request logs can carry user data). It is a policy decision, so it is attested by a person with a link to the policy.",
		Fix: "Write the log retention policy (per log store: retention period, who can read, deletion), name it in meshready.yaml documents.logging.retention, " +
			"and record the attestation: meshready attest logging.retention --by NAME --evidence URL.",
		Docs: "https://istio.io/latest/docs/ops/best-practices/observability/",
	}
}
