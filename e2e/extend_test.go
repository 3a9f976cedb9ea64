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

// Extend against a real latch server with a webhook target: bob's five
// seconds are extended by two at once (auto_within), carol's by three once
// alice approves; each revoke comes only after the new end, and the webhook
// is sent escalate again for the same grant with the new grant.ends_at
// before it.
func TestExtendMovesTheRevokeAndTellsTheTarget(t *testing.T) {
	tg := newTarget(t)
	flow := webhookFlow(tg.srv.URL+"/hook") + "extension:\n  max_total: 1h\n  auto_within: 2s\n"
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": flow}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	people := []string{"bob@example.com", "carol@example.com"}
	ids := map[string]string{}
	for _, who := range people {
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: who,
			Fields: map[string]any{"reason": "deploy", "duration": "5s"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		ids[who] = req.ID
	}
	first := map[string]time.Time{}
	for _, who := range people {
		first[who] = *waitStatus(t, c, ids[who], latch.StatusActive, 10*time.Second).EndsAt
	}

	// bob: within auto_within, extended at once.
	if out, stderr, code := cli(t, srv, "extend", ids["bob@example.com"], "--by", "2s", "--as", "bob@example.com",
		"--reason", "the deploy runs late", "-o", "json"); code != 0 || !strings.Contains(out, `"ends_at"`) {
		t.Fatalf("latch extend by bob: exit %d, out %q, stderr %q", code, out, stderr)
	}
	// carol: beyond it, pending until alice approves.
	out, stderr, code := cli(t, srv, "extend", ids["carol@example.com"], "--by", "3s", "--as", "carol@example.com", "-o", "json")
	if code != 0 || !strings.Contains(out, `"extension"`) || !strings.Contains(stderr, "waits for the flow's approvers") {
		t.Fatalf("latch extend by carol: exit %d, out %q, stderr %q; want the extension pending", code, out, stderr)
	}
	if _, stderr, code := cli(t, srv, "approve", ids["carol@example.com"], "--as", "alice@example.com"); code != 0 {
		t.Fatalf("approve carol's extension: exit %d, stderr %q", code, stderr)
	}
	added := map[string]time.Duration{"bob@example.com": 2 * time.Second, "carol@example.com": 3 * time.Second}
	newEnd := map[string]time.Time{}
	for _, who := range people {
		r, err := c.GetRequest(ctx, ids[who])
		if err != nil {
			t.Fatal(err)
		}
		if want := first[who].Add(added[who]); r.EndsAt == nil || !r.EndsAt.Equal(want) || r.Extension != nil {
			t.Fatalf("%s's request ends %v (extension %+v), want %v", who, r.EndsAt, r.Extension, want)
		}
		newEnd[who] = *r.EndsAt
	}

	// The webhook's calls, per person, until both are revoked.
	calls := map[string][]hookCall{}
	for ended := 0; ended < len(people); {
		call := tg.next(20 * time.Second)
		who := call.Body["grant"].(map[string]any)["user"].(map[string]any)["email"].(string)
		calls[who] = append(calls[who], call)
		if call.Action == "deescalate" {
			ended++
		}
	}
	for _, who := range people {
		cs := calls[who]
		var actions []string
		for _, call := range cs {
			actions = append(actions, call.Action)
		}
		if diff := cmp.Diff([]string{"escalate", "escalate", "deescalate"}, actions); diff != "" {
			t.Fatalf("%s: webhook actions (-want +got):\n%s", who, diff)
		}
		grant := func(i int) map[string]any { return cs[i].Body["grant"].(map[string]any) }
		if grant(0)["id"] != grant(1)["id"] || grant(1)["id"] != grant(2)["id"] {
			t.Errorf("%s: the calls name grants %v, %v, %v; want one grant", who, grant(0)["id"], grant(1)["id"], grant(2)["id"])
		}
		wire := func(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
		if grant(0)["ends_at"] != wire(first[who]) || grant(1)["ends_at"] != wire(newEnd[who]) {
			t.Errorf("%s: escalate ends_at %v then %v, want %s then %s", who, grant(0)["ends_at"], grant(1)["ends_at"],
				wire(first[who]), wire(newEnd[who]))
		}
		if cs[1].Header.Get("Idempotency-Key") != cs[0].Header.Get("Idempotency-Key") {
			t.Errorf("%s: the repeated escalate has key %q, want the first's %q", who, cs[1].Header.Get("Idempotency-Key"), cs[0].Header.Get("Idempotency-Key"))
		}
		if cs[2].At.Before(newEnd[who]) {
			t.Errorf("%s: revoked at %v, before the new end %v", who, cs[2].At, newEnd[who])
		}
		waitStatus(t, c, ids[who], latch.StatusEnded, 10*time.Second)
	}

	wantTrail := map[string][]latch.AuditType{
		"bob@example.com": {latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditExtended, latch.AuditDeescalated},
		"carol@example.com": {latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditExtensionRequested,
			latch.AuditExtended, latch.AuditDeescalated},
	}
	for _, who := range people {
		if diff := cmp.Diff(wantTrail[who], auditTypes(t, c, ids[who])); diff != "" {
			t.Errorf("%s: audit trail (-want +got):\n%s", who, diff)
		}
	}
	evs, err := c.Events(ctx, ids["carol@example.com"])
	if err != nil {
		t.Fatal(err)
	}
	ext := evs[4]
	if by, _ := ext.Data["approved_by"].([]any); ext.Actor.Email != "alice@example.com" || len(by) != 1 || by[0] != "alice@example.com" ||
		ext.Data["added_seconds"] != float64(3) {
		t.Errorf("carol's extended event = %+v, want approved by alice, 3 seconds added", ext)
	}
}

// The bug of issue 15: a second request whose lease keeps the grant open
// longer used to leave the webhook with the first lease's ends_at. Now the
// webhook is sent escalate again for the same grant with the later end.
func TestSecondLeaseTellsTheWebhookTheLaterEnd(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	var reqs []latch.Request
	for _, d := range []string{"30m", "2h"} {
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
			Fields: map[string]any{"reason": "deploy", "duration": d}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, waitStatus(t, c, req.ID, latch.StatusActive, 10*time.Second))
	}
	if reqs[0].GrantID != reqs[1].GrantID {
		t.Fatalf("the requests have grants %s and %s, want one shared", reqs[0].GrantID, reqs[1].GrantID)
	}
	first, again := tg.next(10*time.Second), tg.next(10*time.Second)
	wire := func(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
	g0, g1 := first.Body["grant"].(map[string]any), again.Body["grant"].(map[string]any)
	if first.Action != "escalate" || again.Action != "escalate" || g0["id"] != g1["id"] {
		t.Fatalf("calls %s %v, %s %v; want escalate twice for one grant", first.Action, g0["id"], again.Action, g1["id"])
	}
	if g0["ends_at"] != wire(*reqs[0].EndsAt) || g1["ends_at"] != wire(*reqs[1].EndsAt) {
		t.Errorf("ends_at %v then %v, want %s then %s", g0["ends_at"], g1["ends_at"], wire(*reqs[0].EndsAt), wire(*reqs[1].EndsAt))
	}
}
