package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// "I'm done" against a real latch server: on a flow with allow_revoke
// false, the approver may not revoke, but the requester's latch done ends
// the access: the webhook target is asked to deescalate the grant, and the
// audit trail records released.
func TestDoneRevokesAtTheTarget(t *testing.T) {
	tg := newTarget(t)
	flow := strings.Replace(webhookFlow(tg.srv.URL+"/hook"), "allow_revoke: true", "allow_revoke: false", 1)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": flow}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "deploy", "duration": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	esc := tg.next(10 * time.Second)
	if esc.Action != "escalate" {
		t.Fatalf("first call action = %q, want escalate", esc.Action)
	}
	grant := esc.Body["grant"].(map[string]any)["id"]
	waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)

	if _, stderr, code := cli(t, srv, "revoke", req.ID, "--as", "alice@example.com"); code != 4 || !strings.Contains(stderr, latch.CodeRevokeNotAllowed) {
		t.Fatalf("revoke by the approver: exit %d, stderr %q; want 4 naming %s", code, stderr, latch.CodeRevokeNotAllowed)
	}
	if _, stderr, code := cli(t, srv, "done", req.ID, "--as", "alice@example.com"); code != 2 || !strings.Contains(stderr, "latch revoke") {
		t.Fatalf("done as someone else: exit %d, stderr %q; want 2 pointing to latch revoke", code, stderr)
	}
	if out, stderr, code := cli(t, srv, "done", req.ID, "--as", "bob@example.com", "--reason", "deploy finished"); code != 0 {
		t.Fatalf("done by the requester: exit %d, out %q, stderr %q", code, out, stderr)
	}

	de := tg.next(10 * time.Second)
	if de.Action != "deescalate" || de.Body["grant"].(map[string]any)["id"] != grant {
		t.Fatalf("call after latch done = %s of grant %v, want deescalate of %v", de.Action, de.Body["grant"], grant)
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 5*time.Second)
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditReleased, latch.AuditDeescalated}
	if diff := cmp.Diff(want, auditTypes(t, c, req.ID)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	evs, err := c.Events(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e := evs[3]; e.Actor.Email != "bob@example.com" || e.Reason != "deploy finished" || e.Source != latch.SourceAPI {
		t.Errorf("released event = %+v, want bob's with his reason, from the API", e)
	}
}
