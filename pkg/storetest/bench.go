package storetest

import (
	"fmt"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
)

// BenchCommit measures Commit of a typical new request: the request, its
// first audit event, two outbox effects and a dedup marker.
func BenchCommit(b *testing.B, s latch.Store) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("bench-%d", i)
		i++
		c := latch.Change{
			Dedup:    "create/" + id,
			Requests: []latch.Request{newRequest(id, at(i))},
			Audit:    []latch.AuditEvent{newEvent(id, 1)},
			Effects:  []latch.Effect{newEffect(id+"/0", at(i)), newEffect(id+"/1", at(i))},
		}
		if err := s.Commit(b.Context(), c); err != nil {
			b.Fatalf("Commit: %v", err)
		}
	}
}

// BenchGetRequest measures GetRequest of a stored request with every field
// set.
func BenchGetRequest(b *testing.B, s latch.Store) {
	r := fullRequest()
	commit(b, s, latch.Change{Requests: []latch.Request{r}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetRequest(b.Context(), r.ID); err != nil {
			b.Fatalf("GetRequest: %v", err)
		}
	}
}
