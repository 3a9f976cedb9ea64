//go:build !linux

package dynamotest

import "syscall"

// sysProcAttr sets nothing: only Linux can kill a child when its parent
// dies.
func sysProcAttr() *syscall.SysProcAttr { return nil }
