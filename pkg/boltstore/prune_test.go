package boltstore

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

func TestOpenForgetsOldDedupMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for _, c := range []latch.Change{{Dedup: "old"}, {Dedup: "recent"}} {
		if err := s.Commit(t.Context(), c); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	// Backdate one marker past the retention.
	err = s.db.Update(func(tx *bolt.Tx) error {
		when := time.Now().Add(-DedupRetention - time.Hour).UnixNano()
		return tx.Bucket(bucketDedup).Put([]byte("old"), binary.BigEndian.AppendUint64(nil, uint64(when)))
	})
	if err != nil {
		t.Fatalf("backdate: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if err := s.Commit(t.Context(), latch.Change{Dedup: "old"}); err != nil {
		t.Errorf("Commit of a forgotten dedup key: %v", err)
	}
	if err := s.Commit(t.Context(), latch.Change{Dedup: "recent"}); !errors.Is(err, latch.ErrDuplicate) {
		t.Errorf("Commit of a recent dedup key: got %v, want ErrDuplicate", err)
	}
}
