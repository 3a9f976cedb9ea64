package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// testListPages checks ListRequests' time range and its continuation
// (Before): every combination of status, flow and requester, with and
// without a time range, read in pages of a few, must give the matching
// requests newest first, each once, after status changes moved requests
// between indexes. The requests include ones created at the same instant
// (ordered by ID) and ones with mixed-case emails.
func testListPages(newStore func(t *testing.T) latch.Store) func(t *testing.T) {
	return func(t *testing.T) {
		s := newStore(t)
		flows := []string{"prod-db", "staging", "billing"}
		emails := []string{"ann@example.com", "Bob@Example.com"}
		statuses := []latch.Status{latch.StatusPending, latch.StatusActive, latch.StatusDenied}
		var all []latch.Request
		for i := range 30 {
			// Three requests share each minute; their IDs are not in
			// creation order.
			r := newRequest(fmt.Sprintf("p%02d", (i*7)%30), at(i/3))
			r.Flow = flows[i%len(flows)]
			r.Requester.Email = emails[(i/2)%len(emails)]
			r.Status = latch.StatusPending
			all = append(all, r)
		}
		commit(t, s, latch.Change{Requests: all[:15]})
		commit(t, s, latch.Change{Requests: all[15:]})
		// Move most requests on from pending, some twice: each status
		// change must leave the request only in its new status's indexes.
		for i := range all {
			all[i] = written(all[i])
			for step := range i % 3 {
				next := all[i]
				next.Status = statuses[(i+step+1)%len(statuses)]
				commit(t, s, latch.Change{Requests: []latch.Request{next}})
				all[i] = written(next)
			}
		}

		// want is what the filter selects, worked out here without the
		// store: newest first by creation time, then by ID.
		want := func(f latch.RequestFilter) []latch.Request {
			var out []latch.Request
			for _, r := range all {
				if f.Status != "" && r.Status != f.Status || f.Flow != "" && r.Flow != f.Flow ||
					f.User != "" && latch.NormalizeEmail(f.User) != latch.NormalizeEmail(r.Requester.Email) ||
					!f.Since.IsZero() && r.CreatedAt.Before(f.Since) || !f.Until.IsZero() && !r.CreatedAt.Before(f.Until) {
					continue
				}
				out = append(out, r)
			}
			slices.SortFunc(out, func(a, b latch.Request) int {
				if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
					return c
				}
				if a.ID > b.ID {
					return -1
				}
				return 1
			})
			return out
		}
		ranges := []struct {
			name         string
			since, until time.Time
		}{
			{"any time", time.Time{}, time.Time{}},
			{"since", at(3), time.Time{}},
			{"until", time.Time{}, at(6)},
			// Bounds in another zone are the same instants.
			{"since and until", at(2).In(zone), at(8).In(zone)},
			{"empty range", at(5), at(5)},
		}
		checked := 0
		for _, st := range append([]latch.Status{""}, statuses...) {
			for _, flow := range append([]string{""}, flows...) {
				for _, user := range []string{"", "ann@example.com", "bob@example.com"} {
					for _, rg := range ranges {
						f := latch.RequestFilter{Status: st, Flow: flow, User: user, Since: rg.since, Until: rg.until, Limit: 4}
						name := fmt.Sprintf("status=%s flow=%s user=%s %s", st, flow, user, rg.name)
						var got []latch.Request
						for page := 0; ; page++ {
							if page > len(all) {
								t.Fatalf("%s: more pages than requests", name)
							}
							reqs, err := s.ListRequests(t.Context(), f)
							if err != nil {
								t.Fatalf("%s: ListRequests(%+v): %v", name, f, err)
							}
							if len(reqs) > f.Limit {
								t.Fatalf("%s: page %d has %d requests, limit %d", name, page, len(reqs), f.Limit)
							}
							got = append(got, reqs...)
							if len(reqs) < f.Limit {
								break
							}
							f.Before = reqs[len(reqs)-1].ListKey()
						}
						w := want(latch.RequestFilter{Status: st, Flow: flow, User: user, Since: rg.since, Until: rg.until})
						if diff := cmp.Diff(w, got, opts); diff != "" {
							t.Errorf("%s: pages of 4 (-want +got):\n%s", name, diff)
						}
						checked += len(w)
					}
				}
			}
		}
		if checked == 0 {
			t.Fatal("no filter matched any request")
		}

		t.Run("a continuation inside a minute of several requests", func(t *testing.T) {
			// The requests of minute 2, newest first, are ordered by ID;
			// continuing after the first of them lists the other two.
			minute := want(latch.RequestFilter{Since: at(2), Until: at(3)})
			if len(minute) != 3 {
				t.Fatalf("minute 2 has %d requests, want 3", len(minute))
			}
			got, err := s.ListRequests(t.Context(), latch.RequestFilter{Before: minute[0].ListKey(), Since: at(2)})
			if err != nil {
				t.Fatalf("ListRequests: %v", err)
			}
			if diff := cmp.Diff(minute[1:], got, opts); diff != "" {
				t.Errorf("after %s (-want +got):\n%s", minute[0].ID, diff)
			}
		})

		t.Run("a continuation from a request that is not stored", func(t *testing.T) {
			// A key between two stored ones continues from its place.
			f := latch.RequestFilter{Before: latch.RequestKey{CreatedAt: at(4).Add(30 * time.Second), ID: "zz"}}
			got, err := s.ListRequests(t.Context(), f)
			if err != nil {
				t.Fatalf("ListRequests: %v", err)
			}
			if diff := cmp.Diff(want(latch.RequestFilter{Until: at(4).Add(time.Minute)}), got, opts); diff != "" {
				t.Errorf("ListRequests(%+v) (-want +got):\n%s", f, diff)
			}
		})
	}
}
