package loader

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"
	istionetv1 "istio.io/client-go/pkg/apis/networking/v1"
	istiosecv1 "istio.io/client-go/pkg/apis/security/v1"
	istiotelv1 "istio.io/client-go/pkg/apis/telemetry/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshready/meshready/internal/loader/monitoring"
	"github.com/meshready/meshready/internal/snapshot"
)

type wantObj struct {
	id   string
	line int
}

func ids(objs []*snapshot.Object) []wantObj {
	var out []wantObj
	for _, o := range objs {
		out = append(out, wantObj{o.ID(), o.Origin.Line})
	}
	return out
}

func errStrings(errs []snapshot.InputError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestLines(t *testing.T) {
	cases := []struct {
		name string
		file string
		src  string
		want []wantObj
	}{
		{"multi-doc", "a.yaml", `# leading comment

apiVersion: v1
kind: Service
metadata:
  name: a
---
---
# comment only
---


apiVersion: v1
kind: Service
metadata: {name: b, namespace: x}
--- # marker with comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
...
`, nil}, // filled below: "..." makes yaml.v3 read the file whole
		{"multi-doc-plain", "a.yaml", `# leading comment

apiVersion: v1
kind: Service
metadata:
  name: a
---
---
# comment only
---


apiVersion: v1
kind: Service
metadata: {name: b, namespace: x}
--- # marker with comment
metadata:
  name: c
kind: ConfigMap
apiVersion: v1
`, []wantObj{{"Service/default/a", 3}, {"Service/x/b", 13}, {"ConfigMap/default/c", 17}}},
		{"list-items", "l.yaml", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: s1
-
  apiVersion: v1
  kind: Service
  metadata:
    name: s2
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c1}}
---
apiVersion: v1
kind: ConfigMapList
items:
- metadata:
    name: c2
    namespace: n
`, []wantObj{{"Service/default/s1", 4}, {"Service/default/s2", 9}, {"ConfigMap/default/c1", 13}, {"ConfigMap/n/c2", 18}}},
		{"json", "x.json", `{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}},
    {
      "apiVersion": "v1",
      "kind": "Namespace",
      "metadata": {"name": "ns1", "namespace": "ignored"}
    }
  ]
}`, []wantObj{{"Service/default/a", 5}, {"Namespace/ns1", 6}}},
		{"json-in-yaml-file", "j.yaml", "---\n{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n \"metadata\": {\"name\": \"a\"}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n",
			[]wantObj{{"Service/default/a", 2}, {"Service/default/b", 5}}},
		{"crlf", "w.yaml", "apiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: a\r\n---\r\napiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: b\r\n",
			[]wantObj{{"Service/default/a", 1}, {"Service/default/b", 6}}},
		{"anchors-fallback", "y.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &l {app: x}\n  annotations: *l\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
			[]wantObj{{"ConfigMap/default/a", 1}, {"ConfigMap/default/b", 8}}},
	}
	cases[0].want = []wantObj{{"Service/default/a", 3}, {"Service/x/b", 13}, {"ConfigMap/default/c", 17}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, errs := LoadBytes(c.file, []byte(c.src))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errStrings(errs))
			}
			if got := ids(objs); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v\nwant %v", got, c.want)
			}
			for _, o := range objs {
				if o.Origin.File != c.file {
					t.Errorf("%s: file %q", o.ID(), o.Origin.File)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name     string
		src      string
		wantObjs []string
		wantErrs []string // substrings, in order, each with its "file:line: "
	}{
		{"malformed YAML, rest still read", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: [oops\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: c\n",
			[]string{"Service/default/a", "Service/default/c"}, []string{"f.yaml:7: invalid YAML:"}},
		{"bad indentation", "apiVersion: v1\nkind: Service\nmetadata:\n    name: a\n  labels: {}\n",
			nil, []string{"f.yaml:5: invalid YAML:"}},
		{"tab indentation", "apiVersion: v1\nkind: Service\nmetadata:\n\tname: a\n",
			nil, []string{"f.yaml:4: invalid YAML: found character that cannot start any token"}},
		{"not a mapping", "- a\n- b\n---\njust a string\n",
			nil, []string{"f.yaml:1: document is not a mapping (found a sequence)", "f.yaml:4: document is not a mapping (found a scalar)"}},
		{"missing apiVersion and kind", "metadata:\n  name: a\n", nil, []string{"f.yaml:1: missing apiVersion and kind"}},
		{"missing apiVersion", "kind: Service\nmetadata:\n  name: a\n", nil, []string{"f.yaml:1: Service: missing apiVersion"}},
		{"missing kind", "\napiVersion: v1\nmetadata:\n  name: a\n", nil, []string{"f.yaml:2: missing kind (apiVersion v1)"}},
		{"missing name", "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\n", nil, []string{"f.yaml:1: Service: missing metadata.name"}},
		{"missing name in list item", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: ok\n- apiVersion: v1\n  kind: Service\n  metadata: {}\n- 42\n",
			[]string{"Service/default/ok"}, []string{"f.yaml:8: Service: missing metadata.name", "f.yaml:11: List item 2 is not a mapping (found a scalar)"}},
		{"duplicate", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: default\n",
			[]string{"Service/default/a"}, []string{"f.yaml:6: duplicate Service default/a: already defined at f.yaml:1; this one is ignored"}},
		{"same name, other kind or namespace", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: b\n",
			[]string{"Service/default/a", "ConfigMap/default/a", "Service/b/a"}, nil},
		{"typed decode failure keeps the object untyped", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\nspec:\n  http:\n  - route:\n    - destination:\n        host: a\n    timeout: abc\n",
			[]string{"VirtualService/default/vs"}, []string{`f.yaml:10: VirtualService/default/vs: spec.http[0].timeout: invalid duration "abc"`}},
		{"bad enum", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: p\nspec:\n  mtls:\n    mode: STRICTEST\n",
			[]string{"PeerAuthentication/default/p"}, []string{`f.yaml:7: PeerAuthentication/default/p: spec.mtls.mode: unknown value "STRICTEST" for Mode`}},
		{"wrong type in k8s struct", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: three\n",
			[]string{"Deployment/default/d"}, []string{`f.yaml:6: Deployment/default/d: spec.replicas: expected integer, got string "three"`}},
		{"bad quantity", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    resources:\n      limits:\n        cpu: lots\n",
			[]string{"Pod/default/p"}, []string{`f.yaml:10: Pod/default/p: spec.containers[0].resources.limits.cpu: invalid quantity "lots"`}},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: x\n  a: y\n",
			[]string{"ConfigMap/default/c"}, []string{`f.yaml:7: ConfigMap/default/c: data: duplicate key "a"`}},
		{"empty and comment-only documents are skipped", "---\n---\n# nothing\n---\n\n---\n~\n", nil, nil},
		{"unknown kind kept untyped", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  labels: {a: b}\nspec:\n  anything: [1, 2]\n",
			[]string{"Widget/default/w"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, errs := LoadBytes("f.yaml", []byte(c.src))
			var got []string
			for _, o := range objs {
				got = append(got, o.ID())
			}
			if !reflect.DeepEqual(got, c.wantObjs) {
				t.Errorf("objects: got %v, want %v", got, c.wantObjs)
			}
			es := errStrings(errs)
			if len(es) != len(c.wantErrs) {
				t.Fatalf("errors: got %q, want %q", es, c.wantErrs)
			}
			for i, w := range c.wantErrs {
				if !strings.HasPrefix(es[i], w) {
					t.Errorf("error %d: got %q, want prefix %q", i, es[i], w)
				}
			}
			for _, o := range objs {
				if o.Origin.Line < 1 || o.Name == "" || o.Kind == "" {
					t.Errorf("bad object %+v", o)
				}
			}
		})
	}
	t.Run("untyped on decode failure", func(t *testing.T) {
		objs, _ := LoadBytes("f.yaml", []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\n  labels: {app: x}\nspec:\n  http:\n  - timeout: abc\n"))
		if len(objs) != 1 || objs[0].Typed != nil {
			t.Fatalf("want one untyped object, got %+v", objs)
		}
		if objs[0].Labels["app"] != "x" {
			t.Errorf("labels of an untyped object: %v", objs[0].Labels)
		}
	})
}

func TestNamespaces(t *testing.T) {
	src := `apiVersion: v1
