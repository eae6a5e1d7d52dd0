package export

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// Install is a file the export writes for istioctl, not for kubectl: the
// IstioOperator that reinstalls a control-plane revision as it is
// configured (`istioctl install -f`), derived from the snapshot when the
// inputs hold no IstioOperator of their own.
type Install struct {
	Name     string // relative path, under install/
	Revision string
	Content  []byte
}

// InstallFileName is where the IstioOperator generated for a revision goes.
func InstallFileName(revision string) string {
	return "install/istiooperator-" + revision + ".yaml"
}

// installs generates an IstioOperator per istiod revision installed with
// istioctl (Helm installs are rolled back with helm).
func installs(snap *snapshot.Snapshot, cfg *config.Config, e *Export) []Install {
	if ops := snap.List(snapshot.IstioOperator); len(ops) > 0 {
		for _, i := range mesh.AllIstiods(snap) {
			e.Left = append(e.Left, Problem{i.Object.ID(), "control plane: reinstalled with istioctl from the exported IstioOperator (" + FileName(ops[0].Key, ops[0].Namespace) + ")"})
		}
		return nil
	}
	var out []Install
	seen := map[string]bool{}
	for _, i := range mesh.AllIstiods(snap) {
		if seen[i.Revision] {
			continue
		}
		seen[i.Revision] = true
		if IsHelmManaged(i.Object) {
			e.Left = append(e.Left, Problem{i.Object.ID(), "installed with Helm: no IstioOperator is generated; roll it back with helm (helm rollback, or helm upgrade --version)"})
			continue
		}
		data, err := istioOperator(snap, cfg, i)
		if err != nil {
			e.Incomplete = append(e.Incomplete, Problem{i.Object.ID(), "IstioOperator for revision " + i.Revision + ": " + err.Error()})
			continue
		}
		e.Left = append(e.Left, Problem{i.Object.ID(), "control plane: not exported as objects; " + InstallFileName(i.Revision) + " reinstalls it with istioctl"})
		out = append(out, Install{Name: InstallFileName(i.Revision), Revision: i.Revision, Content: data})
	}
	return out
}

// IsHelmManaged reports whether Helm installed an object.
func IsHelmManaged(o *snapshot.Object) bool {
	return o.Annotations["meta.helm.sh/release-name"] != "" || o.Labels["app.kubernetes.io/managed-by"] == "Helm" || o.Labels["helm.sh/chart"] != ""
}

// istioOperator writes the IstioOperator that installs istiod as the
// snapshot has it: profile minimal (istiod only; the gateways are exported
// as objects), the revision, the image hub, istiod's replicas, autoscaling
// and resources, the CNI node agent, and the mesh config from the
// revision's ConfigMap (comments kept). The version is the istioctl's own:
// run the istioctl of the version to install.
func istioOperator(snap *snapshot.Snapshot, cfg *config.Config, i mesh.Istiod) ([]byte, error) {
	ns := i.Object.Namespace
	m := mapping()
	meta := mapping()
	add(meta, "name", scalar("meshready-"+i.Revision))
	add(meta, "namespace", scalar(ns))
	spec := mapping()
	add(spec, "profile", scalar("minimal")).HeadComment = "istiod only: the gateways are in this export as objects (kubectl apply -f)."
	if i.Revision != mesh.DefaultRevision {
		add(spec, "revision", scalar(i.Revision))
	}
	if img := i.Image(); img != "" {
		if j := strings.LastIndex(img, "/"); j > 0 {
			add(spec, "hub", scalar(img[:j]))
		}
	}
	comps := mapping()
	k8s := mapping()
	if h := mesh.HPAFor(snap, i.Object); h != nil {
		hpa := mapping()
		add(hpa, "minReplicas", scalar(h.Min))
		add(hpa, "maxReplicas", scalar(h.Max))
		add(k8s, "hpaSpec", hpa)
	} else {
		add(k8s, "replicaCount", scalar(mesh.Replicas(i.Deployment)))
	}
	if c := i.Container; c != nil && (len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0) {
		res := mapping()
		for _, part := range []struct {
			name string
			rl   corev1.ResourceList
		}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
			if len(part.rl) == 0 {
				continue
			}
			rm := mapping()
			keys := make([]string, 0, len(part.rl))
			for k := range part.rl {
				keys = append(keys, string(k))
			}
			sort.Strings(keys)
			for _, k := range keys {
				q := part.rl[corev1.ResourceName(k)]
				add(rm, k, scalar(q.String()))
			}
			add(res, part.name, rm)
		}
		add(k8s, "resources", res)
	}
	pilot := mapping()
	add(pilot, "k8s", k8s)
	add(comps, "pilot", pilot)
	if cni := mesh.CNIDaemonSet(snap); cni != nil {
		c := mapping()
		add(c, "enabled", scalar(true))
		if cni.Namespace != ns {
			add(c, "namespace", scalar(cni.Namespace))
		}
		add(comps, "cni", c)
	}
	add(spec, "components", comps)
	if ns != "istio-system" {
		v, g := mapping(), mapping()
		add(g, "istioNamespace", scalar(ns))
		add(v, "global", g)
		add(spec, "values", v)
	}
	if mc := meshConfigFor(snap, ns, i.Revision); mc != nil {
		c, _ := mc.Typed.(*corev1.ConfigMap)
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(c.Data["mesh"]), &doc); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s key mesh: %v", ns, mc.Name, err)
		}
		if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
			add(spec, "meshConfig", doc.Content[0]).HeadComment = "From ConfigMap " + ns + "/" + mc.Name + ", key mesh."
		}
	}
	add(m, "apiVersion", scalar("install.istio.io/v1alpha1"))
	add(m, "kind", scalar("IstioOperator"))
	add(m, "metadata", meta)
	add(m, "spec", spec)
	m.HeadComment = fmt.Sprintf("Reinstalls istiod revision %s as configured when exported. Run the istioctl of\nthe version to install: istio-<version>/bin/istioctl install -y -f <export>/%s\nGenerated by meshready export from the istiod Deployment and its ConfigMaps;\nthe injector's settings come back with the ConfigMaps (kubectl apply -f <export>).", i.Revision, InstallFileName(i.Revision))
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// meshConfigFor returns a revision's mesh config ConfigMap: "istio-<rev>",
// else "istio".
func meshConfigFor(snap *snapshot.Snapshot, ns, rev string) *snapshot.Object {
	for _, name := range []string{"istio-" + rev, "istio"} {
		if o := snap.Get(snapshot.ConfigMap, ns, name); o != nil {
			if c, ok := o.Typed.(*corev1.ConfigMap); ok && strings.TrimSpace(c.Data["mesh"]) != "" {
				return o
			}
		}
	}
	return nil
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func scalar(v any) *yaml.Node {
	n := &yaml.Node{}
	_ = n.Encode(v)
	return n
}

// add appends key: value to a mapping and returns the key node (for comments).
func add(m *yaml.Node, key string, v *yaml.Node) *yaml.Node {
	k := scalar(key)
	m.Content = append(m.Content, k, v)
	return k
}
