package boltstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// errClosed is what a commit to a closed store returns.
var errClosed = errors.New("the store is closed")

// writer is the store's group commit: one goroutine that writes every change
// waiting when it starts a transaction, in the order they came, in one bbolt
// read-write transaction, commits it (one fsync) and then answers each
// caller. There is no timer: a change that finds the writer idle is written
// at once. Each change is checked in full before any of its keys is written
// (applyChange), so a change that fails a check writes nothing and fails
// alone; after an error of the transaction itself (a write, the commit, a
// panic) each of its changes is written again in a transaction of its own,
// so that a change whose write fails fails alone too.
//
// The writer also holds the outbox effects marked done (EffectDone) whose
// removal is not yet on disk: every transaction removes all of them first.
// EffectDone does not wait for the removal: it rides on the next
// transaction, or, when none comes within flushAfter, is written alone. A
// crash before then leaves the effect in the outbox to be done again, as a
// crash between doing an effect and EffectDone always could (the outbox is
// at least once).
type writer struct {
	db *bolt.DB
	// ready waits until the store may be written (the whole-file check
	// passed) and returns why not; every transaction waits for it.
	ready func(context.Context) error

	mu     sync.Mutex
	wake   *sync.Cond
	queue  []*job
	closed bool
	exited chan struct{}

	// done holds the IDs of effects marked done and not yet removed on
	// disk; PendingEffects leaves them out.
	done map[string]bool
	// siblings maps the ID of an effect committed by this process, not yet
	// done, to the effects of its change still to be done: the removal of
	// an effect waits (in done) until the last of its change is done, so
	// that the effects of one change are removed in one write.
	siblings map[string]*group

	// flushAfter is how long held removals wait for a transaction to
	// ride on; flushTimer writes them then, and flushArmed says it is set.
	flushAfter time.Duration
	flushTimer *time.Timer
	flushArmed bool

	// inTx, when set (by tests), runs inside every transaction.
	inTx func()
}

// flushAfter is how long the removals of done effects wait for a
// transaction to ride on before the writer writes them alone. A request
// answered over HTTP is followed by the next well within it at any load
// worth grouping for; idle, the outbox is cleaned up this much later.
const flushAfter = 2 * time.Millisecond

type group struct{ left int }

// job is a change to write, or (change nil) a request to write the removals
// held in done.
type job struct {
	change *latch.Change
	answer chan error
}

func newWriter(db *bolt.DB, ready func(context.Context) error) *writer {
	w := &writer{db: db, ready: ready, exited: make(chan struct{}), done: map[string]bool{}, siblings: map[string]*group{}, flushAfter: flushAfter}
	w.wake = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// submit queues c (nil: only the held removals) and waits until it is on
// disk or refused.
func (w *writer) submit(c *latch.Change) error {
	j := &job{change: c, answer: make(chan error, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	w.queue = append(w.queue, j)
	w.wake.Signal()
	w.mu.Unlock()
	return <-j.answer
}

// effectDone marks the effect done and returns without waiting for its
// removal to be on disk. Unless it is one of the effects of a change
// committed by this process of which some are not done yet, its removal
// (with every other held one) is written with the next transaction of any
// kind, or alone after flushAfter; otherwise it waits for the last of those
// effects, or for the next transaction, whichever comes first.
func (w *writer) effectDone(id string) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	w.done[id] = true
	g := w.siblings[id]
	delete(w.siblings, id)
	if g != nil {
		g.left--
		if g.left > 0 {
			w.mu.Unlock()
			return nil
		}
	}
	if !w.flushArmed { // set the timer that writes the held removals
		w.flushArmed = true
		if w.flushTimer == nil {
			w.flushTimer = time.AfterFunc(w.flushAfter, w.flush)
		} else {
			w.flushTimer.Reset(w.flushAfter)
		}
	}
	w.mu.Unlock()
	return nil
}

// flush queues a write of the held removals unless a transaction has
// written them since the timer was set. Nobody waits for it: removals it
// fails to write stay held for the next transaction of any kind (or Close);
// meanwhile PendingEffects leaves them out, and a crash leaves them to be
// done again. They are not retried on their own: on a full disk a write
// that fails can still hand pages back, which the next due commit needs.
func (w *writer) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushArmed = false
	if w.closed || len(w.done) == 0 {
		return
	}
	w.queue = append(w.queue, &job{answer: make(chan error, 1)})
	w.wake.Signal()
}

// heldDone returns a copy of the set of effects marked done but still on disk.
func (w *writer) heldDone() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.done)
}

