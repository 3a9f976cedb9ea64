//go:build !linux

package boltstore

import bolt "go.etcd.io/bbolt"

// releasePages does nothing here: the pages the check at open read stay
// mapped until the system needs them.
func releasePages(*bolt.Tx) {}
