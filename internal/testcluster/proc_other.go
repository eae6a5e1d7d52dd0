//go:build !linux

package testcluster

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }

// processAlive is conservative where it is not implemented: stale temp dirs
// are then never swept.
func processAlive(pid int) bool { return true }
