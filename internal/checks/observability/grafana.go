package observability

import (
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/snapshot"
)

// GrafanaReads are the kinds CheckGrafana reads.
var GrafanaReads = []string{snapshot.Deployment, snapshot.StatefulSet, snapshot.DaemonSet, snapshot.ConfigMap, mesh.KindGrafana, mesh.KindGrafanaDashboard}

// LabelGrafanaDashboard is the label the Grafana Helm chart's sidecar
// discovers dashboard ConfigMaps by.
const LabelGrafanaDashboard = "grafana_dashboard"

func grafanaCheck() *check.Check {
	return &check.Check{
		ID:    "telemetry.grafana",
		Reads: GrafanaReads,
		Why: "The Istio dashboards (mesh, service, workload, control plane) are where on-call looks first: " +
			"without them provisioned in Grafana, an incident starts with writing PromQL by hand.",
		Fix: "Deploy Grafana with Istio's dashboards (kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/grafana.yaml), " +
			"or put the dashboards (grafana.com IDs 7639, 7636, 7630, 7645) in ConfigMaps labelled grafana_dashboard: \"1\" for the Grafana sidecar.",
		Docs: "https://istio.io/latest/docs/ops/integrations/grafana/",
		Config: func(c *check.Context) {
			CheckGrafana(c)
		},
		Telemetry: grafanaTelemetry,
	}
}

// dashboardSnippet is a ConfigMap carrying one Istio dashboard for the sidecar.
const dashboardSnippet = `apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  namespace: %s
  labels:
    grafana_dashboard: "1"   # discovered by the Grafana sidecar (or mount it into Grafana's dashboards provider)
data:
  %s: |
    # the dashboard JSON: curl -s https://grafana.com/api/dashboards/%d/revisions/latest/download`

var grafanaComIDs = map[string]int{mesh.DashboardMesh: 7639, mesh.DashboardService: 7636, mesh.DashboardWorkload: 7630, mesh.DashboardControlPlane: 7645}
var dashboardFiles = map[string]string{mesh.DashboardMesh: "istio-mesh-dashboard.json", mesh.DashboardService: "istio-service-dashboard.json", mesh.DashboardWorkload: "istio-workload-dashboard.json", mesh.DashboardControlPlane: "pilot-dashboard.json"}

