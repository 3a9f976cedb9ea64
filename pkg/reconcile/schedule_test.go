package reconcile_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
)

// The sweep sends the start of a scheduled request whose start has come,
// and nothing for one still ahead or one cancelled.
func TestExpiriesSweepStarts(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	scheduled := func(id string, start time.Time, s latch.Status) latch.Request {
		r := pending(id, now.Add(time.Hour))
		r.Status, r.ExpiresAt, r.ScheduledStart = s, nil, &start
		return r
	}
	if err := store.Commit(ctx, latch.Change{Requests: []latch.Request{
		scheduled("req_start", now.Add(-time.Second), latch.StatusScheduled),
		scheduled("req_later", now.Add(time.Minute), latch.StatusScheduled),
		scheduled("req_cancelled", now.Add(-time.Minute), latch.StatusCancelled),
	}}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ex := &reconcile.Expiries{Store: store, Queue: rec, Clock: fixedClock{}}
	if err := ex.At(ctx, now, latch.StartCommand("req_later", now.Add(time.Minute))); err != nil {
		t.Errorf("At(start) = %v", err)
	}
	n, err := ex.Sweep(ctx)
	if err != nil || n != 1 || len(rec.commands) != 1 {
		t.Fatalf("Sweep = %d, %v; sent %+v; want the one start due", n, err, rec.commands)
	}
	if c := rec.commands[0]; c.ID != "start/req_start" || c.Kind != latch.CmdStart || c.Source != latch.SourceSchedule {
		t.Errorf("sent %+v, want the start of req_start from the schedule", c)
	}
}
