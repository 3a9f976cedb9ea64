package boltstore_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/storetest"
)

func open(tb testing.TB) *boltstore.Store {
	tb.Helper()
	s, err := boltstore.Open(filepath.Join(tb.TempDir(), "latch.db"))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) latch.Store { return open(t) })
}

func TestOpenOfALockedFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s2, err := boltstore.Open(path); err == nil {
		s2.Close()
		t.Fatal("a second Open of the same file succeeded, want an error")
	}
}

func TestReopenKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	r := latch.Request{ID: "r1", Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"}, Status: latch.StatusPending}
	if err := s.Commit(t.Context(), latch.Change{Dedup: "create/r1", Requests: []latch.Request{r}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got, err := s.GetRequest(t.Context(), "r1"); err != nil || got.Version != 1 {
		t.Errorf("GetRequest after reopen = version %d, %v; want version 1", got.Version, err)
	}
	err = s.Commit(t.Context(), latch.Change{Dedup: "create/r1"})
	if !errors.Is(err, latch.ErrDuplicate) {
		t.Errorf("Commit of a dedup key from before the reopen: got %v, want ErrDuplicate", err)
	}
}

// Benchmarks; record figures with
//
//	go test -run '^$' -bench . -benchmem ./pkg/boltstore
//
// Every Commit is an fsync'd bbolt transaction, so BenchmarkCommit measures
// the disk as much as the code.

func BenchmarkCommit(b *testing.B) { storetest.BenchCommit(b, open(b)) }

func BenchmarkGetRequest(b *testing.B) { storetest.BenchGetRequest(b, open(b)) }
