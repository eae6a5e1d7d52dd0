package loader

import (
	"encoding/base64"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
)

// This file decodes protobuf messages by writing the fields of their
// generated Go structs directly (as code building &VirtualService{...}
// does), which is several times faster than going through protoreflect.
// The semantics are those of decode_proto.go (jsonpb's); the protoreflect
// decoder still handles the rare well-known types (Struct, Value, Any,
// Timestamp) and any message whose Go struct does not look generated.
// TestParityWithReference checks both against jsonpb.

type pbField struct {
	fd      protoreflect.FieldDescriptor
	index   int          // Go field index (the interface field for oneofs)
	wrapper reflect.Type // oneof members: the *Wrapper type; its field 0 holds the value
	dec     decFunc      // decodes a node into the Go value of the field (or wrapper field)
	id      int
}

type pbStructDec struct {
	fields map[string]*pbField
	n      int
}

var (
	pbDecs   sync.Map // reflect.Type (struct) -> *pbStructDec, or noPBStruct{}
	pbDecsMu sync.Mutex
)

type noPBStruct struct{}

// pbStructDecFor returns the struct decoder of a generated message type
// (the struct, not the pointer), or nil.
func pbStructDecFor(t reflect.Type) *pbStructDec {
	if v, ok := pbDecs.Load(t); ok {
		sd, _ := v.(*pbStructDec)
		return sd
	}
	pbDecsMu.Lock()
	defer pbDecsMu.Unlock()
	// Publish the decoders only once all are built (see builder).
	building := map[reflect.Type]*pbStructDec{}
	sd := buildPBStructDec(t, building)
	for t, sd := range building {
		if sd == nil {
			pbDecs.Store(t, noPBStruct{})
		} else {
			pbDecs.Store(t, sd)
		}
	}
	if sd == nil {
		pbDecs.Store(t, noPBStruct{})
	}
	return sd
}

func buildPBStructDec(t reflect.Type, building map[reflect.Type]*pbStructDec) (sd *pbStructDec) {
	if v, ok := pbDecs.Load(t); ok {
		sd, _ := v.(*pbStructDec)
		return sd
	}
	if sd, ok := building[t]; ok {
		return sd
	}
	defer func() {
		if r := recover(); r != nil {
			sd = nil // not a plain generated struct: protoreflect will do
		}
		if sd == nil {
			building[t] = nil
		}
	}()
	if t.Kind() != reflect.Struct || !reflect.PointerTo(t).Implements(protoMessageType) {
		return nil
	}
	msg := reflect.New(t)
	md := msg.Interface().(proto.Message).ProtoReflect().Descriptor()
	if planFor(md).wkt != wktNone {
		return nil
	}
	sd = &pbStructDec{fields: map[string]*pbField{}}
	building[t] = sd
	fds := md.Fields()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if oneof := f.Tag.Get("protobuf_oneof"); oneof != "" {
			od := md.Oneofs().ByName(protoreflect.Name(oneof))
			if od == nil {
				return nil
			}
			for j := 0; j < od.Fields().Len(); j++ {
				fd := od.Fields().Get(j)
				// Find the wrapper type by setting the member on a fresh message.
				m := reflect.New(t)
				mr := m.Interface().(proto.Message).ProtoReflect()
				mr.Set(fd, mr.NewField(fd))
				w := m.Elem().Field(i)
				if w.IsNil() {
					return nil
				}
				wt := w.Elem().Type()
				if wt.Kind() != reflect.Pointer || wt.Elem().Kind() != reflect.Struct || wt.Elem().NumField() != 1 {
					return nil
				}
				dec := pbValueDec(fd, wt.Elem().Field(0).Type, building)
				if dec == nil {
					return nil
				}
				sd.add(&pbField{fd: fd, index: i, wrapper: wt, dec: dec})
			}
			continue
		}
		tag := f.Tag.Get("protobuf")
		if tag == "" {
			continue
		}
		parts := strings.Split(tag, ",")
		if len(parts) < 2 {
			return nil
		}
		num, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil
		}
		fd := fds.ByNumber(protoreflect.FieldNumber(num))
		if fd == nil {
			return nil
		}
		dec := pbFieldDec(fd, f.Type, building)
		if dec == nil {
			return nil
		}
		sd.add(&pbField{fd: fd, index: i, dec: dec})
	}
	return sd
}

func (sd *pbStructDec) add(f *pbField) {
	f.id = sd.n
	sd.n++
	sd.fields[string(f.fd.Name())] = f
	sd.fields[f.fd.JSONName()] = f
}

