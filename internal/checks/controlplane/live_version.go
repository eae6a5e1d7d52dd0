package controlplane

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// versionCompatLive checks the running versions: istiod's Istio minor
// against the Kubernetes server version (Istio's support matrix), every
// running proxy against the istiod that serves it (never ahead, at most
// thresholds.proxySkewMinors behind), and one revision per namespace.
func versionCompatLive(c *check.Context) {
	ists := istiodsOrFail(c, "the control plane's version cannot be read")
	byRev := map[string]mesh.IstioVersion{}
	var newest *mesh.IstioVersion
	var known []liveIstiod
	for _, i := range ists {
		v, src, ok := runningIstiodVersion(c, i)
		if !ok {
			c.Warn(i.Object, "the Istio version of istiod %s cannot be read: neither its running pods' nor its Deployment's discovery image carries a version tag, and no version label is set", i.Object.Name).
				Field("spec.template.spec.containers[discovery].image").Got("%s", i.Image()).Want("an image tagged with the Istio version").
				Fixf("kubectl -n %s get pods -l %s -o jsonpath='{.items[*].status.containerStatuses[*].image}'\n# pin istiod to a released version: istioctl install --set tag=%s.0 -y", i.Object.Namespace, podSelector(i), mesh.NewestIstio().Minor)
			continue
		}
		byRev[i.Revision] = v
		if newest == nil || v.CompareMinor(*newest) > 0 {
			vv := v
			newest = &vv
		}
		known = append(known, liveIstiod{i, v, src})
	}
	checkServerVersion(c, known)
	names := mesh.RevisionNames(c, ists)
	proxies := runningProxies(c)
	checkLiveProxyVersions(c, proxies, names, byRev, newest)
	checkLiveRevisions(c, proxies, names)
}

type liveIstiod struct {
	mesh.Istiod
	v   mesh.IstioVersion
	src string
}

// runningIstiodVersion reads istiod's version from its running pods'
// discovery image (what really runs), else from the Deployment.
func runningIstiodVersion(c *check.Context, i mesh.Istiod) (mesh.IstioVersion, string, bool) {
	pods := istiodPods(c, i)
	for _, o := range append(pods.ready, pods.notReady...) {
		if ct := podContainer(mesh.PodOf(o), mesh.IstiodContainer); ct != nil {
			if v, ok := mesh.ParseIstioVersion(mesh.ImageTag(ct.Image)); ok {
				return v, fmt.Sprintf("image %s of running pod %s", ct.Image, o.Name), true
			}
		}
	}
	return i.Version()
}

// checkServerVersion places each istiod minor in the support matrix for the
// cluster's Kubernetes minor (LiveInfo.ServerVersion, from GET /version).
func checkServerVersion(c *check.Context, ists []liveIstiod) {
	live := c.Live()
	if live == nil || live.ServerVersion == "" {
		c.Pending("the Kubernetes server version is needed to place istiod in Istio's support matrix; it is read from the live cluster (GET /version), which this evaluation has not reported")
		return
	}
	kv, ok := mesh.ParseIstioVersion(live.ServerVersion)
	if !ok {
		c.Error("cannot parse the Kubernetes server version %q reported by the cluster: istiod's support window is not checked", live.ServerVersion).
			Fix("kubectl version -o json   # report the gitVersion to the meshready maintainers")
		return
	}
	k := kv.MinorString()
	supporting := istioMinorsSupporting(k)
	for _, li := range ists {
		i, v := li.Istiod, li.v
		rel, inMatrix := mesh.IstioReleaseFor(v.MinorString())
		newestRel := mesh.NewestIstio()
		switch {
		case !inMatrix && v.CompareMinor(mustVersion(newestRel.Minor)) > 0:
			c.Warn(i.Object, "istiod Deployment %s runs Istio %s (%s), newer than meshready's support matrix (newest %s, as of %s): whether it supports Kubernetes %s (server %s) cannot be verified",
				i.Object.Name, v, li.src, newestRel.Minor, mesh.IstioSupportAsOf, k, live.ServerVersion).
				Got("Istio %s on Kubernetes %s", v.MinorString(), k).Want("a pair listed at %s", mesh.IstioSupportSource).
				Fixf("Check %s for Istio %s and Kubernetes %s, and update meshready (internal/mesh/istioversions.go).", mesh.IstioSupportSource, v.MinorString(), k)
		case !inMatrix:
			c.Fail(i.Object, "istiod Deployment %s runs Istio %s (%s), older than every release in the support matrix: no Kubernetes version is supported for it, including the cluster's %s (server %s)",
				i.Object.Name, v, li.src, k, live.ServerVersion).
				Field("spec.template.spec.containers[discovery].image").Got("Istio %s", v).Want("one of %s (they support Kubernetes %s)", orNone(supporting), k).
				Fix(upgradeFix(supporting, k))
		case rel.SupportsKubernetes(k):
			c.Pass(i.Object, "istiod Deployment %s (%s) runs Istio %s (%s), which supports the cluster's Kubernetes %s (server %s; Istio %s supports Kubernetes %s per %s, as of %s)",
				i.Object.Name, revLabel(i), v, li.src, k, live.ServerVersion, rel.Minor, rel.KubernetesRange(), mesh.IstioSupportSource, mesh.IstioSupportAsOf)
		default:
			c.Fail(i.Object, "istiod Deployment %s runs Istio %s (%s), which does not support the cluster's Kubernetes %s (server %s): Istio %s supports Kubernetes %s (%s, as of %s)",
				i.Object.Name, v, li.src, k, live.ServerVersion, rel.Minor, rel.KubernetesRange(), mesh.IstioSupportSource, mesh.IstioSupportAsOf).
				Field("spec.template.spec.containers[discovery].image").Got("Istio %s on Kubernetes %s", v.MinorString(), k).Want("Kubernetes %s for Istio %s (Istio minors supporting Kubernetes %s: %s)", rel.KubernetesRange(), rel.Minor, k, orNone(supporting)).
				Fix(windowFix(rel, k, supporting))
		}
	}
}

