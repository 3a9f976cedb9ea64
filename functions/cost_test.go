package functions_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/sfngrants"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// counter counts AWS API calls by service and operation, and the DynamoDB
// items they write or read.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
	items map[string]int
}

func newCounter() *counter {
	c := &counter{}
	c.reset()
	return c
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.items = map[string]int{}, map[string]int{}
}

// report reports every count divided by n, as metrics per unit.
func (c *counter) report(b *testing.B, n int, unit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := make([]string, 0, len(c.calls))
	for op := range c.calls {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var lines []string
	for _, op := range ops {
		per := float64(c.calls[op]) / float64(n)
		b.ReportMetric(per, strings.ReplaceAll(op, ":", "_")+"/"+unit)
		if strings.HasPrefix(op, "dynamodb:") && c.items[op] != c.calls[op] {
			b.ReportMetric(float64(c.items[op])/float64(n), strings.ReplaceAll(op, ":", "_")+"_items/"+unit)
		}
		lines = append(lines, fmt.Sprintf("%s %.1f", op, per))
	}
	b.Logf("per %s: %s", unit, strings.Join(lines, ", "))
}

func (c *counter) add(op string, items int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	c.items[op] += items
}

// middleware counts each DynamoDB call and the items it names.
func (c *counter) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("latch-count",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			items := 1
			switch p := in.Parameters.(type) {
			case *dynamodb.TransactWriteItemsInput:
				items = len(p.TransactItems)
			case *dynamodb.BatchWriteItemInput:
				items = 0
				for _, w := range p.RequestItems {
					items += len(w)
				}
			}
			c.add("dynamodb:"+awsmiddleware.GetOperationName(ctx), items)
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// queue is the events queue: the Publisher's SQS client, keeping what is
// sent in order.
type queue struct {
	c    *counter
	mu   sync.Mutex
	msgs []string
}

func (q *queue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.c.add("sqs:SendMessage", 1)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, aws.ToString(in.MessageBody))
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

// drain hands every message sent so far to the approvals function's
// consumer, one SQS batch each (a receive and a delete), until none is left.
func (q *queue) drain(tb testing.TB, cons *sqsqueue.Consumer) {
	for {
		q.mu.Lock()
		msgs := q.msgs
		q.msgs = nil
		q.mu.Unlock()
		if len(msgs) == 0 {
			return
		}
		for _, body := range msgs {
			q.c.add("sqs:ReceiveMessage", 1)
			q.c.add("sqs:DeleteMessage", 1)
			q.c.add("lambda:approvals", 1)
			ev := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{{MessageId: "m", Body: body,
				Attributes: map[string]string{"MessageGroupId": "g"}}}}
			resp, err := cons.Consume(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) > 0 {
				tb.Fatalf("approvals failed on %s: %v %v", body, err, resp.BatchItemFailures)
			}
		}
	}
}

// stateMachine stands for Step Functions: it counts the runner's API calls
// and remembers each grant's current Hold token.
type stateMachine struct {
	c       *counter
	started []string
	answers map[string]string // task token → the answer it got
}

func (s *stateMachine) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	s.c.add("states:StartExecution", 1)
	s.started = append(s.started, aws.ToString(in.Name))
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:aws:states:us-east-1:000000000000:execution:Grants:" + aws.ToString(in.Name))}, nil
}

func (s *stateMachine) DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	s.c.add("states:DescribeExecution", 1)
	return &sfn.DescribeExecutionOutput{Status: "RUNNING"}, nil
}

func (s *stateMachine) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	s.c.add("states:SendTaskSuccess", 1)
	s.answers[aws.ToString(in.TaskToken)] = aws.ToString(in.Output)
	return &sfn.SendTaskSuccessOutput{}, nil
}

type grantEscalator struct{}

func (grantEscalator) Grant(context.Context, latch.GrantSpec) error  { return nil }
func (grantEscalator) Revoke(context.Context, latch.GrantSpec) error { return nil }

// awsRig is the AWS side over DynamoDB Local with every call counted: the
// store, the events queue's publisher, Step Functions and the grant
// runner.
type awsRig struct {
	c      *counter
	store  *dynamostore.Store
	q      *queue
	pub    *sqsqueue.Publisher
	sm     *stateMachine
	runner *sfngrants.Runner
}

func newAWSRig(b *testing.B) *awsRig {
	c := newCounter()
	client := dynamotest.NewClient(dynamotest.Endpoint(b), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, c.middleware)
	})
	table := dynamotest.TableName(b)
	if err := dynamostore.CreateTable(b.Context(), client, table); err != nil {
		b.Fatal(err)
	}
	r := &awsRig{c: c, store: dynamostore.New(client, table), q: &queue{c: c}, sm: &stateMachine{c: c, answers: map[string]string{}}}
	c.reset() // the table's creation is not what is measured
	r.pub = &sqsqueue.Publisher{Client: r.q, QueueURL: "https://sqs.us-east-1.amazonaws.com/000000000000/Events.fifo"}
	var err error
	r.runner, err = sfngrants.NewRunner(sfngrants.RunnerConfig{SFN: r.sm, StateMachineARN: "arn:aws:states:us-east-1:000000000000:stateMachine:Grants",
		Grants: r.store, Tokens: r.store, Escalator: func(context.Context, latch.Grant) (string, error) { return "escalator", nil }})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkGrantAWSCalls runs whole grants through the AWS adapters — the
