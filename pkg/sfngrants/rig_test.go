package sfngrants_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// The rig wires what runs on AWS, in one process: the engine (as the
// approvals function runs it) on a bbolt store, the sfngrants Runner as its
// GrantRunner, the real SDK client, the state machine from Definition() run
// by localSFN, and the TaskHandler as both the escalator function and the
// grant-task function. The events queue is a FIFO list consumed by the
// engine; the dead-letter queue is recorded.

const (
	ann = "ann@example.com" // requests
	bob = "bob@example.com" // approves
	dan = "dan@example.com" // an admin

	flowName = "prod-access"
	targetID = "prod-admins"

	grantTaskFunction = "arn:aws:lambda:" + testRegion + ":" + testAccount + ":function:latch-grant-task"
	escalatorFunction = "arn:aws:lambda:" + testRegion + ":" + testAccount + ":function:latch-escalator-webhook"
	eventsQueueURL    = "https://sqs." + testRegion + ".amazonaws.com/" + testAccount + "/latch-events.fifo"
	deadLetterURL     = "https://sqs." + testRegion + ".amazonaws.com/" + testAccount + "/latch-events-dlq.fifo"
)

// wait bounds every wait for an asynchronous result; it is only reached
// when something is wrong.
const wait = 20 * time.Second

func testFlow() *latch.Flow {
	return &latch.Flow{
		Name:                 flowName,
		Label:                "Production access",
		AllowRevoke:          true,
		ScheduleDeescalation: true,
		AllowScheduledStart:  true,
		Fields: []latch.Field{
			{Name: "reason", Type: latch.FieldString, Required: true},
			{Name: latch.FieldNameDuration, Type: latch.FieldDuration, Default: int64(3600)},
		},
		Approval: latch.Approval{Approvers: []string{bob}, Quorum: 1},
		Strategy: &latch.Strategy{Type: "webhook",
			Config: map[string]any{"url": "https://escalator.example.com/latch", "secret_env": "LATCH_WEBHOOK_SECRET"},
			Targets: []latch.Target{{ID: targetID, Label: "Production admins",
				Settings: map[string]any{"group": "prod-admins"}}}},
		Extension: &latch.Extension{MaxTotal: 24 * time.Hour, AutoWithin: 24 * time.Hour},
	}
}

// testClock is the real time plus an offset tests move forward.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().UTC().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// fakeEscalator answers Grant and Revoke from a script per action (the last
// answer repeats; none means success) and records the calls.
type fakeEscalator struct {
	mu     sync.Mutex
	script map[string][]error
	panics map[string]bool
	calls  []string // "grant <grant id>" / "revoke <grant id>"
	given  map[string][]latch.GrantSpec
	// follows makes it the escalator of a target told the grant's end
	// (latch.EndFollower): a webhook, a customer's Lambda.
	follows bool
}

func (f *fakeEscalator) FollowsEnd() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.follows
}

func (f *fakeEscalator) on(action string, answers ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.script == nil {
		f.script = map[string][]error{}
	}
	f.script[action] = answers
}

func (f *fakeEscalator) Grant(_ context.Context, g latch.GrantSpec) error { return f.call("grant", g) }
func (f *fakeEscalator) Revoke(_ context.Context, g latch.GrantSpec) error {
	return f.call("revoke", g)
}

func (f *fakeEscalator) call(action string, g latch.GrantSpec) error {
	f.mu.Lock()
	f.calls = append(f.calls, action+" "+g.GrantID)
	if f.given == nil {
		f.given = map[string][]latch.GrantSpec{}
	}
	f.given[action] = append(f.given[action], g)
	var err error
	if s := f.script[action]; len(s) > 0 {
		err = s[0]
		if len(s) > 1 {
			f.script[action] = s[1:]
		}
	}
	f.mu.Unlock()
	return err
}

func (f *fakeEscalator) specs(action string) []latch.GrantSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.given[action])
}

func (f *fakeEscalator) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if len(c) > len(action) && c[:len(action)+1] == action+" " {
			n++
		}
	}
	return n
}

// sent is one SendMessage of the state machine.
type sent struct {
	Queue, Body, Group, Dedup string
}

type rig struct {
	t      *testing.T
	clock  *testClock
	store  *boltstore.Store
	eng    *engine.Engine
	sfn    *localSFN
	runner *sfngrants.Runner
	tasks  *sfngrants.TaskHandler
	tokens *sfngrants.MemoryTokens
	esc    *fakeEscalator

	mu      sync.Mutex
	cond    *sync.Cond
	sent    []sent
	queue   []events.Message // the events queue, not yet consumed
	paused  bool             // the approvals consumer does not take messages
	stopped bool
	busy    bool // the consumer is handling a message
	// sqsFail, when set, answers a SendMessage to queue with an error.
	sqsFail func(queue string) error
	// beforeTask, when set, is called before a Lambda task runs.
	beforeTask func(state string, in sfngrants.TaskInput)
	consumed   sync.WaitGroup
}

