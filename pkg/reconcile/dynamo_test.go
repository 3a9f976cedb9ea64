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
