package rules

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshready/meshready/internal/snapshot"
)

// typedContent turns a typed object into the maps the API server's JSON
// would give, without going through JSON text: Kubernetes types with
// apimachinery's unstructured converter, Istio's protobuf specs by
// walking them (field names and values as protojson writes them, except
// that 64-bit integers stay numbers).
func typedContent(o *snapshot.Object, t any) (map[string]any, error) {
	if spec, status, meta, ok := istioParts(t); ok {
		m := map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind}
		md, err := runtime.DefaultUnstructuredConverter.ToUnstructured(meta)
		if err != nil {
			return nil, fmt.Errorf("%s: metadata: %v", o.ID(), err)
		}
		m["metadata"] = dropNullMeta(md)
		m["spec"] = protoMap(spec.ProtoReflect())
		if status != nil && status.ProtoReflect().IsValid() {
			if st := protoMap(status.ProtoReflect()); len(st) > 0 {
				m["status"] = st
			}
		}
		return m, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", o.ID(), err)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		dropNullMeta(md)
	}
	if _, ok := m["apiVersion"].(string); !ok || m["apiVersion"] == "" {
		m["apiVersion"], m["kind"] = o.APIVersion, o.Kind
	}
	return m, nil
}

// dropNullMeta removes what typed objects write as null (an unset
// creationTimestamp): the API server leaves it out.
func dropNullMeta(m map[string]any) map[string]any {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		}
	}
	return m
}

// istioParts finds the protobuf Spec and Status of an istio.io/client-go object.
func istioParts(t any) (spec, status proto.Message, meta *metav1.ObjectMeta, ok bool) {
	v := reflect.ValueOf(t)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, nil, nil, false
	}
	v = v.Elem()
	f := v.FieldByName("Spec")
	if !f.IsValid() || !f.CanAddr() {
		return nil, nil, nil, false
	}
	if spec, ok = f.Addr().Interface().(proto.Message); !ok {
		return nil, nil, nil, false
	}
	if s := v.FieldByName("Status"); s.IsValid() && s.CanAddr() {
		status, _ = s.Addr().Interface().(proto.Message)
	}
	mf := v.FieldByName("ObjectMeta")
	if !mf.IsValid() || !mf.CanAddr() {
		return nil, nil, nil, false
	}
	meta, ok = mf.Addr().Interface().(*metav1.ObjectMeta)
	return spec, status, meta, ok
}

// protoMap walks a message into a map keyed by JSON field names.
func protoMap(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		out[fd.JSONName()] = protoField(fd, v)
		return true
	})
	return out
}

func protoField(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = protoScalar(fd, l.Get(i))
		}
		return out
	case fd.IsMap():
		out := map[string]any{}
		vd := fd.MapValue()
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out[k.String()] = protoScalar(vd, mv)
			return true
		})
		return out
	}
	return protoScalar(fd, v)
}

func protoScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if u := v.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
		return float64(v.Uint())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int64(v.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoMessage(v.Message())
	}
	return nil
}

// protoMessage converts a message, with the JSON forms of the well-known types.
func protoMessage(m protoreflect.Message) any {
	md := m.Descriptor()
	switch md.FullName() {
	case "google.protobuf.Duration":
		return formatDuration(m.Get(md.Fields().ByName("seconds")).Int(), m.Get(md.Fields().ByName("nanos")).Int())
	case "google.protobuf.Timestamp":
		secs, nanos := m.Get(md.Fields().ByName("seconds")).Int(), m.Get(md.Fields().ByName("nanos")).Int()
		return time.Unix(secs, nanos).UTC().Format(time.RFC3339Nano)
	case "google.protobuf.BoolValue", "google.protobuf.Int32Value", "google.protobuf.Int64Value",
		"google.protobuf.UInt32Value", "google.protobuf.UInt64Value", "google.protobuf.FloatValue",
		"google.protobuf.DoubleValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		fd := md.Fields().ByName("value")
		return protoScalar(fd, m.Get(fd))
	case "google.protobuf.Struct":
		out := map[string]any{}
		fd := md.Fields().ByName("fields")
		m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			out[k.String()] = protoMessage(v.Message())
			return true
		})
		return out
	case "google.protobuf.ListValue":
		l := m.Get(md.Fields().ByName("values")).List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = protoMessage(l.Get(i).Message())
		}
		return out
	case "google.protobuf.Value":
		od := m.WhichOneof(md.Oneofs().ByName("kind"))
		if od == nil {
			return nil
		}
		v := m.Get(od)
		switch od.Name() {
		case "null_value":
			return nil
		case "number_value":
			f := v.Float()
			if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return int64(f)
			}
			return f
		case "string_value":
			return v.String()
		case "bool_value":
			return v.Bool()
		}
		return protoMessage(v.Message())
	}
	return protoMap(m)
}

// formatDuration writes a Duration as protojson does: "30s", "1.500s".
func formatDuration(secs, nanos int64) string {
	s := fmt.Sprintf("%d", secs)
	if nanos < 0 || secs < 0 {
		if secs == 0 && nanos < 0 {
			s = "-0"
		}
		nanos = -nanos
	}
	if nanos != 0 {
		frac := fmt.Sprintf("%09d", nanos)
		frac = strings.TrimSuffix(frac, "000")
		frac = strings.TrimSuffix(frac, "000")
		s += "." + frac
	}
	return s + "s"
}
