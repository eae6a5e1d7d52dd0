// Package checktest runs an area's fixtures: every file under
// testdata/<item-id>/ is a small mesh that shows one defect (or none), named
// <status>.<what-it-shows>.yaml, and must produce that status.
//
// A fixture is multi-document YAML. A document with apiVersion meshready/v1
// and kind Config is the config (documents paths relative to the fixture's
// directory); everything else is the mesh. Header comments refine the test:
//
//	# part: live              the part whose status is asserted (default: the item's first part)
//	# expect-object: Kind/ns/name   a finding with the asserted status names this object
//	# expect-message: text    a finding with the asserted status contains this text
//	# service: qwen-llm       for service.S.* items: the critical service to evaluate
//
// Status prefixes: pass, warn, fail, pending, na (not-applicable), error.
package checktest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

// Now is the fixed clock fixtures are evaluated at.
var Now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Fixture is one parsed fixture file.
type Fixture struct {
	Path     string
	ItemID   string
	Want     report.Status
	Part     check.Part
	Objects  []string
	Messages []string
	Service  string
	// Unreadable kinds (header `# unreadable: Secret`) are marked as not
	// listable, as a forbidden list in a live cluster leaves them.
	Unreadable []string
	Config     *config.Config
	Snap       *snapshot.Snapshot
}

var prefixes = map[string]report.Status{
	"pass": report.Pass, "warn": report.Warn, "fail": report.Fail,
	"pending": report.Pending, "na": report.NotApplicable, "error": report.Error,
}

// Load parses one fixture file.
func Load(t testing.TB, path string) *Fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(path)
	prefix, _, _ := strings.Cut(base, ".")
	want, ok := prefixes[prefix]
	if !ok {
		t.Fatalf("%s: file name must start with pass., warn., fail., pending., na. or error.", path)
	}
	fx := &Fixture{Path: path, ItemID: filepath.Base(filepath.Dir(path)), Want: want}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			if line != "" && line != "---" {
				break
			}
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "part":
			fx.Part = check.Part(v)
		case "expect-object":
			fx.Objects = append(fx.Objects, v)
		case "expect-message":
			fx.Messages = append(fx.Messages, v)
		case "service":
			fx.Service = v
		case "unreadable":
			fx.Unreadable = append(fx.Unreadable, v)
		}
	}
	var mesh [][]byte
	cfg := config.Default()
	for _, doc := range splitDocs(data) {
		if bytes.Contains(doc, []byte("apiVersion: meshready/v1")) {
			c, err := config.Parse(doc)
			if err != nil {
				t.Fatalf("%s: config: %v", path, err)
			}
			cfg = c
			continue
		}
		mesh = append(mesh, doc)
	}
	cfg.Path = filepath.Join(filepath.Dir(path), config.FileName)
	fx.Config = cfg
	objs, errs := loader.LoadBytes(path, bytes.Join(mesh, []byte("\n---\n")))
	if len(errs) > 0 {
		t.Fatalf("%s: fixture does not load: %v", path, errs)
	}
	fx.Snap = snapshot.New(objs)
	for _, k := range fx.Unreadable {
		if fx.Snap.KindErrors == nil {
			fx.Snap.KindErrors = map[string]snapshot.KindError{}
		}
		fx.Snap.KindErrors[k] = snapshot.KindError{
			Message:     k + " is forbidden for this identity (fixture)",
			Remediation: "add the list rule for " + k + " to meshready's ClusterRole",
		}
	}
	return fx
}

func splitDocs(data []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// Evaluate runs the fixture's item (and only it) and returns it.
func (fx *Fixture) Evaluate(t testing.TB) (check.Item, report.Item, *check.Context) {
	t.Helper()
	var item check.Item
	found := false
	for _, it := range checks.All() {
		if it.Meta.ID == fx.ItemID {
			item, found = it, true
		}
	}
	if !found {
		t.Fatalf("%s: directory names no item ID (%s)", fx.Path, fx.ItemID)
	}
	part := fx.Part
	if part == "" {
		part = item.KindParts()[0]
	}
	fn := item.Check.Func(part)
	if fn == nil {
		t.Fatalf("%s: item %s has no %s implementation", fx.Path, fx.ItemID, part)
	}
	var svc *config.Service
	if item.PerService() {
		for _, s := range fx.Config.CriticalServices {
			if s.Name == fx.Service || fx.Service == "" {
				s := s
				svc = &s
				break
			}
		}
		if svc == nil {
			t.Fatalf("%s: per-service item needs a critical service in the fixture's config", fx.Path)
		}
	}
	c := check.NewContext(fx.Snap, fx.Config, svc, item.Check.Reads, part, Now)
	c.ItemID = item.Meta.ID
	fn(c)
	st, msg, fs := c.Result()
	return item, report.Item{ID: item.Meta.ID, Status: st, Parts: []report.PartResult{{Part: string(part), Status: st, Message: msg}}, Findings: fs}, c
}

// Run evaluates every fixture under dir (testdata) as a subtest.
func Run(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.yaml"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no fixtures under %s", dir)
	}
	for _, f := range files {
		if filepath.Base(f) == config.FileName {
			continue
		}
		t.Run(strings.TrimPrefix(f, dir+string(filepath.Separator)), func(t *testing.T) {
			fx := Load(t, f)
			_, got, c := fx.Evaluate(t)
			if len(c.Undeclared) > 0 {
				t.Errorf("check read undeclared kinds %v: add them to Reads", keys(c.Undeclared))
			}
			if got.Status != fx.Want {
				t.Fatalf("status %s, want %s; findings:\n%s", got.Status, fx.Want, Describe(got.Findings))
			}
			for _, o := range fx.Objects {
				if !hasObject(got.Findings, fx.Want, o) {
					t.Errorf("no %s finding names %s; findings:\n%s", fx.Want, o, Describe(got.Findings))
				}
			}
			for _, m := range fx.Messages {
				if !hasMessage(got.Findings, fx.Want, m) {
					t.Errorf("no %s finding says %q; findings:\n%s", fx.Want, m, Describe(got.Findings))
				}
			}
			if fx.Want != report.Pass && fx.Want != report.NotApplicable {
				for _, f := range got.Findings {
					if f.Status == report.Fail || f.Status == report.Warn {
						if f.Remediation == "" {
							t.Errorf("finding %q has no remediation", f.Message)
						}
					}
				}
			}
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasObject(fs []report.Finding, st report.Status, id string) bool {
	for _, f := range fs {
		if f.Status != st || f.Object == nil {
			continue
		}
		o := f.Object
		if o.Kind+"/"+o.Namespace+"/"+o.Name == id || (o.Namespace == "" && o.Kind+"/"+o.Name == id) {
			return true
		}
	}
	return false
}

func hasMessage(fs []report.Finding, st report.Status, m string) bool {
	for _, f := range fs {
		if f.Status == st && strings.Contains(f.Message, m) {
			return true
		}
	}
	return false
}

// Describe prints findings for failure messages.
func Describe(fs []report.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  [" + string(f.Status) + "] " + f.Message)
		if f.Object != nil {
			b.WriteString(" (" + f.Object.Kind + "/" + f.Object.Namespace + "/" + f.Object.Name + ")")
		}
		b.WriteString("\n")
	}
	return b.String()
}
