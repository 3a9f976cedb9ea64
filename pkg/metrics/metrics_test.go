package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

type fakeFeed struct{ events []latch.FeedEvent }

func (f *fakeFeed) AuditAfter(_ context.Context, after uint64, limit int) ([]latch.FeedEvent, error) {
	var out []latch.FeedEvent
	for _, e := range f.events {
		if e.Pos > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}
func (f *fakeFeed) FeedCursor(context.Context, string) (uint64, error)  { return 0, nil }
func (f *fakeFeed) SetFeedCursor(context.Context, string, uint64) error { return nil }
func (f *fakeFeed) add(e latch.AuditEvent) {
	f.events = append(f.events, latch.FeedEvent{Pos: uint64(len(f.events) + 1), Event: e})
}
func (g fakeGrants) ListGrants(context.Context, ...latch.GrantStatus) ([]latch.Grant, error) {
	return g, nil
}

type fakeGrants []latch.Grant

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func TestFiguresFromTheFeed(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	feed := &fakeFeed{}
	ev := func(id string, typ latch.AuditType, at time.Duration, data map[string]any) {
		feed.add(latch.AuditEvent{RequestID: id, Flow: "db", Type: typ, At: t0.Add(at), Data: data})
	}
	// req_a: approved, escalated 2s later with an end at +1h (as read back
	// from the store: text), revoked by the timers 3s after its end.
	ev("req_a", latch.AuditRequested, 0, nil)
	ev("req_a", latch.AuditApproved, time.Minute, nil)
	ev("req_a", latch.AuditEscalated, time.Minute+2*time.Second, map[string]any{"ends_at": t0.Add(time.Hour + time.Minute).Format(time.RFC3339Nano)})
	// req_b: revoked early; the revoke takes 1s.
	ev("req_b", latch.AuditRequested, 0, nil)
	ev("req_b", latch.AuditApproved, time.Second, nil)
	ev("req_b", latch.AuditEscalated, 2*time.Second, map[string]any{"ends_at": t0.Add(time.Hour)})
	ev("req_b", latch.AuditRevoked, 10*time.Second, nil)
	ev("req_b", latch.AuditDeescalated, 11*time.Second, nil)
	// req_c: approved at +1m for a start at +30m (as read back: text),
	// escalated 4s after the start: its latency counts from the start.
	ev("req_c", latch.AuditRequested, 0, nil)
	ev("req_c", latch.AuditApproved, time.Minute, nil)
	ev("req_c", latch.AuditScheduled, time.Minute, map[string]any{"starts_at": t0.Add(30 * time.Minute).Format(time.RFC3339Nano)})
	ev("req_c", latch.AuditEscalated, 30*time.Minute+4*time.Second, map[string]any{"ends_at": t0.Add(90 * time.Minute)})
	// An admin's change counts for nothing here.
	feed.add(latch.AuditEvent{Type: latch.AuditDomainAdded, At: t0})

	now := t0.Add(time.Hour + 10*time.Minute)
	grants := fakeGrants{
		{Flow: "db", Status: latch.GrantActive, Leases: []latch.Lease{{EndsAt: t0.Add(time.Hour + time.Minute)}}}, // 9 minutes overdue
		{Flow: "db", Status: latch.GrantActive, Leases: []latch.Lease{{EndsAt: now.Add(time.Hour)}}},
		{Flow: "ci", Status: latch.GrantDeescalating, UpdatedAt: now.Add(-time.Minute)}, // revoking for a minute: not yet overdue
	}
	m := New(feed, grants, fixedClock(now))
	if err := m.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev("req_a", latch.AuditDeescalated, time.Hour+time.Minute+3*time.Second, nil)
	if err := m.Gather(context.Background()); err != nil {
		t.Fatal(err)
	}

	gathered, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range gathered {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case mt.Gauge != nil:
				values[key] = mt.GetGauge().GetValue()
			case mt.Counter != nil:
				values[key] = mt.GetCounter().GetValue()
			case mt.Histogram != nil:
				values[key+",count"] = float64(mt.GetHistogram().GetSampleCount())
				values[key+",sum"] = mt.GetHistogram().GetSampleSum()
			}
		}
	}
	for key, want := range map[string]float64{
		"latch_grants_active,flow=db":                    2,
		"latch_revokes_overdue":                          1,
		"latch_escalation_latency_seconds,flow=db,count": 3,
		"latch_escalation_latency_seconds,flow=db,sum":   7, // 2s, 1s, and 4s after req_c's start
		"latch_revoke_latency_seconds,flow=db,count":     2,
		"latch_revoke_latency_seconds,flow=db,sum":       4, // 1s after the early revoke, 3s after the end
	} {
		if values[key] != want {
			t.Errorf("%s = %v, want %v", key, values[key], want)
		}
	}
}

// An extension moves the end the revoke latency counts from: a revoke 2s
// after the new end is 2s late, not an hour.
func TestExtensionMovesTheEnd(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	feed := &fakeFeed{}
	ev := func(typ latch.AuditType, at time.Duration, data map[string]any) {
		feed.add(latch.AuditEvent{RequestID: "req_x", Flow: "db", Type: typ, At: t0.Add(at), Data: data})
	}
	ev(latch.AuditApproved, 0, nil)
	ev(latch.AuditEscalated, time.Second, map[string]any{"ends_at": t0.Add(time.Hour)})
	ev(latch.AuditExtended, time.Minute, map[string]any{"old_ends_at": t0.Add(time.Hour),
		"new_ends_at": t0.Add(2 * time.Hour).Format(time.RFC3339Nano), "added_seconds": 3600})
	ev(latch.AuditDeescalated, 2*time.Hour+2*time.Second, nil)
	m := New(feed, fakeGrants{}, fixedClock(t0.Add(3*time.Hour)))
	if err := m.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	gathered, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range gathered {
		if mf.GetName() == "latch_revoke_latency_seconds" {
			if got := mf.GetMetric()[0].GetHistogram().GetSampleSum(); got != 2 {
				t.Errorf("revoke latency %vs, want 2s after the new end", got)
			}
			return
		}
	}
	t.Error("no revoke latency gathered")
}
