package slackapp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// windowFlow lets a request start later; it has one target.
const windowFlow = `name: window
label: Change window
allow_scheduled_start: true
fields:
  - {name: reason, type: string, required: true}
approval:
  channel: "#access-requests"
  approvers: [bob@example.com]
strategy:
  type: webhook
  url: http://127.0.0.1:9/hook
  targets:
    - {id: prod-db, label: Production database}
`

const startBlock = "latch.starts_at"

// The request form of a flow that allows a scheduled start has an optional
// date-time picker; a start picked there is the request's, shown while it
// waits for approval and told to the requester once approved; nothing is
// granted before it.
func TestScheduledStartInTheRequestForm(t *testing.T) {
	r := newRig(t, windowFlow, prodFlow)
	r.command(annID, team, "req prod-access")
	for _, b := range blocksOf(r.shown()) {
		if b["block_id"] == startBlock {
			t.Fatalf("prod-access does not allow a scheduled start, yet its form has a start picker")
		}
	}

	r.command(annID, team, "req window")
	v := r.shown()
	picker := block(t, blocksOf(v), startBlock)
	if el := picker["element"].(map[string]any); el["type"] != "datetimepicker" || el["action_id"] != "value" || picker["optional"] != true {
		t.Fatalf("start block %v, want an optional datetimepicker", picker)
	}
	start := time.Now().Add(2 * time.Hour).Truncate(time.Second).UTC()
	status, answer := r.interact(submission(annID, team, v, map[string]map[string]any{
		"reason":   {"type": "plain_text_input", "value": "change 42"},
		startBlock: {"type": "datetimepicker", "selected_date_time": start.Unix()},
	}))
	if status != http.StatusOK || answer["response_action"] != "update" {
		t.Fatalf("submission: %d %v, want response_action update", status, answer)
	}
	rs := r.requests()
	if len(rs) != 1 || rs[0].ScheduledStart == nil || !rs[0].ScheduledStart.Equal(start) {
		t.Fatalf("requests %+v, want one starting %v", rs, start)
	}
	req := rs[0]
	eventually(t, "the approval message says when access is asked for", func() bool {
		posts := r.slack.CallsTo("chat.postMessage")
		return len(posts) == 1 && strings.Contains(text(messageBlocks(t, posts[0])), "Asks for access from")
	})
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	if status, _ := r.interact(click(bobID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, "")); status != http.StatusOK {
		t.Fatalf("approve: %d", status)
	}
	eventually(t, "ann DM'd that access starts later", func() bool {
		dms := r.dmsTo(annID)
		return len(dms) == 1 && strings.Contains(dms[0], "Access starts")
	})
	if got, _ := r.store.GetRequest(context.Background(), req.ID); got.Status != latch.StatusScheduled {
		t.Errorf("after approval: %s, want scheduled", got.Status)
	}
	eventually(t, "the approval message shows it scheduled", func() bool {
		ups := r.slack.CallsTo("chat.update")
		return len(ups) > 0 && strings.Contains(text(messageBlocks(t, ups[len(ups)-1])), "Scheduled")
	})
	if g, _ := r.esc.counts(); g != 0 {
		t.Errorf("%d grants before the start", g)
	}
}

// A start in the past is refused next to the picker, and creates nothing.
func TestScheduledStartRefusedInTheForm(t *testing.T) {
	r := newRig(t, windowFlow)
	r.command(annID, team, "req window")
	v := r.shown()
	status, answer := r.interact(submission(annID, team, v, map[string]map[string]any{
		"reason":   {"type": "plain_text_input", "value": "change 42"},
		startBlock: {"type": "datetimepicker", "selected_date_time": time.Now().Add(-time.Hour).Unix()},
	}))
	if status != http.StatusOK || answer["response_action"] != "errors" {
		t.Fatalf("answer %d %v, want response_action errors", status, answer)
	}
	errs := answer["errors"].(map[string]any)
	if msg, _ := errs[startBlock].(string); !strings.Contains(msg, "in the past") || len(errs) != 1 {
		t.Errorf("errors %v, want one next to the start picker saying it is in the past", errs)
	}
	if rs := r.requests(); len(rs) != 0 {
		t.Errorf("a refused start created %d requests", len(rs))
	}
}
