package injection

import (
	"fmt"
	"regexp"
	"strings"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var customConfig = &check.Check{
	ID: "injection.custom-config",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet,
		snapshot.ConfigMap},
	Why: "Istio ignores annotation and label keys it does not know, so a misspelt sidecar.istio.io/proxyCPU or " +
		"traffic.sidecar.istio.io/excludeOutboundPorts silently leaves the default in place; a bad value can make " +
		"injection fail at pod creation; an opt-out (inject=false) in a mesh namespace quietly takes a workload out " +
		"of mTLS and policy; a custom template that does not exist breaks injection for the pod.",
	Fix: "Use the exact keys from Istio's annotation and label reference, with valid values; remove opt-outs from mesh " +
		"namespaces (or waive them with a reason); define custom injection templates in the injector config before referencing them.",
	Docs:   "https://istio.io/latest/docs/reference/config/annotations/",
	Config: customConfigConfig,
}

func customConfigConfig(c *check.Context) {
	cp := c.Config.ControlPlaneNamespace
	templates, tplSource := knownTemplates(c, cp)
	nss := mesh.Namespaces(c, c.Config)
	checked, annotated := 0, 0
	var good []*snapshot.Object
	for _, w := range mesh.AllWorkloads(c) {
		checked++
		t := w.Template
		inMesh := mesh.IsMeshNamespace(nss, w.Object.Namespace)
		bad := false
		seen := false
		for _, k := range sortedKeys(t.Annotations) {
			if !istioKey(k) {
				continue
			}
			seen = true
			if !checkKey(c, w, k, t.Annotations[k], "annotations", knownAnnotations, annotationNames, knownLabels) {
				bad = true
			}
		}
		for _, k := range sortedKeys(t.Labels) {
			if !istioKey(k) {
				continue
			}
			seen = true
			if !checkKey(c, w, k, t.Labels[k], "labels", knownLabels, labelNames, knownAnnotations) {
				bad = true
			}
		}
		if seen {
			annotated++
		}
		if !checkProxyResources(c, w) {
			bad = true
		}
		if v, ok := t.Annotations[annInjectTemplates]; ok {
			for _, name := range strings.Split(v, ",") {
				name = strings.TrimSpace(name)
				if name == "" || templates[name] {
					continue
				}
				bad = true
				c.Fail(w.Object, "%s references injection template %q, which %s does not define (known: %s): injection fails for its pods",
					workloadRef(w), name, tplSource, strings.Join(sortedKeys(templates), ", ")).
					Field("spec.template.metadata.annotations["+annInjectTemplates+"]").Got("%s", v).Want("templates from %s", tplSource).
					Fixf("Define the template in the injector config (istioctl/Helm values):\nvalues:\n  sidecarInjectorWebhook:\n    templates:\n      %s: |\n        spec: {...}\n# or reference a built-in one: %s: sidecar", name, annInjectTemplates)
			}
		}
		if name := t.Annotations[annBootstrap]; name != "" && c.Get(snapshot.ConfigMap, w.Object.Namespace, name) == nil {
			bad = true
			c.Fail(w.Object, "%s sets %s=%s, but ConfigMap %s/%s does not exist: its proxies fail to start", workloadRef(w), annBootstrap, name, w.Object.Namespace, name).
				Field("spec.template.metadata.annotations["+annBootstrap+"]").Got("%s", name).Want("an existing ConfigMap in %s", w.Object.Namespace).
				Fixf("kubectl -n %s create configmap %s --from-file=custom_bootstrap.json", w.Object.Namespace, name)
		}
		if inMesh {
			if optOut, where := optedOut(t.Labels, t.Annotations); optOut {
				bad = true
				c.Warn(w.Object, "%s opts out of injection (%s) in mesh namespace %s: it runs without a proxy, outside mTLS, authorization and telemetry", workloadRef(w), where, w.Object.Namespace).
					Field("spec.template.metadata."+where).Got("false").Want("absent (injected)").
					Fixf("Remove the opt-out and restart, or waive it in meshready.yaml with a reason:\nkubectl -n %s patch %s %s --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/template/metadata/%s\"}]'\nwaivers:\n- item: injection.custom-config\n  object: %s/%s/%s\n  reason: <why this workload stays out of the mesh>\n  by: <you>\n  expires: <date>",
						w.Object.Namespace, kubectlKind(w.Object), w.Object.Name, jsonPointer(where), w.Object.Kind, w.Object.Namespace, w.Object.Name)
			}
		}
		if seen && !bad {
			good = append(good, w.Object)
		}
	}
	if checked == 0 {
		c.NotApplicable("no workloads (Deployments, StatefulSets, DaemonSets) in the input: no pod template carries injection settings")
		return
	}
	if annotated == 0 {
		c.Pass(nil, "none of the %d workloads sets an Istio annotation or label: injection uses the mesh defaults", checked)
	}
	// One piece of evidence per workload up to a handful, then a count:
	// thousands of identical lines would drown the report.
	for i, o := range good {
		if i == maxEvidence {
			c.Pass(nil, "and %d more workload(s) whose Istio annotations and labels are all known keys with valid values", len(good)-maxEvidence)
			break
		}
		c.Pass(o, "%s %s/%s: every Istio annotation and label is a known key with a valid value", o.Kind, o.Namespace, o.Name)
	}
}

