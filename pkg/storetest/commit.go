package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

func testCommit(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("each write bumps the version by one", func(t *testing.T) {
		s := newStore(t)
		r, g := newRequest("r1", t0), newGrant("g1", "k1", latch.GrantEscalating)
		for want := int64(1); want <= 3; want++ {
			commit(t, s, latch.Change{Requests: []latch.Request{r}, Grants: []latch.Grant{g}})
			r, g = getRequest(t, s, "r1"), getGrant(t, s, "g1")
			if r.Version != want || g.Version != want {
				t.Fatalf("after write %d: request at version %d, grant at version %d; want %d", want, r.Version, g.Version, want)
			}
		}
	})

	t.Run("the caller's change is left as it was", func(t *testing.T) {
		s := newStore(t)
		c := latch.Change{
			Dedup:    "create/r1",
			Requests: []latch.Request{newRequest("r1", at(0).In(zone))},
			Grants:   []latch.Grant{newGrant("g1", "k1", latch.GrantActive)},
			Audit:    []latch.AuditEvent{newEvent("r1", 1)},
			Effects:  []latch.Effect{newEffect("create/r1/0", at(0).In(zone))},
		}
		want := latch.Change{
			Dedup:    c.Dedup,
			Requests: slices.Clone(c.Requests),
			Grants:   slices.Clone(c.Grants),
			Audit:    slices.Clone(c.Audit),
			Effects:  slices.Clone(c.Effects),
		}
		commit(t, s, c)
		// Exact comparison: not even a time's location may change.
		exact := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() })
		if diff := cmp.Diff(want, c, exact); diff != "" {
			t.Errorf("Commit changed its argument (-before +after):\n%s", diff)
		}
	})

	t.Run("rejected changes write nothing", testRejected(newStore))

	t.Run("closing a grant frees its key", func(t *testing.T) {
		for _, closed := range []latch.GrantStatus{latch.GrantEnded, latch.GrantFailed} {
			t.Run(string(closed), func(t *testing.T) {
				s := newStore(t)
				g1 := newGrant("g1", "k1", latch.GrantActive)
				commit(t, s, latch.Change{Grants: []latch.Grant{g1}})
				g1 = written(g1)
				g1.Status = closed
				commit(t, s, latch.Change{Grants: []latch.Grant{g1}})
				_, err := s.OpenGrant(t.Context(), "k1")
				wantNotFound(t, "OpenGrant after the grant closed", err)

				g2 := newGrant("g2", "k1", latch.GrantEscalating)
				commit(t, s, latch.Change{Grants: []latch.Grant{g2}})
				got, err := s.OpenGrant(t.Context(), "k1")
				if err != nil {
					t.Fatalf("OpenGrant(k1): %v", err)
				}
				if diff := cmp.Diff(written(g2), got, opts); diff != "" {
					t.Errorf("OpenGrant(k1) (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("one change closes a grant and opens the next for its key", func(t *testing.T) {
		for _, tt := range []struct {
			name      string
			nextFirst bool
		}{{"closing grant first", false}, {"opening grant first", true}} {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				old := newGrant("g1", "k1", latch.GrantDeescalating)
				commit(t, s, latch.Change{Grants: []latch.Grant{old}})
				old = written(old)
				old.Status, old.EndedAt = latch.GrantEnded, ptr(at(30))
				next := newGrant("g2", "k1", latch.GrantEscalating)
				gs := []latch.Grant{old, next}
				if tt.nextFirst {
					gs = []latch.Grant{next, old}
				}
				commit(t, s, latch.Change{Grants: gs})
				got, err := s.OpenGrant(t.Context(), "k1")
				if err != nil {
					t.Fatalf("OpenGrant(k1): %v", err)
				}
				if diff := cmp.Diff(written(next), got, opts); diff != "" {
					t.Errorf("OpenGrant(k1) (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("closed grants may share a key with the open one", func(t *testing.T) {
		s := newStore(t)
		open := newGrant("g1", "k1", latch.GrantActive)
		failed := newGrant("g0", "k1", latch.GrantFailed)
		commit(t, s, latch.Change{Grants: []latch.Grant{open}})
		commit(t, s, latch.Change{Grants: []latch.Grant{failed}})
		failed = written(failed)
		failed.Failure = &latch.Failure{Code: "x", Message: "y", Stage: latch.StageEscalate}
		commit(t, s, latch.Change{Grants: []latch.Grant{failed}})
		got, err := s.OpenGrant(t.Context(), "k1")
		if err != nil {
			t.Fatalf("OpenGrant(k1): %v", err)
		}
		if diff := cmp.Diff(written(open), got, opts); diff != "" {
			t.Errorf("OpenGrant(k1) (-want +got):\n%s", diff)
		}
	})

	t.Run("a repeated dedup key returns ErrDuplicate and writes nothing", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, latch.Change{Dedup: "cmd-1", Requests: []latch.Request{newRequest("r1", t0)}})
		second := latch.Change{
			Dedup:    "cmd-1",
			Requests: []latch.Request{newRequest("r2", t0)},
			Grants:   []latch.Grant{newGrant("g2", "k2", latch.GrantEscalating)},
			Audit:    []latch.AuditEvent{newEvent("r2", 1)},
			Effects:  []latch.Effect{newEffect("cmd-1/0", t0)},
		}
		before := take(t, s, second)
		wantErr(t, "Commit of a repeated dedup key", s.Commit(t.Context(), second), latch.ErrDuplicate)
		if diff := cmp.Diff(before, take(t, s, second), opts); diff != "" {
			t.Errorf("a duplicate change wrote (-before +after):\n%s", diff)
		}
	})

	t.Run("a replayed change returns ErrDuplicate, not ErrConflict", func(t *testing.T) {
		s := newStore(t)
		c := latch.Change{
			Dedup:    "create/r1",
			Requests: []latch.Request{newRequest("r1", t0)},
			Grants:   []latch.Grant{newGrant("g1", "k1", latch.GrantEscalating)},
			Audit:    []latch.AuditEvent{newEvent("r1", 1)},
			Effects:  []latch.Effect{newEffect("create/r1/0", t0)},
		}
		commit(t, s, c)
		wantErr(t, "Commit of the same change again", s.Commit(t.Context(), c), latch.ErrDuplicate)
	})

	t.Run("a change with only a dedup key records it", func(t *testing.T) {
		s := newStore(t)
		c := latch.Change{Dedup: "stale-timer"}
		commit(t, s, c)
		wantErr(t, "Commit of the same dedup key again", s.Commit(t.Context(), c), latch.ErrDuplicate)
	})

	t.Run("changes without a dedup key are not deduplicated", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, latch.Change{Requests: []latch.Request{newRequest("r1", t0)}})
		commit(t, s, latch.Change{Requests: []latch.Request{newRequest("r2", t0)}})
		commit(t, s, latch.Change{})
	})
}

// rejected is a change Commit must refuse, after the store was given seed.
type rejected struct {
	name string
	seed []latch.Change
	give latch.Change
	// want is the error Commit must return; nil means any error.
	want error
}

func testRejected(newStore func(t *testing.T) latch.Store) func(t *testing.T) {
	r1 := newRequest("r1", t0)
	g := func(id, key string, st latch.GrantStatus, version int64) latch.Grant {
		g := newGrant(id, key, st)
		g.Version = version
		return g
	}
	reqs := func(rs ...latch.Request) []latch.Request { return rs }
	grants := func(gs ...latch.Grant) []latch.Grant { return gs }
	atVersion := func(r latch.Request, version int64) latch.Request { r.Version = version; return r }
	changed := newEvent("r1", 1)
	changed.Reason = "a different event with the same ID"

	tests := []rejected{
		{
			name: "create of an existing request",
			seed: []latch.Change{{Requests: reqs(r1)}},
			give: latch.Change{Requests: reqs(r1)},
			want: latch.ErrConflict,
		},
		{
			name: "stale request version",
			seed: []latch.Change{{Requests: reqs(r1)}, {Requests: reqs(atVersion(r1, 1))}},
			give: latch.Change{Requests: reqs(atVersion(r1, 1))},
			want: latch.ErrConflict,
		},
		{
			name: "request version ahead of the store",
			seed: []latch.Change{{Requests: reqs(r1)}},
			give: latch.Change{Requests: reqs(atVersion(r1, 2))},
			want: latch.ErrConflict,
		},
		{
			name: "update of a missing request",
			give: latch.Change{Requests: reqs(atVersion(r1, 1))},
			want: latch.ErrConflict,
		},
		{
			name: "create of an existing grant",
			seed: []latch.Change{{Grants: grants(g("g1", "k1", latch.GrantEnded, 0))}},
			give: latch.Change{Grants: grants(g("g1", "k1", latch.GrantEnded, 0))},
			want: latch.ErrConflict,
		},
		{
			name: "stale grant version",
			seed: []latch.Change{
				{Grants: grants(g("g1", "k1", latch.GrantEscalating, 0))},
				{Grants: grants(g("g1", "k1", latch.GrantActive, 1))},
			},
			give: latch.Change{Grants: grants(g("g1", "k1", latch.GrantDeescalating, 1))},
			want: latch.ErrConflict,
		},
		{
			name: "stale version of a grant that closes",
			seed: []latch.Change{
				{Grants: grants(g("g1", "k1", latch.GrantEscalating, 0))},
				{Grants: grants(g("g1", "k1", latch.GrantActive, 1))},
			},
			give: latch.Change{Grants: grants(g("g1", "k1", latch.GrantEnded, 1))},
			want: latch.ErrConflict,
		},
		{
			name: "update of a missing grant",
			give: latch.Change{Grants: grants(g("g1", "k1", latch.GrantActive, 1))},
			want: latch.ErrConflict,
		},
		{
			name: "audit event ID exists",
			seed: []latch.Change{{Audit: []latch.AuditEvent{newEvent("r1", 1)}}},
			give: latch.Change{Audit: []latch.AuditEvent{changed}},
			want: latch.ErrConflict,
		},
		{
			name: "a good request with a stale one",
			seed: []latch.Change{{Requests: reqs(r1)}, {Requests: reqs(atVersion(r1, 1))}},
			give: latch.Change{Requests: reqs(newRequest("r2", t0), atVersion(r1, 1))},
			want: latch.ErrConflict,
		},
		{
			name: "two new open grants for one key",
			give: latch.Change{Grants: grants(g("g1", "k1", latch.GrantEscalating, 0), g("g2", "k1", latch.GrantEscalating, 0))},
			want: latch.ErrConflict,
		},
		{
			name: "reopening a grant whose key has another open grant",
			seed: []latch.Change{
				{Grants: grants(g("g1", "k1", latch.GrantFailed, 0))},
				{Grants: grants(g("g2", "k1", latch.GrantActive, 0))},
			},
			give: latch.Change{Grants: grants(g("g1", "k1", latch.GrantDeescalating, 1))},
			want: latch.ErrConflict,
		},
		{
			name: "the same request twice in one change",
			give: latch.Change{Requests: reqs(r1, r1)},
		},
		{
			name: "the same grant twice in one change",
			give: latch.Change{Grants: grants(g("g1", "k1", latch.GrantEnded, 0), g("g1", "k1", latch.GrantEnded, 0))},
		},
		{
			name: "the same audit event twice in one change",
			give: latch.Change{Audit: []latch.AuditEvent{newEvent("r1", 1), newEvent("r1", 1)}},
		},
	}
	for _, open := range []latch.GrantStatus{latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating} {
		tests = append(tests, rejected{
			name: "new open grant for a key whose grant is " + string(open),
			seed: []latch.Change{{Grants: grants(g("g1", "k1", open, 0))}},
			give: latch.Change{Grants: grants(g("g2", "k1", latch.GrantEscalating, 0))},
			want: latch.ErrConflict,
		})
	}

	return func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				for _, c := range tt.seed {
					commit(t, s, c)
				}
				c := withBystanders(tt.give)
				before := take(t, s, c)
				err := s.Commit(t.Context(), c)
				switch {
				case err == nil:
					t.Fatalf("Commit(%s) succeeded, want an error", describe(c))
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Fatalf("Commit(%s): got error %v, want %v", describe(c), err, tt.want)
				}
				if diff := cmp.Diff(before, take(t, s, c), opts); diff != "" {
					t.Errorf("a rejected change wrote (-before +after):\n%s", diff)
				}
				// The dedup marker was not written either: the same key
				// commits now.
				commit(t, s, latch.Change{Dedup: c.Dedup})
			})
		}
	}
}

