// Package export writes a mesh's configuration as clean manifests that
// `kubectl apply -f DIR` restores: the data-preservation step of a rollback.
//
// What is exported: Istio objects of every kind (and the Gateway API's), the
// mesh config and sidecar injector ConfigMaps, Istio's injection webhooks
// and revision tags, the gateways' workloads with their Services,
// ServiceAccounts, autoscalers and disruption budgets, and the Namespaces
// (with their injection labels) all of these live in. Server-set fields are
// dropped: status, managedFields, resourceVersion, uid, creationTimestamp,
// generation, owner references, kubectl's last-applied annotation, a
// Service's allocated cluster IP, the webhooks' CA bundle.
//
// Secrets are never exported: README.txt lists the ones the configuration
// references, to be restored from their own source.
//
// Files are flat (kubectl apply -f does not recurse), one per kind and
// namespace, named so that their lexical order is a safe apply order:
// Namespaces, then ConfigMaps and webhooks, the gateways' Services and
// workloads, ServiceEntries, Gateways, DestinationRules before the
// VirtualServices that use their subsets, then the security policies and
// Telemetry. An IstioOperator goes to install/, which apply -f skips: it is
// input for istioctl, not an object to apply. When the inputs hold none,
// one is generated per istioctl-installed istiod revision (its replicas,
// resources, CNI and mesh config), so that the control plane can be
// reinstalled as exported.
package export

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// Export is a mesh configuration ready to be written.
type Export struct {
	Files []File
	// Installs are istioctl inputs (install/), not applied by kubectl.
	Installs []Install
	Secrets  []SecretRef
	// Incomplete lists objects that belong in the export but whose content
	// could not be read; an export with any is not a full backup.
	Incomplete []Problem
	// Left lists what is deliberately not exported, and why.
	Left []Problem
	// MissingNamespaces are namespaces of exported objects that the input
	// has no Namespace object for (create them before applying).
	MissingNamespaces []string
}

// File is one output file: the objects of one kind in one namespace.
type File struct {
	Name      string // relative to the export directory, "/"-separated
	Kind      string // the kind key
	Namespace string
	Objects   []*snapshot.Object
	Docs      []map[string]any
}

// Problem names an object and what is wrong with (or special about) it.
type Problem struct {
	Object string // Kind/namespace/name
	Reason string
}

// Options of Build.
type Options struct {
	Config *config.Config
	// Raw reads objects the loader kept without a typed form (see FileRaw).
	Raw RawFunc
}

// Objects returns every exported object, in file order.
func (e *Export) Objects() []*snapshot.Object {
	var out []*snapshot.Object
	for _, f := range e.Files {
		out = append(out, f.Objects...)
	}
	return out
}

// Build selects the mesh configuration of a snapshot and renders it.
func Build(snap *snapshot.Snapshot, o Options) (*Export, error) {
	cfg := o.Config
	if cfg == nil {
		cfg = config.Default()
	}
	e := &Export{}
	sel := selectObjects(snap, cfg, e)
	e.Secrets = secretRefs(snap, cfg, sel)
	e.Installs = installs(snap, cfg, e)

	byFile := map[string]*File{}
	for _, obj := range sel {
		doc, err := Content(obj, o.Raw)
		if err != nil {
			e.Incomplete = append(e.Incomplete, Problem{obj.ID(), err.Error()})
			continue
		}
		name := FileName(obj.Key, obj.Namespace)
		f := byFile[name]
		if f == nil {
			f = &File{Name: name, Kind: obj.Key, Namespace: obj.Namespace}
			byFile[name] = f
		}
		f.Objects = append(f.Objects, obj)
		f.Docs = append(f.Docs, doc)
	}
	for _, f := range byFile {
		e.Files = append(e.Files, *f)
	}
	sort.Slice(e.Files, func(i, j int) bool { return e.Files[i].Name < e.Files[j].Name })
	for i := range e.Files {
		f := &e.Files[i]
		idx := make([]int, len(f.Objects))
		for k := range idx {
			idx[k] = k
		}
		sort.SliceStable(idx, func(a, b int) bool { return f.Objects[idx[a]].Name < f.Objects[idx[b]].Name })
		objs, docs := make([]*snapshot.Object, len(idx)), make([]map[string]any, len(idx))
		for k, x := range idx {
			objs[k], docs[k] = f.Objects[x], f.Docs[x]
		}
		f.Objects, f.Docs = objs, docs
	}
	return e, nil
}