// checkKey judges one Istio-domain key of a pod template; it reports
// findings and returns false when something is wrong.
func checkKey(c *check.Context, w mesh.Workload, k, v, where string, known map[string]keyInfo, names []string, other map[string]keyInfo) bool {
	field := "spec.template.metadata." + where + "[" + k + "]"
	info, ok := known[k]
	if !ok && !strictKey(k) {
		if _, isOther := other[k]; !isOther {
			return true // another Istio domain: keys Istio's controllers set, judged only when known
		}
	}
	if !ok {
		if oi, isOther := other[k]; isOther && oi.forPods {
			kind := "an annotation"
			if where == "annotations" {
				kind = "a label"
			}
			c.Fail(w.Object, "%s sets %s as one of its %s, but Istio reads it as %s: it has no effect", workloadRef(w), k, where, kind).
				Field(field).Got("%s: %q", k, v).Want("%s under metadata.%s", k, otherPlace(where)).
				Fixf("Move it:\nspec:\n  template:\n    metadata:\n      %s:\n        %s: %q", otherPlace(where), k, v)
			return false
		}
		if s, near := closest(k, names); near {
			c.Fail(w.Object, "%s sets unknown %s key %s: Istio ignores it; did you mean %s?", workloadRef(w), strings.TrimSuffix(where, "s"), k, s).
				Field(field).Got("%s", k).Want("%s", s).
				Fixf("spec:\n  template:\n    metadata:\n      %s:\n        %s: %q   # was %s", where, s, v, k)
			return false
		}
		c.Fail(w.Object, "%s sets unknown %s key %s: no Istio %s has this name, so it has no effect", workloadRef(w), strings.TrimSuffix(where, "s"), k, strings.TrimSuffix(where, "s")).
			Field(field).Got("%s", k).Want("a key from https://istio.io/latest/docs/reference/config/%s/", where).
			Fixf("Remove it, or replace it with the intended key:\nkubectl -n %s patch %s %s --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/template/metadata/%s/%s\"}]'",
				w.Object.Namespace, kubectlKind(w.Object), w.Object.Name, where, strings.ReplaceAll(k, "/", "~1"))
		return false
	}
	ok = true
	if !info.forPods {
		ok = false
		c.Warn(w.Object, "%s sets %s on its pod template, but it applies to %s, not pods: it has no effect here", workloadRef(w), k, info.resources).
			Field(field).Got("%s on a pod", k).Want("%s on a %s", k, info.resources).
			Fixf("Move %s: %q to the %s it configures.", k, v, info.resources)
	} else if info.deprecated && k != annInject {
		ok = false
		c.Warn(w.Object, "%s uses %s, which Istio has deprecated", workloadRef(w), k).
			Field(field).Got("%s", k).Want("its replacement (see the reference)").
			Fix("See https://istio.io/latest/docs/reference/config/" + where + "/ for the replacement (e.g. the Telemetry API or proxy.istio.io/config).")
	}
	if val := validators[k]; val != nil {
		if problem, warnOnly := val(v); problem != "" {
			ok = false
			if k == annProxyConfig {
				problem = withFieldHint(problem)
			}
			f := c.Fail
			if warnOnly {
				f = c.Warn
			}
			f(w.Object, "%s: %s %s", workloadRef(w), k, problem).
				Field(field).Got("%s", v).Want("a valid value for %s", k).
				Fix(valueFix(k, where))
		}
	}
	return ok
}