// API edge, the approvals consumer, the grant runner, the escalator and
// grant-task handlers, and the reconciler's sweep — against DynamoDB Local,
// and reports the AWS API calls one grant makes (per grant, as metrics).
// The state machine's own transitions are counted in pkg/sfngrants'
// TestNormalPath (its asserted path). docs/benchmarks.md turns the counts
// into a monthly cost.
func BenchmarkGrantAWSCalls(b *testing.B) {
	rig := newAWSRig(b)
	c, store, q, pub, sm, runner := rig.c, rig.store, rig.q, rig.pub, rig.sm, rig.runner
	f := &latch.Flow{Name: "prod", AllowRevoke: true, ScheduleDeescalation: true,
		Fields:   []latch.Field{{Name: "reason", Type: latch.FieldString, Required: true}},
		Approval: latch.Approval{Approvers: []string{"lead@example.com"}, Quorum: 1},
		Strategy: &latch.Strategy{Type: "webhook", Targets: []latch.Target{{ID: "db"}}}}
	flows := engine.NewFlowSet([]*latch.Flow{f})
	expiries := &reconcile.Expiries{Store: store, Queue: pub}
	users := &engine.Users{Store: store, Clock: latch.SystemClock}
	eng, err := engine.New(engine.Config{Store: store, Flows: flows, Users: users, Runner: runner, Scheduler: expiries})
	if err != nil {
		b.Fatal(err)
	}
	cons := sqsqueue.NewConsumer(eng, nil)
	tasks := &sfngrants.TaskHandler{Store: store, Flows: flows, Tokens: store, Completer: sfngrants.Callbacks{SFN: sm}, Reports: pub,
		Escalator: func(*latch.Flow) (latch.Escalator, error) { return grantEscalator{}, nil }}
	ctx := context.Background()
	task := func(fn string, in sfngrants.TaskInput) {
		c.add("lambda:"+fn, 1)
		if _, err := tasks.Handle(ctx, in); err != nil { // the tasks send their reports
			b.Fatalf("%s %s: %v", fn, in.Action, err)
		}
	}

	b.ResetTimer()
	for i := range b.N {
		// The API edge checks the request and hands it on; approvals
		// records it.
		c.add("lambda:api", 1)
		in := engine.CreateInput{Flow: "prod", UserEmail: fmt.Sprintf("dev%d@example.com", i), Source: latch.SourceAPI,
			Fields: map[string]any{"reason": "cost"}}
		ch, err := eng.Prepare(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		in.ID = ch.Requests[0].ID
		if err := pub.PublishCreate(ctx, in); err != nil {
			b.Fatal(err)
		}
		q.drain(b, cons)
		// An approver approves in Slack: the edge checks, approvals applies
		// and starts the grant's execution.
		c.add("lambda:slack", 1)
		approve := latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdApprove, RequestID: in.ID,
			Actor: latch.Actor{Email: "lead@example.com"}, Source: latch.SourceSlack, At: time.Now()}
		if err := eng.Check(ctx, approve); err != nil {
			b.Fatal(err)
		}
		if err := pub.Publish(ctx, approve); err != nil {
			b.Fatal(err)
		}
		q.drain(b, cons)
		r, err := store.GetRequest(ctx, in.ID)
		if err != nil || r.GrantID == "" {
			b.Fatalf("request %+v %v: no grant", r, err)
		}
		// The execution: escalate (and report), Hold until the end, a Hold
		// that reports due, the engine answers it with deescalate, revoke
		// (and report).
		task("escalator", sfngrants.TaskInput{GrantID: r.GrantID, Action: sfngrants.ActionEscalate})
		q.drain(b, cons)
		g, err := store.GetGrant(ctx, r.GrantID)
		if err != nil || g.Status != latch.GrantActive {
			b.Fatalf("grant %+v %v: not active", g, err)
		}
		end, _ := g.NextDue()
		hold := sfngrants.HoldFor(end, true, time.Now(), sfngrants.Timing{})
		token := "token-" + g.ID
		task("granttasks", sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionHold, TaskToken: token, Hold: hold})
		// The Hold times out at the end: the Hold after it records its token,
		// reads the grant and sends due (the end is still to come here, so
		// the due is sent for it).
		task("granttasks", sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionHold, TaskToken: token + "-2",
			Hold: &sfngrants.Hold{Until: end.UTC().Format(time.RFC3339Nano), Seconds: 900}})
		due := events.Message{Version: events.Version, Type: events.TypeDue, ID: fmt.Sprintf("due/%s/%d", g.ID, end.UnixNano()),
			At: end, GrantID: g.ID}
		if err := pub.Send(ctx, due); err != nil {
			b.Fatal(err)
		}
		q.drain(b, cons)
		task("escalator", sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionDeescalate})
		q.drain(b, cons)
		if r, _ := store.GetRequest(ctx, in.ID); r.Status != latch.StatusEnded {
			b.Fatalf("request %s is %s, want ended", r.ID, r.Status)
		}
	}
	b.StopTimer()
	c.report(b, b.N, "grant")
}

// BenchmarkIdleReconcileAWSCalls is one run of the reconciler function on
// a deployment with nothing under way: the fixed cost of running it every
// minute.
func BenchmarkIdleReconcileAWSCalls(b *testing.B) {
	rig := newAWSRig(b)
	c, store, pub, runner := rig.c, rig.store, rig.pub, rig.runner
	expiries := &reconcile.Expiries{Store: store, Queue: pub}
	eng, err := engine.New(engine.Config{Store: store, Flows: engine.NewFlowSet(nil), Runner: runner, Scheduler: expiries})
	if err != nil {
		b.Fatal(err)
	}
	rc := &reconcile.Reconciler{Store: store, Queue: pub, Runner: runner, Outbox: eng, Expiries: expiries}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := rc.Run(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.report(b, b.N, "run")
}
