package testcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

func TestNamespacePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"TestFoo":             "testfoo-",
		"TestFoo/sub_case#01": "testfoo-sub-case-01-",
		"":                    "t-",
		"/x":                  "x-",
		"TestAVeryLongNameThatKeepsGoingAndGoingForever": "testaverylongnamethatkeepsgoingandgoingf-",
	} {
		if got := namespacePrefix(in); got != want {
			t.Errorf("namespacePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSweepStaleDirs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("processAlive is only implemented on Linux")
	}
	t.Setenv("TMPDIR", t.TempDir())
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid // exited and reaped
	mk := func(owner string) string {
		d, err := os.MkdirTemp("", tempDirPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	stale := mk(strconv.Itoa(dead))
	live := mk(strconv.Itoa(os.Getpid()))
	unowned := mk("")
	sweepStaleDirs()
	for d, want := range map[string]bool{stale: false, live: true, unowned: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", d, err == nil, want)
		}
	}
}
