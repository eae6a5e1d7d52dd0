package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// ConfigMaps are listed as metadata only: a cluster's ConfigMaps hold
// application configuration meshready has no business reading, and can be
// large. The data of a ConfigMap is read (one GET each) only when a check
// needs it, by this rule:
//
//  1. in the control-plane namespace, "istio" and "istio-*": the mesh
//     config (istio, istio-<rev>) and the sidecar injector's config and
//     values (istio-sidecar-injector, istio-sidecar-injector-<rev>), the
//     rest being Istio's own small ConfigMaps (istio-ca-root-cert);
//  2. ConfigMaps mounted (volumes, projected volumes) by a Deployment,
//     StatefulSet or DaemonSet running an observability tool (as
//     mesh.ToolWorkloads recognises them from the image): Prometheus'
//     configuration and rule files, Grafana's provisioning and
//     dashboards, Kiali's config.yaml, the collectors' configuration;
//  3. ConfigMaps labelled grafana_dashboard (the Grafana sidecar's label);
//  4. "kiali" in a namespace running Kiali (its default configuration).
//
// Except: the rule-file ConfigMaps the Prometheus Operator generates from
// PrometheusRule objects (owned by a Prometheus), whose rules meshready
// reads from the PrometheusRules themselves.
//
// Rule 2 relies on the workloads listed in the same load, so it applies
// when Deployment, StatefulSet and DaemonSet are among the kinds asked.

// LabelGrafanaDashboard marks ConfigMaps holding Grafana dashboards.
const LabelGrafanaDashboard = "grafana_dashboard"

// DataRule decides which ConfigMaps' data meshready reads.
type DataRule struct {
	controlPlaneNS string
	mounted        map[string]string // "ns/name" -> the tool mounting it
	kialiNS        map[string]bool
}

// NewDataRule prepares the rule for a control-plane namespace and the
// workloads (Deployments, StatefulSets, DaemonSets) of the cluster.
func NewDataRule(controlPlaneNS string, workloads []*snapshot.Object) *DataRule {
	r := &DataRule{controlPlaneNS: controlPlaneNS, mounted: map[string]string{}, kialiNS: map[string]bool{}}
	for tool, ws := range mesh.ToolWorkloads(snapshot.New(workloads)) {
		for _, w := range ws {
			ns := w.Object.Namespace
			if tool == mesh.ToolKiali {
				r.kialiNS[ns] = true
			}
			for _, v := range w.Template.Spec.Volumes {
				if v.ConfigMap != nil {
					r.mounted[ns+"/"+v.ConfigMap.Name] = tool
				}
				if v.Projected != nil {
					for _, s := range v.Projected.Sources {
						if s.ConfigMap != nil {
							r.mounted[ns+"/"+s.ConfigMap.Name] = tool
						}
					}
				}
			}
		}
	}
	return r
}

// Reason says why the data of a ConfigMap is needed, or "" when it is not.
func (r *DataRule) Reason(ns, name string, labels map[string]string, owners []metav1.OwnerReference) string {
	for _, o := range owners {
		if o.Kind == "Prometheus" && strings.HasPrefix(o.APIVersion, "monitoring.coreos.com/") {
			return ""
		}
	}
	switch {
	case ns == r.controlPlaneNS && (name == "istio" || strings.HasPrefix(name, "istio-")):
		return "Istio control-plane configuration"
	case r.mounted[ns+"/"+name] != "":
		return "mounted by " + r.mounted[ns+"/"+name]
	case hasKey(labels, LabelGrafanaDashboard):
		return "Grafana dashboard"
	case name == "kiali" && r.kialiNS[ns]:
		return "Kiali configuration"
	}
	return ""
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// configMapData reads the data of the ConfigMaps the rule selects, and
// puts it into their objects.
func (l *session) configMapData(ctx context.Context, jobs []*job) error {
	var cms *job
	var workloads []*snapshot.Object
	for _, j := range jobs {
		switch j.key {
		case snapshot.ConfigMap:
			cms = j
		case snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet:
			workloads = append(workloads, j.objs...)
		}
	}
	if cms == nil || cms.failed {
		return nil
	}
	rule := NewDataRule(l.o.ControlPlaneNamespace, workloads)
	var want []*snapshot.Object
	for _, o := range cms.objs {
		cm, _ := o.Typed.(*corev1.ConfigMap)
		if cm != nil && rule.Reason(o.Namespace, o.Name, o.Labels, cm.OwnerReferences) != "" {
			want = append(want, o)
		}
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		fatal     error
		forbidden []string
		lastErr   error
	)
	for _, o := range want {
		wg.Add(1)
		go func(o *snapshot.Object) {
			defer wg.Done()
			select {
			case l.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-l.sem }()
			l.requests.Add(1)
			cm, err := l.typed.CoreV1().ConfigMaps(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				cm.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
				cm.ManagedFields = nil
				o.Typed, o.Labels, o.Annotations = cm, cm.Labels, cm.Annotations
			case apierrors.IsNotFound(err):
				// Deleted since it was listed.
			case apierrors.IsForbidden(err):
				forbidden = append(forbidden, o.Namespace+"/"+o.Name)
				lastErr = err
			case isFatal(err, false):
				if fatal == nil {
					fatal = err
				}
			default:
				lastErr = err
				forbidden = append(forbidden, o.Namespace+"/"+o.Name)
			}
		}(o)
	}
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(forbidden) > 0 {
		sort.Strings(forbidden)
		e := snapshot.KindError{
			Message: fmt.Sprintf("the data of %d ConfigMap(s) meshready needs (%s) could not be read: %v", len(forbidden), joinMax(forbidden, 4), lastErr),
		}
		if apierrors.IsForbidden(lastErr) {
			e.Remediation = forbiddenRemediation(lastErr, "", "configmaps", verbsFor(snapshot.ConfigMap))
		}
		l.kindError(snapshot.ConfigMap, e)
	}
	return nil
}
