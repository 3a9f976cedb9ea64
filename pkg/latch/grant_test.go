package latch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

func TestGrantKey(t *testing.T) {
	tests := []struct {
		name                string
		flow, target, email string
		want                string
	}{
		{name: "flow, target and user", flow: "prod", target: "admins", email: "ann@example.com", want: "prod/admins/ann@example.com"},
		{name: "the email is normalized", flow: "prod", target: "admins", email: "  Ann@Example.COM ", want: "prod/admins/ann@example.com"},
		{name: "flow and target are kept as written", flow: "Prod", target: "Admins", email: "ann@example.com", want: "Prod/Admins/ann@example.com"},
		{name: "no target", flow: "approve-only", email: "ann@example.com", want: "approve-only//ann@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "key", tt.want, latch.GrantKey(tt.flow, tt.target, tt.email))
		})
	}
}

func TestGrantNextDueAndEndsAt(t *testing.T) {
	t1, t2, t3 := at(time.Hour), at(2*time.Hour), at(3*time.Hour)
	l := func(id string, end time.Time) latch.Lease { return lease(id, 3600, t0, end) }
	tests := []struct {
		name       string
		give       []latch.Lease
		wantNext   time.Time
		wantNextOK bool
		wantEnds   time.Time
		wantEndsOK bool
	}{
		{name: "no leases"},
		{name: "one lease", give: []latch.Lease{l("r1", t2)}, wantNext: t2, wantNextOK: true, wantEnds: t2, wantEndsOK: true},
		{name: "several leases: next is the earliest, end the latest", give: []latch.Lease{l("r1", t2), l("r2", t1), l("r3", t3)},
			wantNext: t1, wantNextOK: true, wantEnds: t3, wantEndsOK: true},
		{name: "a lease without an end: next among the others, no end", give: []latch.Lease{l("r1", t2), l("r2", time.Time{})},
			wantNext: t2, wantNextOK: true},
		{name: "no lease has an end", give: []latch.Lease{l("r1", time.Time{}), l("r2", time.Time{})}},
		{name: "leases not started yet", give: []latch.Lease{{RequestID: "r1", Duration: 3600}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := grant("g1", latch.GrantActive, leases(tt.give...))
			next, ok := g.NextDue()
			diff(t, "next due", tt.wantNext, next)
			diff(t, "next due ok", tt.wantNextOK, ok)
			end, ok := g.EndsAt()
			diff(t, "ends at", tt.wantEnds, end)
			diff(t, "ends at ok", tt.wantEndsOK, ok)
		})
	}
}

func TestGrantLeaseAndRequestIDs(t *testing.T) {
	g := grant("g1", latch.GrantDeescalating, leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)),
		queued(lease("r3", 60, time.Time{}, time.Time{})))
	tests := []struct {
		name   string
		id     string
		want   latch.Lease
		wantOK bool
	}{
		{name: "a lease held", id: "r2", want: lease("r2", 1800, r2Start, r2End), wantOK: true},
		{name: "a queued lease is not held", id: "r3"},
		{name: "an unknown request", id: "r9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := g.Lease(tt.id)
			diff(t, "lease", tt.want, got)
			diff(t, "found", tt.wantOK, ok)
		})
	}
	diff(t, "request ids, held then queued", []string{"r1", "r2", "r3"}, g.RequestIDs())
}

func TestGrantStatusOpen(t *testing.T) {
	tests := []struct {
		give latch.GrantStatus
		want bool
	}{
		{give: latch.GrantEscalating, want: true},
		{give: latch.GrantActive, want: true},
		{give: latch.GrantDeescalating, want: true},
		{give: latch.GrantEnded},
		{give: latch.GrantFailed},
	}
	for _, tt := range tests {
		t.Run(string(tt.give), func(t *testing.T) {
			diff(t, "open", tt.want, tt.give.Open())
		})
	}
}

func TestNewGrantSpec(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f := &latch.Flow{Name: "prod", ScheduleDeescalation: true,
		Strategy: &latch.Strategy{Type: "webhook", Targets: []latch.Target{{ID: "db", Label: "DB"}}}}
	g := latch.Grant{ID: "grt_1", Flow: "prod", TargetID: "db", User: latch.UserRef{Email: "ann@example.com"},
		Leases: []latch.Lease{{RequestID: "req_1", Duration: 1800}, {RequestID: "req_2", Duration: 3600}}}
	first := &latch.Request{ID: "req_1", Flow: "prod", Fields: latch.Fields{"reason": "incident"}}

	// Not yet granted: from now, for the longest lease.
	spec := latch.NewGrantSpec(f, &g, first, now)
	if spec.GrantID != "grt_1" || spec.User.Email != "ann@example.com" || spec.Target.Label != "DB" ||
		!spec.StartsAt.Equal(now) || !spec.EndsAt.Equal(now.Add(time.Hour)) || spec.Request.ID != "req_1" {
		t.Errorf("before the grant: %+v", spec)
	}
	// A flow that does not schedule deescalation names no end.
	noEnd := *f
	noEnd.ScheduleDeescalation = false
	if spec := latch.NewGrantSpec(&noEnd, &g, nil, now); !spec.EndsAt.IsZero() || spec.Request.ID != "" {
		t.Errorf("without scheduled deescalation or a first request: %+v", spec)
	}
	// In place: the grant's own times.
	started := now.Add(-time.Minute)
	g.StartsAt = &started
	g.Leases[0].EndsAt, g.Leases[1].EndsAt = started.Add(30*time.Minute), started.Add(2*time.Hour)
	if spec := latch.NewGrantSpec(f, &g, first, now); !spec.StartsAt.Equal(started) || !spec.EndsAt.Equal(started.Add(2*time.Hour)) {
		t.Errorf("in place: %+v, want the grant's start and last lease end", spec)
	}
	if g.FirstRequestID() != "req_1" || (&latch.Grant{}).FirstRequestID() != "" {
		t.Errorf("FirstRequestID")
	}
}

