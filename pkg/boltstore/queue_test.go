package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// txID returns the ID of the last read-write transaction committed: bbolt
// counts them in the file's meta page, one per durable write.
func txID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatalf("View: %v", err)
	}
	return id
}

func newReq(id string) latch.Request {
	return latch.Request{ID: id, Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"}, Status: latch.StatusPending}
}

func effect(id string) latch.Effect {
	return latch.Effect{ID: id, Kind: latch.EffectNotify, RequestID: "r", Event: latch.AuditRequested, CreatedAt: time.Unix(1, 0)}
}

// holdWriter makes the writer's next transaction wait, inside it, until
// the returned release is called; it returns once that transaction holds.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	inside, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.w.inTx = func() {
		once.Do(func() {
			close(inside)
			<-gate
		})
	}
	blocker := make(chan error, 1)
	go func() { blocker <- s.Commit(t.Context(), latch.Change{Dedup: "blocker"}) }()
	<-inside
	return func() {
		close(gate)
		if err := <-blocker; err != nil {
			t.Errorf("the blocking commit: %v", err)
		}
	}
}

// waitQueued waits until n jobs wait for the writer.
func waitQueued(s *Store, n int) {
	for {
		s.w.mu.Lock()
		q := len(s.w.queue)
		s.w.mu.Unlock()
		if q >= n {
			return
		}
		runtime.Gosched()
	}
}

// commitAll commits the changes from one goroutine each while the writer is
// held, so that they all wait for one transaction, and returns their errors.
func commitAll(t *testing.T, s *Store, changes []latch.Change) []error {
	t.Helper()
	release := holdWriter(t, s)
	errs := make([]error, len(changes))
	var wg sync.WaitGroup
	for i, c := range changes {
		wg.Go(func() { errs[i] = s.Commit(t.Context(), c) })
	}
	waitQueued(s, len(changes))
	release()
	wg.Wait()
	return errs
}

func TestWaitingChangesShareOneTransaction(t *testing.T) {
	s := openStore(t)
	if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{newReq("seeded")}}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	stale := newReq("seeded") // version 0: the request exists, a conflict
	var changes []latch.Change
	for i := range 6 {
		id := fmt.Sprintf("r%d", i)
		c := latch.Change{Dedup: "create/" + id, Requests: []latch.Request{newReq(id)}, Effects: []latch.Effect{effect(id + "/0")}}
		if i == 3 {
			c.Requests = append(c.Requests, stale)
		}
		changes = append(changes, c)
	}
	before := txID(t, s)
	errs := commitAll(t, s, changes)
	if got := txID(t, s) - before; got != 2 {
		t.Errorf("%d transactions for the blocking commit and 6 waiting changes, want 2", got)
	}
	for i, err := range errs {
		switch {
		case i == 3 && !errors.Is(err, latch.ErrConflict):
			t.Errorf("change 3 (stale): got %v, want ErrConflict", err)
		case i != 3 && err != nil:
			t.Errorf("change %d: %v", i, err)
		}
	}
	for i := range 6 {
		_, err := s.GetRequest(t.Context(), fmt.Sprintf("r%d", i))
		if i == 3 && !errors.Is(err, latch.ErrNotFound) {
			t.Errorf("the failed change's request: got %v, want ErrNotFound", err)
		}
		if i != 3 && err != nil {
			t.Errorf("request r%d: %v", i, err)
		}
	}
	effs, err := s.PendingEffects(t.Context(), 0)
	if err != nil || len(effs) != 5 {
		t.Errorf("PendingEffects = %d effects, %v; want the 5 of the good changes", len(effs), err)
	}
	for _, e := range effs {
		if e.ID == "r3/0" {
			t.Errorf("the failed change's effect is in the outbox")
		}
	}
}

func TestAFailedTransactionIsRetriedChangeByChange(t *testing.T) {
	s := openStore(t)
	release := holdWriter(t, s)
	calls := 0
	s.w.inTx = func() {
		calls++
		// The batch's transaction panics, and so does the second of the
		// transactions that write its changes one by one.
		if calls == 1 || calls == 3 {
			panic("boom")
		}
	}
	// The writer still holds the blocker's transaction, which ran the old
	// hook; the next transaction (the batch below) panics.
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.Commit(t.Context(), latch.Change{Requests: []latch.Request{newReq(fmt.Sprintf("p%d", i))}})
		})
	}
	waitQueued(s, len(errs))
	release()
	wg.Wait()
	failed := 0
	for i, err := range errs {
		_, got := s.GetRequest(t.Context(), fmt.Sprintf("p%d", i))
		switch {
		case err != nil:
			failed++
			if !errors.Is(got, latch.ErrNotFound) {
				t.Errorf("request p%d failed (%v) but reads back: %v", i, err, got)
			}
		case got != nil:
			t.Errorf("request p%d committed but does not read back: %v", i, got)
		}
	}
	if failed != 1 {
		t.Errorf("%d of the batch's changes failed (%v), want the one whose own transaction panicked", failed, errs)
	}
	if calls != 4 {
		t.Errorf("%d transactions, want 4: the batch and one per change", calls)
	}
	if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{newReq("after")}}); err != nil {
		t.Errorf("a commit after the panic: %v", err)
	}
}

func TestAWriteErrorFailsItsChangeAlone(t *testing.T) {
	s := openStore(t)
	release := holdWriter(t, s)
	// bbolt refuses a key longer than bolt.MaxKeySize: the write of that
	// change fails inside the shared transaction.
	bad := newReq(strings.Repeat("k", bolt.MaxKeySize+1))
	ids := []string{"w0", "w1", bad.ID, "w3"}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		r := newReq(id)
		wg.Go(func() { errs[i] = s.Commit(t.Context(), latch.Change{Requests: []latch.Request{r}}) })
	}
	waitQueued(s, len(ids))
	release()
	wg.Wait()
	for i, id := range ids {
		if id == bad.ID {
			if errs[i] == nil {
				t.Errorf("the change with a key too large committed")
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("change %s failed with the bad one: %v", id, errs[i])
		}
		if _, err := s.GetRequest(t.Context(), id); err != nil {
			t.Errorf("request %s: %v", id, err)
		}
	}
}
