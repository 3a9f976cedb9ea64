package slackapp_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// formFields turns a slash command form into the JSON object Socket Mode
// carries instead.
func formFields(t *testing.T, form []byte) map[string]any {
	t.Helper()
	v, err := url.ParseQuery(string(form))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for k := range v {
		out[k] = v.Get(k)
	}
	return out
}

func TestSocketMode(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.app.RunSocketMode(ctx, slacktest.AppToken) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSocketMode: %v", err)
		}
	})

	// A slash command's answer travels in the acknowledgement.
	ack := r.slack.Envelope(t, "slash_commands", formFields(t, slacktest.Command(team, annID, "help")))
	payload, _ := ack["payload"].(map[string]any)
	if payload["response_type"] != "ephemeral" || !strings.Contains(payload["text"].(string), "/latch req") {
		t.Fatalf("ack %v, want the help text as its payload", ack)
	}

	// /latch req opens the form; its submission creates the request.
	ack = r.slack.Envelope(t, "slash_commands", formFields(t, slacktest.Command(team, annID, "req partner-approval")))
	if ack["payload"] != nil {
		t.Errorf("ack %v, want none: the modal is the answer", ack)
	}
	v := r.shown()

	// Slack retires connections: the app reconnects and goes on.
	r.slack.Disconnect(t)
	ack = r.slack.Envelope(t, "interactive", slacktest.Submission(team, annID, v, map[string]map[string]any{
		"reason": {"type": "plain_text_input", "value": "by socket"}}))
	payload, _ = ack["payload"].(map[string]any)
	if payload["response_action"] != "update" {
		t.Fatalf("submission ack %v, want response_action update", ack)
	}
	rs := r.requests()
	if len(rs) != 1 || rs[0].Fields["reason"] != "by socket" {
		t.Fatalf("requests %+v, want the one submitted by socket", rs)
	}
	if n := len(r.slack.CallsTo("apps.connections.open")); n != 2 {
		t.Errorf("%d apps.connections.open calls, want 2 (one reconnect)", n)
	}

	// Events are acknowledged without a payload.
	ack = r.slack.Envelope(t, "events_api", map[string]any{"type": "event_callback", "team_id": team,
		"event": map[string]any{"type": "app_home_opened"}, "event_id": "Ev1"})
	if ack["payload"] != nil {
		t.Errorf("event ack %v, want no payload", ack)
	}
}
