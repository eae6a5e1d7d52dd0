// Package attest keeps the human side of readiness: attestations for manual
// items (who, when, which evidence, until when), team sign-offs bound to the
// digest of the report they approved, and waivers. They live in one YAML
// document, kept either as a file in the repository (reviewable in pull
// requests; written with a lock and an atomic rename) or as a ConfigMap in
// the cluster (written with optimistic concurrency), so that concurrent
// writers lose nothing.
package attest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"
)

// Record is one attestation or sign-off.
type Record struct {
	Item     string    `yaml:"item"`
	By       string    `yaml:"by"`
	At       time.Time `yaml:"at"`
	Evidence string    `yaml:"evidence,omitempty"`
	Expires  time.Time `yaml:"expires,omitempty"`
	Note     string    `yaml:"note,omitempty"`
	// Digest binds a sign-off to the evaluated state it approved.
	Digest string `yaml:"digest,omitempty"`
	// Statuses are the item statuses of the approved report, so that a stale
	// sign-off can say what changed since.
	Statuses map[string]string `yaml:"statuses,omitempty"`
	// AcceptedRisk names the blocking items a sign-off on a not-ready report accepted.
	AcceptedRisk []string `yaml:"acceptedRisk,omitempty"`
}

// Waiver is an accepted exception recorded with `meshready waive`.
type Waiver struct {
	Item    string    `yaml:"item"`
	Object  string    `yaml:"object,omitempty"`
	Reason  string    `yaml:"reason"`
	By      string    `yaml:"by"`
	At      time.Time `yaml:"at"`
	Expires time.Time `yaml:"expires"`
}

// File is the store's layout.
type File struct {
	Attestations []Record `yaml:"attestations"`
	Waivers      []Waiver `yaml:"waivers,omitempty"`
}

// Load reads a store file; a missing file is an empty store.
func Load(path string) ([]Record, error) {
	f, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	return f.Attestations, nil
}

// LoadFile reads the whole store; a missing file is an empty store.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseFile(path, data)
}

// Parse decodes the attestations of a store.
func Parse(name string, data []byte) ([]Record, error) {
	f, err := ParseFile(name, data)
	if err != nil {
		return nil, err
	}
	return f.Attestations, nil
}

// ParseFile decodes a store; errors name the file and line.
func ParseFile(name string, data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, corrupt{fmt.Errorf("%s: %w", name, err)}
	}
	for i, r := range f.Attestations {
		if r.Item == "" || r.By == "" || r.At.IsZero() {
			return nil, corrupt{fmt.Errorf("%s: line %d: attestations[%d]: item, by and at are required", name, entryLine(data, "attestations", i), i)}
		}
	}
	for i, w := range f.Waivers {
		if w.Item == "" || w.Reason == "" || w.Expires.IsZero() {
			return nil, corrupt{fmt.Errorf("%s: line %d: waivers[%d]: item, reason and expires are required", name, entryLine(data, "waivers", i), i)}
		}
	}
	return &f, nil
}

// ErrCorrupt is wrapped by the errors of a store that does not parse.
var ErrCorrupt = errors.New("corrupt attestation store")

type corrupt struct{ error }

func (c corrupt) Is(target error) bool { return target == ErrCorrupt }
func (c corrupt) Unwrap() error        { return c.error }

// entryLine is the line of the i-th entry of a top-level list, so that an
// error names the line to fix; 0 when it cannot be told.
func entryLine(data []byte, list string, i int) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	m := doc.Content[0]
	for k := 0; m.Kind == yaml.MappingNode && k+1 < len(m.Content); k += 2 {
		if m.Content[k].Value == list && i < len(m.Content[k+1].Content) {
			return m.Content[k+1].Content[i].Line
		}
	}
	return 0
}

// Marshal writes a store in its stable order: by item, then time.
func Marshal(f *File) ([]byte, error) {
	Sort(f.Attestations)
	sort.SliceStable(f.Waivers, func(i, j int) bool {
		if f.Waivers[i].Item != f.Waivers[j].Item {
			return f.Waivers[i].Item < f.Waivers[j].Item
		}
		return f.Waivers[i].At.Before(f.Waivers[j].At)
	})
	var b bytes.Buffer
	b.WriteString("# meshready attestations, sign-offs and waivers. Written by `meshready attest`,\n# `meshready signoff` and `meshready waive`; review changes in pull requests.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// Latest returns the newest record for an item, or nil.
func Latest(recs []Record, item string) *Record {
	var best *Record
	for i := range recs {
		r := &recs[i]
		if r.Item == item && (best == nil || r.At.After(best.At)) {
			best = r
		}
	}
	return best
}

// Sort orders records by item, then time, for stable files.
func Sort(recs []Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].Item != recs[j].Item {
			return recs[i].Item < recs[j].Item
		}
		return recs[i].At.Before(recs[j].At)
	})
}
