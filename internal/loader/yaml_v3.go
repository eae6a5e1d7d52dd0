package loader

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// docResult is one parsed document of a chunk: its root (-1 when empty) or
// the YAML error that stopped the parse.
type docResult struct {
	root int32
	err  *lineError
}

// lineError is an error at a file line.
type lineError struct {
	line int
	msg  string
}

// yamlParserErrors are the problems yaml.v3's parser (parserc.go) reports.
var yamlParserErrors = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAMLv3 parses a chunk with yaml.v3 (the slow, complete parser) into t,
// appending one docResult per document. After an error it stops: yaml.v3
// cannot resynchronise within a stream.
func parseYAMLv3(t *tree, c chunk, out []docResult) []docResult {
	dec := yaml.NewDecoder(strings.NewReader(c.text))
	conv := v3converter{t: t, lineOff: int32(c.line - 1), budget: 16*len(c.text) + 1024}
	for {
		var doc yaml.Node
		err := decodeYAMLSafely(dec, &doc)
		if err == io.EOF {
			return out
		}
		if err != nil {
			le := yamlError(err, c.line)
			// Errors at the end of the input point past the last line.
			if last := c.line + strings.Count(strings.TrimRight(c.text, "\n\r \t"), "\n"); le.line > last {
				le.line = last
			}
			out = append(out, docResult{root: -1, err: le})
			return out
		}
		if len(doc.Content) == 0 {
			out = append(out, docResult{root: -1})
			continue
		}
		root, cerr := conv.convert(doc.Content[0])
		if cerr != nil {
			out = append(out, docResult{root: -1, err: cerr})
			continue
		}
		if t.nodes[root].kind == scalarNode && t.nodes[root].tag == tagNull {
			root = -1 // an empty document
		}
		out = append(out, docResult{root: root})
	}
}

func decodeYAMLSafely(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

// yamlError turns a yaml.v3 error into a file line and a message.
func yamlError(err error, firstLine int) *lineError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if yamlParserErrors[m[2]] {
			// yaml.v3 prints 0-based lines for parser (not scanner) errors.
			n++
		}
		return &lineError{line: firstLine + n - 1, msg: "invalid YAML: " + m[2]}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &lineError{line: firstLine, msg: "invalid YAML: " + msg}
}

// v3converter copies a yaml.v3 node tree into a tree, expanding aliases
// (within a budget, against "billion laughs" documents) and merge keys.
type v3converter struct {
	t       *tree
	lineOff int32
	budget  int
	active  map[*yaml.Node]bool
	depth   int
}

var errAliasBudget = errors.New("too many alias expansions")

func (c *v3converter) convert(n *yaml.Node) (root int32, err *lineError) {
	defer func() {
		if r := recover(); r != nil {
			le, ok := r.(*lineError)
			if !ok {
				panic(r)
			}
			root, err = -1, le
		}
	}()
	return c.node(n), nil
}

func (c *v3converter) fail(n *yaml.Node, format string, args ...any) {
	panic(&lineError{line: int(c.lineOff) + n.Line, msg: fmt.Sprintf(format, args...)})
}

func (c *v3converter) node(n *yaml.Node) int32 {
	c.budget--
	if c.budget < 0 {
		c.fail(n, "invalid YAML: %v", errAliasBudget)
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth {
		c.fail(n, "invalid YAML: nesting too deep")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return c.t.add(node{kind: scalarNode, tag: tagNull, line: c.lineOff + int32(n.Line)})
		}
		return c.node(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			c.fail(n, "invalid YAML: unknown anchor")
		}
		if c.active[n.Alias] {
			c.fail(n, "invalid YAML: anchor %q is used inside itself", n.Value)
		}
		return c.node(n.Alias)
	case yaml.ScalarNode:
		nd := node{kind: scalarNode, value: n.Value, line: c.lineOff + int32(n.Line)}
		switch n.ShortTag() {
		case "!!str":
			nd.tag = tagStr
		case "!!null":
			nd.tag = tagNull
		case "!!bool":
			nd.tag = tagBool
		case "!!int":
			nd.tag = tagInt
		case "!!float":
			nd.tag = tagFloat
		case "!!timestamp":
			nd.tag = tagTimestamp
		case "!!binary":
			nd.tag = tagBinary
		case "!!merge":
			nd.tag = tagMerge
		default:
			nd.tag = tagOther
		}
		switch {
		case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
			nd.style = styleQuoted
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			nd.style = styleBlock
		}
		return c.t.add(nd)
	case yaml.SequenceNode:
		c.enter(n)
		defer c.leave(n)
		idx := c.t.add(node{kind: sequenceNode, line: c.lineOff + int32(n.Line)})
		kids := make([]int32, 0, len(n.Content))
		for _, k := range n.Content {
			kids = append(kids, c.node(k))
		}
		c.setKids(idx, kids)
		return idx
	case yaml.MappingNode:
		c.enter(n)
		defer c.leave(n)
		idx := c.t.add(node{kind: mappingNode, line: c.lineOff + int32(n.Line)})
		var kids []int32
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			kids = append(kids, c.node(k), c.node(v))
		}
		for _, m := range merges {
			kids = c.merge(kids, m)
		}
		c.setKids(idx, kids)
		return idx
	}
	c.fail(n, "invalid YAML: unexpected node")
	return -1
}

func (c *v3converter) enter(n *yaml.Node) {
	if n.Anchor == "" {
		return
	}
	if c.active == nil {
		c.active = map[*yaml.Node]bool{}
	}
	c.active[n] = true
}

func (c *v3converter) leave(n *yaml.Node) {
	if n.Anchor != "" {
		delete(c.active, n)
	}
}

// merge adds the pairs of a "<<" value (a mapping, an alias to one, or a
// sequence of those) whose keys are not already present.
func (c *v3converter) merge(kids []int32, v *yaml.Node) []int32 {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.SequenceNode:
		for _, e := range v.Content {
			kids = c.merge(kids, e)
		}
		return kids
	case yaml.MappingNode:
	default:
		c.fail(v, "invalid YAML: map merge requires a mapping or a sequence of mappings")
	}
	m := c.node(v)
	mk := append([]int32(nil), c.t.children(m)...)
	for i := 0; i+1 < len(mk); i += 2 {
		key := &c.t.nodes[mk[i]]
		dup := false
		for j := 0; j+1 < len(kids); j += 2 {
			o := &c.t.nodes[kids[j]]
			if o.kind == scalarNode && key.kind == scalarNode && o.value == key.value {
				dup = true
				break
			}
		}
		if !dup {
			kids = append(kids, mk[i], mk[i+1])
		}
	}
	return kids
}

func (c *v3converter) setKids(idx int32, kids []int32) {
	nd := &c.t.nodes[idx]
	nd.kidStart = int32(len(c.t.kids))
	nd.kidLen = int32(len(kids))
	c.t.kids = append(c.t.kids, kids...)
}