func newRig(t *testing.T) *rig {
	t.Helper()
	def, err := sfngrants.Definition(sfngrants.Resources{GrantTaskFunction: grantTaskFunction,
		DeadLetterQueueURL: deadLetterURL, DeadLetterFIFO: true})
	if err != nil {
		t.Fatal(err)
	}
	rt := &rig{t: t, clock: &testClock{}, esc: &fakeEscalator{}, tokens: &sfngrants.MemoryTokens{}}
	rt.cond = sync.NewCond(&rt.mu)
	rt.sfn = newLocalSFN(t, def)
	rt.sfn.task = rt.task
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	rt.store = store
	client := rt.sfn.client()
	flows := engine.NewFlowSet([]*latch.Flow{testFlow()})
	rt.runner, err = sfngrants.NewRunner(sfngrants.RunnerConfig{SFN: client, StateMachineARN: testStateMachineARN,
		Grants: store, Tokens: rt.tokens, Clock: rt.clock,
		Escalator: func(context.Context, latch.Grant) (string, error) { return escalatorFunction, nil }})
	if err != nil {
		t.Fatal(err)
	}
	rt.tasks = &sfngrants.TaskHandler{Store: store, Flows: flows,
		Reports:   &sqsqueue.Publisher{Client: rigSQS{rt}, QueueURL: eventsQueueURL},
		Escalator: func(*latch.Flow) (latch.Escalator, error) { return rt.esc, nil },
		Tokens:    rt.tokens, Completer: sfngrants.Callbacks{SFN: client}, Clock: rt.clock}
	users := &engine.Users{Store: store, Clock: rt.clock, RoleFor: func(_ context.Context, email string) (latch.Role, error) {
		if email == dan {
			return latch.RoleAdmin, nil
		}
		return latch.RoleMember, nil
	}}
	rt.eng, err = engine.New(engine.Config{Store: store, Flows: flows, Clock: rt.clock, Users: users,
		Runner: rt.runner, Scheduler: &sfngrants.Starts{SFN: client, StateMachineARN: testStateMachineARN, Next: noScheduler{}},
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rt.consumed.Add(1)
	go rt.consume()
	t.Cleanup(func() {
		rt.mu.Lock()
		rt.stopped = true
		rt.cond.Broadcast()
		rt.mu.Unlock()
		rt.consumed.Wait()
		rt.sfn.close()
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return rt
}

type noScheduler struct{}

func (noScheduler) At(context.Context, time.Time, latch.Command) error { return nil }

// task stands in for Lambda (the TaskHandler behind both functions) and SQS.
func (rt *rig) task(ex *execution, state, resource string, input json.RawMessage, token string) taskReply {
	switch resource {
	case "arn:aws:states:::lambda:invoke", "arn:aws:states:::lambda:invoke.waitForTaskToken":
		var p struct {
			FunctionName string
			Payload      sfngrants.TaskInput
		}
		if err := json.Unmarshal(input, &p); err != nil {
			rt.t.Errorf("%s: lambda parameters %s: %v", state, input, err)
			return taskReply{Error: "States.Runtime"}
		}
		want := grantTaskFunction
		if p.Payload.Action == sfngrants.ActionEscalate || p.Payload.Action == sfngrants.ActionDeescalate || p.Payload.Action == sfngrants.ActionCleanUp ||
			p.Payload.Action == sfngrants.ActionRegrant {
			want = escalatorFunction
		}
		if p.FunctionName != want {
			rt.t.Errorf("%s invokes %s for %q, want %s", state, p.FunctionName, p.Payload.Action, want)
		}
		if token != "" && p.Payload.TaskToken != token {
			rt.t.Errorf("%s: payload token %q, want the task's token %q", state, p.Payload.TaskToken, token)
		}
		rt.mu.Lock()
		before := rt.beforeTask
		rt.mu.Unlock()
		if before != nil {
			before(state, p.Payload)
		}
		out, err := rt.tasks.Handle(context.Background(), p.Payload)
		if err != nil {
			return lambdaError(err)
		}
		return taskReply{Output: map[string]any{"Payload": out, "StatusCode": 200, "ExecutedVersion": "$LATEST"}}
	case "arn:aws:states:::sqs:sendMessage":
		var p struct {
			QueueURL    string          `json:"QueueUrl"`
			MessageBody json.RawMessage `json:"MessageBody"`
			Group       string          `json:"MessageGroupId"`
			Dedup       string          `json:"MessageDeduplicationId"`
		}
		if err := json.Unmarshal(input, &p); err != nil {
			rt.t.Errorf("%s: sqs parameters %s: %v", state, input, err)
			return taskReply{Error: "States.Runtime"}
		}
		// A string body is sent as it is; an object is sent as its JSON.
		body := string(p.MessageBody)
		var s string
		if json.Unmarshal(p.MessageBody, &s) == nil {
			body = s
		}
		if err := rt.send(state, sent{Queue: p.QueueURL, Body: body, Group: p.Group, Dedup: p.Dedup}); err != nil {
			return taskReply{Error: "SQS.AmazonSQSException", Cause: err.Error()}
		}
		return taskReply{Output: map[string]any{"MessageId": "m-" + p.Dedup, "MD5OfMessageBody": "x"}}
	}
	rt.t.Errorf("%s: unexpected resource %s", state, resource)
	return taskReply{Error: "States.Runtime"}
}

// send is SQS: it records m, and hands a message of the events queue to
// the approvals consumer. sqsFail may refuse it.
func (rt *rig) send(from string, m sent) error {
	rt.mu.Lock()
	fail := rt.sqsFail
	rt.mu.Unlock()
	if fail != nil {
		if err := fail(m.Queue); err != nil {
			return err
		}
	}
	rt.mu.Lock()
	rt.sent = append(rt.sent, m)
	rt.mu.Unlock()
	if m.Queue != eventsQueueURL {
		return nil
	}
	ev, err := events.Unmarshal([]byte(m.Body))
	if err != nil {
		rt.t.Errorf("%s sent a message the approvals function cannot read: %v\n%s", from, err, m.Body)
		return nil
	}
	if m.Group != ev.OrderKey() || m.Dedup != ev.ID {
		rt.t.Errorf("%s: group %q, dedup %q; want %q, %q", from, m.Group, m.Dedup, ev.OrderKey(), ev.ID)
	}
	rt.mu.Lock()
	rt.queue = append(rt.queue, ev)
	rt.cond.Broadcast()
	rt.mu.Unlock()
	return nil
}

// rigSQS is the SQS client of the tasks' Reports (an sqsqueue.Publisher).
type rigSQS struct{ rt *rig }

func (q rigSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	err := q.rt.send("a task", sent{Queue: aws.ToString(in.QueueUrl), Body: aws.ToString(in.MessageBody),
		Group: aws.ToString(in.MessageGroupId), Dedup: aws.ToString(in.MessageDeduplicationId)})
	if err != nil {
		return nil, err
	}
	return &sqs.SendMessageOutput{MessageId: aws.String("m-" + aws.ToString(in.MessageDeduplicationId))}, nil
}

// consume is the approvals function: it hands each message of the events
// queue to the engine, in order.
func (rt *rig) consume() {
	defer rt.consumed.Done()
	for {
		rt.mu.Lock()
		for !rt.stopped && (rt.paused || len(rt.queue) == 0) {
			rt.cond.Wait()
		}
		if rt.stopped {
			rt.mu.Unlock()
			return
		}
		m := rt.queue[0]
		rt.queue = rt.queue[1:]
		rt.busy = true
		rt.mu.Unlock()
		cmd, err := m.Command()
		if err == nil {
			err = rt.eng.Handle(context.Background(), cmd)
		}
		if err != nil {
			rt.t.Errorf("approvals: %s %s: %v", m.Type, m.ID, err)
		}
		rt.mu.Lock()
		rt.busy = false
		rt.cond.Broadcast()
		rt.mu.Unlock()
	}
}

// pause stops the approvals consumer before its next message; resume starts it.
func (rt *rig) pause() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.paused = true
	for rt.busy {
		rt.cond.Wait()
	}
}

// idle waits until the approvals consumer has handled the message it is
// on, effects included.
func (rt *rig) idle() {
	rt.pause()
	rt.resume()
}

func (rt *rig) resume() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.paused = false
	rt.cond.Broadcast()
}

func (rt *rig) setBeforeTask(f func(state string, in sfngrants.TaskInput)) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.beforeTask = f
}

func (rt *rig) setSQSFail(f func(queue string) error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.sqsFail = f
}

// reports returns the types of the messages sent to queue, in order.
func (rt *rig) reports(queue string) []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []string
	for _, s := range rt.sent {
		if s.Queue != queue {
			continue
		}
		if queue == eventsQueueURL {
			m, _ := events.Unmarshal([]byte(s.Body))
			out = append(out, string(m.Type))
		} else {
			out = append(out, s.Body)
		}
	}
	return out
}

