package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/meshready/meshready/internal/report"
)

// jsonRenderer writes the report as its JSON contract: exactly the
// report.Report json tags, indented by two spaces, with a trailing newline.
// "<", ">" and "&" are written as themselves, not as \u003c escapes.
//
// Items are encoded and written one at a time: a 5,000-service report has
// tens of thousands of items, and holding its whole text in memory (twice,
// with the indentation pass) would dominate the process's peak memory.
type jsonRenderer struct{}

func (jsonRenderer) Name() string { return "json" }
func (jsonRenderer) Ext() string  { return "json" }

func (jsonRenderer) Render(w io.Writer, r *report.Report, _ Options) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	head := *r
	head.Items = nil
	var b bytes.Buffer
	if err := encodeJSON(&b, &head); err != nil {
		return err
	}
	// The head ends with `  "items": null\n}\n`: write all before that and
	// stream the items in its place, byte for byte as a whole-document
	// indented encoding would.
	text := b.Bytes()
	const tail = "\"items\": null\n}\n"
	cut := bytes.LastIndex(text, []byte(tail))
	if cut < 0 {
		// Items is no longer the last field: encode the whole document.
		var all bytes.Buffer
		if err := encodeJSON(&all, r); err != nil {
			return err
		}
		_, err := w.Write(all.Bytes())
		return err
	}
	bw.Write(text[:cut])
	if len(r.Items) == 0 {
		bw.WriteString("\"items\": []\n}\n")
		return bw.Flush()
	}
	bw.WriteString("\"items\": [\n")
	var ib bytes.Buffer
	var indented []byte
	enc := json.NewEncoder(&ib)
	enc.SetEscapeHTML(false)
	for i := range r.Items {
		ib.Reset()
		if err := enc.Encode(&r.Items[i]); err != nil {
			return err
		}
		indented = appendIndent(indented[:0], ib.Bytes(), "    ", "  ")
		item := bytes.TrimSuffix(indented, []byte("\n"))
		bw.WriteString("    ")
		bw.Write(item)
		if i < len(r.Items)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("  ]\n}\n")
	return bw.Flush()
}

// encodeJSON writes v indented, unescaped, with a trailing newline.
func encodeJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
