package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

func testGrants(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("get missing grant returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetGrant(t.Context(), "nope")
		wantNotFound(t, "GetGrant", err)
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := newStore(t)
		local := func(n int) time.Time { return at(n).Add(31 * time.Nanosecond).In(zone) }
		g := latch.Grant{
			ID:       "g-full",
			Key:      latch.GrantKey("prod-db", "db-1", "ann@example.com"),
			Flow:     "prod-db",
			TargetID: "db-1",
			User:     latch.UserRef{ID: "U01", Email: "ann@example.com"},
			Status:   latch.GrantFailed,
			Leases: []latch.Lease{
				{RequestID: "r1", Duration: 3600, StartsAt: local(1), EndsAt: local(61)},
				{RequestID: "r2", Duration: 600, StartsAt: local(2)},
			},
			Queued:    []latch.Lease{{RequestID: "r3", Duration: 60}},
			StartsAt:  ptr(local(1)),
			EndedAt:   ptr(local(70)),
			Failure:   &latch.Failure{Code: "denied", Message: "AccessDenied", Stage: latch.StageDeescalate},
			CreatedAt: local(0),
			UpdatedAt: local(70),
		}
		g.HeldBefore = ptr(false) // false, not left out as if unset
		commit(t, s, latch.Change{Grants: []latch.Grant{g}})
		got := getGrant(t, s, g.ID)
		if diff := cmp.Diff(written(g), got, opts); diff != "" {
			t.Errorf("GetGrant (-want +got):\n%s", diff)
		}
		if got.CreatedAt.Location() != time.UTC || got.Leases[0].EndsAt.Location() != time.UTC {
			t.Errorf("times read back in %v and %v, want UTC", got.CreatedAt.Location(), got.Leases[0].EndsAt.Location())
		}
	})

	t.Run("held before keeps unset, false and true apart", func(t *testing.T) {
		s := newStore(t)
		gs := []latch.Grant{newGrant("g-unset", "k1", latch.GrantEnded), newGrant("g-no", "k2", latch.GrantEnded),
			newGrant("g-yes", "k3", latch.GrantEnded)}
		gs[1].HeldBefore, gs[2].HeldBefore = ptr(false), ptr(true)
		commit(t, s, latch.Change{Grants: gs})
		for _, g := range gs {
			if diff := cmp.Diff(g.HeldBefore, getGrant(t, s, g.ID).HeldBefore); diff != "" {
				t.Errorf("%s: held before (-want +got):\n%s", g.ID, diff)
			}
		}
	})

	t.Run("open grant by key", func(t *testing.T) {
		s := newStore(t)
		open := newGrant("g2", "k1", latch.GrantActive)
		commit(t, s, latch.Change{Grants: []latch.Grant{
			newGrant("g1", "k1", latch.GrantEnded),
			open,
			newGrant("g3", "k2", latch.GrantFailed),
		}})
		got, err := s.OpenGrant(t.Context(), "k1")
		if err != nil {
			t.Fatalf("OpenGrant(k1): %v", err)
		}
		if diff := cmp.Diff(written(open), got, opts); diff != "" {
			t.Errorf("OpenGrant(k1) (-want +got):\n%s", diff)
		}
		_, err = s.OpenGrant(t.Context(), "k2")
		wantNotFound(t, "OpenGrant of a key with only a closed grant", err)
		_, err = s.OpenGrant(t.Context(), "k3")
		wantNotFound(t, "OpenGrant of an unknown key", err)
	})

	t.Run("open grant follows updates", func(t *testing.T) {
		s := newStore(t)
		g := newGrant("g1", "k1", latch.GrantEscalating)
		for _, st := range []latch.GrantStatus{latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating} {
			g.Status = st
			commit(t, s, latch.Change{Grants: []latch.Grant{g}})
			g = written(g)
			got, err := s.OpenGrant(t.Context(), "k1")
			if err != nil {
				t.Fatalf("OpenGrant(k1) when %s: %v", st, err)
			}
			if diff := cmp.Diff(g, got, opts); diff != "" {
				t.Errorf("OpenGrant(k1) when %s (-want +got):\n%s", st, diff)
			}
		}
	})

	t.Run("list by status", func(t *testing.T) {
		s := newStore(t)
		seed := []latch.Grant{
			newGrant("g1", "k1", latch.GrantEscalating),
			newGrant("g2", "k2", latch.GrantActive),
			newGrant("g3", "k3", latch.GrantDeescalating),
			newGrant("g4", "k1", latch.GrantEnded),
			newGrant("g5", "k2", latch.GrantFailed),
			newGrant("g6", "k4", latch.GrantActive),
		}
		commit(t, s, latch.Change{Grants: seed})
		byID := map[string]latch.Grant{}
		for _, g := range seed {
			byID[g.ID] = written(g)
		}
		grants := func(ids ...string) []latch.Grant {
			var out []latch.Grant
			for _, id := range ids {
				out = append(out, byID[id])
			}
			return out
		}
		tests := []struct {
			name string
			give []latch.GrantStatus
			want []latch.Grant
		}{
			{"one status", []latch.GrantStatus{latch.GrantActive}, grants("g2", "g6")},
			{"open statuses", []latch.GrantStatus{latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating}, grants("g1", "g2", "g3", "g6")},
			{"closed statuses", []latch.GrantStatus{latch.GrantEnded, latch.GrantFailed}, grants("g4", "g5")},
			{"a status repeated", []latch.GrantStatus{latch.GrantFailed, latch.GrantFailed}, grants("g5")},
			{"no status lists every grant", nil, grants("g1", "g2", "g3", "g4", "g5", "g6")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListGrants(t.Context(), tt.give...)
				if err != nil {
					t.Fatalf("ListGrants(%v): %v", tt.give, err)
				}
				if diff := cmp.Diff(tt.want, got, opts, sortGrantsByID); diff != "" {
					t.Errorf("ListGrants(%v) (-want +got):\n%s", tt.give, diff)
				}
			})
		}
	})

	t.Run("a status change moves a grant between lists", func(t *testing.T) {
		s := newStore(t)
		g := newGrant("g1", "k1", latch.GrantActive)
		commit(t, s, latch.Change{Grants: []latch.Grant{g}})
		g = written(g)
		g.Status, g.EndedAt = latch.GrantEnded, ptr(at(90))
		commit(t, s, latch.Change{Grants: []latch.Grant{g}})
		got, err := s.ListGrants(t.Context(), latch.GrantActive)
		if err != nil {
			t.Fatalf("ListGrants(active): %v", err)
		}
		if len(got) != 0 {
			t.Errorf("ListGrants(active) = %d grants, want none", len(got))
		}
		got, err = s.ListGrants(t.Context(), latch.GrantEnded)
		if err != nil {
			t.Fatalf("ListGrants(ended): %v", err)
		}
		if diff := cmp.Diff([]latch.Grant{written(g)}, got, opts); diff != "" {
			t.Errorf("ListGrants(ended) (-want +got):\n%s", diff)
		}
	})
}
