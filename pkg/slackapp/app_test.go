package slackapp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/latchhq/latch/pkg/apigw"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

func TestLatchOpensThePickerOfSlackFlows(t *testing.T) {
	r := newRig(t)
	status, answer := r.command(annID, team, "")
	if status != http.StatusOK || answer != nil {
		t.Fatalf("/latch: %d %v, want an empty 200 (the modal is the answer)", status, answer)
	}
	calls := r.slack.CallsTo("views.open")
	if len(calls) != 1 || calls[0].Param("trigger_id") != slacktest.TriggerID {
		t.Fatalf("views.open calls %+v, want one with the command's trigger id", calls)
	}
	v := r.shown()
	if v["callback_id"] != "latch_pick" {
		t.Errorf("callback_id %v, want latch_pick", v["callback_id"])
	}
	sel := block(t, blocksOf(v), "pick")["accessory"].(map[string]any)
	var offered []string
	for _, o := range sel["options"].([]any) {
		offered = append(offered, o.(map[string]any)["value"].(string))
	}
	if !slices.Equal(offered, []string{"partner-approval", "prod-access"}) {
		t.Errorf("picker offers %v, want the flows requestable from Slack (not the api-only deploy)", offered)
	}

	// Picking a flow replaces the picker with its form.
	pick := click(annID, team, "pick_flow", "", "", "", "")
	delete(pick, "channel")
	delete(pick, "message")
	pick["container"] = map[string]any{"type": "view", "view_id": "V0PICK"}
	picker := r.shown()
	pick["view"] = map[string]any{"id": picker["id"], "hash": picker["hash"], "type": "modal", "callback_id": "latch_pick", "state": map[string]any{"values": map[string]any{}}}
	pick["actions"] = []any{map[string]any{"action_id": "pick_flow", "block_id": "pick", "type": "static_select", "action_ts": "1.2",
		"selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "Production access"}, "value": "prod-access"}}}
	if status, _ := r.interact(pick); status != http.StatusOK {
		t.Fatalf("pick: %d", status)
	}
	upd := r.slack.CallsTo("views.update")
	if last := upd[len(upd)-1]; last.Param("view_id") != picker["id"] || last.Param("hash") != picker["hash"] || last.Error != "" {
		t.Fatalf("views.update %+v, want one for the picker's view and hash", last)
	}
	if form := r.shown(); form["callback_id"] != "latch_request" || !strings.Contains(form["private_metadata"].(string), `"flow":"prod-access"`) {
		t.Errorf("picked view %v, want prod-access's form", form)
	}
}

func TestReqOfUnknownFlowOpensThePickerWithANote(t *testing.T) {
	r := newRig(t)
	r.command(annID, team, "req nosuch")
	v := r.shown()
	if v["callback_id"] != "latch_pick" || !strings.Contains(text(blocksOf(v)), `There is no flow \"nosuch\"`) {
		t.Errorf("view %v, want the picker with a note naming nosuch", v)
	}
	// An api-only flow is not requestable from Slack either.
	r.command(annID, team, "req deploy")
	if v := r.shown(); v["callback_id"] != "latch_pick" {
		t.Errorf("req deploy opened %v, want the picker", v["callback_id"])
	}
}

func TestRequestFormIsBuiltFromTheFlow(t *testing.T) {
	r := newRig(t)
	r.command(annID, team, "req prod-access")
	v := r.shown()
	blocks := blocksOf(v)
	if v["callback_id"] != "latch_request" || v["submit"] == nil {
		t.Fatalf("view %v, want a request form with a submit button", v)
	}
	if got := blocks[1]["text"].(map[string]any); got["type"] != "mrkdwn" || !strings.Contains(got["text"].(string), "<https://wiki.example.com/prod|the runbook>") {
		t.Errorf("second block %v, want additional_header_text as mrkdwn", blocks[1])
	}
	element := func(id string) map[string]any { return block(t, blocks, id)["element"].(map[string]any) }
	want := map[string]string{"target_id": "static_select", "reason": "plain_text_input", "duration": "static_select",
		"ticket": "number_input", "break_glass": "checkboxes", "regions": "plain_text_input", "hosts": "plain_text_input",
		"buddy": "users_select", "watchers": "multi_users_select"}
	for id, typ := range want {
		if got := element(id)["type"]; got != typ {
			t.Errorf("field %s: element %v, want %s", id, got, typ)
		}
	}
	if len(element("target_id")["options"].([]any)) != 2 {
		t.Errorf("target picker %v, want the two targets", element("target_id"))
	}
	if opt := element("duration")["initial_option"].(map[string]any); opt["value"] != "1h" {
		t.Errorf("duration initial option %v, want the default 1h", opt)
	}
	if block(t, blocks, "reason")["optional"] == true || block(t, blocks, "ticket")["optional"] != true {
		t.Errorf("required reason must not be optional, ticket must be")
	}
	if element("hosts")["multiline"] != true {
		t.Errorf("a free list is a multi-line input, one per line")
	}
}

func TestInvalidSubmissionAnswersErrorsNextToTheFieldsAndCreatesNothing(t *testing.T) {
	r := newRig(t)
	r.command(annID, team, "req prod-access")
	v := r.shown()
	status, answer := r.interact(submission(annID, team, v, map[string]map[string]any{
		"ticket": {"type": "number_input", "value": "12.5"},
	}))
	if status != http.StatusOK || answer["response_action"] != "errors" {
		t.Fatalf("answer %d %v, want response_action errors", status, answer)
	}
	errs := answer["errors"].(map[string]any)
	for _, id := range []string{"reason", "target_id", "ticket"} {
		if errs[id] == nil {
			t.Errorf("no error next to %s: %v", id, errs)
		}
	}
	if !strings.Contains(errs["reason"].(string), "required") {
		t.Errorf("reason error %q, want it to say the field is required", errs["reason"])
	}
	if rs := r.requests(); len(rs) != 0 {
		t.Errorf("an invalid submission created %d requests", len(rs))
	}
	if n := len(r.slack.CallsTo("chat.postMessage")); n != 0 {
		t.Errorf("an invalid submission posted %d messages", n)
	}
}

// submitValid opens prod-access's form as ann and submits it.
func (r *rig) submitValid() latch.Request {
	r.t.Helper()
	r.command(annID, team, "req prod-access")
	v := r.shown()
	status, answer := r.interact(submission(annID, team, v, map[string]map[string]any{
		"target_id":   {"type": "static_select", "selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "Production database"}, "value": "prod-db"}},
		"reason":      {"type": "plain_text_input", "value": "incident 4711"},
		"duration":    {"type": "static_select", "selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "30m"}, "value": "30m"}},
		"ticket":      {"type": "number_input", "value": "4711"},
		"break_glass": {"type": "checkboxes", "selected_options": []any{}},
		"regions":     {"type": "plain_text_input", "value": "5432\n6379"},
		"hosts":       {"type": "plain_text_input", "value": "db-1\n\n db-2 "},
		"buddy":       {"type": "users_select", "selected_user": carID},
		"watchers":    {"type": "multi_users_select", "selected_users": []any{bobID, carID}},
	}))
	if status != http.StatusOK || answer["response_action"] != "update" {
		r.t.Fatalf("valid submission: %d %v, want response_action update", status, answer)
	}
	rs := r.requests()
	if len(rs) != 1 {
		r.t.Fatalf("%d requests, want 1", len(rs))
	}
	return rs[0]
}

func TestSubmissionCreatesTheRequestAndPostsTheApprovalMessage(t *testing.T) {
	r := newRig(t)
	req := r.submitValid()
	wantFields := map[string]any{"reason": "incident 4711", "duration": int64(1800), "ticket": int64(4711), "break_glass": false,
		"regions": []int64{5432, 6379}, "hosts": []string{"db-1", "db-2"}, "buddy": carID, "watchers": []string{bobID, carID},
		"target_id": "prod-db"}
	got, _ := json.Marshal(req.Fields)
	want, _ := json.Marshal(wantFields)
	if string(got) != string(want) {
		t.Errorf("fields %s, want %s", got, want)
	}
	if req.Requester.Email != ann || req.Source != latch.SourceSlack || req.Status != latch.StatusPending || req.TargetID != "prod-db" {
		t.Errorf("request %+v, want ann's pending Slack request for prod-db", req)
	}
	posts := r.slack.CallsTo("chat.postMessage")
	if len(posts) != 1 || posts[0].Param("channel") != "#access-requests" || refChannel(t, r, req.ID) != r.slack.ChannelID("access-requests") {
		t.Fatalf("posts %+v, want one to #access-requests", posts)
	}
	blocks := messageBlocks(t, posts[0])
	if ids := actionIDs(blocks); !slices.Equal(ids, []string{"approve", "deny"}) {
		t.Errorf("buttons %v, want approve and deny", ids)
	}
	if !containsAll(text(blocks), "<@"+annID+">", "Production database", "30m", "incident 4711", "<@"+carID+">", req.ID) {
		t.Errorf("message %s lacks the requester, target, duration, fields or id", text(blocks))
	}
	block(t, blocks, "reason") // the optional decision reason
	refs, err := r.store.MessageRefs(context.Background(), req.ID)
	if err != nil || len(refs) != 1 || refs[0].Kind != slackapp.RefApproval || !strings.HasPrefix(refs[0].TS, "1700000000.") {
		t.Fatalf("message refs %+v %v, want the posted message", refs, err)
	}
	u, err := r.store.GetUser(context.Background(), ann)
	if err != nil || u.SlackIDs[team] != annID || u.Role != latch.RoleMember {
		t.Errorf("ann in the store: %+v %v, want a member with her Slack id", u, err)
	}
}

func TestApproveThenRevokeInSlack(t *testing.T) {
	r := newRig(t)
	req := r.submitValid()
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	channel, ts := ref[0].Channel, ref[0].TS

	if status, _ := r.interact(click(bobID, team, "approve", req.ID, channel, ts, "looks fine")); status != http.StatusOK {
		t.Fatalf("approve: %d", status)
	}
	eventually(t, "access granted", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return got.Status == latch.StatusActive
	})
	got, _ := r.store.GetRequest(context.Background(), req.ID)
	if len(got.Approvals) != 1 || got.Approvals[0].By.Email != bob || got.Approvals[0].Reason != "looks fine" {
		t.Errorf("approvals %+v, want bob's with his reason", got.Approvals)
	}
	if g, _ := r.esc.counts(); g != 1 {
		t.Errorf("%d grants, want 1", g)
	}
	eventually(t, "message shows active access with a revoke button", func() bool {
		ups := r.slack.CallsTo("chat.update")
		if len(ups) == 0 {
			return false
		}
		last := ups[len(ups)-1]
		b := messageBlocks(t, last)
		return last.Param("ts") == ts && slices.Equal(actionIDs(b), []string{"revoke"}) && strings.Contains(text(b), "Access active")
	})
	eventually(t, "ann DM'd at approve and escalate", func() bool { return len(r.dmsTo(annID)) == 2 })
	dms := r.dmsTo(annID)
	if !strings.Contains(dms[0], "approved by <@"+bobID+">") || !strings.Contains(dms[1], "You have access to") {
		t.Errorf("DMs %q, want approved then access", dms)
	}

	// The requester revokes early.
	if status, _ := r.interact(click(annID, team, "revoke", req.ID, channel, ts, "")); status != http.StatusOK {
		t.Fatalf("revoke: %d", status)
	}
	eventually(t, "access ended", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return got.Status == latch.StatusEnded
	})
	if _, rv := r.esc.counts(); rv != 1 {
		t.Errorf("%d revokes, want 1", rv)
	}
	eventually(t, "message shows the end, with no buttons", func() bool {
		ups := r.slack.CallsTo("chat.update")
		b := messageBlocks(t, ups[len(ups)-1])
		return len(actionIDs(b)) == 0 && strings.Contains(text(b), "Access ended") && strings.Contains(text(b), "Released early by <@"+annID+">")
	})
	eventually(t, "ann DM'd at the end", func() bool { return len(r.dmsTo(annID)) == 3 })
	if dm := r.dmsTo(annID)[2]; !strings.Contains(dm, "has ended") {
		t.Errorf("last DM %q, want the end", dm)
	}
	if n := len(r.slack.Posts("#access-requests")); n != 1 {
		t.Errorf("%d approval messages posted, want the one message updated in place", n)
	}
}

func TestPeopleWhoMayNotActAreToldEphemerallyAndNothingChanges(t *testing.T) {
	r := newRig(t)
	req := r.submitValid()
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	channel, ts := ref[0].Channel, ref[0].TS
	events := func() int {
		ev, err := r.store.AuditEvents(context.Background(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ev)
	}
	before := events()

	cases := []struct {
		name, user, userTeam, action, want string
	}{
		{"self-approval", annID, team, "approve", "own request"},
		{"not an approver", carID, team, "approve", "not an approver"},
		{"not an approver denies", carID, team, "deny", "not an approver"},
		{"slack connect guest", strangerID, otherTeam, "approve", "guests cannot act"},
		{"revoke while pending", bobID, team, "revoke", ""},
	}
	for i, c := range cases {
		if status, _ := r.interact(click(c.user, c.userTeam, c.action, req.ID, channel, ts, "")); status != http.StatusOK {
			t.Fatalf("%s: %d", c.name, status)
		}
		// The refusal goes to the click's response_url, which shows it to
		// the clicker only.
		resp := r.slack.Responses()
		if len(resp) != i+1 {
			t.Fatalf("%s: %d responses, want %d", c.name, len(resp), i+1)
		}
		last := resp[len(resp)-1].Body
		if last["response_type"] != "ephemeral" || last["replace_original"] != false || !strings.Contains(last["text"].(string), c.want) {
			t.Errorf("%s: response %v, want an ephemeral saying %q", c.name, last, c.want)
		}
	}
	got, _ := r.store.GetRequest(context.Background(), req.ID)
	if got.Status != latch.StatusPending || len(got.Approvals) != 0 || events() != before {
		t.Errorf("refused clicks changed the request: %s, %d approvals, %d events (was %d)", got.Status, len(got.Approvals), events(), before)
	}
	if u, err := r.store.GetUser(context.Background(), stranger); err != nil || u.Role != latch.RoleGuest {
		t.Errorf("the Slack Connect user: %+v %v, want a guest", u, err)
	}
}

func TestSlackConnectUsersCannotRequest(t *testing.T) {
	r := newRig(t)
	// Not yet known: the modal opened at once says why.
	status, answer := r.command(strangerID, otherTeam, "req partner-approval")
	if status != http.StatusOK || answer != nil {
		t.Fatalf("answer %d %v, want an empty 200 (the modal)", status, answer)
	}
	if v := r.shown(); v["callback_id"] == "latch_request" || !strings.Contains(text(blocksOf(v)), "Slack Connect") {
		t.Errorf("a Slack Connect user was shown %v, want the refusal", v)
	}
	// Known: refused at once, with no modal.
	opened := len(r.slack.CallsTo("views.open"))
	status, answer = r.command(strangerID, otherTeam, "req partner-approval")
	if status != http.StatusOK || answer["response_type"] != "ephemeral" || !strings.Contains(answer["text"].(string), "Slack Connect") {
		t.Fatalf("answer %d %v, want an ephemeral refusal", status, answer)
	}
	if n := len(r.slack.CallsTo("views.open")); n != opened {
		t.Errorf("a known Slack Connect user got a modal opened")
	}
	// A form submitted anyway (say, opened before) creates nothing.
	r.command(annID, team, "req partner-approval")
	v := r.shown()
	_, answer = r.interact(submission(strangerID, otherTeam, v, map[string]map[string]any{
		"reason": {"type": "plain_text_input", "value": "please"}}))
	if answer["response_action"] != "errors" {
		t.Errorf("stranger's submission answered %v, want errors", answer)
	}
	if rs := r.requests(); len(rs) != 0 {
		t.Errorf("a Slack Connect user created %d requests", len(rs))
	}
}

func TestGuestsActOnFlowsThatAllowThem(t *testing.T) {
	r := newRig(t)
	r.command(annID, team, "req partner-approval")
	r.interact(submission(annID, team, r.shown(), map[string]map[string]any{
		"reason": {"type": "plain_text_input", "value": "contract"}}))
	rs := r.requests()
	if len(rs) != 1 {
		t.Fatalf("%d requests", len(rs))
	}
	ref, _ := r.store.MessageRefs(context.Background(), rs[0].ID)
	if len(ref) != 1 || ref[0].Channel != "C0PARTNERS" {
		t.Fatalf("refs %+v, want the message in C0PARTNERS", ref)
	}
	r.interact(click(strangerID, otherTeam, "approve", rs[0].ID, ref[0].Channel, ref[0].TS, ""))
	got, _ := r.store.GetRequest(context.Background(), rs[0].ID)
	if got.Status != latch.StatusApproved || got.Approvals[0].By.Email != stranger {
		t.Errorf("request %s approved by %+v, want approved by the partner", got.Status, got.Approvals)
	}
}

func TestWhoami(t *testing.T) {
	r := newRig(t)
	if err := r.store.PutIdentity(context.Background(), latch.Identity{Email: ann, Service: "github", ID: "ann-gh", Source: latch.IdentityFromAdmin, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// whoami looks the person up after the answer, and tells them through
	// the command's response_url.
	if _, answer := r.command(annID, team, "whoami"); answer != nil {
		t.Errorf("whoami answered %v, want an empty 200", answer)
	}
	resp := r.slack.Responses()
	if len(resp) != 1 {
		t.Fatalf("%d responses, want 1", len(resp))
	}
	msg, _ := resp[0].Body["text"].(string)
	u, _ := r.store.GetUser(context.Background(), ann)
	if resp[0].Body["response_type"] != "ephemeral" || !containsAll(msg, ann, u.ID, "member", team, annID, "github", "ann-gh") {
		t.Errorf("whoami %v, want ann's id, email, role, team, user and identities", resp[0].Body)
	}
	r.command(strangerID, otherTeam, "whoami")
	if msgs := r.responses(); !containsAll(msgs[len(msgs)-1], "guest", "Slack Connect") {
		t.Errorf("stranger's whoami %q, want guest and Slack Connect", msgs[len(msgs)-1])
	}
	_, answer := r.command(annID, team, "help")
	if !strings.Contains(answer["text"].(string), "/latch req") {
		t.Errorf("help %v", answer)
	}
}

func TestURLVerificationAndEvents(t *testing.T) {
	r := newRig(t)
	status, body := r.post("/slack/events", "application/json", readTestdata(t, "url_verification.json"))
	var got map[string]string
	_ = json.Unmarshal(body, &got)
	if status != http.StatusOK || got["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("url_verification: %d %s", status, body)
	}
	status, _ = r.post("/slack/events", "application/json", []byte(`{"type":"event_callback","team_id":"T0LATCH","event":{"type":"app_home_opened"},"event_id":"Ev1"}`))
	if status != http.StatusOK {
		t.Errorf("event_callback: %d, want 200", status)
	}
}

func TestOptionsForExternalSelects(t *testing.T) {
	r := newRig(t)
	body := map[string]any{"type": "block_suggestion", "user": map[string]any{"id": annID, "team_id": team},
		"team": map[string]any{"id": team}, "action_id": "value", "block_id": "target_id", "value": "clus",
		"view": map[string]any{"id": "V1", "type": "modal", "callback_id": "latch_request", "private_metadata": `{"flow":"prod-access"}`}}
	b, _ := json.Marshal(body)
	status, out := r.post("/slack/options", "application/x-www-form-urlencoded", []byte("payload="+strings.ReplaceAll(string(b), "&", "%26")))
	var got struct {
		Options []slackapp.Option `json:"options"`
	}
	_ = json.Unmarshal(out, &got)
	if status != http.StatusOK || len(got.Options) != 1 || got.Options[0].Value != "prod-k8s" {
		t.Errorf("options %d %s, want the one target matching \"clus\"", status, out)
	}
}

func TestUnverifiedRequestsAreRefusedAndLeaveNoTrace(t *testing.T) {
	r := newRig(t)
	form := []byte("command=%2Flatch&user_id=" + annID + "&team_id=" + team + "&text=&trigger_id=1.2.3")
	send := func(ts, sig string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, r.url+"/slack/commands", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if ts != "" {
			req.Header.Set(slackapp.HeaderTimestamp, ts)
		}
		if sig != "" {
			req.Header.Set(slackapp.HeaderSignature, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ts, sig := slacktest.Sign(signingSecret, time.Now(), form)
	staleTS, staleSig := slacktest.Sign(signingSecret, time.Now().Add(-6*time.Minute), form)
	tampered := append([]byte(nil), form...)
	tampered[len(tampered)-1] = '4'
	for name, status := range map[string]int{
		"unsigned":  send("", "", form),
		"tampered":  send(ts, sig, tampered),
		"stale":     send(staleTS, staleSig, form),
		"bad key":   send(ts, "v0="+strings.Repeat("0", 64), form),
		"no prefix": send(ts, strings.TrimPrefix(sig, "v0="), form),
	} {
		if status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, status)
		}
	}
	if calls := r.slack.Calls(); len(calls) != 0 {
		t.Errorf("refused requests made %d Slack calls", len(calls))
	}
	if us, _ := r.store.ListUsers(context.Background()); len(us) != 0 {
		t.Errorf("refused requests created %d users", len(us))
	}
	if status := send(ts, sig, form); status != http.StatusOK {
		t.Errorf("the same request signed properly: %d, want 200", status)
	}
}

// refChannel is the channel of the request's one approval message ref.
func refChannel(tb testing.TB, r *rig, requestID string) string {
	tb.Helper()
	refs, err := r.store.MessageRefs(context.Background(), requestID)
	if err != nil || len(refs) != 1 {
		tb.Fatalf("refs %+v %v, want one", refs, err)
	}
	return refs[0].Channel
}

func TestFlowsOfferedOnlyToWhomTheirRuleNames(t *testing.T) {
	r := newRig(t, prodFlow, guestFlow+"visible_to: 'requester.email.startsWith(\"bob@\")'\n")
	r.command(annID, team, "")
	// ann is offered only prod-access, so its form opens at once.
	if v := r.shown(); !strings.Contains(v["private_metadata"].(string), `"flow":"prod-access"`) {
		t.Errorf("ann was offered %v, want prod-access only", v["private_metadata"])
	}
	r.command(bobID, team, "")
	if v := r.shown(); v["callback_id"] != "latch_pick" {
		t.Errorf("bob sees %v, want the picker of both flows", v["callback_id"])
	}
}

func TestTheHandlerServesAPIGatewayEvents(t *testing.T) {
	r := newRig(t)
	lambda := apigw.Handler(r.app.Handler())
	body := slacktest.Command(team, annID, "help")
	ts, sig := slacktest.Sign(signingSecret, time.Now(), body)
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "POST /slack/commands", RawPath: "/slack/commands",
		Headers: map[string]string{"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts,
			"x-slack-signature": sig, "host": "abc123.execute-api.eu-west-1.amazonaws.com"},
		Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true}
	ev.RequestContext.HTTP.Method = http.MethodPost
	ev.RequestContext.HTTP.Path = "/slack/commands"
	ev.RequestContext.Stage = "$default"
	resp, err := lambda(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "/latch req") {
		t.Fatalf("help through API Gateway: %v %d %q", err, resp.StatusCode, resp.Body)
	}
	ev.Headers["x-slack-signature"] = "v0=" + strings.Repeat("ab", 32)
	if resp, _ := lambda(context.Background(), ev); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a bad signature through API Gateway: %d, want 401", resp.StatusCode)
	}
}

func TestTellRefused(t *testing.T) {
	r := newRig(t)
	refusal := latch.Errorf(latch.KindForbidden, latch.CodeFlowNotOffered, "Flow \"prod-access\" is not offered to ann@example.com.")
	if err := r.app.TellRefused(context.Background(), "prod-access", ann, refusal); err != nil {
		t.Fatal(err)
	}
	dms := r.dmsTo(annID)
	if len(dms) != 1 || !containsAll(dms[0], "Production access", "not recorded", "is not offered") {
		t.Errorf("DMs %q, want one saying the request was not recorded and why", dms)
	}
}

// The requester is told of a denial, with its reason, and of an expiry.
func TestDenialAndExpiryAreDMd(t *testing.T) {
	r := newRig(t)
	denied := r.submitValid()
	ref, _ := r.store.MessageRefs(context.Background(), denied.ID)
	r.interact(click(bobID, team, "deny", denied.ID, ref[0].Channel, ref[0].TS, "not during the freeze"))
	eventually(t, "ann DM'd the denial", func() bool { return len(r.dmsTo(annID)) == 1 })
	if dm := r.dmsTo(annID)[0]; !containsAll(dm, "was denied by <@"+bobID+">", "not during the freeze") {
		t.Errorf("denial DM %q, want who denied and why", dm)
	}
	b, _ := r.slack.LastBlocks(t, "chat.update")
	if len(actionIDs(b)) != 0 || !strings.Contains(text(b), "Denied") {
		t.Errorf("denied message %s, want no buttons and the denial", text(b))
	}

	r.command(annID, team, "req prod-access")
	r.interact(submission(annID, team, r.shown(), map[string]map[string]any{
		"target_id": {"type": "static_select", "selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "DB"}, "value": "prod-db"}},
		"reason":    {"type": "plain_text_input", "value": "later"}}))
	var pending latch.Request
	for _, q := range r.requests() {
		if q.Status == latch.StatusPending {
			pending = q
		}
	}
	if pending.ID == "" || pending.ExpiresAt == nil {
		t.Fatalf("no pending request with a deadline: %+v", r.requests())
	}
	if err := r.eng.Handle(context.Background(), engine.ExpireCommand(pending.ID, pending.ExpiresAt.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ann DM'd the expiry", func() bool { return len(r.dmsTo(annID)) == 2 })
	if dm := r.dmsTo(annID)[1]; !containsAll(dm, "expired", "/latch req prod-access") {
		t.Errorf("expiry DM %q, want it to say so and how to ask again", dm)
	}
}

// Several workspaces may be connected: people of any of them are members,
// not Slack Connect guests.
func TestSeveralWorkspaces(t *testing.T) {
	r := newRig(t)
	r.app.Teams = []string{team, otherTeam}
	r.slack.AddUser("U0SECOND", otherTeam, "dee@example.com")
	status, _ := r.command("U0SECOND", otherTeam, "whoami")
	if msgs := r.responses(); status != http.StatusOK || len(msgs) != 1 || strings.Contains(msgs[0], "Slack Connect") {
		t.Fatalf("whoami of a second workspace's member: %d %v", status, msgs)
	}
	if u, err := r.store.GetUser(context.Background(), "dee@example.com"); err != nil || u.Role != latch.RoleMember || u.SlackIDs[otherTeam] != "U0SECOND" {
		t.Errorf("the second workspace's member: %+v %v, want a member with the Slack id of that workspace", u, err)
	}
}

// The global shortcut "Request access" opens the flow picker, as /latch
// does.
func TestRequestAccessShortcutOpensThePicker(t *testing.T) {
	r := newRig(t)
	status, _ := r.interact(map[string]any{"type": "shortcut", "token": "legacy", "action_ts": "1700000000.000200",
		"team": map[string]any{"id": team, "domain": "example"}, "user": map[string]any{"id": annID, "username": "ann", "team_id": team},
		"is_enterprise_install": false, "enterprise": nil, "callback_id": slackapp.ShortcutRequestAccess, "trigger_id": slacktest.TriggerID})
	if status != http.StatusOK {
		t.Fatalf("shortcut: %d", status)
	}
	if calls := r.slack.CallsTo("views.open"); len(calls) != 1 || calls[0].Param("trigger_id") != slacktest.TriggerID {
		t.Fatalf("views.open calls %+v, want one with the shortcut's trigger", calls)
	}
	if v := r.shown(); v["callback_id"] != "latch_pick" {
		t.Errorf("the shortcut shows %v, want the flow picker", v["callback_id"])
	}
}

// include_decision_message: false leaves only Approve and Deny: no reason
// box, and no reason taken from a click.
func TestFlowWithoutDecisionMessage(t *testing.T) {
	r := newRig(t, strings.Replace(guestFlow, "allow_revoke: true", "allow_revoke: true\ninclude_decision_message: false", 1))
	r.command(annID, team, "req partner-approval")
	r.interact(submission(annID, team, r.shown(), map[string]map[string]any{"reason": {"type": "plain_text_input", "value": "x"}}))
	req := r.requests()[0]
	blocks, _ := r.slack.LastBlocks(t, "chat.postMessage")
	for _, b := range blocks {
		if b["block_id"] == "reason" {
			t.Errorf("the approval message has a reason box: %s", text(blocks))
		}
	}
	if ids := actionIDs(blocks); !slices.Equal(ids, []string{"approve", "deny"}) {
		t.Errorf("buttons %v, want approve and deny", ids)
	}
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	r.interact(click(strangerID, otherTeam, "approve", req.ID, ref[0].Channel, ref[0].TS, "typed anyway"))
	eventually(t, "approved", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return len(got.Approvals) == 1
	})
	if got, _ := r.store.GetRequest(context.Background(), req.ID); got.Approvals[0].Reason != "" {
		t.Errorf("reason %q kept, want none", got.Approvals[0].Reason)
	}
}

// The API names a person by Slack user id: Latch asks Slack who they are.
func TestSlackUserEmail(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if email, err := r.app.SlackUserEmail(ctx, "", annID); err != nil || email != ann {
		t.Fatalf("SlackUserEmail(ann) = %q, %v; want %s", email, err, ann)
	}
	if u, err := r.store.GetUser(ctx, ann); err != nil || u.SlackIDs[team] != annID {
		t.Errorf("ann recorded as %+v, %v; want her Slack id", u, err)
	}
	for _, tt := range []struct {
		team, user string
		want       latch.ErrorKind
	}{
		{"", "U0NOBODY", latch.KindNotFound},
		{"T0ELSE", annID, latch.KindInvalid},
		{"", "<!channel>", latch.KindInvalid},
	} {
		if _, err := r.app.SlackUserEmail(ctx, tt.team, tt.user); latch.ErrorKindOf(err) != tt.want {
			t.Errorf("SlackUserEmail(%q, %q): %v, want kind %s", tt.team, tt.user, err, tt.want)
		}
	}
	r.app.Teams = []string{team, otherTeam}
	if _, err := r.app.SlackUserEmail(ctx, "", annID); latch.ErrorKindOf(err) != latch.KindInvalid {
		t.Errorf("no team_id with two workspaces: %v, want invalid", err)
	}
	if email, err := r.app.SlackUserEmail(ctx, team, annID); err != nil || email != ann {
		t.Errorf("with team_id: %q, %v", email, err)
	}
}

// "I'm done" on the requester's DM ends their own access on a flow that
// lets nobody else revoke it: only the requester may click it, the grant
// is revoked, and the audit trail records released.
func TestImDoneOnTheRequestersDM(t *testing.T) {
	r := newRig(t, strings.Replace(prodFlow, "allow_revoke: true", "allow_revoke: false", 1), apiFlow, guestFlow)
	req := r.submitValid()
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	if status, _ := r.interact(click(bobID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, "")); status != http.StatusOK {
		t.Fatalf("approve: %d", status)
	}
	eventually(t, "ann DM'd that she has access", func() bool { return len(r.dmsTo(annID)) == 2 })
	im := r.slack.IM(annID)
	var dm slacktest.Call
	for _, c := range r.slack.CallsTo("chat.postMessage") {
		if c.Param("channel") == im {
			dm = c
		}
	}
	blocks := messageBlocks(t, dm)
	if ids := actionIDs(blocks); !slices.Equal(ids, []string{"done"}) || !strings.Contains(text(blocks), "You have access to") {
		t.Fatalf("the access DM's buttons %v (text %s), want I'm done", actionIDs(blocks), text(blocks))
	}
	if ups := r.slack.CallsTo("chat.update"); len(ups) > 0 && len(actionIDs(messageBlocks(t, ups[len(ups)-1]))) != 0 {
		t.Errorf("the approval message offers %v on a flow without allow_revoke", actionIDs(messageBlocks(t, ups[len(ups)-1])))
	}
	// The click as Slack sends it from the DM.
	doneClick := func(userID string) map[string]any {
		p := click(userID, team, "done", req.ID, im, dm.Param("ts"), "")
		p["channel"] = map[string]any{"id": im, "name": "directmessage"}
		p["actions"].([]any)[0].(map[string]any)["block_id"] = "active"
		return p
	}

	if status, _ := r.interact(doneClick(bobID)); status != http.StatusOK {
		t.Fatalf("done by bob: %d", status)
	}
	resp := r.slack.Responses()
	if len(resp) == 0 || !strings.Contains(resp[len(resp)-1].Body["text"].(string), "Only the person who asked") {
		t.Fatalf("bob's click: responses %v, want a refusal", resp)
	}
	if got, _ := r.store.GetRequest(context.Background(), req.ID); got.Status != latch.StatusActive {
		t.Fatalf("after bob's click the request is %s, want still active", got.Status)
	}

	if status, _ := r.interact(doneClick(annID)); status != http.StatusOK {
		t.Fatalf("done by ann: %d", status)
	}
	eventually(t, "access ended", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return got.Status == latch.StatusEnded
	})
	if _, rv := r.esc.counts(); rv != 1 {
		t.Errorf("%d revokes, want 1", rv)
	}
	evs, err := r.store.AuditEvents(context.Background(), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e latch.AuditEvent) bool { return e.Type == latch.AuditReleased })
	if i < 0 || evs[i].Actor.Email != ann || evs[i].Source != latch.SourceSlack {
		t.Fatalf("audit trail %+v, want released by ann from Slack", evs)
	}
	eventually(t, "ann DM'd at the end", func() bool { return len(r.dmsTo(annID)) == 3 })
	if last := r.dmsTo(annID)[2]; !strings.Contains(last, "you ended it early") {
		t.Errorf("last DM %q, want that she ended it early", last)
	}
}
