package slackapp_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// glassFlow lets ann break glass (not car); bob approves.
const glassFlow = `name: db-glass
label: Database
fields:
  - {name: duration, type: duration, default: 30m}
approval:
  channel: "#access-requests"
  approvers: [bob@example.com]
strategy:
  type: webhook
  url: http://127.0.0.1:9/hook
  targets:
    - {id: db, label: Production database}
break_glass:
  allowed: 'requester.email == "ann@example.com"'
  broadcast: "#security"
  max_duration: 1h
  review_within: 24h
`

// glassForm opens the break-glass flow's form as user and returns it.
func (r *rig) glassForm(userID string) map[string]any {
	r.t.Helper()
	r.command(userID, team, "req db-glass")
	return r.shown()
}

func hasBlock(v map[string]any, id string) bool {
	return slices.ContainsFunc(blocksOf(v), func(b map[string]any) bool { return b["block_id"] == id })
}

// The form offers break glass only to the people the flow's rule allows.
func TestBreakGlassIsOfferedOnlyToWhomTheRuleAllows(t *testing.T) {
	r := newRig(t, glassFlow)
	if v := r.glassForm(carID); hasBlock(v, "break-glass") || hasBlock(v, "break-glass-reason") {
		t.Errorf("car, whom the rule leaves out, is offered break glass: %s", text(blocksOf(v)))
	}
	v := r.glassForm(annID)
	if !hasBlock(v, "break-glass") || !hasBlock(v, "break-glass-reason") {
		t.Fatalf("ann is not offered break glass: %s", text(blocksOf(v)))
	}
	if b := block(t, blocksOf(v), "break-glass"); b["optional"] != true || b["element"].(map[string]any)["type"] != "checkboxes" {
		t.Errorf("break glass block %v, want an optional checkbox", b)
	}
}

// Ticking break glass without a reason is answered next to the reason;
// with one, access is granted at once (no approver), the form says so,
// #security gets the message with Reviewed, admins a DM; the requester
// cannot review it; bob's Reviewed click records the review and updates
// the message.
func TestBreakGlassInSlack(t *testing.T) {
	r := newRig(t, glassFlow)
	r.addAdmins()
	v := r.glassForm(annID)
	checked := map[string]any{"type": "checkboxes", "selected_options": []any{map[string]any{
		"text": map[string]any{"type": "plain_text", "text": "Break glass: grant me access now, without an approver"}, "value": "break_glass"}}}
	status, answer := r.interact(submission(annID, team, v, map[string]map[string]any{
		"duration":    {"type": "plain_text_input", "value": "4h"},
		"break-glass": checked,
	}))
	if status != http.StatusOK || answer["response_action"] != "errors" {
		t.Fatalf("no reason: %d %v, want errors", status, answer)
	}
	if msg, _ := answer["errors"].(map[string]any)["break-glass-reason"].(string); !strings.Contains(msg, "reason") {
		t.Errorf("errors %v, want one next to the reason", answer["errors"])
	}
	if n := len(r.requests()); n != 0 {
		t.Fatalf("%d requests after a refused break glass", n)
	}

	reason := "db down <!channel> *now*"
	status, answer = r.interact(submission(annID, team, v, map[string]map[string]any{
		"duration":           {"type": "plain_text_input", "value": "4h"},
		"break-glass":        checked,
		"break-glass-reason": {"type": "plain_text_input", "value": reason},
	}))
	if status != http.StatusOK || answer["response_action"] != "update" {
		t.Fatalf("break glass: %d %v, want update", status, answer)
	}
	if s := text(blocksOf(answer["view"].(map[string]any))); !strings.Contains(s, "You broke glass") {
		t.Errorf("the form became %s, want that glass was broken", s)
	}
	rs := r.requests()
	if len(rs) != 1 || rs[0].BreakGlass == nil || rs[0].Duration != 3600 || len(rs[0].Approvals) != 0 {
		t.Fatalf("requests %+v, want one break glass capped at 1h, approved by nobody", rs)
	}
	id := rs[0].ID
	eventually(t, "access active", func() bool {
		got, _ := r.store.GetRequest(context.Background(), id)
		return got.Status == latch.StatusActive
	})
	if g, _ := r.esc.counts(); g != 1 {
		t.Errorf("%d grants, want 1", g)
	}
	var post map[string]any
	eventually(t, "#security told", func() bool {
		for _, c := range r.slack.CallsTo("chat.postMessage") {
			if c.Param("channel") == "#security" {
				post = map[string]any{"blocks": messageBlocks(t, c)}
				return true
			}
		}
		return false
	})
	blocks := post["blocks"].([]map[string]any)
	if ids := actionIDs(blocks); !slices.Equal(ids, []string{"review"}) {
		t.Errorf("buttons %v, want review", ids)
	}
	s := text(blocks)
	if !containsAll(s, "Break glass", "<@"+annID+">", "Production database", "capped from 4h", "db down &lt;!channel&gt;") {
		t.Errorf("broadcast %s lacks who, what, the cap or the escaped reason", s)
	}
	if strings.Contains(s, "<!channel>") {
		t.Errorf("broadcast %s pings the channel: the reason was not escaped", s)
	}
	var approval []map[string]any
	for _, c := range r.slack.CallsTo("chat.postMessage") {
		if c.Param("channel") == "#access-requests" {
			approval = messageBlocks(t, c)
		}
	}
	if s := text(approval); !strings.Contains(s, "break glass, no approver") || slices.Contains(actionIDs(approval), "approve") {
		t.Errorf("the approval message %s, want it marked break glass, with no Approve", s)
	}
	eventually(t, "dan DM'd", func() bool { return len(r.dmsTo(danID)) == 1 })
	if dm := r.dmsTo(danID)[0]; !strings.Contains(dm, "Break glass") {
		t.Errorf("dan's DM %q", dm)
	}

	refs, _ := r.store.MessageRefs(context.Background(), id)
	i := slices.IndexFunc(refs, func(ref latch.MessageRef) bool { return ref.Kind == "break_glass" })
	if i < 0 {
		t.Fatalf("no break_glass message ref in %+v", refs)
	}
	channel, ts := refs[i].Channel, refs[i].TS

	// The person who broke glass may not review it: told only them.
	r.interact(click(annID, team, "review", id, channel, ts, ""))
	resp := r.slack.Responses()
	if len(resp) == 0 || resp[len(resp)-1].Body["response_type"] != "ephemeral" ||
		!strings.Contains(resp[len(resp)-1].Body["text"].(string), "own break glass") {
		t.Fatalf("ann's Reviewed: responses %v, want an ephemeral refusal", resp)
	}
	if status, _ := r.interact(click(bobID, team, "review", id, channel, ts, "")); status != http.StatusOK {
		t.Fatalf("review: %d", status)
	}
	eventually(t, "reviewed", func() bool {
		got, _ := r.store.GetRequest(context.Background(), id)
		return got.BreakGlass.Review != nil && got.BreakGlass.Review.By.Email == bob
	})
	eventually(t, "the broadcast updated", func() bool {
		for _, c := range r.slack.CallsTo("chat.update") {
			if c.Param("ts") == ts {
				b := messageBlocks(t, c)
				return len(actionIDs(b)) == 0 && strings.Contains(text(b), "Reviewed by <@"+bobID+">")
			}
		}
		return false
	})
}

