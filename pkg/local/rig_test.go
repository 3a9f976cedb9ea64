package local_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
)

// People. Approvals come from bob (a listed approver) or dan (an admin).
const (
	ann = "ann@example.com"
	bob = "bob@example.com"
	cat = "cat@example.com"
	dan = "dan@example.com"
	eve = "eve@example.com"
	fay = "fay@example.com"
	hal = "hal@example.com"
)

const (
	flowName = "prod-access"
	targetID = "prod-admins"
)

// testBackoff retries quickly: three grant attempts, revokes and reports
// every few milliseconds.
var testBackoff = local.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, EscalateAttempts: 3,
	RevokeMax: 5 * time.Millisecond, RevokeLater: 5 * time.Millisecond, Report: 5 * time.Millisecond}

// testTarget is the flow's one target.
var testTarget = latch.Target{ID: targetID, Label: "Production admins",
	Settings: map[string]any{"account": "123456789012", "group": "prod-admins"}}

// testFlow is a webhook-like flow with one target, approved by bob, that
// expires pending requests after an hour and grants for an hour unless the
// duration field says otherwise.
func testFlow() *latch.Flow {
	return &latch.Flow{
		Name:                 flowName,
		Label:                "Production access",
		AllowRevoke:          true,
		ScheduleDeescalation: true,
		Fields: []latch.Field{
			{Name: "reason", Type: latch.FieldString, Required: true},
			{Name: latch.FieldNameDuration, Type: latch.FieldDuration, Default: int64(3600)},
		},
		Approval: latch.Approval{Approvers: []string{bob}, Quorum: 1, Timeout: time.Hour},
		Strategy: &latch.Strategy{Type: "webhook",
			Config:  map[string]any{"url": "https://escalator.example.com/latch", "secret_env": "LATCH_WEBHOOK_SECRET"},
			Targets: []latch.Target{testTarget}},
	}
}

