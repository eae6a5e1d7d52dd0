// Package loader reads Kubernetes and Istio manifests (YAML or JSON files,
// directories of them, standard input) into snapshot objects.
//
// Speed is its main concern: 25,000 objects (8.5 MB) must load in a
// fraction of a second. Each document is parsed once, by a fast parser for
// the YAML subset manifests use (yaml_fast.go; yaml.v3 takes over for
// anything else, and reports syntax errors), into a compact node tree; the
// tree is decoded straight into typed objects by a reflection decoder for
// Go structs (decode_struct.go) and one for the generated structs of Istio's
// protobuf specs (decode_protostruct.go, falling back to protoreflect in
// decode_proto.go). Files, the documents of a file and the items of a big
// List are decoded in parallel; the output order is the input order.
//
// The decoded objects equal what the usual path gives (sigs.k8s.io/yaml,
// then encoding/json, whose Istio specs decode through jsonpb; see
// decodeSlow and TestParityWithReference), except where that path is
// wrong or lossy:
//   - a number or bool in a Kubernetes string field keeps its text ("1.10"
//     stays "1.10", not "1.1");
//   - yes/no/on/off are strings in string fields (YAML 1.2, as yaml.v3
//     reads them) but bools in bool fields and untyped maps (YAML 1.1, as
//     kubectl reads them);
//   - a key given twice in a mapping is an error (not "the last one wins").
//
// Durations in Istio specs take Go's syntax ("1.5s", "100ms", "1m30s"), as
// Istio's own decoder (jsonpb) does.
package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshready/meshready/internal/snapshot"
)

// StdinName is the Origin.File of objects read from standard input ("-").
const StdinName = "<stdin>"

// DefaultNamespace is given to objects of namespaced kinds that name no
// namespace. Manifests often leave it out, expecting `kubectl apply -n`;
// meshready reads them as kubectl would without -n.
const DefaultNamespace = "default"

// lastApplied is the annotation kubectl fills with the whole object: on a
// Secret it holds the values, so it is dropped.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// recoverPanics turns a panic while reading a document into an InputError
// (the fuzz test turns it off to see them).
var recoverPanics = true

// source is one input: a file to read, or data already read.
type source struct {
	name string // Origin.File
	path string // to read; "" when data is set
	data []byte
	json bool
}

// Load reads manifests from files and directories (recursively: *.yaml,
// *.yml and *.json, skipping hidden files and directories, in lexical
// order); "-" reads stdin. Problems with documents are returned as
// InputErrors and the rest is still read; err is only for unusable
// arguments (a path that does not exist), which the CLI reports as a usage
// error.
func Load(paths []string, stdin io.Reader) (objs []*snapshot.Object, errs []snapshot.InputError, err error) {
	var srcs []source
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "-" {
			if seen["-"] {
				continue
			}
			seen["-"] = true
			if stdin == nil {
				return nil, nil, errors.New("-: no standard input")
			}
			data, rerr := io.ReadAll(stdin)
			if rerr != nil {
				return nil, nil, fmt.Errorf("reading standard input: %w", rerr)
			}
			srcs = append(srcs, source{name: StdinName, data: data})
			continue
		}
		st, serr := os.Stat(p)
		if serr != nil {
			if errors.Is(serr, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("%s: no such file or directory", p)
			}
			return nil, nil, serr
		}
		if !st.IsDir() {
			if !seen[filepath.Clean(p)] {
				seen[filepath.Clean(p)] = true
				srcs = append(srcs, source{name: p, path: p, json: isJSONName(p)})
			}
			continue
		}
		werr := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, snapshot.InputError{File: path, Message: err.Error()})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			hidden := path != p && strings.HasPrefix(d.Name(), ".")
			if d.IsDir() {
				if hidden {
					return fs.SkipDir
				}
				return nil
			}
			if hidden || !isManifestName(d.Name()) {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			if c := filepath.Clean(path); !seen[c] {
				seen[c] = true
				srcs = append(srcs, source{name: path, path: path, json: isJSONName(path)})
			}
			return nil
		})
		if werr != nil {
			return nil, nil, werr
		}
	}
	o, e := loadSources(srcs)
	return o, append(errs, e...), nil
}

