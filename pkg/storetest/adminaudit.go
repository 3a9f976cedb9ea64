package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// newAdminEvent returns an event of no request: an admin's change of a role.
func newAdminEvent(id string, when time.Time) latch.AuditEvent {
	return latch.AuditEvent{
		ID:     id,
		Type:   latch.AuditRoleChanged,
		At:     when,
		Actor:  latch.Actor{Email: "root@example.com"},
		Source: latch.SourceAPI,
		Data:   map[string]any{"email": "ann@example.com", "from": "member", "to": "approver"},
	}
}

func appendAudit(tb testing.TB, s latch.Store, events ...latch.AuditEvent) {
	tb.Helper()
	if err := s.AppendAudit(tb.Context(), events...); err != nil {
		tb.Fatalf("AppendAudit(%d events): %v", len(events), err)
	}
}

func adminAudit(tb testing.TB, s latch.Store, from, to time.Time) []latch.AuditEvent {
	tb.Helper()
	evs, err := s.AdminAudit(tb.Context(), from, to)
	if err != nil {
		tb.Fatalf("AdminAudit(%s, %s): %v", from, to, err)
	}
	return evs
}

// allAdmin returns every admin event of the suite's months.
func allAdmin(tb testing.TB, s latch.Store) []latch.AuditEvent {
	tb.Helper()
	return adminAudit(tb, s, time.Date(2026, time.September, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, time.January, 1, 0, 0, 0, 0, time.UTC))
}

