package boltstore_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// innerPage returns the number and size of a leaf page of the store at
// path that no bucket has as its root, nor the store as its root bucket:
// Open does not read it, the whole-file check does.
func innerPage(tb testing.TB, path string) (id int, size int) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	id = -1
	err = db.View(func(tx *bolt.Tx) error {
		roots := map[int]bool{int(tx.Cursor().Bucket().Root()): true}
		_ = tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			roots[int(b.Root())] = true
			return nil
		})
		for p := 2; ; {
			info, err := tx.Page(p)
			if err != nil || info == nil {
				return err
			}
			if info.Type == "leaf" && !roots[p] {
				id = p
				return nil
			}
			if info.Type == "free" {
				p++
			} else {
				p += 1 + info.OverflowCount
			}
		}
	})
	if err != nil || id < 0 {
		tb.Fatalf("no inner leaf page in %s: %v", path, err)
	}
	return id, db.Info().PageSize
}

// zeroPage writes zeros over page id of the file at path, as a lost write
// would leave it.
func zeroPage(tb testing.TB, path string, id, size int) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, size), int64(id*size)); err != nil {
		tb.Fatal(err)
	}
}

func TestBackgroundCheckRefusesWritesToADamagedFile(t *testing.T) {
	path := filled(t, 200)
	id, size := innerPage(t, path)
	zeroPage(t, path, id, size)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path, boltstore.WithBackgroundCheck())
	if err != nil {
		t.Fatalf("Open: %v, want the damage found after it", err)
	}
	// A write made before the check ends waits for it, and is refused.
	err = s.Commit(t.Context(), latch.Change{Dedup: "create/new", Requests: []latch.Request{pendingRequest("new")}})
	wantDamaged(t, err, path, "page")
	wantDamaged(t, s.WaitChecked(t.Context()), path, "page")
	wantDamaged(t, s.SetFeedCursor(t.Context(), "readyz", 1), path, "page")
	wantDamaged(t, s.PutDomain(t.Context(), latch.Domain{Name: "example.com"}), path, "page")
	// A read that reaches the damaged page fails the same way (no panic).
	_, err = s.ListRequests(t.Context(), latch.RequestFilter{Limit: 1000})
	wantDamaged(t, err, path, "reading it failed")
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the damaged file was written to")
	}
	// Open without the option refuses it at once.
	if s, err := boltstore.Open(path); err == nil {
		s.Close()
		t.Error("Open of the damaged file succeeded")
	}
}

func TestBackgroundCheckLetsWritesProceedOnASoundFile(t *testing.T) {
	path := filled(t, 200)
	s, err := boltstore.Open(path, boltstore.WithBackgroundCheck())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := pendingRequest("new")
	if err := s.Commit(t.Context(), latch.Change{Dedup: "create/new", Requests: []latch.Request{r}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := s.WaitChecked(t.Context()); err != nil {
		t.Fatalf("WaitChecked: %v", err)
	}
	if got, err := s.GetRequest(t.Context(), "new"); err != nil || got.ID != "new" {
		t.Errorf("GetRequest = %v, %v; want the request written", got.ID, err)
	}
	if err := s.SetFeedCursor(t.Context(), "readyz", 1); err != nil {
		t.Errorf("SetFeedCursor: %v", err)
	}
}

func TestBackgroundCheckOfAStoreToUpgradeRunsInOpen(t *testing.T) {
	path := filled(t, 200)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("due")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	id, size := innerPage(t, path)
	zeroPage(t, path, id, size)
	s, err := boltstore.Open(path, boltstore.WithBackgroundCheck())
	if err == nil {
		s.Close()
	}
	var de *boltstore.DamagedError
	if !errors.As(err, &de) {
		t.Errorf("Open of a damaged store that lacks an index: %v, want a *DamagedError before the index is built", err)
	}
}
