package reconcile_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/escalator/okta/oktafake"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/strategies"
)

// The drift check reaches okta targets through the registry like any
// strategy that can check: an active grant whose membership was removed in
// Okta by hand is granted again, and an ended one whose membership is still
// there is removed.
func TestDriftOnOkta(t *testing.T) {
	const gid = "00g1emaKYZTWRYYRRTSK"
	fake := oktafake.New("tok")
	fake.AddGroup(oktafake.Group{ID: gid, Name: "prod-admins"})
	users := map[string]string{"jane": "00u1janeXXXXXXXXXXXX", "bob": "00u2bobXXXXXXXXXXXXX"}
	for name, id := range users {
		fake.AddUser(oktafake.User{ID: id, Login: name + "@example.com", Email: name + "@example.com"})
	}
	url := oktafake.Serve(t, fake)
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	cfg := map[string]any{"org_url": url, "token_env": "OKTA_API_TOKEN"}
	target := latch.Target{ID: "t", Settings: map[string]any{"group_id": gid}}
	flow := &latch.Flow{Name: "f", ScheduleDeescalation: true, AllowRevoke: true,
		Strategy: &latch.Strategy{Type: "okta", Config: cfg, Targets: []latch.Target{target}}}
	var change latch.Change
	for _, x := range []struct {
		id, user string
		status   latch.GrantStatus
	}{{"active", "jane", latch.GrantActive}, {"ended", "bob", latch.GrantEnded}} {
		g := grant(x.id, x.status, now.Add(-48*time.Hour), now.Add(time.Hour))
		g.User = latch.UserRef{Email: x.user + "@example.com"}
		g.Key = latch.GrantKey("f", "t", g.User.Email) + "/" + x.id
		g.Identity = users[x.user]
		g.Revoke = &latch.RevokeInfo{Strategy: "okta", Config: cfg, TargetID: "t", TargetSettings: target.Settings}
		r := latch.Request{ID: g.Leases[0].RequestID, Flow: "f", Requester: g.User, Status: latch.StatusActive,
			Fields: latch.Fields{}, TargetID: "t", GrantID: x.id, Duration: 3600, CreatedAt: g.CreatedAt, UpdatedAt: g.CreatedAt}
		if x.status == latch.GrantEnded {
			e := now.Add(-time.Hour)
			g.EndedAt, g.DueAt, r.Status = &e, &e, latch.StatusEnded
		}
		change.Grants, change.Requests = append(change.Grants, g), append(change.Requests, r)
	}
	if err := store.Commit(ctx, change); err != nil {
		t.Fatal(err)
	}
	fake.AddMember(gid, users["bob"]) // bob's revoke was undone by hand; jane's membership was removed

	esc := &strategies.Escalators{LookupEnv: func(k string) (string, bool) { return "tok", k == "OKTA_API_TOKEN" }}
	d := &reconcile.Drift{Store: store, Flows: engine.NewFlowSet([]*latch.Flow{flow}), Escalator: esc.For,
		Notifier: &notifications{}, Clock: fixedClock{}}
	rep, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.GrantID+" "+f.Found+" "+f.Action)
	}
	slices.Sort(got)
	if want := []string{"active missing granted_again", "ended still_present revoked_again"}; !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	if !fake.Member(gid, users["jane"]) || fake.Member(gid, users["bob"]) {
		t.Errorf("jane member %v (want true), bob member %v (want false)", fake.Member(gid, users["jane"]), fake.Member(gid, users["bob"]))
	}
}