func mustVersion(s string) mesh.IstioVersion {
	v, _ := mesh.ParseIstioVersion(s)
	return v
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none in the matrix"
	}
	return strings.Join(list, ", ")
}

// istioMinorsSupporting lists the Istio minors whose window holds Kubernetes k, newest first.
func istioMinorsSupporting(k string) []string {
	var out []string
	for _, r := range mesh.IstioSupportMatrix {
		if r.SupportsKubernetes(k) {
			out = append(out, r.Minor)
		}
	}
	return out
}

// windowFix: a Kubernetes older than istiod's window is upgraded (moving
// Istio back would mean an older, shorter-lived release); one newer than
// the window needs a newer Istio.
func windowFix(rel mesh.IstioRelease, k string, supporting []string) string {
	if len(rel.Kubernetes) > 0 && compareMinor(k, rel.Kubernetes[0]) < 0 {
		return fmt.Sprintf("Upgrade the cluster to Kubernetes %s or later (Istio %s supports Kubernetes %s), one minor at a time; control plane first, then node pools.\n# Moving Istio back to a minor that supports Kubernetes %s (%s) would trade a supported release for an older one.",
			rel.Kubernetes[0], rel.Minor, rel.KubernetesRange(), k, orNone(supporting))
	}
	return upgradeFix(supporting, k)
}

func upgradeFix(supporting []string, k string) string {
	if len(supporting) == 0 {
		return fmt.Sprintf("No Istio release in meshready's matrix supports Kubernetes %s: run a Kubernetes version that a supported Istio lists (%s), or check %s for a newer Istio.",
			k, mesh.NewestIstio().KubernetesRange(), mesh.IstioSupportSource)
	}
	m := supporting[0]
	rev := strings.ReplaceAll(m, ".", "-")
	return fmt.Sprintf("Move to Istio %s (supports Kubernetes %s) with a canary revision, then move namespaces over:\nistioctl install --set revision=%s --set tag=%s.0 -y\nkubectl label namespace <ns> istio-injection- istio.io/rev=%[3]s --overwrite\nkubectl rollout restart deployment -n <ns>", m, k, rev, m)
}

// liveProxy is one running pod's proxy.
type liveProxy struct {
	pod      *snapshot.Object
	owner    mesh.Owner
	image    string
	revision string // the revision that injected it ("" when unknown)
}

// runningProxies returns every Running pod's istio-proxy, in namespace/name order.
func runningProxies(c *check.Context) []liveProxy {
	exists := func(ns, name string) bool { return c.Get(snapshot.Deployment, ns, name) != nil }
	var out []liveProxy
	for _, o := range c.List(snapshot.Pod) {
		p := mesh.PodOf(o)
		if p == nil || !mesh.PodRunning(p) {
			continue
		}
		ct, _ := mesh.ProxyContainer(&p.Spec)
		if ct == nil {
			continue
		}
		image := ct.Image
		for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.ContainerStatuses...), p.Status.InitContainerStatuses...) {
			if cs.Name == mesh.ProxyContainerName && cs.Image != "" && mesh.ImageTag(image) == "" {
				image = cs.Image // the spec pins a digest: the status may name the tag
			}
		}
		out = append(out, liveProxy{pod: o, owner: mesh.PodOwner(p, exists), image: image, revision: podRevision(p)})
	}
	return out
}

