package loader

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadBytes checks that no input makes the loader panic, and that every
// object it returns has an identity and a line.
func FuzzLoadBytes(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	jsonFiles, _ := filepath.Glob("testdata/*.json")
	for _, p := range append(files, jsonFiles...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(p), data)
	}
	f.Add("gen.yaml", genManifests(2))
	f.Add("x.yaml", []byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}}\n"))
	f.Add("x.yaml", []byte("a: &x [*x]\n"))
	// Explicit tags on values that do not fit them.
	f.Add("t.yaml", []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, labels: {a: !!bool x}}\nspec: {replicas: !!bool \"\", paused: !!bool \"\", minReadySeconds: !!float \"\"}\n"))
	f.Add("t.yaml", []byte("apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: e}\nspec: {configPatches: [{patch: {value: {a: !!bool \"\", b: !!float \".\", c: !!int x}}}]}\n"))
	f.Add("t.yaml", []byte("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {a: !!bool \"\", b: !!int \"x\", c: !!float \"\", d: !custom z}\n"))
	recoverPanics = false
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		objs, errs := LoadBytes(name, data)
		for _, o := range objs {
			if o.Kind == "" || o.Name == "" || o.APIVersion == "" || o.Key == "" {
				t.Fatalf("object without identity: %+v", o)
			}
			if o.Origin.Line < 1 || o.Origin.File != name {
				t.Fatalf("object without origin: %+v", o)
			}
		}
		for _, e := range errs {
			if e.Line < 0 || e.Message == "" || e.File != name {
				t.Fatalf("bad error %+v", e)
			}
		}
	})
}
