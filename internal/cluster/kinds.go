package cluster

import (
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// builtin is a kind of the Kubernetes API itself, listed in protobuf into
// the clientset's Go type. Its version is the one the loader decodes.
type builtin struct {
	group, version, resource string
}

// builtins lists the built-in kinds meshready can read. ConfigMap and
// Secret are here for their group and resource, but are never listed with
// their data (see configmaps.go and fetchTable).
var builtins = map[string]builtin{
	snapshot.Namespace:                      {"", "v1", "namespaces"},
	snapshot.Service:                        {"", "v1", "services"},
	snapshot.Pod:                            {"", "v1", "pods"},
	snapshot.Node:                           {"", "v1", "nodes"},
	snapshot.ServiceAccount:                 {"", "v1", "serviceaccounts"},
	snapshot.Endpoints:                      {"", "v1", "endpoints"},
	snapshot.ConfigMap:                      {"", "v1", "configmaps"},
	snapshot.Secret:                         {"", "v1", "secrets"},
	snapshot.Deployment:                     {"apps", "v1", "deployments"},
	snapshot.StatefulSet:                    {"apps", "v1", "statefulsets"},
	snapshot.DaemonSet:                      {"apps", "v1", "daemonsets"},
	snapshot.ReplicaSet:                     {"apps", "v1", "replicasets"},
	snapshot.HorizontalPodAutoscaler:        {"autoscaling", "v2", "horizontalpodautoscalers"},
	snapshot.PodDisruptionBudget:            {"policy", "v1", "poddisruptionbudgets"},
	snapshot.EndpointSlice:                  {"discovery.k8s.io", "v1", "endpointslices"},
	snapshot.MutatingWebhookConfiguration:   {"admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"},
	snapshot.ValidatingWebhookConfiguration: {"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"},
	snapshot.NetworkPolicy:                  {"networking.k8s.io", "v1", "networkpolicies"},
	snapshot.Ingress:                        {"networking.k8s.io", "v1", "ingresses"},
}

// newList returns an empty list of a built-in kind (a *corev1.PodList for
// Pod), from client-go's scheme.
func newList(gv schema.GroupVersion, kind string) (runtime.Object, error) {
	return scheme.Scheme.New(gv.WithKind(kind + "List"))
}

// customResources names the plural resource of the custom kinds meshready
// knows, for the RBAC rules of deploy/rbac.yaml (at run time the resource
// comes from discovery).
var customResources = map[string]string{
	snapshot.VirtualService:        "virtualservices",
	snapshot.DestinationRule:       "destinationrules",
	snapshot.Gateway:               "gateways",
	snapshot.ServiceEntry:          "serviceentries",
	snapshot.Sidecar:               "sidecars",
	snapshot.EnvoyFilter:           "envoyfilters",
	snapshot.WorkloadEntry:         "workloadentries",
	snapshot.WorkloadGroup:         "workloadgroups",
	snapshot.PeerAuthentication:    "peerauthentications",
	snapshot.AuthorizationPolicy:   "authorizationpolicies",
	snapshot.RequestAuthentication: "requestauthentications",
	snapshot.Telemetry:             "telemetries",
	snapshot.IstioOperator:         "istiooperators",
	snapshot.KGateway:              "gateways",
	snapshot.KHTTPRoute:            "httproutes",
	snapshot.PrometheusRule:        "prometheusrules",
	snapshot.ServiceMonitor:        "servicemonitors",
	snapshot.PodMonitor:            "podmonitors",
	mesh.KindPrometheus:            "prometheuses",
	mesh.KindJaeger:                "jaegers",
	mesh.KindKiali:                 "kialis",
	mesh.KindGrafana:               "grafanas",
	mesh.KindGrafanaDashboard:      "grafanadashboards",
}

// istioGroups are the API groups of the CRDs every Istio installation has.
// Their absence means Istio is not installed (an error); the absence of
// any other custom kind (Gateway API, Prometheus Operator, IstioOperator,
// which recent Istio no longer installs) means there are no such objects.
var istioGroups = map[string]bool{
	"networking.istio.io": true,
	"security.istio.io":   true,
	"telemetry.istio.io":  true,
}

// splitKey splits a kind key ("Deployment.apps", "Service") into kind and group.
func splitKey(key string) (kind, group string) {
	kind, group, _ = strings.Cut(key, ".")
	return kind, group
}

// resourceOf returns the API group and plural resource of a kind key, from
// the tables above, or else by Kubernetes' usual pluralisation.
func resourceOf(key string) (group, resource string) {
	if b, ok := builtins[key]; ok {
		return b.group, b.resource
	}
	kind, group := splitKey(key)
	if r, ok := customResources[key]; ok {
		return group, r
	}
	return group, plural(strings.ToLower(kind))
}

func plural(s string) string {
	switch {
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	case strings.HasSuffix(s, "y") && len(s) > 1 && !strings.ContainsRune("aeiou", rune(s[len(s)-2])):
		return s[:len(s)-1] + "ies"
	}
	return s + "s"
}

// verbsFor are the verbs meshready uses on a kind: list for every kind,
// and get for the ConfigMaps whose data it reads (see configmaps.go).
func verbsFor(key string) []string {
	if key == snapshot.ConfigMap {
		return []string{"get", "list"}
	}
	return []string{"list"}
}

// RBACRules returns the read-only rules meshready needs to list the given
// kind keys: one rule per API group and verb set, resources sorted. It is
// what deploy/rbac.yaml grants (a test keeps the file in step).
func RBACRules(kinds []string) []rbacv1.PolicyRule {
	type ruleKey struct{ group, verbs string }
	byRule := map[ruleKey]map[string]bool{}
	for _, k := range kinds {
		g, r := resourceOf(k)
		rk := ruleKey{g, strings.Join(verbsFor(k), ",")}
		if byRule[rk] == nil {
			byRule[rk] = map[string]bool{}
		}
		byRule[rk][r] = true
	}
	keys := make([]ruleKey, 0, len(byRule))
	for rk := range byRule {
		keys = append(keys, rk)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].group != keys[j].group {
			return keys[i].group < keys[j].group
		}
		return keys[i].verbs < keys[j].verbs
	})
	out := make([]rbacv1.PolicyRule, 0, len(keys))
	for _, rk := range keys {
		var res []string
		for r := range byRule[rk] {
			res = append(res, r)
		}
		sort.Strings(res)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{rk.group}, Resources: res, Verbs: strings.Split(rk.verbs, ",")})
	}
	return out
}

// ruleSnippet renders the RBAC rule that lets meshready read one kind.
func ruleSnippet(group, resource string, verbs []string) string {
	return "- apiGroups: [\"" + group + "\"]\n  resources: [\"" + resource + "\"]\n  verbs: [\"" + strings.Join(verbs, "\", \"") + "\"]"
}