func testAdminAudit(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("round trip keeps every field, ordered by At then ID across months", func(t *testing.T) {
		s := newStore(t)
		// 22:00 on 31 October in UTC is already November at UTC+5: the
		// event belongs to October.
		october := time.Date(2026, time.October, 31, 22, 0, 0, 7, time.UTC)
		full := latch.AuditEvent{
			ID:        "admin-1",
			Type:      latch.AuditTokenIssued,
			At:        october.In(zone),
			Flow:      "prod-db",
			Requester: "ann@example.com",
			Actor:     latch.Actor{Email: "root@example.com", Bot: "ops"},
			TargetID:  "db-1",
			GrantID:   "g1",
			Reason:    "rotation",
			Source:    latch.SourceAPI,
			Fields:    latch.Fields{"hosts": []string{"a", "b"}, "n": int64(4), "yes": true},
			Data:      map[string]any{"token": "t1", "scopes": []any{"requests:create"}, "nested": map[string]any{"k": float64(2)}},
		}
		// Same instant, IDs out of text order as given; one in November.
		b, a := newAdminEvent("b", at(0)), newAdminEvent("a", at(0).In(zone))
		later := newAdminEvent("0-later", at(1))
		appendAudit(t, s, later, b)
		appendAudit(t, s, full, a)

		got := allAdmin(t, s)
		if diff := cmp.Diff([]latch.AuditEvent{full, a, b, later}, got, opts); diff != "" {
			t.Errorf("AdminAudit (-want +got):\n%s", diff)
		}
		for _, e := range got {
			if e.At.Location() != time.UTC {
				t.Errorf("%s: At read back in %v, want UTC", e.ID, e.At.Location())
			}
		}
		// October alone holds the event given at November's UTC+5 time.
		oct := adminAudit(t, s, time.Date(2026, time.October, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC))
		if diff := cmp.Diff([]latch.AuditEvent{full}, oct, opts); diff != "" {
			t.Errorf("AdminAudit of October (-want +got):\n%s", diff)
		}
	})

	t.Run("the range includes from and excludes to", func(t *testing.T) {
		s := newStore(t)
		e0, e1, e2, e3 := newAdminEvent("e0", at(0)), newAdminEvent("e1", at(1)), newAdminEvent("e2", at(2)), newAdminEvent("e3", at(3))
		appendAudit(t, s, e3, e1, e0, e2)
		for _, tt := range []struct {
			name     string
			from, to time.Time
			want     []latch.AuditEvent
		}{
			{"from is in, to is out", at(1), at(3), []latch.AuditEvent{e1, e2}},
			{"a nanosecond after from", at(1).Add(time.Nanosecond), at(3), []latch.AuditEvent{e2}},
			{"a nanosecond after to", at(1), at(3).Add(time.Nanosecond), []latch.AuditEvent{e1, e2, e3}},
			{"bounds in another zone", at(0).In(zone), at(2).In(zone), []latch.AuditEvent{e0, e1}},
			{"empty range", at(1), at(1), nil},
			{"reversed range", at(3), at(1), nil},
			{"before every event", at(-60), at(0), nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if diff := cmp.Diff(tt.want, adminAudit(t, s, tt.from, tt.to), opts); diff != "" {
					t.Errorf("AdminAudit(%s, %s) (-want +got):\n%s", tt.from, tt.to, diff)
				}
			})
		}
	})

	t.Run("an event without an ID, or of a request, is invalid and nothing is written", func(t *testing.T) {
		s := newStore(t)
		ofRequest := newAdminEvent("admin-2", at(2))
		ofRequest.RequestID = "r1"
		for _, tt := range []struct {
			name string
			give []latch.AuditEvent
		}{
			{"with a request ID", []latch.AuditEvent{newAdminEvent("admin-1", at(1)), ofRequest}},
			{"without an ID", []latch.AuditEvent{newAdminEvent("admin-1", at(1)), newAdminEvent("", at(2))}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantInvalid(t, "AppendAudit", s.AppendAudit(t.Context(), tt.give...))
				if got := allAdmin(t, s); len(got) != 0 {
					t.Errorf("AdminAudit after a refused append = %v, want none", got)
				}
			})
		}
		if got := auditEvents(t, s, "r1"); len(got) != 0 {
			t.Errorf("AuditEvents(r1) = %v, want none", got)
		}
	})

	t.Run("a duplicate ID conflicts and nothing of the call is written", func(t *testing.T) {
		s := newStore(t)
		// Within one call, at different times.
		err := s.AppendAudit(t.Context(), newAdminEvent("x", at(1)), newAdminEvent("y", at(2)), newAdminEvent("x", at(3)))
		wantErr(t, "AppendAudit with an ID twice", err, latch.ErrConflict)
		if got := allAdmin(t, s); len(got) != 0 {
			t.Fatalf("AdminAudit after a refused append = %v, want none", got)
		}
		// Against a stored event, at another time (so in another place of
		// the log) and at the same.
		x := newAdminEvent("x", at(1))
		appendAudit(t, s, x)
		for _, when := range []time.Time{at(1), at(60 * 24 * 40)} {
			err := s.AppendAudit(t.Context(), newAdminEvent("z", at(2)), newAdminEvent("x", when))
			wantErr(t, "AppendAudit of a stored ID", err, latch.ErrConflict)
		}
		if diff := cmp.Diff([]latch.AuditEvent{x}, allAdmin(t, s), opts); diff != "" {
			t.Errorf("AdminAudit after refused appends (-want +got):\n%s", diff)
		}
	})

	t.Run("events of requests are not in the admin log", func(t *testing.T) {
		s := newStore(t)
		req := newEvent("r1", 1)
		commit(t, s, latch.Change{Audit: []latch.AuditEvent{req}})
		admin := newAdminEvent("admin-1", at(2))
		appendAudit(t, s, admin)
		if diff := cmp.Diff([]latch.AuditEvent{admin}, allAdmin(t, s), opts); diff != "" {
			t.Errorf("AdminAudit (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]latch.AuditEvent{req}, auditEvents(t, s, "r1"), opts); diff != "" {
			t.Errorf("AuditEvents(r1) (-want +got):\n%s", diff)
		}
		// Nor are admin events the log of a request without an ID.
		if got := auditEvents(t, s, ""); len(got) != 0 {
			t.Errorf("AuditEvents(\"\") = %v, want none", got)
		}
	})

	t.Run("appended events join the audit feed after earlier ones", func(t *testing.T) {
		s := newStore(t)
		feed, ok := s.(latch.AuditFeed)
		if !ok {
			t.Skip("the store has no AuditFeed")
		}
		commit(t, s, latch.Change{Audit: []latch.AuditEvent{newEvent("r1", 1)}})
		// Given in an order unlike their times'.
		appendAudit(t, s, newAdminEvent("admin-b", at(5)), newAdminEvent("admin-a", at(4)))
		commit(t, s, latch.Change{Audit: []latch.AuditEvent{newEvent("r1", 2)}})
		appendAudit(t, s, newAdminEvent("admin-c", at(1)))

		all, err := feed.AuditAfter(t.Context(), 0, 0)
		if err != nil {
			t.Fatalf("AuditAfter(0, 0): %v", err)
		}
		var got []string
		for i, fe := range all {
			got = append(got, fe.Event.ID)
			if i > 0 && fe.Pos <= all[i-1].Pos {
				t.Errorf("positions not increasing: %d after %d", fe.Pos, all[i-1].Pos)
			}
		}
		want := []string{"r1/1", "admin-b", "admin-a", "r1/2", "admin-c"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("feed (-want +got):\n%s", diff)
		}
	})
}
