package boltstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/internal/benchbase"
	"github.com/latchhq/latch/pkg/latch"
)

// Group commit against bbolt's own limit, in one run:
//
//	go test -run '^$' -bench 'Concurrent' -benchtime 3s ./pkg/boltstore
//
// BenchmarkConcurrentBaseline is that limit: one fsync'd db.Update per
// write (the new request's JSON under its ID), nothing else. The store's
// figures are ratios to it taken in the same run (docs/benchmarks.md).

var clients = []int{1, 8, 64}

// newRequestChange is what creating a request commits: the request, its
// first audit event, two outbox effects and the dedup marker.
func newRequestChange(id string) latch.Change {
	now := time.Now()
	return latch.Change{
		Dedup: "create/" + id,
		Requests: []latch.Request{{ID: id, Flow: "prod-db", Requester: latch.UserRef{ID: "U01", Email: "ann@example.com"},
			CreatedBy: latch.Actor{Email: "ann@example.com"}, Source: latch.SourceAPI, Fields: latch.Fields{"reason": "incident 42"},
			TargetID: "db-1", Duration: 3600, Status: latch.StatusPending, CreatedAt: now, UpdatedAt: now}},
		Audit: []latch.AuditEvent{{ID: id + "/1", RequestID: id, Seq: 1, Type: latch.AuditRequested, At: now, Flow: "prod-db",
			Requester: "ann@example.com", Actor: latch.Actor{Email: "ann@example.com"}}},
		Effects: []latch.Effect{
			{ID: id + "/0", Kind: latch.EffectNotify, RequestID: id, Event: latch.AuditRequested, CreatedAt: now},
			{ID: id + "/1", Kind: latch.EffectExpire, RequestID: id, At: now.Add(time.Hour), CreatedAt: now},
		},
	}
}

// BenchmarkConcurrentCommit is Commit of a new request from n goroutines.
func BenchmarkConcurrentCommit(b *testing.B) {
	for _, n := range clients {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			s := open(b)
			benchbase.Load(b, n, func(i int) error {
				return s.Commit(b.Context(), newRequestChange(fmt.Sprintf("r%d", i)))
			})
		})
	}
}

// BenchmarkConcurrentCreate is what the engine does to create a request:
// Commit, then EffectDone of each of its effects in turn.
func BenchmarkConcurrentCreate(b *testing.B) {
	for _, n := range clients {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			s := open(b)
			benchbase.Load(b, n, func(i int) error {
				c := newRequestChange(fmt.Sprintf("r%d", i))
				if err := s.Commit(b.Context(), c); err != nil {
					return err
				}
				for _, e := range c.Effects {
					if err := s.EffectDone(b.Context(), e.ID); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// BenchmarkConcurrentBaseline is bbolt's own limit: one fsync'd db.Update
// per write.
func BenchmarkConcurrentBaseline(b *testing.B) {
	for _, n := range clients {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			db, err := benchbase.OpenBolt(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			benchbase.Load(b, n, func(i int) error { return db.Write(i, false) })
		})
	}
}
