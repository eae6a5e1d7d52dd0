package testcluster

import (
	"errors"
	"syscall"
)

// sysProcAttr makes the kernel kill a child when the test binary dies, so a
// crashed or killed `go test` does not leave etcd or kube-apiserver behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