// A missing-review alert goes to #security, as a new message with
// Reviewed and in the break glass's thread, and to the admins, once per
// alert.
func TestBreakGlassReviewOverdueAlert(t *testing.T) {
	r := newRig(t, glassFlow)
	r.addAdmins()
	req, err := r.eng.Create(context.Background(), engineGlass())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "#security told", func() bool { return len(r.slack.Posts("#security")) == 1 })
	cmd := latch.ReviewOverdueCommand(req.ID, 1, time.Now().Add(25*time.Hour))
	if err := r.eng.Handle(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alert in #security", func() bool { return len(r.slack.Posts("#security")) == 2 })
	alert := r.slack.Posts("#security")[1]
	if !containsAll(alert, "Break glass not reviewed", ann, "Production database", "db down", "latch review "+req.ID) {
		t.Errorf("alert %q", alert)
	}
	eventually(t, "dan DM'd twice", func() bool { return len(r.dmsTo(danID)) == 2 })
	replies := r.slack.CallsTo("chat.postMessage")
	threaded := 0
	for _, c := range replies {
		if c.Param("thread_ts") != "" && strings.Contains(c.Param("text"), "Break glass not reviewed") {
			threaded++
		}
	}
	if threaded != 1 {
		t.Errorf("%d alerts in the thread, want 1", threaded)
	}
	// The same alert again (a retried notification) posts nothing more.
	if err := r.app.Notify(context.Background(), latch.AuditBreakGlassReviewOverdue, mustGet(t, r, req.ID)); err != nil {
		t.Fatal(err)
	}
	if n := len(r.slack.Posts("#security")); n != 2 {
		t.Errorf("%d posts to #security after a retried alert, want 2", n)
	}
}

// engineGlass is ann's break glass through the API.
func engineGlass() engine.CreateInput {
	return engine.CreateInput{Flow: "db-glass", UserEmail: ann, Source: latch.SourceAPI, BreakGlass: true, Reason: "db down"}
}

func mustGet(t *testing.T, r *rig, id string) latch.Request {
	t.Helper()
	got, err := r.store.GetRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