func otherPlace(where string) string {
	if where == "annotations" {
		return "labels"
	}
	return "annotations"
}

func valueFix(k, where string) string {
	ex := map[string]string{
		annInject: `"true"`, annProxyCPU: `"100m"`, annProxyCPULimit: `"1000m"`, annProxyMemory: `"128Mi"`, annProxyMemLimit: `"512Mi"`,
		annProxyConfig: "|\n          holdApplicationUntilProxyStarts: true",
		"traffic.sidecar.istio.io/excludeOutboundPorts":    `"5432,6379"`,
		"traffic.sidecar.istio.io/excludeOutboundIPRanges": `"169.254.169.254/32"`,
	}[k]
	if ex == "" {
		ex = "<valid value>"
	}
	return fmt.Sprintf("spec:\n  template:\n    metadata:\n      %s:\n        %s: %s\n# reference: https://istio.io/latest/docs/reference/config/%s/", where, k, ex, where)
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// withFieldHint adds the nearest ProxyConfig field to an unknown-field error.
func withFieldHint(problem string) string {
	m := unknownField.FindStringSubmatch(problem)
	if m == nil {
		return problem
	}
	fields := (&meshv1alpha1.ProxyConfig{}).ProtoReflect().Descriptor().Fields()
	var names []string
	for i := 0; i < fields.Len(); i++ {
		names = append(names, fields.Get(i).JSONName())
	}
	if s, near := closest(m[1], names); near {
		return problem + "; did you mean " + s + "?"
	}
	return problem
}

// checkProxyResources flags proxy request annotations above their limits.
func checkProxyResources(c *check.Context, w mesh.Workload) bool {
	ok := true
	a := w.Template.Annotations
	for _, p := range [][2]string{{annProxyCPU, annProxyCPULimit}, {annProxyMemory, annProxyMemLimit}} {
		req, err1 := resource.ParseQuantity(a[p[0]])
		lim, err2 := resource.ParseQuantity(a[p[1]])
		if a[p[0]] == "" || a[p[1]] == "" || err1 != nil || err2 != nil {
			continue
		}
		if lim.Cmp(req) < 0 {
			ok = false
			c.Fail(w.Object, "%s: %s (%s) is above %s (%s): the injected pod is rejected", workloadRef(w), p[0], a[p[0]], p[1], a[p[1]]).
				Field("spec.template.metadata.annotations["+p[1]+"]").Got("%s", a[p[1]]).Want(">= %s", a[p[0]]).
				Fixf("spec:\n  template:\n    metadata:\n      annotations:\n        %s: %q", p[1], a[p[0]])
		}
	}
	return ok
}

// optedOut reports an injection opt-out on a pod template, and where.
func optedOut(labels, annotations map[string]string) (bool, string) {
	if v, ok := labels[mesh.LabelInjectPod]; ok && strings.EqualFold(v, "false") {
		return true, "labels[" + mesh.LabelInjectPod + "]"
	}
	if v, ok := annotations[mesh.AnnotationInject]; ok && strings.EqualFold(v, "false") {
		return true, "annotations[" + mesh.AnnotationInject + "]"
	}
	return false, ""
}

func jsonPointer(where string) string {
	// "labels[sidecar.istio.io/inject]" -> "labels/sidecar.istio.io~1inject"
	kind, key, _ := strings.Cut(strings.TrimSuffix(where, "]"), "[")
	return kind + "/" + strings.ReplaceAll(key, "/", "~1")
}

// knownTemplates returns the injection template names the injector defines
// (every revision's ConfigMap), or the built-ins when no ConfigMap is given.
func knownTemplates(c *check.Context, cp string) (map[string]bool, string) {
	out := map[string]bool{}
	var names []string
	for _, cm := range mesh.InjectorConfigMaps(c, cp) {
		ic, err := mesh.ParseInjectorConfig(cm)
		if err != nil || ic == nil || len(ic.Templates) == 0 {
			continue
		}
		names = append(names, cm.Name)
		for _, t := range ic.Templates {
			out[t] = true
		}
	}
	if len(out) > 0 {
		return out, "ConfigMap " + cp + "/" + strings.Join(names, ", ")
	}
	for _, t := range mesh.BuiltinInjectTemplates {
		out[t] = true
	}
	return out, "Istio's built-in templates"
}
