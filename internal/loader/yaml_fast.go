package loader

import (
	"strings"
	"unicode/utf8"
)

// This file is a fast parser for the subset of YAML that Kubernetes
// manifests use: block mappings and sequences, single-line plain and quoted
// scalars, literal and folded block scalars, and single-line flow
// collections. It builds the same tree yaml.v3 would (values, resolved tags,
// line numbers; checked by TestFastParserMatchesYAMLv3 and
// FuzzFastParserMatchesYAMLv3). Anything else (anchors, aliases, tags,
// complex keys, multi-line plain or quoted scalars and flows, directives,
// tabs used as indentation, and every syntax error) makes it give up, and
// the document is parsed by yaml.v3 instead, which is about ten times slower
// but handles (and reports) everything.

// bailout is the panic value the fast parser uses to give up.
type bailout struct{}

type fastParser struct {
	src       string
	pos       int
	tokStart  int // where the last scalar token started
	line      int32
	lineStart int
	t         *tree
	stack     []int32
	depth     int
}

const maxDepth = 1000

func (p *fastParser) bail() { panic(bailout{}) }

// parseFastYAML parses one document chunk (which may begin with a "---"
// line). firstLine is the file line of src's first line. It returns the root
// node (-1 for an empty document) and whether it could parse the chunk;
// when it could not, t is left in an unspecified state.
func parseFastYAML(t *tree, src string, firstLine int, stack []int32) (root int32, ok bool, stackOut []int32) {
	p := fastParser{src: src, line: int32(firstLine), t: t, stack: stack[:0]}
	defer func() {
		if r := recover(); r != nil {
			if _, isBail := r.(bailout); !isBail {
				panic(r)
			}
			root, ok, stackOut = -1, false, p.stack
		}
	}()
	if !checkPrintable(src) {
		return -1, false, p.stack
	}
	root = p.parseDocument()
	return root, true, p.stack
}

// checkPrintable reports whether s is valid UTF-8 made only of characters
// YAML allows in a stream (and no byte order mark, which yaml.v3 handles).
func checkPrintable(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if asciiPrintable[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		switch {
		case r == 0x85, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
		i += size
	}
	return true
}

// asciiPrintable marks the ASCII bytes YAML allows as they are.
var asciiPrintable = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	t['\t'], t['\n'], t['\r'] = true, true, true
	return
}()

func (p *fastParser) parseDocument() int32 {
	// A leading "---" line: only a comment may follow the marker.
	if isDocMarker(p.src, 0, "---") {
		p.pos = 3
		p.endLine()
	}
	col := p.nextContent()
	if col < 0 {
		return -1
	}
	root := p.parseNode(col, -1)
	if p.nextContent() >= 0 {
		p.bail()
	}
	if nd := &p.t.nodes[root]; nd.kind == scalarNode && nd.tag == tagNull {
		return -1
	}
	return root
}

func (p *fastParser) newline() {
	p.line++
	p.lineStart = p.pos
}

// endLine consumes the rest of the current line, which must be blank or a
// comment, and its line break.
func (p *fastParser) endLine() {
	start := p.pos
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
	if p.pos >= len(p.src) {
		return
	}
	switch p.src[p.pos] {
	case '#':
		if p.pos == start && p.pos > p.lineStart {
			p.bail() // "#" glued to a value
		}
		p.skipComment()
	case '\n':
		p.pos++
		p.newline()
	case '\r':
		if p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n' {
			p.pos += 2
			p.newline()
			return
		}
		p.bail()
	default:
		p.bail()
	}
}

// skipComment moves past a comment and its line break.
func (p *fastParser) skipComment() {
	i := strings.IndexAny(p.src[p.pos:], "\r\n")
	if i < 0 {
		p.pos = len(p.src)
		return
	}
	p.pos += i
	if p.src[p.pos] == '\r' {
		if p.pos+1 >= len(p.src) || p.src[p.pos+1] != '\n' {
			p.bail() // a lone CR is a line break too: let yaml.v3 count lines
		}
		p.pos++
	}
	p.pos++
	p.newline()
}

