package export

import (
	"fmt"
	"sort"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// SecretRef is a Secret the exported configuration needs but the export
// does not contain.
type SecretRef struct {
	Namespace, Name string
	// Present: the input holds this Secret (its type and the annotations
	// say where it comes from); its values are never read.
	Present   bool
	Type      string
	ManagedBy string   // e.g. "cert-manager Certificate devmentor-api"
	UsedBy    []string // "Gateway/istio-ingress/devmentor-gateway spec.servers[0].tls.credentialName"
}

// secretRefs finds the Secrets the exported objects (and the control
// plane, whose CA the whole mesh depends on) refer to.
func secretRefs(snap *snapshot.Snapshot, cfg *config.Config, sel []*snapshot.Object) []SecretRef {
	refs := map[[2]string]*SecretRef{}
	use := func(ns, name, by string) {
		if name == "" {
			return
		}
		k := [2]string{ns, name}
		r := refs[k]
		if r == nil {
			r = &SecretRef{Namespace: ns, Name: name}
			refs[k] = r
		}
		for _, u := range r.UsedBy {
			if u == by {
				return
			}
		}
		r.UsedBy = append(r.UsedBy, by)
	}
	gws := mesh.GatewayWorkloads(snap)
	for _, o := range sel {
		switch t := o.Typed.(type) {
		case *networkingv1.Gateway:
			// The credential lives in the namespace of the gateway workload.
			nss := map[string]bool{}
			for _, w := range mesh.GatewaySelects(t, gws) {
				nss[w.Object.Namespace] = true
			}
			if len(nss) == 0 {
				nss[o.Namespace] = true
			}
			for i, s := range t.Spec.GetServers() {
				tls := s.GetTls()
				names := append([]string{tls.GetCredentialName()}, tls.GetCredentialNames()...)
				for _, n := range names {
					for ns := range nss {
						use(ns, n, fmt.Sprintf("%s spec.servers[%d].tls.credentialName", o.ID(), i))
					}
				}
			}
		case *networkingv1.DestinationRule:
			field := func(p string) string { return o.ID() + " " + p + ".tls.credentialName" }
			tp := t.Spec.GetTrafficPolicy()
			use(o.Namespace, tp.GetTls().GetCredentialName(), field("spec.trafficPolicy"))
			for i, pl := range tp.GetPortLevelSettings() {
				use(o.Namespace, pl.GetTls().GetCredentialName(), field(fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d]", i)))
			}
			for i, s := range t.Spec.GetSubsets() {
				use(o.Namespace, s.GetTrafficPolicy().GetTls().GetCredentialName(), field(fmt.Sprintf("spec.subsets[%d].trafficPolicy", i)))
			}
		case map[string]any:
			if o.Key == snapshot.KGateway {
				gatewayAPICerts(o, t, use)
			}
		case *corev1.ServiceAccount:
			for _, s := range t.ImagePullSecrets {
				use(o.Namespace, s.Name, o.ID()+" imagePullSecrets")
			}
			for _, s := range t.Secrets {
				use(o.Namespace, s.Name, o.ID()+" secrets")
			}
		}
		if spec := podSpec(o); spec != nil {
			podSecrets(o, spec, use)
		}
	}
	for _, i := range mesh.AllIstiods(snap) {
		podSecrets(i.Object, &i.Deployment.Spec.Template.Spec, use)
	}
	// istiod's CA: the plug-in CA (cacerts) or the self-signed root it
	// generated (istio-ca-secret). Losing it changes the mesh's root of trust.
	for _, name := range []string{"cacerts", "istio-ca-secret"} {
		if snap.Get(snapshot.Secret, cfg.ControlPlaneNamespace, name) != nil {
			use(cfg.ControlPlaneNamespace, name, "istiod (the mesh's certificate authority)")
		}
	}

	out := make([]SecretRef, 0, len(refs))
	for _, r := range refs {
		if s := snap.Get(snapshot.Secret, r.Namespace, r.Name); s != nil {
			r.Present = true
			if sec, ok := s.Typed.(*corev1.Secret); ok {
				r.Type = string(sec.Type)
			}
			if c := s.Annotations["cert-manager.io/certificate-name"]; c != "" {
				r.ManagedBy = "cert-manager Certificate " + c
			}
		}
		sort.Strings(r.UsedBy)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func podSpec(o *snapshot.Object) *corev1.PodSpec {
	switch t := o.Typed.(type) {
	case *appsv1.Deployment:
		return &t.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &t.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return &t.Spec.Template.Spec
	}
	return nil
}

func podSecrets(o *snapshot.Object, spec *corev1.PodSpec, use func(ns, name, by string)) {
	ns := o.Namespace
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			use(ns, v.Secret.SecretName, fmt.Sprintf("%s volume %s", o.ID(), v.Name))
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					use(ns, src.Secret.Name, fmt.Sprintf("%s volume %s", o.ID(), v.Name))
				}
			}
		}
	}
	for _, s := range spec.ImagePullSecrets {
		use(ns, s.Name, o.ID()+" imagePullSecrets")
	}
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				use(ns, e.ValueFrom.SecretKeyRef.Name, fmt.Sprintf("%s container %s env %s", o.ID(), c.Name, e.Name))
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				use(ns, ef.SecretRef.Name, fmt.Sprintf("%s container %s envFrom", o.ID(), c.Name))
			}
		}
	}
}

// gatewayAPICerts reads a Gateway API Gateway's listeners' certificateRefs.
func gatewayAPICerts(o *snapshot.Object, m map[string]any, use func(ns, name, by string)) {
	spec, _ := m["spec"].(map[string]any)
	ls, _ := spec["listeners"].([]any)
	for i, l := range ls {
		lm, _ := l.(map[string]any)
		tls, _ := lm["tls"].(map[string]any)
		refs, _ := tls["certificateRefs"].([]any)
		for j, r := range refs {
			rm, _ := r.(map[string]any)
			if k, _ := rm["kind"].(string); k != "" && k != "Secret" {
				continue
			}
			name, _ := rm["name"].(string)
			ns, _ := rm["namespace"].(string)
			if ns == "" {
				ns = o.Namespace
			}
			use(ns, name, fmt.Sprintf("%s spec.listeners[%d].tls.certificateRefs[%d]", o.ID(), i, j))
		}
	}
}