// eventually fails the test unless cond becomes true within timeout. It
// polls; cond must be safe to call repeatedly.
func eventually(tb testing.TB, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wait is how long tests wait for asynchronous results: long enough for a
// loaded machine under -race, and only ever reached when something is wrong.
const wait = 10 * time.Second

// testClock is the real time plus an offset that tests move forward, so
// that deadlines and lease ends can pass without waiting for them. A
// benchmark may stop it (frozen, in Unix nanoseconds) while it sets up.
type testClock struct{ off, frozen atomic.Int64 }

func (c *testClock) Now() time.Time {
	if f := c.frozen.Load(); f != 0 {
		return time.Unix(0, f).UTC()
	}
	return time.Now().UTC().Add(time.Duration(c.off.Load()))
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// answer is one scripted reply of the fake escalator.
type answer struct {
	err   error           // returned
	panic any             // panicked with, when set
	wait  <-chan struct{} // blocks until closed (or the context ends) first
	do    func()          // called first
}

func succeed() answer                 { return answer{} }
func fail(msg string) answer          { return answer{err: errors.New(msg)} }
func failForGood(msg string) answer   { return answer{err: latch.Permanent(errors.New(msg))} }
func panicWith(v any) answer          { return answer{panic: v} }
func block(ch <-chan struct{}) answer { return answer{wait: ch} }

// escCall is one call the fake escalator received.
type escCall struct {
	Action string // "grant" or "revoke"
	Spec   latch.GrantSpec
}

// fakeEscalator records its calls and answers from a script per action and
// user; the last answer of a script repeats, and without a script it
// succeeds.
type fakeEscalator struct {
	mu     sync.Mutex
	script map[string][]answer
	calls  []escCall
}

var _ latch.Escalator = (*fakeEscalator)(nil)

func newFakeEscalator() *fakeEscalator { return &fakeEscalator{script: map[string][]answer{}} }

// on scripts the answers to action ("grant" or "revoke") for email.
func (f *fakeEscalator) on(action, email string, answers ...answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[action+"/"+email] = answers
}

func (f *fakeEscalator) Grant(ctx context.Context, g latch.GrantSpec) error {
	return f.call(ctx, "grant", g)
}

func (f *fakeEscalator) Revoke(ctx context.Context, g latch.GrantSpec) error {
	return f.call(ctx, "revoke", g)
}

func (f *fakeEscalator) call(ctx context.Context, action string, g latch.GrantSpec) error {
	f.mu.Lock()
	f.calls = append(f.calls, escCall{Action: action, Spec: g})
	key := action + "/" + g.User.Email
	a := answer{}
	if s := f.script[key]; len(s) > 0 {
		a = s[0]
		if len(s) > 1 {
			f.script[key] = s[1:]
		}
	}
	f.mu.Unlock()
	if a.do != nil {
		a.do()
	}
	if a.wait != nil {
		select {
		case <-a.wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if a.panic != nil {
		panic(a.panic)
	}
	return a.err
}

// specs returns the specs of the calls for action and email, in order.
func (f *fakeEscalator) specs(action, email string) []latch.GrantSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []latch.GrantSpec
	for _, c := range f.calls {
		if c.Action == action && c.Spec.User.Email == email {
			out = append(out, c.Spec)
		}
	}
	return out
}

// count returns how many calls for action and email there were.
func (f *fakeEscalator) count(action, email string) int { return len(f.specs(action, email)) }

// rigOptions adjust a rig.
type rigOptions struct {
	path     string // the store file; a new one when empty
	clock    *testClock
	esc      *fakeEscalator
	backoff  local.Backoff
	identity func(ctx context.Context, f *latch.Flow, user latch.UserRef) (string, error)
	// after is called inside Publish once the engine has handled a command.
	after func(cmd latch.Command, err error)
	// flows are the loaded flows; testFlow when nil.
	flows []*latch.Flow
	// metric is the runner's overdue metric.
	metric func(grantID string)
	// escalator, when set, is the escalator instead of esc (which still
	// serves the rig's helpers).
	escalator latch.Escalator
	// unavailable, when set, is the error of building every escalator.
	unavailable error
	// workers is the runner's bound per escalator (RunnerConfig.Workers).
	workers int
	// runnerStore, when set, is the store the runner is given, wrapping
	// the rig's.
	runnerStore func(latch.Store) latch.Store
}

// rig is the local runtime wired as `latch server` wires it, on a bbolt
// file, with a fake escalator.
type rig struct {
	t      testing.TB
	path   string
	store  *boltstore.Store
	eng    *engine.Engine
	queue  *local.Queue
	timers *local.Timers
	runner *local.Runner
	esc    *fakeEscalator
	clock  *testClock
	cancel context.CancelFunc

	mu        sync.Mutex
	published []latch.Command // every command published, recorded before it is handled
	closeOnce sync.Once
}

// newRig starts a runtime. It does not re-arm; it is closed at the end of
// the test.
func newRig(tb testing.TB, o rigOptions) *rig {
	tb.Helper()
	if o.path == "" {
		o.path = filepath.Join(tb.TempDir(), "latch.db")
	}
	if o.clock == nil {
		o.clock = &testClock{}
	}
	if o.esc == nil {
		o.esc = newFakeEscalator()
	}
	if o.backoff == (local.Backoff{}) {
		o.backoff = testBackoff
	}
	store, err := boltstore.Open(o.path)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	rt := &rig{t: tb, path: o.path, store: store, esc: o.esc, clock: o.clock}
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	if o.flows == nil {
		o.flows = []*latch.Flow{testFlow()}
	}
	flows := engine.NewFlowSet(o.flows)
	var eng *engine.Engine
	rt.queue = local.NewQueue(func(ctx context.Context, cmd latch.Command) error {
		rt.mu.Lock()
		rt.published = append(rt.published, cmd)
		rt.mu.Unlock()
		err := eng.Handle(ctx, cmd)
		if o.after != nil {
			o.after(cmd, err)
		}
		return err
	})
	rt.timers = local.NewTimers(ctx, rt.queue, o.clock, slog.New(slog.DiscardHandler))
	var runnerStore latch.Store = store
	if o.runnerStore != nil {
		runnerStore = o.runnerStore(store)
	}
	rt.runner = local.NewRunner(ctx, local.RunnerConfig{Store: runnerStore, Flows: flows,
		Escalator: func(*latch.Flow) (latch.Escalator, error) {
			if o.unavailable != nil {
				return nil, o.unavailable
			}
			if o.escalator != nil {
				return o.escalator, nil
			}
			return o.esc, nil
		},
		Identity: o.identity, Queue: rt.queue, Timers: rt.timers, Clock: o.clock, Backoff: o.backoff, Metric: o.metric,
		Workers: o.workers})
	users := &engine.Users{Store: store, Clock: o.clock, RoleFor: func(_ context.Context, email string) (latch.Role, error) {
		if email == dan {
			return latch.RoleAdmin, nil
		}
		return latch.RoleMember, nil
	}}
	eng, err = engine.New(engine.Config{Store: store, Flows: flows, Clock: o.clock, Users: users,
		Runner: rt.runner, Scheduler: rt.timers})
	if err != nil {
		tb.Fatalf("engine: %v", err)
	}
	rt.eng = eng
	tb.Cleanup(rt.Close)
	return rt
}

// Close stops the runtime as `latch server` does at shutdown, and closes the
// store so that the file can be opened again.
func (rt *rig) Close() {
	rt.closeOnce.Do(func() {
		rt.cancel()
		rt.timers.Close()
		rt.runner.Wait()
		if err := rt.store.Close(); err != nil {
			rt.t.Errorf("close store: %v", err)
		}
	})
}

// create submits a request by email through the API source.
func (rt *rig) create(email string, fields map[string]any) latch.Request {
	rt.t.Helper()
	if fields == nil {
		fields = map[string]any{}
	}
	if _, ok := fields["reason"]; !ok {
		fields["reason"] = "incident 4211"
	}
	r, err := rt.eng.Create(context.Background(), engine.CreateInput{Flow: flowName, UserEmail: email,
		Source: latch.SourceAPI, Fields: fields})
	if err != nil {
		rt.t.Fatalf("create request for %s: %v", email, err)
	}
	return r
}

// do publishes a person's command about a request and fails on an error.
func (rt *rig) do(kind latch.CommandKind, requestID, by string) {
	rt.t.Helper()
	cmd := latch.Command{ID: engine.NewID("cmd"), Kind: kind, RequestID: requestID,
		Actor: latch.Actor{Email: by}, Source: latch.SourceAPI}
	if err := rt.queue.Publish(context.Background(), cmd); err != nil {
		rt.t.Fatalf("%s %s by %s: %v", kind, requestID, by, err)
	}
}

// approve has bob approve the request.
func (rt *rig) approve(requestID string) { rt.t.Helper(); rt.do(latch.CmdApprove, requestID, bob) }

func (rt *rig) request(id string) latch.Request {
	rt.t.Helper()
	r, err := rt.store.GetRequest(context.Background(), id)
	if err != nil {
		rt.t.Fatalf("get request %s: %v", id, err)
	}
	return r
}

func (rt *rig) grant(id string) latch.Grant {
	rt.t.Helper()
	g, err := rt.store.GetGrant(context.Background(), id)
	if err != nil {
		rt.t.Fatalf("get grant %s: %v", id, err)
	}
	return g
}

// waitFor waits until the request has the status, and returns it.
func (rt *rig) waitFor(id string, want latch.Status) latch.Request {
	rt.t.Helper()
	var r latch.Request
	deadline := time.Now().Add(wait)
	for {
		r = rt.request(id)
		if r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			rt.t.Fatalf("request %s is %s after %v, want %s (failure %+v)", id, r.Status, wait, want, r.Failure)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// active creates a request by email, has it approved and waits until its
// access is in place.
func (rt *rig) active(email string, fields map[string]any) latch.Request {
	rt.t.Helper()
	r := rt.create(email, fields)
	rt.approve(r.ID)
	return rt.waitFor(r.ID, latch.StatusActive)
}

// kinds returns the kinds of the commands published about grant id, in order.
func (rt *rig) kinds(grantID string) []latch.CommandKind {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []latch.CommandKind
	for _, c := range rt.published {
		if c.GrantID == grantID {
			out = append(out, c.Kind)
		}
	}
	return out
}

// auditTypes returns the types of a request's audit events, in order.
func (rt *rig) auditTypes(requestID string) []latch.AuditType {
	rt.t.Helper()
	evs, err := rt.store.AuditEvents(context.Background(), requestID)
	if err != nil {
		rt.t.Fatalf("audit events of %s: %v", requestID, err)
	}
	out := make([]latch.AuditType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func hasKind(kinds []latch.CommandKind, k latch.CommandKind) bool { return slices.Contains(kinds, k) }