// nextContent moves to the first character of the next line holding
// content (skipping blank and comment lines) and returns its column, or -1
// at the end of the input. It must be called where only spaces precede pos
// on the current line.
func (p *fastParser) nextContent() int {
	for {
		for p.pos < len(p.src) && p.src[p.pos] == ' ' {
			p.pos++
		}
		if p.pos >= len(p.src) {
			return -1
		}
		switch p.src[p.pos] {
		case '\n':
			p.pos++
			p.newline()
		case '\r':
			if p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n' {
				p.pos += 2
				p.newline()
				continue
			}
			p.bail()
		case '#':
			p.skipComment()
		case '\t':
			// yaml.v3 rejects tabs at the start of a line in block context.
			p.bail()
		default:
			return p.pos - p.lineStart
		}
	}
}

func (p *fastParser) isDashEntry() bool {
	if p.src[p.pos] != '-' {
		return false
	}
	if p.pos+1 >= len(p.src) {
		return true
	}
	switch p.src[p.pos+1] {
	case ' ', '\n', '\r':
		return true
	case '\t':
		p.bail()
	}
	return false
}

func (p *fastParser) finish(n int32, base int) {
	kids := p.stack[base:]
	nd := &p.t.nodes[n]
	nd.kidStart = int32(len(p.t.kids))
	nd.kidLen = int32(len(kids))
	p.t.kids = append(p.t.kids, kids...)
	p.stack = p.stack[:base]
}

func (p *fastParser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.bail()
	}
}

// parseNode parses the node whose first character is at pos, at column col,
// inside a block collection indented at parent.
func (p *fastParser) parseNode(col, parent int) int32 {
	p.enter()
	defer func() { p.depth-- }()
	c := p.src[p.pos]
	switch c {
	case '-':
		if p.isDashEntry() {
			return p.parseBlockSeq(col)
		}
	case '[', '{':
		n := p.parseFlow()
		p.skipBlanks()
		if p.pos < len(p.src) && p.src[p.pos] == ':' {
			p.bail() // a flow collection as a key
		}
		p.endLine()
		return n
	case '|', '>':
		return p.parseBlockScalar(parent)
	case '&', '*', '!', '?', '%', '@', '`', ',', ']', '}', '#':
		p.bail()
	case ':':
		if p.pos+1 >= len(p.src) || isBlankOrBreak(p.src[p.pos+1]) {
			p.bail()
		}
	}
	// A scalar, or the first key of a block mapping.
	k := p.parseScalarToken()
	if p.atMappingColon() {
		return p.parseBlockMap(col, k)
	}
	p.endLine()
	return k
}

func isBlankOrBreak(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *fastParser) skipBlanks() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// atMappingColon skips blanks and reports whether a ":" mapping indicator
// follows (consuming it).
func (p *fastParser) atMappingColon() bool {
	i := p.pos
	for i < len(p.src) && p.src[i] == ' ' {
		i++
	}
	if i < len(p.src) && p.src[i] == ':' && (i+1 >= len(p.src) || isBlankOrBreak(p.src[i+1])) {
		if i+1 < len(p.src) && p.src[i+1] == '\t' {
			p.bail()
		}
		if i-p.tokStart > 1000 {
			p.bail() // yaml.v3 limits simple keys to 1024 characters
		}
		p.pos = i + 1
		return true
	}
	return false
}

