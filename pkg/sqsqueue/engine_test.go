package sqsqueue_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// capturedSQS keeps what a Publisher sends and delivers it as Lambda would:
// one batch, each record with the group and dedup id it was sent with.
type capturedSQS struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
}

func (c *capturedSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String(fmt.Sprintf("m%d", len(c.sent)))}, nil
}

func (c *capturedSQS) batch() lambdaevents.SQSEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ev lambdaevents.SQSEvent
	for i, in := range c.sent {
		ev.Records = append(ev.Records, lambdaevents.SQSMessage{MessageId: fmt.Sprintf("m%d", i+1), Body: aws.ToString(in.MessageBody),
			EventSource: "aws:sqs", Attributes: map[string]string{"MessageGroupId": aws.ToString(in.MessageGroupId),
				"MessageDeduplicationId": aws.ToString(in.MessageDeduplicationId), "ApproximateReceiveCount": "1"}})
	}
	c.sent = nil
	return ev
}

// ports is a grant runner and scheduler that records what it is asked.
type ports struct {
	mu    sync.Mutex
	calls []string
}

func (p *ports) add(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, s)
	return nil
}
func (p *ports) Escalate(_ context.Context, id string) error   { return p.add("escalate") }
func (p *ports) Deescalate(_ context.Context, id string) error { return p.add("deescalate") }
func (p *ports) Wake(_ context.Context, id string, _ time.Time) error {
	return p.add("wake")
}
func (p *ports) At(_ context.Context, _ time.Time, cmd latch.Command) error {
	return p.add("at " + string(cmd.Kind))
}

