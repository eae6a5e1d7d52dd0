package loader

// parseChunk parses one chunk into t (which it does not reset), trying the
// fast JSON and YAML parsers before yaml.v3.
func parseChunk(t *tree, c chunk, stack []int32, out []docResult) ([]docResult, []int32) {
	n0, k0 := len(t.nodes), len(t.kids)
	if off, line, ok := jsonStart(c); ok {
		root, ok, st := parseFastJSON(t, c.text[off:], line, stack)
		stack = st
		if ok {
			return append(out, docResult{root: root}), stack
		}
		t.nodes, t.kids = t.nodes[:n0], t.kids[:k0]
	}
	if !c.json {
		root, ok, st := parseFastYAML(t, c.text, c.line, stack)
		stack = st
		if ok {
			return append(out, docResult{root: root}), stack
		}
		t.nodes, t.kids = t.nodes[:n0], t.kids[:k0]
	}
	return parseYAMLv3(t, c, out), stack
}

// jsonStart finds where a chunk's content starts (after a "---" line,
// blank lines and comments) and reports whether it looks like JSON.
func jsonStart(c chunk) (off, line int, ok bool) {
	s := c.text
	line = c.line
	i := 0
	if isDocMarker(s, 0, "---") {
		for i < len(s) && s[i] != '\n' {
			i++
		}
	}
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r':
			i++
		case '\n':
			i++
			line++
		case '#':
			if c.json {
				return 0, 0, false
			}
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case '{', '[':
			return i, line, true
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}
