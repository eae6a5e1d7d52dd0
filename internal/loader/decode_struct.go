package loader

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The struct decoder fills Go values from nodes the way
// sigs.k8s.io/yaml.Unmarshal (YAML -> JSON -> encoding/json) would, but in
// one pass over the tree: keys match `json` tags (exactly, else ignoring
// case, as encoding/json does), embedded structs without a name are
// inlined, unknown keys are ignored, null leaves a value alone (and clears
// pointers, slices and maps). Scalars of any tag decode into string fields
// keeping their text (sigs.k8s.io/yaml does the same, but prints floats with
// 32-bit precision: "1.10" -> "1.1"; this keeps "1.10"). Duplicate keys are
// errors (encoding/json silently takes the last).

type decFunc func(d *decoder, n int32, v reflect.Value) error

// typeDec is a cached decoder; the indirection lets recursive types refer to
// a decoder still being built.
type typeDec struct{ fn decFunc }

var (
	decCache sync.Map // reflect.Type -> *typeDec
	buildMu  sync.Mutex

	quantityType        = reflect.TypeFor[resource.Quantity]()
	intOrStringType     = reflect.TypeFor[intstr.IntOrString]()
	timeType            = reflect.TypeFor[metav1.Time]()
	protoMessageType    = reflect.TypeFor[proto.Message]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	mapStringStringType = reflect.TypeFor[map[string]string]()
)

var structDecs sync.Map // reflect.Type -> *structDec

// structDecFor returns the decoder of a struct type.
func structDecFor(t reflect.Type) *structDec {
	decoderFor(t)
	sd, _ := structDecs.Load(t)
	return sd.(*structDec)
}

// builder collects the decoders built for one top-level type; they are
// published (to decCache and structDecs) only once all are complete, so
// that no goroutine sees a decoder of a recursive type half built.
type builder struct {
	decs    map[reflect.Type]*typeDec
	structs map[reflect.Type]*structDec
}

func decoderFor(t reflect.Type) *typeDec {
	if td, ok := decCache.Load(t); ok {
		return td.(*typeDec)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	b := &builder{decs: map[reflect.Type]*typeDec{}, structs: map[reflect.Type]*structDec{}}
	td := buildDecoder(t, b)
	for t, sd := range b.structs {
		structDecs.Store(t, sd)
	}
	for t, td := range b.decs {
		decCache.Store(t, td)
	}
	return td
}

func buildDecoder(t reflect.Type, b *builder) *typeDec {
	if td, ok := decCache.Load(t); ok {
		return td.(*typeDec)
	}
	if td, ok := b.decs[t]; ok {
		return td
	}
	td := &typeDec{}
	b.decs[t] = td
	td.fn = makeDecFunc(t, b)
	return td
}

func makeDecFunc(t reflect.Type, building *builder) decFunc {
	switch t {
	case quantityType:
		return decQuantity
	case intOrStringType:
		return decIntOrString
	case timeType:
		return decTime
	}
	pt := reflect.PointerTo(t)
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		if pt.Implements(protoMessageType) {
			return decProtoValue
		}
		if pt.Implements(jsonUnmarshalerType) {
			return decJSONUnmarshaler
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := buildDecoder(t.Elem(), building)
		return func(d *decoder, n int32, v reflect.Value) error {
			if d.isNull(n) {
				v.SetZero()
				return nil
			}
			if v.IsNil() {
				v.Set(reflect.New(t.Elem()))
			}
			return elem.fn(d, n, v.Elem())
		}
	case reflect.Struct:
		sd := &structDec{}
		building.structs[t] = sd
		sd.init(t, building)
		return sd.decode
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(jsonUnmarshalerType) {
			return decBytes
		}
		elem := buildDecoder(t.Elem(), building)
		return func(d *decoder, n int32, v reflect.Value) error {
			nd := &d.t.nodes[n]
			if nd.kind != sequenceNode {
				if nd.kind == scalarNode && nd.tag == tagNull {
					v.SetZero()
					return nil
				}
				return d.typeError(n, "sequence")
			}
			kids := d.t.children(n)
			s := reflect.MakeSlice(t, len(kids), len(kids))
			for i, k := range kids {
				if err := elem.fn(d, k, s.Index(i)); err != nil {
					return atIndex(err, i)
				}
			}
			v.Set(s)
			return nil
		}
	case reflect.Array:
		elem := buildDecoder(t.Elem(), building)
		return func(d *decoder, n int32, v reflect.Value) error {
			if d.isNull(n) {
				return nil
			}
			if d.t.nodes[n].kind != sequenceNode {
				return d.typeError(n, "sequence")
			}
			kids := d.t.children(n)
			for i := 0; i < v.Len(); i++ {
				if i >= len(kids) {
					v.Index(i).SetZero()
					continue
				}
				if err := elem.fn(d, kids[i], v.Index(i)); err != nil {
					return atIndex(err, i)
				}
			}
			return nil
		}
	case reflect.Map:
		if t == mapStringStringType {
			return decStringMap
		}
		return makeMapDec(t, buildDecoder(t.Elem(), building))
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return func(d *decoder, n int32, v reflect.Value) error {
				return d.errorf(n, "cannot decode into %s", t)
			}
		}
		return func(d *decoder, n int32, v reflect.Value) error {
			x, err := d.generic(n)
			if err != nil {
				return err
			}
			if x == nil {
				v.SetZero()
			} else {
				v.Set(reflect.ValueOf(x))
			}
			return nil
		}
	case reflect.String:
		if pt.Implements(textUnmarshalerType) {
			return decText
		}
		return decString
	case reflect.Bool:
		return decBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return decInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return decUint
	case reflect.Float32, reflect.Float64:
		return decFloat
	}
	return func(d *decoder, n int32, v reflect.Value) error {
		return d.errorf(n, "cannot decode into %s", t)
	}
}