// messages returns the events sent, in order.
func (rt *rig) messages() []events.Message {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []events.Message
	for _, s := range rt.sent {
		if s.Queue == eventsQueueURL {
			m, _ := events.Unmarshal([]byte(s.Body))
			out = append(out, m)
		}
	}
	return out
}

// create submits ann's request with the given duration, and bob approves it.
func (rt *rig) request(duration string) latch.Request {
	rt.t.Helper()
	r, err := rt.eng.Create(context.Background(), engine.CreateInput{Flow: flowName, UserEmail: ann,
		Source: latch.SourceAPI, Fields: map[string]any{"reason": "incident 4211", latch.FieldNameDuration: duration}})
	if err != nil {
		rt.t.Fatalf("create: %v", err)
	}
	rt.do(latch.CmdApprove, r.ID, bob)
	return r
}

// do has a person give a command, as the API would.
func (rt *rig) do(kind latch.CommandKind, requestID, by string) {
	rt.t.Helper()
	err := rt.eng.Handle(context.Background(), latch.Command{ID: engine.NewID("cmd"), Kind: kind, RequestID: requestID,
		Actor: latch.Actor{Email: by}, Source: latch.SourceAPI, At: rt.clock.Now()})
	if err != nil {
		rt.t.Fatalf("%s %s by %s: %v", kind, requestID, by, err)
	}
}

