package local_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// followingEscalator is the fake escalator of a target told the grant's
// end (a webhook, a customer's Lambda).
type followingEscalator struct{ *fakeEscalator }

func (followingEscalator) FollowsEnd() bool { return true }

// extendableFlow is testFlow whose requester may extend up to a day in all,
// extensions of up to an hour granted at once.
func extendableFlow() *latch.Flow {
	f := testFlow()
	f.Extension = &latch.Extension{MaxTotal: 24 * time.Hour, AutoWithin: time.Hour}
	return f
}

// TestExtendMovesTheRevoke: a two-second grant extended by a second at once
// (auto_within) is revoked only after its new end, by the wake-up the
// extension moved; a target told ends is sent the grant again with the new
// end first.
func TestExtendMovesTheRevoke(t *testing.T) {
	for _, tt := range []struct {
		name       string
		follows    bool
		wantGrants int
	}{
		{name: "a target told the end", follows: true, wantGrants: 2},
		{name: "a target Latch revokes itself", follows: false, wantGrants: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := &testClock{}
			esc := newFakeEscalator()
			var mu sync.Mutex
			var revokedAt time.Time
			esc.on("revoke", ann, answer{do: func() {
				mu.Lock()
				defer mu.Unlock()
				revokedAt = clock.Now()
			}})
			o := rigOptions{clock: clock, esc: esc, flows: []*latch.Flow{extendableFlow()}}
			if tt.follows {
				o.escalator = followingEscalator{esc}
			}
			rt := newRig(t, o)
			r := rt.active(ann, map[string]any{latch.FieldNameDuration: 2})
			oldEnd := *r.EndsAt

			cmd := latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdExtend, RequestID: r.ID, Actor: latch.Actor{Email: ann},
				Duration: 1, Reason: "one more second", Source: latch.SourceAPI}
			if err := rt.queue.Publish(context.Background(), cmd); err != nil {
				t.Fatalf("extend: %v", err)
			}
			r = rt.request(r.ID)
			newEnd := oldEnd.Add(time.Second)
			if r.Status != latch.StatusActive || r.EndsAt == nil || !r.EndsAt.Equal(newEnd) || r.Duration != 3 {
				t.Fatalf("after the extension the request is %s until %v for %ds, want active until %v for 3s", r.Status, r.EndsAt, r.Duration, newEnd)
			}
			g := rt.grant(r.GrantID)
			if l, _ := g.Lease(r.ID); !l.EndsAt.Equal(newEnd) {
				t.Errorf("lease ends %v, want %v", l.EndsAt, newEnd)
			}

			r = rt.waitFor(r.ID, latch.StatusEnded)
			mu.Lock()
			at := revokedAt
			mu.Unlock()
			if at.Before(newEnd) {
				t.Errorf("revoked at %v, before the new end %v", at, newEnd)
			}
			grants := esc.specs("grant", ann)
			if len(grants) != tt.wantGrants {
				t.Fatalf("escalator Grant called %d times, want %d", len(grants), tt.wantGrants)
			}
			if tt.follows {
				if !grants[0].EndsAt.Equal(oldEnd) || !grants[1].EndsAt.Equal(newEnd) || grants[1].GrantID != grants[0].GrantID {
					t.Errorf("grant calls end at %v then %v (grants %s, %s), want %v then %v for the same grant",
						grants[0].EndsAt, grants[1].EndsAt, grants[0].GrantID, grants[1].GrantID, oldEnd, newEnd)
				}
			}
			want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditExtended, latch.AuditDeescalated}
			if got := rt.auditTypes(r.ID); !slices.Equal(got, want) {
				t.Errorf("audit trail %v, want %v", got, want)
			}
		})
	}
}

// TestSecondLeaseTellsTheTargetTheLaterEnd: a second request whose lease
// keeps the grant open longer sends the grant to a target told ends again,
// with the later end.
func TestSecondLeaseTellsTheTargetTheLaterEnd(t *testing.T) {
	esc := newFakeEscalator()
	rt := newRig(t, rigOptions{esc: esc, escalator: followingEscalator{esc}})
	first := rt.active(ann, map[string]any{latch.FieldNameDuration: 600})
	second := rt.active(ann, map[string]any{latch.FieldNameDuration: 3600})
	if second.GrantID != first.GrantID {
		t.Fatalf("the second request has grant %s, want the first's %s", second.GrantID, first.GrantID)
	}
	eventually(t, wait, func() bool { return esc.count("grant", ann) == 2 })
	grants := esc.specs("grant", ann)
	if !grants[0].EndsAt.Equal(*first.EndsAt) || !grants[1].EndsAt.Equal(*second.EndsAt) {
		t.Errorf("grant calls end at %v then %v, want %v then %v", grants[0].EndsAt, grants[1].EndsAt, *first.EndsAt, *second.EndsAt)
	}
}

// TestRegrantAfterTheRevokeIsRevoked: the target answers 503 to the grant
// sent again with its later end, and the requester gives the access up
// while that call is under way: the grant is revoked and ends. The regrant
// is not tried again, and since its call may have landed after the revoke,
// the target is sent a revoke after it: the last call it sees is a revoke.
func TestRegrantAfterTheRevokeIsRevoked(t *testing.T) {
	esc := newFakeEscalator()
	release := make(chan struct{})
	esc.on("grant", ann, succeed(), answer{wait: release, err: errors.New("webhook: 503 Service Unavailable")}, succeed())
	rt := newRig(t, rigOptions{esc: esc, escalator: followingEscalator{esc}, flows: []*latch.Flow{extendableFlow()}})
	r := rt.active(ann, map[string]any{latch.FieldNameDuration: 600})

	cmd := latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdExtend, RequestID: r.ID, Actor: latch.Actor{Email: ann},
		Duration: 600, Reason: "ten more minutes", Source: latch.SourceAPI}
	if err := rt.queue.Publish(context.Background(), cmd); err != nil {
		t.Fatalf("extend: %v", err)
	}
	eventually(t, wait, func() bool { return esc.count("grant", ann) == 2 }) // the regrant's call, under way
	rt.do(latch.CmdRevoke, r.ID, ann)                                        // "I'm done"
	rt.waitFor(r.ID, latch.StatusEnded)
	if n := esc.count("revoke", ann); n != 1 {
		t.Fatalf("revoked %d times, want once", n)
	}
	close(release) // the regrant's call fails, having perhaps landed after the revoke
	eventually(t, wait, func() bool { return len(esc.history()) > 3 })
	rt.Close() // nothing more runs
	calls := esc.history()
	if got := calls[3]; got.Action != "revoke" || got.Spec.GrantID != r.GrantID {
		t.Errorf("after the failed regrant the target was sent %s of %s, want a revoke of %s", got.Action, got.Spec.GrantID, r.GrantID)
	}
	if last := calls[len(calls)-1]; last.Action != "revoke" {
		t.Errorf("the last call the target saw is a %s; calls %v", last.Action, calls)
	}
	if n := esc.count("grant", ann); n != 2 {
		t.Errorf("granted %d times, want twice: the regrant is not tried again once the grant ended", n)
	}
}

// history returns every call the fake escalator received, in order.
func (f *fakeEscalator) history() []escCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}
