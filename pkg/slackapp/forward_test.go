package slackapp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// forwardFlow forwards after an hour to #sre-leads and car in a DM.
const forwardFlow = `name: backup
approval:
  channel: "#access-requests"
  approvers: [bob@example.com]
  forward:
    - {after: 1h, channel: "#sre-leads", dm: [car@example.com]}
  timeout: 2h
`

func forwardedRequest(t *testing.T, r *rig) latch.Request {
	t.Helper()
	req, err := r.eng.Create(context.Background(), engine.CreateInput{Flow: "backup", UserEmail: ann, Source: latch.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the approval message", func() bool { return len(r.slack.Posts("#access-requests")) == 1 })
	req.Forwarded = 1 // as CmdForward leaves it
	return req
}

// A forwarded request is posted to the step's channel and DM'd to its
// people once, however often the notification is retried; every message
// then says where it went.
func TestNotifyForwarded(t *testing.T) {
	r := newRig(t, forwardFlow)
	req := forwardedRequest(t, r)
	for range 2 {
		if err := r.app.Notify(context.Background(), latch.AuditForwarded, req); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	if n := len(r.slack.Posts("#sre-leads")); n != 1 {
		t.Errorf("%d posts to #sre-leads, want 1", n)
	}
	if n := len(r.dmsTo(carID)); n != 1 {
		t.Errorf("%d DMs to car, want 1", n)
	}
	refs, err := r.store.MessageRefs(context.Background(), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	approval := 0
	for _, ref := range refs {
		if ref.Kind == "approval" {
			approval++
		}
	}
	if approval != 3 {
		t.Errorf("%d approval messages recorded, want 3 (the first, #sre-leads, car's DM), all updated together", approval)
	}
	updated := false
	for _, c := range r.slack.CallsTo("chat.update") {
		if strings.Contains(c.Param("blocks"), "Forwarded to #sre-leads") {
			updated = true
		}
	}
	if !updated {
		t.Error("no approval message says where the request was forwarded")
	}
}

// A step whose every destination Slack refuses for good is reported
// undeliverable, so that the engine moves on; a refusal that may pass is
// returned to be retried, and is not undeliverable.
func TestNotifyForwardedUndeliverable(t *testing.T) {
	r := newRig(t, strings.Replace(forwardFlow, ", dm: [car@example.com]", "", 1))
	req := forwardedRequest(t, r)
	r.slack.FailNext("chat.postMessage", "ratelimited") // the thread reply: retried later
	err := r.app.Notify(context.Background(), latch.AuditForwarded, req)
	if err == nil || errors.Is(err, latch.ErrUndeliverable) {
		t.Fatalf("Notify with the thread reply rate limited = %v, want an error to retry", err)
	}
	r.slack.FailNext("chat.postMessage", "channel_not_found") // the thread reply again: logged, not retried
	r.slack.FailNext("chat.postMessage", "channel_not_found") // #sre-leads
	err = r.app.Notify(context.Background(), latch.AuditForwarded, req)
	if !errors.Is(err, latch.ErrUndeliverable) {
		t.Fatalf("Notify with #sre-leads not found = %v, want ErrUndeliverable", err)
	}
}
