package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// racers is how many goroutines race in each concurrency test.
const racers = 8

// race commits the changes from racers goroutines at once and returns
// their errors, by goroutine.
func race(tb testing.TB, s latch.Store, change func(i int) latch.Change) []error {
	tb.Helper()
	changes := make([]latch.Change, racers)
	for i := range changes {
		changes[i] = change(i)
	}
	return raceCalls(func(i int) error { return s.Commit(tb.Context(), changes[i]) })
}

// raceCalls calls call from racers goroutines at once, each with its index,
// and returns their errors, by goroutine.
func raceCalls(call func(i int) error) []error {
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = call(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner returns the index of the one goroutine whose commit succeeded,
// failing tb unless exactly one did and every other got ErrConflict.
func oneWinner(tb testing.TB, errs []error) int {
	tb.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			tb.Fatalf("goroutines %d and %d both committed; want exactly one", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, latch.ErrConflict):
			tb.Errorf("goroutine %d: got error %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		tb.Fatalf("no goroutine committed; errors: %v", errs)
	}
	return winner
}

func testConcurrency(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("one of many updates at the same version wins", func(t *testing.T) {
		s := newStore(t)
		r := newRequest("r1", t0)
		commit(t, s, latch.Change{Dedup: "create/r1", Requests: []latch.Request{r}, Audit: []latch.AuditEvent{newEvent("r1", 1)}})
		read := getRequest(t, s, "r1")

		approve := func(i int) latch.Change {
			r := read
			r.Approvals = []latch.Decision{{By: latch.Actor{Email: fmt.Sprintf("approver%d@example.com", i)}, At: at(1)}}
			r.EventSeq = 2
			e := newEvent("r1", 2)
			e.Type, e.Actor = latch.AuditApprovalAdded, r.Approvals[0].By
			return latch.Change{
				Dedup:    fmt.Sprintf("approve-%d", i),
				Requests: []latch.Request{r},
				Audit:    []latch.AuditEvent{e},
				Effects:  []latch.Effect{newEffect(fmt.Sprintf("approve-%d/0", i), at(1))},
			}
		}
		w := oneWinner(t, race(t, s, approve))

		won := approve(w)
		if diff := cmp.Diff(written(won.Requests[0]), getRequest(t, s, "r1"), opts); diff != "" {
			t.Errorf("GetRequest: not the winner's write (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]latch.AuditEvent{newEvent("r1", 1), won.Audit[0]}, auditEvents(t, s, "r1"), opts); diff != "" {
			t.Errorf("AuditEvents: not the winner's event (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(won.Effects, pending(t, s, 100), opts); diff != "" {
			t.Errorf("PendingEffects: not the winner's effect (-want +got):\n%s", diff)
		}
	})

	t.Run("one of many new open grants for a key wins", func(t *testing.T) {
		s := newStore(t)
		open := func(i int) latch.Change {
			return latch.Change{
				Dedup:  fmt.Sprintf("join-%d", i),
				Grants: []latch.Grant{newGrant(fmt.Sprintf("g%d", i), "k1", latch.GrantEscalating)},
			}
		}
		w := oneWinner(t, race(t, s, open))
		got, err := s.OpenGrant(t.Context(), "k1")
		if err != nil {
			t.Fatalf("OpenGrant(k1): %v", err)
		}
		if diff := cmp.Diff(written(open(w).Grants[0]), got, opts); diff != "" {
			t.Errorf("OpenGrant(k1): not the winner's grant (-want +got):\n%s", diff)
		}
	})
	t.Run("one bad change among many fails alone", func(t *testing.T) { testOneBadChangeAmongMany(t, newStore) })

	t.Run("one of many new tokens with the same hash or ID wins", func(t *testing.T) {
		tests := []struct {
			name  string
			token func(i int) latch.Token
		}{
			{"same hash", func(i int) latch.Token {
				return latch.Token{ID: fmt.Sprintf("t%d", i), Hash: "the-hash", Owner: "bot@example.com", CreatedAt: at(i)}
			}},
			{"same ID", func(i int) latch.Token {
				return latch.Token{ID: "t1", Hash: fmt.Sprintf("hash-%d", i), Owner: "bot@example.com", CreatedAt: at(i)}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				w := oneWinner(t, raceCalls(func(i int) error { return s.CreateToken(t.Context(), tt.token(i)) }))
				won := tt.token(w)
				if diff := cmp.Diff([]latch.Token{won}, listTokens(t, s), opts); diff != "" {
					t.Errorf("ListTokens: not the winner's token alone (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(won, tokenByHash(t, s, won.Hash), opts); diff != "" {
					t.Errorf("TokenByHash: not the winner's token (-want +got):\n%s", diff)
				}
				for i := range racers {
					lost := tt.token(i)
					if i == w {
						continue
					}
					if lost.ID != won.ID {
						_, err := s.GetToken(t.Context(), lost.ID)
						wantNotFound(t, fmt.Sprintf("GetToken of loser %d", i), err)
					}
					if lost.Hash != won.Hash {
						_, err := s.TokenByHash(t.Context(), lost.Hash)
						wantNotFound(t, fmt.Sprintf("TokenByHash of loser %d", i), err)
					}
				}
			})
		}
	})
}

// testOneBadChangeAmongMany commits racers changes at once, all good but
// one, which fails a check of the contract: a store that writes concurrent
// changes together (group commit) must still fail that one alone, writing
// nothing of it, and commit the others.
func testOneBadChangeAmongMany(t *testing.T, newStore func(t *testing.T) latch.Store) {
	const bad = racers / 2
	// good is a change that creates request id with its audit event, an
	// open grant and an outbox effect, under its own dedup key.
	good := func(id string) latch.Change {
		return latch.Change{
			Dedup:    "create/" + id,
			Requests: []latch.Request{newRequest(id, t0)},
			Grants:   []latch.Grant{newGrant("g-"+id, "k-"+id, latch.GrantEscalating)},
			Audit:    []latch.AuditEvent{newEvent(id, 1)},
			Effects:  []latch.Effect{newEffect("create/"+id+"/0", t0)},
		}
	}
	seeded := newRequest("seeded", t0)
	tests := []struct {
		name string
		// bad returns the failing change, given the seeded request as
		// stored; its own items are all new.
		bad  func(seeded latch.Request) latch.Change
		want error
	}{
		{"stale request version", func(seeded latch.Request) latch.Change {
			c := good("bad")
			seeded.Version--
			c.Requests = append(c.Requests, seeded)
			return c
		}, latch.ErrConflict},
		{"repeated dedup key", func(latch.Request) latch.Change {
			c := good("bad")
			c.Dedup = "create/seeded"
			return c
		}, latch.ErrDuplicate},
		{"open grant for a key with an open grant", func(latch.Request) latch.Change {
			c := good("bad")
			c.Grants = append(c.Grants, newGrant("g-bad-2", "k-seeded", latch.GrantEscalating))
			return c
		}, latch.ErrConflict},
		{"audit event ID exists", func(latch.Request) latch.Change {
			c := good("bad")
			c.Audit = append(c.Audit, newEvent("seeded", 1))
			return c
		}, latch.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			commit(t, s, latch.Change{
				Dedup:    "create/seeded",
				Requests: []latch.Request{seeded},
				Grants:   []latch.Grant{newGrant("g-seeded", "k-seeded", latch.GrantActive)},
				Audit:    []latch.AuditEvent{newEvent("seeded", 1)},
			})
			stored := getRequest(t, s, "seeded")
			badChange := tt.bad(stored)
			change := func(i int) latch.Change {
				if i == bad {
					return badChange
				}
				return good(fmt.Sprintf("r%d", i))
			}
			before := take(t, s, badChange)
			errs := race(t, s, change)
			for i, err := range errs {
				switch {
				case i == bad && !errors.Is(err, tt.want):
					t.Errorf("the bad change: got error %v, want %v", err, tt.want)
				case i != bad && err != nil:
					t.Errorf("good change %d: %v", i, err)
				}
			}
			// The bad change wrote nothing: its items are as before, its
			// effect is not in the outbox, its dedup key (when new) is free.
			after := take(t, s, badChange)
			after.Effects = slices.DeleteFunc(after.Effects, func(e latch.Effect) bool { return e.ID != badChange.Effects[0].ID })
			before.Effects = slices.DeleteFunc(before.Effects, func(e latch.Effect) bool { return e.ID != badChange.Effects[0].ID })
			if diff := cmp.Diff(before, after, opts); diff != "" {
				t.Errorf("the bad change wrote (-before +after):\n%s", diff)
			}
			if badChange.Dedup != "create/seeded" {
				commit(t, s, latch.Change{Dedup: badChange.Dedup})
			}
			// Every good change is there in full.
			effects := pending(t, s, 1000)
			for i := range racers {
				if i == bad {
					continue
				}
				c := change(i)
				if diff := cmp.Diff(written(c.Requests[0]), getRequest(t, s, c.Requests[0].ID), opts); diff != "" {
					t.Errorf("good change %d: request (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(written(c.Grants[0]), getGrant(t, s, c.Grants[0].ID), opts); diff != "" {
					t.Errorf("good change %d: grant (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(c.Audit, auditEvents(t, s, c.Requests[0].ID), opts); diff != "" {
					t.Errorf("good change %d: audit events (-want +got):\n%s", i, diff)
				}
				if !slices.ContainsFunc(effects, func(e latch.Effect) bool { return e.ID == c.Effects[0].ID }) {
					t.Errorf("good change %d: effect %s not in the outbox", i, c.Effects[0].ID)
				}
				wantErr(t, fmt.Sprintf("good change %d again", i), s.Commit(t.Context(), latch.Change{Dedup: c.Dedup}), latch.ErrDuplicate)
			}
			if diff := cmp.Diff(stored, getRequest(t, s, "seeded"), opts); diff != "" {
				t.Errorf("the seeded request changed (-before +after):\n%s", diff)
			}
		})
	}
}
