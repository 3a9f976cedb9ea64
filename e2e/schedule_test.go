package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// A scheduled start against real latch server processes: bob's request
// (made with latch request --start) and carol's are approved ahead of their
// start and wait in scheduled; carol cancels hers; the server is stopped
// and a new one started on the same data before either start. The new
// server escalates bob's grant at its start — the webhook target's first
// call, received no earlier than the start, ending an hour after it — and
// carol's request, whose start came first, never reaches the target.
func TestScheduledStartAcrossARestart(t *testing.T) {
	tg := newTarget(t)
	flow := strings.Replace(webhookFlow(tg.srv.URL+"/hook"), "allow_revoke: true", "allow_revoke: true\nallow_scheduled_start: true", 1)
	flowDir, dataDir := writeFlows(t, map[string]string{"prod-access.yaml": flow}), t.TempDir()
	srv := startServer(t, flowDir, dataDir)
	c := srv.client()
	ctx := context.Background()

	now := time.Now().UTC().Truncate(time.Second)
	bobStart, carolStart := now.Add(10*time.Second), now.Add(8*time.Second)
	out, stderr, code := cli(t, srv, "request", "prod-access", "--user", "bob@example.com", "--field", "reason=change window",
		"--field", "duration=1h", "--start", bobStart.Format(time.RFC3339), "-o", "json")
	if code != 0 {
		t.Fatalf("latch request --start: exit %d, stderr %q", code, stderr)
	}
	var bob latch.Request
	if err := json.Unmarshal([]byte(out), &bob); err != nil {
		t.Fatalf("latch request -o json: %v\n%s", err, out)
	}
	if bob.ScheduledStart == nil || !bob.ScheduledStart.Equal(bobStart) {
		t.Fatalf("bob's request starts %v, want %v", bob.ScheduledStart, bobStart)
	}
	carol, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "carol@example.com",
		Fields: map[string]any{"reason": "change window", "duration": "1h"}, StartsAt: carolStart.Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{bob.ID, carol.ID} {
		if _, err := c.Act(ctx, id, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, c, id, latch.StatusScheduled, 10*time.Second)
	}
	if _, stderr, code := cli(t, srv, "cancel", carol.ID, "--as", "carol@example.com", "--reason", "window moved"); code != 0 {
		t.Fatalf("latch cancel of the scheduled request: exit %d, stderr %q", code, stderr)
	}
	waitStatus(t, c, carol.ID, latch.StatusCancelled, 10*time.Second)

	srv.stop()
	select {
	case call := <-tg.calls:
		t.Fatalf("the target was called before any start: %s %v", call.Action, call.Body)
	default:
	}
	srv = startServer(t, flowDir, dataDir)
	c = srv.client()

	call := tg.next(60 * time.Second)
	grant, _ := call.Body["grant"].(map[string]any)
	req, _ := call.Body["request"].(map[string]any)
	if call.Action != "escalate" || req["id"] != bob.ID {
		t.Fatalf("the target's first call: %s for request %v, want escalate for bob's %s", call.Action, req["id"], bob.ID)
	}
	if call.At.Before(bobStart) {
		t.Errorf("the escalation reached the target at %v, before the start %v", call.At, bobStart)
	}
	if want := bobStart.Add(time.Hour).Format(time.RFC3339); grant["ends_at"] != want {
		t.Errorf("the target was told the grant ends %v, want %s (an hour from the start)", grant["ends_at"], want)
	}
	got := waitStatus(t, c, bob.ID, latch.StatusActive, 10*time.Second)
	if got.EndsAt == nil || !got.EndsAt.Equal(bobStart.Add(time.Hour)) {
		t.Errorf("bob's request ends %v, want %v", got.EndsAt, bobStart.Add(time.Hour))
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditScheduled, latch.AuditEscalated}
	if diff := cmp.Diff(want, auditTypes(t, c, bob.ID)); diff != "" {
		t.Errorf("bob's audit trail (-want +got):\n%s", diff)
	}
	evs, err := c.Events(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e := evs[len(evs)-1]; e.At.Before(bobStart) {
		t.Errorf("escalated recorded at %v, before the start %v", e.At, bobStart)
	}

	// carol's start came before bob's: had it been escalated, its call
	// would have reached the target first.
	want = []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditScheduled, latch.AuditCancelled}
	if diff := cmp.Diff(want, auditTypes(t, c, carol.ID)); diff != "" {
		t.Errorf("carol's audit trail (-want +got):\n%s", diff)
	}
	if r, err := c.GetRequest(ctx, carol.ID); err != nil || r.Status != latch.StatusCancelled || r.GrantID != "" {
		t.Errorf("carol's request: %+v (%v), want cancelled without a grant", r, err)
	}
	select {
	case call := <-tg.calls:
		t.Errorf("a further call reached the target: %s %v", call.Action, call.Body)
	default:
	}
}
