package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

func scheduledFlow() *latch.Flow {
	f := testFlow(1)
	f.AllowScheduledStart = true
	return f
}

// scheduled creates bob's request starting at start and has a1 approve it.
func (f *fixture) scheduled(t *testing.T, start time.Time) latch.Request {
	t.Helper()
	ctx := context.Background()
	r, err := f.eng.Create(ctx, engine.CreateInput{Flow: "prod", UserEmail: "bob@example.com", Source: latch.SourceAPI,
		Fields: map[string]any{"reason": "change window"}, StartsAt: &start})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	return r
}

// A scheduled request is stored with its start, waits in scheduled after
// its approval with a timer set for the start, and is escalated by the
// start command with its end counted from the start.
func TestScheduledStartThroughEngine(t *testing.T) {
	f := newFixture(t, scheduledFlow())
	ctx := context.Background()
	start := t0.Add(2 * time.Hour)
	r := f.scheduled(t, start)
	got, _ := f.store.GetRequest(ctx, r.ID)
	if got.Status != latch.StatusScheduled || got.ScheduledStart == nil || !got.ScheduledStart.Equal(start) || got.GrantID != "" {
		t.Fatalf("after approval: %s, start %v, grant %q", got.Status, got.ScheduledStart, got.GrantID)
	}
	if err := f.eng.Check(ctx, latch.StartCommand(r.ID, start)); err == nil {
		t.Error("Check accepted a start command as a person's")
	}
	f.clock.Advance(2*time.Hour + 3*time.Minute)
	if err := f.eng.Handle(ctx, latch.StartCommand(r.ID, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	got, _ = f.store.GetRequest(ctx, r.ID)
	g, err := f.store.GetGrant(ctx, got.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := g.Lease(r.ID); got.Status != latch.StatusEscalating || !l.EndsAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("after start: %s, lease end %v; want escalating, %v", got.Status, l.EndsAt, start.Add(time.Hour))
	}
	want := []string{
		"at 10:00:00 expire " + r.ID, "notify requested pending",
		"notify approved scheduled", "notify scheduled scheduled", "at 11:00:00 start " + r.ID,
		"escalate " + got.GrantID,
	}
	if diff := cmp.Diff(want, f.rec.Calls()); diff != "" {
		t.Errorf("effects (-want +got):\n%s", diff)
	}
}

// Cancelling a scheduled request asks nothing of the runner, and its
// start timer, firing later, changes nothing.
func TestCancelledScheduledRequestNeverEscalates(t *testing.T) {
	f := newFixture(t, scheduledFlow())
	ctx := context.Background()
	start := t0.Add(2 * time.Hour)
	r := f.scheduled(t, start)
	cancel := latch.Command{ID: "cancel/1", Kind: latch.CmdCancel, RequestID: r.ID, Actor: latch.Actor{Email: "bob@example.com"}}
	if err := f.eng.Handle(ctx, cancel); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	if err := f.eng.Handle(ctx, latch.StartCommand(r.ID, start)); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	if got.Status != latch.StatusCancelled || got.GrantID != "" {
		t.Errorf("after the start timer: %s, grant %q; want cancelled, none", got.Status, got.GrantID)
	}
	for _, c := range f.rec.Calls() {
		if strings.HasPrefix(c, "escalate") || strings.HasPrefix(c, "deescalate") {
			t.Errorf("the runner was asked: %s", c)
		}
	}
}

func TestCreateRefusesABadStart(t *testing.T) {
	ctx := context.Background()
	past, far := t0.Add(-time.Hour), t0.Add(91*24*time.Hour)
	soon := t0.Add(time.Hour)
	tests := []struct {
		name  string
		flow  *latch.Flow
		start *time.Time
		want  string
	}{
		{"in the past", scheduledFlow(), &past, latch.CodeInvalidStartsAt},
		{"too far ahead", scheduledFlow(), &far, latch.CodeInvalidStartsAt},
		{"the flow does not allow it", testFlow(1), &soon, latch.CodeScheduledStartNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.flow)
			_, err := f.eng.Create(ctx, engine.CreateInput{Flow: "prod", UserEmail: "bob@example.com", Source: latch.SourceAPI,
				Fields: map[string]any{"reason": "x"}, StartsAt: tt.start})
			var le *latch.Error
			if !errors.As(err, &le) || le.Kind != latch.KindInvalid || le.Code != tt.want {
				t.Fatalf("Create: %v, want invalid/%s", err, tt.want)
			}
		})
	}
}
