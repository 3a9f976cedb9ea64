//go:build !unix

package main

// openFileLimit reports no open-file limit where the system has none to read.
func openFileLimit() (int, bool) { return 0, false }
