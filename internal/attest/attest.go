// Package attest reads the human attestations a team records for manual
// items (who, when, which evidence, until when) from a YAML file.
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
	// AcceptedRisk names blocking items a sign-off accepted.
	AcceptedRisk []string `yaml:"acceptedRisk,omitempty"`
}

// File is the attestation file's layout.
type File struct {
	Attestations []Record `yaml:"attestations"`
}

// Load reads an attestation file; a missing file is an empty store.
func Load(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes attestations; errors name the file and line.
func Parse(name string, data []byte) ([]Record, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, r := range f.Attestations {
		if r.Item == "" || r.By == "" || r.At.IsZero() {
			return nil, fmt.Errorf("%s: attestations[%d]: item, by and at are required", name, i)
		}
	}
	return f.Attestations, nil
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