// podRevision is the revision that injected a pod: its istio.io/rev label,
// else the revision in its sidecar.istio.io/status annotation.
func podRevision(p *corev1.Pod) string {
	if r := p.Labels[mesh.LabelRev]; r != "" {
		return r
	}
	if raw := p.Annotations[mesh.AnnotationSidecarStatus]; raw != "" {
		var st struct {
			Revision string `json:"revision"`
		}
		if json.Unmarshal([]byte(raw), &st) == nil {
			return st.Revision
		}
	}
	return ""
}

type proxyGroup struct {
	owner mesh.Owner
	image string
	rev   string
	pods  []*snapshot.Object
}

// groupProxies groups proxies by owner, image and revision, in first-seen order.
func groupProxies(ps []liveProxy) []*proxyGroup {
	idx := map[string]*proxyGroup{}
	var out []*proxyGroup
	for _, p := range ps {
		k := p.owner.String() + "|" + p.pod.Namespace + "|" + p.image + "|" + p.revision
		if p.owner.Kind == "" {
			k += "|" + p.pod.Name
		}
		g := idx[k]
		if g == nil {
			g = &proxyGroup{owner: p.owner, image: p.image, rev: p.revision}
			idx[k] = g
			out = append(out, g)
		}
		g.pods = append(g.pods, p.pod)
	}
	return out
}

func (g *proxyGroup) what() string {
	if g.owner.Kind == "" {
		return "pod " + g.pods[0].Namespace + "/" + g.pods[0].Name
	}
	return fmt.Sprintf("%s (pod(s) %s)", g.owner, mesh.PodNames(g.pods, maxPodsNamed))
}

// checkLiveProxyVersions compares every running proxy's image tag with the
// version of the istiod revision that serves it.
func checkLiveProxyVersions(c *check.Context, ps []liveProxy, names map[string]string, byRev map[string]mesh.IstioVersion, newest *mesh.IstioVersion) {
	if newest == nil {
		return // no readable istiod version: reported above
	}
	if len(ps) == 0 {
		c.NotApplicable("no running pod carries an istio-proxy container: there is no proxy version to compare with istiod")
		return
	}
	skew := c.Config.Thresholds.ProxySkewMinors
	var unknown []*snapshot.Object
	passed, failed := 0, 0
	versions := map[string]int{}
	for _, g := range groupProxies(ps) {
		pv, ok := mesh.ParseIstioVersion(mesh.ImageTag(g.image))
		if !ok {
			unknown = append(unknown, g.pods...)
			continue
		}
		cp, cpName := *newest, "the newest istiod"
		if r, ok := names[g.rev]; ok {
			if v, ok := byRev[r]; ok {
				cp, cpName = v, "istiod revision "+r
			}
		} else if v, ok := byRev[mesh.DefaultRevision]; ok && g.rev == "" {
			cp, cpName = v, "istiod (default revision)"
		}
		behind := pv.MinorsBehind(cp)
		if behind >= 0 && behind <= skew {
			passed += len(g.pods)
			versions[pv.String()] += len(g.pods)
			continue
		}
		failed++
		if failed > maxNamed {
			continue
		}
		restart := g.owner.RestartCommand(g.pods[0].Name)
		if behind < 0 {
			c.Fail(g.pods[0], "%s runs proxy %s, ahead of %s (%s): a data plane newer than its control plane is unsupported", g.what(), pv, cpName, cp).
				Field("spec.containers[istio-proxy].image").Got("%s", g.image).Want("<= %s", cp.MinorString()).
				Fixf("Upgrade the control plane first (istioctl install --set tag=%s -y), or remove the proxy pin (%s annotation or a hand-set image) and recreate the pods with istiod's proxy:\n%s", pv, AnnotationProxyImage, restart)
			continue
		}
		c.Fail(g.pods[0], "%s runs proxy %s, %d minors behind %s (%s), more than the %d allowed (thresholds.proxySkewMinors)", g.what(), pv, behind, cpName, cp, skew).
			Field("spec.containers[istio-proxy].image").Got("%s", g.image).Want(">= %d.%d", cp.Major, cp.Minor-skew).
			Fixf("Recreate the pods so the injector gives them istiod's proxy (remove any %s pin first):\n%s", AnnotationProxyImage, restart)
	}
	if failed > maxNamed {
		c.Fail(nil, "and %d more workload(s) whose running proxies are ahead of istiod or too far behind (first %d named above)", failed-maxNamed, maxNamed).
			Fix("kubectl rollout restart deployment -n <namespace>   # after upgrading istiod, so pods get its proxy")
	}
	if passed > 0 {
		var vs []string
		for _, k := range sortedKeysInt(versions) {
			vs = append(vs, fmt.Sprintf("%s x%d", k, versions[k]))
		}
		c.Pass(nil, "%d running proxies are not ahead of their istiod and at most %d minor(s) behind (proxy versions: %s)", passed, skew, strings.Join(vs, ", "))
	}
	if len(unknown) > 0 {
		c.NotApplicable("the version of %d running proxies (%s) cannot be read from their image (no version tag, e.g. pinned by digest): compare them with `istioctl proxy-status`", len(unknown), mesh.PodNames(unknown, maxPodsNamed))
	}
}

