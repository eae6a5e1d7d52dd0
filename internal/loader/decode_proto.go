package loader

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The proto decoder fills Istio specs (protobuf messages) from nodes through
// protoreflect, with the semantics of the JSON decoder the Istio types'
// UnmarshalJSON use (github.com/golang/protobuf/jsonpb, legacy mode, unknown
// fields allowed): fields by JSON or proto name; enums by name or number;
// integers also from quoted strings; Duration in Go syntax ("1.5s",
// "100ms", "1m30s"); wrappers as plain scalars; Struct/Value/ListValue from
// any YAML; Any with "@type". Unknown fields are ignored; duplicate keys are
// errors.

type wktKind uint8

const (
	wktNone wktKind = iota
	wktDuration
	wktTimestamp
	wktWrapper
	wktStruct
	wktValue
	wktListValue
	wktAny
)

type msgPlan struct {
	fields map[string]*protoField
	wkt    wktKind
}

// protoField is a field of a message plan, with the plan of its message
// type (or map value / list element message type), found on first use.
type protoField struct {
	fd  protoreflect.FieldDescriptor
	sub atomic.Pointer[msgPlan]
}

func (f *protoField) plan() *msgPlan {
	if p := f.sub.Load(); p != nil {
		return p
	}
	md := f.fd.Message()
	if f.fd.IsMap() {
		md = f.fd.MapValue().Message()
	}
	p := planFor(md)
	f.sub.Store(p)
	return p
}

var msgPlans sync.Map // protoreflect.MessageDescriptor -> *msgPlan

func planFor(md protoreflect.MessageDescriptor) *msgPlan {
	if p, ok := msgPlans.Load(md); ok {
		return p.(*msgPlan)
	}
	p := &msgPlan{fields: map[string]*protoField{}}
	switch md.FullName() {
	case "google.protobuf.Duration":
		p.wkt = wktDuration
	case "google.protobuf.Timestamp":
		p.wkt = wktTimestamp
	case "google.protobuf.BoolValue", "google.protobuf.BytesValue", "google.protobuf.StringValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value", "google.protobuf.FloatValue",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value", "google.protobuf.DoubleValue":
		p.wkt = wktWrapper
	case "google.protobuf.Struct":
		p.wkt = wktStruct
	case "google.protobuf.Value":
		p.wkt = wktValue
	case "google.protobuf.ListValue":
		p.wkt = wktListValue
	case "google.protobuf.Any":
		p.wkt = wktAny
	}
	fds := md.Fields()
	for i := 0; i < fds.Len(); i++ {
		f := &protoField{fd: fds.Get(i)}
		p.fields[string(f.fd.Name())] = f
		p.fields[f.fd.JSONName()] = f
	}
	msgPlans.Store(md, p)
	return p
}

func (d *decoder) decodeMessage(n int32, m protoreflect.Message) error {
	return d.decodeMessagePlan(n, m, planFor(m.Descriptor()))
}

func (d *decoder) decodeMessagePlan(n int32, m protoreflect.Message, plan *msgPlan) error {
	if plan.wkt != wktNone {
		return d.decodeWKT(n, m, plan.wkt)
	}
	nd := &d.t.nodes[n]
	if nd.kind != mappingNode {
		if nd.kind == scalarNode && nd.tag == tagNull {
			return nil
		}
		return d.typeError(n, "mapping")
	}
	kids := d.t.children(n)
	var seenSmall uint64
	var seenBig map[protoreflect.FieldNumber]bool
	for i := 0; i+1 < len(kids); i += 2 {
		key, err := d.keyOf(kids[i])
		if err != nil {
			return err
		}
		pf := plan.fields[key]
		if pf == nil {
			continue // unknown fields are ignored, as Istio's decoder does
		}
		fd := pf.fd
		if num := fd.Number(); num < 64 {
			if seenSmall&(1<<num) != 0 {
				return d.errorf(kids[i], "duplicate key %q", key)
			}
			seenSmall |= 1 << num
		} else {
			if seenBig == nil {
				seenBig = map[protoreflect.FieldNumber]bool{}
			}
			if seenBig[num] {
				return d.errorf(kids[i], "duplicate key %q", key)
			}
			seenBig[num] = true
		}
		v := kids[i+1]
		if d.isNull(v) && !(fd.Cardinality() != protoreflect.Repeated && fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Value") {
			continue
		}
		if err := d.decodeField(v, m, pf); err != nil {
			return atKey(err, key)
		}
	}
	return nil
}

