package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dumpTree renders a subtree for comparisons and failure messages.
func dumpTree(t *tree, n int32, b *strings.Builder, indent string) {
	if n < 0 {
		b.WriteString(indent + "<empty>\n")
		return
	}
	nd := &t.nodes[n]
	switch nd.kind {
	case scalarNode:
		fmt.Fprintf(b, "%s%d %s/%d %q\n", indent, nd.line, nd.tag, nd.style, nd.value)
	default:
		fmt.Fprintf(b, "%s%d %s\n", indent, nd.line, nd.kind)
		for _, k := range t.children(n) {
			dumpTree(t, k, b, indent+"  ")
		}
	}
}

func renderDocs(t *tree, docs []docResult) string {
	var b strings.Builder
	for _, d := range docs {
		if d.err != nil {
			fmt.Fprintf(&b, "error %d: %s\n", d.err.line, d.err.msg)
			continue
		}
		dumpTree(t, d.root, &b, "")
		b.WriteString("--\n")
	}
	return b.String()
}

// compareWithYAMLv3 checks that, for every chunk of src the fast parsers
// accept, yaml.v3 produces the same tree. It returns how many chunks the
// fast parsers took.
func compareWithYAMLv3(tb testing.TB, src string, json bool) (fast, total int) {
	tb.Helper()
	var chunks []chunk
	if json {
		chunks = []chunk{{text: src, line: 1, json: true}}
	} else {
		chunks = splitDocuments(src)
	}
	for _, c := range chunks {
		total++
		var ft tree
		var fdocs []docResult
		if off, line, ok := jsonStart(c); ok {
			if root, ok, _ := parseFastJSON(&ft, c.text[off:], line, nil); ok {
				fdocs = []docResult{{root: root}}
			} else {
				ft.reset()
			}
		}
		if fdocs == nil && !c.json {
			if root, ok, _ := parseFastYAML(&ft, c.text, c.line, nil); ok {
				fdocs = []docResult{{root: root}}
			}
		}
		if fdocs == nil {
			continue
		}
		fast++
		var vt tree
		vdocs := parseYAMLv3(&vt, c, nil)
		if len(vdocs) == 0 {
			vdocs = []docResult{{root: -1}}
		}
		got, want := renderDocs(&ft, fdocs), renderDocs(&vt, vdocs)
		if got != want {
			tb.Fatalf("fast parser differs from yaml.v3 on chunk at line %d:\n%s\n--- fast:\n%s--- yaml.v3:\n%s", c.line, c.text, got, want)
		}
	}
	return fast, total
}

func TestFastParserMatchesYAMLv3(t *testing.T) {
	cases := map[string]string{
		"simple":        "a: b\nc: 1\nd: true\ne: ~\nf:\ng: 1.5\n",
		"nested":        "a:\n  b:\n    c: d\n  e: [1, 2, \"x\"]\nf: {a: b, \"c\": 'd'}\n",
		"seq":           "- a\n- b: c\n  d: e\n-\n  - x\n  - y\n- - z\n",
		"indentless":    "a:\n- 1\n- 2\nb: c\n",
		"emptyval":      "a:\nb:\n  c:\n",
		"literal":       "a: |\n  line1\n   line2\n\n  line3\n\nb: x\n",
		"literalkeep":   "a: |+\n  x\n\n\nb: |-\n  y\n\n",
		"folded":        "a: >\n  one\n  two\n\n  three\n   indented\n  four\nb: >-\n  x\n",
		"indentind":     "a: |2\n    x\n  y\n",
		"blockseq":      "- |\n  x\n- >\n  y\n",
		"comments":      "# c\na: b # c\n# d\nc:   # e\n  d: e\n",
		"quoted":        "a: \"x\\ty\\u00e9\\\"\"\nb: 'it''s'\n\"c\": d\n'e': f\n",
		"numbers":       "a: 0x1F\nb: 0o17\nc: 1_000\nd: -1.5e3\ne: .5\nf: 08\ng: +1\nh: 2001-12-14\ni: .inf\nj: -.Inf\nk: 123456789012345678901234\n",
		"bools":         "a: yes\nb: no\nc: True\nd: FALSE\ne: on\n",
		"urls":          "a: http://x.y/z\nb: a:b\nc: -x\nd: ?x\n",
		"marker":        "---\na: b\n---\n# only comment\n---\nc: d\n",
		"markercomment": "--- # hi\na: b\n",
		"crlf":          "a: b\r\nc:\r\n  - d\r\n",
		"noeol":         "a: b",
		"spaces":        "a:    b   \nc:  \"x\"   \n",
		"deep":          "a:\n    b:\n        - c: d\n          e:\n            - f\n",
		"flowseqmap":    "a: [{b: c}, {d: [e, f]}]\n",
		"scalar":        "just text\n",
		"topseq":        "- 1\n- 2\n",
		"json":          "{\"a\": [1, 2.5, true, null, \"x\\n\"], \"b\": {}}\n",
		"jsonmulti":     "{\n  \"a\": 1,\n  \"b\": [\n    \"c\"\n  ]\n}\n",
		"emptyblock":    "a: |\nb: c\n",
		"emptyfolded":   "a: >\n\nb: c\n",
		"trailingblank": "a: |\n  x\n  \n   \n",
		"seqnull":       "- \n- a\n-\n",
		"hashinvalue":   "a: b#c\nd: 'e' # f\n",
		"bigindent":     "a:\n         b: c\n         d:\n                  - e\n",
		"longvalues":    "a: " + strings.Repeat("abcdefghij", 300) + "\nb: '" + strings.Repeat("x", 3000) + "'\n",
		"longkey":       strings.Repeat("k", 1100) + ": x\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			compareWithYAMLv3(t, src, false)
		})
	}
	t.Run("generated", func(t *testing.T) {
		fast, total := compareWithYAMLv3(t, string(genManifests(20)), false)
		if fast != total {
			t.Errorf("fast parser took %d of %d generated chunks", fast, total)
		}
	})
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			compareWithYAMLv3(t, string(data), false)
		})
	}
}

func FuzzFastParserMatchesYAMLv3(f *testing.F) {
	f.Add("a: b\nc:\n- d\n- e: |\n    x\n")
	f.Add("a: [1, {b: c}]\n")
	f.Add("{\"a\": [1, \"b\"]}")
	f.Add(string(genManifests(1)))
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		compareWithYAMLv3(t, src, false)
	})
}
