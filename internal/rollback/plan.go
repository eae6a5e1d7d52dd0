package rollback

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/export"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// Plan is the ordered, copy-pasteable procedure that rolls a mesh back
// from the state in a snapshot, each step with the command that verifies it.
type Plan struct {
	Source string // what the current state was read from
	From   string // the control plane rolled back from, in words
	To     string // what it is rolled back to
	Mode   Mode
	// Facts are further lines of the summary (namespaces, workloads, export).
	Facts []string
	// Notes are assumptions and things the plan could not derive.
	Notes []string
	Steps []Step
}

// Mode is how the control plane is rolled back.
type Mode string

const (
	// ModeRevisions: the previous revision still runs; revision tags and
	// namespace labels move injection back to it.
	ModeRevisions Mode = "revisions"
	// ModeReinstall: one revision; the previous version is reinstalled over it.
	ModeReinstall Mode = "reinstall"
)

// Step is one stage of the rollback.
type Step struct {
	Title  string
	Why    string   // why this step, and why in this order
	Run    []string // commands (a line starting with "#" is a comment)
	Verify []string // commands that show the step worked
	Expect string   // what Verify must show
}

// PlanOptions are what a plan is made from besides the current state.
type PlanOptions struct {
	Config *config.Config
	// Inputs are the paths the current state was read from (nil: a live
	// cluster), repeated in the final `meshready check`; ConfigPath is the
	// --config given, if any.
	Inputs     []string
	ConfigPath string
	// CheckFlags are added to the final `meshready check` (e.g. --context
	// for a live cluster).
	CheckFlags []string
	// ExportDir is the known-good export to restore (meshready export taken
	// before the change). Target is that export loaded, when it exists.
	ExportDir string
	Target    *snapshot.Snapshot
	// ToRevision and ToVersion name what to roll back to; empty: derived.
	ToRevision string
	ToVersion  string
}

// revision is one istiod revision.
type revision struct {
	name      string
	ns        string
	version   mesh.IstioVersion
	hasVer    bool
	istiod    mesh.Istiod
	tags      []string // revision tags pointing at it
	installer installer
}

type installer struct {
	helm    bool
	release string
	ns      string
}

func (r *revision) describe() string {
	s := "revision " + r.name
	if r.hasVer {
		s = "Istio " + r.version.String() + ", " + s
	}
	s += " (" + r.istiod.Object.Name + " in " + r.ns + ")"
	if len(r.tags) > 0 {
		s += ", tags " + strings.Join(r.tags, ", ")
	}
	return s
}

// nsState is an injected namespace, now and after the rollback.
type nsState struct {
	name    string
	labels  map[string]string // now
	set     []string          // "k=v" the rollback sets
	remove  []string          // keys the rollback removes
	changed bool
	note    string // for the plan's notes: why it is not relabelled
}

// workload is a workload to restart.
type workload struct {
	kind, ns, name string
	gateway        bool
	egress         bool
	timeout        time.Duration
	deps           []string // names in the same namespace it calls
}

