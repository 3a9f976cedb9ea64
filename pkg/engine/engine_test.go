package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorder is a fake GrantRunner, Scheduler and Notifier that records calls
// and fails the next call of a kind when told to.
type recorder struct {
	mu        sync.Mutex
	calls     []string
	fail      map[string]int
	permanent bool // injected failures are latch.Permanent
}

func (r *recorder) record(s string, kind string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail[kind] > 0 {
		r.fail[kind]--
		if r.permanent {
			return latch.Permanent(errors.New("injected refusal"))
		}
		return errors.New("injected failure")
	}
	r.calls = append(r.calls, s)
	return nil
}

func (r *recorder) Escalate(_ context.Context, id string) error {
	return r.record("escalate "+id, "escalate")
}
func (r *recorder) Deescalate(_ context.Context, id string) error {
	return r.record("deescalate "+id, "deescalate")
}
func (r *recorder) Wake(_ context.Context, id string, at time.Time) error {
	return r.record(fmt.Sprintf("wake %s %s", id, at.Format(time.TimeOnly)), "wake")
}
func (r *recorder) At(_ context.Context, at time.Time, cmd latch.Command) error {
	return r.record(fmt.Sprintf("at %s %s %s", at.Format(time.TimeOnly), cmd.Kind, cmd.RequestID), "at")
}
func (r *recorder) Notify(_ context.Context, ev latch.AuditType, req latch.Request) error {
	return r.record(fmt.Sprintf("notify %s %s", ev, req.Status), "notify")
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) FailNext(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail == nil {
		r.fail = map[string]int{}
	}
	r.fail[kind]++
}

type fixture struct {
	eng   *engine.Engine
	store latch.Store
	rec   *recorder
	clock *fakeClock
}

func testFlow(quorum int) *latch.Flow {
	return &latch.Flow{
		Name: "prod", Label: "Prod", AllowRevoke: true, ScheduleDeescalation: true,
		Fields: []latch.Field{{Name: "reason", Type: latch.FieldString, Required: true}, {Name: "duration", Type: latch.FieldDuration, Default: int64(3600)}},
		Approval: latch.Approval{Quorum: quorum, Timeout: time.Hour,
			Approvers: []string{"a1@example.com", "a2@example.com", "a3@example.com", "a4@example.com", "a5@example.com", "a6@example.com", "a7@example.com", "a8@example.com"}},
		Strategy: &latch.Strategy{Type: "webhook", Targets: []latch.Target{{ID: "db", Label: "DB"}}},
	}
}