func sortedKeysInt(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkLiveRevisions verifies that the running proxies of each namespace
// come from one revision, the one the namespace selects.
func checkLiveRevisions(c *check.Context, ps []liveProxy, names map[string]string) {
	type nsRevs struct {
		byRev map[string][]*snapshot.Object
	}
	per := map[string]*nsRevs{}
	var nss []string
	for _, p := range ps {
		if p.revision == "" {
			continue
		}
		ns := p.pod.Namespace
		if per[ns] == nil {
			per[ns] = &nsRevs{byRev: map[string][]*snapshot.Object{}}
			nss = append(nss, ns)
		}
		rev := p.revision
		if r, ok := names[rev]; ok {
			rev = r
		}
		per[ns].byRev[rev] = append(per[ns].byRev[rev], p.pod)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		revs := sortedKeysObj(per[ns].byRev)
		nsObj := c.Get(snapshot.Namespace, "", ns)
		want := namespaceRevision(nsObj, names)
		anchor := nsObj
		if anchor == nil {
			anchor = per[ns].byRev[revs[0]][0]
		}
		var parts []string
		for _, r := range revs {
			parts = append(parts, fmt.Sprintf("%s (%d pod(s): %s)", r, len(per[ns].byRev[r]), mesh.PodNames(per[ns].byRev[r], maxPodsNamed)))
		}
		switch {
		case len(revs) > 1:
			target := want
			if target == "" {
				target = "<revision>"
			}
			c.Fail(anchor, "namespace %s runs proxies of %d revisions: %s; a namespace must run one revision", ns, len(revs), strings.Join(parts, "; ")).
				Field("metadata.labels").Got("revisions %s", strings.Join(revs, ", ")).Want("one revision%s", wantNote(want)).
				Fixf("Finish the migration: label the namespace for one revision, then recreate its pods:\nkubectl label namespace %s istio-injection- istio.io/rev=%s --overwrite\nkubectl rollout restart deployment -n %[1]s", ns, target)
		case want != "" && revs[0] != want:
			c.Fail(anchor, "namespace %s selects revision %s, but its running proxies were injected by revision %s (%s): they have not been restarted since the label changed", ns, want, revs[0], mesh.PodNames(per[ns].byRev[revs[0]], maxPodsNamed)).
				Field("metadata.labels").Got("proxies of revision %s", revs[0]).Want("proxies of revision %s", want).
				Fixf("kubectl rollout restart deployment -n %s", ns)
		default:
			c.Pass(anchor, "namespace %s runs proxies of one revision: %s", ns, parts[0])
		}
	}
}

func wantNote(want string) string {
	if want == "" {
		return ""
	}
	return " (the namespace selects " + want + ")"
}

// namespaceRevision is the revision a namespace's labels select, resolved
// through revision tags ("" when unlabelled or unknown).
func namespaceRevision(ns *snapshot.Object, names map[string]string) string {
	if ns == nil {
		return ""
	}
	name := ""
	switch {
	case ns.Labels[mesh.LabelInjection] == "enabled":
		name = mesh.DefaultRevision
	case ns.Labels[mesh.LabelInjection] == "" && ns.Labels[mesh.LabelRev] != "":
		name = ns.Labels[mesh.LabelRev]
	default:
		return ""
	}
	if r, ok := names[name]; ok {
		return r
	}
	return ""
}

func sortedKeysObj(m map[string][]*snapshot.Object) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