// BuildPlan derives the rollback plan from the current state.
func BuildPlan(snap *snapshot.Snapshot, o PlanOptions) (*Plan, error) {
	cfg := o.Config
	if cfg == nil {
		cfg = config.Default()
	}
	if o.ExportDir == "" {
		o.ExportDir = "mesh-export"
	}
	p := &Plan{Source: "the live cluster"}
	if snap.Live != nil && snap.Live.Context != "" {
		p.Source = "the live cluster (context " + snap.Live.Context + ")"
	}
	if len(o.Inputs) > 0 {
		p.Source = strings.Join(o.Inputs, " ")
	}

	revs, byName := revisions(snap)
	tags := mesh.RevisionNames(snap, istiodsOf(revs))
	for tag, rev := range tags {
		if r := byName[rev]; r != nil && tag != rev {
			r.tags = append(r.tags, tag)
		}
	}
	for _, r := range revs {
		sort.Strings(r.tags)
	}

	from, to, err := chooseRevisions(revs, byName, tags, o)
	if err != nil {
		return nil, err
	}
	if to != nil {
		p.Mode = ModeRevisions
		p.From, p.To = from.describe(), to.describe()
	} else {
		p.Mode = ModeReinstall
		p.From = "(no istiod Deployment among the inputs)"
		if from != nil {
			p.From = from.describe()
		}
	}

	// What the known-good export says, when it is at hand.
	var targetVersion string
	if o.Target != nil {
		if v := exportedVersion(o.Target, cfg); v != "" {
			targetVersion = v
		}
	}
	prevVersion := o.ToVersion
	if prevVersion == "" && p.Mode == ModeReinstall {
		prevVersion = targetVersion
	}
	if p.Mode == ModeReinstall {
		switch {
		case prevVersion == "" && from != nil && from.installer.helm:
			p.To = "the previous Helm release of " + from.installer.release
		case prevVersion == "":
			p.To = "the Istio version before the change (not known: give --to-version, or --export-dir with the export taken before it)"
			p.Notes = append(p.Notes, "The previous Istio version is not known, so step 2 reads it from ISTIO_PREVIOUS_VERSION, which you must set: give --to-version VERSION, or --export-dir DIR with the export taken before the change, to have it filled in.")
		case from != nil && from.hasVer && prevVersion == from.version.String():
			p.To = "Istio " + prevVersion + " (the version already running: only the configuration is rolled back)"
		default:
			p.To = "Istio " + prevVersion + ", reinstalled over revision " + nameOr(from, mesh.DefaultRevision)
		}
	}

	nss := injectedNamespaces(snap, cfg, o.Target, p.Mode, from, to, tags)
	wls, skipped := restartList(snap, cfg, nss, p.Mode, from, tags)

	// Summary facts.
	var nsNames []string
	for _, n := range nss {
		nsNames = append(nsNames, n.name)
	}
	p.Facts = append(p.Facts, "Injected namespaces: "+orNone(strings.Join(nsNames, ", ")))
	gw := 0
	for _, w := range wls {
		if w.gateway {
			gw++
		}
	}
	restart := fmt.Sprintf("Workloads to restart: %d", len(wls))
	switch gw {
	case 0:
	case 1:
		restart += ", the gateway last"
	default:
		restart += fmt.Sprintf(", the %d gateways last", gw)
	}
	p.Facts = append(p.Facts, restart)
	exp := "Configuration to restore: " + o.ExportDir
	if o.Target == nil {
		exp += " (not found when this plan was made)"
		p.Notes = append(p.Notes, fmt.Sprintf("The export %s was not found when this plan was made: restore needs the export taken before the change (meshready export %s ...). Without it the plan cannot list the objects created since, which kubectl apply does not delete.", o.ExportDir, o.ExportDir))
	}
	p.Facts = append(p.Facts, exp)
	for _, s := range skipped {
		p.Notes = append(p.Notes, s)
	}
	for _, n := range nss {
		if n.note != "" {
			p.Notes = append(p.Notes, n.note)
		}
	}
	if p.Mode == ModeRevisions {
		p.Notes = append(p.Notes, fmt.Sprintf("Revision %s stays installed (no workload uses it after the rollback): keep it for the investigation, remove it after the incident review with `istioctl uninstall --revision %s`.", from.name, from.name))
	}

	// The steps.
	p.Steps = append(p.Steps, preserveStep(snap, cfg))
	if s, ok := controlPlaneStep(snap, cfg, o, p.Mode, from, to, prevVersion); ok {
		p.Steps = append(p.Steps, s)
	}
	p.Steps = append(p.Steps, restoreStep(snap, cfg, o))
	if len(nss) > 0 {
		p.Steps = append(p.Steps, labelStep(nss))
	}
	target, proxyState := rollbackTarget(p.Mode, from, to, prevVersion)
	p.Steps = append(p.Steps, restartSteps(wls, target, proxyState)...)
	p.Steps = append(p.Steps, verifyStep(cfg, o, nsNames, target))
	return p, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func nameOr(r *revision, def string) string {
	if r == nil {
		return def
	}
	return r.name
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func istiodsOf(revs []*revision) []mesh.Istiod {
	var out []mesh.Istiod
	for _, r := range revs {
		out = append(out, r.istiod)
	}
	return out
}

// revisions lists the istiod revisions, newest version first.
func revisions(snap *snapshot.Snapshot) ([]*revision, map[string]*revision) {
	byName := map[string]*revision{}
	var out []*revision
	for _, i := range mesh.AllIstiods(snap) {
		if byName[i.Revision] != nil {
			continue
		}
		r := &revision{name: i.Revision, ns: i.Object.Namespace, istiod: i}
		r.version, _, r.hasVer = i.Version()
		r.installer = installerOf(i.Object)
		byName[r.name] = r
		out = append(out, r)
	}
	sort.SliceStable(out, func(a, b int) bool { return newer(out[a], out[b]) })
	return out, byName
}

// newer orders revisions newest version first (unknown versions last), then by name.
func newer(a, b *revision) bool {
	if a.hasVer != b.hasVer {
		return a.hasVer
	}
	if a.hasVer {
		if c := compareVersions(a.version, b.version); c != 0 {
			return c > 0
		}
	}
	return a.name < b.name
}

func compareVersions(a, b mesh.IstioVersion) int {
	if c := a.CompareMinor(b); c != 0 {
		return c
	}
	switch {
	case a.Patch > b.Patch:
		return 1
	case a.Patch < b.Patch:
		return -1
	}
	return 0
}

func installerOf(o *snapshot.Object) installer {
	a, l := o.Annotations, o.Labels
	if rel := a["meta.helm.sh/release-name"]; rel != "" || l["app.kubernetes.io/managed-by"] == "Helm" || l["helm.sh/chart"] != "" {
		in := installer{helm: true, release: rel, ns: a["meta.helm.sh/release-namespace"]}
		if in.release == "" {
			in.release = l["app.kubernetes.io/instance"]
		}
		if in.release == "" {
			in.release = "istiod"
		}
		if in.ns == "" {
			in.ns = o.Namespace
		}
		return in
	}
	return installer{}
}

// chooseRevisions decides what is rolled back (from) and, when the previous
// revision still runs, what to (to).
func chooseRevisions(revs []*revision, byName map[string]*revision, tags map[string]string, o PlanOptions) (from, to *revision, err error) {
	if o.ToRevision != "" {
		to = byName[o.ToRevision]
		if to == nil {
			if rev, ok := tags[o.ToRevision]; ok && byName[rev] != nil {
				to = byName[rev]
			} else {
				var names []string
				for _, r := range revs {
					names = append(names, r.name)
				}
				return nil, nil, fmt.Errorf("--to-revision %s: no such istiod revision among the inputs (revisions: %s)", o.ToRevision, orNone(strings.Join(names, ", ")))
			}
		}
	}
	if len(revs) == 0 {
		return nil, nil, nil
	}
	// From: what the default tag serves, else the newest revision.
	if d := byName[tags["default"]]; d != nil && d != to {
		from = d
	} else {
		for _, r := range revs {
			if r != to {
				from = r
				break
			}
		}
	}
	if from == nil {
		return nil, nil, fmt.Errorf("--to-revision %s is the only revision: there is no other to roll back from (for an in-place rollback give --to-version)", o.ToRevision)
	}
	if to == nil && len(revs) > 1 {
		// The newest revision older than from; else any other.
		for _, r := range revs {
			if r != from && (!from.hasVer || !r.hasVer || compareVersions(r.version, from.version) < 0) {
				to = r
				break
			}
		}
	}
	if o.ToVersion != "" && to != nil {
		if to.hasVer && to.version.String() != o.ToVersion {
			return nil, nil, fmt.Errorf("--to-version %s: revision %s runs Istio %s; give --to-revision for the revision that runs %s, or neither", o.ToVersion, to.name, to.version, o.ToVersion)
		}
	}
	return from, to, nil
}

// exportedVersion reads the Istio version an export was taken at: the
// injector values' global.tag (istiod renders its own version there).
func exportedVersion(target *snapshot.Snapshot, cfg *config.Config) string {
	iv, err := mesh.LoadInjectorValues(target, cfg.ControlPlaneNamespace)
	if err != nil || iv == nil {
		return ""
	}
	if s, ok := iv.Lookup("global.tag").(string); ok {
		if v, ok := mesh.ParseIstioVersion(s); ok && v.HasPatch {
			return v.String()
		}
	}
	return ""
}

// injectionName is the revision name a namespace's labels select ("" none):
// istio-injection=enabled selects the default revision (or default tag).
func injectionName(labels map[string]string) string {
	switch {
	case labels[mesh.LabelInjection] == "enabled":
		return mesh.DefaultRevision
	case labels[mesh.LabelInjection] == "disabled":
		return ""
	}
	return labels[mesh.LabelRev]
}

// injectedNamespaces returns the namespaces whose workloads carry proxies,
// with the labels the rollback gives them.
func injectedNamespaces(snap *snapshot.Snapshot, cfg *config.Config, target *snapshot.Snapshot, mode Mode, from, to *revision, tags map[string]string) []nsState {
	names := map[string]bool{}
	for _, ns := range snap.List(snapshot.Namespace) {
		if mesh.InjectionEnabled(ns.Labels) {
			names[ns.Name] = true
		}
	}
	for _, ns := range cfg.MeshNamespaces {
		names[ns] = true
	}
	var out []nsState
	for ns := range names {
		o := snap.Get(snapshot.Namespace, "", ns)
		st := nsState{name: ns}
		if o == nil {
			st.note = "Mesh namespace " + ns + " has no Namespace object among the inputs: its labels are not known, so it is not relabelled."
			out = append(out, st)
			continue
		}
		st.labels = o.Labels
		want := map[string]string{}
		if v := o.Labels[mesh.LabelInjection]; v != "" {
			want[mesh.LabelInjection] = v
		}
		if v := o.Labels[mesh.LabelRev]; v != "" {
			want[mesh.LabelRev] = v
		}
		var t *snapshot.Object
		if target != nil {
			t = target.Get(snapshot.Namespace, "", ns)
		}
		if t != nil {
			want = map[string]string{}
			for _, k := range []string{mesh.LabelInjection, mesh.LabelRev} {
				if v := t.Labels[k]; v != "" {
					want[k] = v
				}
			}
		} else if mode == ModeRevisions && from != nil && to != nil {
			name := injectionName(o.Labels)
			if name == from.name && tags[name] == name {
				// Labelled with the revision itself, not a tag: point it at the previous one.
				delete(want, mesh.LabelInjection)
				want[mesh.LabelRev] = to.name
			}
		}
		for _, k := range []string{mesh.LabelInjection, mesh.LabelRev} {
			v, ok := want[k]
			if ok {
				st.set = append(st.set, k+"="+v)
				if o.Labels[k] != v {
					st.changed = true
				}
			} else if _, has := o.Labels[k]; has {
				st.remove = append(st.remove, k)
				st.changed = true
			}
		}
		if len(st.set) == 0 && len(st.remove) == 0 {
			st.note = "Mesh namespace " + ns + " carries no injection label: its workloads get no proxy."
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// restartList returns the workloads to restart, in order: application
// namespaces first (the namespaces others call before their callers'), in
// each the services others call before their callers, then the gateways
// (egress before ingress). skipped explains the
// injected workloads left alone.
func restartList(snap *snapshot.Snapshot, cfg *config.Config, nss []nsState, mode Mode, from *revision, tags map[string]string) ([]workload, []string) {
	nsLabels := map[string]map[string]string{}
	var order []string
	for _, n := range nss {
		if n.labels != nil {
			nsLabels[n.name] = n.labels
			order = append(order, n.name)
		}
	}
	gws := map[*snapshot.Object]mesh.GatewayWorkload{}
	for _, g := range mesh.GatewayWorkloads(snap) {
		gws[g.Object] = g
		ns := g.Object.Namespace
		if _, ok := nsLabels[ns]; !ok {
			if o := snap.Get(snapshot.Namespace, "", ns); o != nil {
				nsLabels[ns] = o.Labels
			} else {
				nsLabels[ns] = map[string]string{}
			}
			order = append(order, ns)
		}
	}
	// Calls between workloads, from the critical services: within a
	// namespace they order the workloads, across namespaces the namespaces.
	deps := map[[2]string][]string{} // (ns, workload) -> workloads it calls
	nsDeps := map[string][]string{}  // namespace -> namespaces it calls
	for _, s := range mesh.CriticalServices(snap, cfg) {
		callers := mesh.BackingWorkloads(snap, s)
		for _, d := range s.Dependencies() {
			if d.Namespace != s.Namespace {
				nsDeps[s.Namespace] = append(nsDeps[s.Namespace], d.Namespace)
				continue
			}
			for _, c := range callers {
				for _, callee := range mesh.BackingWorkloads(snap, d) {
					k := [2]string{c.Object.Namespace, c.Object.Name}
					deps[k] = append(deps[k], callee.Object.Name)
				}
			}
		}
	}

	nsList := make([]workload, len(order))
	for i, ns := range order {
		nsList[i] = workload{name: ns, deps: nsDeps[ns]}
	}
	order = order[:0]
	for _, w := range dependencyOrder(nsList) {
		order = append(order, w.name)
	}

	var apps, gateways []workload
	var skipped []string
	for _, ns := range order {
		labels := nsLabels[ns]
		var list []workload
		for _, w := range mesh.Workloads(snap, ns) {
			if d, ok := w.Object.Typed.(*appsv1.Deployment); ok && mesh.IsIstiod(w.Object, d) {
				continue
			}
			if !mesh.PodInjected(labels, w.Template) {
				continue
			}
			if mode == ModeRevisions && from != nil {
				name := injectionName(labels)
				if v := w.Template.Labels[mesh.LabelRev]; v != "" {
					name = v
				} else if name == "" {
					name = mesh.DefaultRevision // opted in by pod label: the default revision's webhook
				}
				rev := tags[name]
				if name == "" || rev == "" {
					rev = name
				}
				if rev != from.name {
					skipped = append(skipped, fmt.Sprintf("%s is injected by revision %s, not %s: not restarted.", w.Object.ID(), orNone(rev), from.name))
					continue
				}
			}
			wl := workload{kind: strings.ToLower(w.Object.Kind), ns: ns, name: w.Object.Name, timeout: rolloutTimeout(snap, w)}
			wl.deps = deps[[2]string{ns, w.Object.Name}]
			if g, ok := gws[w.Object]; ok {
				wl.gateway, wl.egress = true, g.Egress
				gateways = append(gateways, wl)
				continue
			}
			list = append(list, wl)
		}
		apps = append(apps, dependencyOrder(list)...)
	}
	sort.SliceStable(gateways, func(i, j int) bool {
		if gateways[i].egress != gateways[j].egress {
			return gateways[i].egress
		}
		if gateways[i].ns != gateways[j].ns {
			return gateways[i].ns < gateways[j].ns
		}
		return gateways[i].name < gateways[j].name
	})
	return append(apps, gateways...), skipped
}

// dependencyOrder puts the workloads others call before their callers
// (a stable topological order; names break ties; cycles keep name order).
func dependencyOrder(list []workload) []workload {
	sort.SliceStable(list, func(i, j int) bool { return list[i].name < list[j].name })
	idx := map[string]int{}
	for i, w := range list {
		idx[w.name] = i
	}
	state := make([]int, len(list)) // 0 new, 1 visiting, 2 done
	var out []workload
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		callees := append([]string(nil), list[i].deps...)
		sort.Strings(callees)
		for _, d := range callees {
			if j, ok := idx[d]; ok && j != i {
				visit(j)
			}
		}
		state[i] = 2
		out = append(out, list[i])
	}
	for i := range list {
		visit(i)
	}
	return out
}

// rolloutTimeout estimates how long a restart may take: pods are replaced
// in batches (maxSurge + maxUnavailable at a time; one at a time for a
// StatefulSet), each batch taking the grace period, the startup budget of
// its probes and a minute to schedule and pull. At least 5 minutes.
func rolloutTimeout(snap *snapshot.Snapshot, w mesh.Workload) time.Duration {
	spec := &w.Template.Spec
	grace := int64(30)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	startup := 0.0
	for _, c := range spec.Containers {
		if s := probeBudget(c.StartupProbe); s > 0 {
			startup = math.Max(startup, s+probeBudget(c.ReadinessProbe))
		} else {
			startup = math.Max(startup, probeBudget(c.ReadinessProbe))
		}
	}
	perBatch := float64(grace) + startup + 60
	replicas := int(w.Replicas)
	if h := mesh.HPAFor(snap, w.Object); h != nil && int(h.Min) > replicas {
		replicas = int(h.Min)
	}
	batches := 1
	switch d := w.Object.Typed.(type) {
	case *appsv1.Deployment:
		par := 0
		surge, unavail := intstr.FromString("25%"), intstr.FromString("25%")
		if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
			if ru.MaxSurge != nil {
				surge = *ru.MaxSurge
			}
			if ru.MaxUnavailable != nil {
				unavail = *ru.MaxUnavailable
			}
		}
		if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			par = replicas
		} else {
			s, _ := intstr.GetScaledValueFromIntOrPercent(&surge, replicas, true)
			u, _ := intstr.GetScaledValueFromIntOrPercent(&unavail, replicas, false)
			par = s + u
		}
		batches = ceilDiv(replicas, max(par, 1))
	case *appsv1.StatefulSet:
		batches = replicas
		if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
			u, _ := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, false)
			batches = ceilDiv(replicas, max(u, 1))
		}
	case *appsv1.DaemonSet:
		batches = 3 // one node at a time; the node count is not in the inputs
	}
	d := time.Duration(math.Ceil(float64(batches)*perBatch/60)) * time.Minute
	if d < 5*time.Minute {
		d = 5 * time.Minute
	}
	return d
}