// TestConsumerDrivesTheEngine sends through the Publisher what the edges
// send, and hands the batch to the approvals function's consumer over a real
// engine and store: the request is created and approved, and the engine's
// refusals (a repeated create, a self-approval, an unknown request) are done
// rather than retried. With the store gone, everything is retried.
func TestConsumerDrivesTheEngine(t *testing.T) {
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &ports{}
	flow := &latch.Flow{Name: "prod", Label: "Prod", AllowRevoke: true, ScheduleDeescalation: true,
		Fields:   []latch.Field{{Name: "reason", Type: latch.FieldString, Required: true}},
		Approval: latch.Approval{Quorum: 1, Timeout: time.Hour, Approvers: []string{"grace@example.com"}},
		Strategy: &latch.Strategy{Type: "webhook", Targets: []latch.Target{{ID: "db", Label: "DB"}}}}
	eng, err := engine.New(engine.Config{Store: st, Flows: engine.NewFlowSet([]*latch.Flow{flow}), Runner: rec, Scheduler: rec})
	if err != nil {
		t.Fatal(err)
	}
	queue := &capturedSQS{}
	p := &sqsqueue.Publisher{Client: queue, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/latch-events.fifo"}
	create := engine.CreateInput{ID: "req_1", Flow: "prod", UserEmail: "Bob@Example.com", Source: latch.SourceAPI,
		CreatedBy: latch.Actor{Email: "bob@example.com", Bot: "ci"}, Fields: map[string]any{"reason": "deploy"}}
	person := func(id, request, email string) latch.Command {
		return latch.Command{ID: id, Kind: latch.CmdApprove, RequestID: request, Actor: latch.Actor{Email: email}, Source: latch.SourceSlack}
	}
	for _, publish := range []func() error{
		func() error { return p.PublishCreate(ctx, create) },
		func() error { return p.Publish(ctx, person("c1", "req_1", "bob@example.com")) },   // self-approval: forbidden
		func() error { return p.PublishCreate(ctx, create) },                               // a retry of the edge: exists
		func() error { return p.Publish(ctx, person("c2", "req_1", "grace@example.com")) }, // approved
		func() error { return p.Publish(ctx, person("c3", "req_404", "grace@example.com")) },
	} {
		if err := publish(); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	c := sqsqueue.NewConsumer(eng, slog.New(slog.NewTextHandler(&logs, nil)))
	resp, err := c.Consume(ctx, queue.batch())
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); len(got) != 0 {
		t.Errorf("failures = %v, want none", got)
	}
	r, err := st.GetRequest(ctx, "req_1")
	if err != nil {
		t.Fatalf("the request was not created: %v", err)
	}
	if r.Status != latch.StatusEscalating || r.Requester.Email != "bob@example.com" || r.CreatedBy.Bot != "ci" {
		t.Errorf("request = %+v, want escalating, by bob through ci", r)
	}
	var approvals []string
	for _, d := range r.Approvals {
		approvals = append(approvals, d.By.Email)
	}
	if diff := cmp.Diff([]string{"grace@example.com"}, approvals); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
	rec.mu.Lock()
	escalations := 0
	for _, call := range rec.calls {
		if call == "escalate" {
			escalations++
		}
	}
	rec.mu.Unlock()
	if escalations != 1 {
		t.Errorf("escalator started %d times, want once", escalations)
	}

	// A store that fails is not a refusal: the messages come back.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, person("c4", "req_1", "grace@example.com")); err != nil {
		t.Fatal(err)
	}
	resp, _ = c.Consume(ctx, queue.batch())
	if diff := cmp.Diff([]string{"m1"}, failures(resp)); diff != "" {
		t.Errorf("failures with the store closed (-want +got):\n%s", diff)
	}
	for _, want := range []string{"code=self_approval", "code=request_exists", "code=request_not_found", "message failed; it is retried"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// The expiry sweep of the AWS runtime publishes through SQS: the expire
// command, from the schedule, reaches the engine and expires the request.
func TestExpirySweepThroughTheQueue(t *testing.T) {
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flow := &latch.Flow{Name: "deploy", Approval: latch.Approval{Quorum: 1, Timeout: time.Minute, Approvers: []string{"grace@example.com"}}}
	queue := &capturedSQS{}
	p := &sqsqueue.Publisher{Client: queue, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/latch-events.fifo"}
	expiries := &reconcile.Expiries{Store: st, Queue: p, Clock: clockAt(time.Now().Add(2 * time.Minute))}
	eng, err := engine.New(engine.Config{Store: st, Flows: engine.NewFlowSet([]*latch.Flow{flow}), Runner: &ports{}, Scheduler: expiries})
	if err != nil {
		t.Fatal(err)
	}
	r, err := eng.Create(ctx, engine.CreateInput{Flow: "deploy", UserEmail: "bob@example.com", Source: latch.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := expiries.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the one expiry sent", n, err)
	}
	resp, err := sqsqueue.NewConsumer(eng, nil).Consume(ctx, queue.batch())
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Consume: %+v %v", resp, err)
	}
	if got, _ := st.GetRequest(ctx, r.ID); got.Status != latch.StatusExpired {
		t.Errorf("request is %s, want expired", got.Status)
	}
}

type clockAt time.Time

func (c clockAt) Now() time.Time { return time.Time(c) }

// A create the engine refuses for good is reported to CreateRefused (the
// edge already said it was sent); a repeated create and a recorded one are
// not.
func TestCreateRefusedIsTold(t *testing.T) {
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flow := &latch.Flow{Name: "deploy", Approval: latch.Approval{Quorum: 1, Approvers: []string{"grace@example.com"}}}
	eng, err := engine.New(engine.Config{Store: st, Flows: engine.NewFlowSet([]*latch.Flow{flow}), Runner: &ports{}, Scheduler: &ports{}})
	if err != nil {
		t.Fatal(err)
	}
	queue := &capturedSQS{}
	p := &sqsqueue.Publisher{Client: queue, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/latch-events.fifo"}
	var told []string
	c := sqsqueue.NewConsumer(eng, nil)
	c.CreateRefused = func(_ context.Context, in engine.CreateInput, refusal error) error {
		told = append(told, in.ID+" "+latch.ErrorCodeOf(refusal))
		return nil
	}
	for _, in := range []engine.CreateInput{
		{ID: "req_ok", Flow: "deploy", UserEmail: "bob@example.com", Source: latch.SourceAPI},
		{ID: "req_ok", Flow: "deploy", UserEmail: "bob@example.com", Source: latch.SourceAPI},
		{ID: "req_gone", Flow: "removed", UserEmail: "bob@example.com", Source: latch.SourceAPI},
	} {
		if err := p.PublishCreate(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.Consume(ctx, queue.batch())
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Consume: %+v %v", resp, err)
	}
	if len(told) != 1 || told[0] != "req_gone flow_not_found" {
		t.Errorf("told %v, want only the create of the flow that is gone", told)
	}
}