type structDec struct {
	t      reflect.Type
	fields map[string]*fieldDec
	list   []*fieldDec
}

type fieldDec struct {
	name   string
	index  []int
	dec    *typeDec
	id     int
	tagged bool
	depth  int
}

func (sd *structDec) init(t reflect.Type, building *builder) {
	sd.t = t
	var all []*fieldDec
	var walk func(t reflect.Type, index []int, depth int, visited map[reflect.Type]bool)
	walk = func(t reflect.Type, index []int, depth int, visited map[reflect.Type]bool) {
		if visited[t] {
			return
		}
		visited[t] = true
		defer delete(visited, t)
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if f.Anonymous {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !f.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
				if name == "" && ft.Kind() == reflect.Struct {
					walk(ft, idx, depth+1, visited)
					continue
				}
			} else if !f.IsExported() {
				continue
			}
			tagged := name != ""
			if name == "" {
				name = f.Name
			}
			all = append(all, &fieldDec{name: name, index: idx, tagged: tagged, depth: depth, dec: buildDecoder(f.Type, building)})
		}
	}
	walk(t, nil, 0, map[reflect.Type]bool{})
	// encoding/json's dominance rules: the shallowest field wins, then the
	// tagged one; otherwise the name is dropped.
	byName := map[string][]*fieldDec{}
	var order []string
	for _, f := range all {
		if _, ok := byName[f.name]; !ok {
			order = append(order, f.name)
		}
		byName[f.name] = append(byName[f.name], f)
	}
	sd.fields = map[string]*fieldDec{}
	for _, name := range order {
		fs := byName[name]
		best := fs[0]
		ambiguous := false
		for _, f := range fs[1:] {
			switch {
			case f.depth < best.depth || (f.depth == best.depth && f.tagged && !best.tagged):
				best, ambiguous = f, false
			case f.depth == best.depth && f.tagged == best.tagged:
				ambiguous = true
			}
		}
		if ambiguous {
			continue
		}
		best.id = len(sd.list)
		sd.list = append(sd.list, best)
		sd.fields[name] = best
	}
}

func (sd *structDec) lookup(key string) *fieldDec {
	if f := sd.fields[key]; f != nil {
		return f
	}
	for _, f := range sd.list {
		if strings.EqualFold(f.name, key) {
			return f
		}
	}
	return nil
}

func (sd *structDec) decode(d *decoder, n int32, v reflect.Value) error {
	return sd.decodeSkipping(d, n, v, nil)
}

// decodeSkipping decodes a mapping, ignoring the keys in skip.
func (sd *structDec) decodeSkipping(d *decoder, n int32, v reflect.Value, skip []string) error {
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
pairs:
	for i := 0; i+1 < len(kids); i += 2 {
		key, err := d.keyOf(kids[i])
		if err != nil {
			return err
		}
		for _, s := range skip {
			if key == s {
				continue pairs
			}
		}
		f := sd.lookup(key)
		if f == nil {
			continue
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
		fv := v
		for j, x := range f.index {
			if j > 0 && fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					fv.Set(reflect.New(fv.Type().Elem()))
				}
				fv = fv.Elem()
			}
			fv = fv.Field(x)
		}
		if err := f.dec.fn(d, kids[i+1], fv); err != nil {
			return atKey(err, key)
		}
	}
	return nil
}

