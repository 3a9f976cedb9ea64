package dynamotest

import "syscall"

// sysProcAttr has Linux kill DynamoDB Local when the test process dies
// without running Main's clean-up (a panic, a timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
