package local_test

import (
	"context"
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
