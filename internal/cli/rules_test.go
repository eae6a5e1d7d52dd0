package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/exitcode"
)

var exampleConfigPath = filepath.Join("..", "..", "examples", "devmentor", "meshready.yaml")

func TestExplainCustomRule(t *testing.T) {
	code, out, errOut := runCLI(t, "", "explain", "custom.ai.route-timeouts", "--config", exampleConfigPath)
	for _, want := range []string{"custom.ai.route-timeouts — Every DevMentor HTTP route sets a timeout", "Severity: blocker",
		"meshready.yaml line ", "object.spec.http.all(r, has(r.timeout))", "How to fix"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q (exit %d, stderr %s):\n%s", want, code, errOut, out)
		}
	}
	if code, _, _ := runCLI(t, "", "explain", "custom.no-such-rule", "--config", exampleConfigPath); code != exitcode.Usage {
		t.Errorf("unknown custom item: exit %d, want %d", code, exitcode.Usage)
	}
}

func TestChecksListShowsRulesButNotInMarkdown(t *testing.T) {
	_, out, _ := runCLI(t, "", "checks", "list", "-o", "json", "--config", exampleConfigPath)
	if !strings.Contains(out, `"id": "custom.workloads.resources"`) {
		t.Errorf("json list lacks the example's rules")
	}
	_, md, _ := runCLI(t, "", "checks", "list", "-o", "markdown", "--config", exampleConfigPath)
	if strings.Contains(md, "custom.") {
		t.Errorf("markdown (docs/checks.md) lists custom rules")
	}
}

// A rule the example breaks makes `check` not ready; a rule that does not
// compile is a usage error naming its line.
func TestCheckWithRules(t *testing.T) {
	dir := t.TempDir()
	cfg := "apiVersion: meshready/v1\nkind: Config\nrules:\n" +
		"- id: team-label\n  title: Deployments name their team\n  severity: blocker\n  match: {kinds: [Deployment]}\n" +
		"  expression: \"has(object.metadata.labels) && 'team' in object.metadata.labels\"\n" +
		"  messageExpression: \"object.metadata.name + ' has no team label'\"\n"
	os.WriteFile(filepath.Join(dir, "meshready.yaml"), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(dir, "d.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: a}\nspec:\n  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: web}]}}\n"), 0o644)
	code, out, errOut := runCLI(t, "", "check", dir, "--only", "custom.*", "-v")
	if code != exitcode.NotReady || !strings.Contains(out, "web has no team label") || !strings.Contains(out, "d.yaml:1") {
		t.Errorf("exit %d, stderr %s:\n%s", code, errOut, out)
	}

	os.WriteFile(filepath.Join(dir, "meshready.yaml"), []byte(strings.Replace(cfg, "&& 'team'", "&& 'team' in in", 1)), 0o644)
	code, _, errOut = runCLI(t, "", "check", dir)
	if code != exitcode.Usage || !strings.Contains(errOut, "rules[0] (team-label) at line 4") || !strings.Contains(errOut, "Syntax error") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}

func TestWaiveCustomRule(t *testing.T) {
	store := filepath.Join(t.TempDir(), "attestations.yaml")
	args := []string{"waive", "custom.ai.route-timeouts", "--config", exampleConfigPath, "--file", store,
		"--reason", "legacy route until DEV-1", "--expires", "30d", "--by", "dana"}
	if code, _, errOut := runCLI(t, "", args...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if data, _ := os.ReadFile(store); !strings.Contains(string(data), "custom.ai.route-timeouts") {
		t.Errorf("store lacks the waiver:\n%s", data)
	}
	args[1] = "custom.no-such-rule"
	if code, _, _ := runCLI(t, "", args...); code != exitcode.Usage {
		t.Errorf("waiving an unknown custom item: exit %d, want %d", code, exitcode.Usage)
	}
}