func makeMapDec(t reflect.Type, elem *typeDec) decFunc {
	kt := t.Key()
	return func(d *decoder, n int32, v reflect.Value) error {
		nd := &d.t.nodes[n]
		if nd.kind != mappingNode {
			if nd.kind == scalarNode && nd.tag == tagNull {
				v.SetZero()
				return nil
			}
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
			var kv reflect.Value
			switch kt.Kind() {
			case reflect.String:
				kv = reflect.ValueOf(d.s(key)).Convert(kt)
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				x, err := strconv.ParseInt(key, 10, kt.Bits())
				if err != nil {
					return d.errorf(kids[i], "invalid integer key %q", key)
				}
				kv = reflect.New(kt).Elem()
				kv.SetInt(x)
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				x, err := strconv.ParseUint(key, 10, kt.Bits())
				if err != nil {
					return d.errorf(kids[i], "invalid integer key %q", key)
				}
				kv = reflect.New(kt).Elem()
				kv.SetUint(x)
			default:
				return d.errorf(n, "cannot decode into a map with %s keys", kt)
			}
			if v.MapIndex(kv).IsValid() {
				return d.errorf(kids[i], "duplicate key %q", key)
			}
			ev := reflect.New(t.Elem()).Elem()
			if err := elem.fn(d, kids[i+1], ev); err != nil {
				return atKey(err, key)
			}
			v.SetMapIndex(kv, ev)
		}
		return nil
	}
}

// stringOf returns the text of a scalar for a string target.
func (d *decoder) stringOf(n int32) (string, bool, error) {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return "", false, d.typeError(n, "string")
	}
	if nd.tag == tagNull {
		return "", false, nil
	}
	return d.s(nd.value), true, nil
}

func decStringMap(d *decoder, n int32, v reflect.Value) error {
	nd := &d.t.nodes[n]
	if nd.kind != mappingNode {
		if nd.kind == scalarNode && nd.tag == tagNull {
			v.SetZero()
			return nil
		}
		return d.typeError(n, "mapping")
	}
	kids := d.t.children(n)
	var m map[string]string
	if v.IsNil() {
		m = make(map[string]string, len(kids)/2)
		v.Set(reflect.ValueOf(m))
	} else {
		m = v.Interface().(map[string]string)
	}
	for i := 0; i+1 < len(kids); i += 2 {
		key, err := d.keyOf(kids[i])
		if err != nil {
			return err
		}
		if _, dup := m[key]; dup {
			return d.errorf(kids[i], "duplicate key %q", key)
		}
		s, _, err := d.stringOf(kids[i+1])
		if err != nil {
			return atKey(err, key)
		}
		m[d.s(key)] = s
	}
	return nil
}

func decString(d *decoder, n int32, v reflect.Value) error {
	s, ok, err := d.stringOf(n)
	if ok {
		v.SetString(s)
	}
	return err
}

func decText(d *decoder, n int32, v reflect.Value) error {
	s, ok, err := d.stringOf(n)
	if ok {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return d.errorf(n, "%v", err)
		}
	}
	return err
}

