package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/report"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/checks.md")

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	cases := [][]string{
		{"nosuchcommand"},
		{"check", "--nosuchflag", "x"},
		{"check", "-o", "yaml", "testdata"},
		{"check", "--fail-on", "sometimes", "testdata"},
		{"check", "/nonexistent/path"},
		{"check"},
		{"check", "-o", "json", "-o", "text", "testdata"},
		{"explain", "no.such-item"},
		{"check", "--config", "/nonexistent/meshready.yaml", "testdata"},
	}
	// `check` with no path reads the kubeconfig: make sure there is none.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "no-kubeconfig"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, "", args...)
			if code != exitcode.Usage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitcode.Usage, errOut)
			}
			if !strings.Contains(errOut, "meshready:") {
				t.Fatalf("no error message on stderr: %q", errOut)
			}
		})
	}
}

func TestInvalidConfigIsUsageErrorNamingTheLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "meshready.yaml"), []byte("apiVersion: meshready/v1\nkind: Config\ncriticalServicez: []\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ns.yaml"), []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"), 0o644)
	code, _, errOut := runCLI(t, "", "check", dir)
	if code != exitcode.Usage || !strings.Contains(errOut, "line 3") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// The exit code is decided by the verdict, whatever the format.
func TestExitCodeSameForEveryFormat(t *testing.T) {
	for _, f := range []string{"text", "json", "markdown", "junit", "sarif", "html"} {
		code, out, errOut := runCLI(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n", "check", "-", "-o", f)
		if code != exitcode.NotReady {
			t.Errorf("%s: exit %d, want 3 (stderr %s)", f, code, errOut)
		}
		if out == "" {
			t.Errorf("%s: no output", f)
		}
	}
}

func TestOnlySelectsItemsAndNothingSelectedIsUsage(t *testing.T) {
	in := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
	_, out, _ := runCLI(t, in, "check", "-", "-o", "json", "--only", "security.mtls")
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 1 || r.Items[0].ID != "security.mtls" {
		t.Fatalf("items %v", r.Items)
	}
	if code, _, _ := runCLI(t, in, "check", "-", "--only", "nothing.matches"); code != exitcode.Usage {
		t.Fatalf("exit %d", code)
	}
}

func TestChecksMarkdownInSync(t *testing.T) {
	var buf bytes.Buffer
	if err := ListChecks(&buf, "markdown"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "checks.md")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Fatal("docs/checks.md is out of date: run go test ./internal/cli -update")
	}
}

func TestExplain(t *testing.T) {
	code, out, _ := runCLI(t, "", "explain", "service.qwen-llm.traffic")
	if code != 0 || !strings.Contains(out, "service.S.traffic") || !strings.Contains(out, "How it is evaluated") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// The example's full report, in every format, is a golden file: any change
// in what meshready says about the example shows in review.
func TestExampleGolden(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "devmentor")
	if _, err := os.Stat(example); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"text", "json"} {
		t.Run(f, func(t *testing.T) {
			var out, errb bytes.Buffer
			o := &CheckOptions{Paths: []string{example}, Outputs: []string{f}, Now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
			err := RunCheck(IO{In: strings.NewReader(""), Out: &out, Err: &errb}, o)
			if exitcode.FromError(err) != exitcode.NotReady {
				t.Fatalf("err %v: the example offline must be not-ready (live/telemetry/probe/manual parts pending)", err)
			}
			golden := filepath.Join("testdata", "devmentor."+f)
			got := bytes.ReplaceAll(out.Bytes(), []byte(filepath.ToSlash(example)), []byte("examples/devmentor"))
			if *update {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(golden, got, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/cli -update)", err)
			}
			if !bytes.Equal(want, got) {
				t.Fatalf("%s differs from the golden file: run go test ./internal/cli -update and review the diff", golden)
			}
		})
	}
}

// Every config and docs part passes on the bundled example.
func TestExampleConfigAndDocsPartsPass(t *testing.T) {
	var out bytes.Buffer
	o := &CheckOptions{Paths: []string{filepath.Join("..", "..", "examples", "devmentor")}, Outputs: []string{"json"}, Now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	_ = RunCheck(IO{In: strings.NewReader(""), Out: &out, Err: &bytes.Buffer{}}, o)
	var r report.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.InputErrors) > 0 {
		t.Errorf("input errors: %+v", r.InputErrors)
	}
	for _, it := range r.Items {
		for _, p := range it.Parts {
			if (p.Part == "config" || p.Part == "docs") && p.Status != report.Pass && p.Status != report.NotApplicable {
				t.Errorf("%s %s part: %s: %s", it.ID, p.Part, p.Status, describe(it, p.Part))
			}
		}
	}
}

func describe(it report.Item, part string) string {
	var b strings.Builder
	for _, f := range it.Findings {
		if f.Part == part && f.Status != report.Pass {
			b.WriteString("\n    " + f.Message)
		}
	}
	return b.String()
}
