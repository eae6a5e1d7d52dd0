// Package render turns a report.Report into the formats meshready prints:
// text (the checklist in a terminal), json (the contract), markdown, junit,
// sarif and html.
//
// Every renderer reads the report and never modifies it, and its output is a
// pure function of the report and the Options: no clock, no environment, no
// map iteration. The CLI validates --format against Formats and dispatches
// with Get.
package render

import (
	"bytes"
	"io"
	"sort"

	"github.com/meshready/meshready/internal/report"
)

// Renderer writes a report in one format.
type Renderer interface {
	// Name is the format's name as the CLI spells it ("text", "json", ...).
	Name() string
	// Ext is the usual file extension for the format, without the dot.
	Ext() string
	// Render writes r to w. It does not modify r.
	Render(w io.Writer, r *report.Report, o Options) error
}

// Options tune the human-oriented formats; machine formats ignore them.
type Options struct {
	// Color adds ANSI colour to the text format. The caller decides (terminal,
	// NO_COLOR, --color); renderers never look at the environment.
	Color bool
	// Verbose also shows the evidence of passing items and parts (text,
	// markdown, html).
	Verbose bool
}

// renderers is the one registry of formats.
var renderers = []Renderer{
	textRenderer{},
	jsonRenderer{},
	markdownRenderer{},
	junitRenderer{},
	sarifRenderer{},
	htmlRenderer{},
}

// Formats returns the names of every format, sorted.
func Formats() []string {
	out := make([]string, 0, len(renderers))
	for _, r := range renderers {
		out = append(out, r.Name())
	}
	sort.Strings(out)
	return out
}

// Get returns the renderer for a format name (exact match, as Formats lists it).
func Get(name string) (Renderer, bool) {
	for _, r := range renderers {
		if r.Name() == name {
			return r, true
		}
	}
	return nil, false
}

// writeAll writes a fully built output in one call, so that a renderer never
// leaves half a document behind when it fails while building.
func writeAll(w io.Writer, b *bytes.Buffer) error {
	_, err := w.Write(b.Bytes())
	return err
}
