package export_test

// `meshready export` end to end, in process.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/cli"
	"github.com/meshready/meshready/internal/exitcode"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestExportCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mesh-export")
	code, out, errOut := run(t, "", "export", dir, "../../examples/devmentor")
	if code != exitcode.Ready {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Exported 42 objects in 27 files to " + dir, "install/istiooperator-default.yaml for istioctl",
		"NOT exported", "istio-ingress/devmentor-tls", "kubectl apply -f " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "README.txt")); err != nil {
		t.Fatal(err)
	}
	// Again: refused without --overwrite, replaced with it.
	if code, _, errOut := run(t, "", "export", dir, "../../examples/devmentor"); code != exitcode.Usage || !strings.Contains(errOut, "--overwrite") {
		t.Errorf("second export: exit %d, %s", code, errOut)
	}
	if code, _, errOut := run(t, "", "export", "--overwrite", dir, "../../examples/devmentor"); code != exitcode.Ready {
		t.Errorf("--overwrite: exit %d, %s", code, errOut)
	}
	// Into a directory holding something else: refused.
	if code, _, errOut := run(t, "", "export", "../../examples/devmentor", "../../examples/devmentor"); code != exitcode.Usage || !strings.Contains(errOut, "not a previous export") {
		t.Errorf("into the example: exit %d, %s", code, errOut)
	}
}

func TestExportIncompleteFromStdin(t *testing.T) {
	wasm, err := os.ReadFile("testdata/live/wasm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "x")
	code, _, errOut := run(t, string(wasm), "export", dir, "-")
	if code != exitcode.Internal || !strings.Contains(errOut, "cannot export WasmPlugin/istio-ingress/header-filter") || !strings.Contains(errOut, "nothing was written") {
		t.Errorf("exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("an incomplete export was written")
	}
	code, out, errOut := run(t, string(wasm), "export", "--allow-incomplete", dir, "-")
	if code != exitcode.Ready || !strings.Contains(out, "INCOMPLETE") {
		t.Errorf("--allow-incomplete: exit %d, %s %s", code, out, errOut)
	}
}

func TestExportUsage(t *testing.T) {
	for _, args := range [][]string{{"export"}, {"export", "-", "x.yaml"}, {"export", "d", "/nonexistent"}, {"export", "--config", "/nonexistent.yaml", "d", "../../examples/devmentor"}} {
		if code, _, errOut := run(t, "", args...); code != exitcode.Usage {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
}