func newFixture(t *testing.T, flows ...*latch.Flow) *fixture {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{store: st, rec: &recorder{}, clock: &fakeClock{now: t0}}
	f.eng, err = engine.New(engine.Config{Store: st, Flows: engine.NewFlowSet(flows), Clock: f.clock,
		Runner: f.rec, Scheduler: f.rec, Notifier: f.rec})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) create(t *testing.T) latch.Request {
	t.Helper()
	r, err := f.eng.Create(context.Background(), engine.CreateInput{Flow: "prod", UserEmail: "Bob@Example.com",
		Source: latch.SourceAPI, Fields: map[string]any{"reason": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func approve(id, as string) latch.Command {
	return latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdApprove, RequestID: id, Actor: latch.Actor{Email: as}}
}

func TestCreateCommitsAndDispatches(t *testing.T) {
	f := newFixture(t, testFlow(1))
	r := f.create(t)
	if r.Status != latch.StatusPending || r.Requester.Email != "bob@example.com" || r.Version != 1 {
		t.Fatalf("created = %s %s v%d, want pending for bob@example.com at version 1", r.Status, r.Requester.Email, r.Version)
	}
	want := []string{"at 10:00:00 expire " + r.ID, "notify requested pending"}
	if diff := cmp.Diff(want, f.rec.Calls()); diff != "" {
		t.Errorf("effects (-want +got):\n%s", diff)
	}
	if left, _ := f.store.PendingEffects(context.Background(), 10); len(left) != 0 {
		t.Errorf("outbox after dispatch = %v, want empty", left)
	}
	u, err := f.store.GetUser(context.Background(), "bob@example.com")
	if err != nil || u.Role != latch.RoleMember {
		t.Errorf("user created on first contact = %+v, %v; want a member", u, err)
	}
}

func TestCreateRefusals(t *testing.T) {
	f := newFixture(t, testFlow(1))
	tests := []struct {
		name     string
		give     engine.CreateInput
		wantCode string
	}{
		{"unknown flow", engine.CreateInput{Flow: "nope", UserEmail: "bob@example.com"}, "flow_not_found"},
		{"bad email", engine.CreateInput{Flow: "prod", UserEmail: "bob"}, "invalid_email"},
		{"missing field", engine.CreateInput{Flow: "prod", UserEmail: "bob@example.com", Source: latch.SourceAPI}, "invalid_fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.eng.Create(context.Background(), tt.give)
			if got := latch.ErrorCodeOf(err); got != tt.wantCode {
				t.Errorf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
	if rs, _ := f.store.ListRequests(context.Background(), latch.RequestFilter{}); len(rs) != 0 {
		t.Errorf("refused creates left %d requests", len(rs))
	}
}

// Many approvers clicking at once on a quorum-of-one request produce exactly
// one approval and one escalation; the others are told it is no longer pending.
func TestConcurrentApprovalsMakeOneTransition(t *testing.T) {
	f := newFixture(t, testFlow(1))
	r := f.create(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = f.eng.Handle(ctx, approve(r.ID, fmt.Sprintf("a%d@example.com", i+1))) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case latch.ErrorCodeOf(err) != "not_pending":
			t.Errorf("losing approval: %v, want not_pending", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d approvals succeeded, want 1", ok)
	}
	got, err := f.store.GetRequest(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != latch.StatusEscalating || len(got.Approvals) != 1 {
		t.Errorf("request = %s with %d approvals, want escalating with 1", got.Status, len(got.Approvals))
	}
	escalations := 0
	for _, c := range f.rec.Calls() {
		if len(c) > 9 && c[:9] == "escalate " {
			escalations++
		}
	}
	if escalations != 1 {
		t.Errorf("escalator started %d times, want 1: %v", escalations, f.rec.Calls())
	}
	evs, _ := f.store.AuditEvents(ctx, r.ID)
	if len(evs) != 2 || evs[1].Type != latch.AuditApproved {
		t.Errorf("audit = %v, want requested, approved", evs)
	}
}

// Two approvers racing on a quorum of two both count, and access is asked once.
func TestConcurrentApprovalsReachQuorumOnce(t *testing.T) {
	f := newFixture(t, testFlow(2))
	r := f.create(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = f.eng.Handle(ctx, approve(r.ID, fmt.Sprintf("a%d@example.com", i+1))) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("approval failed: %v", err)
		}
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	if got.Status != latch.StatusEscalating || len(got.Approvals) != 2 {
		t.Errorf("request = %s with %d approvals, want escalating with 2", got.Status, len(got.Approvals))
	}
	evs, _ := f.store.AuditEvents(ctx, r.ID)
	var types []latch.AuditType
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if diff := cmp.Diff([]latch.AuditType{latch.AuditRequested, latch.AuditApprovalAdded, latch.AuditApproved}, types); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// A command delivered twice acts once: the second delivery is refused by
// the request's state or recognised by its dedup id, and changes nothing.
func TestDuplicateCommandActsOnce(t *testing.T) {
	f := newFixture(t, testFlow(2))
	r := f.create(t)
	ctx := context.Background()
	cmd := approve(r.ID, "a1@example.com")
	if err := f.eng.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Handle(ctx, cmd); err != nil && latch.ErrorCodeOf(err) != "already_approved" {
		t.Fatalf("second delivery: %v, want nil or already_approved", err)
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	evs, _ := f.store.AuditEvents(ctx, r.ID)
	if len(got.Approvals) != 1 || len(evs) != 2 {
		t.Errorf("after the same approval twice: %d approvals, %d audit events; want 1 and 2", len(got.Approvals), len(evs))
	}

	// A second approver's approval redelivered after the request moved on
	// is recognised by its id: nothing changes and nothing is refused.
	second := approve(r.ID, "a2@example.com")
	if err := f.eng.Handle(ctx, second); err != nil {
		t.Fatal(err)
	}
	calls := len(f.rec.Calls())
	if err := f.eng.Handle(ctx, second); err != nil && latch.ErrorCodeOf(err) != "not_pending" {
		t.Fatalf("redelivery after quorum: %v, want nil or not_pending", err)
	}
	if got := len(f.rec.Calls()); got != calls {
		t.Errorf("redelivery caused %d more effects, want none", got-calls)
	}
}

func TestCheckChangesNothing(t *testing.T) {
	f := newFixture(t, testFlow(1))
	r := f.create(t)
	ctx := context.Background()
	if err := f.eng.Check(ctx, approve(r.ID, "bob@example.com")); latch.ErrorCodeOf(err) != latch.CodeSelfApproval {
		t.Errorf("check self-approval = %v, want self_approval", err)
	}
	if err := f.eng.Check(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Errorf("check allowed approval = %v, want nil", err)
	}
	if err := f.eng.Check(ctx, latch.Command{ID: "x", Kind: latch.CmdEscalated, GrantID: "g"}); latch.ErrorKindOf(err) != latch.KindInvalid {
		t.Errorf("check of a runner report = %v, want invalid", err)
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	if got.Status != latch.StatusPending || got.Version != r.Version {
		t.Errorf("after Check the request is %s v%d, want unchanged pending v%d", got.Status, got.Version, r.Version)
	}
}

// Whom a command names is judged as the user they would be, and recorded
// only once the command is applied: a checked or refused command records
// nobody.
func TestOnlyAnAppliedCommandRecordsItsActor(t *testing.T) {
	f := newFixture(t, testFlow(2))
	r := f.create(t)
	ctx := context.Background()
	known := func(email string) bool {
		_, err := f.store.GetUser(ctx, email)
		if err != nil && !errors.Is(err, latch.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	if err := f.eng.Check(ctx, approve(r.ID, "a1@example.com")); err != nil || known("a1@example.com") {
		t.Errorf("Check of an allowed approval: %v, recorded %v; want nil, not recorded", err, known("a1@example.com"))
	}
	if err := f.eng.Handle(ctx, approve(r.ID, "stranger@example.com")); latch.ErrorCodeOf(err) != latch.CodeNotApprover || known("stranger@example.com") {
		t.Errorf("Handle of a refused approval: %v, recorded %v; want not_an_approver, not recorded", err, known("stranger@example.com"))
	}
	if err := f.eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil || !known("a1@example.com") {
		t.Errorf("Handle of an allowed approval: %v, recorded %v; want nil, recorded", err, known("a1@example.com"))
	}
}

// An effect that fails stays in the outbox and is carried out later.
func TestFailedEffectIsRetriedFromOutbox(t *testing.T) {
	f := newFixture(t, testFlow(1))
	r := f.create(t)
	ctx := context.Background()
	f.rec.FailNext("escalate")
	if err := f.eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	left, err := f.store.PendingEffects(ctx, 10)
	if err != nil || len(left) != 1 || left[0].Kind != latch.EffectEscalate {
		t.Fatalf("outbox = %v, %v; want the failed escalate", left, err)
	}
	if n, err := f.eng.DispatchPending(ctx, time.Minute); err != nil || n != 0 {
		t.Errorf("young effects dispatched: %d, %v; want none", n, err)
	}
	f.clock.Advance(2 * time.Minute)
	if n, err := f.eng.DispatchPending(ctx, time.Minute); err != nil || n != 1 {
		t.Errorf("DispatchPending = %d, %v; want 1", n, err)
	}
	if left, _ := f.store.PendingEffects(ctx, 10); len(left) != 0 {
		t.Errorf("outbox after retry = %v, want empty", left)
	}
}

// An effect refused for good is not kept: retrying it could never help.
func TestEffectRefusedForGoodIsDropped(t *testing.T) {
	f := newFixture(t, testFlow(1))
	f.rec.permanent = true
	f.rec.FailNext("notify")
	r := f.create(t)
	if left, _ := f.store.PendingEffects(context.Background(), 10); len(left) != 0 {
		t.Errorf("outbox = %v, want the refused notification dropped", left)
	}
	if got, _ := f.store.GetRequest(context.Background(), r.ID); got.Status != latch.StatusPending {
		t.Errorf("request %s, want pending: a refused effect changes no state", got.Status)
	}
}

// The whole life through the engine, with the runner's reports as commands.
func TestLifecycleThroughEngine(t *testing.T) {
	f := newFixture(t, testFlow(1))
	r := f.create(t)
	ctx := context.Background()
	if err := f.eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	grant := got.GrantID
	f.clock.Advance(time.Second)
	if err := f.eng.Handle(ctx, latch.Command{ID: "escalated/" + grant, Kind: latch.CmdEscalated, GrantID: grant, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.store.GetRequest(ctx, r.ID)
	// The end counts from the approval that asked for the escalation, not
	// from the report.
	if got.Status != latch.StatusActive || !got.EndsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after escalated: %s ending %v", got.Status, got.EndsAt)
	}
	end := *got.EndsAt
	if err := f.eng.Handle(ctx, latch.Command{ID: "due/early", Kind: latch.CmdDue, GrantID: grant, At: end.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got, _ = f.store.GetRequest(ctx, r.ID); got.Status != latch.StatusActive {
		t.Fatalf("an early wake-up changed the request to %s", got.Status)
	}
	if err := f.eng.Handle(ctx, latch.Command{ID: "due/now", Kind: latch.CmdDue, GrantID: grant, At: end}); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Handle(ctx, latch.Command{ID: "deescalated/" + grant, Kind: latch.CmdDeescalated, GrantID: grant, At: end.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.store.GetRequest(ctx, r.ID)
	g, _ := f.store.GetGrant(ctx, grant)
	if got.Status != latch.StatusEnded || g.Status != latch.GrantEnded {
		t.Errorf("end: request %s, grant %s; want ended, ended", got.Status, g.Status)
	}
	want := []string{
		"at 10:00:00 expire " + r.ID, "notify requested pending",
		"notify approved escalating", "escalate " + grant,
		"notify escalated active", "wake " + grant + " 10:00:00",
		"deescalate " + grant,
		"notify deescalated ended",
	}
	if diff := cmp.Diff(want, f.rec.Calls()); diff != "" {
		t.Errorf("effects (-want +got):\n%s", diff)
	}
}

// Reports about a grant whose flow is no longer loaded still land, and the
// revoke goes on: a runner that stops retrying leaves the grant
// deescalating, to be revoked again, never failed.
func TestGrantOfRemovedFlowIsStillRevoked(t *testing.T) {
	f := newFixture(t, testFlow(1))
	r := f.create(t)
	ctx := context.Background()
	if err := f.eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	grant := got.GrantID
	if err := f.eng.Handle(ctx, latch.Command{ID: "esc", Kind: latch.CmdEscalated, GrantID: grant, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// A new engine on the same store, with the flow gone.
	eng, err := engine.New(engine.Config{Store: f.store, Flows: engine.NewFlowSet(nil), Clock: f.clock, Runner: f.rec, Scheduler: f.rec})
	if err != nil {
		t.Fatal(err)
	}
	end := f.clock.Now().Add(2 * time.Hour)
	if err := eng.Handle(ctx, latch.Command{ID: "due", Kind: latch.CmdDue, GrantID: grant, At: end}); err != nil {
		t.Fatalf("due for a removed flow: %v", err)
	}
	if err := eng.Handle(ctx, latch.Command{ID: "fail", Kind: latch.CmdDeescalationFailed, GrantID: grant, At: end,
		Failure: &latch.Failure{Code: "http_503", Message: "unavailable"}}); err != nil {
		t.Fatalf("deescalation failure for a removed flow: %v", err)
	}
	got, _ = f.store.GetRequest(ctx, r.ID)
	g, _ := f.store.GetGrant(ctx, grant)
	if got.Status != latch.StatusDeescalating || g.Status != latch.GrantDeescalating {
		t.Errorf("request %s, grant %s; want both deescalating", got.Status, g.Status)
	}
	if n := strings.Count(strings.Join(f.rec.Calls(), "\n"), "deescalate "+grant); n != 2 {
		t.Errorf("deescalate asked %d times, want twice (the due and again after the failure): %v", n, f.rec.Calls())
	}
	if err := eng.Handle(ctx, latch.Command{ID: "done", Kind: latch.CmdDeescalated, GrantID: grant, At: end.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got, _ = f.store.GetRequest(ctx, r.ID); got.Status != latch.StatusEnded {
		t.Errorf("request %s after the revoke, want ended", got.Status)
	}
}

// An admin can revoke early a grant whose flow is gone: the revoke is judged
// with what the grant recorded.
func TestEarlyRevokeOfARemovedFlowsGrant(t *testing.T) {
	f := newFixture(t, testFlow(1))
	r := f.create(t)
	ctx := context.Background()
	if err := f.eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	if err := f.eng.Handle(ctx, latch.Command{ID: "esc", Kind: latch.CmdEscalated, GrantID: got.GrantID, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	users := &engine.Users{Store: f.store, Clock: f.clock, RoleFor: func(_ context.Context, email string) (latch.Role, error) {
		if email == "root@example.com" {
			return latch.RoleAdmin, nil
		}
		return latch.RoleMember, nil
	}}
	eng, err := engine.New(engine.Config{Store: f.store, Flows: engine.NewFlowSet(nil), Clock: f.clock, Users: users,
		Runner: f.rec, Scheduler: f.rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Handle(ctx, latch.Command{ID: "rv", Kind: latch.CmdRevoke, RequestID: r.ID,
		Actor: latch.Actor{Email: "root@example.com"}, At: f.clock.Now()}); err != nil {
		t.Fatalf("an admin's revoke of a removed flow's grant: %v", err)
	}
	if got, _ = f.store.GetRequest(ctx, r.ID); got.Status != latch.StatusDeescalating {
		t.Errorf("request %s, want deescalating", got.Status)
	}
	if err := eng.Handle(ctx, latch.Command{ID: "ap", Kind: latch.CmdApprove, RequestID: r.ID,
		Actor: latch.Actor{Email: "root@example.com"}, At: f.clock.Now()}); latch.ErrorCodeOf(err) != "flow_not_found" {
		t.Errorf("another command on a removed flow's request: %v, want flow_not_found", err)
	}
}

// A request record that cannot be decoded does not block its grant's
// revoke: the grant-level commands skip it (the store reports it), so the
// grant is revoked at its end and closed.
func TestUnreadableLeasedRequestDoesNotBlockTheRevoke(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "latch.db")
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, clock := &recorder{}, &fakeClock{now: t0}
	cfg := engine.Config{Store: st, Flows: engine.NewFlowSet([]*latch.Flow{testFlow(1)}), Clock: clock, Runner: rec, Scheduler: rec}
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := eng.Create(ctx, engine.CreateInput{Flow: "prod", UserEmail: "bob@example.com", Source: latch.SourceAPI,
		Fields: map[string]any{"reason": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	got, _ := st.GetRequest(ctx, r.ID)
	grant := got.GrantID
	if err := eng.Handle(ctx, latch.Command{ID: "esc", Kind: latch.CmdEscalated, GrantID: grant, At: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("requests")).Put([]byte(r.ID), []byte("{\"id\":\x00\xff garbled"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st, err = boltstore.Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.GetRequest(ctx, r.ID); !errors.Is(err, latch.ErrUndecodable) {
		t.Fatalf("reading the garbled request: %v, want ErrUndecodable", err)
	}
	cfg.Store = st
	if eng, err = engine.New(cfg); err != nil {
		t.Fatal(err)
	}
	end := t0.Add(time.Hour)
	if err := eng.Handle(ctx, latch.Command{ID: "due", Kind: latch.CmdDue, GrantID: grant, At: end}); err != nil {
		t.Fatalf("due with an unreadable leased request: %v", err)
	}
	if g, _ := st.GetGrant(ctx, grant); g.Status != latch.GrantDeescalating {
		t.Fatalf("grant %s after its end, want deescalating", g.Status)
	}
	if err := eng.Handle(ctx, latch.Command{ID: "done", Kind: latch.CmdDeescalated, GrantID: grant, At: end.Add(time.Second)}); err != nil {
		t.Fatalf("deescalated with an unreadable leased request: %v", err)
	}
	if g, _ := st.GetGrant(ctx, grant); g.Status != latch.GrantEnded {
		t.Errorf("grant %s after the revoke, want ended", g.Status)
	}
}

// handingRecorder is a recorder whose runner takes revokes handed over
// (latch.DeescalateHandoff).
type handingRecorder struct{ *recorder }

func (r handingRecorder) DeescalateGrant(_ context.Context, g latch.Grant, first *latch.Request) error {
	firstID := "none"
	if first != nil {
		firstID = first.ID
	}
	return r.record(fmt.Sprintf("hand %s v%d %s first %s", g.ID, g.Version, g.Status, firstID), "hand")
}

// A revoke that the engine's commit starts is handed to the runner with the
// grant as committed, at the version the store holds, and its first
// request; the outbox's replay of the same effect goes the way that reads.
func TestRevokeIsHandedToTheRunner(t *testing.T) {
	f := newFixture(t, testFlow(1))
	runner := handingRecorder{f.rec}
	var err error
	f.eng, err = engine.New(engine.Config{Store: f.store, Flows: f.eng.Flows(), Clock: f.clock,
		Runner: runner, Scheduler: f.rec, Notifier: f.rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := f.create(t)
	if err := f.eng.Handle(ctx, approve(r.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.GetRequest(ctx, r.ID)
	grant := got.GrantID
	if err := f.eng.Handle(ctx, latch.Command{ID: "escalated/" + grant, Kind: latch.CmdEscalated, GrantID: grant, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.store.GetRequest(ctx, r.ID)
	f.rec.FailNext("hand") // the hand-off fails: the effect stays in the outbox
	if err := f.eng.Handle(ctx, latch.Command{ID: "due/now", Kind: latch.CmdDue, GrantID: grant, At: *got.EndsAt}); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Handle(ctx, latch.Command{ID: "due/again", Kind: latch.CmdDue, GrantID: grant, At: got.EndsAt.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	if n, err := f.eng.DispatchPending(ctx, 0); err != nil || n != 1 {
		t.Fatalf("DispatchPending = %d, %v; want the revoke whose hand-off failed", n, err)
	}
	g, _ := f.store.GetGrant(ctx, grant)
	if g.Status != latch.GrantDeescalating {
		t.Errorf("grant %s, want deescalating", g.Status)
	}
	if err := f.eng.Handle(ctx, latch.Command{ID: "deescalated/" + grant, Kind: latch.CmdDeescalated, GrantID: grant, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// The early revoke of a second grant, a request-level command.
	r2 := f.create(t)
	if err := f.eng.Handle(ctx, approve(r2.ID, "a1@example.com")); err != nil {
		t.Fatal(err)
	}
	got2, _ := f.store.GetRequest(ctx, r2.ID)
	grant2 := got2.GrantID
	if err := f.eng.Handle(ctx, latch.Command{ID: "escalated/" + grant2, Kind: latch.CmdEscalated, GrantID: grant2, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Handle(ctx, latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdRevoke, RequestID: r2.ID,
		Actor: latch.Actor{Email: "bob@example.com"}}); err != nil {
		t.Fatal(err)
	}
	var hands []string
	for _, c := range f.rec.Calls() {
		if strings.HasPrefix(c, "hand ") || strings.HasPrefix(c, "deescalate ") {
			hands = append(hands, c)
		}
	}
	g2, _ := f.store.GetGrant(ctx, grant2)
	want := []string{"deescalate " + grant, fmt.Sprintf("hand %s v%d deescalating first %s", grant2, g2.Version, r2.ID)}
	if diff := cmp.Diff(want, hands); diff != "" {
		t.Errorf("revokes started (-want +got):\n%s", diff)
	}
	if g2.Status != latch.GrantDeescalating {
		t.Errorf("grant %s, want deescalating", g2.Status)
	}
	// A revoke handed over and done leaves nothing in the outbox.
	if left, _ := f.store.PendingEffects(ctx, 10); len(left) != 0 {
		t.Errorf("outbox = %v, want empty", left)
	}
}
