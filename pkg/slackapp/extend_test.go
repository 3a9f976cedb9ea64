package slackapp_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// extendableFlow is prod-access whose requester may extend up to 8 hours
// in all, an hour or less at once.
var extendableFlow = prodFlow + "extension:\n  max_total: 8h\n  auto_within: 1h\n"

// Extend on the requester's DM opens a modal (at once: the trigger id lives
// three seconds); the modal's mistakes and refusals are shown next to its
// duration; half an hour more is granted at once; two hours more waits
// for bob, whose Approve on the approval message grants it.
func TestExtendFromSlack(t *testing.T) {
	r := newRig(t, extendableFlow, apiFlow, guestFlow)
	req := r.submitValid()
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	if status, _ := r.interact(click(bobID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, "")); status != http.StatusOK {
		t.Fatalf("approve: %d", status)
	}
	eventually(t, "ann DM'd that she has access", func() bool { return len(r.dmsTo(annID)) == 2 })
	im := r.slack.IM(annID)
	lastDM := func() slacktest.Call {
		var dm slacktest.Call
		for _, c := range r.slack.CallsTo("chat.postMessage") {
			if c.Param("channel") == im {
				dm = c
			}
		}
		return dm
	}
	dm := lastDM()
	if ids := actionIDs(messageBlocks(t, dm)); !slices.Equal(ids, []string{"extend", "done"}) {
		t.Fatalf("the access DM's buttons %v, want extend and done", ids)
	}
	approvalButtons := func() []string {
		ups := r.slack.CallsTo("chat.update")
		if len(ups) == 0 {
			t.Fatal("the approval message was never updated")
		}
		return actionIDs(messageBlocks(t, ups[len(ups)-1]))
	}
	if ids := approvalButtons(); !slices.Equal(ids, []string{"extend", "revoke"}) {
		t.Fatalf("the active approval message's buttons %v, want extend and revoke", ids)
	}
	extendClick := func(userID string) map[string]any {
		p := click(userID, team, "extend", req.ID, im, dm.Param("ts"), "")
		p["channel"] = map[string]any{"id": im, "name": "directmessage"}
		p["actions"].([]any)[0].(map[string]any)["block_id"] = "active"
		return p
	}

	// bob may not extend ann's access: the modal says why.
	if status, _ := r.interact(extendClick(bobID)); status != http.StatusOK {
		t.Fatalf("extend by bob: %d", status)
	}
	if v := r.slack.OpenedView(t, "views.open"); v["callback_id"] != "latch_extend_error" || !strings.Contains(text(blocksOf(v)), "Only the person who asked") {
		t.Fatalf("bob's modal %v, want the refusal", v)
	}

	if status, _ := r.interact(extendClick(annID)); status != http.StatusOK {
		t.Fatalf("extend by ann: %d", status)
	}
	form := r.slack.OpenedView(t, "views.open")
	if form["callback_id"] != "latch_extend" || form["private_metadata"] != req.ID {
		t.Fatalf("ann's modal %v, want the extension form of %s", form, req.ID)
	}
	submit := func(by, why string) map[string]any {
		t.Helper()
		status, answer := r.interact(submission(annID, team, form, map[string]map[string]any{
			"extend_by":     {"type": "plain_text_input", "value": by},
			"extend_reason": {"type": "plain_text_input", "value": why},
		}))
		if status != http.StatusOK {
			t.Fatalf("submit %q: %d", by, status)
		}
		return answer
	}
	for _, tt := range []struct{ by, want string }{
		{"soon", `"soon" is not a duration`},
		{"9h", "caps it at 8h (extension.max_total)"},
	} {
		answer := submit(tt.by, "")
		errs, _ := answer["errors"].(map[string]any)
		if answer["response_action"] != "errors" || !strings.Contains(errs["extend_by"].(string), tt.want) {
			t.Errorf("submit %q: %v, want an error next to the duration saying %q", tt.by, answer, tt.want)
		}
	}
	before := *r.request(req.ID).EndsAt

	if answer := submit("30m", "the <!channel> migration runs late"); answer["response_action"] != "update" {
		t.Fatalf("submit 30m: %v, want the modal updated", answer)
	}
	got := r.request(req.ID)
	if !got.EndsAt.Equal(before.Add(30*time.Minute)) || got.Extension != nil {
		t.Fatalf("after 30m more: ends %v (extension %+v), want %v", got.EndsAt, got.Extension, before.Add(30*time.Minute))
	}
	eventually(t, "ann DM'd the extension", func() bool { return len(r.dmsTo(annID)) == 3 })
	if last := r.dmsTo(annID)[2]; !strings.Contains(last, "is extended until") {
		t.Errorf("DM %q, want that her access is extended", last)
	}

	if answer := submit("2h", "the <!channel> backfill too"); answer["response_action"] != "update" {
		t.Fatalf("submit 2h: %v, want the modal updated", answer)
	}
	got = r.request(req.ID)
	if got.Extension == nil || got.Extension.Duration != 7200 || !got.EndsAt.Equal(before.Add(30*time.Minute)) {
		t.Fatalf("after 2h more: extension %+v, ends %v; want 2h pending", got.Extension, got.EndsAt)
	}
	// The access can still be ended while the extension waits: Revoke
	// stays on the approval message and on ann's Home tab, which offers her
	// no decision on her own extension.
	if ids := approvalButtons(); !slices.Equal(ids, []string{"approve", "deny", "revoke"}) {
		t.Fatalf("the approval message's buttons %v with an extension pending, want approve, deny and revoke", ids)
	}
	if ids := actionIDs(blocksOf(r.openHome(annID))); !slices.Equal(ids, []string{"revoke"}) {
		t.Errorf("ann's Home buttons %v with her extension pending, want revoke", ids)
	}
	replies := r.slack.CallsTo("chat.postMessage")
	asked := ""
	for _, c := range replies {
		if c.Param("thread_ts") != "" && strings.Contains(c.Param("text"), "more") {
			asked = c.Param("text")
		}
	}
	if !strings.Contains(asked, "2h more") || strings.Contains(asked, "<!channel>") || !strings.Contains(asked, "&lt;!channel&gt;") {
		t.Errorf("thread reply %q, want the 2h asked for with the reason escaped", asked)
	}

	if status, _ := r.interact(click(bobID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, "")); status != http.StatusOK {
		t.Fatalf("approve the extension: %d", status)
	}
	eventually(t, "the extension granted", func() bool {
		g := r.request(req.ID)
		return g.Extension == nil && g.EndsAt.Equal(before.Add(150*time.Minute))
	})
	evs, err := r.store.AuditEvents(context.Background(), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []latch.AuditType
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditExtended,
		latch.AuditExtensionRequested, latch.AuditExtended}
	if !slices.Equal(types, want) {
		t.Fatalf("audit trail %v, want %v", types, want)
	}
	if e := evs[5]; e.Actor.Email != bob || e.Source != latch.SourceSlack {
		t.Errorf("the last extended event %+v, want bob's from Slack", e)
	}
	if ids := approvalButtons(); !slices.Equal(ids, []string{"extend", "revoke"}) {
		t.Errorf("the approval message's buttons %v after the extension, want extend and revoke", ids)
	}
}

func (r *rig) request(id string) latch.Request {
	r.t.Helper()
	got, err := r.store.GetRequest(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return got
}