func (rt *rig) req(id string) latch.Request {
	rt.t.Helper()
	r, err := rt.store.GetRequest(context.Background(), id)
	if err != nil {
		rt.t.Fatal(err)
	}
	return r
}

func (rt *rig) grant(id string) latch.Grant {
	rt.t.Helper()
	g, err := rt.store.GetGrant(context.Background(), id)
	if err != nil {
		rt.t.Fatal(err)
	}
	return g
}

// waitGrant waits until the grant satisfies ok, and returns it.
func (rt *rig) waitGrant(id string, ok func(latch.Grant) bool) latch.Grant {
	rt.t.Helper()
	var g latch.Grant
	eventually(rt.t, func() bool { g = rt.grant(id); return ok(g) },
		func() string { return "grant " + id + " is " + string(g.Status) })
	return g
}

// waitFor waits until the request has status want, and returns it.
func (rt *rig) waitFor(id string, want latch.Status) latch.Request {
	rt.t.Helper()
	var r latch.Request
	eventually(rt.t, func() bool { r = rt.req(id); return r.Status == want },
		func() string { return "request " + id + " is " + string(r.Status) + ", want " + string(want) })
	return r
}

// execution waits for the execution called name to exist.
func (rt *rig) execution(name string) *execution {
	rt.t.Helper()
	var ex *execution
	eventually(rt.t, func() bool { ex = rt.sfn.execution(name); return ex != nil },
		func() string { return "no execution " + name })
	return ex
}

// holding waits until ex waits in a Hold whose input satisfies ok, and
// returns that Hold.
func (rt *rig) holding(ex *execution, ok func(sfngrants.Hold) bool) sfngrants.Hold {
	rt.t.Helper()
	var h sfngrants.Hold
	eventually(rt.t, func() bool {
		cb := rt.sfn.waiting(ex)
		if cb == nil {
			return false
		}
		var p struct{ Payload sfngrants.TaskInput }
		if err := json.Unmarshal(cb.Input, &p); err != nil || p.Payload.Hold == nil {
			return false
		}
		h = *p.Payload.Hold
		if cb.Timeout != h.Seconds {
			rt.t.Errorf("the Hold times out after %ds; its hold says %ds", cb.Timeout, h.Seconds)
		}
		return ok(h)
	}, func() string {
		return "execution " + ex.Name + " is not in the expected Hold; last seen " + jsonString(h)
	})
	return h
}

// holdUntil is a Hold check: it holds until end (not a Recheck).
func holdUntil(end time.Time) func(sfngrants.Hold) bool {
	want := end.UTC().Format(time.RFC3339Nano)
	return func(h sfngrants.Hold) bool { return h.Until == want && !h.Recheck }
}

func eventually(t testing.TB, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, why())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// contains reports whether path (the states an execution entered) passes
// through seq in order, other states in between allowed.
func contains(path []string, seq ...string) bool {
	i := 0
	for _, s := range path {
		if i < len(seq) && s == seq[i] {
			i++
		}
	}
	return i == len(seq)
}

var errDown = errors.New("target API: 503 Service Unavailable")
