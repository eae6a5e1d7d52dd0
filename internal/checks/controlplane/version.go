package controlplane

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// maxEvidence bounds per-object pass evidence, maxNamed per-object
// findings of one kind, before the rest is summarised in one finding.
const (
	maxEvidence = 10
	maxNamed    = 50
)

// AnnotationProxyImage overrides the injected proxy image of one pod.
const AnnotationProxyImage = "sidecar.istio.io/proxyImage"

var versionCompat = &check.Check{
	ID: "controlplane.version-compat",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet,
		snapshot.ConfigMap, snapshot.MutatingWebhookConfiguration, snapshot.Pod},
	Why: "Each Istio minor supports a fixed window of Kubernetes minors and is patched only until about six weeks " +
		"after the second next minor ships. Proxies newer than istiod are unsupported, and proxies too far behind miss " +
		"xDS features istiod relies on. A namespace labelled for two revisions, or for a revision that does not exist, " +
		"gets no sidecar or the wrong one.",
	Fix: "Run an Istio minor that supports your Kubernetes version (" + mesh.IstioSupportSource + "), upgrade with " +
		"revisions (istioctl install --set revision=1-30) so proxies never run ahead of istiod, and label each namespace " +
		"with exactly one of istio-injection=enabled or istio.io/rev=<existing revision>.",
	Docs:   mesh.IstioSupportSource,
	Config: versionCompatConfig,
	Live:   versionCompatLive,
}

func versionCompatConfig(c *check.Context) {
	ists := istiodsOrFail(c, "the control plane's version cannot be read")
	byRev := map[string]mesh.IstioVersion{}
	var newest *mesh.IstioVersion
	for _, i := range ists {
		v, src, ok := i.Version()
		if !ok {
			c.Warn(i.Object, "the Istio version of istiod %s cannot be read: image %q has no version tag and no version label is set", i.Object.Name, i.Image()).
				Field("spec.template.spec.containers[discovery].image").Got("%s", i.Image()).Want("an image tagged with the Istio version, e.g. docker.io/istio/pilot:%s.0", mesh.NewestIstio().Minor).
				Fixf("Pin istiod to a released version, e.g.:\nistioctl install --set tag=%s.0 -y", mesh.NewestIstio().Minor)
			continue
		}
		byRev[i.Revision] = v
		if newest == nil || v.CompareMinor(*newest) > 0 {
			vv := v
			newest = &vv
		}
		judgeIstioVersion(c, i, v, src)
	}
	checkProxyVersions(c, ists, byRev, newest)
	checkNamespaceRevisions(c, ists)
}

// judgeIstioVersion places one istiod version in the support matrix.
func judgeIstioVersion(c *check.Context, i mesh.Istiod, v mesh.IstioVersion, src string) {
	rel, known := mesh.IstioReleaseFor(v.MinorString())
	newestRel, oldestRel := mesh.NewestIstio(), mesh.OldestIstio()
	upgrade := fmt.Sprintf("Upgrade with a canary revision, then move namespaces over:\nistioctl install --set revision=%s --set tag=%s.0 -y\nkubectl label namespace <ns> istio-injection- istio.io/rev=%[1]s --overwrite",
		strings.ReplaceAll(newestRel.Minor, ".", "-"), newestRel.Minor)
	switch {
	case !known && compareMinor(v.MinorString(), newestRel.Minor) > 0:
		c.Warn(i.Object, "istiod Deployment %s runs Istio %s (%s), newer than meshready's support matrix (newest %s, as of %s): its supported Kubernetes versions cannot be verified",
			i.Object.Name, v, src, newestRel.Minor, mesh.IstioSupportAsOf).
			Got("%s", v).Want("a minor listed at %s", mesh.IstioSupportSource).
			Fixf("Check %s for Istio %s's Kubernetes window, and update meshready (its matrix lives in internal/mesh/istioversions.go).", mesh.IstioSupportSource, v.MinorString())
	case !known:
		c.Fail(i.Object, "istiod Deployment %s runs Istio %s (%s), older than every release in the support matrix (oldest %s, end of life %s): it receives no security fixes",
			i.Object.Name, v, src, oldestRel.Minor, oldestRel.EOL).
			Field("spec.template.spec.containers[discovery].image").Got("%s", v).Want(">= %s (a supported minor)", oldestRel.Minor).
			Fix(upgrade)
	default:
		eol, hasEOL := rel.EndOfLife()
		if hasEOL && c.Now.After(eol) {
			how := "published"
			if rel.EOLDerived {
				how = "6 weeks after Istio " + nextNext(rel.Minor) + " shipped, per Istio's support policy"
			}
			c.Warn(i.Object, "istiod Deployment %s runs Istio %s (%s), which reached end of life on %s (%s): no more security patches; it supports Kubernetes %s",
				i.Object.Name, v, src, rel.EOL, how, rel.KubernetesRange()).
				Got("%s", v).Want("a minor still in support (newest known: %s)", newestRel.Minor).
				Fix(upgrade)
			return
		}
		c.Pass(i.Object, "istiod Deployment %s (%s) runs Istio %s (%s), a supported release for Kubernetes %s (%s, as of %s); the cluster's Kubernetes version is compared in the live part",
			i.Object.Name, revLabel(i), v, src, rel.KubernetesRange(), mesh.IstioSupportSource, mesh.IstioSupportAsOf)
	}
}