// parseScalarToken parses a single-line quoted or plain scalar in block
// context. A plain scalar stops before ": ", " #" and the line break.
func (p *fastParser) parseScalarToken() int32 {
	switch p.src[p.pos] {
	case '"':
		return p.parseDoubleQuoted()
	case '\'':
		return p.parseSingleQuoted()
	}
	start := p.pos
	end := p.pos
	i := p.pos
	src := p.src
	for i < len(src) {
		c := src[i]
		if c == '\n' || c == '\r' {
			break
		}
		if c == ':' && (i+1 >= len(src) || isBlankOrBreak(src[i+1])) {
			break
		}
		if c == ' ' || c == '\t' {
			i++
			if i < len(src) && src[i] == '#' {
				break
			}
			continue
		}
		i++
		end = i
	}
	p.tokStart = start
	p.pos = end
	v := src[start:end]
	if v == "---" || v == "..." {
		p.bail()
	}
	return p.t.add(node{kind: scalarNode, tag: resolvePlain(v), value: v, line: p.line})
}

func (p *fastParser) parseSingleQuoted() int32 {
	line := p.line
	i := p.pos + 1
	src := p.src
	var b []byte
	start := i
	for {
		j := strings.IndexAny(src[i:], "'\n\r")
		if j < 0 {
			p.bail()
		}
		i += j
		if src[i] != '\'' {
			p.bail() // multi-line
		}
		if i+1 < len(src) && src[i+1] == '\'' {
			b = append(b, src[start:i+1]...)
			i += 2
			start = i
			continue
		}
		break
	}
	var v string
	if b == nil {
		v = src[start:i]
	} else {
		b = append(b, src[start:i]...)
		v = string(b)
	}
	p.tokStart = p.pos
	p.pos = i + 1
	p.afterQuoted()
	return p.t.add(node{kind: scalarNode, tag: tagStr, style: styleQuoted, value: v, line: line})
}

// afterQuoted checks what may follow a closing quote on the line.
func (p *fastParser) afterQuoted() {
	if p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r', ':', ',', ']', '}':
		default:
			p.bail()
		}
	}
}