// pbFieldDec decodes a whole field: list, map or single value.
func pbFieldDec(fd protoreflect.FieldDescriptor, t reflect.Type, building map[reflect.Type]*pbStructDec) decFunc {
	switch {
	case fd.IsList():
		if t.Kind() != reflect.Slice {
			return nil
		}
		elem := pbValueDec(fd, t.Elem(), building)
		if elem == nil {
			return nil
		}
		isMsg := fd.Message() != nil
		return func(d *decoder, n int32, v reflect.Value) error {
			nd := &d.t.nodes[n]
			if nd.kind != sequenceNode {
				return d.typeError(n, "sequence")
			}
			kids := d.t.children(n)
			s := reflect.MakeSlice(t, len(kids), len(kids))
			for i, k := range kids {
				ev := s.Index(i)
				if isMsg && d.isNull(k) {
					ev.Set(reflect.New(t.Elem().Elem()))
					continue
				}
				if err := elem(d, k, ev); err != nil {
					return atIndex(err, i)
				}
			}
			v.Set(s)
			return nil
		}
	case fd.IsMap():
		if t.Kind() != reflect.Map {
			return nil
		}
		kfd, vfd := fd.MapKey(), fd.MapValue()
		elem := pbValueDec(vfd, t.Elem(), building)
		if elem == nil {
			return nil
		}
		kt := t.Key()
		isMsg := vfd.Message() != nil
		return func(d *decoder, n int32, v reflect.Value) error {
			nd := &d.t.nodes[n]
			if nd.kind != mappingNode {
				return d.typeError(n, "mapping")
			}
			kids := d.t.children(n)
			if v.IsNil() {
				v.Set(reflect.MakeMapWithSize(t, len(kids)/2))
			}
			for i := 0; i+1 < len(kids); i += 2 {
				key, err := d.keyOf(kids[i])
				if err != nil {
					return err
				}
				mk, err := d.protoMapKey(kids[i], key, kfd)
				if err != nil {
					return err
				}
				kv := reflect.ValueOf(mk.Interface()).Convert(kt)
				if v.MapIndex(kv).IsValid() {
					return d.errorf(kids[i], "duplicate key %q", key)
				}
				ev := reflect.New(t.Elem()).Elem()
				if isMsg && d.isNull(kids[i+1]) {
					ev.Set(reflect.New(t.Elem().Elem()))
				} else if err := elem(d, kids[i+1], ev); err != nil {
					return atKey(err, key)
				}
				v.SetMapIndex(kv, ev)
			}
			return nil
		}
	}
	return pbValueDec(fd, t, building)
}

var durationPtrType = reflect.TypeFor[*durationpb.Duration]()

// pbValueDec decodes one value (a list element, a map value, a singular
// field) of kind fd.Kind() into a Go value of type t.
func pbValueDec(fd protoreflect.FieldDescriptor, t reflect.Type, building map[reflect.Type]*pbStructDec) decFunc {
	if fd.Message() != nil {
		if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			return nil
		}
		et := t.Elem()
		if t == durationPtrType {
			return decPBDuration
		}
		if planFor(fd.Message()).wkt != wktNone {
			// Wrappers and the other well-known types: through protoreflect.
			return func(d *decoder, n int32, v reflect.Value) error {
				p := reflect.New(et)
				if err := d.decodeMessage(n, p.Interface().(proto.Message).ProtoReflect()); err != nil {
					return err
				}
				v.Set(p)
				return nil
			}
		}
		sub := buildPBStructDec(et, building)
		if sub == nil {
			return func(d *decoder, n int32, v reflect.Value) error {
				p := reflect.New(et)
				if err := d.decodeMessage(n, p.Interface().(proto.Message).ProtoReflect()); err != nil {
					return err
				}
				v.Set(p)
				return nil
			}
		}
		return func(d *decoder, n int32, v reflect.Value) error {
			p := reflect.New(et)
			if err := sub.decode(d, n, p.Elem()); err != nil {
				return err
			}
			v.Set(p)
			return nil
		}
	}
	if t.Kind() == reflect.Pointer {
		// proto3 `optional` scalars.
		inner := pbValueDec(fd, t.Elem(), building)
		if inner == nil {
			return nil
		}
		return func(d *decoder, n int32, v reflect.Value) error {
			p := reflect.New(t.Elem())
			if err := inner(d, n, p.Elem()); err != nil {
				return err
			}
			v.Set(p)
			return nil
		}
	}
	want := map[protoreflect.Kind]reflect.Kind{
		protoreflect.BoolKind: reflect.Bool, protoreflect.StringKind: reflect.String, protoreflect.BytesKind: reflect.Slice,
		protoreflect.Int32Kind: reflect.Int32, protoreflect.Sint32Kind: reflect.Int32, protoreflect.Sfixed32Kind: reflect.Int32,
		protoreflect.Int64Kind: reflect.Int64, protoreflect.Sint64Kind: reflect.Int64, protoreflect.Sfixed64Kind: reflect.Int64,
		protoreflect.Uint32Kind: reflect.Uint32, protoreflect.Fixed32Kind: reflect.Uint32,
		protoreflect.Uint64Kind: reflect.Uint64, protoreflect.Fixed64Kind: reflect.Uint64,
		protoreflect.FloatKind: reflect.Float32, protoreflect.DoubleKind: reflect.Float64, protoreflect.EnumKind: reflect.Int32,
	}[fd.Kind()]
	if want == reflect.Invalid || t.Kind() != want {
		return nil
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return func(d *decoder, n int32, v reflect.Value) error {
			nd := &d.t.nodes[n]
			if nd.kind != scalarNode {
				return d.typeError(n, "string")
			}
			switch nd.tag {
			case tagNull:
				return nil
			case tagInt, tagFloat, tagBool:
				return d.typeError(n, "string")
			}
			v.SetString(d.s(nd.value))
			return nil
		}
	case protoreflect.BoolKind:
		return func(d *decoder, n int32, v reflect.Value) error {
			if d.isNull(n) {
				return nil
			}
			b, ok := d.boolValue(n)
			if !ok {
				return d.typeError(n, "bool")
			}
			v.SetBool(b)
			return nil
		}
	case protoreflect.BytesKind:
		return func(d *decoder, n int32, v reflect.Value) error {
			nd := &d.t.nodes[n]
			if nd.kind != scalarNode || nd.tag == tagInt || nd.tag == tagFloat || nd.tag == tagBool {
				return d.typeError(n, "base64 string")
			}
			if nd.tag == tagNull {
				return nil
			}
			b, err := base64.StdEncoding.DecodeString(nd.value)
			if err != nil {
				return d.errorf(n, "invalid base64 data: %v", err)
			}
			v.SetBytes(b)
			return nil
		}
	case protoreflect.EnumKind:
		return func(d *decoder, n int32, v reflect.Value) error {
			val, err := d.protoScalar(n, fd)
			if err != nil {
				return err
			}
			v.SetInt(int64(val.Enum()))
			return nil
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		return func(d *decoder, n int32, v reflect.Value) error {
			f, err := d.protoFloat(n, bits)
			if err != nil {
				return err
			}
			v.SetFloat(f)
			return nil
		}
	}
	signed := want == reflect.Int32 || want == reflect.Int64
	bits := 64
	if want == reflect.Int32 || want == reflect.Uint32 {
		bits = 32
	}
	return func(d *decoder, n int32, v reflect.Value) error {
		i, u, err := d.protoInt(n, signed, bits)
		if err != nil {
			return err
		}
		if signed {
			v.SetInt(i)
		} else {
			v.SetUint(u)
		}
		return nil
	}
}

