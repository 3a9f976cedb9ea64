package engine_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/oncall"
	"github.com/latchhq/latch/pkg/oncall/pagerdutytest"
)

// onCallFlow approves requests of people on call in PagerDuty schedule
// PSCHED1, and lets whoever is on call decide the others.
const onCallFlow = `name: oncall
oncall: {provider: pagerduty, schedule_ids: [PSCHED1], token_env: PAGERDUTY_TOKEN}
auto_approve: 'requester.on_call'
approval:
  approvers: [alice@example.com]
  rule: 'approver.on_call'
`

// TestOnCallApproval drives on-call approval through the engine, the flow
// as loaded from YAML (its CEL rules) and a fake PagerDuty speaking its
// JSON: a requester on call is approved by the flow; one who is not waits;
// when PagerDuty fails, the request waits for a person and the audit trail
// says why; and an approver on call may decide by the rule.
func TestOnCallApproval(t *testing.T) {
	pd := pagerdutytest.NewServer(t)
	pd.AddUser("PANN0001", "Ann", "ann@example.com")
	pd.AddUser("PBOB0001", "Bob", "bob@example.com")
	pd.AddUser("PCAT0001", "Cat", "cat@example.com")
	pd.PutOnCall("PANN0001", "PSCHED1")
	pd.PutOnCall("PCAT0001", "PSCHED1")
	f, err := flows.Parse("oncall.yaml", []byte(onCallFlow), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec := &recorder{fail: map[string]int{}}
	sources := &oncall.Sources{LookupEnv: func(k string) (string, bool) { return pagerdutytest.Token, k == "PAGERDUTY_TOKEN" },
		Options: oncall.Options{Endpoint: pd.URL}}
	eng, err := engine.New(engine.Config{Store: store, Flows: engine.NewFlowSet([]*latch.Flow{f}), Clock: &fakeClock{now: t0},
		Runner: rec, Scheduler: rec, Notifier: rec, OnCall: sources.For})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	create := func(email string) latch.Request {
		t.Helper()
		if _, err := eng.Create(ctx, engine.CreateInput{Flow: "oncall", UserEmail: email, Source: latch.SourceAPI}); err != nil {
			t.Fatalf("create for %s: %v", email, err)
		}
		reqs, err := store.ListRequests(ctx, latch.RequestFilter{User: email})
		if err != nil || len(reqs) != 1 {
			t.Fatalf("requests of %s: %v, %v", email, reqs, err)
		}
		return reqs[0]
	}
	events := func(id string) []latch.AuditEvent {
		t.Helper()
		evs, err := store.AuditEvents(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}

	// ann is on call: the flow approves her request.
	ann := create("ann@example.com")
	if ann.Status != latch.StatusApproved || len(ann.Approvals) != 1 || ann.Approvals[0].By.Bot != "auto_approve rule" {
		t.Errorf("ann's request is %s, approvals %+v; want approved by the auto_approve rule", ann.Status, ann.Approvals)
	}

	// bob is not: his request waits, with nothing recorded about the rule.
	bob := create("bob@example.com")
	if evs := events(bob.ID); bob.Status != latch.StatusPending || len(evs) != 1 {
		t.Errorf("bob's request is %s with %d events, want pending with only requested", bob.Status, len(evs))
	}
	// cat is on call, so the rule lets her decide bob's request.
	if err := eng.Handle(ctx, latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: bob.ID, Actor: latch.Actor{Email: "cat@example.com"}}); err != nil {
		t.Fatalf("cat, on call, approves: %v", err)
	}

	// PagerDuty fails for dan: never approved; the audit trail says why.
	pd.FailNext(http.StatusInternalServerError)
	dan := create("dan@example.com")
	evs := events(dan.ID)
	if dan.Status != latch.StatusPending || len(evs) != 2 || evs[1].Type != latch.AuditAutoApproveSkipped {
		t.Fatalf("dan's request is %s with events %+v; want pending, with auto_approve_skipped", dan.Status, evs)
	}
	if why, _ := evs[1].Data["reason"].(string); why == "" || evs[1].Data["rule"] != "requester.on_call" {
		t.Errorf("auto_approve_skipped data %+v, want the reason and the rule", evs[1].Data)
	}
	if got, _ := store.GetRequest(ctx, bob.ID); got.Status != latch.StatusApproved {
		t.Errorf("bob's request is %s, want approved by cat", got.Status)
	}
}
