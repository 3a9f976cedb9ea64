package local_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// inFlight is an escalator whose revokes wait for release, and which counts
// how many are under way at once and in which order they came.
type inFlight struct {
	release chan struct{}
	mu      sync.Mutex
	now     int
	most    int
	order   []string
}

func newInFlight() *inFlight { return &inFlight{release: make(chan struct{})} }

func (f *inFlight) Grant(context.Context, latch.GrantSpec) error { return nil }

func (f *inFlight) Revoke(ctx context.Context, g latch.GrantSpec) error {
	f.mu.Lock()
	f.now++
	f.most = max(f.most, f.now)
	f.order = append(f.order, g.User.Email)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
	}()
	select {
	case <-f.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *inFlight) seen() (now, most int, order []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now, f.most, slices.Clone(f.order)
}

var fivePeople = []string{ann, cat, eve, fay, hal}

// At most Workers revokes of one escalator are under way at once; the rest
// wait their turn and are all done in the end.
func TestRunnerPoolBoundsTheCallsToOneEscalator(t *testing.T) {
	target := newInFlight()
	rt := newRig(t, rigOptions{escalator: target, workers: 2})
	var reqs []latch.Request
	for _, p := range fivePeople {
		reqs = append(reqs, rt.active(p, nil))
	}
	for i, r := range reqs {
		rt.do(latch.CmdRevoke, r.ID, fivePeople[i]) // queued on the pool when Publish returns
	}
	eventually(t, wait, func() bool { now, _, _ := target.seen(); return now == 2 })
	close(target.release)
	for _, r := range reqs {
		rt.waitFor(r.ID, latch.StatusEnded)
	}
	if _, most, order := target.seen(); most != 2 || len(order) != len(fivePeople) {
		t.Errorf("%d revokes at once at most, %d in all; want 2 at once, %d in all", most, len(order), len(fivePeople))
	}
}

// One worker takes the revokes in the order they were asked for.
func TestRunnerPoolRunsWorkInTheOrderItCame(t *testing.T) {
	target := newInFlight()
	rt := newRig(t, rigOptions{escalator: target, workers: 1})
	var reqs []latch.Request
	for _, p := range fivePeople {
		reqs = append(reqs, rt.active(p, nil))
	}
	rt.do(latch.CmdRevoke, reqs[0].ID, fivePeople[0])
	eventually(t, wait, func() bool { now, _, _ := target.seen(); return now == 1 }) // the worker is busy
	for i := len(reqs) - 1; i >= 1; i-- {
		rt.do(latch.CmdRevoke, reqs[i].ID, fivePeople[i]) // the others, last first
	}
	close(target.release)
	for _, r := range reqs {
		rt.waitFor(r.ID, latch.StatusEnded)
	}
	want := []string{ann, hal, fay, eve, cat}
	if _, most, order := target.seen(); !slices.Equal(order, want) || most != 1 {
		t.Errorf("revoked in the order %v, %d at once; want %v, one at a time", order, most, want)
	}
}

// Each escalator has its own pool: a target whose revokes hang does not
// hold up another target's.
func TestRunnerPoolsOfTwoTargetsAreApart(t *testing.T) {
	stuck := make(chan struct{}) // never closed: the runtime's end releases it
	esc := newFakeEscalator()
	esc.on("revoke", ann, block(stuck))
	other := testFlow()
	other.Name = "staging-access"
	rt := newRig(t, rigOptions{esc: esc, workers: 1, flows: []*latch.Flow{testFlow(), other}})
	hung := rt.active(ann, nil)
	r, err := rt.eng.Create(context.Background(), engine.CreateInput{Flow: other.Name, UserEmail: cat,
		Source: latch.SourceAPI, Fields: map[string]any{"reason": "staging check"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	rt.approve(r.ID)
	rt.waitFor(r.ID, latch.StatusActive)

	rt.do(latch.CmdRevoke, hung.ID, ann)
	eventually(t, wait, func() bool { return esc.count("revoke", ann) == 1 }) // prod-access's one worker hangs
	rt.do(latch.CmdRevoke, r.ID, cat)
	rt.waitFor(r.ID, latch.StatusEnded)
	if got := rt.request(hung.ID).Status; got != latch.StatusDeescalating {
		t.Errorf("the hung revoke's request is %s, want deescalating", got)
	}
}
