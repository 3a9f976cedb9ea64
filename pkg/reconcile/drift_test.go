package reconcile_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/escalator/awsiam/iamfake"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/strategies"
)

// notifications records the Notifier's calls.
type notifications struct {
	mu    sync.Mutex
	calls []string
}

func (n *notifications) Notify(_ context.Context, ev latch.AuditType, r latch.Request) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, string(ev)+" "+r.ID)
	return nil
}

// testDrift runs the drift check against a fake IAM through the aws_iam
// escalator, on store: a membership removed by hand during an active grant
// is restored; one left behind after the grant ended is removed; one whose
// grant ended before the look-back, and one an open grant still holds, are
// left alone. A dry run changes and records nothing.
func testDrift(t *testing.T, store latch.Store) {
	fake := iamfake.New([]string{"jane", "bob", "carl", "dave", "erin", "fred", "gina", "hank"}, []string{"prod-admins"})
	iamfake.Serve(t, fake)
	ctx := context.Background()
	target := latch.Target{ID: "t", Settings: map[string]any{"group": "prod-admins"}}
	flow := &latch.Flow{Name: "f", ScheduleDeescalation: true, AllowRevoke: true,
		Strategy: &latch.Strategy{Type: "aws_iam", Config: map[string]any{}, Targets: []latch.Target{target}}}
	mk := func(id, user string, status latch.GrantStatus, endedAgo time.Duration) (latch.Grant, latch.Request) {
		g := grant(id, status, now.Add(-48*time.Hour), now.Add(time.Hour))
		g.User = latch.UserRef{Email: user + "@example.com"}
		g.Key = latch.GrantKey("f", "t", user+"@example.com") + "/" + id
		g.Identity = user
		g.Revoke = &latch.RevokeInfo{Strategy: "aws_iam", Config: map[string]any{}, TargetID: "t", TargetSettings: target.Settings}
		if endedAgo > 0 {
			e := now.Add(-endedAgo)
			g.EndedAt, g.DueAt = &e, &e
		}
		r := latch.Request{ID: g.Leases[0].RequestID, Flow: "f", Requester: g.User, Status: latch.StatusActive,
			Fields: latch.Fields{}, TargetID: "t", GrantID: id, Duration: 3600, CreatedAt: g.CreatedAt, UpdatedAt: g.CreatedAt}
		if status == latch.GrantEnded {
			r.Status = latch.StatusEnded
		}
		return g, r
	}
	var grants []latch.Grant
	var reqs []latch.Request
	for _, x := range []struct {
		id, user string
		status   latch.GrantStatus
		ago      time.Duration
	}{
		{"active", "jane", latch.GrantActive, 0},
		{"ended", "bob", latch.GrantEnded, time.Hour},
		{"old", "carl", latch.GrantEnded, 30 * 24 * time.Hour},
		{"dave1", "dave", latch.GrantEnded, time.Hour},
		{"dave2", "dave", latch.GrantActive, 0},
		{"due", "erin", latch.GrantActive, 0},
		{"fred", "fred", latch.GrantActive, 0},
		{"gina", "gina", latch.GrantEnded, time.Hour},
		{"hank1", "hank", latch.GrantEnded, 2 * time.Hour},
		{"hank2", "hank", latch.GrantEnded, 30 * time.Minute},
	} {
		g, r := mk(x.id, x.user, x.status, x.ago)
		switch x.id {
		case "due":
			// Past its end, its revoke about to run: not granted again.
			g.Leases[0].EndsAt = now.Add(-time.Second)
		case "fred", "gina", "hank2":
			// The access was in place before Latch granted: the person's.
			held := true
			g.HeldBefore = &held
			if x.id == "hank2" {
				g.CreatedAt = now.Add(-90 * time.Minute) // after hank1 ended
			}
		}
		grants, reqs = append(grants, g), append(reqs, r)
	}
	if err := store.Commit(ctx, latch.Change{Grants: grants, Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	// jane's membership was removed by hand; bob's revoke left his behind;
	// carl's grant ended a month ago; dave holds the access again. fred's
	// own membership, left in place by his grant, was removed by hand;
	// gina keeps hers after her grant; hank had his own when his second
	// grant started, after his first had ended.
	for _, u := range []string{"bob", "carl", "dave", "gina", "hank"} {
		fake.SetMember("prod-admins", u, true)
	}

	note := &notifications{}
	esc := &strategies.Escalators{}
	d := &reconcile.Drift{Store: store, Flows: engine.NewFlowSet([]*latch.Flow{flow}), Escalator: esc.For,
		Notifier: note, Clock: fixedClock{}, DryRun: true}
	rep, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := func(rep reconcile.DriftReport) []string {
		var out []string
		for _, f := range rep.Findings {
			out = append(out, f.GrantID+" "+f.Found+" "+f.Action)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"active missing " + reconcile.ActionNone, "ended still_present " + reconcile.ActionNone}
	if got := found(rep); !slices.Equal(got, want) {
		t.Fatalf("dry run found %v, want %v", got, want)
	}
	if fake.IsMember("prod-admins", "jane") || !fake.IsMember("prod-admins", "bob") || len(fake.CallsOf("AddUserToGroup"))+len(fake.CallsOf("RemoveUserFromGroup")) > 0 {
		t.Fatal("the dry run changed IAM")
	}
	if evs, _ := store.AdminAudit(ctx, now.Add(-time.Hour), now.Add(time.Hour)); len(evs) != 0 {
		t.Fatalf("the dry run recorded %d events", len(evs))
	}

	d.DryRun = false
	rc := &reconcile.Reconciler{Store: store, Queue: &recorder{}, Runner: &recorder{}, Clock: fixedClock{}, Drift: d}
	rrep, err := rc.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rrep.Drift != 2 {
		t.Errorf("reconciler report: %d drift corrections, want 2", rrep.Drift)
	}
	if !fake.IsMember("prod-admins", "jane") {
		t.Error("jane's membership, removed by hand during her grant, was not restored")
	}
	if fake.IsMember("prod-admins", "bob") {
		t.Error("bob's membership, left behind after his grant ended, was not removed")
	}
	if fake.IsMember("prod-admins", "erin") {
		t.Error("a grant past its end was granted again")
	}
	if !fake.IsMember("prod-admins", "carl") || !fake.IsMember("prod-admins", "dave") {
		t.Error("access outside the look-back, or held by an open grant, was removed")
	}
	if fake.IsMember("prod-admins", "fred") || !fake.IsMember("prod-admins", "gina") || !fake.IsMember("prod-admins", "hank") {
		t.Error("access the person had before Latch was repaired")
	}
	evs, err := store.AdminAudit(ctx, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Type != latch.AuditCorrected || e.Data["correction"] != "drift" {
			continue
		}
		got = append(got, e.GrantID+" "+e.Data["found"].(string)+" "+e.Data["action"].(string))
	}
	slices.Sort(got)
	if want := []string{"active missing granted_again", "ended still_present revoked_again"}; !slices.Equal(got, want) {
		t.Errorf("corrected_by_reconciler events %v, want %v", got, want)
	}
	note.mu.Lock()
	if len(note.calls) != 2 {
		t.Errorf("alerts %v, want one per correction", note.calls)
	}
	note.mu.Unlock()

	// Repaired: the next run finds nothing.
	if rep, err := d.Run(ctx); err != nil || len(rep.Findings) != 0 {
		t.Errorf("second run: %+v, %v; want nothing found", rep.Findings, err)
	}
}

func TestDriftOnBolt(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	testDrift(t, store)
}
