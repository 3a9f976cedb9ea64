package boltstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// List latency against the store's size, in one run (docs/benchmarks.md):
//
//	go test -run '^$' -bench ListRequests -count 3 ./pkg/boltstore
//
// Each size is seeded once: requests a second apart through 10 flows
// (flow F is flow-0), with the same 400 active requests at every size (200
// of them through flow F), spread evenly through time among the ended and
// denied ones, as a store's history grows while what is active now does
// not. Each operation is one ListRequests of a page of 100 (the API's
// default), the first page or the one after it (a cursor), so the figures
// at 1,000 and 50,000 requests compare pages of the same size.
//
// The baseline, in the same run, is what the store did before it had an
// index per combination: walk flow F's index newest first and keep the
// active requests until the page is full (scan-flow-then-filter).

const benchFlow = "flow-0"

// seedLists writes n requests as the comment above says, in changes of
// 1,000, and returns the store.
func seedLists(b *testing.B, n int) *boltstore.Store {
	b.Helper()
	s, err := boltstore.Open(fmt.Sprintf("%s/latch-%d.db", b.TempDir(), n))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The 400 active requests, evenly spread: position → k (0..399).
	const active = 400
	activeAt := map[int]int{}
	for k := range active {
		activeAt[k*n/active] = k
	}
	var batch []latch.Request
	for i := range n {
		r := latch.Request{
			ID:        fmt.Sprintf("req_%08d", i),
			Flow:      fmt.Sprintf("flow-%d", i%10),
			Requester: latch.UserRef{ID: "U0", Email: fmt.Sprintf("user%03d@example.com", i%500)},
			Source:    latch.SourceAPI,
			Fields:    latch.Fields{"reason": "routine maintenance of the replica"},
			TargetID:  "db-1",
			Duration:  3600,
			Status:    latch.StatusEnded,
			CreatedAt: t0.Add(time.Duration(i) * time.Second),
			UpdatedAt: t0.Add(time.Duration(i) * time.Second),
		}
		if k, ok := activeAt[i]; ok {
			// Every other active request is through flow F.
			r.Status, r.Flow = latch.StatusActive, benchFlow
			if k%2 == 1 {
				r.Flow = "flow-1"
			}
		} else if i%20 == 7 {
			r.Status = latch.StatusDenied
		}
		batch = append(batch, r)
		if len(batch) == 1000 || i == n-1 {
			if err := s.Commit(b.Context(), latch.Change{Requests: batch}); err != nil {
				b.Fatalf("seed: %v", err)
			}
			batch = batch[:0]
		}
	}
	return s
}

func BenchmarkListRequests(b *testing.B) {
	for _, n := range []int{1000, 50000} {
		s := seedLists(b, n)
		for _, q := range []struct {
			name string
			f    latch.RequestFilter
		}{
			{"flow=F&status=active", latch.RequestFilter{Flow: benchFlow, Status: latch.StatusActive}},
			{"status=active", latch.RequestFilter{Status: latch.StatusActive}},
		} {
			q.f.Limit = 100
			first, err := s.ListRequests(b.Context(), q.f)
			if err != nil || len(first) != 100 {
				b.Fatalf("%s at %d: %d requests, %v; want a page of 100", q.name, n, len(first), err)
			}
			next := q.f
			next.Before = first[len(first)-1].ListKey()
			if q.f.Flow != "" {
				b.Run(fmt.Sprintf("requests=%d/%s/scan-flow-then-filter", n, q.name), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if got := scanFlowThenFilter(b, s, q.f); len(got) != 100 {
							b.Fatalf("scan-flow-then-filter: %d requests", len(got))
						}
					}
				})
			}
			for _, page := range []struct {
				name string
				f    latch.RequestFilter
			}{{"first", q.f}, {"cursor", next}} {
				b.Run(fmt.Sprintf("requests=%d/%s/%s", n, q.name, page.name), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						got, err := s.ListRequests(b.Context(), page.f)
						if err != nil || len(got) != 100 {
							b.Fatalf("ListRequests: %d requests, %v", len(got), err)
						}
					}
				})
			}
		}
	}
}

// scanFlowThenFilter lists f the way the store did before the combined
// indexes: the requests of f's flow, newest first, read until f.Limit of
// them have f's status.
func scanFlowThenFilter(b *testing.B, s *boltstore.Store, f latch.RequestFilter) []latch.Request {
	var out []latch.Request
	g := latch.RequestFilter{Flow: f.Flow, Limit: 100}
	for len(out) < f.Limit {
		page, err := s.ListRequests(b.Context(), g)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range page {
			if r.Status == f.Status && len(out) < f.Limit {
				out = append(out, r)
			}
		}
		if len(page) < g.Limit {
			break
		}
		g.Before = page[len(page)-1].ListKey()
	}
	return out
}
