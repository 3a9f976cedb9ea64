package reconcile_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// engineQueue hands commands to the engine, as the events queue's consumer
// (the approvals function) does.
type engineQueue struct{ eng *engine.Engine }

func (q engineQueue) Publish(ctx context.Context, cmd latch.Command) error {
	return q.eng.Handle(ctx, cmd)
}

// On AWS the reconciler is what makes an overdue revoke loud: against
// DynamoDB Local, through the engine, a grant a minute past its due records
// revoke_overdue once however often the reconciler runs — with the last
// error the revoke task recorded beside the hold token —, asks for the
// revoke again on every run, and an active grant past its end is sent due.
func TestOverdueOnDynamoDB(t *testing.T) {
	store := dynamotest.NewStore(t)
	ctx := context.Background()
	due := now.Add(-2 * time.Minute)
	req := func(id, grantID string, s latch.Status) latch.Request {
		return latch.Request{ID: id, Flow: "f", Requester: latch.UserRef{Email: grantID + "@example.com"}, Status: s,
			Fields: latch.Fields{}, TargetID: "t", GrantID: grantID, Duration: 3600, EndsAt: &due,
			CreatedAt: due.Add(-time.Hour), UpdatedAt: due}
	}
	revoking := withDue(grant("revoking", latch.GrantDeescalating, due, due), due)
	revoking.Leases[0].RequestID = "req_revoking"
	late := grant("late", latch.GrantActive, due.Add(-time.Hour), due)
	late.Leases[0].RequestID = "req_late"
	if err := store.Commit(ctx, latch.Change{Grants: []latch.Grant{revoking, late},
		Requests: []latch.Request{req("req_revoking", "revoking", latch.StatusDeescalating), req("req_late", "late", latch.StatusActive)}}); err != nil {
		t.Fatal(err)
	}
	const revokeErr = "deescalation_failed: target API: 503 Service Unavailable"
	if err := store.PutRevokeError(ctx, "revoking", revokeErr); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	eng, err := engine.New(engine.Config{Store: store, Flows: engine.NewFlowSet(nil), Clock: fixedClock{}, Runner: rec, Scheduler: rec})
	if err != nil {
		t.Fatal(err)
	}
	var metrics []string
	rc := &reconcile.Reconciler{Store: store, Queue: engineQueue{eng}, Runner: rec, Clock: fixedClock{}, RevokeErrors: store,
		Overdue: func(g latch.Grant, _ time.Time) { metrics = append(metrics, g.ID) }}
	for range 2 {
		if _, err := rc.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"req_revoking", "req_late"} {
		evs, err := store.AuditEvents(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Type != latch.AuditRevokeOverdue {
				continue
			}
			n++
			want := "the revoke has not finished; the grant runner retries it" // nothing recorded for it
			if id == "req_revoking" {
				want = revokeErr
			}
			if got := e.Data["last_error"]; got != want {
				t.Errorf("%s: revoke_overdue last_error %q, want %q", id, got, want)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d revoke_overdue events after two runs, want 1", id, n)
		}
	}
	if g, err := store.GetGrant(ctx, "late"); err != nil || g.Status != latch.GrantDeescalating {
		t.Errorf("the grant past its end is %s (%v), want deescalating", g.Status, err)
	}
	if len(metrics) < 3 {
		t.Errorf("overdue metric for %v, want each overdue grant on every run", metrics)
	}
	deescalates := 0
	for _, run := range rec.runs {
		if run == "deescalate revoking" {
			deescalates++
		}
	}
	if deescalates != 2 {
		t.Errorf("runner calls %v, want the overdue revoke asked for again on each run", rec.runs)
	}
}

// The drift check of the AWS reconciler, against DynamoDB Local.
func TestDriftOnDynamoDB(t *testing.T) {
	testDrift(t, dynamotest.NewStore(t))
}

// On AWS the expiry sweep is the forwarding timer too: against DynamoDB
// Local, through the engine, a pending request whose first forwarding step
// is due is forwarded once, the step records when the next falls due, and a
// second sweep before then sends nothing; a request decided meanwhile, or
// one whose step is not due, is left alone.
func TestForwardSweepOnDynamoDB(t *testing.T) {
	store := dynamotest.NewStore(t)
	ctx := context.Background()
	created := now.Add(-20 * time.Minute)
	flow := &latch.Flow{Name: "f", Approval: latch.Approval{Approvers: []string{"alice@example.com"}, Quorum: 1,
		Timeout: time.Hour, Forward: []latch.ForwardStep{
			{After: 15 * time.Minute, Channel: "#sre-leads", Approvers: []string{"lead@example.com"}},
			{After: 45 * time.Minute, DM: []string{"cto@example.com"}},
		}}}
	at := func(d time.Duration) *time.Time { v := created.Add(d); return &v }
	req := func(id string, s latch.Status, forwardAt *time.Time) latch.Request {
		r := pending(id, *at(time.Hour))
		r.Status, r.CreatedAt, r.UpdatedAt, r.ForwardAt, r.EventSeq = s, created, created, forwardAt, 1
		return r
	}
	if err := store.Commit(ctx, latch.Change{Requests: []latch.Request{
		req("req_due", latch.StatusPending, at(15*time.Minute)),
		req("req_denied", latch.StatusDenied, nil),
		req("req_fresh", latch.StatusPending, at(25*time.Minute)),
	}}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	eng, err := engine.New(engine.Config{Store: store, Flows: engine.NewFlowSet([]*latch.Flow{flow}), Clock: fixedClock{},
		Runner: rec, Scheduler: &reconcile.Expiries{Store: store, Queue: rec, Clock: fixedClock{}}})
	if err != nil {
		t.Fatal(err)
	}
	sweep := &reconcile.Expiries{Store: store, Queue: engineQueue{eng}, Clock: fixedClock{}}
	for i, want := range []int{1, 0} {
		n, err := sweep.Sweep(ctx)
		if err != nil || n != want {
			t.Fatalf("sweep %d = %d, %v; want %d", i+1, n, err, want)
		}
	}
	got, err := store.GetRequest(ctx, "req_due")
	if err != nil {
		t.Fatal(err)
	}
	if got.Forwarded != 1 || got.ForwardAt == nil || !got.ForwardAt.Equal(*at(45 * time.Minute)) || got.Status != latch.StatusPending {
		t.Errorf("after the sweeps: %s, forwarded %d, next at %v; want pending, step 1, next at created+45m",
			got.Status, got.Forwarded, got.ForwardAt)
	}
	evs, err := store.AuditEvents(ctx, "req_due")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != latch.AuditForwarded || evs[0].Data["channel"] != "#sre-leads" || evs[0].Source != latch.SourceSchedule {
		t.Errorf("audit events %+v, want one forwarded to #sre-leads from the schedule", evs)
	}
	for _, id := range []string{"req_denied", "req_fresh"} {
		if r, err := store.GetRequest(ctx, id); err != nil || r.Forwarded != 0 {
			t.Errorf("%s: forwarded %d (%v), want untouched", id, r.Forwarded, err)
		}
	}
}