func probeBudget(p *corev1.Probe) float64 {
	if p == nil {
		return 0
	}
	period, failures := p.PeriodSeconds, p.FailureThreshold
	if period == 0 {
		period = 10
	}
	if failures == 0 {
		failures = 3
	}
	return float64(p.InitialDelaySeconds) + float64(period*failures)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// --- steps ---

// istioResources are the plural resource names of the Istio kinds present,
// for kubectl get.
func istioResources(snap *snapshot.Snapshot) []string {
	var out []string
	for _, k := range snap.Kinds() {
		if !export.IsMeshKind(k) || k == snapshot.IstioOperator {
			continue
		}
		kind, group, _ := strings.Cut(k, ".")
		out = append(out, plural(strings.ToLower(kind))+"."+group)
	}
	return out
}

func plural(s string) string {
	switch {
	case strings.HasSuffix(s, "y") && !strings.HasSuffix(s, "ay") && !strings.HasSuffix(s, "ey") && !strings.HasSuffix(s, "oy"):
		return s[:len(s)-1] + "ies"
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	}
	return s + "s"
}

func preserveStep(snap *snapshot.Snapshot, cfg *config.Config) Step {
	cp := cfg.ControlPlaneNamespace
	run := []string{
		`EVIDENCE=rollback-evidence-$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$EVIDENCE"`,
	}
	if res := istioResources(snap); len(res) > 0 {
		run = append(run, "kubectl get "+strings.Join(res, ",")+` -A -o yaml > "$EVIDENCE/istio-config.yaml"`)
	}
	var cms []string
	if mc, _ := mesh.LoadMeshConfig(snap, cp); mc != nil {
		cms = append(cms, mc.Object.Name)
	}
	for _, o := range mesh.InjectorConfigMaps(snap, cp) {
		cms = append(cms, o.Name)
	}
	if len(cms) == 0 {
		// Not among the inputs: the names istiod gives them, per revision.
		for _, i := range mesh.AllIstiods(snap) {
			suffix := ""
			if i.Revision != mesh.DefaultRevision {
				suffix = "-" + i.Revision
			}
			cms = append(cms, "istio"+suffix, "istio-sidecar-injector"+suffix)
		}
		if len(cms) == 0 {
			cms = []string{"istio", "istio-sidecar-injector"}
		}
	}
	run = append(run,
		fmt.Sprintf(`kubectl -n %s get configmap %s -o yaml > "$EVIDENCE/control-plane-config.yaml"`, cp, strings.Join(cms, " ")),
		`kubectl get mutatingwebhookconfigurations -o yaml > "$EVIDENCE/webhooks.yaml"`,
		`kubectl get namespaces -L istio-injection -L istio.io/rev > "$EVIDENCE/namespaces.txt"`,
		`istioctl proxy-status > "$EVIDENCE/proxy-status.txt"`,
		`istioctl version > "$EVIDENCE/versions.txt"`,
	)
	return Step{
		Title: "Preserve the failed state",
		Why:   "Before changing anything, record what is running: it is the only evidence of what failed, and the incident review needs it. This takes a minute; do not skip it under pressure.",
		Run:   run,
		Verify: []string{
			`ls -l "$EVIDENCE"`,
		},
		Expect: "every file is there and not empty (an empty istio-config.yaml means kubectl could not read the Istio objects: fix access first).",
	}
}

func controlPlaneStep(snap *snapshot.Snapshot, cfg *config.Config, o PlanOptions, mode Mode, from, to *revision, prevVersion string) (Step, bool) {
	cp := cfg.ControlPlaneNamespace
	if from != nil {
		cp = from.ns
	}
	if mode == ModeRevisions {
		var run []string
		var moved []string
		usesDefault := false
		for _, ns := range snap.List(snapshot.Namespace) {
			if ns.Labels[mesh.LabelInjection] == "enabled" {
				usesDefault = true
			}
		}
		tagSet := map[string]bool{}
		for _, t := range from.tags {
			tagSet[t] = true
		}
		if usesDefault && from.name != mesh.DefaultRevision {
			tagSet["default"] = true
		}
		var tagNames []string
		for t := range tagSet {
			tagNames = append(tagNames, t)
		}
		sort.Strings(tagNames)
		for _, t := range tagNames {
			run = append(run, fmt.Sprintf("istioctl tag set %s --revision %s --overwrite", t, to.name))
			moved = append(moved, t)
		}
		if len(run) == 0 {
			return Step{}, false
		}
		return Step{
			Title: "Point the revision tags back at revision " + to.name,
			Why: fmt.Sprintf("%s is still installed, so nothing is reinstalled: moving the tags (%s) makes injection use it again for every namespace labelled with a tag or with istio-injection=enabled. Proxies already running keep their current istiod until their pods restart (below); revision %s keeps serving them meanwhile.",
				capitalize(to.describe()), strings.Join(moved, ", "), from.name),
			Run: run,
			Verify: []string{
				"istioctl tag list",
				fmt.Sprintf("kubectl -n %s get deployment %s", to.ns, to.istiod.Object.Name),
			},
			Expect: fmt.Sprintf("every tag listed (%s) shows revision %s; %s is READY with all its replicas.", strings.Join(moved, ", "), to.name, to.istiod.Object.Name),
		}, true
	}

	// Reinstall.
	if from != nil && from.hasVer && prevVersion == from.version.String() {
		return Step{}, false
	}
	istiodName := "istiod"
	if from != nil {
		istiodName = from.istiod.Object.Name
	}
	verify := []string{
		fmt.Sprintf("kubectl -n %s rollout status deployment/%s --timeout=10m", cp, istiodName),
		"istioctl version",
	}
	versionRef, versionFirst := prevVersion, prevVersion
	if versionRef == "" {
		// Unset or empty, every command that needs it fails rather than
		// installing whatever version an empty value means.
		versionFirst = "${ISTIO_PREVIOUS_VERSION:?set ISTIO_PREVIOUS_VERSION to the Istio version before the change, e.g. export ISTIO_PREVIOUS_VERSION=1.30.4}"
		versionRef = "${ISTIO_PREVIOUS_VERSION:?}"
	}
	var run []string
	if from != nil && from.installer.helm {
		in := from.installer
		run = append(run, fmt.Sprintf("helm history %s -n %s --max 5", in.release, in.ns),
			fmt.Sprintf("helm rollback %s -n %s --wait --timeout 10m", in.release, in.ns))
		if cni := mesh.CNIDaemonSet(snap); cni != nil {
			if ci := installerOf(cni); ci.helm {
				run = append(run, fmt.Sprintf("helm rollback %s -n %s --wait --timeout 10m", ci.release, ci.ns))
			}
		}
		verify = append([]string{fmt.Sprintf("helm history %s -n %s --max 2", in.release, in.ns)}, verify...)
		want := "the version before the change"
		if prevVersion != "" {
			want = prevVersion
		}
		return Step{
			Title: "Roll the control plane back to the previous Helm release",
			Why: fmt.Sprintf("istiod was installed with Helm (release %s): helm rollback returns to the previous release, with its chart version and values. Check in the history that the previous release runs %s before rolling back. The mesh configuration it had is restored from the export in the next step.",
				in.release, want),
			Run:    run,
			Verify: verify,
			Expect: fmt.Sprintf("the newest history entry is \"Rollback to N\" with app version %s; istiod is rolled out; istioctl version shows that control-plane version (the data plane follows after the restarts below).", want),
		}, true
	}

	file, why := installInput(o, from)
	istioctl := fmt.Sprintf(`"istio-%s/bin/istioctl"`, versionRef)
	run = append(run,
		fmt.Sprintf(`curl -sL https://istio.io/downloadIstio | ISTIO_VERSION="%s" sh -`, versionFirst),
		fmt.Sprintf("%s version --remote=false", istioctl),
		fmt.Sprintf("%s install -f %s --dry-run", istioctl, file),
		fmt.Sprintf("%s install -y -f %s", istioctl, file))
	return Step{
		Title: "Reinstall the control plane at " + versionName(prevVersion),
		Why: "There is no previous revision running to switch back to, so the previous Istio version is installed over the current one, with its own istioctl. " + why +
			" The dry run must pass before the install.",
		Run:    run,
		Verify: verify,
		Expect: fmt.Sprintf("istiod is rolled out; istioctl version shows the control plane at %s (the data plane follows after the restarts below).", versionName(prevVersion)),
	}, true
}

// installInput returns the istioctl input in the export that reinstalls
// the control plane: the inputs' own IstioOperator, or the one meshready
// export generated for the revision.
func installInput(o PlanOptions, from *revision) (string, string) {
	rev := nameOr(from, mesh.DefaultRevision)
	if o.Target != nil {
		ops := o.Target.List(snapshot.IstioOperator)
		for _, op := range ops {
			if op.Name == "meshready-"+rev || len(ops) == 1 {
				return shellQuote(op.Origin.File), fmt.Sprintf("The install input is the IstioOperator in the export (%s): istiod's replicas, resources and CNI and the mesh config as they were when it was taken; the injector's settings come back with the export in the next step.", op.Origin.File)
			}
		}
	}
	path := o.ExportDir + "/" + export.InstallFileName(rev)
	return shellQuote(path), fmt.Sprintf("The install input is %s, which meshready export writes beside the objects (istiod's replicas, resources and CNI and the mesh config as they were); the injector's settings come back with the export in the next step.", path)
}

func versionName(v string) string {
	if v == "" {
		return "the previous Istio version ($ISTIO_PREVIOUS_VERSION)"
	}
	return "Istio " + v
}

func restoreStep(snap *snapshot.Snapshot, cfg *config.Config, o PlanOptions) Step {
	dir := o.ExportDir
	run := []string{
		"test -f " + dir + "/" + export.ReadmeName + " && cat " + dir + "/" + export.ReadmeName,
		"kubectl diff -f " + dir,
		"kubectl apply -f " + dir,
	}
	why := "The export taken before the change (`meshready export " + dir + " ...`) holds the mesh configuration as it was: Istio's objects, the mesh and injector config, the gateways, the policies and the namespaces' labels. kubectl diff first shows what the apply will change: it must be the change being rolled back, nothing else."
	var verify []string
	verify = append(verify, "kubectl diff -f "+dir)
	if o.Target != nil {
		// Objects of the exported kinds that exist now but not in the export.
		{
			var extra []string
			for _, obj := range export.Select(snap, cfg) {
				if obj.Key == snapshot.Namespace {
					continue // never delete a namespace in a rollback
				}
				if o.Target.Get(obj.Key, obj.Namespace, obj.Name) == nil {
					kind, group, _ := strings.Cut(obj.Key, ".")
					res := plural(strings.ToLower(kind))
					if group != "" {
						res += "." + group
					}
					if obj.Namespace != "" {
						extra = append(extra, fmt.Sprintf("kubectl -n %s delete %s %s", obj.Namespace, res, obj.Name))
					} else {
						extra = append(extra, fmt.Sprintf("kubectl delete %s %s", res, obj.Name))
					}
				}
			}
			if len(extra) > 0 {
				run = append(run, "# Created after the export; kubectl apply does not remove them:")
				run = append(run, extra...)
				why += " kubectl apply does not delete what was created since the export; those objects are deleted by name."
			}
		}
		if e, err := export.Build(o.Target, export.Options{Config: cfg}); err == nil {
			for _, s := range e.Secrets {
				verify = append(verify, fmt.Sprintf("kubectl -n %s get secret %s", s.Namespace, s.Name))
			}
		}
	} else if e, err := export.Build(snap, export.Options{Config: cfg}); err == nil {
		for _, s := range e.Secrets {
			verify = append(verify, fmt.Sprintf("kubectl -n %s get secret %s", s.Namespace, s.Name))
		}
	}
	why += " Secrets are not in the export (README.txt lists them); the verification checks they exist."
	expect := "kubectl diff prints nothing: the cluster matches the export"
	if len(verify) > 1 {
		expect += "; every Secret the configuration uses exists (restore a missing one from its own source: the secret store, cert-manager, your CA)"
	}
	return Step{
		Title:  "Restore the mesh configuration from the export",
		Why:    why,
		Run:    run,
		Verify: verify,
		Expect: expect + ".",
	}
}

func labelStep(nss []nsState) Step {
	var run []string
	var names []string
	var changed []string
	for _, n := range nss {
		if n.labels == nil || len(n.set)+len(n.remove) == 0 {
			continue
		}
		args := append([]string(nil), n.set...)
		for _, k := range n.remove {
			args = append(args, k+"-")
		}
		run = append(run, fmt.Sprintf("kubectl label namespace %s %s --overwrite", n.name, strings.Join(args, " ")))
		names = append(names, n.name)
		if n.changed {
			changed = append(changed, n.name)
		}
	}
	why := "Each mesh namespace gets the injection label of the state rolled back to; labels already right are set again (harmless with --overwrite), so this step is the record of what each namespace must carry. kubectl apply does not remove a label added after the export (istio.io/rev next to istio-injection, where istio-injection wins and the revision label is ignored), so the labels are set explicitly here."
	if len(changed) > 0 {
		why += " This changes " + strings.Join(changed, ", ") + "."
	} else {
		why += " No label changes in the current state."
	}
	why += " Injection reads the labels only when a pod is created: the restarts below apply them."
	return Step{
		Title:  "Set the namespaces' injection labels",
		Why:    why,
		Run:    run,
		Verify: []string{"kubectl get namespace " + strings.Join(names, " ") + " -L istio-injection -L istio.io/rev"},
		Expect: "the ISTIO-INJECTION and REV columns show the values set above, and no namespace has both.",
	}
}

// rollbackTarget names what the proxies end up on, for the restart and
// verification steps, and what the proxy check must show.
func rollbackTarget(mode Mode, from, to *revision, prevVersion string) (target, proxyState string) {
	switch {
	case mode == ModeRevisions && to != nil:
		target = "revision " + to.name
		proxyState = "every pod's REVISION is " + to.name
		if to.hasVer {
			target += " (Istio " + to.version.String() + ")"
			proxyState += " and its istio-proxy image is at " + to.version.String()
		}
	case prevVersion != "":
		target = "Istio " + prevVersion
		proxyState = "every pod's istio-proxy image is at " + prevVersion
	case from != nil && from.installer.helm:
		target = "the previous Helm release's Istio version"
		proxyState = "every pod's istio-proxy image is at the version istioctl version shows for the control plane"
	default:
		target = "the previous Istio version ($ISTIO_PREVIOUS_VERSION)"
		proxyState = "every pod's istio-proxy image is at $ISTIO_PREVIOUS_VERSION"
	}
	return target, proxyState
}

func restartSteps(wls []workload, target, proxyState string) []Step {
	var steps []Step
	proxyCheck := func(ns string) string {
		return fmt.Sprintf(`kubectl -n %s get pods -o custom-columns='POD:.metadata.name,REVISION:.metadata.labels.istio\.io/rev,PROXY:.spec.containers[?(@.name=="istio-proxy")].image'`, ns)
	}
	var apps []workload
	var gws []workload
	for _, w := range wls {
		if w.gateway {
			gws = append(gws, w)
		} else {
			apps = append(apps, w)
		}
	}
	// One step per application namespace, in the order of the list.
	var nsOrder []string
	byNS := map[string][]workload{}
	for _, w := range apps {
		if byNS[w.ns] == nil {
			nsOrder = append(nsOrder, w.ns)
		}
		byNS[w.ns] = append(byNS[w.ns], w)
	}
	for _, ns := range nsOrder {
		list := byNS[ns]
		var names []string
		var run []string
		for _, w := range list {
			names = append(names, w.name)
			run = append(run,
				fmt.Sprintf("kubectl -n %s rollout restart %s/%s", ns, w.kind, w.name),
				fmt.Sprintf("kubectl -n %s rollout status %s/%s --timeout=%s", ns, w.kind, w.name, fmtDuration(w.timeout)))
		}
		why := fmt.Sprintf("New pods get their proxy from %s. One workload at a time, each waited for before the next, so a restart that fails stops the rollback with the rest still serving.", target)
		if hasDeps(list) {
			why += " Services others call restart before their callers (from the critical services' dependsOn: " + depText(list) + "), so that a caller coming up on a new proxy reaches dependencies that already run on it, and a failure points at the workload that just restarted."
		}
		why += " The timeouts come from each workload's replicas, rollout strategy, probes and grace period."
		steps = append(steps, Step{
			Title:  "Restart the workloads in " + ns + " (" + strings.Join(names, ", ") + ")",
			Why:    why,
			Run:    run,
			Verify: []string{"kubectl get pods -n " + ns, proxyCheck(ns)},
			Expect: "every pod Running and READY (all containers), none restarting; " + proxyState + ".",
		})
	}
	if len(gws) > 0 {
		var run, names []string
		nss := map[string]bool{}
		for _, w := range gws {
			names = append(names, w.ns+"/"+w.name)
			nss[w.ns] = true
			run = append(run,
				fmt.Sprintf("kubectl -n %s rollout restart %s/%s", w.ns, w.kind, w.name),
				fmt.Sprintf("kubectl -n %s rollout status %s/%s --timeout=%s", w.ns, w.kind, w.name, fmtDuration(w.timeout)))
		}
		var verify []string
		var nsList []string
		for ns := range nss {
			nsList = append(nsList, ns)
		}
		sort.Strings(nsList)
		for _, ns := range nsList {
			verify = append(verify, "kubectl get pods -n "+ns, proxyCheck(ns))
		}
		steps = append(steps, Step{
			Title:  "Restart the gateways (" + strings.Join(names, ", ") + ")",
			Why:    fmt.Sprintf("Gateways go last. Every user request crosses the ingress gateway, and its pods drain slowly (long grace periods for in-flight requests): restarting it once, after the workloads behind it run on %s and are Ready, keeps the entry point untouched while the inside is still changing, and if a workload restart fails the rollback stops with users still served by the existing gateway pods. The egress gateway restarts before the ingress gateway, so outbound calls are settled before user traffic moves.", target),
			Run:    run,
			Verify: verify,
			Expect: "every gateway pod Running and READY; " + proxyState + "; the public endpoint answers (a request through it succeeds).",
		})
	}
	return steps
}

func hasDeps(list []workload) bool {
	for _, w := range list {
		if len(w.deps) > 0 {
			return true
		}
	}
	return false
}

func depText(list []workload) string {
	var parts []string
	for _, w := range list {
		if len(w.deps) > 0 {
			d := append([]string(nil), w.deps...)
			sort.Strings(d)
			parts = append(parts, w.name+" calls "+strings.Join(d, " and "))
		}
	}
	return strings.Join(parts, "; ")
}

func verifyStep(cfg *config.Config, o PlanOptions, nss []string, target string) Step {
	check := "meshready check"
	for _, p := range o.Inputs {
		check += " " + shellQuote(p)
	}
	for _, f := range o.CheckFlags {
		check += " " + shellQuote(f)
	}
	if o.ConfigPath != "" {
		check += " --config " + shellQuote(o.ConfigPath)
	}
	verify := []string{"istioctl proxy-status", "istioctl version"}
	for _, ns := range nss {
		verify = append(verify, "kubectl get pods -n "+ns)
	}
	verify = append(verify, "istioctl analyze --all-namespaces", check)
	if len(cfg.Rollback.Triggers) > 0 {
		verify = append(verify, `meshready rollback check --prometheus "$PROMETHEUS_URL"`+configFlag(o))
	}
	expect := fmt.Sprintf("proxy-status: every proxy SYNCED, on %s; istioctl version: one control-plane and one data-plane version; every pod Running and READY; istioctl analyze: no errors; meshready check: the verdict it had before the change", target)
	if len(cfg.Rollback.Triggers) > 0 {
		expect += "; rollback check: exit 0 (hold) once the triggers' windows have passed"
	}
	return Step{
		Title:  "Verify the mesh",
		Why:    "The rollback is done when every proxy is connected and in sync with the control plane rolled back to, every workload is Ready, and the checks that passed before the change pass again.",
		Verify: verify,
		Expect: expect + ".",
	}
}

// configFlag names the config for `meshready rollback check`, which has no
// inputs beside which to find it.
func configFlag(o PlanOptions) string {
	switch {
	case o.ConfigPath != "":
		return " --config " + shellQuote(o.ConfigPath)
	case o.Config != nil && o.Config.Path != "":
		return " --config " + shellQuote(o.Config.Path)
	}
	return ""
}

// shellQuote quotes a word for sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