func (d *decoder) decodeField(n int32, m protoreflect.Message, pf *protoField) error {
	fd := pf.fd
	nd := &d.t.nodes[n]
	switch {
	case fd.IsList():
		if nd.kind != sequenceNode {
			return d.typeError(n, "sequence")
		}
		l := m.Mutable(fd).List()
		for i, k := range d.t.children(n) {
			if fd.Message() != nil {
				e := l.NewElement()
				if err := d.decodeMessagePlan(k, e.Message(), pf.plan()); err != nil {
					return atIndex(err, i)
				}
				l.Append(e)
				continue
			}
			v, err := d.protoScalar(k, fd)
			if err != nil {
				return atIndex(err, i)
			}
			l.Append(v)
		}
		return nil
	case fd.IsMap():
		if nd.kind != mappingNode {
			return d.typeError(n, "mapping")
		}
		mm := m.Mutable(fd).Map()
		kfd, vfd := fd.MapKey(), fd.MapValue()
		kids := d.t.children(n)
		for i := 0; i+1 < len(kids); i += 2 {
			key, err := d.keyOf(kids[i])
			if err != nil {
				return err
			}
			mk, err := d.protoMapKey(kids[i], key, kfd)
			if err != nil {
				return err
			}
			if mm.Has(mk) {
				return d.errorf(kids[i], "duplicate key %q", key)
			}
			if vfd.Message() != nil {
				val := mm.NewValue()
				if err := d.decodeMessagePlan(kids[i+1], val.Message(), pf.plan()); err != nil {
					return atKey(err, key)
				}
				mm.Set(mk, val)
				continue
			}
			val, err := d.protoScalar(kids[i+1], vfd)
			if err != nil {
				return atKey(err, key)
			}
			mm.Set(mk, val)
		}
		return nil
	case fd.Message() != nil:
		return d.decodeMessagePlan(n, m.Mutable(fd).Message(), pf.plan())
	}
	v, err := d.protoScalar(n, fd)
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

func (d *decoder) protoMapKey(n int32, key string, fd protoreflect.FieldDescriptor) (protoreflect.MapKey, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(d.s(key)).MapKey(), nil
	case protoreflect.BoolKind:
		switch key {
		case "true":
			return protoreflect.ValueOfBool(true).MapKey(), nil
		case "false":
			return protoreflect.ValueOfBool(false).MapKey(), nil
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if x, err := strconv.ParseInt(key, 10, 32); err == nil {
			return protoreflect.ValueOfInt32(int32(x)).MapKey(), nil
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if x, err := strconv.ParseInt(key, 10, 64); err == nil {
			return protoreflect.ValueOfInt64(x).MapKey(), nil
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if x, err := strconv.ParseUint(key, 10, 32); err == nil {
			return protoreflect.ValueOfUint32(uint32(x)).MapKey(), nil
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if x, err := strconv.ParseUint(key, 10, 64); err == nil {
			return protoreflect.ValueOfUint64(x).MapKey(), nil
		}
	}
	return protoreflect.MapKey{}, d.errorf(n, "invalid %s map key %q", fd.Kind(), key)
}

// isJSONInt reports whether s is a JSON integer (what jsonpb accepts inside quotes).
func isJSONInt(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		return i+1 == len(s)
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// protoInt returns the integer of a scalar for an integer field: a number,
// or a string holding a JSON integer.
func (d *decoder) protoInt(n int32, signed bool, bits int) (int64, uint64, error) {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return 0, 0, d.typeError(n, "integer")
	}
	var num numberValue
	switch nd.tag {
	case tagNull:
		return 0, 0, nil
	case tagInt, tagFloat:
		var ok bool
		var err error
		num, ok, err = d.integer(n)
		if !ok {
			return 0, 0, err
		}
	case tagStr:
		if !isJSONInt(nd.value) {
			return 0, 0, d.typeError(n, "integer")
		}
		if x, err := strconv.ParseInt(nd.value, 10, 64); err == nil {
			num = numberValue{kind: 'i', i: x}
		} else if x, err := strconv.ParseUint(nd.value, 10, 64); err == nil {
			num = numberValue{kind: 'u', u: x}
		} else {
			return 0, 0, d.errorf(n, "number %s overflows int%d", nd.value, bits)
		}
	default:
		return 0, 0, d.typeError(n, "integer")
	}
	if signed {
		if num.kind == 'u' || num.i < -(1<<(bits-1)) || num.i > 1<<(bits-1)-1 {
			return 0, 0, d.errorf(n, "number %s overflows int%d", nd.value, bits)
		}
		return num.i, 0, nil
	}
	u := num.u
	if num.kind == 'i' {
		if num.i < 0 {
			return 0, 0, d.errorf(n, "number %s overflows uint%d", nd.value, bits)
		}
		u = uint64(num.i)
	}
	if bits == 32 && u > math.MaxUint32 {
		return 0, 0, d.errorf(n, "number %s overflows uint%d", nd.value, bits)
	}
	return 0, u, nil
}

func (d *decoder) protoFloat(n int32, bits int) (float64, error) {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return 0, d.typeError(n, "number")
	}
	var f float64
	switch nd.tag {
	case tagNull:
		return 0, nil
	case tagInt, tagFloat:
		num, ok := scalarNumber(nd)
		if !ok || (num.kind == 'f' && (math.IsNaN(num.f) || math.IsInf(num.f, 0))) {
			return 0, d.typeError(n, "number")
		}
		f = num.float()
	case tagStr:
		switch nd.value {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		if !isStyleFloat(nd.value) || nd.value[0] == '+' || nd.value[0] == '.' {
			return 0, d.typeError(n, "number")
		}
		var err error
		if f, err = strconv.ParseFloat(nd.value, 64); err != nil {
			return 0, d.typeError(n, "number")
		}
	default:
		return 0, d.typeError(n, "number")
	}
	if bits == 32 && math.Abs(f) > math.MaxFloat32 {
		return 0, d.errorf(n, "number %s overflows float32", nd.value)
	}
	return f, nil
}

func (d *decoder) protoScalar(n int32, fd protoreflect.FieldDescriptor) (protoreflect.Value, error) {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return protoreflect.Value{}, d.typeError(n, fd.Kind().String())
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if nd.tag == tagNull {
			return protoreflect.ValueOfBool(false), nil
		}
		b, ok := d.boolValue(n)
		if !ok {
			return protoreflect.Value{}, d.typeError(n, "bool")
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		i, _, err := d.protoInt(n, true, 32)
		return protoreflect.ValueOfInt32(int32(i)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		i, _, err := d.protoInt(n, true, 64)
		return protoreflect.ValueOfInt64(i), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, u, err := d.protoInt(n, false, 32)
		return protoreflect.ValueOfUint32(uint32(u)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, u, err := d.protoInt(n, false, 64)
		return protoreflect.ValueOfUint64(u), err
	case protoreflect.FloatKind:
		f, err := d.protoFloat(n, 32)
		return protoreflect.ValueOfFloat32(float32(f)), err
	case protoreflect.DoubleKind:
		f, err := d.protoFloat(n, 64)
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.StringKind:
		switch nd.tag {
		case tagNull:
			return protoreflect.ValueOfString(""), nil
		case tagInt, tagFloat, tagBool:
			return protoreflect.Value{}, d.typeError(n, "string")
		}
		return protoreflect.ValueOfString(d.s(nd.value)), nil
	case protoreflect.BytesKind:
		switch nd.tag {
		case tagNull:
			return protoreflect.ValueOfBytes(nil), nil
		case tagInt, tagFloat, tagBool:
			return protoreflect.Value{}, d.typeError(n, "base64 string")
		}
		b, err := base64.StdEncoding.DecodeString(nd.value)
		if err != nil {
			return protoreflect.Value{}, d.errorf(n, "invalid base64 data: %v", err)
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.EnumKind:
		ed := fd.Enum()
		switch nd.tag {
		case tagNull:
			return protoreflect.ValueOfEnum(0), nil
		case tagInt, tagFloat:
			i, _, err := d.protoInt(n, true, 32)
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(i)), err
		case tagBool:
			return protoreflect.Value{}, d.typeError(n, "enum")
		}
		ev := ed.Values().ByName(protoreflect.Name(nd.value))
		if ev == nil {
			return protoreflect.Value{}, d.errorf(n, "unknown value %q for %s (want one of %s)", nd.value, ed.Name(), enumNames(ed))
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil
	}
	return protoreflect.Value{}, d.errorf(n, "unsupported field kind %s", fd.Kind())
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	vals := ed.Values()
	names := make([]string, 0, vals.Len())
	for i := 0; i < vals.Len() && i < 12; i++ {
		names = append(names, string(vals.Get(i).Name()))
	}
	if vals.Len() > 12 {
		names = append(names, "...")
	}
	return strings.Join(names, ", ")
}

// parseProtoDuration accepts Go duration syntax, as jsonpb does ("1.5s",
// "100ms", "1m30s").
func parseProtoDuration(s string) (secs int64, nanos int32, ok bool) {
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, 0, false
	}
	return int64(dur / time.Second), int32(dur % time.Second), true
}

func (d *decoder) decodeWKT(n int32, m protoreflect.Message, kind wktKind) error {
	nd := &d.t.nodes[n]
	fds := m.Descriptor().Fields()
	if nd.kind == scalarNode && nd.tag == tagNull && kind != wktValue {
		return nil
	}
	switch kind {
	case wktDuration:
		if nd.kind != scalarNode || nd.tag == tagInt || nd.tag == tagFloat || nd.tag == tagBool {
			return d.errorf(n, "invalid duration %s: write it as a string such as \"5s\" or \"100ms\"", d.describe(n))
		}
		secs, nanos, ok := parseProtoDuration(nd.value)
		if !ok {
			return d.errorf(n, "invalid duration %q", nd.value)
		}
		m.Set(fds.ByNumber(1), protoreflect.ValueOfInt64(secs))
		m.Set(fds.ByNumber(2), protoreflect.ValueOfInt32(nanos))
	case wktTimestamp:
		if nd.kind != scalarNode || nd.tag == tagInt || nd.tag == tagFloat || nd.tag == tagBool {
			return d.typeError(n, "timestamp")
		}
		t, err := time.Parse(time.RFC3339Nano, nd.value)
		if err != nil {
			return d.errorf(n, "invalid timestamp %q (want RFC 3339)", nd.value)
		}
		m.Set(fds.ByNumber(1), protoreflect.ValueOfInt64(t.Unix()))
		m.Set(fds.ByNumber(2), protoreflect.ValueOfInt32(int32(t.Nanosecond())))
	case wktWrapper:
		fd := fds.ByNumber(1)
		v, err := d.protoScalar(n, fd)
		if err != nil {
			return err
		}
		m.Set(fd, v)
	case wktStruct:
		if nd.kind != mappingNode {
			return d.typeError(n, "mapping")
		}
		mm := m.Mutable(fds.ByNumber(1)).Map()
		kids := d.t.children(n)
		for i := 0; i+1 < len(kids); i += 2 {
			key, err := d.keyOf(kids[i])
			if err != nil {
				return err
			}
			mk := protoreflect.ValueOfString(d.s(key)).MapKey()
			if mm.Has(mk) {
				return d.errorf(kids[i], "duplicate key %q", key)
			}
			val := mm.NewValue()
			if err := d.decodeWKT(kids[i+1], val.Message(), wktValue); err != nil {
				return atKey(err, key)
			}
			mm.Set(mk, val)
		}
	case wktListValue:
		if nd.kind != sequenceNode {
			return d.typeError(n, "sequence")
		}
		l := m.Mutable(fds.ByNumber(1)).List()
		for i, k := range d.t.children(n) {
			e := l.NewElement()
			if err := d.decodeWKT(k, e.Message(), wktValue); err != nil {
				return atIndex(err, i)
			}
			l.Append(e)
		}
	case wktValue:
		switch nd.kind {
		case mappingNode:
			return d.decodeWKT(n, m.Mutable(fds.ByNumber(5)).Message(), wktStruct)
		case sequenceNode:
			return d.decodeWKT(n, m.Mutable(fds.ByNumber(6)).Message(), wktListValue)
		}
		switch nd.tag {
		case tagNull:
			m.Set(fds.ByNumber(1), protoreflect.ValueOfEnum(0))
		case tagBool:
			b, ok := d.boolValue(n)
			if !ok {
				return d.typeError(n, "bool")
			}
			m.Set(fds.ByNumber(4), protoreflect.ValueOfBool(b))
		case tagInt, tagFloat:
			num, ok := scalarNumber(nd)
			if !ok || (num.kind == 'f' && (math.IsNaN(num.f) || math.IsInf(num.f, 0))) {
				return d.errorf(n, "unsupported number %s", nd.value)
			}
			m.Set(fds.ByNumber(2), protoreflect.ValueOfFloat64(num.float()))
		default:
			if b, ok := d.boolValue(n); ok {
				m.Set(fds.ByNumber(4), protoreflect.ValueOfBool(b))
				return nil
			}
			m.Set(fds.ByNumber(3), protoreflect.ValueOfString(d.s(nd.value)))
		}
	case wktAny:
		return d.decodeAny(n, m)
	}
	return nil
}

func (d *decoder) decodeAny(n int32, m protoreflect.Message) error {
	if d.t.nodes[n].kind != mappingNode {
		return d.typeError(n, "mapping")
	}
	typeNode := d.t.lookup(n, "@type")
	typeURL, ok := d.t.str(typeNode)
	if !ok {
		return d.errorf(n, "Any has no \"@type\"")
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
	if err != nil {
		return d.errorf(typeNode, "cannot resolve Any type %q", typeURL)
	}
	inner := mt.New()
	if planFor(inner.Descriptor()).wkt != wktNone {
		v := d.t.lookup(n, "value")
		if v < 0 {
			return d.errorf(n, "Any of a well-known type needs a \"value\"")
		}
		if err := d.decodeMessage(v, inner); err != nil {
			return atKey(err, "value")
		}
	} else if err := d.decodeMessage(n, inner); err != nil {
		return err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(inner.Interface())
	if err != nil {
		return d.errorf(n, "cannot encode Any: %v", err)
	}
	fds := m.Descriptor().Fields()
	m.Set(fds.ByNumber(1), protoreflect.ValueOfString(d.s(typeURL)))
	m.Set(fds.ByNumber(2), protoreflect.ValueOfBytes(b))
	return nil
}
