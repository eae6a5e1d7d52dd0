package injection

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

var automatic = &check.Check{
	ID: "injection.automatic",
	Reads: []string{snapshot.Namespace, snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet,
		snapshot.MutatingWebhookConfiguration, snapshot.ConfigMap, snapshot.Pod},
	Why: "Automatic injection is what puts a proxy into every new pod; a namespace that is not labelled (or labelled " +
		"for a revision that does not exist, or for two) runs its pods outside the mesh: no mTLS, no policy, no " +
		"telemetry, and nothing fails loudly.",
	Fix: "Label every mesh namespace with exactly one of istio-injection=enabled or istio.io/rev=<revision>, keep the " +
		"istio-sidecar-injector MutatingWebhookConfiguration installed, then restart the workloads so running pods get the proxy.",
	Docs:   "https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/#automatic-sidecar-injection",
	Config: automaticConfig,
	Live:   automaticLive,
}

// injectorHook is one sidecar-injector webhook.
type injectorHook struct {
	cfg *snapshot.Object
	w   admissionregistrationv1.MutatingWebhook
}

func injectorHooks(c *check.Context) []injectorHook {
	var out []injectorHook
	for _, o := range c.List(snapshot.MutatingWebhookConfiguration) {
		m, ok := o.Typed.(*admissionregistrationv1.MutatingWebhookConfiguration)
		if !ok {
			continue
		}
		for _, w := range m.Webhooks {
			if strings.HasSuffix(w.Name, "sidecar-injector.istio.io") {
				out = append(out, injectorHook{o, w})
			}
		}
	}
	return out
}

// hookFor returns the first injector webhook that injects a plain pod (no
// pod-level opt-in label) in a namespace with these labels.
func hookFor(hooks []injectorHook, ns string, labels map[string]string) *injectorHook {
	l := map[string]string{"kubernetes.io/metadata.name": ns}
	for k, v := range labels {
		l[k] = v
	}
	for i, h := range hooks {
		if mesh.SelectorAllows(h.w.NamespaceSelector, l) && mesh.SelectorAllows(h.w.ObjectSelector, map[string]string{}) {
			return &hooks[i]
		}
	}
	return nil
}

