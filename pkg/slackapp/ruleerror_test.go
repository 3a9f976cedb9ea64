package slackapp_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// fragileFlow's approval rule fails whenever it runs for an approver whose
// email has no "+".
const fragileFlow = `name: fragile
fields:
  - {name: reason, type: string, required: true}
approval:
  channel: C0FRAGILE
  rule: 'approver.email.split("+")[1] == "ops"'
`

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// A click judged by a rule that fails when it runs tells the clicker, only
// them, which rule of which flow failed; the cause is in the log for
// admins, and the request is unchanged.
func TestFailingRuleIsToldToTheClicker(t *testing.T) {
	r := newRig(t, fragileFlow)
	logs := &lockedLog{}
	r.app.Log = slog.New(slog.NewTextHandler(logs, nil))
	req, err := r.eng.Create(context.Background(), engine.CreateInput{Flow: "fragile", UserEmail: ann, Source: latch.SourceSlack,
		Fields: map[string]any{"reason": "incident"}})
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := r.store.MessageRefs(context.Background(), req.ID)
	if len(refs) == 0 {
		t.Fatal("no approval message was posted")
	}
	if status, _ := r.interact(click(bobID, team, "approve", req.ID, refs[0].Channel, refs[0].TS, "")); status != http.StatusOK {
		t.Fatalf("click: %d", status)
	}
	resp := r.slack.Responses()
	if len(resp) != 1 {
		t.Fatalf("%d responses, want 1", len(resp))
	}
	text, _ := resp[0].Body["text"].(string)
	if resp[0].Body["response_type"] != "ephemeral" || !strings.Contains(text, "approval.rule") || !strings.Contains(text, "fragile") ||
		strings.Contains(text, "index out of bounds") {
		t.Errorf("response %v, want an ephemeral naming the rule and the flow, without the cause", resp[0].Body)
	}
	if l := logs.String(); !strings.Contains(l, "a rule failed when it ran") || !strings.Contains(l, "index out of bounds") {
		t.Errorf("the log does not hold the rule's failure:\n%s", l)
	}
	if got, _ := r.store.GetRequest(context.Background(), req.ID); got.Status != latch.StatusPending || len(got.Approvals) != 0 {
		t.Errorf("request after the click: %s, %d approvals; want pending, none", got.Status, len(got.Approvals))
	}
}