// nextNext is the minor two releases after m ("1.28" -> "1.30").
func nextNext(m string) string {
	v, ok := mesh.ParseIstioVersion(m)
	if !ok {
		return "N+2"
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor+2)
}

func compareMinor(a, b string) int {
	va, _ := mesh.ParseIstioVersion(a)
	vb, _ := mesh.ParseIstioVersion(b)
	return va.CompareMinor(vb)
}

// proxySource is one place a data-plane version is pinned.
type proxySource struct {
	obj      *snapshot.Object
	field    string
	image    string
	revision string // the revision that serves it ("" = the namespace's, or default)
	what     string
}

// checkProxyVersions compares every pinned proxy version with its istiod:
// injector values (global.tag), sidecar.istio.io/proxyImage overrides,
// explicit istio-proxy containers (pre-injected pods, gateways).
func checkProxyVersions(c *check.Context, ists []mesh.Istiod, byRev map[string]mesh.IstioVersion, newest *mesh.IstioVersion) {
	if newest == nil {
		return
	}
	var srcs []proxySource
	for _, cm := range mesh.InjectorConfigMaps(c, c.Config.ControlPlaneNamespace) {
		iv, err := mesh.LoadInjectorValuesFrom(cm)
		if err != nil || iv == nil {
			continue
		}
		tag := mesh.String(iv.Lookup("global.tag"))
		if tag == "" || tag == "null" {
			continue
		}
		rev := cm.Labels[mesh.LabelRev]
		if rev == "" {
			rev = strings.TrimPrefix(strings.TrimPrefix(cm.Name, "istio-sidecar-injector"), "-")
		}
		srcs = append(srcs, proxySource{obj: cm, field: "data.values: global.tag", image: "proxyv2:" + tag, revision: rev, what: "injector values global.tag"})
	}
	nsRev := map[string]string{}
	for _, o := range c.List(snapshot.Namespace) {
		if r := o.Labels[mesh.LabelRev]; r != "" && o.Labels[mesh.LabelInjection] == "" {
			nsRev[o.Name] = r
		}
	}
	names := mesh.RevisionNames(c, ists)
	for _, w := range mesh.AllWorkloads(c) {
		t := w.Template
		rev := t.Labels[mesh.LabelRev]
		if rev == "" {
			rev = nsRev[w.Object.Namespace]
		}
		if img := t.Annotations[AnnotationProxyImage]; img != "" {
			srcs = append(srcs, proxySource{obj: w.Object, field: "spec.template.metadata.annotations[" + AnnotationProxyImage + "]", image: img, revision: rev, what: "proxy image override"})
		}
		for _, ct := range t.Spec.Containers {
			if ct.Name == mesh.ProxyContainerName && ct.Image != "" && ct.Image != "auto" {
				srcs = append(srcs, proxySource{obj: w.Object, field: "spec.template.spec.containers[istio-proxy].image", image: ct.Image, revision: rev, what: "istio-proxy container"})
			}
		}
	}
	skew := c.Config.Thresholds.ProxySkewMinors
	passed, failed := 0, 0
	for _, s := range srcs {
		pv, ok := mesh.ParseIstioVersion(mesh.ImageTag(s.image))
		if !ok {
			continue // untagged or digest-pinned: compared live from the running proxies
		}
		cp, cpName := *newest, "the newest istiod"
		if r, ok := names[s.revision]; ok && s.revision != "" {
			if v, ok := byRev[r]; ok {
				cp, cpName = v, "istiod revision "+r
			}
		} else if v, ok := byRev[mesh.DefaultRevision]; ok {
			cp, cpName = v, "istiod (default revision)"
		}
		behind := pv.MinorsBehind(cp)
		if behind < 0 || behind > skew {
			failed++
			if failed > maxNamed {
				continue
			}
		}
		switch {
		case behind < 0:
			c.Fail(s.obj, "%s of %s %s/%s: proxy %s is ahead of %s (%s): a data plane newer than its control plane is unsupported", s.what, s.obj.Kind, s.obj.Namespace, s.obj.Name, pv, cpName, cp).
				Field(s.field).Got("%s", s.image).Want("<= %s", cp.MinorString()).
				Fixf("Upgrade the control plane first, or pin the proxy to istiod's version:\n  %s: docker.io/istio/proxyv2:%s", AnnotationProxyImage, cp)
		case behind > skew:
			c.Fail(s.obj, "%s of %s %s/%s: proxy %s is %d minors behind %s (%s), more than the %d allowed", s.what, s.obj.Kind, s.obj.Namespace, s.obj.Name, pv, behind, cpName, cp, skew).
				Field(s.field).Got("%s", s.image).Want(">= %d.%d", cp.Major, cp.Minor-skew).
				Fixf("Remove the pin so the injector uses istiod's proxy, then restart the workload:\nkubectl -n %s rollout restart %s/%s", s.obj.Namespace, strings.ToLower(s.obj.Kind), s.obj.Name)
		default:
			passed++
			if passed <= maxEvidence {
				c.Pass(s.obj, "%s of %s %s/%s: proxy %s is within %d minor(s) of %s (%s) and not ahead", s.what, s.obj.Kind, s.obj.Namespace, s.obj.Name, pv, skew, cpName, cp)
			}
		}
	}
	if passed > maxEvidence {
		c.Pass(nil, "and %d more pinned proxy version(s) within %d minor(s) of their istiod and not ahead", passed-maxEvidence, skew)
	}
	if failed > maxNamed {
		c.Fail(nil, "and %d more pinned proxy version(s) ahead of istiod or too far behind (first %d named above)", failed-maxNamed, maxNamed).
			Fix("Upgrade istiod before proxies, and remove per-workload proxy image pins so the injector uses istiod's version.")
	}
}