func automaticConfig(c *check.Context) {
	cfg := c.Config
	cp := cfg.ControlPlaneNamespace
	nss := mesh.Namespaces(c, cfg)
	if len(nss) == 0 {
		noMeshNamespaces(c)
		return
	}
	ists := mesh.Istiods(c, cp)
	revs := mesh.RevisionNames(c, ists)
	hooks := injectorHooks(c)
	if len(hooks) == 0 {
		anchor := c.Get(snapshot.Namespace, "", cp)
		if len(ists) > 0 {
			anchor = ists[0].Object
		}
		c.Fail(anchor, "no sidecar-injector MutatingWebhookConfiguration (a webhook named *.sidecar-injector.istio.io) is installed: no pod gets a proxy automatically").
			Want("MutatingWebhookConfiguration istio-sidecar-injector").
			Fix("Reinstall the control plane, which creates the injector webhook:\nistioctl install --set profile=default -y\n# verify: kubectl get mutatingwebhookconfiguration -l app=sidecar-injector")
	}
	for _, cm := range mesh.InjectorConfigMaps(c, cp) {
		ic, err := mesh.ParseInjectorConfig(cm)
		if err != nil {
			c.Error("cannot read the injector configuration: %v", err)
			continue
		}
		if ic.Policy == "disabled" {
			c.Fail(cm, "the sidecar injector's policy is disabled: a namespace label alone injects nothing, only pods labelled sidecar.istio.io/inject=true get a proxy").
				Field("data.config: policy").Got("disabled").Want("enabled").
				Fix("# istioctl / Helm values:\nvalues:\n  global:\n    proxy:\n      autoInject: enabled")
		}
	}
	for _, ns := range nss {
		o := c.Get(snapshot.Namespace, "", ns)
		if o == nil {
			c.Fail(anchorFor(c, ns), "mesh namespace %s has no Namespace object in the input: its injection label cannot be verified", ns).
				Want("a Namespace %s labelled istio-injection=enabled", ns).
				Fix(namespaceYAML(ns))
			continue
		}
		inj, hasInj := o.Labels[mesh.LabelInjection]
		rev, hasRev := o.Labels[mesh.LabelRev]
		switch {
		case hasInj && hasRev:
			c.Fail(o, "Namespace %s carries both istio-injection=%s and istio.io/rev=%s: istio-injection wins and the revision is ignored", ns, inj, rev).
				Field("metadata.labels").Got("istio-injection=%s, istio.io/rev=%s", inj, rev).Want("exactly one of them").
				Fixf("kubectl label namespace %s istio-injection-", ns)
			continue
		case hasInj && inj != "enabled":
			c.Fail(o, "mesh namespace %s is labelled istio-injection=%s: its pods get no proxy", ns, inj).
				Field("metadata.labels[istio-injection]").Got("%s", inj).Want("enabled").
				Fixf("kubectl label namespace %s istio-injection=enabled --overwrite\nkubectl -n %[1]s rollout restart deployment", ns)
			continue
		case hasRev:
			if _, ok := revs[rev]; !ok && len(ists) > 0 {
				c.Fail(o, "mesh namespace %s is labelled istio.io/rev=%s, but no istiod revision or tag %q exists: its pods get no proxy", ns, rev, rev).
					Field("metadata.labels[istio.io/rev]").Got("%s", rev).Want("an existing revision (%s)", strings.Join(sortedKeys(revs), ", ")).
					Fixf("kubectl label namespace %s istio.io/rev=%s --overwrite", ns, firstKey(revs))
				continue
			}
		case !hasInj:
			c.Fail(o, "mesh namespace %s is not labelled for injection: its pods get no proxy", ns).
				Field("metadata.labels").Got("no istio-injection or istio.io/rev label").Want("istio-injection=enabled (or istio.io/rev=<revision>)").
				Fixf("kubectl label namespace %s istio-injection=enabled\nkubectl -n %[1]s rollout restart deployment", ns)
			continue
		}
		label := mesh.LabelInjection + "=" + inj
		if hasRev {
			label = mesh.LabelRev + "=" + rev
		}
		if len(hooks) == 0 {
			continue // reported once above
		}
		h := hookFor(hooks, ns, o.Labels)
		if h == nil {
			c.Fail(o, "Namespace %s is labelled %s, but no sidecar-injector webhook's namespaceSelector matches it: its pods get no proxy", ns, label).
				Field("metadata.labels").Got("%s", label).Want("labels matched by one of the injector webhooks (%s)", hookNames(hooks)).
				Fix("Install the revision the label names, or relabel the namespace to one that is installed:\nistioctl tag list\nkubectl label namespace " + ns + " istio.io/rev=<installed-revision> --overwrite")
			continue
		}
		c.Pass(o, "Namespace %s is labelled %s and selected by webhook %s of MutatingWebhookConfiguration %s", ns, label, h.w.Name, h.cfg.Name)
	}
}

// noMeshNamespaces reports that nothing defines the mesh's namespaces.
func noMeshNamespaces(c *check.Context) {
	named := false
	for _, o := range c.List(snapshot.Namespace) {
		if systemNamespaces[o.Name] || o.Name == c.Config.ControlPlaneNamespace || o.Name == "default" {
			continue
		}
		named = true
		c.Fail(o, "Namespace %s is not labelled for injection, and no namespace is: the mesh has no namespace with automatic injection", o.Name).
			Field("metadata.labels").Got("no istio-injection or istio.io/rev label").Want("istio-injection=enabled on every mesh namespace").
			Fixf("kubectl label namespace %s istio-injection=enabled\n# or list the mesh namespaces in meshready.yaml:\nmeshNamespaces: [%[1]s]", o.Name)
	}
	if !named {
		c.Fail(c.Get(snapshot.Namespace, "", c.Config.ControlPlaneNamespace), "no namespace is labelled for injection and meshready.yaml lists no meshNamespaces: there is no mesh namespace to check").
			Want("at least one Namespace labelled istio-injection=enabled").
			Fix("kubectl label namespace <app-namespace> istio-injection=enabled\n# and/or in meshready.yaml:\nmeshNamespaces: [<app-namespace>]")
	}
}

func hookNames(hooks []injectorHook) string {
	var names []string
	for _, h := range hooks {
		names = append(names, h.w.Name)
	}
	return strings.Join(names, ", ")
}

func firstKey(m map[string]string) string {
	if k := sortedKeys(m); len(k) > 0 {
		return k[0]
	}
	return "default"
}

func namespaceYAML(ns string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    istio-injection: enabled", ns)
}