// LoadBytes reads one file's content, named name in origins and errors.
func LoadBytes(name string, data []byte) ([]*snapshot.Object, []snapshot.InputError) {
	return loadSources([]source{{name: name, data: data, json: isJSONName(name)}})
}

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func isJSONName(name string) bool { return strings.EqualFold(filepath.Ext(name), ".json") }

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, fn func(worker, i int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}(w)
	}
	wg.Wait()
}

// preparedFile is a source read and cut into chunks.
type preparedFile struct {
	chunks []chunk
	clone  bool
	err    error
}

// parallelListItems is the size from which a List's items are decoded in parallel.
const parallelListItems = 256

// item is one output of a document: an object or an error, in input order.
type item struct {
	obj *snapshot.Object
	err *snapshot.InputError
}

type chunkJob struct {
	file  int
	chunk chunk
}

// worker holds the buffers one goroutine reuses from chunk to chunk.
type worker struct {
	dec   decoder
	t     tree
	stack []int32
	docs  []docResult
}

func loadSources(srcs []source) ([]*snapshot.Object, []snapshot.InputError) {
	files := make([]preparedFile, len(srcs))
	parallel(len(srcs), func(_, i int) {
		s := srcs[i]
		data := s.data
		if s.path != "" {
			var err error
			if data, err = os.ReadFile(s.path); err != nil {
				files[i].err = err
				return
			}
		}
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		text := string(data)
		// A file holding a Secret is decoded with every string copied, so
		// that no object keeps the file's text (and the values) alive.
		files[i].clone = strings.Contains(text, "Secret")
		if s.json {
			files[i].chunks = []chunk{{text: text, line: 1, json: true}}
		} else {
			files[i].chunks = splitDocuments(text)
		}
	})
	var jobs []chunkJob
	for i := range files {
		for _, c := range files[i].chunks {
			jobs = append(jobs, chunkJob{file: i, chunk: c})
		}
	}
	results := make([][]item, len(jobs))
	workers := make([]worker, runtime.GOMAXPROCS(0))
	parallel(len(jobs), func(w, i int) {
		j := jobs[i]
		results[i] = workers[w].process(srcs[j.file].name, j.chunk, files[j.file].clone)
	})

	var objs []*snapshot.Object
	var errs []snapshot.InputError
	type idKey struct{ kind, ns, name string }
	byID := make(map[idKey]*snapshot.Object, len(jobs))
	ji := 0
	for i, f := range files {
		if f.err != nil {
			errs = append(errs, snapshot.InputError{File: srcs[i].name, Message: f.err.Error()})
		}
		for range f.chunks {
			for _, it := range results[ji] {
				if it.err != nil {
					errs = append(errs, *it.err)
				}
				if it.obj == nil {
					continue
				}
				o := it.obj
				k := idKey{o.Key, o.Namespace, o.Name}
				if first, dup := byID[k]; dup {
					errs = append(errs, snapshot.InputError{File: o.Origin.File, Line: o.Origin.Line,
						Message: fmt.Sprintf("duplicate %s %s: already defined at %s; this one is ignored", o.Key, nsName(o), first.Origin)})
					continue
				}
				byID[k] = o
				objs = append(objs, o)
			}
			ji++
		}
	}
	return objs, errs
}

