package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
)

// Close during the background check stops it, and the writes waiting for
// it fail: the check is held here until it is stopped.
func TestCloseDuringTheBackgroundCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	beforeBackgroundCheck = func(ctx context.Context) { close(started); <-ctx.Done() }
	defer func() { beforeBackgroundCheck = func(context.Context) {} }()
	s, err = Open(path, WithBackgroundCheck())
	if err != nil {
		t.Fatal(err)
	}
	<-started
	wrote := make(chan error, 1)
	go func() { wrote <- s.Commit(context.Background(), latch.Change{Dedup: "d"}) }()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-wrote; !errors.Is(err, errClosed) {
		t.Errorf("a write waiting for the check: %v, want %v", err, errClosed)
	}
	if err := s.WaitChecked(context.Background()); !errors.Is(err, errClosed) {
		t.Errorf("WaitChecked after Close: %v, want %v", err, errClosed)
	}
}
