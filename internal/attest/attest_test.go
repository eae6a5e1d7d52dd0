package attest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/attest"
)

// A store that does not parse names the file and the line to fix.
func TestParseFileNamesLine(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"attestations:\n- item: a\n  by: x\n   note: y\n", "att.yaml: yaml: line 4: mapping values are not allowed"},
		{"attestations:\n- item: a\n  by: x\n  at: 2026-01-01T00:00:00Z\n- item: b\n  by: y\n", "att.yaml: line 5: attestations[1]: item, by and at are required"},
		{"waivers:\n  - item: a\n    reason: r\n", "att.yaml: line 2: waivers[0]: item, reason and expires are required"},
	} {
		_, err := attest.ParseFile("att.yaml", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, attest.ErrCorrupt) {
			t.Errorf("%q: err %v, want %q", tc.data, err, tc.want)
		}
	}
	if f, err := attest.ParseFile("att.yaml", nil); err != nil || len(f.Attestations) != 0 {
		t.Errorf("empty store: %v", err)
	}
}
