package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

const slackSecret = "e2e-slack-signing-secret"

// The Slack people of the end-to-end test: bob requests, alice approves,
// sam is another organisation's, over Slack Connect.
const (
	bobSlack   = "U0BOB"
	aliceSlack = "U0ALICE"
	samSlack   = "U0SAM"
)

func TestSlackRequestApproveRevoke(t *testing.T) {
	tg := newTarget(t)
	slack := slacktest.NewServer(t)
	slack.AddUser(bobSlack, slacktest.Team, "bob@example.com")
	slack.AddUser(aliceSlack, slacktest.Team, "alice@example.com")
	slack.AddUser(samSlack, "T0PARTNER", "sam@partner.example")
	slack.UpdateUser(samSlack, func(u *slacktest.User) { u.IsStranger = true })
	srv := startServerEnv(t, []string{"SLACK_SIGNING_SECRET=" + slackSecret, "SLACK_BOT_TOKEN=" + slacktest.Token, "SLACK_API_URL=" + slack.URL},
		writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	api := srv.client()
	ctx := context.Background()
	post := func(route string, body []byte) (int, map[string]any) {
		t.Helper()
		status, out := slacktest.Post(t, srv.URL+route, []byte(slackSecret), "application/x-www-form-urlencoded", body)
		var m map[string]any
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("%s answered %q", route, out)
			}
		}
		return status, m
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Unsigned and tampered requests are refused and leave no trace.
	cmd := slacktest.Command(slacktest.Team, bobSlack, "req prod-access")
	for name, req := range map[string]func() *http.Request{
		"unsigned": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/commands", strings.NewReader(string(cmd)))
			return r
		},
		"tampered": func() *http.Request {
			ts, sig := slacktest.Sign([]byte(slackSecret), time.Now(), cmd)
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/commands", strings.NewReader(strings.Replace(string(cmd), "bob", "eve", 1)+"x"))
			r.Header.Set("X-Slack-Request-Timestamp", ts)
			r.Header.Set("X-Slack-Signature", sig)
			return r
		},
	} {
		resp, err := http.DefaultClient.Do(req())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s slash command: %d, want 401", name, resp.StatusCode)
		}
	}
	if n := len(slack.Calls()); n != 0 {
		t.Fatalf("refused requests made %d Slack calls", n)
	}

	// shown waits until the modal shows the view called callback.
	shown := func(callback string) map[string]any {
		t.Helper()
		var v map[string]any
		eventually("the modal shows "+callback, func() bool {
			v = slack.ShownView(t)
			return v["callback_id"] == callback
		})
		return v
	}
	// click is a click whose response_url is the fake Slack's.
	click := func(user, action, requestID, channel, ts string) []byte {
		c := slacktest.Click(slacktest.Team, user, action, requestID, channel, ts, "")
		c["response_url"] = slack.ResponseURL("actions/" + user + "/" + action)
		return slacktest.Form(t, c)
	}

	// A Slack Connect user cannot start a request: the modal opened at once
	// says why.
	if status, answer := post("/slack/commands", slacktest.Command("T0PARTNER", samSlack, "req prod-access")); status != http.StatusOK || answer != nil {
		t.Fatalf("a Slack Connect /latch: %d %v, want an empty 200 (the modal)", status, answer)
	}
	if refusal, _ := json.Marshal(shown("latch_request_error")); !strings.Contains(string(refusal), "Slack Connect") {
		t.Fatalf("a Slack Connect /latch: modal %s, want the refusal", refusal)
	}

	// Slash command → modal → submission.
	if status, answer := post("/slack/commands", cmd); status != http.StatusOK || answer != nil {
		t.Fatalf("/latch req: %d %v", status, answer)
	}
	view := shown("latch_request")
	status, answer := post("/slack/interactions", slacktest.Form(t, slacktest.Submission(slacktest.Team, bobSlack, view, map[string]map[string]any{
		"reason":   {"type": "plain_text_input", "value": "incident 7"},
		"duration": {"type": "plain_text_input", "value": "1h"},
	})))
	if status != http.StatusOK || answer["response_action"] != "update" {
		t.Fatalf("submission: %d %v", status, answer)
	}

	// The approval message appears in the channel, with buttons.
	channel := slack.ChannelID("access-requests")
	eventually("approval message posted", func() bool { return len(slack.Posts("#access-requests")) == 1 })
	var reqs []latch.Request
	eventually("request created", func() bool {
		var err error
		reqs, err = api.ListRequests(ctx, latch.RequestFilter{})
		return err == nil && len(reqs) == 1
	})
	req := reqs[0]
	if req.Requester.Email != "bob@example.com" || req.Source != latch.SourceSlack || req.Status != latch.StatusPending {
		t.Fatalf("request %+v, want bob's pending Slack request", req)
	}
	blocks, _ := slack.LastBlocks(t, "chat.postMessage")
	if got := slacktest.ActionIDs(blocks); !slices.Equal(got, []string{"approve", "deny"}) {
		t.Fatalf("buttons %v, want approve and deny", got)
	}
	ts := messageTS(t, slack, channel)

	// bob may not approve his own request: he is told, only him.
	post("/slack/interactions", click(bobSlack, "approve", req.ID, channel, ts))
	eventually("bob told he may not approve", func() bool { return len(slack.Responses()) == 1 })
	if r := slack.Responses()[0]; r.Path != "/response/actions/"+bobSlack+"/approve" || r.Body["response_type"] != "ephemeral" ||
		!strings.Contains(r.Body["text"].(string), "own request") {
		t.Fatalf("self-approval: response %+v, want an ephemeral refusal to bob", r)
	}

	// alice approves: the webhook grants, the message is updated, bob is DM'd.
	approve := slacktest.Click(slacktest.Team, aliceSlack, "approve", req.ID, channel, ts, "ok for the incident")
	approve["response_url"] = slack.ResponseURL("actions/alice")
	post("/slack/interactions", slacktest.Form(t, approve))
	if c := tg.next(15 * time.Second); c.Action != "escalate" {
		t.Fatalf("webhook call %q, want escalate", c.Action)
	}
	waitStatus(t, api, req.ID, latch.StatusActive, 15*time.Second)
	eventually("message shows active access with Revoke", func() bool {
		if len(slack.CallsTo("chat.update")) == 0 {
			return false
		}
		b, last := slack.LastBlocks(t, "chat.update")
		return last.Param("ts") == ts && slices.Equal(slacktest.ActionIDs(b), []string{"revoke"})
	})
	eventually("bob DM'd at approve and grant", func() bool { return len(slack.Posts(slack.IM(bobSlack))) >= 2 })

	// bob revokes: the webhook revokes, the message shows the end.
	post("/slack/interactions", click(bobSlack, "revoke", req.ID, channel, ts))
	if c := tg.next(15 * time.Second); c.Action != "deescalate" {
		t.Fatalf("webhook call %q, want deescalate", c.Action)
	}
	waitStatus(t, api, req.ID, latch.StatusEnded, 15*time.Second)
	eventually("message shows the end without buttons", func() bool {
		b, _ := slack.LastBlocks(t, "chat.update")
		raw, _ := json.Marshal(b)
		return len(slacktest.ActionIDs(b)) == 0 && strings.Contains(string(raw), "Access ended")
	})
	eventually("bob DM'd at the end", func() bool {
		dms := slack.Posts(slack.IM(bobSlack))
		return len(dms) == 3 && strings.Contains(dms[2], "has ended")
	})
	if n := len(slack.Posts("#access-requests")); n != 1 {
		t.Errorf("%d approval messages posted, want one, updated in place", n)
	}
	types := auditTypes(t, api, req.ID)
	for _, want := range []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditReleased, latch.AuditDeescalated} {
		if !slices.Contains(types, want) {
			t.Errorf("audit trail %v lacks %s", types, want)
		}
	}
}

