package loader

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The parsers (the fast YAML subset parser, the JSON parser and the yaml.v3
// fallback) all produce the same compact tree: one slice of nodes per
// document chunk, children referenced by index. Scalar values are usually
// substrings of the source, so a document costs few allocations.

type nodeKind uint8

const (
	scalarNode nodeKind = iota + 1
	mappingNode
	sequenceNode
)

func (k nodeKind) String() string {
	switch k {
	case scalarNode:
		return "scalar"
	case mappingNode:
		return "mapping"
	case sequenceNode:
		return "sequence"
	}
	return "node"
}

// tag is the resolved YAML tag of a scalar, as yaml.v3 resolves it.
type tag uint8

const (
	tagStr tag = iota
	tagNull
	tagBool
	tagInt
	tagFloat
	tagTimestamp // an unquoted date: a string to every target, as yaml.v2 and sigs.k8s.io/yaml treat it
	tagBinary
	tagMerge
	tagOther // an explicit custom tag: treated as a string
)

func (t tag) String() string {
	switch t {
	case tagStr:
		return "string"
	case tagNull:
		return "null"
	case tagBool:
		return "bool"
	case tagInt:
		return "int"
	case tagFloat:
		return "float"
	case tagTimestamp:
		return "timestamp"
	case tagBinary:
		return "binary"
	case tagMerge:
		return "merge key"
	}
	return "tagged scalar"
}

// scalar styles that matter to decoding
const (
	stylePlain uint8 = iota
	styleQuoted
	styleBlock
)

type node struct {
	value    string
	line     int32 // 1-based, within the file
	kidStart int32 // index into tree.kids
	kidLen   int32 // mappings: 2 per pair (key, value)
	kind     nodeKind
	tag      tag
	style    uint8
}

type tree struct {
	nodes []node
	kids  []int32
}

func (t *tree) reset() {
	t.nodes = t.nodes[:0]
	t.kids = t.kids[:0]
}

func (t *tree) add(n node) int32 {
	t.nodes = append(t.nodes, n)
	return int32(len(t.nodes) - 1)
}

// children returns the child indexes of a container node.
func (t *tree) children(n int32) []int32 {
	nd := &t.nodes[n]
	return t.kids[nd.kidStart : nd.kidStart+nd.kidLen]
}

// lookup returns the value of key in mapping n, or -1.
func (t *tree) lookup(n int32, key string) int32 {
	if n < 0 {
		return -1
	}
	nd := &t.nodes[n]
	if nd.kind != mappingNode {
		return -1
	}
	kids := t.kids[nd.kidStart : nd.kidStart+nd.kidLen]
	for i := 0; i+1 < len(kids); i += 2 {
		k := &t.nodes[kids[i]]
		if k.kind == scalarNode && k.value == key {
			return kids[i+1]
		}
	}
	return -1
}

// str returns the text of a scalar usable as a string, and whether it is one
// (null is not).
func (t *tree) str(n int32) (string, bool) {
	if n < 0 {
		return "", false
	}
	nd := &t.nodes[n]
	if nd.kind != scalarNode || nd.tag == tagNull {
		return "", false
	}
	return nd.value, true
}

var resolveTable = func() (t [256]byte) {
	t['+'] = 'S'
	t['-'] = 'S'
	for c := '0'; c <= '9'; c++ {
		t[c] = 'D'
	}
	for _, c := range "yYnNtTfFoO~" {
		t[c] = 'M'
	}
	t['<'] = 'M'
	t['.'] = '.'
	return
}()

// resolvePlain returns the tag yaml.v3 gives an untagged plain scalar.
// It is a port of yaml.v3's resolve() (resolve.go) for the empty tag.
func resolvePlain(in string) tag {
	if in == "" {
		return tagNull
	}
	hint := resolveTable[in[0]]
	if hint == 0 {
		return tagStr
	}
	switch in {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return tagBool
	case "~", "null", "Null", "NULL":
		return tagNull
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return tagFloat
	case "<<":
		return tagMerge
	}
	switch hint {
	case '.':
		if _, err := strconv.ParseFloat(in, 64); err == nil {
			return tagFloat
		}
	case 'D', 'S':
		if _, ok := parseTimestamp(in); ok {
			return tagTimestamp
		}
		if num, ok := yamlNumber(in); ok {
			if num.kind == 'f' {
				return tagFloat
			}
			return tagInt
		}
	}
	return tagStr
}

// yamlNumber parses the text of a plain scalar the way yaml.v3's resolve()
// does in its 'D' and 'S' branches (after the timestamp check): an int64,
// else a uint64, else a float in YAML's float syntax, else 0b/0o forms.
func yamlNumber(in string) (numberValue, bool) {
	// Fast path: small decimal integers, most numbers in manifests.
	if n := len(in); n > 0 && n < 19 {
		var v int64
		i := 0
		neg := false
		if in[0] == '-' || in[0] == '+' {
			neg = in[0] == '-'
			i = 1
		}
		if i < n && (in[i] != '0' || i+1 == n) {
			j := i
			for ; j < n && in[j] >= '0' && in[j] <= '9'; j++ {
				v = v*10 + int64(in[j]-'0')
			}
			if j == n && j > i {
				if neg {
					v = -v
				}
				return numberValue{kind: 'i', i: v}, true
			}
		}
	}
	if !numberChars(in) {
		return numberValue{}, false
	}
	plain := in
	if strings.IndexByte(in, '_') >= 0 {
		plain = strings.ReplaceAll(in, "_", "")
	}
	if v, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return numberValue{kind: 'i', i: v}, true
	}
	if v, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return numberValue{kind: 'u', u: v}, true
	}
	if isStyleFloat(plain) {
		if v, err := strconv.ParseFloat(plain, 64); err == nil {
			return numberValue{kind: 'f', f: v}, true
		}
	}
	if strings.HasPrefix(plain, "0b") {
		if v, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
			return numberValue{kind: 'i', i: v}, true
		}
		if v, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
			return numberValue{kind: 'u', u: v}, true
		}
	} else if strings.HasPrefix(plain, "-0b") {
		if v, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
			return numberValue{kind: 'i', i: v}, true
		}
	}
	if strings.HasPrefix(plain, "0o") {
		if v, err := strconv.ParseInt(plain[2:], 8, 64); err == nil {
			return numberValue{kind: 'i', i: v}, true
		}
		if v, err := strconv.ParseUint(plain[2:], 8, 64); err == nil {
			return numberValue{kind: 'u', u: v}, true
		}
	} else if strings.HasPrefix(plain, "-0o") {
		if v, err := strconv.ParseInt("-"+plain[3:], 8, 64); err == nil {
			return numberValue{kind: 'i', i: v}, true
		}
	}
	return numberValue{}, false
}

