package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/checks/checktest"
	"github.com/meshready/meshready/internal/checks/policy"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

// The DevMentor example mesh is meant to be beta-ready: every config part
// of this package's items must pass on it.
func TestDevMentorExamplePasses(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples", "devmentor")
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); err != nil {
		t.Skipf("%s: no example mesh", dir)
	}
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	objs, errs, err := loader.Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		// meshready's own files (the config, the attestations) are not manifests.
		if b := filepath.Base(e.File); b != config.FileName && b != filepath.Base(cfg.Attestations) {
			t.Errorf("example input error: %v", e)
		}
	}
	snap := snapshot.New(objs)
	for _, ck := range policy.Checks() {
		if ck.Config == nil {
			continue
		}
		t.Run(ck.ID, func(t *testing.T) {
			c := check.NewContext(snap, cfg, nil, ck.Reads, check.Config, checktest.Now)
			c.ItemID = ck.ID
			ck.Config(c)
			st, _, fs := c.Result()
			if testing.Verbose() {
				t.Logf("%s: %s\n%s", ck.ID, st, checktest.Describe(fs))
			}
			if len(c.Undeclared) > 0 {
				t.Errorf("read undeclared kinds %v", c.Undeclared)
			}
			if st != report.Pass {
				var b strings.Builder
				for _, f := range fs {
					if f.Status != report.Pass {
						b.WriteString(checktest.Describe([]report.Finding{f}))
						if f.Remediation != "" {
							b.WriteString("      fix: " + strings.ReplaceAll(f.Remediation, "\n", "\n           ") + "\n")
						}
					}
				}
				t.Errorf("config part is %s on the example, want pass:\n%s", st, b.String())
			}
		})
	}
}
