package slackapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
	"github.com/slack-go/slack"
)

// simpleFlow's form has no inputs: Slack submits it with state.values
// an empty list.
const simpleFlow = `name: simple
label: Simple access
approval:
  channel: "#access-requests"
  approvers: [bob@example.com]
`

// noInputs is the testdata submission with state.values set to values
// (raw JSON).
func noInputs(tb testing.TB, values string) map[string]any {
	tb.Helper()
	b := strings.Replace(string(readTestdata(tb, "view_submission_no_inputs.json")), `"state": {"values": []}`, `"state": {"values": `+values+`}`, 1)
	var p map[string]any
	if err := json.Unmarshal([]byte(b), &p); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestStateValuesEmptyListOrNullIsNoValues(t *testing.T) {
	for _, values := range []string{`[]`, `null`, `{}`} {
		in, err := slackapp.ParseInteraction(slacktest.Form(t, noInputs(t, values)))
		if err != nil {
			t.Fatalf("values %s: %v", values, err)
		}
		if len(in.View.State.Values) != 0 {
			t.Errorf("values %s: %v, want none", values, in.View.State.Values)
		}
	}
	if _, err := slackapp.ParseInteraction(slacktest.Form(t, noInputs(t, `[{"a":1}]`))); err == nil {
		t.Error("a non-empty list of values was accepted")
	}
}

// A form without inputs, submitted as Slack submits it (state.values an
// empty list, or null), creates the request, over HTTP and Socket Mode.
func TestSubmissionWithoutValuesCreatesTheRequest(t *testing.T) {
	r := newRig(t, simpleFlow)
	for i, values := range []string{`[]`, `null`} {
		p := noInputs(t, values)
		p["view"].(map[string]any)["id"] = "V0HTTP" + string(rune('A'+i)) // each its own form
		status, answer := r.interact(p)
		if status != http.StatusOK || answer["response_action"] != "update" {
			t.Fatalf("values %s: %d %v, want the request sent", values, status, answer)
		}
		if n := len(r.requests()); n != i+1 {
			t.Fatalf("values %s: %d requests, want %d", values, n, i+1)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.app.RunSocketMode(ctx, slacktest.AppToken) }()
	defer func() { cancel(); <-done }()
	before := len(r.requests())
	p := noInputs(t, `[]`)
	p["view"].(map[string]any)["id"] = "V0SOCKET"
	ack := r.slack.Envelope(t, "interactive", p)
	payload, _ := ack["payload"].(map[string]any)
	if payload["response_action"] != "update" || len(r.requests()) != before+1 {
		t.Fatalf("socket mode ack %v, %d requests; want the request sent", ack, len(r.requests())-before)
	}
}

// slack-go's InteractionCallback (which its socketmode client decodes every
// interactive envelope into) refuses state.values as an empty list, so
// Latch reads inbound payloads and Socket Mode envelopes itself. When this
// test fails, slack-go has learnt the shape, and the package doc's reason
// for keeping our own types no longer holds.
func TestSlackGoRefusesAnEmptyListOfValues(t *testing.T) {
	var in slack.InteractionCallback
	if err := json.Unmarshal(readTestdata(t, "view_submission_no_inputs.json"), &in); err == nil {
		t.Error("slack-go now reads state.values: []; revisit reading interactions with slack.InteractionCallback")
	}
}
