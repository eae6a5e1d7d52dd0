package loader

import "strings"

// A chunk is a piece of a file holding one YAML document (or, when the file
// uses directives or "..." markers, the whole file).
type chunk struct {
	text string
	line int  // file line of text's first line
	json bool // parse as JSON first
}

// isDocMarker reports whether s[i:] starts with the marker ("---" or "...")
// followed by a blank, a line break or the end.
func isDocMarker(s string, i int, marker string) bool {
	if !strings.HasPrefix(s[i:], marker) {
		return false
	}
	if i+3 == len(s) {
		return true
	}
	switch s[i+3] {
	case ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// splitDocuments cuts a YAML stream at its "---" lines. A line that starts
// with "---" and a blank is always a document marker in YAML (it cannot
// occur inside a scalar), so the cut needs no parsing. Each chunk keeps its
// "---" line so that errors and yaml.v3 see the same text. Files with
// directives or "..." end markers are not cut: yaml.v3 reads them whole.
func splitDocuments(src string) []chunk {
	var out []chunk
	start, startLine := 0, 1
	line := 1
	for i := 0; i < len(src); {
		switch src[i] {
		case '-':
			if i > start && isDocMarker(src, i, "---") {
				out = append(out, chunk{text: src[start:i], line: startLine})
				start, startLine = i, line
			}
		case '.':
			if isDocMarker(src, i, "...") {
				return []chunk{{text: src, line: 1}}
			}
		case '%':
			return []chunk{{text: src, line: 1}}
		}
		j := strings.IndexByte(src[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		line++
	}
	out = append(out, chunk{text: src[start:], line: startLine})
	return out
}
