package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshready/meshready/internal/snapshot"
)

// knownKinds are the kind keys meshready reads (snapshot/kinds.go): a rule
// on any other kind would never see an object, which is a config error.
var knownKinds = []string{
	snapshot.Namespace, snapshot.Service, snapshot.Pod, snapshot.Node,
	snapshot.ConfigMap, snapshot.Secret, snapshot.ServiceAccount, snapshot.Endpoints,
	snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.ReplicaSet,
	snapshot.HorizontalPodAutoscaler, snapshot.PodDisruptionBudget, snapshot.EndpointSlice,
	snapshot.MutatingWebhookConfiguration, snapshot.ValidatingWebhookConfiguration,
	snapshot.NetworkPolicy, snapshot.Ingress,
	snapshot.VirtualService, snapshot.DestinationRule, snapshot.Gateway, snapshot.ServiceEntry,
	snapshot.Sidecar, snapshot.EnvoyFilter, snapshot.WorkloadEntry, snapshot.WorkloadGroup,
	snapshot.PeerAuthentication, snapshot.AuthorizationPolicy, snapshot.RequestAuthentication,
	snapshot.Telemetry, snapshot.IstioOperator,
	snapshot.KGateway, snapshot.KHTTPRoute,
	snapshot.PrometheusRule, snapshot.ServiceMonitor, snapshot.PodMonitor,
}

// resolveKinds turns the kinds a rule names into kind keys: a key as
// written, or a plain kind that only one key carries.
func resolveKinds(kinds []string) ([]string, []error) {
	var errs []error
	set := map[string]bool{}
	for _, k := range kinds {
		key, err := resolveKind(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("match.kinds: %w", err))
			continue
		}
		set[key] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, errs
}

func resolveKind(k string) (string, error) {
	var byName []string
	for _, key := range knownKinds {
		if key == k {
			return key, nil
		}
		if name, _, _ := strings.Cut(key, "."); strings.EqualFold(name, k) {
			byName = append(byName, key)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return "", fmt.Errorf("unknown kind %q: meshready reads %s", k, strings.Join(plainKinds(), ", "))
	}
	return "", fmt.Errorf("kind %q is ambiguous: write one of %s", k, strings.Join(byName, ", "))
}

func plainKinds() []string {
	out := make([]string, len(knownKinds))
	for i, key := range knownKinds {
		out[i] = key
	}
	sort.Strings(out)
	return out
}
