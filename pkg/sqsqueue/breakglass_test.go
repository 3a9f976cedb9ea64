package sqsqueue_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// A break glass handed to the approvals function keeps its reason: the
// create message carries both, as they reach the engine.
func TestBreakGlassCreateRoundTrip(t *testing.T) {
	in := engine.CreateInput{ID: "req_1", Flow: "db-glass", UserEmail: "ada@example.com", Source: latch.SourceSlack,
		Fields: map[string]any{"duration": "4h"}, BreakGlass: true, Reason: "checkout is down"}
	b, err := events.Marshal(events.FromCreate(sqsqueue.CreateOf(in), time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := events.Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal %s: %v", b, err)
	}
	c, err := m.Create()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, sqsqueue.CreateInput(c)); diff != "" {
		t.Errorf("break glass round trip (-want +got):\n%s", diff)
	}
}
