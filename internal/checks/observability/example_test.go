package observability_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/checks/checktest"
	"github.com/meshready/meshready/internal/checks/observability"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

// TestExampleMeshPasses evaluates this package's config parts on the bundled
// example mesh (examples/devmentor): each must pass.
func TestExampleMeshPasses(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples", "devmentor")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("example mesh not present: %v", err)
	}
	objs, inputErrs, err := loader.Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inputErrs {
		// meshready.yaml and the attestations file sit beside the manifests;
		// whether the loader skips them is the loader's business.
		switch filepath.Base(e.File) {
		case config.FileName, "attestations.yaml":
			t.Logf("ignored: %v", e)
		default:
			t.Errorf("example input error: %v", e)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot.New(objs)
	mine := map[string]bool{}
	for _, c := range observability.Checks() {
		mine[c.ID] = true
	}
	for _, it := range checks.All() {
		if !mine[it.Meta.ID] {
			continue
		}
		for _, part := range []check.Part{check.Config, check.Docs} {
			fn := it.Check.Func(part)
			if fn == nil {
				continue
			}
			t.Run(it.Meta.ID+"/"+string(part), func(t *testing.T) {
				c := check.NewContext(snap, cfg, nil, it.Check.Reads, part, checktest.Now)
				c.ItemID = it.Meta.ID
				fn(c)
				st, _, fs := c.Result()
				if len(c.Undeclared) > 0 {
					t.Errorf("read undeclared kinds %v", c.Undeclared)
				}
				if testing.Verbose() {
					t.Logf("%s\n%s", st, checktest.Describe(fs))
				}
				if st != report.Pass {
					t.Errorf("status %s, want pass; findings:\n%s", st, checktest.Describe(fs))
				}
			})
		}
	}
}
