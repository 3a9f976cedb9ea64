package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/oncall/pagerdutytest"
)

// TestOnCallAutoApproval runs latch server against a fake PagerDuty
// (LATCH_PAGERDUTY_API_URL): a request of someone on call is approved by the
// flow's auto_approve rule; when PagerDuty fails, the request waits for a
// person and its audit trail says why.
func TestOnCallAutoApproval(t *testing.T) {
	pd := pagerdutytest.NewServer(t)
	pd.AddUser("PBOB0001", "Bob", "bob@example.com")
	pd.PutOnCall("PBOB0001", "PSCHED1")
	flow := `name: oncall
fields:
  - {name: reason, type: string, required: true}
oncall: {provider: pagerduty, schedule_ids: [PSCHED1], token_env: PAGERDUTY_TOKEN}
auto_approve: 'requester.on_call'
approval:
  approvers: [alice@example.com]
`
	srv := startServerEnv(t, []string{"PAGERDUTY_TOKEN=" + pagerdutytest.Token, "LATCH_PAGERDUTY_API_URL=" + pd.URL},
		writeFlows(t, map[string]string{"oncall.yaml": flow}), t.TempDir())
	api := srv.client()
	ctx := context.Background()
	create := func(email string) latch.Request {
		t.Helper()
		r, err := api.CreateRequest(ctx, httpapi.CreateBody{Flow: "oncall", UserEmail: email, Fields: map[string]any{"reason": "page 12"}})
		if err != nil {
			t.Fatalf("create for %s: %v", email, err)
		}
		return r
	}

	bob := create("bob@example.com")
	got := waitStatus(t, api, bob.ID, latch.StatusApproved, 20*time.Second)
	if len(got.Approvals) != 1 || got.Approvals[0].By.Bot != "auto_approve rule" {
		t.Errorf("bob's approvals %+v, want the auto_approve rule's", got.Approvals)
	}

	pd.FailNext(http.StatusServiceUnavailable)
	carol := create("carol@example.com")
	var evs []latch.AuditEvent
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if evs, err = api.Events(ctx, carol.ID); err == nil && len(evs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("carol's events %+v: no auto_approve_skipped within 20s", evs)
		}
	}
	if evs[1].Type != latch.AuditAutoApproveSkipped || evs[1].Data["reason"] == nil {
		t.Errorf("carol's events %+v, want auto_approve_skipped with a reason", evs)
	}
	if r, err := api.GetRequest(ctx, carol.ID); err != nil || r.Status != latch.StatusPending {
		t.Errorf("carol's request is %s (%v), want pending: a failed lookup never approves", r.Status, err)
	}
}