// withBystanders adds to c a dedup key and one new item of every kind, all
// of which a rejected commit must leave unwritten.
func withBystanders(c latch.Change) latch.Change {
	c.Dedup = "rejected-cmd"
	c.Requests = append(slices.Clone(c.Requests), newRequest("bystander", t0))
	c.Grants = append(slices.Clone(c.Grants), newGrant("g-bystander", "k-bystander", latch.GrantEscalating))
	c.Audit = append(slices.Clone(c.Audit), newEvent("bystander", 1))
	c.Effects = append(slices.Clone(c.Effects), newEffect("rejected-cmd/0", t0))
	return c
}

// snapshot is what a store holds of everything one change names.
type snapshot struct {
	Requests map[string]*latch.Request     // by ID; nil when missing
	Grants   map[string]*latch.Grant       // by ID; nil when missing
	Open     map[string]*latch.Grant       // by key; nil when none is open
	Audit    map[string][]latch.AuditEvent // by request ID
	Effects  []latch.Effect                // every pending effect
}

// take reads a snapshot of what s holds of the items c names.
func take(tb testing.TB, s latch.Store, c latch.Change) snapshot {
	tb.Helper()
	ctx := tb.Context()
	snap := snapshot{Requests: map[string]*latch.Request{}, Grants: map[string]*latch.Grant{},
		Open: map[string]*latch.Grant{}, Audit: map[string][]latch.AuditEvent{}}
	for _, r := range c.Requests {
		got, err := s.GetRequest(ctx, r.ID)
		switch {
		case err == nil:
			snap.Requests[r.ID] = &got
		case errors.Is(err, latch.ErrNotFound):
			snap.Requests[r.ID] = nil
		default:
			tb.Fatalf("GetRequest(%q): %v", r.ID, err)
		}
	}
	for _, g := range c.Grants {
		got, err := s.GetGrant(ctx, g.ID)
		switch {
		case err == nil:
			snap.Grants[g.ID] = &got
		case errors.Is(err, latch.ErrNotFound):
			snap.Grants[g.ID] = nil
		default:
			tb.Fatalf("GetGrant(%q): %v", g.ID, err)
		}
		open, err := s.OpenGrant(ctx, g.Key)
		switch {
		case err == nil:
			snap.Open[g.Key] = &open
		case errors.Is(err, latch.ErrNotFound):
			snap.Open[g.Key] = nil
		default:
			tb.Fatalf("OpenGrant(%q): %v", g.Key, err)
		}
	}
	for _, e := range c.Audit {
		snap.Audit[e.RequestID] = auditEvents(tb, s, e.RequestID)
	}
	snap.Effects = pending(tb, s, 1000)
	return snap
}