func decBool(d *decoder, n int32, v reflect.Value) error {
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

// integer returns the integer value of a number scalar. Floats with no
// fraction are accepted (sigs.k8s.io/yaml prints 3.0 as 3).
func (d *decoder) integer(n int32) (num numberValue, ok bool, err error) {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode || (nd.tag != tagInt && nd.tag != tagFloat && nd.tag != tagNull) {
		return num, false, d.typeError(n, "integer")
	}
	if nd.tag == tagNull {
		return num, false, nil
	}
	num, ok = scalarNumber(nd)
	if !ok {
		return num, false, d.typeError(n, "integer")
	}
	if num.kind == 'f' {
		if num.f != math.Trunc(num.f) || math.Abs(num.f) >= 1e21 {
			return num, false, d.typeError(n, "integer")
		}
		if num.f >= 0 && num.f >= 1<<63 {
			return numberValue{kind: 'u', u: uint64(num.f)}, true, nil
		}
		return numberValue{kind: 'i', i: int64(num.f)}, true, nil
	}
	return num, true, nil
}

func decInt(d *decoder, n int32, v reflect.Value) error {
	num, ok, err := d.integer(n)
	if !ok {
		return err
	}
	if num.kind == 'u' || v.OverflowInt(num.i) {
		return d.errorf(n, "number %s overflows %s", d.t.nodes[n].value, v.Type())
	}
	v.SetInt(num.i)
	return nil
}

func decUint(d *decoder, n int32, v reflect.Value) error {
	num, ok, err := d.integer(n)
	if !ok {
		return err
	}
	var u uint64
	if num.kind == 'u' {
		u = num.u
	} else {
		if num.i < 0 {
			return d.errorf(n, "number %s overflows %s", d.t.nodes[n].value, v.Type())
		}
		u = uint64(num.i)
	}
	if v.OverflowUint(u) {
		return d.errorf(n, "number %s overflows %s", d.t.nodes[n].value, v.Type())
	}
	v.SetUint(u)
	return nil
}

func decFloat(d *decoder, n int32, v reflect.Value) error {
	nd := &d.t.nodes[n]
	if nd.kind == scalarNode && nd.tag == tagNull {
		return nil
	}
	if nd.kind != scalarNode || (nd.tag != tagInt && nd.tag != tagFloat) {
		return d.typeError(n, "number")
	}
	num, ok := scalarNumber(nd)
	if !ok || math.IsNaN(num.f) || math.IsInf(num.f, 0) {
		return d.typeError(n, "number")
	}
	f := num.float()
	if v.OverflowFloat(f) {
		return d.errorf(n, "number %s overflows %s", nd.value, v.Type())
	}
	v.SetFloat(f)
	return nil
}

func decBytes(d *decoder, n int32, v reflect.Value) error {
	nd := &d.t.nodes[n]
	if nd.kind == scalarNode && nd.tag == tagNull {
		v.SetZero()
		return nil
	}
	if nd.kind != scalarNode || nd.tag == tagInt || nd.tag == tagFloat || nd.tag == tagBool {
		return d.typeError(n, "base64 string")
	}
	b, err := base64.StdEncoding.DecodeString(nd.value)
	if err != nil {
		return d.errorf(n, "invalid base64 data: %v", err)
	}
	v.SetBytes(b)
	return nil
}

func decQuantity(d *decoder, n int32, v reflect.Value) error {
	q := v.Addr().Interface().(*resource.Quantity)
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return d.typeError(n, "quantity")
	}
	var text string
	switch nd.tag {
	case tagNull:
		return q.UnmarshalJSON([]byte("null"))
	case tagInt, tagFloat:
		num, ok := scalarNumber(nd)
		if !ok || (num.kind == 'f' && (math.IsNaN(num.f) || math.IsInf(num.f, 0))) {
			return d.errorf(n, "invalid quantity %q", nd.value)
		}
		text = num.jsonText()
	case tagBool:
		return d.typeError(n, "quantity")
	default:
		text = strings.TrimSpace(nd.value)
	}
	parsed, err := resource.ParseQuantity(text)
	if err != nil {
		return d.errorf(n, "invalid quantity %q: %v", nd.value, err)
	}
	*q = parsed
	return nil
}

func decIntOrString(d *decoder, n int32, v reflect.Value) error {
	is := v.Addr().Interface().(*intstr.IntOrString)
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return d.typeError(n, "integer or string")
	}
	switch nd.tag {
	case tagNull:
		return is.UnmarshalJSON([]byte("null"))
	case tagInt, tagFloat:
		num, ok, err := d.integer(n)
		if !ok {
			return err
		}
		if num.kind == 'u' || num.i < math.MinInt32 || num.i > math.MaxInt32 {
			return d.errorf(n, "number %s overflows int32", nd.value)
		}
		*is = intstr.IntOrString{Type: intstr.Int, IntVal: int32(num.i)}
	case tagBool:
		return d.typeError(n, "integer or string")
	default:
		*is = intstr.IntOrString{Type: intstr.String, StrVal: d.s(nd.value)}
	}
	return nil
}

func decTime(d *decoder, n int32, v reflect.Value) error {
	t := v.Addr().Interface().(*metav1.Time)
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode || nd.tag == tagInt || nd.tag == tagFloat || nd.tag == tagBool {
		return d.typeError(n, "time")
	}
	if nd.tag == tagNull {
		t.Time = time.Time{}
		return nil
	}
	pt, err := time.Parse(time.RFC3339, nd.value)
	if err != nil {
		return d.errorf(n, "invalid time %q (want RFC 3339)", nd.value)
	}
	t.Time = pt.Local()
	return nil
}

func decJSONUnmarshaler(d *decoder, n int32, v reflect.Value) error {
	b, err := d.appendJSON(nil, n)
	if err != nil {
		return err
	}
	if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(b); err != nil {
		return d.errorf(n, "%v", err)
	}
	return nil
}

func decProtoValue(d *decoder, n int32, v reflect.Value) error {
	if sd := pbStructDecFor(v.Type()); sd != nil {
		return sd.decode(d, n, v)
	}
	return d.decodeMessage(n, v.Addr().Interface().(proto.Message).ProtoReflect())
}
