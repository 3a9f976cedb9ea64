// Package audittest holds the sample audit events the destinations' tests
// send.
package audittest

import (
	"fmt"
	"time"

	"github.com/latchhq/latch/pkg/audit"
)

// At is when every sample event happened.
var At = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

// Event is sample event i: an approval of request req_<i> (four digits).
func Event(i int) audit.Event {
	return audit.Event{
		ID: fmt.Sprintf("req_%04d/1", i), SchemaVersion: audit.SchemaVersion, Type: "approved", At: At,
		RequestID: fmt.Sprintf("req_%04d", i), Flow: "prod-db", Requester: "dev@example.com",
		Actor: audit.Actor{Email: "lead@example.com"}, Target: "db-admin", Source: audit.SourceSlack,
		Fields: map[string]any{"ticket": "OPS-1"},
	}
}

// Events are sample events 0 to n-1.
func Events(n int) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = Event(i)
	}
	return out
}

// IDs are the ids of evs, in order.
func IDs(evs []audit.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}
