package gateway_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/checks/checktest"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

// The DevMentor example mesh must pass the config part of every item of this area.
func TestExampleDevMentor(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples", "devmentor")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s not present", dir)
	}
	objs, errs, err := loader.Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Logf("input error (not this area's): %v", e)
	}
	cfg := config.Default()
	if p := filepath.Join(dir, config.FileName); fileExists(p) {
		if cfg, err = config.Load(p); err != nil {
			t.Fatal(err)
		}
	}
	snap := snapshot.New(objs)
	want := map[string]bool{"gateway.ingress-deployed": true, "gateway.egress": true, "gateway.resources": true, "gateway.tls-termination": true}
	for _, it := range checks.All() {
		if !want[it.Meta.ID] {
			continue
		}
		delete(want, it.Meta.ID)
		t.Run(it.Meta.ID, func(t *testing.T) {
			c := check.NewContext(snap, cfg, nil, it.Check.Reads, check.Config, checktest.Now)
			c.ItemID = it.Meta.ID
			it.Check.Config(c)
			st, _, fs := c.Result()
			if st != report.Pass {
				t.Errorf("config part is %s, want pass; findings:\n%s", st, checktest.Describe(fs))
			}
		})
	}
	for id := range want {
		t.Errorf("%s: not in the registry", id)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
