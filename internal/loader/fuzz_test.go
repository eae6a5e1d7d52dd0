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