// Select returns the objects an export of the snapshot holds (whether or
// not their content can be read), without rendering them.
func Select(snap *snapshot.Snapshot, cfg *config.Config) []*snapshot.Object {
	if cfg == nil {
		cfg = config.Default()
	}
	return selectObjects(snap, cfg, &Export{})
}

// selectObjects picks the mesh configuration, each object once.
func selectObjects(snap *snapshot.Snapshot, cfg *config.Config, e *Export) []*snapshot.Object {
	var out []*snapshot.Object
	seen := map[*snapshot.Object]bool{}
	addObj := func(o *snapshot.Object) {
		if o != nil && !seen[o] && o.Key != snapshot.Secret {
			seen[o] = true
			out = append(out, o)
		}
	}
	for _, k := range snap.Kinds() {
		if IsMeshKind(k) {
			for _, o := range snap.List(k) {
				addObj(o)
			}
		}
	}

	cp := cfg.ControlPlaneNamespace
	// Mesh config: "istio" and the per-revision "istio-<rev>" ConfigMaps.
	for _, cm := range snap.InNamespace(snapshot.ConfigMap, cp) {
		if c, ok := cm.Typed.(*corev1.ConfigMap); ok && (cm.Name == "istio" || strings.HasPrefix(cm.Name, "istio-")) {
			if _, hasMesh := c.Data["mesh"]; hasMesh {
				addObj(cm)
			}
		}
	}
	for _, cm := range mesh.InjectorConfigMaps(snap, cp) {
		addObj(cm)
	}
	// Injection webhooks and revision tags (istioctl tag set writes them).
	for _, o := range snap.List(snapshot.MutatingWebhookConfiguration) {
		if o.Labels[mesh.LabelIstioTag] != "" || strings.HasPrefix(o.Name, "istio-sidecar-injector") || strings.HasPrefix(o.Name, "istio-revision-tag-") {
			addObj(o)
		}
	}

	// Gateways: their workloads and what those need to run and be reached.
	for _, gw := range mesh.GatewayWorkloads(snap) {
		w := gw.Workload
		if name := w.Template.Labels[mesh.LabelGatewayName]; name != "" {
			e.Left = append(e.Left, Problem{w.Object.ID(), "deployed by istiod for Gateway API Gateway " + name + " (exported): istiod re-creates it"})
			continue
		}
		addObj(w.Object)
		ns := w.Object.Namespace
		for _, s := range mesh.ServicesSelecting(snap, ns, w.Template.Labels) {
			addObj(s)
		}
		if sa := w.Template.Spec.ServiceAccountName; sa != "" {
			addObj(snap.Get(snapshot.ServiceAccount, ns, sa))
		}
		if h := mesh.HPAFor(snap, w.Object); h != nil {
			addObj(h.Object)
		}
		for _, p := range mesh.PDBsFor(snap, ns, w.Template.Labels) {
			addObj(p)
		}
	}

	// Namespaces: the mesh's, the control plane's and every exported object's.
	nss := map[string]bool{cp: true, cfg.RootNamespace: true}
	for _, ns := range cfg.MeshNamespaces {
		nss[ns] = true
	}
	for _, o := range snap.List(snapshot.Namespace) {
		if mesh.InjectionEnabled(o.Labels) {
			nss[o.Name] = true
		}
	}
	for _, o := range out {
		if o.Namespace != "" {
			nss[o.Namespace] = true
		}
	}
	names := make([]string, 0, len(nss))
	for ns := range nss {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		if o := snap.Get(snapshot.Namespace, "", ns); o != nil {
			addObj(o)
		} else if ns != loader.DefaultNamespace {
			e.MissingNamespaces = append(e.MissingNamespaces, ns)
		}
	}
	return out
}

