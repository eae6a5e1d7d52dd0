package loader

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestPBStructDecoders checks that every Istio spec meshready reads (and
// every message inside it) gets the direct struct decoder.
func TestPBStructDecoders(t *testing.T) {
	for key, spec := range kindSpecs {
		if spec.newObj == nil {
			continue
		}
		v := reflect.ValueOf(spec.newObj()).Elem()
		f := v.FieldByName("Spec")
		if !f.IsValid() || !reflect.PointerTo(f.Type()).Implements(reflect.TypeFor[proto.Message]()) {
			continue
		}
		if pbStructDecFor(f.Type()) == nil {
			t.Errorf("%s: no struct decoder for %s", key, f.Type())
		}
	}
	pbDecs.Range(func(k, v any) bool {
		if _, ok := v.(noPBStruct); ok {
			t.Errorf("%v: no struct decoder", k)
		}
		return true
	})
}
