package ship_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/ship"
	"github.com/latchhq/latch/pkg/latch"
)

// feed is an in-memory latch.AuditFeed.
type feed struct {
	events  []latch.FeedEvent
	cursors map[string]uint64
}

func newFeed(n int) *feed {
	f := &feed{cursors: map[string]uint64{}}
	for i := 1; i <= n; i++ {
		f.events = append(f.events, latch.FeedEvent{Pos: uint64(i * 10), Event: latch.AuditEvent{ID: fmt.Sprintf("r/%06d", i), RequestID: "r", Seq: int64(i), Type: latch.AuditRequested}})
	}
	return f
}

func (f *feed) AuditAfter(_ context.Context, after uint64, limit int) ([]latch.FeedEvent, error) {
	var out []latch.FeedEvent
	for _, e := range f.events {
		if e.Pos > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}
func (f *feed) FeedCursor(_ context.Context, name string) (uint64, error) {
	return f.cursors[name], nil
}
func (f *feed) SetFeedCursor(_ context.Context, name string, pos uint64) error {
	f.cursors[name] = pos
	return nil
}

// sink records what it accepted and answers from a script, one answer per
// Send: a func of the events given.
type sink struct {
	mu       sync.Mutex
	accepted []string
	script   []func([]audit.Event) error
}

func (s *sink) Name() string { return "fake" }
func (s *sink) Send(_ context.Context, evs []audit.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0](evs), s.script[1:]
	}
	failed := audit.Failed(err, len(evs))
	for i, e := range evs {
		if !slices.Contains(failed, i) {
			s.accepted = append(s.accepted, e.ID)
		}
	}
	return err
}

func ids(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("r/%06d", i))
	}
	return out
}

func drain(t *testing.T, s *ship.Shipper) {
	t.Helper()
	for range 20 {
		n, err := s.Once(context.Background())
		if err == nil && n == 0 {
			return
		}
	}
	t.Fatal("the feed did not drain in 20 rounds")
}

func TestShipsInOrderAndResumes(t *testing.T) {
	f := newFeed(5)
	sk := &sink{}
	drain(t, &ship.Shipper{Feed: f, Sink: sk, Batch: 2})
	if diff := cmp.Diff(ids(1, 5), sk.accepted); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if f.cursors["audit:fake"] != 50 {
		t.Errorf("cursor = %d, want the last position 50", f.cursors["audit:fake"])
	}
	// New events, and a new shipper (a restart): only the new ones go out.
	f.events = append(f.events, latch.FeedEvent{Pos: 60, Event: latch.AuditEvent{ID: "r/000006"}})
	drain(t, &ship.Shipper{Feed: f, Sink: sk})
	if diff := cmp.Diff(ids(1, 6), sk.accepted); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}
}

func TestRetriesOnlyWhatWasRefused(t *testing.T) {
	f := newFeed(4)
	down := errors.New("503")
	sk := &sink{script: []func([]audit.Event) error{
		func([]audit.Event) error { return down },                                                // the whole batch fails
		func([]audit.Event) error { return &audit.PartialError{Failed: []int{1, 3}, Err: down} }, // two of four fail
		func([]audit.Event) error { return &audit.PartialError{Failed: []int{1}, Err: down} },    // of the two retried, the second fails again
	}}
	s := &ship.Shipper{Feed: f, Sink: sk, Batch: 10}
	for _, wantErr := range []bool{true, true, true, false} {
		_, err := s.Once(context.Background())
		if (err != nil) != wantErr {
			t.Fatalf("Once = %v, want error %v", err, wantErr)
		}
		if wantErr && f.cursors["audit:fake"] != 0 {
			t.Fatalf("the cursor moved while events were still undelivered")
		}
	}
	want := []string{"r/000001", "r/000003", "r/000002", "r/000004"}
	if diff := cmp.Diff(want, sk.accepted); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if f.cursors["audit:fake"] != 40 {
		t.Errorf("cursor = %d, want 40", f.cursors["audit:fake"])
	}
}

func TestSkipsEventsRefusedForGood(t *testing.T) {
	f := newFeed(3)
	sk := &sink{script: []func([]audit.Event) error{
		func([]audit.Event) error {
			return latch.Permanent(&audit.PartialError{Failed: []int{1}, Err: errors.New("record too large")})
		},
	}}
	drain(t, &ship.Shipper{Feed: f, Sink: sk})
	if diff := cmp.Diff([]string{"r/000001", "r/000003"}, sk.accepted); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if f.cursors["audit:fake"] != 30 {
		t.Errorf("cursor = %d, want past the skipped event", f.cursors["audit:fake"])
	}
}

func TestWholeBatchRefusedForGoodIsRetried(t *testing.T) {
	f := newFeed(2)
	badKey := latch.Permanent(errors.New("403 forbidden"))
	sk := &sink{script: []func([]audit.Event) error{func([]audit.Event) error { return badKey }}}
	s := &ship.Shipper{Feed: f, Sink: sk}
	if _, err := s.Once(context.Background()); err == nil {
		t.Fatal("a refused batch reported no error")
	}
	drain(t, s)
	if diff := cmp.Diff(ids(1, 2), sk.accepted); diff != "" {
		t.Errorf("after the key was fixed (-want +got):\n%s", diff)
	}
}

// An event a destination refuses on its own account is skipped even when
// it is alone in its batch: it must not hold the feed back for ever.
func TestSkipsALoneEventRefusedForGood(t *testing.T) {
	f := newFeed(2)
	sk := &sink{script: []func([]audit.Event) error{
		func([]audit.Event) error {
			var fails audit.Failures
			fails.Refuse(errors.New("record too large"), 0)
			return fails.Err(1)
		},
	}}
	s := &ship.Shipper{Feed: f, Sink: sk, Batch: 1}
	drain(t, s)
	if diff := cmp.Diff([]string{"r/000002"}, sk.accepted); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if f.cursors["audit:fake"] != 20 {
		t.Errorf("cursor = %d, want past both events", f.cursors["audit:fake"])
	}
}