// messageTS is the ts of the first message Latch posted to channel.
func messageTS(t *testing.T, slack *slacktest.Server, channel string) string {
	t.Helper()
	ts := slack.MessageTS(channel)
	if ts == "" {
		t.Fatalf("no message in %s", channel)
	}
	return ts
}

func TestSlackSocketMode(t *testing.T) {
	tg := newTarget(t)
	slack := slacktest.NewServer(t)
	slack.AddUser(bobSlack, slacktest.Team, "bob@example.com")
	// No signing secret and no public route: Latch connects out to Slack.
	srv := startServerEnv(t, []string{"SLACK_APP_TOKEN=" + slacktest.AppToken, "SLACK_BOT_TOKEN=" + slacktest.Token, "SLACK_API_URL=" + slack.URL},
		writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	fields := map[string]any{"team_id": slacktest.Team, "user_id": bobSlack, "command": "/latch", "text": "whoami",
		"trigger_id": slacktest.TriggerID, "channel_id": "C0GENERAL", "api_app_id": "A0LATCH",
		"response_url": slack.ResponseURL("commands/1")}
	if ack := slack.Envelope(t, "slash_commands", fields); ack["payload"] != nil {
		t.Errorf("whoami over Socket Mode: ack %v, want none: the answer follows through response_url", ack)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(slack.Responses()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	resps := slack.Responses()
	if len(resps) != 1 {
		t.Fatalf("whoami over Socket Mode: %d responses, want 1", len(resps))
	}
	if text, _ := resps[0].Body["text"].(string); !strings.Contains(text, "bob@example.com") || !strings.Contains(text, bobSlack) {
		t.Fatalf("whoami over Socket Mode: response %v", resps[0].Body)
	}
	resp, err := http.Post(srv.URL+"/slack/commands", "application/x-www-form-urlencoded", strings.NewReader("command=%2Flatch"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /slack/commands without a signing secret: %d, want 404 (only Socket Mode is on)", resp.StatusCode)
	}
}
