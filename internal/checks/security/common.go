package security

import (
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// critical returns the critical services; when there are none it reports
// the fail itself (nothing to check is not a pass) and returns nil.
func critical(c *check.Context) []config.Service {
	svcs := mesh.CriticalServices(c, c.Config)
	if len(svcs) == 0 {
		c.Fail(nil, "no critical service to check: the config names none and no Service was found in a mesh namespace").
			Fix("# meshready.yaml\ncriticalServices:\n  - name: <service>\n    namespace: <namespace>\n# and label the mesh namespaces: kubectl label namespace <namespace> istio-injection=enabled")
	}
	return svcs
}

// trustDomains returns the mesh's trust domain and its aliases (mesh config;
// default cluster.local). Reads ConfigMap.
func trustDomains(c *check.Context) (string, []string) {
	mc, _ := mesh.LoadMeshConfig(c, c.Config.ControlPlaneNamespace)
	if mc == nil || mc.Config.GetTrustDomain() == "" {
		if mc != nil {
			return mesh.DefaultTrustDomain, mc.Config.GetTrustDomainAliases()
		}
		return mesh.DefaultTrustDomain, nil
	}
	return mc.Config.GetTrustDomain(), mc.Config.GetTrustDomainAliases()
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func matchLabelsYAML(m map[string]string, indent string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(indent + k + ": " + m[k] + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// namespaceObject returns the Namespace object named ns, or nil.
func namespaceObject(c *check.Context, ns string) *snapshot.Object {
	return c.Get(snapshot.Namespace, "", ns)
}
