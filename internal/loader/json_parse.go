package loader

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// parseFastJSON parses a JSON document into t. Numbers get the tag yaml.v3
// would give them (JSON is YAML). It gives up (ok=false) on anything that
// is not strict JSON; yaml.v3 then parses the chunk and reports errors.
func parseFastJSON(t *tree, src string, firstLine int, stack []int32) (root int32, ok bool, stackOut []int32) {
	p := jsonParser{src: src, line: int32(firstLine), t: t, stack: stack[:0]}
	defer func() {
		if r := recover(); r != nil {
			if _, isBail := r.(bailout); !isBail {
				panic(r)
			}
			root, ok, stackOut = -1, false, p.stack
		}
	}()
	if !utf8.ValidString(src) {
		return -1, false, p.stack
	}
	p.skipWS()
	if p.pos >= len(p.src) {
		return -1, true, p.stack
	}
	root = p.value()
	p.skipWS()
	if p.pos != len(p.src) {
		p.bail()
	}
	return root, true, p.stack
}

type jsonParser struct {
	src   string
	pos   int
	line  int32
	t     *tree
	stack []int32
	depth int
}

func (p *jsonParser) bail() { panic(bailout{}) }

func (p *jsonParser) skipWS() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\r':
			p.pos++
		case '\n':
			p.pos++
			p.line++
		default:
			return
		}
	}
}

func (p *jsonParser) value() int32 {
	if p.pos >= len(p.src) {
		p.bail()
	}
	switch c := p.src[p.pos]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		line := p.line
		s := p.str()
		return p.t.add(node{kind: scalarNode, tag: tagStr, style: styleQuoted, value: s, line: line})
	case 't':
		return p.literal("true", tagBool)
	case 'f':
		return p.literal("false", tagBool)
	case 'n':
		return p.literal("null", tagNull)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
	}
	p.bail()
	return -1
}

func (p *jsonParser) literal(word string, tg tag) int32 {
	if !strings.HasPrefix(p.src[p.pos:], word) {
		p.bail()
	}
	p.pos += len(word)
	return p.t.add(node{kind: scalarNode, tag: tg, value: word, line: p.line})
}

func (p *jsonParser) number() int32 {
	start := p.pos
	i := p.pos
	src := p.src
	if src[i] == '-' {
		i++
	}
	digits := func() int {
		s := i
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
		return i - s
	}
	if i < len(src) && src[i] == '0' {
		i++
	} else if digits() == 0 {
		p.bail()
	}
	if i < len(src) && src[i] == '.' {
		i++
		if digits() == 0 {
			p.bail()
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.bail()
		}
	}
	p.pos = i
	v := src[start:i]
	tg := resolvePlain(v)
	if tg != tagInt && tg != tagFloat {
		p.bail()
	}
	return p.t.add(node{kind: scalarNode, tag: tg, value: v, line: p.line})
}

func (p *jsonParser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.bail()
	}
}

func (p *jsonParser) object() int32 {
	p.enter()
	n := p.t.add(node{kind: mappingNode, line: p.line})
	base := len(p.stack)
	p.pos++
	p.skipWS()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
	} else {
		for {
			if p.pos >= len(p.src) || p.src[p.pos] != '"' {
				p.bail()
			}
			line := p.line
			k := p.str()
			kn := p.t.add(node{kind: scalarNode, tag: tagStr, style: styleQuoted, value: k, line: line})
			p.skipWS()
			if p.pos >= len(p.src) || p.src[p.pos] != ':' {
				p.bail()
			}
			p.pos++
			p.skipWS()
			v := p.value()
			p.stack = append(p.stack, kn, v)
			p.skipWS()
			if p.pos >= len(p.src) {
				p.bail()
			}
			if p.src[p.pos] == ',' {
				p.pos++
				p.skipWS()
				continue
			}
			if p.src[p.pos] == '}' {
				p.pos++
				break
			}
			p.bail()
		}
	}
	p.finish(n, base)
	p.depth--
	return n
}

func (p *jsonParser) array() int32 {
	p.enter()
	n := p.t.add(node{kind: sequenceNode, line: p.line})
	base := len(p.stack)
	p.pos++
	p.skipWS()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
	} else {
		for {
			v := p.value()
			p.stack = append(p.stack, v)
			p.skipWS()
			if p.pos >= len(p.src) {
				p.bail()
			}
			if p.src[p.pos] == ',' {
				p.pos++
				p.skipWS()
				continue
			}
			if p.src[p.pos] == ']' {
				p.pos++
				break
			}
			p.bail()
		}
	}
	p.finish(n, base)
	p.depth--
	return n
}

func (p *jsonParser) finish(n int32, base int) {
	kids := p.stack[base:]
	nd := &p.t.nodes[n]
	nd.kidStart = int32(len(p.t.kids))
	nd.kidLen = int32(len(kids))
	p.t.kids = append(p.t.kids, kids...)
	p.stack = p.stack[:base]
}

// str parses a JSON string at pos (on its opening quote).
func (p *jsonParser) str() string {
	i := p.pos + 1
	src := p.src
	start := i
	for i < len(src) {
		c := src[i]
		if c == '"' {
			p.pos = i + 1
			return src[start:i]
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			p.bail()
		}
		i++
	}
	b := []byte(src[start:i])
	for {
		if i >= len(src) {
			p.bail()
		}
		c := src[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return string(b)
		case c < 0x20:
			p.bail()
		case c == '\\':
			if i+1 >= len(src) {
				p.bail()
			}
			e := src[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := p.hex4(i)
				i += 4
				if utf16.IsSurrogate(r) {
					if i+6 > len(src) || src[i] != '\\' || src[i+1] != 'u' {
						p.bail()
					}
					r2 := p.hex4(i + 2)
					dec := utf16.DecodeRune(r, r2)
					if dec == utf8.RuneError {
						p.bail()
					}
					r = dec
					i += 6
				}
				b = utf8.AppendRune(b, r)
			default:
				p.bail()
			}
		default:
			b = append(b, c)
			i++
		}
	}
}

func (p *jsonParser) hex4(i int) rune {
	if i+4 > len(p.src) {
		p.bail()
	}
	var r rune
	for k := 0; k < 4; k++ {
		h := p.src[i+k]
		var d byte
		switch {
		case h >= '0' && h <= '9':
			d = h - '0'
		case h >= 'a' && h <= 'f':
			d = h - 'a' + 10
		case h >= 'A' && h <= 'F':
			d = h - 'A' + 10
		default:
			p.bail()
		}
		r = r<<4 | rune(d)
	}
	return r
}
