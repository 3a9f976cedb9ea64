package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

const carolSlack = "U0CAROL"

// forwardFlow is an approval-only flow whose requests nobody of
// #access-requests decides: after 2s they are forwarded by steps.
func forwardFlow(name, steps, timeout string) string {
	return `name: ` + name + `
fields:
  - {name: reason, type: string, required: true}
approval:
  channel: "#access-requests"
  approvers: [alice@example.com]
  forward:
` + steps + `
  timeout: ` + timeout + `
`
}

// TestSlackForwarding: a request undecided for the first step's after is
// posted to the step's channel, the original message says where it went,
// and the step's backup approver approves it with a click there; a step
// whose destination Slack cannot reach moves on to the next at once; and
// after the last step a request still undecided expires as before. It
// asserts on audit events and Slack calls, never on elapsed time.
func TestSlackForwarding(t *testing.T) {
	slack := slacktest.NewServer(t)
	slack.AddUser(bobSlack, slacktest.Team, "bob@example.com")
	slack.AddUser(aliceSlack, slacktest.Team, "alice@example.com")
	slack.AddUser(carolSlack, slacktest.Team, "carol@example.com")
	flows := writeFlows(t, map[string]string{
		"backup.yaml": forwardFlow("backup",
			`    - {after: 2s, channel: "#sre-leads", approvers: [carol@example.com]}`, "1h"),
		"unreachable.yaml": forwardFlow("unreachable",
			"    - {after: 2s, dm: [ghost@example.com]}\n    - {after: 3s, channel: \"#sre-leads\"}", "4s"),
	})
	srv := startServerEnv(t, []string{"SLACK_SIGNING_SECRET=" + slackSecret, "SLACK_BOT_TOKEN=" + slacktest.Token,
		"SLACK_API_URL=" + slack.URL}, flows, t.TempDir())
	api := srv.client()
	ctx := context.Background()
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	create := func(flow string) latch.Request {
		t.Helper()
		r, err := api.CreateRequest(ctx, httpapi.CreateBody{Flow: flow, UserEmail: "bob@example.com",
			Fields: map[string]any{"reason": "incident 9"}})
		if err != nil {
			t.Fatalf("create %s: %v", flow, err)
		}
		return r
	}
	events := func(id string) []latch.AuditEvent {
		t.Helper()
		evs, err := api.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}

	// The backup chain: nobody in #access-requests decides.
	req := create("backup")
	eventually("approval message in #access-requests", func() bool { return len(slack.Posts("#access-requests")) == 1 })
	original := messageTS(t, slack, slack.ChannelID("access-requests"))
	eventually("request forwarded to #sre-leads", func() bool { return len(slack.Posts("#sre-leads")) == 1 })
	types := auditTypes(t, api, req.ID)
	if !slices.Equal(types, []latch.AuditType{latch.AuditRequested, latch.AuditForwarded}) {
		t.Fatalf("audit trail %v, want requested then forwarded", types)
	}
	if fwd := events(req.ID)[1]; fwd.Data["channel"] != "#sre-leads" || fwd.Source != latch.SourceSchedule {
		t.Errorf("forwarded event %+v, want the step's channel, from the schedule", fwd)
	}
	eventually("the original message says where the request went", func() bool {
		for _, c := range slack.CallsTo("chat.update") {
			if c.Param("ts") == original && strings.Contains(c.Param("blocks"), "Forwarded to #sre-leads") {
				return true
			}
		}
		return false
	})
	leads := slack.ChannelID("sre-leads")
	blocks, _ := slack.LastBlocks(t, "chat.postMessage")
	if raw, _ := json.Marshal(blocks); !strings.Contains(string(raw), `"approve"`) {
		t.Fatalf("the forwarded message has no Approve button: %s", raw)
	}
	click := slacktest.Click(slacktest.Team, carolSlack, "approve", req.ID, leads, messageTS(t, slack, leads), "backup on duty")
	click["response_url"] = slack.ResponseURL("actions/carol")
	if status, _ := slacktest.Post(t, srv.URL+"/slack/interactions", []byte(slackSecret), "application/x-www-form-urlencoded",
		slacktest.Form(t, click)); status != http.StatusOK {
		t.Fatalf("carol's click: %d", status)
	}
	got := waitStatus(t, api, req.ID, latch.StatusApproved, 20*time.Second)
	if len(got.Approvals) != 1 || got.Approvals[0].By.Email != "carol@example.com" {
		t.Errorf("approvals %+v, want carol's", got.Approvals)
	}

	// The unreachable chain: step 1 DMs someone Slack does not know, so the
	// request moves to step 2 at once; then it expires.
	req = create("unreachable")
	waitStatus(t, api, req.ID, latch.StatusExpired, 20*time.Second)
	evs := events(req.ID)
	var kinds []latch.AuditType
	for _, e := range evs {
		kinds = append(kinds, e.Type)
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditForwarded, latch.AuditForwarded, latch.AuditExpired}
	if !slices.Equal(kinds, want) {
		t.Fatalf("audit trail %v, want %v", kinds, want)
	}
	if evs[2].Data["undeliverable"] == nil || evs[2].Data["channel"] != "#sre-leads" {
		t.Errorf("second forwarded event %+v, want step 2 reached because step 1 was undeliverable", evs[2].Data)
	}
	if evs[1].Data["undeliverable"] != nil {
		t.Errorf("first forwarded event %+v: step 1 was reached on time", evs[1].Data)
	}
	eventually("step 2 posted to #sre-leads", func() bool { return len(slack.Posts("#sre-leads")) == 2 })
}
