package sqsqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

const (
	requestID = "req_01JDQ3KZ2W7Y5T3R1P9N8M6L4K"
	grantID   = "gr_01JDQ3M8Z6N9V4C2B7X5K1H0TE"

	// The SQS message ids of testdata/batch.json, in order: a create and an
	// approve of one request, and between them a report on a grant.
	recCreate    = "5b8c2e61-1f0a-4d3b-9a7e-0c6d2f4e8a11"
	recEscalated = "9d1e4f72-2a1b-4e4c-8b8f-1d7e3a5f9b22"
	recApprove   = "c3f5a683-3b2c-4f5d-9c90-2e8f4b6a0c33"

	// testdata/unreadable.json: a version 2 message and an approve of one
	// request, and a report on a grant.
	recVersion2 = "0a7b3c94-4c3d-405e-8da1-3f904c7b1d44"
	recApprove2 = "7f9b1d06-6e5f-4270-8fc3-51b26e9d3f66"
	recDue      = "e5a7c8b5-5d4e-416f-9eb2-40a15d8c2e55"
)

// sqsEvent reads a batch as Lambda delivers it.
func sqsEvent(t *testing.T, name string) lambdaevents.SQSEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// handlers is a fake engine: it records what it is handed, in order, and
// answers with the error set for a message id.
type handlers struct {
	mu      sync.Mutex
	handled []string // message ids: a command's id, a create's "create/<request>"
	cmds    []latch.Command
	creates []engine.CreateInput
	answer  map[string]func() error
}

func (h *handlers) result(id string) error {
	if f := h.answer[id]; f != nil {
		return f()
	}
	return nil
}

func (h *handlers) Handle(_ context.Context, cmd latch.Command) error {
	h.mu.Lock()
	h.handled = append(h.handled, cmd.ID)
	h.cmds = append(h.cmds, cmd)
	h.mu.Unlock()
	return h.result(cmd.ID)
}

func (h *handlers) Create(_ context.Context, in engine.CreateInput) error {
	id := events.CreateID(in.ID)
	h.mu.Lock()
	h.handled = append(h.handled, id)
	h.creates = append(h.creates, in)
	h.mu.Unlock()
	return h.result(id)
}

// consumer returns a Consumer over h whose log is written to the returned
// buffer.
func consumer(h *handlers) (*sqsqueue.Consumer, *bytes.Buffer) {
	var buf bytes.Buffer
	return &sqsqueue.Consumer{Handle: h.Handle, Create: h.Create,
		Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}, &buf
}

