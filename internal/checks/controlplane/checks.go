// Package controlplane implements the controlplane items of the checklist.
package controlplane

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// Checks returns this package's item implementations.
func Checks() []*check.Check {
	return []*check.Check{istiodDeployed, resources, versionCompat, highAvailability}
}

// cpNamespace is the control-plane Namespace object (nil when the input has
// none): findings about something missing from it point there.
func cpNamespace(c *check.Context) *snapshot.Object {
	return c.Get(snapshot.Namespace, "", c.Config.ControlPlaneNamespace)
}

// istiodsOrFail returns the istiod Deployments of the control-plane
// namespace; with none it reports the fail (naming any istiod found
// elsewhere) and returns nil.
func istiodsOrFail(c *check.Context, what string) []mesh.Istiod {
	ns := c.Config.ControlPlaneNamespace
	ists := mesh.Istiods(c, ns)
	if len(ists) > 0 {
		return ists
	}
	if others := mesh.AllIstiods(c); len(others) > 0 {
		for _, i := range others {
			c.Fail(i.Object, "istiod is deployed in namespace %s, not in the control-plane namespace %s: %s", i.Object.Namespace, ns, what).
				Field("metadata.namespace").Got("%s", i.Object.Namespace).Want("%s", ns).
				Fixf("# meshready.yaml: name the namespace istiod runs in\ncontrolPlaneNamespace: %s", i.Object.Namespace)
		}
		return nil
	}
	c.Fail(cpNamespace(c), "no istiod Deployment in the control-plane namespace %s: %s", ns, what).
		Want("a Deployment %s/istiod (or istiod-<revision>)", ns).
		Fixf("istioctl install --set profile=default -y\n# or with Helm:\nhelm install istio-base istio/base -n %[1]s --create-namespace\nhelm install istiod istio/istiod -n %[1]s --wait", ns)
	return nil
}

func revLabel(i mesh.Istiod) string {
	if i.Revision == mesh.DefaultRevision {
		return "default revision"
	}
	return fmt.Sprintf("revision %s", i.Revision)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// labelString renders labels as "k=v,k2=v2", sorted.
func labelString(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
