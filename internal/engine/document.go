package engine

import (
	"fmt"
	"os"
	"strings"
)

// Document is a text document read for a docs part.
type Document struct {
	Text     string
	Lines    int
	Headings []string // Markdown headings, lower-cased, without the #s
}

// maxDocumentBytes keeps a stray binary from being read whole.
const maxDocumentBytes = 4 << 20

// ReadDocument reads a document and indexes its Markdown headings.
func ReadDocument(path string) (*Document, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("not found")
	}
	if st.IsDir() {
		return nil, fmt.Errorf("is a directory, not a document")
	}
	if st.Size() > maxDocumentBytes {
		return nil, fmt.Errorf("larger than %d MiB", maxDocumentBytes>>20)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &Document{Text: string(b)}
	for _, line := range strings.Split(d.Text, "\n") {
		d.Lines++
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			h := strings.TrimSpace(strings.TrimLeft(t, "#"))
			d.Headings = append(d.Headings, strings.ToLower(h))
		}
	}
	return d, nil
}

// HasHeading reports whether a heading starts with the given words (case-insensitive).
func (d *Document) HasHeading(h string) bool {
	h = strings.ToLower(h)
	for _, x := range d.Headings {
		if strings.HasPrefix(x, h) {
			return true
		}
	}
	return false
}
