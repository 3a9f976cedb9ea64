package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
)

// movingClock is a fake clock a test moves by hand.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *movingClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// noSchedule is a scheduler the break-glass path never needs.
type noSchedule struct{}

func (noSchedule) At(context.Context, time.Time, latch.Command) error { return nil }

// notified records the engine's notifications.
type notified struct {
	mu     sync.Mutex
	events []latch.AuditType
}

func (n *notified) Notify(_ context.Context, ev latch.AuditType, _ latch.Request) error {
	n.mu.Lock()
	n.events = append(n.events, ev)
	n.mu.Unlock()
	return nil
}

func (n *notified) count(ev latch.AuditType) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, e := range n.events {
		if e == ev {
			c++
		}
	}
	return c
}

const glassFlow = `name: glass
approval:
  approvers: [lead@example.com]
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: LATCH_TEST_WEBHOOK_SECRET
  targets:
    - {id: db}
break_glass:
  allowed: 'requester.email == "ann@example.com"'
  broadcast: "#security"
  max_duration: 1h
  review_within: 24h
`

// A break glass nobody reviews is alerted when its review_within has
// passed, once per run's window, again a day later, and no more once it
// is reviewed; a break glass whose grant was lost is sent again.
func TestBreakGlassReviewAlerts(t *testing.T) {
	t.Setenv("LATCH_TEST_WEBHOOK_SECRET", "s3cret")
	f, err := flows.Parse("glass.yaml", []byte(glassFlow), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	clock := &movingClock{t: now}
	rec := &recorder{}
	tell := &notified{}
	flowSet := engine.NewFlowSet([]*latch.Flow{f})
	eng, err := engine.New(engine.Config{Store: store, Flows: flowSet, Runner: rec, Scheduler: noSchedule{}, Clock: clock, Notifier: tell})
	if err != nil {
		t.Fatal(err)
	}
	q := engineQueue{eng: eng}
	r, err := eng.Create(ctx, engine.CreateInput{Flow: "glass", UserEmail: "ann@example.com", Source: latch.SourceAPI,
		BreakGlass: true, Reason: "db is down"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != latch.StatusEscalating {
		t.Fatalf("break glass is %s, want escalating at once", r.Status)
	}
	var metric bytes.Buffer
	var told []string
	rc := &reconcile.Reconciler{Store: store, Queue: q, Runner: rec, Clock: clock, Flows: flowSet,
		ReviewOverdue: func(r latch.Request, due time.Time) {
			told = append(told, r.ID)
			reconcile.EMFReview(&metric, "Latch", clock)(r, due)
		}}
	run := func(at time.Time) reconcile.Report {
		t.Helper()
		clock.set(at)
		rep, err := rc.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	alerts := func() []any {
		t.Helper()
		evs, err := store.AuditEvents(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []any
		for _, e := range evs {
			if e.Type == latch.AuditBreakGlassReviewOverdue {
				out = append(out, e.Data["alert"])
			}
		}
		return out
	}

	due := now.Add(24 * time.Hour)
	if rep := run(due.Add(-time.Second)); rep.ReviewOverdue != 0 || len(alerts()) != 0 {
		t.Fatalf("before review_within: report %+v, alerts %v; want none", rep, alerts())
	}
	if rep := run(due); rep.ReviewOverdue != 1 {
		t.Fatalf("at review_within: report %+v, want one overdue review", rep)
	}
	run(due.Add(time.Minute))
	run(due.Add(23 * time.Hour))
	if got := alerts(); !slices.Equal(got, []any{float64(1)}) {
		t.Fatalf("alerts in the first day %v, want alert 1 once", got)
	}
	if n := tell.count(latch.AuditBreakGlassReviewOverdue); n != 1 {
		t.Errorf("notified %d times in the first day, want once", n)
	}
	if rep := run(due.Add(24 * time.Hour)); rep.ReviewOverdue != 1 {
		t.Fatalf("a day later: report %+v, want the alert repeated", rep)
	}
	run(due.Add(25 * time.Hour))
	if got := alerts(); len(got) != 2 {
		t.Fatalf("alerts after a day %v, want 2", got)
	}
	if n := tell.count(latch.AuditBreakGlassReviewOverdue); n != 2 {
		t.Errorf("notified %d times, want twice", n)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.SplitN(metric.Bytes(), []byte("\n"), 2)[0], &line); err != nil || line[reconcile.MetricBreakGlassReviewOverdue] != float64(1) || line["request"] != r.ID {
		t.Errorf("metric line %s (%v)", metric.String(), err)
	}

	// The grant is reported, and a reviewer acknowledges: no more alerts.
	if err := eng.Handle(ctx, latch.Command{ID: "review1", Kind: latch.CmdReview, RequestID: r.ID,
		Actor: latch.Actor{Email: "lead@example.com"}, At: due.Add(26 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	told = nil
	if rep := run(due.Add(72 * time.Hour)); rep.ReviewOverdue != 0 || len(told) != 0 || len(alerts()) != 2 {
		t.Errorf("after the review: report %+v, told %v, alerts %v; want nothing more", rep, told, alerts())
	}
}

// A break glass left pending (the engine's command to grant it was lost)
// is sent again once Grace has passed, with the id the original carried.
func TestBreakGlassLostGrantIsSentAgain(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	t.Setenv("LATCH_TEST_WEBHOOK_SECRET", "s3cret")
	f, err := flows.Parse("glass.yaml", []byte(glassFlow), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := pending("req_glass", now.Add(time.Hour))
	r.Flow, r.ExpiresAt, r.CreatedAt = "glass", nil, now.Add(-2*time.Minute)
	r.BreakGlass = &latch.BreakGlassInfo{Reason: "db is down", ReviewDueAt: now.Add(24 * time.Hour)}
	fresh := r
	fresh.ID, fresh.CreatedAt = "req_fresh", now.Add(-10*time.Second)
	if err := store.Commit(context.Background(), latch.Change{Requests: []latch.Request{r, fresh}}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rc := &reconcile.Reconciler{Store: store, Queue: rec, Runner: rec, Clock: fixedClock{}, Flows: engine.NewFlowSet([]*latch.Flow{f})}
	rep, err := rc.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.BreakGlass != 1 || len(rec.commands) != 1 || rec.commands[0].ID != "break_glass/req_glass" ||
		rec.commands[0].Actor.Email != "ann@example.com" || rec.commands[0].Reason != "db is down" {
		t.Errorf("report %+v, commands %+v; want break_glass/req_glass as ann with the reason", rep, rec.commands)
	}
}

// Only a break glass that was granted is alerted for its missing review:
// one cancelled, denied or expired before its grant granted nothing.
func TestBreakGlassNeverGrantedIsNotAlerted(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	t.Setenv("LATCH_TEST_WEBHOOK_SECRET", "s3cret")
	f, err := flows.Parse("glass.yaml", []byte(glassFlow), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []latch.Request
	for _, s := range []latch.Status{latch.StatusCancelled, latch.StatusDenied, latch.StatusExpired, latch.StatusEnded} {
		r := pending("req_"+string(s), now.Add(-48*time.Hour))
		r.Flow, r.Status, r.ExpiresAt = "glass", s, nil
		r.BreakGlass = &latch.BreakGlassInfo{Reason: "db is down", ReviewDueAt: now.Add(-time.Hour)}
		reqs = append(reqs, r)
	}
	if err := store.Commit(context.Background(), latch.Change{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rc := &reconcile.Reconciler{Store: store, Queue: rec, Runner: rec, Clock: fixedClock{}, Flows: engine.NewFlowSet([]*latch.Flow{f})}
	rep, err := rc.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range rec.commands {
		if c.Kind == latch.CmdReviewOverdue {
			ids = append(ids, c.ID)
		}
	}
	if rep.ReviewOverdue != 1 || !slices.Equal(ids, []string{"review_overdue/req_ended/1"}) {
		t.Errorf("report %+v, review commands %v; want only review_overdue/req_ended/1", rep, ids)
	}
}
