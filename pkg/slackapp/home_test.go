package slackapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// openHome sends app_home_opened for userID as Slack does, and returns the
// Home tab Latch published for them.
func (r *rig) openHome(userID string) map[string]any {
	r.t.Helper()
	body, _ := json.Marshal(map[string]any{"token": "legacy", "team_id": team, "api_app_id": "A0LATCH", "type": "event_callback",
		"event_id": "Ev0HOME" + userID, "event_time": 1700000000,
		"event": map[string]any{"type": "app_home_opened", "user": userID, "channel": "D0HOME", "tab": "home", "event_ts": "1700000000.000100"}})
	if status, _ := r.post("/slack/events", "application/json", body); status != http.StatusOK {
		r.t.Fatalf("app_home_opened: %d", status)
	}
	r.pending.Wait()
	home := r.slack.HomeView(userID)
	if home == nil {
		r.t.Fatalf("no Home tab published for %s (refused: %v)", userID, r.slack.Refused())
	}
	return home
}

// The App Home tab shows a person's requests and access and, to approvers,
// what waits for them, with buttons that act as the message's do.
func TestAppHome(t *testing.T) {
	r := newRig(t)
	req := r.submitValid()

	annHome := r.openHome(annID)
	if all := text(blocksOf(annHome)); !containsAll(all, "Your requests under way", req.ID, "Waiting for approval") || strings.Contains(all, "Waiting for you") {
		t.Errorf("ann's Home %s, want her pending request and nothing to approve", all)
	}
	if ids := actionIDs(blocksOf(annHome)); len(ids) != 0 {
		t.Errorf("ann's Home offers %v on her own pending request, want no buttons", ids)
	}
	bobHome := r.openHome(bobID)
	if all := text(blocksOf(bobHome)); !containsAll(all, "Waiting for you", req.ID) {
		t.Fatalf("bob's Home %s, want ann's request waiting for him", all)
	}
	if ids := actionIDs(blocksOf(bobHome)); !slices.Equal(ids, []string{"approve", "deny"}) {
		t.Fatalf("bob's Home buttons %v, want approve and deny", ids)
	}
	if carHome := text(blocksOf(r.openHome(carID))); strings.Contains(carHome, "Waiting for you") {
		t.Errorf("car approves nothing but his Home shows %s", carHome)
	}

	// Approve from the Home tab.
	approve := click(bobID, team, "approve", req.ID, "", "", "")
	delete(approve, "channel")
	delete(approve, "message")
	delete(approve, "response_url")
	approve["container"] = map[string]any{"type": "view", "view_id": "V0HOME"}
	approve["view"] = map[string]any{"id": "V0HOME", "type": "home", "callback_id": "latch_home", "hash": "1700000000.home", "state": map[string]any{"values": map[string]any{}}}
	if status, _ := r.interact(approve); status != http.StatusOK {
		t.Fatalf("approve from Home: %d", status)
	}
	eventually(t, "approved", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return len(got.Approvals) == 1 && got.Approvals[0].By.Email == bob
	})
	if after := text(blocksOf(r.slack.HomeView(bobID))); strings.Contains(after, "Waiting for you") {
		t.Errorf("bob's Home after approving %s, want nothing waiting", after)
	}
	eventually(t, "access active", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return got.Status == latch.StatusActive
	})
	if annHome := r.openHome(annID); !slices.Contains(actionIDs(blocksOf(annHome)), "revoke") {
		t.Errorf("ann's Home %s, want her active access with Revoke", text(blocksOf(annHome)))
	}
}

// A long list stays within Slack's 100 blocks: the Home tab shows the
// first requests and says how many more there are.
func TestAppHomeStaysWithinSlacksLimits(t *testing.T) {
	r := newRig(t)
	for range 20 {
		if _, err := r.eng.Create(context.Background(), engine.CreateInput{Flow: "deploy", UserEmail: ann, Source: latch.SourceAPI}); err != nil {
			t.Fatal(err)
		}
	}
	home := r.openHome(bobID)
	if n := len(blocksOf(home)); n > 100 {
		t.Fatalf("Home tab of %d blocks", n)
	}
	if all := text(blocksOf(home)); !strings.Contains(all, "and 6 more") {
		t.Errorf("bob's Home %s, want 14 requests and a note of 6 more", all)
	}
	if n := len(actionIDs(blocksOf(r.openHome(annID)))); n != 0 {
		t.Errorf("ann's Home has %d buttons on her own pending requests", n)
	}
}
