package storetest

import (
	"errors"
	"fmt"
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
