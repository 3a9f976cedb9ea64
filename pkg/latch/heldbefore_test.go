package latch_test

import (
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

func heldBefore(v bool) grantOpt { return func(g *latch.Grant) { g.HeldBefore = ptr(v) } }

// TestDecideHeldBefore: what a grant recorded about access the person had
// before Latch is kept, never decided again, and shown in the escalated and
// deescalated audit events.
func TestDecideHeldBefore(t *testing.T) {
	started := at(2 * time.Minute)
	tests := []struct {
		name      string
		state     func() latch.State
		cmd       latch.Command
		wantHeld  *bool          // the grant's HeldBefore after the change
		wantData  map[string]any // held_before and access of each audit event's data; nil: neither
		wantAudit latch.AuditType
	}{
		{
			name: "an escalated report that says held records it and says so in the escalated event",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1"))}
			},
			cmd:       latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: started, HeldBefore: ptr(true)},
			wantHeld:  ptr(true),
			wantData:  map[string]any{"held_before": true},
			wantAudit: latch.AuditEscalated,
		},
		{
			name: "an escalated report that says not held records false and the event says nothing of it",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1"))}
			},
			cmd:       latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: started, HeldBefore: ptr(false)},
			wantHeld:  ptr(false),
			wantAudit: latch.AuditEscalated,
		},
		{
			name: "a grant that recorded not held keeps it whatever a later report says",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantEscalating, heldBefore(false), leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1"))}
			},
			cmd:       latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: started, HeldBefore: ptr(true)},
			wantHeld:  ptr(false),
			wantAudit: latch.AuditEscalated,
		},
		{
			name: "a grant that recorded held (on the grant, as pkg/local does) keeps it on a report without it",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantEscalating, heldBefore(true), leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1"))}
			},
			cmd:       latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: started},
			wantHeld:  ptr(true),
			wantData:  map[string]any{"held_before": true},
			wantAudit: latch.AuditEscalated,
		},
		{
			name: "a report from an escalator that cannot check leaves it unset",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1"))}
			},
			cmd:       latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: started},
			wantAudit: latch.AuditEscalated,
		},
		{
			name: "the deescalated event of access held before says it was left in place",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantDeescalating, heldBefore(true), grantStarted(r1Start),
					leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End))}
			},
			cmd:       latch.Command{ID: "c2", Kind: latch.CmdDeescalated, GrantID: "g1", At: r1End},
			wantHeld:  ptr(true),
			wantData:  map[string]any{"held_before": true, "access": "left_in_place"},
			wantAudit: latch.AuditDeescalated,
		},
		{
			name: "a deescalated report that says held records it when the escalated one did not (it was lost)",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start),
					leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End))}
			},
			cmd:       latch.Command{ID: "c2", Kind: latch.CmdDeescalated, GrantID: "g1", At: r1End, HeldBefore: ptr(true)},
			wantHeld:  ptr(true),
			wantData:  map[string]any{"held_before": true, "access": "left_in_place"},
			wantAudit: latch.AuditDeescalated,
		},
		{
			name: "the deescalated event of access Latch granted says nothing of it",
			state: func() latch.State {
				return latch.State{Grant: ptr(grant("g1", latch.GrantDeescalating, heldBefore(false), grantStarted(r1Start),
					leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End))}
			},
			cmd:       latch.Command{ID: "c2", Kind: latch.CmdDeescalated, GrantID: "g1", At: r1End, Verified: true},
			wantHeld:  ptr(false),
			wantAudit: latch.AuditDeescalated,
		},
		{
			name: "a request joining an active grant of access held before is told so",
			state: func() latch.State {
				return latch.State{Request: ptr(pending("r2", r2opts()...)),
					OpenGrant: ptr(grant("g1", latch.GrantActive, heldBefore(true), grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests:  requests(active("r1", "g1", r1Start, r1End)), Actor: bob, Requester: ann}
			},
			cmd:       latch.Command{ID: "c3", Kind: latch.CmdApprove, RequestID: "r2", Actor: by(bob), At: at(10 * time.Minute)},
			wantHeld:  ptr(true),
			wantData:  map[string]any{"held_before": true},
			wantAudit: latch.AuditEscalated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state()
			s.Flow = testFlow()
			s.NewGrantID = grantIDs(t)
			c, err := latch.Decide(s, tt.cmd)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if len(c.Grants) != 1 {
				t.Fatalf("the change writes %d grants, want 1", len(c.Grants))
			}
			diff(t, "held_before", tt.wantHeld, c.Grants[0].HeldBefore)
			n := 0
			for _, e := range c.Audit {
				if e.Type != tt.wantAudit {
					continue
				}
				n++
				got := map[string]any{}
				for _, k := range []string{"held_before", "access"} {
					if v, ok := e.Data[k]; ok {
						got[k] = v
					}
				}
				want := tt.wantData
				if want == nil {
					want = map[string]any{}
				}
				diff(t, "data of "+e.ID, want, got)
			}
			if n == 0 {
				t.Fatalf("no %s event in %+v", tt.wantAudit, c.Audit)
			}
		})
	}
}
