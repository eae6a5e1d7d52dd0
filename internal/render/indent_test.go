package render

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestAppendIndentMatchesJSONIndent: the fast indenter gives json.Indent's
// bytes on what json.Marshal writes, escapes and empty containers included.
func TestAppendIndentMatchesJSONIndent(t *testing.T) {
	values := []any{
		map[string]any{},
		[]any{},
		map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{1, "x", nil, true, 2.5e-9}},
		map[string]any{"quote\"d": `back\slash\"`, "tricky": `ends with backslash\`, "brackets": "{[,:]}", "unicode": "é\u2028<&>"},
		[]any{map[string]any{"k": []any{map[string]any{"deep": []any{[]any{}, []any{1}}}}}},
		"just a string",
		42,
	}
	for _, v := range values {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Indent(&want, b.Bytes(), "    ", "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndent(nil, b.Bytes(), "    ", "  "); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s:\ngot  %q\nwant %q", b.Bytes(), got, want.Bytes())
		}
	}
}

func FuzzAppendIndent(f *testing.F) {
	f.Add(`{"a":[1,{"b":"c\\\"d"}],"e":{}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		compact, err := json.Marshal(v)
		if err != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "", "\t"); err != nil {
			t.Fatal(err)
		}
		if got := appendIndent(nil, compact, "", "\t"); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s:\ngot  %q\nwant %q", compact, got, want.Bytes())
		}
	})
}
