package controlplane_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/checks/checktest"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

// The Kubernetes server version comes from the live cluster (LiveInfo), not
// from a manifest. These fixtures carry it in a "# server-version:" header;
// they live one level deeper than checktest.Run looks, and are evaluated
// here with the snapshot's LiveInfo set.
func TestLiveServerVersionFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "server-version", "*", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no server-version fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			fx := checktest.Load(t, f)
			version := header(t, f, "server-version")
			fx.Snap.Live = &snapshot.LiveInfo{Context: "fixture", ServerVersion: version}
			_, got, c := fx.Evaluate(t)
			if len(c.Undeclared) > 0 {
				t.Errorf("undeclared reads: %v", c.Undeclared)
			}
			if got.Status != fx.Want {
				t.Fatalf("status %s, want %s; findings:\n%s", got.Status, fx.Want, checktest.Describe(got.Findings))
			}
			for _, id := range fx.Objects {
				if !named(got.Findings, fx.Want, id) {
					t.Errorf("no %s finding names %s; findings:\n%s", fx.Want, id, checktest.Describe(got.Findings))
				}
			}
			for _, m := range fx.Messages {
				found := false
				for _, fd := range got.Findings {
					found = found || (fd.Status == fx.Want && strings.Contains(fd.Message, m))
				}
				if !found {
					t.Errorf("no %s finding says %q; findings:\n%s", fx.Want, m, checktest.Describe(got.Findings))
				}
			}
			for _, fd := range got.Findings {
				if (fd.Status == report.Fail || fd.Status == report.Warn) && fd.Remediation == "" {
					t.Errorf("finding %q has no remediation", fd.Message)
				}
			}
		})
	}
}

func header(t *testing.T, path, key string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s: no # %s: header", path, key)
	return ""
}

func named(fs []report.Finding, st report.Status, id string) bool {
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
