package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

func testAudit(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("events come back in Seq order", func(t *testing.T) {
		s := newStore(t)
		// IDs whose text order differs from Seq order ("r1/10" < "r1/2"),
		// committed out of order and across changes.
		e1, e2, e10 := newEvent("r1", 1), newEvent("r1", 2), newEvent("r1", 10)
		other := newEvent("r2", 1)
		commit(t, s, latch.Change{Audit: []latch.AuditEvent{e10, e1, other}})
		commit(t, s, latch.Change{Audit: []latch.AuditEvent{e2}})

		if diff := cmp.Diff([]latch.AuditEvent{e1, e2, e10}, auditEvents(t, s, "r1"), opts); diff != "" {
			t.Errorf("AuditEvents(r1) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]latch.AuditEvent{other}, auditEvents(t, s, "r2"), opts); diff != "" {
			t.Errorf("AuditEvents(r2) (-want +got):\n%s", diff)
		}
	})

	t.Run("a request without events has none", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, latch.Change{Audit: []latch.AuditEvent{newEvent("r1", 1)}})
		if got := auditEvents(t, s, "r10"); len(got) != 0 {
			t.Errorf("AuditEvents(r10) = %v, want none", got)
		}
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := newStore(t)
		e := latch.AuditEvent{
			ID:        latch.AuditEventID("r1", 3),
			RequestID: "r1",
			Seq:       3,
			Type:      latch.AuditEscalated,
			At:        at(3).Add(5 * time.Nanosecond).In(zone),
			Flow:      "prod-db",
			Requester: "ann@example.com",
			Actor:     latch.Actor{Email: "bob@example.com", Bot: "ci"},
			TargetID:  "db-1",
			GrantID:   "g1",
			Reason:    "on call",
			Source:    latch.SourceAPI,
			Fields:    latch.Fields{"hosts": []string{"a", "b"}, "ports": []int64{1, 2}, "n": int64(4), "yes": true, "s": "x"},
			Data:      map[string]any{"approvals": float64(2), "nested": map[string]any{"k": "v"}, "list": []any{"a", true}},
		}
		commit(t, s, latch.Change{Audit: []latch.AuditEvent{e}})
		got := auditEvents(t, s, "r1")
		if diff := cmp.Diff([]latch.AuditEvent{e}, got, opts); diff != "" {
			t.Errorf("AuditEvents (-want +got):\n%s", diff)
		}
		if len(got) == 1 && got[0].At.Location() != time.UTC {
			t.Errorf("At read back in %v, want UTC", got[0].At.Location())
		}
	})
}

func testOutbox(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("pending effects oldest first, up to the limit", func(t *testing.T) {
		s := newStore(t)
		// 20 effects created in an order unrelated to their IDs, spread
		// over several changes.
		var all []latch.Effect
		for i := range 20 {
			all = append(all, newEffect(fmt.Sprintf("cmd%02d/0", i), at((i*7)%20)))
		}
		for i := 0; i < len(all); i += 6 {
			commit(t, s, latch.Change{Effects: all[i:min(i+6, len(all))]})
		}
		oldest := func(n int) []latch.Effect {
			out := make([]latch.Effect, n)
			for _, e := range all {
				if k := int(e.CreatedAt.Sub(t0) / time.Minute); k < n {
					out[k] = e
				}
			}
			return out
		}
		for _, tt := range []struct {
			name  string
			limit int
			want  []latch.Effect
		}{
			{"limit of one", 1, oldest(1)},
			{"limit of five", 5, oldest(5)},
			{"limit above the count", 50, oldest(20)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if diff := cmp.Diff(tt.want, pending(t, s, tt.limit), opts); diff != "" {
					t.Errorf("PendingEffects(%d) (-want +got):\n%s", tt.limit, diff)
				}
			})
		}
	})

	t.Run("done effects leave the outbox", func(t *testing.T) {
		s := newStore(t)
		e1, e2, e3 := newEffect("c1/0", at(1)), newEffect("c1/1", at(2)), newEffect("c2/0", at(3))
		commit(t, s, latch.Change{Effects: []latch.Effect{e1, e2, e3}})
		if err := s.EffectDone(t.Context(), e2.ID); err != nil {
			t.Fatalf("EffectDone(%s): %v", e2.ID, err)
		}
		if diff := cmp.Diff([]latch.Effect{e1, e3}, pending(t, s, 10), opts); diff != "" {
			t.Errorf("PendingEffects after EffectDone (-want +got):\n%s", diff)
		}
	})

	t.Run("EffectDone is idempotent", func(t *testing.T) {
		s := newStore(t)
		e := newEffect("c1/0", at(1))
		commit(t, s, latch.Change{Effects: []latch.Effect{e}})
		for i := range 2 {
			if err := s.EffectDone(t.Context(), e.ID); err != nil {
				t.Fatalf("EffectDone #%d: %v", i+1, err)
			}
		}
		if err := s.EffectDone(t.Context(), "never-there"); err != nil {
			t.Fatalf("EffectDone of an unknown effect: %v", err)
		}
		if got := pending(t, s, 10); len(got) != 0 {
			t.Errorf("PendingEffects = %v, want none", got)
		}
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := newStore(t)
		effs := []latch.Effect{
			{ID: "c1/0", Kind: latch.EffectWake, GrantID: "g1", RequestID: "r1", At: at(60).Add(9 * time.Nanosecond).In(zone), CreatedAt: at(0).In(zone)},
			{ID: "c1/1", Kind: latch.EffectHook, RequestID: "r1", Hook: latch.HookOnApprove, CreatedAt: at(1)},
			{ID: "c1/2", Kind: latch.EffectNotify, RequestID: "r1", Event: latch.AuditApproved, CreatedAt: at(2)},
		}
		commit(t, s, latch.Change{Effects: effs})
		got := pending(t, s, 10)
		if diff := cmp.Diff(effs, got, opts); diff != "" {
			t.Errorf("PendingEffects (-want +got):\n%s", diff)
		}
		if len(got) > 0 && (got[0].CreatedAt.Location() != time.UTC || got[0].At.Location() != time.UTC) {
			t.Errorf("times read back in %v and %v, want UTC", got[0].CreatedAt.Location(), got[0].At.Location())
		}
	})
}
