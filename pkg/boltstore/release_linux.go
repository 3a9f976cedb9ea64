//go:build linux

package boltstore

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releasePages tells the kernel that the process no longer needs the pages
// of the file that the check or the scan read (MADV_DONTNEED on bbolt's
// read-only shared mapping of the file): they stay in the page cache, and
// those a later read needs come back on that read, so that the process's
// resident memory is what it uses, not the whole file. It runs inside the
// read transaction tx, which keeps bbolt from moving its mapping meanwhile
// (a file that grows is mapped again), and covers the pages tx can see.
func releasePages(tx *bolt.Tx) {
	if size := tx.Size(); size > 0 {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, tx.DB().Info().Data, uintptr(size), syscall.MADV_DONTNEED)
	}
}