func nsName(o *snapshot.Object) string {
	if o.Namespace == "" {
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

// process parses and decodes one chunk.
func (w *worker) process(file string, c chunk, clone bool) (out []item) {
	defer func() {
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			out = append(out, item{err: &snapshot.InputError{File: file, Line: c.line,
				Message: fmt.Sprintf("internal error reading this document: %v", r)}})
		}
	}()
	w.t.reset()
	// About one node per 8 bytes of YAML: reserve it rather than grow.
	if est := len(c.text)/8 + 16; cap(w.t.nodes) < est {
		w.t.nodes = make([]node, 0, est)
		w.t.kids = make([]int32, 0, est)
	}
	w.docs, w.stack = parseChunk(&w.t, c, w.stack, w.docs[:0])
	d := &w.dec
	*d = decoder{t: &w.t, clone: clone, keys: d.keys}
	for _, doc := range w.docs {
		if doc.err != nil {
			out = append(out, item{err: &snapshot.InputError{File: file, Line: doc.err.line, Message: doc.err.msg}})
			continue
		}
		if doc.root < 0 {
			continue
		}
		out = d.document(file, doc.root, out)
	}
	return out
}

// kindKey is snapshot.KindKey, remembered per worker.
func (d *decoder) kindKey(apiVersion, kind string) string {
	k := [2]string{apiVersion, kind}
	if key, ok := d.keys[k]; ok {
		return key
	}
	key := strings.Clone(snapshot.KindKey(apiVersion, kind))
	if d.keys == nil {
		d.keys = map[[2]string]string{}
	}
	if len(d.keys) < 1000 {
		d.keys[[2]string{strings.Clone(apiVersion), strings.Clone(kind)}] = key
	}
	return key
}

func (d *decoder) inputError(file string, line int32, format string, args ...any) item {
	return item{err: &snapshot.InputError{File: file, Line: int(line), Message: fmt.Sprintf(format, args...)}}
}

// document decodes a document: one object, or the items of a List.
func (d *decoder) document(file string, root int32, out []item) []item {
	nd := &d.t.nodes[root]
	if nd.kind != mappingNode {
		return append(out, d.inputError(file, nd.line, "document is not a mapping (found a %s)", nd.kind))
	}
	kind, _ := d.t.str(d.t.lookup(root, "kind"))
	if strings.HasSuffix(kind, "List") {
		if items := d.t.lookup(root, "items"); items >= 0 || kind == "List" {
			if items < 0 {
				return out // a List without items
			}
			apiVersion, _ := d.t.str(d.t.lookup(root, "apiVersion"))
			itemKind := ""
			if kind != "List" {
				itemKind = strings.TrimSuffix(kind, "List")
			}
			in := &d.t.nodes[items]
			switch {
			case in.kind == sequenceNode:
				kids := d.t.children(items)
				res := make([]item, len(kids))
				one := func(d *decoder, i int) {
					it := kids[i]
					if d.t.nodes[it].kind != mappingNode {
						res[i] = d.inputError(file, d.t.nodes[it].line, "%s item %d is not a mapping (found a %s)", kind, i, d.t.nodes[it].kind)
						return
					}
					res[i] = d.object(file, it, apiVersion, itemKind)
				}
				if len(kids) >= parallelListItems {
					// A big List (kubectl get -o yaml): its items are decoded
					// in parallel; the tree is only read.
					decs := make([]decoder, runtime.GOMAXPROCS(0))
					for i := range decs {
						decs[i] = decoder{t: d.t, clone: d.clone}
					}
					parallel(len(kids), func(w, i int) { one(&decs[w], i) })
				} else {
					for i := range kids {
						one(d, i)
					}
				}
				out = append(out, res...)
			case in.kind == scalarNode && in.tag == tagNull:
			default:
				out = append(out, d.inputError(file, in.line, "%s: items is not a sequence", kind))
			}
			return out
		}
	}
	return append(out, d.object(file, root, "", ""))
}

// identity reads a string field of the object for its identity.
func (d *decoder) identity(n int32, key string) (string, error) {
	v := d.t.lookup(n, key)
	if v < 0 {
		return "", nil
	}
	nd := &d.t.nodes[v]
	if nd.kind != scalarNode {
		return "", d.errorf(v, "%s must be a string, not a %s", key, nd.kind)
	}
	if nd.tag == tagNull {
		return "", nil
	}
	return nd.value, nil
}

// object decodes one object; defAPIVersion and defKind fill in for the
// items of typed lists (a ConfigMapList's items may omit them).
func (d *decoder) object(file string, n int32, defAPIVersion, defKind string) item {
	line := d.t.nodes[n].line
	apiVersion, err1 := d.identity(n, "apiVersion")
	kind, err2 := d.identity(n, "kind")
	if err := errors.Join(err1, err2); err != nil {
		return d.inputError(file, line, "%v", err)
	}
	filled := false
	if apiVersion == "" && kind == "" && defKind != "" {
		apiVersion, kind, filled = defAPIVersion, defKind, true
	}
	switch {
	case apiVersion == "" && kind == "":
		return d.inputError(file, line, "missing apiVersion and kind")
	case apiVersion == "":
		return d.inputError(file, line, "%s: missing apiVersion", kind)
	case kind == "":
		return d.inputError(file, line, "missing kind (apiVersion %s)", apiVersion)
	}
	meta := d.t.lookup(n, "metadata")
	if meta >= 0 && d.t.nodes[meta].kind != mappingNode && !d.isNull(meta) {
		return d.inputError(file, d.t.nodes[meta].line, "%s: metadata is not a mapping", kind)
	}
	name, err1 := d.identity(meta, "name")
	namespace, err2 := d.identity(meta, "namespace")
	if err := errors.Join(err1, err2); err != nil {
		return d.inputError(file, line, "%s: metadata.%v", kind, err)
	}
	if name == "" {
		return d.inputError(file, line, "%s: missing metadata.name", kind)
	}
	key := d.kindKey(apiVersion, kind)
	if clusterScoped[key] {
		namespace = ""
	} else if namespace == "" {
		namespace = DefaultNamespace
	}
	o := &snapshot.Object{
		APIVersion: d.s(apiVersion),
		Kind:       d.s(kind),
		Key:        key,
		Namespace:  d.s(namespace),
		Name:       d.s(name),
		Origin:     snapshot.Origin{File: file, Line: int(line)},
	}
	var result item
	typed, err := d.typed(n, key, apiVersion, kind, filled)
	if err != nil {
		typed = nil
		result.err = d.decodeFailure(file, line, o, "", err)
	}
	o.Typed = typed
	var om metav1.Object
	switch t := typed.(type) {
	case metav1.Object:
		om = t
	case map[string]any:
		if m, ok := t["metadata"].(map[string]any); ok {
			if o.Namespace != "" {
				m["namespace"] = o.Namespace
			} else {
				delete(m, "namespace")
			}
		}
	}
	if om == nil {
		// Labels and annotations of objects not decoded into a typed form.
		var meta2 metav1.ObjectMeta
		if meta >= 0 {
			if err := decoderFor(reflect.TypeFor[metav1.ObjectMeta]()).fn(d, meta, reflect.ValueOf(&meta2).Elem()); err != nil && result.err == nil {
				result.err = d.decodeFailure(file, line, o, "metadata.", err)
			}
		}
		om = &meta2
	}
	om.SetNamespace(o.Namespace)
	if key == snapshot.Secret {
		if a := om.GetAnnotations(); a != nil {
			delete(a, lastApplied)
		}
	}
	o.Labels, o.Annotations = om.GetLabels(), om.GetAnnotations()
	if result.err != nil {
		// The object is kept (with Typed nil) so that references to it
		// resolve; the error says why checks cannot read it.
		return item{obj: o, err: result.err}
	}
	return item{obj: o}
}

// decodeFailure is the InputError of an object whose typed form failed,
// at the line of the node that failed.
func (d *decoder) decodeFailure(file string, line int32, o *snapshot.Object, prefix string, err error) *snapshot.InputError {
	el := line
	var de *decodeError
	if errors.As(err, &de) && de.line > 0 {
		el = de.line
	}
	return &snapshot.InputError{File: file, Line: int(el), Message: fmt.Sprintf("%s: %s%v", o.ID(), prefix, err)}
}

// typed decodes the typed form of an object, or returns nil for kinds (and
// versions) meshready does not read.
func (d *decoder) typed(n int32, key, apiVersion, kind string, filled bool) (any, error) {
	spec := kindSpecs[key]
	if spec == nil {
		return nil, nil
	}
	_, version := apiVersionParts(apiVersion)
	if !spec.accepts(version) {
		return nil, nil
	}
	if spec.newObj == nil {
		x, err := d.generic(n)
		if err != nil {
			return nil, err
		}
		m, ok := x.(map[string]any)
		if !ok {
			return nil, nil
		}
		if filled {
			m["apiVersion"], m["kind"] = apiVersion, kind
		}
		return m, nil
	}
	newObj := spec.newObj
	if f := spec.newFor[version]; f != nil {
		newObj = f
	}
	ptr := newObj()
	v := reflect.ValueOf(ptr).Elem()
	var err error
	if len(spec.skip) > 0 {
		err = structDecFor(v.Type()).decodeSkipping(d, n, v, spec.skip)
	} else {
		err = decoderFor(v.Type()).fn(d, n, v)
	}
	if err != nil {
		return nil, err
	}
	if filled {
		setTypeMeta(v, apiVersion, kind)
	}
	if conv := spec.convert[version]; conv != nil {
		return conv(ptr), nil
	}
	return ptr, nil
}

// setTypeMeta fills the TypeMeta of a typed object (list items that left it out).
func setTypeMeta(v reflect.Value, apiVersion, kind string) {
	f := v.FieldByName("TypeMeta")
	if !f.IsValid() {
		return
	}
	if tm, ok := f.Addr().Interface().(*metav1.TypeMeta); ok {
		tm.APIVersion, tm.Kind = apiVersion, kind
	}
}