// numberValue is the value of an int or float scalar.
type numberValue struct {
	kind byte // 'i', 'u', 'f'
	i    int64
	u    uint64
	f    float64
}

func scalarNumber(nd *node) (numberValue, bool) {
	switch nd.tag {
	case tagInt:
		return yamlNumber(nd.value)
	case tagFloat:
		switch nd.value {
		case ".nan", ".NaN", ".NAN":
			return numberValue{kind: 'f', f: math.NaN()}, true
		case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
			return numberValue{kind: 'f', f: math.Inf(1)}, true
		case "-.inf", "-.Inf", "-.INF":
			return numberValue{kind: 'f', f: math.Inf(-1)}, true
		}
		if nd.value != "" && nd.value[0] == '.' {
			f, err := strconv.ParseFloat(nd.value, 64)
			return numberValue{kind: 'f', f: f}, err == nil
		}
		num, ok := yamlNumber(nd.value)
		if ok && num.kind != 'f' {
			num = numberValue{kind: 'f', f: num.float()} // an explicit !!float tag on an integer
		}
		return num, ok
	}
	return numberValue{}, false
}

func (v numberValue) float() float64 {
	switch v.kind {
	case 'i':
		return float64(v.i)
	case 'u':
		return float64(v.u)
	}
	return v.f
}

// jsonText is the number as encoding/json would print the value yaml.v2
// (and so sigs.k8s.io/yaml) decoded it to.
func (v numberValue) jsonText() string {
	switch v.kind {
	case 'i':
		return strconv.FormatInt(v.i, 10)
	case 'u':
		return strconv.FormatUint(v.u, 10)
	}
	return formatJSONFloat(v.f)
}

// formatJSONFloat formats like encoding/json does for a float64.
func formatJSONFloat(f float64) string {
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b := strconv.AppendFloat(nil, f, fmtc, -1, 64)
	if fmtc == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// numberChars reports whether s has only characters a YAML number can
// have, so that strings like "100m" or "1.5s" skip strconv (whose errors
// allocate).
func numberChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !numberTable[s[i]] {
			return false
		}
	}
	return true
}

var numberTable = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEFxXoO_+-." {
		t[c] = true
	}
	return
}()

// isStyleFloat matches yaml.v3's ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
func isStyleFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		st := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - st
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

var allowedTimestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

func parseTimestamp(s string) (time.Time, bool) {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return time.Time{}, false
	}
	for _, format := range allowedTimestampFormats {
		if t, err := time.Parse(format, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
