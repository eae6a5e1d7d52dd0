package loader

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// decoder decodes nodes of one tree into Go values.
type decoder struct {
	t *tree
	// clone copies every string it stores, so that decoded objects never
	// point into the file's text (used for files that hold Secrets).
	clone bool
	keys  map[[2]string]string // kind keys already built
}

func (d *decoder) s(v string) string {
	if d.clone {
		return strings.Clone(v)
	}
	return v
}

// decodeError is a decoding failure at a node; the path is built while the
// error returns through the decoders (segments are appended innermost first).
type decodeError struct {
	line int32
	msg  string
	path []string
}

func (e *decodeError) Path() string {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		seg := e.path[i]
		if b.Len() > 0 && seg[0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func (e *decodeError) Error() string {
	if p := e.Path(); p != "" {
		return p + ": " + e.msg
	}
	return e.msg
}

func (d *decoder) errorf(n int32, format string, args ...any) error {
	var line int32
	if n >= 0 && int(n) < len(d.t.nodes) {
		line = d.t.nodes[n].line
	}
	return &decodeError{line: line, msg: fmt.Sprintf(format, args...)}
}

// atKey and atIndex add a path segment to a decodeError.
func atKey(err error, key string) error {
	if de, ok := err.(*decodeError); ok {
		de.path = append(de.path, key)
	}
	return err
}

func atIndex(err error, i int) error {
	if de, ok := err.(*decodeError); ok {
		de.path = append(de.path, "["+strconv.Itoa(i)+"]")
	}
	return err
}

// describe names a node for error messages: `string "abc"`, `int 5`, `mapping`.
func (d *decoder) describe(n int32) string {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return nd.kind.String()
	}
	v := nd.value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("%s %q", nd.tag, v)
}

func (d *decoder) typeError(n int32, want string) error {
	return d.errorf(n, "expected %s, got %s", want, d.describe(n))
}

// isNull reports whether n is a null scalar.
func (d *decoder) isNull(n int32) bool {
	nd := &d.t.nodes[n]
	return nd.kind == scalarNode && nd.tag == tagNull
}

// keyOf returns the key text of a mapping key node.
func (d *decoder) keyOf(k int32) (string, error) {
	nd := &d.t.nodes[k]
	if nd.kind != scalarNode {
		return "", d.errorf(k, "mapping keys must be scalars, got a %s", nd.kind)
	}
	if nd.tag == tagNull {
		return "", d.errorf(k, "mapping keys must not be null")
	}
	if nd.tag == tagFloat || nd.tag == tagInt {
		// sigs.k8s.io/yaml turns numeric keys into their decimal text.
		if num, ok := scalarNumber(nd); ok && num.kind != 'f' {
			return num.jsonText(), nil
		}
	}
	return nd.value, nil
}

// yaml11Bool accepts the YAML 1.1 booleans that sigs.k8s.io/yaml (yaml.v2)
// reads as bools and yaml.v3 leaves as strings.
func yaml11Bool(s string) (bool, bool) {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

// boolValue returns the bool of a scalar (YAML 1.2 and 1.1 spellings).
func (d *decoder) boolValue(n int32) (bool, bool) {
	nd := &d.t.nodes[n]
	if nd.kind != scalarNode {
		return false, false
	}
	switch nd.tag {
	case tagBool:
		switch nd.value {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
		return yaml11Bool(nd.value) // an explicit !!bool tag on something else
	case tagStr:
		if nd.style == stylePlain {
			return yaml11Bool(nd.value)
		}
	}
	return false, false
}

// generic decodes a node the way an unstructured object holds it:
// map[string]any, []any, string, int64, float64, bool, nil.
func (d *decoder) generic(n int32) (any, error) {
	nd := &d.t.nodes[n]
	switch nd.kind {
	case mappingNode:
		kids := d.t.children(n)
		m := make(map[string]any, len(kids)/2)
		for i := 0; i+1 < len(kids); i += 2 {
			k, err := d.keyOf(kids[i])
			if err != nil {
				return nil, err
			}
			if _, dup := m[k]; dup {
				return nil, d.errorf(kids[i], "duplicate key %q", k)
			}
			v, err := d.generic(kids[i+1])
			if err != nil {
				return nil, atKey(err, k)
			}
			m[d.s(k)] = v
		}
		return m, nil
	case sequenceNode:
		kids := d.t.children(n)
		out := make([]any, len(kids))
		for i, k := range kids {
			v, err := d.generic(k)
			if err != nil {
				return nil, atIndex(err, i)
			}
			out[i] = v
		}
		return out, nil
	}
	switch nd.tag {
	case tagNull:
		return nil, nil
	case tagBool:
		b, ok := d.boolValue(n)
		if !ok {
			return nil, d.typeError(n, "bool")
		}
		return b, nil
	case tagInt, tagFloat:
		num, ok := scalarNumber(nd)
		if !ok {
			return nil, d.typeError(n, "number")
		}
		switch num.kind {
		case 'i':
			return num.i, nil
		case 'u':
			if num.u <= math.MaxInt64 {
				return int64(num.u), nil
			}
			return float64(num.u), nil
		}
		if math.IsNaN(num.f) || math.IsInf(num.f, 0) {
			return nil, d.errorf(n, "unsupported number %s", nd.value)
		}
		return num.f, nil
	case tagStr:
		if nd.style == stylePlain {
			if b, ok := yaml11Bool(nd.value); ok {
				return b, nil
			}
		}
	}
	return d.s(nd.value), nil
}

// appendJSON writes a node as JSON, for types that decode themselves
// (json.Unmarshaler), following what sigs.k8s.io/yaml would produce.
func (d *decoder) appendJSON(b []byte, n int32) ([]byte, error) {
	nd := &d.t.nodes[n]
	switch nd.kind {
	case mappingNode:
		b = append(b, '{')
		kids := d.t.children(n)
		for i := 0; i+1 < len(kids); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			k, err := d.keyOf(kids[i])
			if err != nil {
				return nil, err
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			if b, err = d.appendJSON(b, kids[i+1]); err != nil {
				return nil, atKey(err, k)
			}
		}
		return append(b, '}'), nil
	case sequenceNode:
		b = append(b, '[')
		for i, k := range d.t.children(n) {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = d.appendJSON(b, k); err != nil {
				return nil, atIndex(err, i)
			}
		}
		return append(b, ']'), nil
	}
	switch nd.tag {
	case tagNull:
		return append(b, "null"...), nil
	case tagBool:
		v, ok := d.boolValue(n)
		if !ok {
			return nil, d.typeError(n, "bool")
		}
		return strconv.AppendBool(b, v), nil
	case tagInt, tagFloat:
		num, ok := scalarNumber(nd)
		if !ok || (num.kind == 'f' && (math.IsNaN(num.f) || math.IsInf(num.f, 0))) {
			return nil, d.errorf(n, "unsupported number %s", nd.value)
		}
		return append(b, num.jsonText()...), nil
	case tagStr:
		if nd.style == stylePlain {
			if v, ok := yaml11Bool(nd.value); ok {
				return strconv.AppendBool(b, v), nil
			}
		}
	}
	return appendJSONString(b, nd.value), nil
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