// IsMeshKind reports whether every object of a kind key is mesh
// configuration: Istio's API groups (*.istio.io) and the Gateway API.
func IsMeshKind(key string) bool {
	_, group, _ := strings.Cut(key, ".")
	return group == "istio.io" || strings.HasSuffix(group, ".istio.io") || group == "gateway.networking.k8s.io"
}

// Apply order of kinds: files are named NN-<kind>_<namespace>.yaml.
var kindRank = map[string]int{
	snapshot.Namespace:                         0,
	snapshot.ConfigMap:                         10,
	snapshot.ServiceAccount:                    11,
	snapshot.MutatingWebhookConfiguration:      12,
	snapshot.Service:                           20,
	snapshot.Deployment:                        21,
	snapshot.StatefulSet:                       21,
	snapshot.DaemonSet:                         21,
	snapshot.HorizontalPodAutoscaler:           22,
	snapshot.PodDisruptionBudget:               22,
	snapshot.ServiceEntry:                      30,
	snapshot.WorkloadEntry:                     30,
	snapshot.WorkloadGroup:                     30,
	"ReferenceGrant.gateway.networking.k8s.io": 30,
	snapshot.Gateway:                           31,
	snapshot.KGateway:                          31,
	snapshot.DestinationRule:                   32,
	snapshot.VirtualService:                    33,
	snapshot.KHTTPRoute:                        33,
	"GRPCRoute.gateway.networking.k8s.io":      33,
	"TCPRoute.gateway.networking.k8s.io":       33,
	"TLSRoute.gateway.networking.k8s.io":       33,
	snapshot.Sidecar:                           34,
	snapshot.EnvoyFilter:                       35,
	snapshot.PeerAuthentication:                40,
	snapshot.RequestAuthentication:             40,
	snapshot.AuthorizationPolicy:               41,
	snapshot.Telemetry:                         50,
}

// otherRank is the rank of kinds not listed (WasmPlugin, ProxyConfig...).
const otherRank = 36

// FileName is the file an object of a kind key in a namespace goes to.
func FileName(kind, ns string) string {
	base := strings.ToLower(kind)
	if ns != "" {
		base += "_" + ns
	}
	if kind == snapshot.IstioOperator {
		return "install/" + base + ".yaml"
	}
	r, ok := kindRank[kind]
	if !ok {
		r = otherRank
	}
	return fmt.Sprintf("%02d-%s.yaml", r, base)
}

// Kinds are the kind keys an export reads from a cluster: what it writes,
// the Secrets (metadata only) whose names README.txt lists, and the
// workloads that decide which objects are the gateways'.
func Kinds() []string {
	return []string{
		snapshot.Namespace, snapshot.ConfigMap, snapshot.Secret, snapshot.ServiceAccount, snapshot.Service,
		snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet,
		snapshot.HorizontalPodAutoscaler, snapshot.PodDisruptionBudget, snapshot.MutatingWebhookConfiguration,
		snapshot.VirtualService, snapshot.DestinationRule, snapshot.Gateway, snapshot.ServiceEntry, snapshot.Sidecar,
		snapshot.EnvoyFilter, snapshot.WorkloadEntry, snapshot.WorkloadGroup,
		snapshot.PeerAuthentication, snapshot.AuthorizationPolicy, snapshot.RequestAuthentication,
		snapshot.Telemetry, snapshot.IstioOperator,
		"WasmPlugin.extensions.istio.io", "ProxyConfig.networking.istio.io",
		snapshot.KGateway, snapshot.KHTTPRoute, "GRPCRoute.gateway.networking.k8s.io", "ReferenceGrant.gateway.networking.k8s.io",
	}
}
