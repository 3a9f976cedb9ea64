package local_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
)

// TestRearmAfterARestart stops a runtime with work under way and starts a
// new one on the same file two hours later: Rearm must finish every piece of
// that work from the store alone.
func TestRearmAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	stuck := make(chan struct{}) // never closed: the first runtime's calls end with it
	esc1 := newFakeEscalator()
	esc1.on("grant", ann, block(stuck))
	esc1.on("revoke", cat, block(stuck))
	first := newRig(t, rigOptions{path: path, esc: esc1})

	// ann: approved, and the escalator is still granting.
	escalating := first.create(ann, nil)
	first.approve(escalating.ID)
	eventually(t, wait, func() bool { return esc1.count("grant", ann) == 1 })
	// cat: revoked early, and the escalator is still revoking.
	deescalating := first.active(cat, nil)
	first.do(latch.CmdRevoke, deescalating.ID, cat)
	eventually(t, wait, func() bool { return esc1.count("revoke", cat) == 1 })
	// eve: an hour's access, which will be over by the restart.
	pastDue := first.active(eve, map[string]any{latch.FieldNameDuration: "1h"})
	// fay: a day's access, which will not.
	future := first.active(fay, map[string]any{latch.FieldNameDuration: "1d"})
	// hal: waiting for approvers, who have an hour.
	pending := first.create(hal, nil)

	for id, want := range map[string]latch.Status{escalating.ID: latch.StatusEscalating,
		deescalating.ID: latch.StatusDeescalating, pastDue.ID: latch.StatusActive, future.ID: latch.StatusActive,
		pending.ID: latch.StatusPending} {
		if got := first.request(id).Status; got != want {
			t.Fatalf("before the restart, request %s is %s, want %s", id, got, want)
		}
	}
	first.Close()
	if n := esc1.count("revoke", eve) + esc1.count("revoke", fay); n != 0 {
		t.Fatalf("the first runtime revoked %d grants it should not have", n)
	}

	clock := &testClock{}
	clock.Advance(2 * time.Hour)
	esc2 := newFakeEscalator()
	second := newRig(t, rigOptions{path: path, esc: esc2, clock: clock})
	if err := second.runner.Rearm(context.Background()); err != nil {
		t.Fatalf("Rearm: %v", err)
	}

	// ann's hour counted from her approval: it passed during the outage, so
	// the escalation finished after the restart is revoked at once.
	second.waitFor(escalating.ID, latch.StatusEnded)
	second.waitFor(deescalating.ID, latch.StatusEnded)
	second.waitFor(pastDue.ID, latch.StatusEnded)
	second.waitFor(pending.ID, latch.StatusExpired)
	// One wake-up is left: fay's, at the end of her day.
	eventually(t, wait, func() bool { return second.timers.Pending() == 1 })

	for _, c := range []struct {
		action, email string
		want          int
	}{
		{"grant", ann, 1}, {"revoke", cat, 1}, {"revoke", eve, 1}, {"revoke", ann, 1},
		{"grant", cat, 0}, {"grant", eve, 0}, {"grant", fay, 0}, {"revoke", fay, 0},
	} {
		if n := esc2.count(c.action, c.email); n != c.want {
			t.Errorf("after the restart, escalator %s for %s called %d times, want %d", c.action, c.email, n, c.want)
		}
	}
	if got := second.request(future.ID); got.Status != latch.StatusActive || !got.EndsAt.After(clock.Now()) {
		t.Errorf("fay's request is %s until %v, want active until after %v", got.Status, got.EndsAt, clock.Now())
	}
	if g := second.grant(future.GrantID); g.Status != latch.GrantActive {
		t.Errorf("fay's grant is %s, want active", g.Status)
	}
	if got := second.auditTypes(pastDue.ID); got[len(got)-1] != latch.AuditDeescalated {
		t.Errorf("eve's audit trail %v, want it to end with deescalated", got)
	}
	r := second.request(escalating.ID)
	if r.StartsAt == nil || r.StartsAt.Before(clock.Now().Add(-time.Minute)) {
		t.Errorf("ann's access starts at %v, want after the restart (%v)", r.StartsAt, clock.Now())
	}
	if g := second.grant(r.GrantID); r.EndsAt == nil || !r.EndsAt.Equal(g.CreatedAt.Add(time.Hour)) {
		t.Errorf("ann's access ends at %v, want an hour after her approval (%v): the outage must not extend it", r.EndsAt, g.CreatedAt)
	}
}