// A grant that recorded its revoke is always escalated and revoked with
// what it recorded: a flow whose target now points elsewhere, or whose
// strategy or target is gone, never redirects it. Its escalator is the
// loaded flow's when the strategy settings are the same, otherwise one per
// distinct recorded settings, never one per grant.
func TestRevokeTarget(t *testing.T) {
	oldConfig := map[string]any{"url": "https://old.example.com/latch", "secret_env": "OLD_SECRET"}
	g := grant("g1", latch.GrantActive, recorded, func(g *latch.Grant) {
		g.Revoke.Config = oldConfig
		g.Revoke.TargetSettings = map[string]any{"group": "prod-admins-2026"}
	})
	same := testFlow(func(f *latch.Flow) {
		f.Strategy.Config = map[string]any{"secret_env": "OLD_SECRET", "url": "https://old.example.com/latch"}
	})
	retargeted := testFlow(func(f *latch.Flow) {
		f.Strategy.Config = oldConfig
		f.Strategy.Targets = []latch.Target{{ID: targetID, Label: "Prod admins", Settings: map[string]any{"group": "other-group"}}}
	})
	moved := testFlow(func(f *latch.Flow) { f.Strategy.Config = map[string]any{"url": "https://new.example.com/latch"} })
	otherType := testFlow(func(f *latch.Flow) { f.Strategy.Type = "okta" })
	noTarget := testFlow(func(f *latch.Flow) { f.Strategy.Targets = []latch.Target{{ID: "other"}} })
	var hashed string
	for _, tt := range []struct {
		name       string
		cur        *latch.Flow
		sharesName bool // the escalator is the loaded flow's
	}{
		{name: "flow unchanged", cur: same, sharesName: true},
		{name: "target settings changed", cur: retargeted, sharesName: true},
		{name: "strategy settings changed", cur: moved},
		{name: "strategy type changed", cur: otherType},
		{name: "target removed", cur: noTarget},
		{name: "flow removed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, esc, ok := latch.RevokeTarget(&g, tt.cur)
			if !ok {
				t.Fatal("RevokeTarget found nothing to act with")
			}
			target, _ := f.Target(targetID)
			if !f.Recorded || f.Name != flowName || f.Strategy.Type != "webhook" || len(f.Strategy.Targets) != 1 ||
				target.Settings["group"] != "prod-admins-2026" || f.Strategy.Config["url"] != "https://old.example.com/latch" ||
				f.IdentityService() != "webhook" || !f.ScheduleDeescalation {
				t.Errorf("flow = %+v (strategy %+v); want what the grant recorded", f, f.Strategy)
			}
			switch {
			case tt.sharesName && esc != flowName:
				t.Errorf("escalator name %q, want the loaded flow's %q", esc, flowName)
			case !tt.sharesName && (esc == flowName || !strings.HasPrefix(esc, flowName+"@")):
				t.Errorf("escalator name %q, want %s@<settings hash>", esc, flowName)
			case !tt.sharesName && hashed != "" && esc != hashed:
				t.Errorf("escalator name %q differs from %q for the same recorded settings", esc, hashed)
			case !tt.sharesName:
				hashed = esc
			}
		})
	}
	t.Run("the name does not grow per grant", func(t *testing.T) {
		other := grant("g2", latch.GrantActive, recorded, func(g *latch.Grant) { g.Revoke.Config = oldConfig })
		if _, esc, _ := latch.RevokeTarget(&other, nil); esc != hashed || strings.Contains(esc, "g2") {
			t.Errorf("escalator name %q for another grant with the same settings, want %q", esc, hashed)
		}
	})
	t.Run("a grant that recorded nothing: the flow while it has the target, else none", func(t *testing.T) {
		old := grant("g0", latch.GrantActive)
		if f, _, ok := latch.RevokeTarget(&old, nil); ok {
			t.Errorf("RevokeTarget = %+v, want none", f)
		}
		if f, esc, ok := latch.RevokeTarget(&old, same); !ok || f != same || esc != flowName {
			t.Errorf("RevokeTarget with the flow loaded = %+v, %q, %v; want the flow", f, esc, ok)
		}
		if _, _, ok := latch.RevokeTarget(&old, noTarget); ok {
			t.Error("RevokeTarget with the target gone: want none")
		}
	})
}
