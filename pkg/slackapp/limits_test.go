package slackapp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// bigFlow has a 3,500-character label and header text, a field with 150
// allowed values, one whose values are 200 characters long, and a list of
// users.
func bigFlow() string {
	var b strings.Builder
	long := strings.Repeat("Ω", 3500)
	fmt.Fprintf(&b, "name: big\nlabel: %q\nadditional_header_text: %q\n", long, long)
	b.WriteString("approval:\n  channel: \"#access-requests\"\n  approvers: [bob@example.com]\nfields:\n")
	b.WriteString("  - {name: why, type: string, required: true}\n")
	b.WriteString("  - name: many\n    type: string\n    allowed_values: [")
	for i := range 150 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "value-%03d", i)
	}
	b.WriteString("]\n  - name: wide\n    type: string\n    allowed_values: [")
	for i := range 3 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", fmt.Sprintf("%d-", i)+strings.Repeat("w", 198))
	}
	b.WriteString("]\n  - {name: people, type: \"list[slack_user]\"}\n")
	return b.String()
}

// noneRefused fails the test when the fake Slack refused any view or
// message Latch sent.
func noneRefused(tb testing.TB, s *slacktest.Server) {
	tb.Helper()
	for _, c := range s.Refused() {
		tb.Errorf("Slack would refuse %s: %v", c.Method, c.Problems)
	}
}

// Long labels, header texts and reasons, 150 allowed values, 200-character
// values and a 400-person list all make views and messages Slack accepts:
// text is cut where it must be, with a pointer to the whole; many values
// go to an external select; long values travel as short keys.
func TestBigInputsStayWithinSlacksLimits(t *testing.T) {
	r := newRig(t, bigFlow())
	if status, answer := r.command(annID, team, "req big"); status != http.StatusOK || answer != nil {
		t.Fatalf("/latch req big: %d %v, want the form opened", status, answer)
	}
	noneRefused(t, r.slack)
	form := r.shown()
	blocks := blocksOf(form)
	hdr := blocks[0]["text"].(map[string]any)["text"].(string)
	if utf8.RuneCountInString(hdr) != 150 || !strings.HasSuffix(hdr, "…") {
		t.Errorf("header of %d characters, want 150 ending in …", utf8.RuneCountInString(hdr))
	}
	many := block(t, blocks, "many")["element"].(map[string]any)
	if many["type"] != "external_select" {
		t.Fatalf("a field of 150 values: %v, want an external select", many["type"])
	}
	wide := block(t, blocks, "wide")["element"].(map[string]any)
	var wideKeys []string
	for _, o := range wide["options"].([]any) {
		v := o.(map[string]any)["value"].(string)
		if utf8.RuneCountInString(v) > 150 {
			t.Errorf("option value of %d characters", utf8.RuneCountInString(v))
		}
		wideKeys = append(wideKeys, v)
	}

	// The external select's options come from /slack/options.
	suggestion := map[string]any{"type": "block_suggestion", "user": map[string]any{"id": annID, "team_id": team},
		"team": map[string]any{"id": team}, "action_id": "value", "block_id": "many", "value": "value-14",
		"view": map[string]any{"id": "V1", "type": "modal", "callback_id": form["callback_id"], "private_metadata": form["private_metadata"]}}
	status, out := r.post("/slack/options", "application/x-www-form-urlencoded", slacktest.Form(t, suggestion))
	var got struct {
		Options []map[string]any `json:"options"`
	}
	if err := json.Unmarshal(out, &got); err != nil || status != http.StatusOK {
		t.Fatalf("options: %d %s", status, out)
	}
	if len(got.Options) != 10 || got.Options[0]["value"] != "value-140" {
		t.Errorf("options for \"value-14\": %v, want value-140 to value-149", got.Options)
	}
	suggestion["value"] = ""
	_, out = r.post("/slack/options", "application/x-www-form-urlencoded", slacktest.Form(t, suggestion))
	_ = json.Unmarshal(out, &got)
	if len(got.Options) != 100 {
		t.Errorf("%d options for an empty query, want Slack's 100", len(got.Options))
	}

	people := make([]any, 400)
	for i := range people {
		people[i] = fmt.Sprintf("U%08d", i)
	}
	reason := strings.Repeat("because ", 625) // 5,000 characters
	status, answer := r.interact(submission(annID, team, form, map[string]map[string]any{
		"why":    {"type": "plain_text_input", "value": reason},
		"many":   {"type": "external_select", "selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "value-141"}, "value": "value-141"}},
		"wide":   {"type": "static_select", "selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "w"}, "value": wideKeys[1]}},
		"people": {"type": "multi_users_select", "selected_users": people},
	}))
	if status != http.StatusOK || answer["response_action"] != "update" {
		t.Fatalf("submission: %d %v", status, answer)
	}
	req := r.requests()[0]
	if req.Fields["wide"] != "1-"+strings.Repeat("w", 198) || req.Fields["many"] != "value-141" {
		t.Errorf("fields %v, want the keyed value mapped back", req.Fields)
	}
	eventually(t, "approval message posted", func() bool {
		refs, _ := r.store.MessageRefs(context.Background(), req.ID)
		return len(refs) == 1
	})
	msg, _ := r.slack.LastBlocks(t, "chat.postMessage")
	if all := text(msg); !strings.Contains(all, "latch get "+req.ID) || !strings.Contains(all, "…") {
		t.Errorf("approval message does not point to the whole request where it was cut: %s", all)
	}

	// Denied with a 5,000-character reason: the update is accepted and the
	// buttons are gone.
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	r.interact(click(bobID, team, "deny", req.ID, ref[0].Channel, ref[0].TS, reason))
	eventually(t, "message shows the denial", func() bool {
		ups := r.slack.CallsTo("chat.update")
		return len(ups) > 0 && strings.Contains(text(messageBlocks(t, ups[len(ups)-1])), "Denied")
	})
	if b, _ := r.slack.LastBlocks(t, "chat.update"); len(actionIDs(b)) != 0 {
		t.Errorf("denied message keeps buttons %v", actionIDs(b))
	}
	eventually(t, "ann DM'd the denial", func() bool { return len(r.dmsTo(annID)) == 1 })
	noneRefused(t, r.slack)
}

// An update Slack refuses whole is sent again as the status and buttons
// only, so a decided request never keeps live buttons.
func TestRefusedUpdateIsRetriedInMinimalForm(t *testing.T) {
	r := newRig(t)
	req := r.submitValid()
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	r.slack.FailNext("chat.update", "invalid_blocks")
	r.interact(click(bobID, team, "deny", req.ID, ref[0].Channel, ref[0].TS, "no"))
	eventually(t, "the minimal update", func() bool { return len(r.slack.CallsTo("chat.update")) == 2 })
	ups := r.slack.CallsTo("chat.update")
	if ups[0].Error != "invalid_blocks" || ups[1].Error != "" {
		t.Fatalf("updates answered %q then %q, want invalid_blocks then ok", ups[0].Error, ups[1].Error)
	}
	b := messageBlocks(t, ups[1])
	if len(actionIDs(b)) != 0 || !strings.Contains(text(b), "Denied") || len(b) != 1 {
		t.Errorf("minimal update %s, want the status alone, without buttons", text(b))
	}
	if got, _ := r.store.GetRequest(context.Background(), req.ID); got.Status != latch.StatusDenied {
		t.Errorf("status %s, want denied", got.Status)
	}
}
