package slackapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// injection is what a person might type to ping a whole channel and plant
// a link in Latch's messages.
const injection = "<!channel> <https://evil.example|Approve here>"

// injectionFlow puts the injection in every label an admin writes.
const injectionFlow = `name: inj
label: "<!channel> <https://evil.example|Approve here>"
fields:
  - {name: why, type: string, label: "<!channel> <https://evil.example|Approve here>", required: true}
  - {name: buddy, type: slack_user, label: Buddy}
allow_revoke: true
approval:
  channel: "#access-requests"
  approvers: [bob@example.com]
strategy:
  type: webhook
  url: http://127.0.0.1:9/hook
  targets:
    - {id: t1, label: "<!channel> <https://evil.example|Approve here>"}
`

// mrkdwnTexts returns every text Slack reads as mrkdwn in a call: a
// message's text, its mrkdwn text objects, and those of a view.
func mrkdwnTexts(tb testing.TB, c slacktest.Call) []string {
	tb.Helper()
	var out []string
	if t := c.Param("text"); t != "" {
		out = append(out, t)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "mrkdwn" {
				if s, ok := x["text"].(string); ok {
					out = append(out, s)
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	for _, key := range []string{"blocks", "view"} {
		if c.Params[key] == nil {
			continue
		}
		var v any
		if err := c.Decode(key, &v); err != nil {
			tb.Fatal(err)
		}
		walk(v)
	}
	return out
}

// noInjection fails the test when any mrkdwn Latch sent holds the
// injection's mention or link unescaped, and returns how many texts hold
// it escaped.
func noInjection(tb testing.TB, calls []slacktest.Call) int {
	tb.Helper()
	escaped := 0
	for _, c := range calls {
		for _, s := range mrkdwnTexts(tb, c) {
			if strings.Contains(s, "<!channel>") || strings.Contains(s, "<https://evil.example") {
				tb.Errorf("%s sent the injection unescaped: %q", c.Method, s)
			}
			if strings.Contains(s, "&lt;!channel&gt; &lt;https://evil.example|Approve here&gt;") {
				escaped++
			}
		}
	}
	return escaped
}

// What people type, and what flows' authors and escalators write, reaches
// every message, DM and view escaped: it is shown, never acted on. Users
// chosen in user fields stay real mentions.
func TestOutsideTextIsEscapedEverywhere(t *testing.T) {
	r := newRig(t, injectionFlow)
	r.esc.refuse = injection

	// A slash command echoing what was typed, and a flow name that does not exist.
	_, unknown := r.command(annID, team, "frobnicate "+injection)
	if s, _ := unknown["text"].(string); strings.Contains(s, "<!channel>") || !strings.Contains(s, "&lt;!channel&gt;") {
		t.Errorf("unknown command answer %q, want the typed text escaped", s)
	}
	r.command(annID, team, "req "+injection)

	// The form, submitted with the injection in a field.
	r.command(annID, team, "req inj")
	form := r.shown()
	status, answer := r.interact(submission(annID, team, form, map[string]map[string]any{
		"why":   {"type": "plain_text_input", "value": injection},
		"buddy": {"type": "users_select", "selected_user": carID},
	}))
	if status != http.StatusOK || answer["response_action"] != "update" {
		t.Fatalf("submission: %d %v", status, answer)
	}
	done, _ := json.Marshal(answer["view"])
	if strings.Contains(string(done), "<!channel>") {
		t.Errorf("the submitted view %s holds the injection unescaped", done)
	}
	req := r.requests()[0]
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	posted, _ := r.slack.LastBlocks(t, "chat.postMessage")
	if !strings.Contains(text(posted), "<@"+carID+">") {
		t.Errorf("approval message %s, want the buddy as a real mention", text(posted))
	}

	// Approved with the injection as reason; the escalator fails with it.
	r.interact(click(bobID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, injection))
	eventually(t, "the grant fails", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return got.Status == latch.StatusFailed
	})
	eventually(t, "ann DM'd the failure", func() bool {
		dms := r.dmsTo(annID)
		return len(dms) > 0 && strings.Contains(dms[len(dms)-1], "could not complete")
	})

	// A second request, denied with the injection as reason.
	r.command(annID, team, "req inj")
	r.interact(submission(annID, team, r.shown(), map[string]map[string]any{"why": {"type": "plain_text_input", "value": "again"}}))
	var second latch.Request
	for _, q := range r.requests() {
		if q.Status == latch.StatusPending {
			second = q
		}
	}
	ref2, _ := r.store.MessageRefs(context.Background(), second.ID)
	r.interact(click(bobID, team, "deny", second.ID, ref2[0].Channel, ref2[0].TS, injection))
	eventually(t, "ann DM'd the denial", func() bool {
		dms := r.dmsTo(annID)
		return strings.Contains(dms[len(dms)-1], "denied")
	})

	// A refusal whose message carries the injection, and a click refused.
	_ = r.app.TellRefused(context.Background(), "inj", ann, latch.Errorf(latch.KindForbidden, "x", "%s", injection))
	r.interact(click(carID, team, "approve", "req_"+injection, ref2[0].Channel, ref2[0].TS, ""))

	calls := r.slack.Calls()
	escaped := noInjection(t, calls)
	// The approval message (fields, reasons, failure), the failure and
	// denial DMs and the refusal DM each show it escaped.
	if escaped < 5 {
		t.Errorf("%d texts show the injection escaped, want at least 5 (message fields, reasons, failure, DMs)", escaped)
	}
	dms := strings.Join(r.dmsTo(annID), "\n")
	if strings.Count(dms, "&lt;!channel&gt;") < 3 {
		t.Errorf("DMs %q, want the failure, the denial's reason and the refusal escaped", dms)
	}
}

// A user field given something that is not a Slack user id (through the
// API) is either refused by the engine or shown as escaped text, never
// read as a mention or link.
func TestUserFieldsMentionOnlySlackIDs(t *testing.T) {
	r := newRig(t, injectionFlow)
	_, err := r.eng.Create(context.Background(), engine.CreateInput{Flow: "inj", UserEmail: ann, Source: latch.SourceAPI,
		Fields: map[string]any{"why": "x", "buddy": injection}})
	if err != nil {
		if latch.ErrorKindOf(err) != latch.KindInvalid {
			t.Fatalf("create: %v, want it created or refused as invalid", err)
		}
		return // refused: nothing reaches Slack
	}
	eventually(t, "approval message posted", func() bool { return len(r.slack.CallsTo("chat.postMessage")) > 0 })
	if noInjection(t, r.slack.Calls()) == 0 {
		t.Errorf("the user field's text is not shown escaped")
	}
}