kind: Namespace
metadata:
  name: ns
  namespace: ignored
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: inj
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: dr
spec:
  host: a
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
`
	objs, errs := LoadBytes("f.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errStrings(errs))
	}
	want := []string{"", "", "default", "default"}
	for i, o := range objs {
		if o.Namespace != want[i] {
			t.Errorf("%s: namespace %q, want %q", o.ID(), o.Namespace, want[i])
		}
	}
	if ns := objs[2].Typed.(*istionetv1.DestinationRule).Namespace; ns != "default" {
		t.Errorf("typed namespace %q", ns)
	}
	if ns := objs[0].Typed.(*corev1.Namespace).Namespace; ns != "" {
		t.Errorf("typed namespace of a Namespace %q", ns)
	}
	if md := objs[3].Typed.(map[string]any)["metadata"].(map[string]any); md["namespace"] != "default" {
		t.Errorf("map namespace %v", md["namespace"])
	}
}

// stringsIn collects every string and byte slice reachable from v.
func stringsIn(v reflect.Value, visit func(string)) {
	switch v.Kind() {
	case reflect.String:
		visit(v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			stringsIn(v.Elem(), visit)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			stringsIn(v.Field(i), visit)
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			visit(string(v.Bytes()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			stringsIn(v.Index(i), visit)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			stringsIn(it.Key(), visit)
			stringsIn(it.Value(), visit)
		}
	}
}

func TestSecretValuesNeverKept(t *testing.T) {
	data, err := os.ReadFile("testdata/secrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"czNjcjN0LXZhbHVlLTEyMzQ=", "s3cr3t-value-1234", "pl41nt3xt-t0k3n-5678", "Y2VydC1ieXRlcy1hYmNkZWY=", "cert-bytes-abcdef", "a2V5LWJ5dGVzLWdoaWprbA==", "key-bytes-ghijkl"}
	for _, name := range []string{"secrets.yaml", "secrets.json"} {
		t.Run(name, func(t *testing.T) {
			src := data
			if strings.HasSuffix(name, ".json") {
				src = []byte(`{"apiVersion":"v1","kind":"SecretList","items":[{"metadata":{"name":"db","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"czNjcjN0LXZhbHVlLTEyMzQ=\"}}"}},"data":{"password":"czNjcjN0LXZhbHVlLTEyMzQ="},"stringData":{"token":"pl41nt3xt-t0k3n-5678"}}]}`)
			}
			objs, errs := LoadBytes(name, src)
			if len(errs) > 0 {
				t.Fatal(errStrings(errs))
			}
			if len(objs) == 0 {
				t.Fatal("no objects")
			}
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(src)))
			hi := lo + uintptr(len(src))
			for _, o := range objs {
				s, ok := o.Typed.(*corev1.Secret)
				if !ok {
					t.Fatalf("%s: typed %T", o.ID(), o.Typed)
				}
				if s.Data != nil || s.StringData != nil {
					t.Errorf("%s: data kept", o.ID())
				}
				if _, ok := o.Annotations[lastApplied]; ok {
					t.Errorf("%s: last-applied annotation kept", o.ID())
				}
				stringsIn(reflect.ValueOf(o), func(s string) {
					for _, sec := range secrets {
						if strings.Contains(s, sec) {
							t.Errorf("%s: secret value %q found in %q", o.ID(), sec, s)
						}
					}
					if len(s) > 0 {
						if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p >= lo && p < hi {
							t.Errorf("%s: string %q points into the input", o.ID(), s)
						}
					}
				})
			}
			if objs[0].Typed.(*corev1.Secret).Name != "db" {
				t.Errorf("metadata not decoded")
			}
		})
	}
}

func TestIstioVersionsDecodeAlike(t *testing.T) {
	specs := map[string]string{
		"VirtualService":        "hosts: [a]\n  http:\n  - timeout: 5s\n    retries: {attempts: 2, perTryTimeout: 100ms}\n    route:\n    - destination: {host: a, subset: v1}\n      weight: 100\n",
		"DestinationRule":       "host: a\n  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 3, interval: 1s}\n  subsets:\n  - name: v1\n    labels: {version: v1}\n",
		"Gateway":               "selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ['*']\n    tls: {mode: SIMPLE, credentialName: c}\n",
		"ServiceEntry":          "hosts: [x.com]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  resolution: DNS\n",
		"Sidecar":               "egress:\n  - hosts: ['./*']\n",
		"WorkloadEntry":         "address: 1.2.3.4\n  labels: {app: a}\n",
		"WorkloadGroup":         "template: {serviceAccount: sa}\n",
		"PeerAuthentication":    "mtls: {mode: STRICT}\n  portLevelMtls: {8080: {mode: DISABLE}}\n",
		"AuthorizationPolicy":   "action: DENY\n  rules:\n  - from: [{source: {namespaces: [x]}}]\n",
		"RequestAuthentication": "jwtRules: [{issuer: i, jwksUri: 'https://x'}]\n",
		"Telemetry":             "tracing: [{randomSamplingPercentage: 1.5}]\n",
	}
	groups := map[string][]string{
		"networking.istio.io": {"v1", "v1beta1", "v1alpha3"},
		"security.istio.io":   {"v1", "v1beta1"},
		"telemetry.istio.io":  {"v1", "v1alpha1"},
	}
	groupOf := func(kind string) string {
		switch kind {
		case "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication":
			return "security.istio.io"
		case "Telemetry":
			return "telemetry.istio.io"
		}
		return "networking.istio.io"
	}
	for kind, spec := range specs {
		t.Run(kind, func(t *testing.T) {
			var first *snapshot.Object
			for _, v := range groups[groupOf(kind)] {
				src := "apiVersion: " + groupOf(kind) + "/" + v + "\nkind: " + kind + "\nmetadata:\n  name: x\nspec:\n  " + spec
				objs, errs := LoadBytes("f.yaml", []byte(src))
				if len(errs) > 0 || len(objs) != 1 {
					t.Fatalf("%s: %v", v, errStrings(errs))
				}
				o := objs[0]
				if o.Typed == nil {
					t.Fatalf("%s: not typed", v)
				}
				if first == nil {
					first = o
					continue
				}
				if reflect.TypeOf(o.Typed) != reflect.TypeOf(first.Typed) {
					t.Fatalf("%s decodes to %T, %s to %T", v, o.Typed, first.APIVersion, first.Typed)
				}
				a := reflect.ValueOf(o.Typed).Elem().FieldByName("Spec").Addr().Interface().(proto.Message)
				b := reflect.ValueOf(first.Typed).Elem().FieldByName("Spec").Addr().Interface().(proto.Message)
				if !proto.Equal(a, b) {
					t.Errorf("%s spec differs from %s", v, first.APIVersion)
				}
				if o.Key != first.Key {
					t.Errorf("key %s vs %s", o.Key, first.Key)
				}
			}
		})
	}
}

func TestTypedValues(t *testing.T) {
	read := func(t *testing.T, f string) map[string]*snapshot.Object {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, errs := LoadBytes(f, data)
		if len(errs) > 0 {
			t.Fatal(errStrings(errs))
		}
		m := map[string]*snapshot.Object{}
		for _, o := range objs {
			m[o.ID()] = o
		}
		return m
	}
	net := read(t, "testdata/istio-networking.yaml")
	vs := net["VirtualService/bookinfo/reviews"].Typed.(*istionetv1.VirtualService)
	if got := vs.Spec.Http[0].Retries.PerTryTimeout.AsDuration().String(); got != "500ms" {
		t.Errorf("perTryTimeout %s", got)
	}
	if got := vs.Spec.Http[2].Timeout.AsDuration().String(); got != "1m30s" {
		t.Errorf("timeout %s", got)
	}
	if vs.Spec.Http[0].Route[1].Weight != 80 || !vs.Spec.Http[0].Retries.RetryRemoteLocalities.GetValue() {
		t.Errorf("route/retries not decoded: %v", vs.Spec.Http[0])
	}
	sec := read(t, "testdata/istio-security.yaml")
	pa := sec["PeerAuthentication/finance/finance"].Typed.(*istiosecv1.PeerAuthentication)
	if pa.Spec.PortLevelMtls[8080].GetMode().String() != "DISABLE" || pa.Spec.PortLevelMtls[9090].GetMode().String() != "PERMISSIVE" {
		t.Errorf("portLevelMtls %v", pa.Spec.PortLevelMtls)
	}
	tel := read(t, "testdata/telemetry.yaml")
	tm := tel["Telemetry/istio-system/mesh-default"].Typed.(*istiotelv1.Telemetry)
	if tm.Spec.Tracing[0].RandomSamplingPercentage.GetValue() != 10.5 {
		t.Errorf("sampling %v", tm.Spec.Tracing[0].RandomSamplingPercentage)
	}
	w := read(t, "testdata/workloads.yaml")
	dep := w["Deployment/bookinfo/reviews-v1"].Typed.(*appsv1.Deployment)
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Resources.Requests.Cpu().MilliValue() != 250 || c.ReadinessProbe.HTTPGet.Port != intstr.FromString("http") {
		t.Errorf("container %v", c)
	}
	if *dep.Spec.Strategy.RollingUpdate.MaxUnavailable != intstr.FromString("25%") || *dep.Spec.Strategy.RollingUpdate.MaxSurge != intstr.FromInt32(1) {
		t.Errorf("strategy %v", dep.Spec.Strategy)
	}
	if dep.Spec.Template.Annotations["proxy.istio.io/config"] != "holdApplicationUntilProxyStarts: true\nterminationDrainDuration: 30s\n" {
		t.Errorf("block scalar %q", dep.Spec.Template.Annotations["proxy.istio.io/config"])
	}
	hpa := w["HorizontalPodAutoscaler/bookinfo/ratings"].Typed.(*autoscalingv2.HorizontalPodAutoscaler)
	if len(hpa.Spec.Metrics) != 1 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
		t.Errorf("v1 HPA not converted: %+v", hpa.Spec)
	}
	pdb := w["PodDisruptionBudget/bookinfo/reviews"].Typed.(*policyv1.PodDisruptionBudget)
	if *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
		t.Errorf("pdb %v", pdb.Spec)
	}
	cm := w["ConfigMap/istio-system/istio"].Typed.(*corev1.ConfigMap)
	if !strings.Contains(cm.Data["mesh"], "discoveryAddress: istiod.istio-system.svc:15012") || string(cm.BinaryData["blob"]) != "hello world" {
		t.Errorf("configmap %v", cm.Data)
	}
	mon := read(t, "testdata/monitoring.yaml")
	pr := mon["PrometheusRule/monitoring/istio-rules"].Typed.(*monitoring.PrometheusRule)
	if r := pr.Spec.Groups[0].Rules; len(r) != 3 || r[2].Expr != "1" || r[1].For != "10m" || r[1].Labels["severity"] != "critical" {
		t.Errorf("rules %+v", r)
	}
	pm := mon["PodMonitor/monitoring/envoy-stats"].Typed.(*monitoring.PodMonitor)
	if !pm.Spec.NamespaceSelector.Any || pm.Spec.PodMetricsEndpoints[0].Port != "http-envoy-prom" {
		t.Errorf("podmonitor %+v", pm.Spec)
	}
	if o := w["Namespace/bookinfo"]; o.Labels["istio-injection"] != "enabled" {
		t.Errorf("labels %v", o.Labels)
	}
}

func TestDurations(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"5s", "5s", ""}, {"1.5s", "1.5s", ""}, {"100ms", "100ms", ""}, {"1m30s", "1m30s", ""}, {"0s", "0s", ""},
		{"abc", "", `invalid duration "abc"`}, {"5", "", "invalid duration int"}, {"1d", "", `invalid duration "1d"`},
	} {
		t.Run(c.in, func(t *testing.T) {
			src := "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: v\nspec:\n  http:\n  - timeout: " + c.in + "\n"
			objs, errs := LoadBytes("f.yaml", []byte(src))
			if c.err != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Message, c.err) || errs[0].Line != 7 {
					t.Fatalf("errors %v, want %q at line 7", errStrings(errs), c.err)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errStrings(errs))
			}
			if got := objs[0].Typed.(*istionetv1.VirtualService).Spec.Http[0].Timeout.AsDuration().String(); got != c.want {
				t.Errorf("got %s", got)
			}
		})
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	svc := func(name string) string { return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n" }
	write("b.yaml", svc("b"))
	write("a.yml", svc("a"))
	write("sub/c.json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"c"}}`)
	write("sub/deeper/d.YAML", svc("d"))
	write(".hidden/e.yaml", svc("e"))
	write("sub/.f.yaml", svc("f"))
	write("notes.txt", svc("g"))
	write("z.yaml", "kind: [broken\n")

	objs, errs, err := Load([]string{dir, "-"}, strings.NewReader(svc("stdin")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Name+"@"+filepath.Base(o.Origin.File))
	}
	want := []string{"a@a.yml", "b@b.yaml", "c@c.json", "d@d.YAML", "stdin@" + StdinName}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(errs) != 1 || !strings.HasSuffix(errs[0].File, "z.yaml") || errs[0].Line != 1 {
		t.Errorf("errors %v", errStrings(errs))
	}

	// A file named explicitly is read whatever its name; a path given twice is read once.
	objs, _, err = Load([]string{filepath.Join(dir, "notes.txt"), filepath.Join(dir, "notes.txt")}, nil)
	if err != nil || len(objs) != 1 {
		t.Errorf("explicit file: %v %v", objs, err)
	}
	if _, _, err := Load([]string{filepath.Join(dir, "missing.yaml")}, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
}

func TestDeterministicOrder(t *testing.T) {
	for _, data := range [][]byte{genManifests(300), genList(300)} {
		testDeterministicOrder(t, data)
	}
}

func testDeterministicOrder(t *testing.T, data []byte) {
	a, errs := LoadBytes("g.yaml", data)
	if len(errs) > 0 || len(a) != 1500 {
		t.Fatalf("%d objects, errors %v", len(a), errStrings(errs))
	}
	for i := 0; i < 3; i++ {
		b, _ := LoadBytes("g.yaml", data)
		if !reflect.DeepEqual(ids(a), ids(b)) {
			t.Fatal("order differs between runs")
		}
	}
	for i := 1; i < len(a); i++ {
		if a[i].Origin.Line <= a[i-1].Origin.Line {
			t.Fatalf("not in input order at %d", i)
		}
	}
}
