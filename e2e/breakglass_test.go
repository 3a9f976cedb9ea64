package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// glassFlow lets bob break glass for at most an hour, reviewed within a
// second (so that the missing review is alerted on the reconciler's next
// run), told in #security; alice approves.
func glassFlow(url string) string {
	return `name: db-glass
label: Production database
fields:
  - {name: duration, type: duration, default: 30m}
approval:
  channel: "#access-requests"
  approvers: [alice@example.com]
strategy:
  type: webhook
  url: ` + url + `
  secret_env: LATCH_WEBHOOK_SECRET
  targets:
    - {id: prod-db, label: Production database}
break_glass:
  allowed: 'requester.email == "bob@example.com"'
  broadcast: "#security"
  max_duration: 1h
  review_within: 1
`
}

// Break glass against a real latch server: bob (whom the rule allows)
// is granted at once, with no approver, at the webhook target, capped at
// max_duration; #security and the admin are told with the reason; alice
// (whom it does not) is refused 403; nobody reviews it, so the reconciler
// alerts (audit, #security); then alice reviews it with the CLI.
func TestBreakGlass(t *testing.T) {
	tg := newTarget(t)
	slack := slacktest.NewServer(t)
	slack.AddUser(bobSlack, slacktest.Team, "bob@example.com")
	slack.AddUser(aliceSlack, slacktest.Team, "alice@example.com")
	slack.AddUser("U0OPS", slacktest.Team, "ops@example.com")
	srv := startServerEnv(t, []string{"SLACK_SIGNING_SECRET=" + slackSecret, "SLACK_BOT_TOKEN=" + slacktest.Token, "SLACK_API_URL=" + slack.URL},
		writeFlows(t, map[string]string{"db-glass.yaml": glassFlow(tg.srv.URL + "/hook")}), t.TempDir(),
		"--reconcile-every", "2s")
	c := srv.client()
	if _, err := c.SetRole(context.Background(), "ops@example.com", latch.RoleAdmin); err != nil {
		t.Fatal(err)
	}

	code, eb := call(t, srv, http.MethodPost, "/v1/requests", adminToken,
		`{"flow":"db-glass","user_email":"alice@example.com","break_glass":true,"reason":"db down"}`)
	if code != http.StatusForbidden || eb.Error.Code != latch.CodeBreakGlassNotAllowed {
		t.Fatalf("alice breaks glass: %d %s, want 403 %s", code, eb.Error.Code, latch.CodeBreakGlassNotAllowed)
	}
	code, eb = call(t, srv, http.MethodPost, "/v1/requests", adminToken, `{"flow":"db-glass","user_email":"bob@example.com","break_glass":true}`)
	if code != http.StatusUnprocessableEntity || eb.Error.Code != latch.CodeReasonRequired {
		t.Fatalf("no reason: %d %s, want 422 %s", code, eb.Error.Code, latch.CodeReasonRequired)
	}

	reason := "checkout down, INC-9 <!here>"
	out, stderr, exit := cli(t, srv, "request", "db-glass", "--user", "bob@example.com", "--field", "duration=4h",
		"--break-glass", "--reason", reason, "--json")
	if exit != 0 {
		t.Fatalf("latch request --break-glass: exit %d\n%s", exit, stderr)
	}
	var r latch.Request
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("request --json printed %q: %v", out, err)
	}
	if r.Status != latch.StatusEscalating && r.Status != latch.StatusActive {
		t.Errorf("break glass answered %s, want escalating or active: no approver", r.Status)
	}
	if r.Duration != 3600 || r.BreakGlass == nil || r.BreakGlass.RequestedSeconds != 4*3600 {
		t.Errorf("break glass %ds, %+v; want capped at 3600s from 4h", r.Duration, r.BreakGlass)
	}
	call0 := tg.next(15 * time.Second)
	if call0.Action != "escalate" {
		t.Fatalf("first webhook call %q, want escalate", call0.Action)
	}
	active := waitStatus(t, c, r.ID, latch.StatusActive, 15*time.Second)
	grant, _ := call0.Body["grant"].(map[string]any)
	ends, err := time.Parse(time.RFC3339, grant["ends_at"].(string))
	if err != nil {
		t.Fatalf("grant.ends_at %v: %v", grant["ends_at"], err)
	}
	if d := ends.Sub(*active.StartsAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("the target was told access ends %s after it started, want 1h (max_duration)", d)
	}
	if len(active.Approvals) != 0 {
		t.Errorf("approvals %+v, want none", active.Approvals)
	}

	deadline := time.Now().Add(15 * time.Second)
	for len(slack.Posts("#security")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// The broadcast is the channel's first post (with the reconciler every
	// 2 s, the missing-review alert may follow it already).
	posts := slack.Posts("#security")
	if len(posts) == 0 || !strings.Contains(posts[0], "Break glass") || !strings.Contains(posts[0], "<@"+bobSlack+">") && !strings.Contains(posts[0], "bob@example.com") ||
		!strings.Contains(posts[0], "checkout down, INC-9 &lt;!here&gt;") || strings.Contains(posts[0], "<!here>") {
		t.Fatalf("#security posts %q, want the first naming bob and the escaped reason", posts)
	}
	for deadline := time.Now().Add(15 * time.Second); len(slack.Posts(slack.IM("U0OPS"))) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the admin was not DM'd within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Nobody reviews it: the reconciler's next run (every 2 s here,
	// --reconcile-every) alerts.
	var alert latch.AuditEvent
	for deadline := time.Now().Add(90 * time.Second); alert.Type == ""; {
		evs, err := c.Events(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == latch.AuditBreakGlassReviewOverdue {
				alert = e
			}
		}
		if alert.Type == "" && time.Now().After(deadline) {
			t.Fatalf("no break_glass_review_overdue within 90s; events %v", auditTypes(t, c, r.ID))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if alert.Data["alert"] != float64(1) || alert.Source != latch.SourceReconciler {
		t.Errorf("alert event %+v, want alert 1 from the reconciler", alert)
	}
	for deadline := time.Now().Add(15 * time.Second); len(slack.Posts("#security")) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("#security posts %q, want the alert", slack.Posts("#security"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := slack.Posts("#security")[1]; !strings.Contains(p, "Break glass not reviewed") {
		t.Errorf("alert post %q", p)
	}
	if !srv.logged("break glass not reviewed") {
		t.Error("no ERROR line for the missing review")
	}

	if _, stderr, exit := cli(t, srv, "review", r.ID, "--as", "bob@example.com"); exit != 4 || !strings.Contains(stderr, latch.CodeSelfReview) {
		t.Errorf("review by bob himself: exit %d, %q; want 4 naming %s", exit, stderr, latch.CodeSelfReview)
	}
	if out, stderr, exit := cli(t, srv, "review", r.ID, "--as", "alice@example.com", "--reason", "INC-9 confirmed"); exit != 0 {
		t.Fatalf("review by alice: exit %d, %q %q", exit, out, stderr)
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditBreakGlass, latch.AuditEscalated,
		latch.AuditBreakGlassReviewOverdue, latch.AuditBreakGlassReviewed}
	for deadline := time.Now().Add(15 * time.Second); ; {
		got := auditTypes(t, c, r.ID)
		if strings.Join(typeNames(got), ",") == strings.Join(typeNames(want), ",") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit trail %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func typeNames(ts []latch.AuditType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}
