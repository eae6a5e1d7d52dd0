package export

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

// RawFunc returns the full manifest of an object the loader kept without a
// typed form (an Istio kind or version meshready does not decode), or nil
// when its source cannot be read again.
type RawFunc func(o *snapshot.Object) (map[string]any, error)

// FileRaw re-reads objects from the manifest files they came from. Objects
// from standard input or a cluster are not re-readable (nil).
func FileRaw() RawFunc {
	var mu sync.Mutex
	cache := map[string]map[rawKey]map[string]any{}
	return func(o *snapshot.Object) (map[string]any, error) {
		f := o.Origin.File
		if f == "" || f == loader.StdinName || o.Origin.Line == 0 {
			return nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		docs, ok := cache[f]
		if !ok {
			var err error
			if docs, err = readDocs(f); err != nil {
				return nil, err
			}
			cache[f] = docs
		}
		m := docs[rawKey{o.Key, o.Namespace, o.Name}]
		if m == nil {
			return nil, nil
		}
		c, err := viaJSON(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.ID(), err)
		}
		return c, nil
	}
}

type rawKey struct{ kind, ns, name string }

// readDocs parses every document of a YAML or JSON file (and the items of
// Lists) into maps, keyed as the loader keys objects.
func readDocs(path string) (map[rawKey]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[rawKey]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		addDoc(out, doc)
	}
	return out, nil
}

func addDoc(out map[rawKey]map[string]any, doc map[string]any) {
	if doc == nil {
		return
	}
	kind, _ := doc["kind"].(string)
	apiVersion, _ := doc["apiVersion"].(string)
	if items, ok := doc["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				addDoc(out, m)
			}
		}
		return
	}
	meta, _ := doc["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	key := snapshot.KindKey(apiVersion, kind)
	if loader.IsClusterScoped(key) {
		ns = ""
	} else if ns == "" {
		ns = loader.DefaultNamespace
	}
	out[rawKey{key, ns, name}] = doc
}
