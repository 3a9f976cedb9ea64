package local_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

func scheduledFlow() *latch.Flow {
	f := testFlow()
	f.AllowScheduledStart = true
	return f
}

// createAt submits a request by email that asks to start at start.
func (rt *rig) createAt(email string, start time.Time, fields map[string]any) latch.Request {
	rt.t.Helper()
	if fields == nil {
		fields = map[string]any{}
	}
	fields["reason"] = "change window"
	r, err := rt.eng.Create(context.Background(), engine.CreateInput{Flow: flowName, UserEmail: email,
		Source: latch.SourceAPI, Fields: fields, StartsAt: &start})
	if err != nil {
		rt.t.Fatalf("create request for %s: %v", email, err)
	}
	return r
}

// TestScheduledStartSurvivesARestart approves scheduled requests, stops the
// runtime before their start and starts a new one on the same file after
// it: Rearm escalates the one whose start passed, with its end counted from
// its start; the cancelled one never reaches the escalator; the one whose
// start is still ahead keeps waiting.
func TestScheduledStartSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	clock := &testClock{}
	esc1 := newFakeEscalator()
	first := newRig(t, rigOptions{path: path, esc: esc1, clock: clock, flows: []*latch.Flow{scheduledFlow()}})
	start := clock.Now().Add(time.Hour).Truncate(time.Second)
	due := first.createAt(ann, start, map[string]any{latch.FieldNameDuration: "4h"})
	cancelled := first.createAt(cat, start, nil)
	later := first.createAt(fay, start.Add(24*time.Hour), nil)
	for _, r := range []latch.Request{due, cancelled, later} {
		first.approve(r.ID)
		if got := first.request(r.ID).Status; got != latch.StatusScheduled {
			t.Fatalf("after approval, request %s is %s, want scheduled", r.ID, got)
		}
	}
	first.do(latch.CmdCancel, cancelled.ID, cat)
	if got := first.request(cancelled.ID).Status; got != latch.StatusCancelled {
		t.Fatalf("after cancel: %s", got)
	}
	first.Close()
	if n := len(esc1.specs("grant", ann)) + len(esc1.specs("grant", cat)) + len(esc1.specs("grant", fay)); n != 0 {
		t.Fatalf("the first runtime granted %d times before any start", n)
	}

	clock.Advance(90 * time.Minute) // the start passed while the server was down
	esc2 := newFakeEscalator()
	second := newRig(t, rigOptions{path: path, esc: esc2, clock: clock, flows: []*latch.Flow{scheduledFlow()}})
	if err := second.runner.Rearm(context.Background()); err != nil {
		t.Fatalf("Rearm: %v", err)
	}
	second.waitFor(due.ID, latch.StatusActive)
	specs := esc2.specs("grant", ann)
	if len(specs) != 1 {
		t.Fatalf("ann's grant was asked %d times, want once", len(specs))
	}
	if want := start.Add(4 * time.Hour); !specs[0].EndsAt.Equal(want) {
		t.Errorf("the escalator was told the access ends %v, want %v (4h from the start asked for)", specs[0].EndsAt, want)
	}
	if got := second.request(due.ID); got.EndsAt == nil || !got.EndsAt.Equal(start.Add(4*time.Hour)) || got.StartsAt.Before(start) {
		t.Errorf("ann's request runs %v to %v, want from after %v to %v", got.StartsAt, got.EndsAt, start, start.Add(4*time.Hour))
	}
	// fay still waits for hers; cat's was never re-armed.
	if got := second.request(later.ID).Status; got != latch.StatusScheduled {
		t.Errorf("fay's request, a day ahead, is %s, want scheduled", got)
	}
	if got := second.request(cancelled.ID); got.Status != latch.StatusCancelled || got.GrantID != "" {
		t.Errorf("cat's cancelled request is %s with grant %q", got.Status, got.GrantID)
	}
	second.Close() // everything under way has run
	for _, who := range []string{cat, fay} {
		if n := esc2.count("grant", who) + esc2.count("revoke", who); n != 0 {
			t.Errorf("the escalator was called %d times for %s", n, who)
		}
	}
}