func decPBDuration(d *decoder, n int32, v reflect.Value) error {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode || nd.tag == tagInt || nd.tag == tagFloat || nd.tag == tagBool {
		return d.errorf(n, "invalid duration %s: write it as a string such as \"5s\" or \"100ms\"", d.describe(n))
	}
	secs, nanos, ok := parseProtoDuration(nd.value)
	if !ok {
		return d.errorf(n, "invalid duration %q", nd.value)
	}
	v.Set(reflect.ValueOf(&durationpb.Duration{Seconds: secs, Nanos: nanos}))
	return nil
}

func (sd *pbStructDec) decode(d *decoder, n int32, v reflect.Value) error {
	nd := &d.t.nodes[n]
	if nd.kind != mappingNode {
		if nd.kind == scalarNode && nd.tag == tagNull {
			return nil
		}
		return d.typeError(n, "mapping")
	}
	var seenSmall [2]uint64
	var seenBig map[int]bool
	kids := d.t.children(n)
	for i := 0; i+1 < len(kids); i += 2 {
		key, err := d.keyOf(kids[i])
		if err != nil {
			return err
		}
		f := sd.fields[key]
		if f == nil {
			continue // unknown fields are ignored, as Istio's decoder does
		}
		if f.id < 128 {
			bit := uint64(1) << (f.id % 64)
			if seenSmall[f.id/64]&bit != 0 {
				return d.errorf(kids[i], "duplicate key %q", key)
			}
			seenSmall[f.id/64] |= bit
		} else {
			if seenBig == nil {
				seenBig = map[int]bool{}
			}
			if seenBig[f.id] {
				return d.errorf(kids[i], "duplicate key %q", key)
			}
			seenBig[f.id] = true
		}
		val := kids[i+1]
		if d.isNull(val) {
			if md := f.fd.Message(); md == nil || md.FullName() != "google.protobuf.Value" || f.fd.IsList() || f.fd.IsMap() {
				continue
			}
		}
		fv := v.Field(f.index)
		if f.wrapper != nil {
			w := reflect.New(f.wrapper.Elem())
			if err := f.dec(d, val, w.Elem().Field(0)); err != nil {
				return atKey(err, key)
			}
			fv.Set(w)
			continue
		}
		if err := f.dec(d, val, fv); err != nil {
			return atKey(err, key)
		}
	}
	return nil
}
