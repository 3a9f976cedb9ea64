package boltstore

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// ports answers the engine's runner, scheduler and notifier calls at once,
// counting the notifications.
type ports struct{ notified int }

func (*ports) Escalate(context.Context, string) error             { return nil }
func (*ports) Deescalate(context.Context, string) error           { return nil }
func (*ports) Wake(context.Context, string, time.Time) error      { return nil }
func (*ports) At(context.Context, time.Time, latch.Command) error { return nil }
func (p *ports) Notify(context.Context, latch.AuditType, latch.Request) error {
	p.notified++
	return nil
}

// A request created through the engine (its commit, then its outbox
// effects done one by one) costs one durable transaction when another
// follows it (the removal of its done effects rides on the next commit) and
// two when none does: the commit and, flushAfter later, the removal.
func TestACreateCostsTwoWrites(t *testing.T) {
	s := openStore(t)
	s.w.flushAfter = time.Hour // the next create always comes first
	flow := &latch.Flow{
		Name: "prod", Label: "Prod",
		Fields:   []latch.Field{{Name: "reason", Type: latch.FieldString, Required: true}},
		Approval: latch.Approval{Quorum: 1, Timeout: time.Hour, Approvers: []string{"a1@example.com"}},
		Strategy: &latch.Strategy{Type: "webhook", Targets: []latch.Target{{ID: "db", Label: "DB"}}},
	}
	p := &ports{}
	eng, err := engine.New(engine.Config{Store: s, Flows: engine.NewFlowSet([]*latch.Flow{flow}), Runner: p, Scheduler: p, Notifier: p})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	create := func() latch.Request {
		r, err := eng.Create(t.Context(), engine.CreateInput{Flow: "prod", UserEmail: "bob@example.com",
			Source: latch.SourceAPI, Fields: map[string]any{"reason": "x"}})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return r
	}
	create() // the first create of a user may write more (the user)
	for range 3 {
		before := txID(t, s)
		r := create()
		if got := txID(t, s) - before; got != 1 {
			t.Errorf("create of %s followed by another: %d durable transactions, want 1", r.ID, got)
		}
		effs, err := s.PendingEffects(t.Context(), 0)
		if err != nil || len(effs) != 0 {
			t.Errorf("PendingEffects after create = %v, %v; want none", effs, err)
		}
	}
	if p.notified == 0 {
		t.Errorf("no effect was carried out; the test measures nothing")
	}

	// The last create's removal, with nothing to ride on, is written alone.
	before := txID(t, s)
	s.w.mu.Lock()
	s.w.flushAfter = time.Millisecond
	s.w.flushTimer.Reset(time.Millisecond) // the hour's timer, set by the creates above
	s.w.mu.Unlock()
	create()
	waitHeld(t, s, 0)
	if got := txID(t, s) - before; got != 2 {
		t.Errorf("a create followed by nothing: %d durable transactions, want 2 (its commit, then its removals)", got)
	}
}

// waitHeld waits until the store holds n removals not yet on disk.
func waitHeld(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.w.mu.Lock()
		held := len(s.w.done)
		s.w.mu.Unlock()
		if held == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store still holds %d removals after 10 s, want %d", held, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The removal of a done effect whose siblings are not done yet is held:
// PendingEffects leaves it out at once, and the next commit (or Close)
// writes it.
func TestHeldRemovalsAreWrittenWithTheNextWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	commit := func(c latch.Change) {
		t.Helper()
		if err := s.Commit(t.Context(), c); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	commit(latch.Change{Requests: []latch.Request{newReq("r1")}, Effects: []latch.Effect{effect("e1"), effect("e2")}})
	before := txID(t, s)
	if err := s.EffectDone(t.Context(), "e1"); err != nil {
		t.Fatalf("EffectDone(e1): %v", err)
	}
	if got := txID(t, s) - before; got != 0 {
		t.Errorf("EffectDone of the first of two effects wrote %d transactions, want 0 (held)", got)
	}
	effs, err := s.PendingEffects(t.Context(), 0)
	if err != nil || len(effs) != 1 || effs[0].ID != "e2" {
		t.Fatalf("PendingEffects after e1 done = %v, %v; want e2 alone", effs, err)
	}
	commit(latch.Change{Requests: []latch.Request{newReq("r2")}})
	if got := txID(t, s) - before; got != 1 {
		t.Errorf("the next commit took %d transactions, want 1", got)
	}
	s.w.mu.Lock()
	held := len(s.w.done)
	s.w.mu.Unlock()
	if held != 0 {
		t.Errorf("after the next commit %d removals are still held, want 0", held)
	}

	// A held removal reaches the file on Close.
	if err := s.EffectDone(t.Context(), "e2"); err != nil { // e1 is gone: e2 is written with the next write
		t.Fatalf("EffectDone(e2): %v", err)
	}
	commit(latch.Change{Requests: []latch.Request{newReq("r3")}, Effects: []latch.Effect{effect("e3"), effect("e4")}})
	if err := s.EffectDone(t.Context(), "e3"); err != nil {
		t.Fatalf("EffectDone(e3): %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	effs, err = s.PendingEffects(t.Context(), 0)
	if err != nil || len(effs) != 1 || effs[0].ID != "e4" {
		t.Errorf("PendingEffects after reopen = %v, %v; want e4 alone", effs, err)
	}
}

// Removals whose write fails stay held (PendingEffects leaves them out)
// and are written with the next transaction.
func TestAFailedRemovalIsWrittenWithTheNextWrite(t *testing.T) {
	s := openStore(t)
	if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{newReq("r1")}, Effects: []latch.Effect{effect("e1")}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	var calls atomic.Int32
	s.w.mu.Lock()
	s.w.inTx = func() {
		if calls.Add(1) == 1 {
			panic("the disk is gone for a moment")
		}
	}
	s.w.mu.Unlock()
	if err := s.EffectDone(t.Context(), "e1"); err != nil {
		t.Fatalf("EffectDone: %v", err)
	}
	for calls.Load() == 0 { // the flush's transaction, which fails
		time.Sleep(time.Millisecond)
	}
	waitHeld(t, s, 1)
	effs, err := s.PendingEffects(t.Context(), 0)
	if err != nil || len(effs) != 0 {
		t.Errorf("PendingEffects after a failed removal = %v, %v; want none (held)", effs, err)
	}
	if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{newReq("r2")}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	waitHeld(t, s, 0)
}
