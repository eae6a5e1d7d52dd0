package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

// Content gives rules each object as Kubernetes JSON shapes it: maps,
// lists, strings, int64, float64, bool.
//
// The snapshot keeps each object's typed form (Kubernetes' Go types,
// Istio's protobuf specs), which holds every field of the kind's schema,
// whether meshready's own checks read it or not; it is converted straight
// into maps, with no JSON text in between. That is what the API server
// stores and serves (it drops fields outside the schema, as Istio ignores
// them), and it is the same whether the object came from a file or a
// cluster, so a rule gives the same answer offline and live. Durations
// read as protobuf writes them ("2m" is "120s").
//
// Objects with no typed form (a kind or version meshready does not
// decode) are read again from the manifest file they came from, exactly
// as written; only the document at the object's line is parsed. Secrets
// never are: their values must not be read.
//
// A Content is safe for concurrent use; it keeps the text of the files it
// has re-read until it is dropped.
type Content struct {
	mu    sync.Mutex
	files map[string]*sourceFile
}

// NewContent returns an empty Content.
func NewContent() *Content { return &Content{files: map[string]*sourceFile{}} }

// ErrNoContent: the object's fields cannot be given to a rule.
var ErrNoContent = errors.New("its content was not read (a kind or version meshready does not decode, from a source it cannot re-read: a cluster or standard input)")

// Of returns an object's content. Rules only read it: callers must not
// change the map.
func (c *Content) Of(o *snapshot.Object) (map[string]any, error) {
	switch t := o.Typed.(type) {
	case nil:
		if o.Key == snapshot.Secret || o.Origin.Line <= 0 || o.Origin.File == loader.StdinName {
			return nil, ErrNoContent
		}
		m, err := c.fromFile(o)
		if err == nil && m == nil {
			err = ErrNoContent
		}
		return m, err
	case map[string]any:
		return t, nil
	default:
		return typedContent(o, t)
	}
}

// sourceFile is a manifest file cut into documents.
type sourceFile struct {
	err    error
	chunks []fileChunk // in line order
}

type fileChunk struct {
	line int // first line
	text string
	// roots caches the parsed documents of big chunks (a List's items
	// are read one by one).
	roots []*yaml.Node
}

// bigChunk is the size from which a parsed chunk is kept.
const bigChunk = 64 << 10

func (c *Content) fromFile(o *snapshot.Object) (map[string]any, error) {
	c.mu.Lock()
	f, ok := c.files[o.Origin.File]
	if !ok {
		f = readSource(o.Origin.File)
		c.files[o.Origin.File] = f
	}
	c.mu.Unlock()
	if f.err != nil {
		return nil, nil // not a file (any more)
	}
	i := sort.Search(len(f.chunks), func(i int) bool { return f.chunks[i].line > o.Origin.Line }) - 1
	if i < 0 {
		return nil, nil
	}
	ch := &f.chunks[i]
	c.mu.Lock()
	roots := ch.roots
	c.mu.Unlock()
	if roots == nil {
		var err error
		if roots, err = parseChunk(ch); err != nil {
			return nil, nil // the file changed since it was loaded
		}
		if len(ch.text) >= bigChunk {
			c.mu.Lock()
			ch.roots = roots
			c.mu.Unlock()
		}
	}
	for _, r := range roots {
		if n := findMapping(r, o.Origin.Line-ch.line+1); n != nil {
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, nil
			}
			pv, err := plain(v)
			m, _ := pv.(map[string]any)
			if err != nil || m == nil || !sameObject(m, o) {
				return nil, nil
			}
			fillIdentity(m, o)
			return m, nil
		}
	}
	return nil, nil
}

func readSource(path string) *sourceFile {
	data, err := os.ReadFile(path)
	if err != nil {
		return &sourceFile{err: err}
	}
	return &sourceFile{chunks: splitDocuments(string(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))}
}

// splitDocuments cuts a YAML stream at its "---" lines as the loader does;
// a file with directives or "..." markers stays whole.
func splitDocuments(src string) []fileChunk {
	var out []fileChunk
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(src); {
		rest := src[i:]
		switch {
		case docMarker(rest, "---") && i > start:
			out = append(out, fileChunk{line: startLine, text: src[start:i]})
			start, startLine = i, line
		case docMarker(rest, "..."), strings.HasPrefix(rest, "%"):
			return []fileChunk{{line: 1, text: src}}
		}
		j := strings.IndexByte(rest, '\n')
		if j < 0 {
			break
		}
		i += j + 1
		line++
	}
	return append(out, fileChunk{line: startLine, text: src[start:]})
}

func docMarker(s, marker string) bool {
	if !strings.HasPrefix(s, marker) {
		return false
	}
	return len(s) == 3 || strings.ContainsRune(" \t\r\n", rune(s[3]))
}

// parseChunk parses the documents of a chunk; line numbers count from the
// chunk's first line.
func parseChunk(ch *fileChunk) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(ch.text))
	var roots []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return roots, nil
		}
		if err != nil {
			return nil, err
		}
		roots = append(roots, &n)
	}
}

// findMapping finds the object starting at line: a document, or an item
// of a List document.
func findMapping(n *yaml.Node, line int) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if n.Line == line {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "items" && n.Content[i+1].Kind == yaml.SequenceNode {
			items := n.Content[i+1].Content
			j := sort.Search(len(items), func(j int) bool { return items[j].Line >= line })
			if j < len(items) && items[j].Line == line && items[j].Kind == yaml.MappingNode {
				return items[j]
			}
		}
	}
	return nil
}

// sameObject guards against a file that changed since it was loaded.
func sameObject(m map[string]any, o *snapshot.Object) bool {
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	kind, _ := m["kind"].(string)
	return name == o.Name && (kind == o.Kind || kind == "")
}

// fillIdentity writes what the loader inferred: a List item's apiVersion
// and kind, and the namespace a namespaced object left out (as
// `kubectl apply` without -n would).
func fillIdentity(m map[string]any, o *snapshot.Object) {
	if _, ok := m["apiVersion"]; !ok {
		m["apiVersion"] = o.APIVersion
	}
	if _, ok := m["kind"]; !ok {
		m["kind"] = o.Kind
	}
	if meta, ok := m["metadata"].(map[string]any); ok && o.Namespace != "" {
		meta["namespace"] = o.Namespace
	}
}

// plain converts decoded YAML or JSON into JSON's shapes: string-keyed
// maps, int64 for integers, float64 otherwise, RFC 3339 for timestamps.
func plain(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			pv, err := plain(e)
			if err != nil {
				return nil, err
			}
			x[k] = pv
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			pv, err := plain(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = pv
		}
		return m, nil
	case []any:
		for i, e := range x {
			pv, err := plain(e)
			if err != nil {
				return nil, err
			}
			x[i] = pv
		}
		return x, nil
	case int:
		return int64(x), nil
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return float64(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		return f, err
	case time.Time:
		return x.UTC().Format(time.RFC3339), nil
	case []byte:
		return string(x), nil
	}
	return v, nil
}
