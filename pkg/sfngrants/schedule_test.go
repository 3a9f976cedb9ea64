package sfngrants_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
)

// scheduled submits ann's request for an hour starting at start, has bob
// approve it, and returns it waiting in scheduled with its start execution.
func (rt *rig) scheduled(start time.Time) (latch.Request, *execution) {
	rt.t.Helper()
	r, err := rt.eng.Create(context.Background(), engine.CreateInput{Flow: flowName, UserEmail: ann, Source: latch.SourceAPI,
		Fields: map[string]any{"reason": "change window", latch.FieldNameDuration: "1h"}, StartsAt: &start})
	if err != nil {
		rt.t.Fatalf("create: %v", err)
	}
	rt.do(latch.CmdApprove, r.ID, bob)
	if got := rt.req(r.ID); got.Status != latch.StatusScheduled || got.GrantID != "" {
		rt.t.Fatalf("after approval: %s, grant %q; want scheduled, none", got.Status, got.GrantID)
	}
	ex := rt.execution(sfngrants.StartExecutionName(r.ID))
	var in sfngrants.Input
	if err := json.Unmarshal([]byte(ex.Input), &in); err != nil {
		rt.t.Fatal(err)
	}
	if want := (sfngrants.Input{Start: sfngrants.StartSchedule, RequestID: r.ID, StartsAt: start.UTC().Format(time.RFC3339Nano)}); in != want {
		rt.t.Fatalf("start execution input %+v, want %+v", in, want)
	}
	return r, ex
}

// A scheduled request's start execution waits until the start, then sends
// the start command; the engine starts the grant's own execution, which
// escalates with the end counted from the start.
func TestScheduledStart(t *testing.T) {
	rt := newRig(t)
	start := rt.clock.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	r, ex := rt.scheduled(start)
	if n := rt.esc.count("grant"); n != 0 {
		t.Fatalf("granted %d times before the start", n)
	}
	end := rt.sfn.awaitEnd(ex)
	if end.Status != "SUCCEEDED" {
		t.Fatalf("start execution %s: %s %s", end.Status, end.Error, end.Cause)
	}
	if path, want := rt.sfn.entered(ex), []string{"Start", "WaitForStart", "SendStart", "Done"}; !slices.Equal(path, want) {
		t.Errorf("start execution path %v, want %v", path, want)
	}
	got := rt.waitFor(r.ID, latch.StatusActive)
	msgs := rt.messages()
	if len(msgs) < 2 || msgs[0].Type != "start" || msgs[0].ID != "start/"+r.ID || msgs[0].RequestID != r.ID || msgs[1].Type != "escalated" {
		t.Fatalf("reports %v, want start then escalated", rt.reports(eventsQueueURL))
	}
	if msgs[0].At.Before(start) {
		t.Errorf("the start was sent at %v, before the start %v", msgs[0].At, start)
	}
	specs := rt.esc.specs("grant")
	if len(specs) != 1 || !specs[0].EndsAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("escalator grants %+v, want one ending %v", specs, start.Add(time.Hour))
	}
	if got.EndsAt == nil || !got.EndsAt.Equal(start.Add(time.Hour)) || got.StartsAt.Before(start) {
		t.Errorf("request runs %v to %v, want from after %v to %v", got.StartsAt, got.EndsAt, start, start.Add(time.Hour))
	}
	rt.execution(got.GrantID) // the grant's own execution holds it
	// A repeated start (an outbox replay) starts no second execution.
	if err := (&sfngrants.Starts{SFN: rt.sfn.client(), StateMachineARN: testStateMachineARN}).At(context.Background(), start,
		latch.StartCommand(r.ID, start)); err != nil {
		t.Errorf("a repeated start: %v", err)
	}
	if n := len(rt.sfn.executions()); n != 2 {
		t.Errorf("%d executions %v, want the start's and the grant's", n, rt.sfn.executions())
	}
}

// A scheduled request cancelled before its start is never escalated: its
// start execution runs to the end and sends the start, which changes
// nothing; no grant, no grant execution, no escalator call.
func TestScheduledStartCancelledBeforeStart(t *testing.T) {
	rt := newRig(t)
	start := rt.clock.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	r, ex := rt.scheduled(start)
	rt.do(latch.CmdCancel, r.ID, ann)
	if got := rt.req(r.ID); got.Status != latch.StatusCancelled {
		t.Fatalf("after cancel: %s", got.Status)
	}
	if end := rt.sfn.awaitEnd(ex); end.Status != "SUCCEEDED" {
		t.Fatalf("start execution %s: %s %s", end.Status, end.Error, end.Cause)
	}
	rt.idle() // the start command handled
	if got, want := rt.reports(eventsQueueURL), []string{"start"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	if got := rt.req(r.ID); got.Status != latch.StatusCancelled || got.GrantID != "" {
		t.Errorf("after the start: %s, grant %q; want cancelled, none", got.Status, got.GrantID)
	}
	if n := rt.esc.count("grant") + rt.esc.count("revoke"); n != 0 {
		t.Errorf("the escalator was called %d times: %v", n, rt.esc.calls)
	}
	if names := rt.sfn.executions(); len(names) != 1 {
		t.Errorf("executions %v, want only the start's", names)
	}
}

// A start task run a little before the start by the function's clock (a
// Wait that ended a few milliseconds early) stamps its start command at the
// start, which the state machine hands it: stamped earlier, the engine
// would take it as early and do nothing, and the sweep's backup, with the
// same id, would be dropped by the queue's deduplication.
func TestStartTaskIsStampedNoEarlierThanTheStart(t *testing.T) {
	start := fixedNow.Add(3 * time.Millisecond)
	h, _, _ := newHandler(activeGrant(), &fakeEscalator{})
	reports := h.Reports.(*sentReports)
	in := sfngrants.TaskInput{Action: sfngrants.ActionStart, RequestID: "req_a", StartsAt: start.Format(time.RFC3339Nano)}
	if _, err := h.Handle(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(reports.sent) != 1 || reports.sent[0].Type != "start" || !reports.sent[0].At.Equal(start) {
		t.Fatalf("sent %+v, want one start stamped %v", reports.sent, start)
	}
	// Run after the start, it is stamped when it runs.
	in.StartsAt = fixedNow.Add(-time.Minute).Format(time.RFC3339Nano)
	if _, err := h.Handle(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(reports.sent) != 2 || !reports.sent[1].At.Equal(fixedNow) {
		t.Fatalf("sent %+v, want the second stamped %v", reports.sent, fixedNow)
	}
	in.StartsAt = "tomorrow"
	if _, err := h.Handle(context.Background(), in); lambdaError(err).Error != sfngrants.ErrorPermanent {
		t.Errorf("a start task with a bad starts_at: %v, want a permanent error", err)
	}
	// The state machine hands the task the start.
	def, err := sfngrants.Definition(sfngrants.Resources{GrantTaskFunction: grantTaskFunction, DeadLetterQueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"})
	if err != nil {
		t.Fatal(err)
	}
	payload := parse(t, def).States[sfngrants.StateSendStart]["Parameters"].(map[string]any)["Payload"].(map[string]any)
	if payload["starts_at.$"] != "$.starts_at" || payload["request_id.$"] != "$.request_id" {
		t.Errorf("SendStart's payload %v, want the request and its start", payload)
	}
}
