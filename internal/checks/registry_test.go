package checks

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/check"
)

// The catalog's IDs are the checklist's: a copy lives in testdata so the
// product tests without ../shared; where the shared checklist is present,
// the copy must match it.
func TestCatalogMatchesChecklist(t *testing.T) {
	data, err := os.ReadFile("testdata/checklist-ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(data))
	var got []string
	for _, m := range catalog {
		got = append(got, m.ID)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("catalog IDs differ from testdata/checklist-ids.txt:\n got %v\nwant %v", got, want)
	}
	shared := filepath.Join("..", "..", "..", "shared", "checklist.md")
	src, err := os.ReadFile(shared)
	if err != nil {
		t.Skipf("%s not present (a user's clone has none): compared with the in-repo copy only", shared)
	}
	ids := sharedIDs(string(src))
	sort.Strings(ids)
	sorted := append([]string(nil), want...)
	sort.Strings(sorted)
	if strings.Join(ids, " ") != strings.Join(sorted, " ") {
		t.Fatalf("shared checklist IDs differ from the catalog:\nshared %v\ncatalog %v", ids, sorted)
	}
}

// sharedIDs reads the IDs from checklist.md's table rows, expanding
// "team.trained / team.procedures" cells.
func sharedIDs(md string) []string {
	row := regexp.MustCompile(`(?m)^\| ([a-z0-9S.\-/ ]+?)(?: \([Mm]\))? \|`)
	var ids []string
	for _, m := range row.FindAllStringSubmatch(md, -1) {
		if m[1] == "ID" {
			continue
		}
		for _, id := range strings.Split(m[1], "/") {
			id = strings.TrimSpace(id)
			if strings.Contains(id, ".") {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func TestRegistryValid(t *testing.T) {
	for _, err := range Validate() {
		t.Error(err)
	}
}

func TestCatalogMetadata(t *testing.T) {
	idRe := regexp.MustCompile(`^[a-z]+(\.S)?\.[a-z0-9-]+$`)
	for _, it := range All() {
		if !idRe.MatchString(it.Meta.ID) {
			t.Errorf("%s: ID is not area.name", it.Meta.ID)
		}
		if it.Title == "" || it.Section == "" || it.Group == "" {
			t.Errorf("%s: title, section and group are required", it.Meta.ID)
		}
		for _, p := range it.KindParts() {
			known := false
			for _, k := range check.Parts {
				known = known || k == p
			}
			if !known {
				t.Errorf("%s: unknown part %q in kind %q", it.Meta.ID, p, it.Kind)
			}
		}
		if it.Check.Why == "" || it.Check.Fix == "" {
			t.Errorf("%s: Why and Fix are required (meshready explain prints them)", it.Meta.ID)
		}
		// A Func for a part the kind does not name would never run.
		for _, p := range check.Parts {
			if it.Check.Func(p) != nil && !strings.Contains("+"+it.Kind+"+", "+"+string(p)+"+") {
				t.Errorf("%s: has a %s Func but its kind is %s", it.Meta.ID, p, it.Kind)
			}
		}
	}
}

// Every item whose config or docs part has its own Func has passing and
// failing fixtures in its area's testdata.
func TestEveryCheckHasFixtures(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("*", "testdata", "*"))
	have := map[string]map[string]bool{}
	for _, d := range dirs {
		id := filepath.Base(d)
		files, _ := filepath.Glob(filepath.Join(d, "*.yaml"))
		for _, f := range files {
			prefix, _, _ := strings.Cut(filepath.Base(f), ".")
			if have[id] == nil {
				have[id] = map[string]bool{}
			}
			have[id][prefix] = true
		}
	}
	for _, it := range All() {
		if it.Check.Config == nil && it.Check.Docs_ == nil {
			continue
		}
		h := have[it.Meta.ID]
		if !h["pass"] {
			t.Errorf("%s: no pass.* fixture", it.Meta.ID)
		}
		if !h["fail"] {
			t.Errorf("%s: no fail.* fixture", it.Meta.ID)
		}
	}
}