// CheckGrafana reports whether Grafana is deployed with the Istio
// dashboards provisioned, and returns the provisioned dashboards (for
// checks that look for more dashboards) and whether a Grafana is deployed.
// It reads GrafanaReads.
func CheckGrafana(c *check.Context) ([]mesh.Dashboard, bool) {
	tools := mesh.ToolWorkloads(c)
	grafanas := tools[mesh.ToolGrafana]
	crs := c.List(mesh.KindGrafana)
	all := mesh.GrafanaDashboards(c)
	var anchor *snapshot.Object
	if len(all) > 0 {
		anchor = all[0].Object
	}
	if len(grafanas) == 0 && len(crs) == 0 {
		c.Fail(anchor, "no Grafana deployed: no workload runs a grafana image and no Grafana (grafana-operator) resource exists").
			Want("Grafana with the Istio dashboards provisioned").
			Fix("kubectl apply -f https://raw.githubusercontent.com/istio/istio/release-1.28/samples/addons/grafana.yaml\n# or install the grafana Helm chart with sidecar.dashboards.enabled=true")
		return nil, false
	}
	var gObj *snapshot.Object
	if len(grafanas) > 0 {
		gObj = grafanas[0].Object
		c.Pass(gObj, "Grafana deployed: %s (image %s)", mesh.ToolNames(grafanas), grafanas[0].Container.Image)
	}
	for _, o := range crs {
		gObj = firstObject(gObj, o)
		c.Pass(o, "Grafana deployed by the grafana-operator: %s", o.ID())
	}

	// ConfigMaps mounted into a Grafana pod, by namespace/name.
	mounted := map[string]string{}
	for _, g := range grafanas {
		for _, v := range g.Template.Spec.Volumes {
			if v.ConfigMap != nil {
				mounted[g.Object.Namespace+"/"+v.ConfigMap.Name] = g.Object.ID()
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.ConfigMap != nil {
						mounted[g.Object.Namespace+"/"+s.ConfigMap.Name] = g.Object.ID()
					}
				}
			}
		}
	}
	// The Grafana Helm chart's dashboard sidecar (k8s-sidecar) loads the
	// ConfigMaps labelled grafana_dashboard; without it the label does nothing.
	sidecar := ""
	for _, g := range grafanas {
		for _, ct := range g.Template.Spec.Containers {
			if mesh.ImageBaseName(ct.Image) == "k8s-sidecar" {
				sidecar = g.Object.ID() + " container " + ct.Name
			}
		}
	}
	provisioned := func(d mesh.Dashboard) (bool, string) {
		if d.Object.Key == mesh.KindGrafanaDashboard {
			if len(crs) > 0 {
				return true, "a GrafanaDashboard for the grafana-operator"
			}
			return false, "a GrafanaDashboard, but no Grafana resource exists for the operator to load it into"
		}
		if by, ok := mounted[d.Object.Namespace+"/"+d.Object.Name]; ok {
			return true, "mounted into " + by
		}
		if _, ok := d.Object.Labels[LabelGrafanaDashboard]; ok {
			if sidecar != "" {
				return true, "labelled " + LabelGrafanaDashboard + ", loaded by the dashboard sidecar (" + sidecar + ")"
			}
			return false, "labelled " + LabelGrafanaDashboard + ", but no Grafana pod runs the dashboard sidecar (k8s-sidecar) that loads labelled ConfigMaps, and no Grafana pod mounts it"
		}
		return false, "neither mounted into a Grafana pod nor labelled " + LabelGrafanaDashboard + " for its sidecar"
	}

	var out []mesh.Dashboard
	byKind := map[string][]mesh.Dashboard{}
	for _, d := range all {
		if ok, _ := provisioned(d); ok {
			out = append(out, d)
		}
		if k := d.IstioDashboardKind(); k != "" {
			byKind[k] = append(byKind[k], d)
		}
	}
	ns := c.Config.ControlPlaneNamespace
	if gObj != nil && gObj.Namespace != "" {
		ns = gObj.Namespace
	}
	for _, k := range mesh.IstioDashboards {
		ds := byKind[k]
		if len(ds) == 0 {
			c.Fail(gObj, "the %s is not provisioned: no dashboard titled like %q (or file %s) in any ConfigMap or GrafanaDashboard", mesh.IstioDashboardTitles[k], mesh.IstioDashboardTitles[k], dashboardFiles[k]).
				Want("the Istio %s dashboard", k).
				Fixf(dashboardSnippet, "istio-"+k+"-dashboard", ns, dashboardFiles[k], grafanaComIDs[k])
			continue
		}
		var okd *mesh.Dashboard
		for i := range ds {
			if ok, _ := provisioned(ds[i]); ok {
				okd = &ds[i]
				break
			}
		}
		if okd == nil {
			d := ds[0]
			_, why := provisioned(d)
			f := c.Fail(d.Object, "%q (%s) exists but is not provisioned into Grafana: %s", d.Name(), d.Where(), why).Field(d.Field)
			if d.Object.Key == mesh.KindGrafanaDashboard {
				f.Fix("create a Grafana resource the grafana-operator manages, matched by the GrafanaDashboard's spec.instanceSelector")
			} else {
				f.Fixf("kubectl -n %s label configmap %s %s=1   # with the Grafana chart's dashboard sidecar: --set sidecar.dashboards.enabled=true\n# or mount it into Grafana:\n#   volumes: [{name: istio-dashboards, configMap: {name: %s}}]\n#   and a dashboards provider whose path is the mount", d.Object.Namespace, d.Object.Name, LabelGrafanaDashboard, d.Object.Name)
			}
			continue
		}
		_, why := provisioned(*okd)
		c.Pass(okd.Object, "%s provisioned: %q (%s), %s", mesh.IstioDashboardTitles[k], okd.Name(), okd.Where(), why)
	}
	return out, true
}
