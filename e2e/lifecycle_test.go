package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// The whole life of a request: asked for 2 seconds, approved, granted through
// a signed webhook call, and revoked within a second of its end.
func TestRequestLifecycleThroughWebhook(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "incident 42", "duration": 2}, Context: map[string]any{"ticket": "INC-42"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != latch.StatusPending || req.ID == "" {
		t.Fatalf("created request = %s %q, want a pending request with an id", req.Status, req.ID)
	}
	tg.none(100 * time.Millisecond)

	approving := time.Now()
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	esc := tg.next(10 * time.Second)
	if esc.Action != "escalate" {
		t.Fatalf("first call action = %q, want escalate", esc.Action)
	}
	grant := esc.Body["grant"].(map[string]any)
	user := grant["user"].(map[string]any)
	tgt := grant["target"].(map[string]any)
	if user["email"] != "bob@example.com" || tgt["id"] != "prod-db" {
		t.Errorf("escalate grant = %v, want bob@example.com on prod-db", grant)
	}
	if got := tgt["settings"].(map[string]any)["role"]; got != "readonly" {
		t.Errorf("target settings role = %v, want readonly", got)
	}
	if got := esc.Body["request"].(map[string]any)["id"]; got != req.ID {
		t.Errorf("escalate request id = %v, want %s", got, req.ID)
	}
	active := waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)
	// The end is fixed when the grant starts (the approval, which asks for
	// the first escalation attempt): 2s from then, not from the escalation.
	if active.EndsAt == nil || active.StartsAt == nil || active.EndsAt.Before(approving.Add(2*time.Second)) ||
		active.EndsAt.After(active.StartsAt.Add(2*time.Second)) {
		t.Fatalf("active request starts %v ends %v, want the approval (%v) plus 2s", active.StartsAt, active.EndsAt, approving)
	}

	de := tg.next(10 * time.Second)
	if de.Action != "deescalate" {
		t.Fatalf("second call action = %q, want deescalate", de.Action)
	}
	if got := de.Body["grant"].(map[string]any)["id"]; got != grant["id"] {
		t.Errorf("deescalate grant id = %v, want %v", got, grant["id"])
	}
	if late := de.At.Sub(*active.EndsAt); late < 0 || late > time.Second {
		t.Errorf("deescalate came %s after the end, want within 0..1s", late)
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 5*time.Second)
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditDeescalated}
	if diff := cmp.Diff(want, auditTypes(t, c, req.ID)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	evs, err := c.Events(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if evs[1].Actor.Email != "alice@example.com" || evs[1].Reason != "ok" {
		t.Errorf("approved event actor/reason = %v %q, want alice@example.com ok", evs[1].Actor, evs[1].Reason)
	}
	if evs[0].Fields["reason"] != "incident 42" {
		t.Errorf("requested event fields = %v, want the reason", evs[0].Fields)
	}
	tg.none(200 * time.Millisecond)
}

// A server killed with SIGKILL while access is active still revokes on time
// after it restarts.
func TestRevokeSurvivesSIGKILL(t *testing.T) {
	tg := newTarget(t)
	flows := writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")})
	data := t.TempDir()
	srv := startServer(t, flows, data)
	c := srv.client()
	ctx := context.Background()

	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "restart test", "duration": 10}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "carol@approvers.example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := tg.next(10 * time.Second).Action; got != "escalate" {
		t.Fatalf("action = %q, want escalate", got)
	}
	active := waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)
	srv.kill()

	srv = startServer(t, flows, data)
	de := tg.next(10 * time.Second)
	if de.Action != "deescalate" {
		t.Fatalf("action after restart = %q, want deescalate", de.Action)
	}
	if late := de.At.Sub(*active.EndsAt); late < 0 || late > time.Second {
		t.Errorf("deescalate came %s after the end, want within 0..1s", late)
	}
	waitStatus(t, srv.client(), req.ID, latch.StatusEnded, 5*time.Second)
}

// A revoke that fell due while the server was down runs right after it starts.
func TestRevokeDueWhileDownRunsAtStart(t *testing.T) {
	tg := newTarget(t)
	flows := writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")})
	data := t.TempDir()
	srv := startServer(t, flows, data)
	c := srv.client()
	ctx := context.Background()

	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "down test", "duration": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	tg.next(10 * time.Second)
	active := waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)
	srv.kill()
	time.Sleep(time.Until(active.EndsAt.Add(500 * time.Millisecond))) // the server is down through the end

	started := time.Now()
	srv = startServer(t, flows, data)
	de := tg.next(10 * time.Second)
	if de.Action != "deescalate" {
		t.Fatalf("action after restart = %q, want deescalate", de.Action)
	}
	if de.At.Before(started) {
		t.Errorf("deescalate at %v, before the restart at %v", de.At, started)
	}
	waitStatus(t, srv.client(), req.ID, latch.StatusEnded, 5*time.Second)
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditDeescalated}
	if diff := cmp.Diff(want, auditTypes(t, srv.client(), req.ID)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
}

// Early revoke by the requester ends access at once.
func TestEarlyRevoke(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "short job", "duration": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	tg.next(10 * time.Second)
	waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)
	if _, err := c.Act(ctx, req.ID, "revoke", httpapi.ActionBody{As: "bob@example.com", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	if got := tg.next(10 * time.Second).Action; got != "deescalate" {
		t.Fatalf("action = %q, want deescalate", got)
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 5*time.Second)
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditReleased, latch.AuditDeescalated}
	if diff := cmp.Diff(want, auditTypes(t, c, req.ID)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
}