func (p *fastParser) parseDoubleQuoted() int32 {
	line := p.line
	i := p.pos + 1
	src := p.src
	start := i
	var b []byte
	for {
		j := strings.IndexAny(src[i:], "\"\\\n\r")
		if j < 0 {
			p.bail()
		}
		i += j
		c := src[i]
		if c == '"' {
			break
		}
		if c != '\\' {
			p.bail() // multi-line
		}
		b = append(b, src[start:i]...)
		if i+1 >= len(src) {
			p.bail()
		}
		e := src[i+1]
		i += 2
		switch e {
		case '0':
			b = append(b, 0)
		case 'a':
			b = append(b, '\a')
		case 'b':
			b = append(b, '\b')
		case 't', '\t':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'v':
			b = append(b, '\v')
		case 'f':
			b = append(b, '\f')
		case 'r':
			b = append(b, '\r')
		case 'e':
			b = append(b, 0x1b)
		case ' ':
			b = append(b, ' ')
		case '"':
			b = append(b, '"')
		case '/':
			b = append(b, '/')
		case '\'':
			b = append(b, '\'')
		case '\\':
			b = append(b, '\\')
		case 'N':
			b = utf8.AppendRune(b, 0x85)
		case '_':
			b = utf8.AppendRune(b, 0xA0)
		case 'L':
			b = utf8.AppendRune(b, 0x2028)
		case 'P':
			b = utf8.AppendRune(b, 0x2029)
		case 'x', 'u', 'U':
			n := 2
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
			if i+n > len(src) {
				p.bail()
			}
			var r rune
			for k := 0; k < n; k++ {
				h := src[i+k]
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
			if (r >= 0xD800 && r <= 0xDFFF) || r > 0x10FFFF {
				p.bail()
			}
			b = utf8.AppendRune(b, r)
			i += n
		default:
			p.bail()
		}
		start = i
	}
	var v string
	if b == nil {
		v = src[start:i]
	} else {
		b = append(b, src[start:i]...)
		v = string(b)
	}
	p.tokStart = p.pos
	p.pos = i + 1
	p.afterQuoted()
	return p.t.add(node{kind: scalarNode, tag: tagStr, style: styleQuoted, value: v, line: line})
}

// parseBlockMap parses a block mapping at column col whose first key has
// been parsed and its ":" consumed.
func (p *fastParser) parseBlockMap(col int, firstKey int32) int32 {
	if p.t.nodes[firstKey].tag == tagMerge {
		p.bail()
	}
	keyLine := p.t.nodes[firstKey].line
	m := p.t.add(node{kind: mappingNode, line: keyLine})
	base := len(p.stack)
	k := firstKey
	for {
		p.stack = append(p.stack, k)
		v := p.parseMapValue(col, p.t.nodes[k].line)
		p.stack = append(p.stack, v)
		ind := p.nextContent()
		if ind < col {
			break
		}
		if ind > col {
			p.bail()
		}
		switch p.src[p.pos] {
		case '-':
			if p.isDashEntry() {
				p.bail()
			}
		case '[', '{', '|', '>', '&', '*', '!', '?', '%', '@', '`', ',', ']', '}':
			p.bail()
		case ':':
			if p.pos+1 >= len(p.src) || isBlankOrBreak(p.src[p.pos+1]) {
				p.bail()
			}
		}
		k = p.parseScalarToken()
		if p.t.nodes[k].tag == tagMerge || !p.atMappingColon() {
			p.bail()
		}
	}
	p.finish(m, base)
	return m
}

// parseMapValue parses the value after a key's ":" in a block mapping at col.
func (p *fastParser) parseMapValue(col int, keyLine int32) int32 {
	p.skipBlanks()
	if p.pos >= len(p.src) || p.src[p.pos] == '\n' || p.src[p.pos] == '\r' || p.src[p.pos] == '#' {
		p.endLine()
		ind := p.nextContent()
		if ind > col {
			return p.parseNode(ind, col)
		}
		if ind == col && p.isDashEntry() {
			return p.parseBlockSeq(col)
		}
		return p.t.add(node{kind: scalarNode, tag: tagNull, line: keyLine})
	}
	return p.parseInline(col)
}

// parseInline parses a value that starts on the line of its key or dash.
func (p *fastParser) parseInline(parent int) int32 {
	switch p.src[p.pos] {
	case '[', '{':
		n := p.parseFlow()
		p.endLine()
		return n
	case '|', '>':
		return p.parseBlockScalar(parent)
	case '-':
		if p.isDashEntry() {
			p.bail()
		}
	case '&', '*', '!', '?', '%', '@', '`', ',', ']', '}', '#':
		p.bail()
	case ':':
		if p.pos+1 >= len(p.src) || isBlankOrBreak(p.src[p.pos+1]) {
			p.bail()
		}
	}
	n := p.parseScalarToken()
	if p.pos < len(p.src) && p.src[p.pos] == ':' {
		p.bail() // "a: b: c"
	}
	p.endLine()
	return n
}

// parseBlockSeq parses a block sequence whose first "-" is at pos, column col.
func (p *fastParser) parseBlockSeq(col int) int32 {
	s := p.t.add(node{kind: sequenceNode, line: p.line})
	base := len(p.stack)
	for {
		dashLine := p.line
		p.pos++ // the "-"
		p.skipBlanks()
		var item int32
		if p.pos >= len(p.src) || p.src[p.pos] == '\n' || p.src[p.pos] == '\r' || p.src[p.pos] == '#' {
			p.endLine()
			ind := p.nextContent()
			if ind > col {
				item = p.parseNode(ind, col)
			} else {
				item = p.t.add(node{kind: scalarNode, tag: tagNull, line: dashLine})
			}
		} else {
			item = p.parseNode(p.pos-p.lineStart, col)
		}
		p.stack = append(p.stack, item)
		ind := p.nextContent()
		if ind < col {
			break
		}
		if ind > col {
			p.bail()
		}
		if !p.isDashEntry() {
			break
		}
	}
	p.finish(s, base)
	return s
}

// parseBlockScalar parses a literal (|) or folded (>) scalar; parent is the
// indentation of the enclosing block collection (-1 at the top level). It
// follows yaml.v3's scanner (yaml_parser_scan_block_scalar).
func (p *fastParser) parseBlockScalar(parent int) int32 {
	line := p.line
	literal := p.src[p.pos] == '|'
	p.pos++
	chomping := 0
	increment := 0
	for k := 0; k < 2 && p.pos < len(p.src); k++ {
		c := p.src[p.pos]
		switch {
		case (c == '+' || c == '-') && chomping == 0:
			if c == '+' {
				chomping = 1
			} else {
				chomping = -1
			}
			p.pos++
		case c >= '1' && c <= '9' && increment == 0:
			increment = int(c - '0')
			p.pos++
		}
	}
	if p.pos < len(p.src) && !isBlankOrBreak(p.src[p.pos]) && p.src[p.pos] != '#' {
		p.bail()
	}
	p.endLine()
	indent := 0
	if increment > 0 {
		if parent >= 0 {
			indent = parent + increment
		} else {
			indent = increment
		}
	}
	var trailing []byte
	maxIndent := 0
	src := p.src
	// scanBreaks is yaml_parser_scan_block_scalar_breaks.
	scanBreaks := func() {
		for {
			for (indent == 0 || p.pos-p.lineStart < indent) && p.pos < len(src) && src[p.pos] == ' ' {
				p.pos++
			}
			if c := p.pos - p.lineStart; c > maxIndent {
				maxIndent = c
			}
			if p.pos < len(src) && src[p.pos] == '\t' && (indent == 0 || p.pos-p.lineStart < indent) {
				p.bail()
			}
			if p.pos >= len(src) {
				break
			}
			if src[p.pos] == '\n' {
				p.pos++
			} else if src[p.pos] == '\r' && p.pos+1 < len(src) && src[p.pos+1] == '\n' {
				p.pos += 2
			} else if src[p.pos] == '\r' {
				p.bail()
			} else {
				break
			}
			trailing = append(trailing, '\n')
			p.newline()
		}
	}
	scanBreaks()
	if indent == 0 {
		indent = maxIndent
		if indent < parent+1 {
			indent = parent + 1
		}
		if indent < 1 {
			indent = 1
		}
	}
	var s []byte
	var leading []byte
	leadingBlank := false
	for p.pos-p.lineStart == indent && p.pos < len(src) {
		c := src[p.pos]
		trailingBlank := c == ' ' || c == '\t'
		if !literal && len(leading) > 0 && leading[0] == '\n' && !leadingBlank && !trailingBlank {
			if len(trailing) == 0 {
				s = append(s, ' ')
			}
			leading = leading[:0]
		} else {
			s = append(s, leading...)
			leading = leading[:0]
		}
		s = append(s, trailing...)
		trailing = trailing[:0]
		leadingBlank = trailingBlank
		e := strings.IndexByte(src[p.pos:], '\n')
		if e < 0 {
			e = len(src) - p.pos
		}
		content := src[p.pos : p.pos+e]
		if strings.HasSuffix(content, "\r") {
			if p.pos+e == len(src) {
				p.bail() // a lone CR line break at the end
			}
			content = content[:len(content)-1]
		}
		if strings.IndexByte(content, '\r') >= 0 {
			p.bail()
		}
		s = append(s, content...)
		p.pos += e
		if p.pos < len(src) {
			p.pos++
			p.newline()
			leading = append(leading, '\n')
		}
		scanBreaks()
	}
	if chomping != -1 {
		s = append(s, leading...)
	}
	if chomping == 1 {
		s = append(s, trailing...)
	}
	// The parent continues at pos: only spaces precede it on its line.
	return p.t.add(node{kind: scalarNode, tag: tagStr, style: styleBlock, value: string(s), line: line})
}

// parseFlow parses a flow sequence or mapping that ends on the same line.
func (p *fastParser) parseFlow() int32 {
	p.enter()
	defer func() { p.depth-- }()
	line := p.line
	open := p.src[p.pos]
	p.pos++
	base := len(p.stack)
	var n int32
	if open == '[' {
		n = p.t.add(node{kind: sequenceNode, line: line})
		p.skipFlowSpace()
		if p.peek() == ']' {
			p.pos++
		} else {
			for {
				item := p.parseFlowItem()
				p.stack = append(p.stack, item)
				p.skipFlowSpace()
				switch p.peek() {
				case ',':
					p.pos++
					p.skipFlowSpace()
					if p.peek() == ']' {
						p.bail()
					}
					continue
				case ']':
					p.pos++
				default:
					p.bail()
				}
				break
			}
		}
	} else {
		n = p.t.add(node{kind: mappingNode, line: line})
		p.skipFlowSpace()
		if p.peek() == '}' {
			p.pos++
		} else {
			for {
				c := p.peek()
				if c == '[' || c == '{' {
					p.bail()
				}
				k := p.parseFlowItem()
				if p.t.nodes[k].tag == tagMerge {
					p.bail()
				}
				p.skipFlowSpace()
				if p.peek() != ':' {
					p.bail()
				}
				p.pos++
				if p.t.nodes[k].style == stylePlain && !isBlankOrBreak(p.peek()) {
					p.bail()
				}
				p.skipFlowSpace()
				switch p.peek() {
				case ',', '}', 0:
					p.bail()
				}
				v := p.parseFlowItem()
				p.stack = append(p.stack, k, v)
				p.skipFlowSpace()
				switch p.peek() {
				case ',':
					p.pos++
					p.skipFlowSpace()
					if p.peek() == '}' {
						p.bail()
					}
					continue
				case '}':
					p.pos++
				default:
					p.bail()
				}
				break
			}
		}
	}
	p.finish(n, base)
	if p.pos < len(p.src) && !isBlankOrBreak(p.src[p.pos]) && p.src[p.pos] != ',' && p.src[p.pos] != ']' && p.src[p.pos] != '}' && p.src[p.pos] != ':' {
		p.bail()
	}
	return n
}

func (p *fastParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *fastParser) skipFlowSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t':
			p.pos++
		case '\n', '\r', '#':
			p.bail()
		default:
			return
		}
	}
	p.bail()
}