// TestRearmOfAnEmptyStore starts a runtime on a new file.
func TestRearmOfAnEmptyStore(t *testing.T) {
	rt := newRig(t, rigOptions{})
	if err := rt.runner.Rearm(context.Background()); err != nil {
		t.Fatalf("Rearm: %v", err)
	}
	if n := rt.timers.Pending(); n != 0 {
		t.Errorf("Pending = %d, want 0", n)
	}
}

// TestRearmTwiceDoesTheWorkOnce re-arms a runtime with work under way twice
// over: nothing is done twice.
func TestRearmTwiceDoesTheWorkOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	stuck := make(chan struct{})
	esc1 := newFakeEscalator()
	esc1.on("grant", ann, block(stuck))
	first := newRig(t, rigOptions{path: path, esc: esc1})
	r := first.create(ann, nil)
	first.approve(r.ID)
	eventually(t, wait, func() bool { return esc1.count("grant", ann) == 1 })
	first.Close()

	release := make(chan struct{})
	esc2 := newFakeEscalator()
	esc2.on("grant", ann, block(release), succeed())
	second := newRig(t, rigOptions{path: path, esc: esc2})
	for range 2 {
		if err := second.runner.Rearm(context.Background()); err != nil {
			t.Fatalf("Rearm: %v", err)
		}
	}
	eventually(t, wait, func() bool { return esc2.count("grant", ann) >= 1 })
	close(release)
	second.waitFor(r.ID, latch.StatusActive)
	second.runner.Wait()
	if n := esc2.count("grant", ann); n != 1 {
		t.Errorf("escalator Grant called %d times, want 1", n)
	}
}

// TestRearmForwardingTimers: a request waiting for approvers when the
// process stops gets its forwarding timer back at start. Its first step fell
// due during the outage, so it is forwarded at once, and only then is the
// second step's timer set; the request still waits for a decision.
func TestRearmForwardingTimers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	flow := testFlow()
	flow.Approval.Forward = []latch.ForwardStep{
		{After: 15 * time.Minute, Channel: "#sre-leads", Approvers: []string{"lead@example.com"}},
		{After: 30 * time.Minute, DM: []string{"cto@example.com"}},
	}
	first := newRig(t, rigOptions{path: path, flows: []*latch.Flow{flow}})
	r := first.create(ann, nil)
	if r.ForwardAt == nil || r.Forwarded != 0 {
		t.Fatalf("new request: forwarded %d, next at %v; want step 1 scheduled", r.Forwarded, r.ForwardAt)
	}
	first.Close()

	clock := &testClock{}
	clock.Advance(20 * time.Minute)
	second := newRig(t, rigOptions{path: path, clock: clock, flows: []*latch.Flow{flow}})
	if err := second.runner.Rearm(context.Background()); err != nil {
		t.Fatalf("Rearm: %v", err)
	}
	eventually(t, wait, func() bool { return second.request(r.ID).Forwarded == 1 })
	got := second.request(r.ID)
	if got.Status != latch.StatusPending || got.ForwardAt == nil || !got.ForwardAt.Equal(r.CreatedAt.Add(30*time.Minute)) {
		t.Errorf("after the restart: %s, next step at %v; want pending, step 2 at created+30m", got.Status, got.ForwardAt)
	}
	if types := second.auditTypes(r.ID); len(types) != 2 || types[1] != latch.AuditForwarded {
		t.Errorf("audit trail %v, want requested then forwarded", types)
	}
	// Left set: the expiry and step 2.
	eventually(t, wait, func() bool { return second.timers.Pending() == 2 })
}

// listOnly is a store without the due index: Rearm lists instead.
type listOnly struct{ latch.Store }

// TestRearmWithoutTheDueIndex: a store without the due index is re-armed
// from its lists, to the same timers as from the index.
func TestRearmWithoutTheDueIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	first := newRig(t, rigOptions{path: path})
	first.active(fay, map[string]any{latch.FieldNameDuration: "1d"})
	first.create(hal, nil) // pending, an hour to expire
	first.Close()

	second := newRig(t, rigOptions{path: path})
	if err := second.runner.Rearm(context.Background()); err != nil {
		t.Fatalf("Rearm from the index: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timers := local.NewTimers(ctx, second.queue, second.clock, nil)
	defer timers.Close()
	runner := local.NewRunner(ctx, local.RunnerConfig{Store: listOnly{second.store}, Timers: timers, Clock: second.clock})
	if err := runner.Rearm(context.Background()); err != nil {
		t.Fatalf("Rearm from the lists: %v", err)
	}
	// fay's wake-up and hal's expiry, each way.
	if a, b := second.timers.Pending(), timers.Pending(); a != 2 || b != 2 {
		t.Errorf("timers from the index %d, from the lists %d; want 2 each", a, b)
	}
}
