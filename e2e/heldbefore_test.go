package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// Through latch server with the aws_iam strategy: a user who was in the
// group before Latch stays in it. Latch adds nothing, removes nothing at the
// grant's end, says so in the audit trail, and the reconciler leaves the
// membership alone; a user who was not in the group is added and removed.
func TestAWSIAMMembershipHeldBeforeIsLeftInPlace(t *testing.T) {
	fake, env := fakeIAM(t, "carol", "dave")
	fake.SetMember("prod-admins", "carol", true)
	srv := startServerEnv(t, env, writeFlows(t, map[string]string{"iam.yaml": iamFlow("prod-admins")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	request := func(email string) latch.Request {
		t.Helper()
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "iam-access", UserEmail: email, Fields: map[string]any{"duration": 3}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		return req
	}
	data := func(id string, typ latch.AuditType) map[string]any {
		t.Helper()
		evs, err := c.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == typ {
				return e.Data
			}
		}
		t.Fatalf("no %s event of %s", typ, id)
		return nil
	}

	carol, dave := request("carol@example.com"), request("dave@example.com")
	for _, id := range []string{carol.ID, dave.ID} {
		waitStatus(t, c, id, latch.StatusEnded, 90*time.Second)
	}
	if !fake.IsMember("prod-admins", "carol") {
		t.Error("carol's own membership, from before Latch, was removed")
	}
	if fake.IsMember("prod-admins", "dave") {
		t.Error("dave's membership, added by Latch, outlived his grant")
	}
	for _, action := range []string{"AddUserToGroup", "RemoveUserFromGroup"} {
		for _, call := range fake.CallsOf(action) {
			if call.Params.Get("UserName") == "carol" {
				t.Errorf("%s called for carol", action)
			}
		}
	}
	if d := data(carol.ID, latch.AuditEscalated); d["held_before"] != true {
		t.Errorf("carol's escalated data %v: want held_before", d)
	}
	if d := data(carol.ID, latch.AuditDeescalated); d["held_before"] != true || d["access"] != "left_in_place" {
		t.Errorf("carol's deescalated data %v: want held_before and access left_in_place", d)
	}
	if d := data(dave.ID, latch.AuditDeescalated); d["held_before"] != nil || d["verified"] != true {
		t.Errorf("dave's deescalated data %v: want verified, no held_before", d)
	}
	rep, err := c.Reconcile(ctx, true)
	if err != nil || len(rep.Findings) != 0 {
		t.Errorf("reconcile: %+v, %v; want nothing found", rep.Findings, err)
	}
}
