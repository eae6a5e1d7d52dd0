package services_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/checks/checktest"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/mesh"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

func TestFixtures(t *testing.T) { checktest.Run(t, "testdata") }

// TestDevMentorExample evaluates the config part of every service.S.* item
// of this package for every critical service of the example mesh: each
// must pass.
func TestDevMentorExample(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples", "devmentor")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("example not present: %v", err)
	}
	cfg := config.Default()
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); err == nil {
		c, err := config.Load(filepath.Join(dir, config.FileName))
		if err != nil {
			t.Fatal(err)
		}
		cfg = c
	}
	objs, inputErrs, err := loader.Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inputErrs {
		t.Logf("example input error (reported by the loader's own tests): %v", e)
	}
	snap := snapshot.New(objs)
	svcs := mesh.CriticalServices(snap, cfg)
	if len(svcs) == 0 {
		t.Fatal("the example names no critical service")
	}
	for _, it := range checks.All() {
		if !it.PerService() || it.Check.Config == nil {
			continue
		}
		for i := range svcs {
			s := svcs[i]
			t.Run(check.ServiceID(it.Meta.ID, s.Name), func(t *testing.T) {
				c := check.NewContext(snap, cfg, &s, it.Check.Reads, check.Config, checktest.Now)
				c.ItemID = it.Meta.ID
				it.Check.Config(c)
				st, _, fs := c.Result()
				if len(c.Undeclared) > 0 {
					t.Errorf("undeclared reads: %v", c.Undeclared)
				}
				if st != report.Pass {
					t.Errorf("status %s, want pass; findings:\n%s", st, checktest.Describe(fs))
				}
			})
		}
	}
}