func (p *fastParser) parseFlowItem() int32 {
	switch c := p.peek(); c {
	case '[', '{':
		return p.parseFlow()
	case '"':
		return p.parseDoubleQuoted()
	case '\'':
		return p.parseSingleQuoted()
	case '-', '?', ':':
		if p.pos+1 >= len(p.src) || isBlankOrBreak(p.src[p.pos+1]) || strings.IndexByte(",[]{}", p.src[p.pos+1]) >= 0 {
			p.bail()
		}
	case '&', '*', '!', '|', '>', '%', '@', '`', ',', ']', '}', '#', 0:
		p.bail()
	}
	start := p.pos
	end := p.pos
	i := p.pos
	src := p.src
	for i < len(src) {
		c := src[i]
		if c == '\n' || c == '\r' || c == ',' || c == '[' || c == ']' || c == '{' || c == '}' {
			break
		}
		if c == ':' {
			if i+1 < len(src) && (src[i+1] == ' ' || src[i+1] == '\t') {
				break
			}
			p.bail()
		}
		if c == ' ' || c == '\t' {
			i++
			if i < len(src) && src[i] == '#' {
				p.bail()
			}
			continue
		}
		i++
		end = i
	}
	if end == start || end-start > 1000 {
		p.bail()
	}
	p.pos = end
	v := src[start:end]
	return p.t.add(node{kind: scalarNode, tag: resolvePlain(v), value: v, line: p.line})
}
