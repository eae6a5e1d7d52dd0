package cluster_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/cli"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/testcluster"
)

// tokenKubeconfig writes a kubeconfig that authenticates with a bearer token.
func tokenKubeconfig(t *testing.T, c *testcluster.Cluster, token, context string) string {
	t.Helper()
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority-data: %s}}]
users: [{name: sa, user: {token: %q}}]
contexts: [{name: %s, context: {cluster: test, user: sa}}]
current-context: %s
`, c.Host(), base64.StdEncoding.EncodeToString(c.CAData()), token, context, context)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, path, kc)
	return path
}

// runCheck runs `meshready check` in process and returns the exit code and the JSON report.
func runCheck(t *testing.T, args ...string) (int, *report.Report, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	code := cli.Main(append([]string{"check", "-o", "json=" + out}, args...), cli.IO{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	data, err := os.ReadFile(out)
	if err != nil {
		return code, nil, stderr.String()
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return code, &rep, stderr.String()
}

// TestLiveCheckAsServiceAccount: the whole `meshready check`, with no path,
// as the ServiceAccount of deploy/rbac.yaml (a TokenRequest token in a
// kubeconfig): a verdict, every kind readable, the cluster named.
func TestLiveCheckAsServiceAccount(t *testing.T) {
	c := devmentorCluster(t)
	ctx := context.Background()
	if err := c.ApplyYAML(ctx, rbacManifest(t)); err != nil {
		t.Fatal(err)
	}
	token, err := c.TokenFor(ctx, "meshready", "meshready")
	if err != nil {
		t.Fatal(err)
	}
	kc := tokenKubeconfig(t, c, token, "meshready-sa")
	code, rep, stderr := runCheck(t, "--kubeconfig", kc, "--config", filepath.Join(exampleDir, config.FileName))
	if rep == nil || (code != 0 && code != 3) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Inputs.Cluster != "meshready-sa" || len(rep.Inputs.Paths) != 0 || rep.Inputs.Objects < 100 {
		t.Errorf("inputs %+v", rep.Inputs)
	}
	live := 0
	for _, it := range rep.Items {
		for _, f := range it.Findings {
			if strings.Contains(f.Message, "cannot read") {
				t.Errorf("%s: %s", it.ID, f.Message)
			}
		}
		if partStatus(it, check.Live) == report.Pass {
			live++
		}
	}
	t.Logf("verdict %s: %d pass, %d fail, %d error, %d pending; %d live parts pass", rep.Verdict, rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Error, rep.Summary.Pending, live)

	// A token that is not valid: exit 1 with a clear message.
	code, _, stderr = runCheck(t, "--kubeconfig", tokenKubeconfig(t, c, "not-a-token", "bad"))
	if code != 1 || !strings.Contains(stderr, "rejected meshready's credentials") {
		t.Errorf("bad token: exit %d, stderr %s", code, stderr)
	}
	// An unknown context: a usage error.
	code, _, stderr = runCheck(t, "--kubeconfig", kc, "--context", "nope")
	if code != 2 || !strings.Contains(stderr, "nope") {
		t.Errorf("unknown context: exit %d, stderr %s", code, stderr)
	}
}

// TestLiveOverlay: files given with --live replace the live objects of the
// same kind, namespace and name ("what if I apply these").
func TestLiveOverlay(t *testing.T) {
	c := devmentorCluster(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "permissive.yaml"), `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls: {mode: PERMISSIVE}
`)
	cfg := filepath.Join(exampleDir, config.FileName)
	mtls := func(rep *report.Report) report.Status {
		for _, it := range rep.Items {
			if it.ID == "security.mtls" {
				return partStatus(it, check.Config)
			}
		}
		return ""
	}
	_, live, stderr := runCheck(t, "--kubeconfig", c.Kubeconfig(), "--config", cfg, "--only", "security.mtls")
	if live == nil || mtls(live) != report.Pass {
		t.Fatalf("live: %v %s", live, stderr)
	}
	_, over, stderr := runCheck(t, "--kubeconfig", c.Kubeconfig(), "--config", cfg, "--only", "security.mtls", dir)
	if over == nil || mtls(over) != report.Fail {
		t.Fatalf("overlay: %v %s", over, stderr)
	}
	if over.Inputs.Cluster != "testcluster" || len(over.Inputs.Paths) != 1 || over.Inputs.Objects != live.Inputs.Objects {
		t.Errorf("overlay inputs %+v, live inputs %+v (the file replaces one object)", over.Inputs, live.Inputs)
	}
}