// checkNamespaceRevisions verifies each namespace names at most one
// revision, and that revision exists.
func checkNamespaceRevisions(c *check.Context, ists []mesh.Istiod) {
	names := mesh.RevisionNames(c, ists)
	known := make([]string, 0, len(names))
	for n := range names {
		known = append(known, n)
	}
	sort.Strings(known)
	for _, o := range c.List(snapshot.Namespace) {
		inj, hasInj := o.Labels[mesh.LabelInjection]
		rev, hasRev := o.Labels[mesh.LabelRev]
		switch {
		case hasInj && hasRev:
			c.Fail(o, "Namespace %s carries both istio-injection=%s and istio.io/rev=%s: istio-injection takes precedence and the revision label is silently ignored", o.Name, inj, rev).
				Field("metadata.labels").Got("istio-injection=%s, istio.io/rev=%s", inj, rev).Want("exactly one of them").
				Fixf("kubectl label namespace %s istio-injection-   # keep istio.io/rev=%s\n# or: kubectl label namespace %[1]s istio.io/rev-", o.Name, rev)
		case hasRev && len(ists) > 0:
			if target, ok := names[rev]; ok {
				c.Pass(o, "Namespace %s selects one revision: istio.io/rev=%s (istiod revision %s)", o.Name, rev, target)
			} else {
				c.Fail(o, "Namespace %s is labelled istio.io/rev=%s, but no istiod revision or revision tag %q exists (known: %s): its pods get no sidecar", o.Name, rev, rev, strings.Join(known, ", ")).
					Field("metadata.labels[istio.io/rev]").Got("%s", rev).Want("one of %s", strings.Join(known, ", ")).
					Fixf("kubectl label namespace %s istio.io/rev=%s --overwrite\n# or create the tag: istioctl tag set %s --revision <existing-revision>", o.Name, firstOr(known, "default"), rev)
			}
		case hasInj && inj == "enabled":
			c.Pass(o, "Namespace %s selects one revision: istio-injection=enabled (the default revision)", o.Name)
		}
	}
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}
