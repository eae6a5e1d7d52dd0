package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParityWithReference decodes every testdata manifest with the fast
// path and the reference path and requires equal objects.
func TestParityWithReference(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	jsonFiles, _ := filepath.Glob("testdata/*.json")
	files = append(files, jsonFiles...)
	if len(files) < 5 {
		t.Fatalf("testdata missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			objs, errs := LoadBytes(f, data)
			for _, e := range errs {
				t.Errorf("fast path error: %v", e)
			}
			ref, err := decodeSlow(data, strings.HasSuffix(f, ".json"))
			if err != nil {
				t.Fatalf("reference path: %v", err)
			}
			if len(objs) != len(ref) {
				t.Fatalf("fast path gave %d objects, reference %d", len(objs), len(ref))
			}
			typed := 0
			for i, o := range objs {
				r := ref[i]
				if o.Key != r.key || o.Namespace != r.ns || o.Name != r.name {
					t.Errorf("object %d: fast %s %s/%s, reference %s %s/%s", i, o.Key, o.Namespace, o.Name, r.key, r.ns, r.name)
					continue
				}
				if (o.Typed == nil) != (r.typed == nil) {
					t.Errorf("%s: typed %T vs reference %T", o.ID(), o.Typed, r.typed)
					continue
				}
				if o.Typed == nil {
					continue
				}
				typed++
				if !typedEqual(o.Typed, r.typed) {
					t.Errorf("%s (%s) differs from the reference\nfast:\n%s\nreference:\n%s", o.ID(), o.Origin, jsonOf(o.Typed), jsonOf(r.typed))
				}
			}
			if typed == 0 {
				t.Errorf("no typed objects compared")
			}
		})
	}
}