func failures(resp lambdaevents.SQSEventResponse) []string {
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

const (
	idCreate    = "create/" + requestID
	idEscalated = "escalated/" + grantID + "/v2"
	idApprove   = "cmd_01JDQ4A1B2C3D4E5F6G7H8J9K0"
)

func TestConsumeAllDone(t *testing.T) {
	h := &handlers{}
	c, _ := consumer(h)
	resp, err := c.Consume(context.Background(), sqsEvent(t, "batch.json"))
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if got := failures(resp); len(got) != 0 {
		t.Errorf("failures = %v, want none", got)
	}
	if diff := cmp.Diff([]string{idCreate, idEscalated, idApprove}, h.handled); diff != "" {
		t.Errorf("handled, in order (-want +got):\n%s", diff)
	}
	wantCreate := engine.CreateInput{ID: requestID, Flow: "prod-db", UserEmail: "ada@example.com",
		CreatedBy: latch.Actor{Email: "ada@example.com", Bot: "deploy-bot"}, Source: latch.SourceAPI,
		Fields:  map[string]any{"duration": "4h", "reason": "Deploy 2026.11.25"},
		Context: map[string]any{"ci": map[string]any{"run": float64(4211)}}}
	if diff := cmp.Diff([]engine.CreateInput{wantCreate}, h.creates); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	wantCmds := []latch.Command{
		{ID: idEscalated, Kind: latch.CmdEscalated, GrantID: grantID, At: time.Date(2026, 11, 25, 9, 30, 1, 0, time.UTC)},
		{ID: idApprove, Kind: latch.CmdApprove, RequestID: requestID, Actor: latch.Actor{Email: "grace@example.com"},
			Reason: "Looks right", Source: latch.SourceSlack, At: time.Date(2026, 11, 25, 9, 30, 2, 0, time.UTC)},
	}
	if diff := cmp.Diff(wantCmds, h.cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	// The answer Lambda reads: an empty list, not null.
	b, _ := json.Marshal(resp)
	if string(b) != `{"batchItemFailures":[]}` {
		t.Errorf("response = %s", b)
	}
}

func TestConsumeRefusalsAreDone(t *testing.T) {
	h := &handlers{answer: map[string]func() error{
		idCreate: func() error { return fmt.Errorf("create request %s: %w", requestID, engine.ErrExists) },
		idEscalated: func() error {
			return fmt.Errorf("load grant %s: %w", grantID, latch.ErrNotFound)
		},
		idApprove: func() error {
			return latch.Errorf(latch.KindForbidden, "self_approval", "You cannot approve your own request.")
		},
	}}
	c, logs := consumer(h)
	resp, _ := c.Consume(context.Background(), sqsEvent(t, "batch.json"))
	if got := failures(resp); len(got) != 0 {
		t.Errorf("failures = %v, want none: a refusal is final", got)
	}
	if diff := cmp.Diff([]string{idCreate, idEscalated, idApprove}, h.handled); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	for _, want := range []string{"code=request_exists", "code=not_found", "code=self_approval"} {
		if !strings.Contains(logs.String(), "message refused; it will not be retried") || !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks a refusal with %s:\n%s", want, logs)
		}
	}
}

func TestConsumeFailureHoldsTheRestOfItsGroup(t *testing.T) {
	h := &handlers{answer: map[string]func() error{
		idCreate: func() error { return errors.New("commit: connection reset") },
	}}
	c, logs := consumer(h)
	resp, _ := c.Consume(context.Background(), sqsEvent(t, "batch.json"))
	if diff := cmp.Diff([]string{recCreate, recApprove}, failures(resp)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	// The approve of the same request is not handled before its create; the
	// grant's report, another group, is.
	if diff := cmp.Diff([]string{idCreate, idEscalated}, h.handled); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	for _, want := range []string{"message failed; it is retried", "connection reset",
		"an earlier message of its group failed", "failed=" + recCreate} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestConsumeLaterFailureKeepsEarlierDone(t *testing.T) {
	h := &handlers{answer: map[string]func() error{
		idApprove: func() error { return context.DeadlineExceeded },
	}}
	c, _ := consumer(h)
	resp, _ := c.Consume(context.Background(), sqsEvent(t, "batch.json"))
	if diff := cmp.Diff([]string{recApprove}, failures(resp)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
}

func TestConsumeUnreadable(t *testing.T) {
	h := &handlers{}
	c, logs := consumer(h)
	resp, _ := c.Consume(context.Background(), sqsEvent(t, "unreadable.json"))
	// The version 2 message fails (to the dead-letter queue after its
	// retries), and holds the approve behind it; the grant's report is done.
	if diff := cmp.Diff([]string{recVersion2, recApprove2}, failures(resp)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"due/" + grantID + "/1795609800000000000"}, h.handled); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	for _, want := range []string{"unreadable message", "unsupported message version", "version 2", "receive_count=3"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// record builds one record as Lambda delivers it from the FIFO queue.
func record(t *testing.T, sqsID string, m events.Message) lambdaevents.SQSMessage {
	t.Helper()
	body, err := sqsqueue.Body(m)
	if err != nil {
		t.Fatal(err)
	}
	return lambdaevents.SQSMessage{MessageId: sqsID, Body: body, EventSource: "aws:sqs",
		Attributes: map[string]string{"MessageGroupId": sqsqueue.GroupID(m), "MessageDeduplicationId": sqsqueue.DedupID(m),
			"ApproximateReceiveCount": "1"}}
}

var at = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func approveOf(id, request string) events.Message {
	return events.FromCommand(latch.Command{ID: id, Kind: latch.CmdApprove, RequestID: request,
		Actor: latch.Actor{Email: "grace@example.com"}, Source: latch.SourceSlack, At: at})
}

func TestConsumeEdgeCases(t *testing.T) {
	tests := []struct {
		name        string
		records     func(t *testing.T) []lambdaevents.SQSMessage
		answer      map[string]func() error
		noCreate    bool
		ctx         func() context.Context
		wantFail    []string
		wantHandled []string
		wantLog     string
	}{
		{
			name: "a panic fails its message and holds its group",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				return []lambdaevents.SQSMessage{record(t, "m1", approveOf("c1", "r1")), record(t, "m2", approveOf("c2", "r2")),
					record(t, "m3", approveOf("c3", "r1"))}
			},
			answer:      map[string]func() error{"c1": func() error { panic("nil map") }},
			wantFail:    []string{"m1", "m3"},
			wantHandled: []string{"c1", "c2"},
			wantLog:     "panic handling approve message c1: nil map",
		},
		{
			name: "a grant task has no business on the events queue",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				return []lambdaevents.SQSMessage{record(t, "m1", events.GrantTask("t1", "g1", events.ActionEscalate, at))}
			},
			wantFail: []string{"m1"},
			wantLog:  "message not for this queue",
		},
		{
			name: "a create without a Create handler fails",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				return []lambdaevents.SQSMessage{record(t, "m1", events.FromCreate(events.Create{RequestID: "r1", Flow: "f",
					UserEmail: "ada@example.com", Source: latch.SourceSlack}, at))}
			},
			noCreate: true,
			wantFail: []string{"m1"},
			wantLog:  "message not for this queue",
		},
		{
			name: "out of time: nothing is handled, everything comes back",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				return []lambdaevents.SQSMessage{record(t, "m1", approveOf("c1", "r1")), record(t, "m2", approveOf("c2", "r2"))}
			},
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantFail: []string{"m1", "m2"},
			wantLog:  "out of time",
		},
		{
			name: "close to the deadline: nothing more is started, so the answer gets back",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				return []lambdaevents.SQSMessage{record(t, "m1", approveOf("c1", "r1"))}
			},
			ctx: func() context.Context {
				ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(sqsqueue.Margin/2))
				t.Cleanup(cancel)
				return ctx
			},
			wantFail: []string{"m1"},
			wantLog:  "less than",
		},
		{
			name: "a version conflict that outlasted the engine's retries is retried",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				return []lambdaevents.SQSMessage{record(t, "m1", approveOf("c1", "r1"))}
			},
			answer:      map[string]func() error{"c1": func() error { return fmt.Errorf("approve r1: %w", latch.ErrConflict) }},
			wantFail:    []string{"m1"},
			wantHandled: []string{"c1"},
			wantLog:     "message failed; it is retried",
		},
		{
			name: "not JSON",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				return []lambdaevents.SQSMessage{{MessageId: "m1", Body: "approve r1",
					Attributes: map[string]string{"MessageGroupId": "r1"}}, record(t, "m2", approveOf("c2", "r1"))}
			},
			wantFail: []string{"m1", "m2"},
			wantLog:  "body=\"approve r1\"",
		},
		{
			name: "records of a standard queue have no group to hold",
			records: func(t *testing.T) []lambdaevents.SQSMessage {
				a, b := record(t, "m1", approveOf("c1", "r1")), record(t, "m2", approveOf("c2", "r1"))
				a.Attributes, b.Attributes = nil, nil
				return []lambdaevents.SQSMessage{a, b}
			},
			answer:      map[string]func() error{"c1": func() error { return errors.New("down") }},
			wantFail:    []string{"m1"},
			wantHandled: []string{"c1", "c2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &handlers{answer: tt.answer}
			c, logs := consumer(h)
			if tt.noCreate {
				c.Create = nil
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			resp, err := c.Consume(ctx, lambdaevents.SQSEvent{Records: tt.records(t)})
			if err != nil {
				t.Fatalf("Consume: %v", err)
			}
			if diff := cmp.Diff(tt.wantFail, failures(resp)); diff != "" {
				t.Errorf("failures (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantHandled, h.handled); diff != "" {
				t.Errorf("handled (-want +got):\n%s", diff)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		give error
		want bool
	}{
		{name: "nil", give: nil, want: false},
		{name: "a plain error", give: errors.New("connection reset"), want: false},
		{name: "out of time", give: fmt.Errorf("load: %w", context.DeadlineExceeded), want: false},
		{name: "request exists", give: fmt.Errorf("create request r1: %w", engine.ErrExists), want: true},
		{name: "forbidden", give: latch.Errorf(latch.KindForbidden, "not_an_approver", "no"), want: true},
		{name: "conflict", give: fmt.Errorf("approve r1: %w", latch.Errorf(latch.KindConflict, "not_pending", "no")), want: true},
		{name: "not found", give: latch.Errorf(latch.KindNotFound, "request_not_found", "no"), want: true},
		{name: "invalid", give: latch.Errorf(latch.KindInvalid, "bad_field", "no"), want: true},
		{name: "unauthorized", give: latch.Errorf(latch.KindUnauthorized, "no_token", "no"), want: true},
		{name: "internal", give: &latch.Error{Kind: latch.KindInternal, Code: "store", Err: errors.New("x")}, want: false},
		{name: "too many", give: latch.Errorf(latch.KindTooMany, "slow_down", "no"), want: false},
		{name: "version conflict", give: fmt.Errorf("approve r1: %w", latch.ErrConflict), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sqsqueue.Refused(tt.give); got != tt.want {
				t.Errorf("Refused(%v) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}