func (w *writer) run() {
	defer close(w.exited)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.wake.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		batch := w.queue
		w.queue = nil
		removals := slices.Collect(maps.Keys(w.done))
		w.mu.Unlock()

		errs, txErr := w.write(batch, removals)
		removed := txErr == nil
		if txErr != nil && changes(batch) > 1 {
			// The transaction failed as a whole (a write, the commit, a
			// panic): write each change alone, so that one change whose
			// write fails fails alone. The removals wait for the next
			// transaction.
			for i, j := range batch {
				if j.change == nil {
					errs[i] = txErr
					continue
				}
				one, err := w.write(batch[i:i+1], nil)
				errs[i] = cmp.Or(err, one[0])
			}
			txErr = nil
		}

		w.mu.Lock()
		if removed {
			for _, id := range removals {
				delete(w.done, id)
			}
		}
		if txErr == nil {
			for i, j := range batch {
				if j.change == nil || errs[i] != nil {
					continue
				}
				g := &group{left: len(j.change.Effects)}
				for _, e := range j.change.Effects {
					// A new effect replaces any earlier one with its ID,
					// done or not.
					delete(w.done, e.ID)
					w.siblings[e.ID] = g
				}
			}
		}
		w.mu.Unlock()
		for i, j := range batch {
			if txErr != nil {
				j.answer <- txErr
			} else {
				j.answer <- errs[i]
			}
		}
	}
}

// changes counts the jobs of batch that carry a change.
func changes(batch []*job) int {
	n := 0
	for _, j := range batch {
		if j.change != nil {
			n++
		}
	}
	return n
}

// write writes the removals and the batch's changes in one transaction and
// returns each job's own error, or the error of the transaction as a whole
// (which then wrote nothing).
func (w *writer) write(batch []*job, removals []string) (errs []error, txErr error) {
	errs = make([]error, len(batch))
	if len(removals)+changes(batch) == 0 {
		return errs, nil // only requests for removals another transaction wrote
	}
	if err := w.ready(context.Background()); err != nil {
		return errs, err
	}
	defer func() {
		if p := recover(); p != nil {
			txErr = fmt.Errorf("the transaction panicked: %v", p)
		}
	}()
	err := w.db.Update(func(tx *bolt.Tx) error {
		if w.inTx != nil {
			w.inTx()
		}
		for _, id := range removals {
			if err := deleteEffect(tx, id); err != nil {
				return fmt.Errorf("effect %s done: %w", id, err)
			}
		}
		for i, j := range batch {
			if j.change == nil {
				continue
			}
			err := applyChange(tx, *j.change)
			var ce *changeError
			switch {
			case errors.As(err, &ce):
				errs[i] = ce.err
			case err != nil:
				return err
			}
		}
		return nil
	})
	return errs, err
}

// close stops the writer after the jobs queued, and writes the removals it
// still holds.
func (w *writer) close() error {
	w.mu.Lock()
	w.closed = true
	if w.flushTimer != nil {
		w.flushTimer.Stop()
	}
	w.wake.Broadcast()
	w.mu.Unlock()
	<-w.exited
	if len(w.done) == 0 || w.ready(context.Background()) != nil {
		return nil // nothing to write, or the file must not be written
	}
	return w.db.Update(func(tx *bolt.Tx) error {
		for id := range w.done {
			if err := deleteEffect(tx, id); err != nil {
				return fmt.Errorf("effect %s done: %w", id, err)
			}
		}
		return nil
	})
}
