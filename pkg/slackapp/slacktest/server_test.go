package slacktest_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// callForm calls method with form values, as most Slack clients do.
func callForm(tb testing.TB, s *slacktest.Server, token, method string, form url.Values) map[string]any {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+method, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(tb, req)
}

// callJSON calls method with a JSON body, as Slack accepts for write methods.
func callJSON(tb testing.TB, s *slacktest.Server, method string, body any) map[string]any {
	tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+method, bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+slacktest.Token)
	return do(tb, req)
}

func do(tb testing.TB, req *http.Request) map[string]any {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s: status %d", req.URL, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("Content-Type = %q", ct)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatal(err)
	}
	return out
}

func wantError(tb testing.TB, got map[string]any, code string) {
	tb.Helper()
	got = maps.Clone(got)
	delete(got, "response_metadata") // what was wrong, when Slack says
	if diff := cmp.Diff(map[string]any{"ok": false, "error": code}, got); diff != "" {
		tb.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestServerListensOnLoopback(t *testing.T) {
	s := slacktest.NewServer(t)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" || !strings.HasSuffix(u.Path, "/api/") {
		t.Errorf("URL = %s", s.URL)
	}
}

func TestServerChecksTheToken(t *testing.T) {
	s := slacktest.NewServer(t)
	s.AddUser("U1", "T1", "a@example.com")
	wantError(t, callForm(t, s, "", "users.info", url.Values{"user": {"U1"}}), "not_authed")
	wantError(t, callForm(t, s, "xoxb-wrong", "users.info", url.Values{"user": {"U1"}}), "invalid_auth")
	if got := callForm(t, s, "", "users.info", url.Values{"user": {"U1"}, "token": {slacktest.Token}}); got["ok"] != true {
		t.Errorf("a token parameter was refused: %v", got)
	}
	s.SetToken("xoxb-other")
	wantError(t, callForm(t, s, slacktest.Token, "users.info", url.Values{"user": {"U1"}}), "invalid_auth")
	if got := callForm(t, s, "xoxb-other", "users.info", url.Values{"user": {"U1"}}); got["ok"] != true {
		t.Errorf("the new token was refused: %v", got)
	}
	calls := s.Calls()
	if len(calls) != 5 || calls[0].Token != "" || calls[1].Token != "xoxb-wrong" {
		t.Errorf("refused calls not recorded: %+v", calls)
	}
}

func TestUsersInfo(t *testing.T) {
	s := slacktest.NewServer(t)
	s.AddUser("U1", "T1", "dev@example.com")
	s.AddUser("U2", "T1", "guest@example.com")
	s.UpdateUser("U2", func(u *slacktest.User) { u.IsRestricted, u.IsUltraRestricted = true, true })
	s.AddUser("U3", "T9", "partner@other.example")
	s.UpdateUser("U3", func(u *slacktest.User) { u.IsStranger = true })

	got := callForm(t, s, slacktest.Token, "users.info", url.Values{"user": {"U1"}})
	want := map[string]any{"ok": true, "user": map[string]any{
		"id": "U1", "team_id": "T1", "name": "dev", "real_name": "dev", "deleted": false, "is_bot": false,
		"is_app_user": false, "is_admin": false, "is_owner": false,
		"is_restricted": false, "is_ultra_restricted": false, "tz": "Europe/London",
		"profile": map[string]any{"email": "dev@example.com", "real_name": "dev", "real_name_normalized": "dev",
			"display_name": "dev", "display_name_normalized": "dev", "team": "T1"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users.info (-want +got):\n%s", diff)
	}

	guest := callForm(t, s, slacktest.Token, "users.info", url.Values{"user": {"U2"}})["user"].(map[string]any)
	if guest["is_restricted"] != true || guest["is_ultra_restricted"] != true || guest["is_stranger"] != nil {
		t.Errorf("guest = %v", guest)
	}
	stranger := callForm(t, s, slacktest.Token, "users.info", url.Values{"user": {"U3"}})["user"].(map[string]any)
	if stranger["is_stranger"] != true || stranger["team_id"] != "T9" {
		t.Errorf("stranger = %v", stranger)
	}
	wantError(t, callForm(t, s, slacktest.Token, "users.info", url.Values{"user": {"U404"}}), "user_not_found")

	// GET with a query string, as some clients call read methods.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"users.info?user=U1", nil)
	req.Header.Set("Authorization", "Bearer "+slacktest.Token)
	if got := do(t, req); got["ok"] != true {
		t.Errorf("GET users.info = %v", got)
	}
}

func TestViewsOpenAndUpdate(t *testing.T) {
	s := slacktest.NewServer(t)
	view := map[string]any{
		"type":             "modal",
		"callback_id":      "latch_request",
		"private_metadata": `{"flow":"prod-db"}`,
		"title":            map[string]any{"type": "plain_text", "text": "Request access"},
		"submit":           map[string]any{"type": "plain_text", "text": "Request"},
		"blocks": []any{map[string]any{"type": "input", "block_id": "reason", "label": map[string]any{"type": "plain_text", "text": "Reason"},
			"element": map[string]any{"type": "plain_text_input", "action_id": "value"}}},
	}
	viewJSON, _ := json.Marshal(view)
	opened := callForm(t, s, slacktest.Token, "views.open", url.Values{"trigger_id": {"123.456.abc"}, "view": {string(viewJSON)}})
	if opened["ok"] != true {
		t.Fatalf("views.open = %v", opened)
	}
	v := opened["view"].(map[string]any)
	id, hash := v["id"].(string), v["hash"].(string)
	if !strings.HasPrefix(id, "V") || hash == "" || v["callback_id"] != "latch_request" || v["private_metadata"] != `{"flow":"prod-db"}` || v["root_view_id"] != id {
		t.Errorf("view = %v", v)
	}
	if _, ok := v["state"].(map[string]any)["values"]; !ok {
		t.Errorf("view has no state.values: %v", v)
	}

	var recorded map[string]any
	if err := s.CallsTo("views.open")[0].Decode("view", &recorded); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(view["callback_id"], recorded["callback_id"]); diff != "" || len(recorded["blocks"].([]any)) != 1 {
		t.Errorf("recorded view = %v", recorded)
	}

	view["callback_id"] = "latch_request_2"
	updated := callJSON(t, s, "views.update", map[string]any{"view_id": id, "hash": hash, "view": view})
	uv := updated["view"].(map[string]any)
	if updated["ok"] != true || uv["id"] != id || uv["hash"] == hash || uv["callback_id"] != "latch_request_2" {
		t.Errorf("views.update = %v", updated)
	}
	wantError(t, callJSON(t, s, "views.update", map[string]any{"view_id": id, "hash": hash, "view": view}), "hash_conflict")
	wantError(t, callJSON(t, s, "views.update", map[string]any{"view_id": "V404", "view": view}), "not_found")
	wantError(t, callForm(t, s, slacktest.Token, "views.open", url.Values{"view": {string(viewJSON)}}), "invalid_arguments")

	s.FailNext("views.open", "expired_trigger_id")
	wantError(t, callForm(t, s, slacktest.Token, "views.open", url.Values{"trigger_id": {"1"}, "view": {string(viewJSON)}}), "expired_trigger_id")
	if got := callForm(t, s, slacktest.Token, "views.open", url.Values{"trigger_id": {"1"}, "view": {string(viewJSON)}}); got["ok"] != true {
		t.Errorf("an injected failure was used twice: %v", got)
	}
}

func TestChatPostMessageAndUpdate(t *testing.T) {
	s := slacktest.NewServer(t)
	blocks := []any{map[string]any{"type": "actions", "block_id": "decide", "elements": []any{
		map[string]any{"type": "button", "action_id": "approve", "value": "req1", "text": map[string]any{"type": "plain_text", "text": "Approve"}},
	}}}
	posted := callJSON(t, s, "chat.postMessage", map[string]any{"channel": "C1", "text": "access request", "blocks": blocks})
	ts, _ := posted["ts"].(string)
	if posted["ok"] != true || posted["channel"] != "C1" || ts == "" {
		t.Fatalf("chat.postMessage = %v", posted)
	}
	msg := posted["message"].(map[string]any)
	if msg["ts"] != ts || msg["text"] != "access request" || msg["type"] != "message" {
		t.Errorf("message = %v", msg)
	}
	if diff := cmp.Diff(blocks, msg["blocks"]); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}

	calls := s.CallsTo("chat.postMessage")
	var gotBlocks []any
	if len(calls) != 1 || calls[0].Param("channel") != "C1" || calls[0].Decode("blocks", &gotBlocks) != nil || len(gotBlocks) != 1 {
		t.Errorf("recorded = %+v", calls)
	}

	second := callJSON(t, s, "chat.postMessage", map[string]any{"channel": "C1", "text": "another"})
	if second["ts"] == ts {
		t.Errorf("two messages share ts %s", ts)
	}

	updated := callForm(t, s, slacktest.Token, "chat.update", url.Values{"channel": {"C1"}, "ts": {ts}, "text": {"approved"}})
	if updated["ok"] != true || updated["ts"] != ts || updated["channel"] != "C1" || updated["text"] != "approved" {
		t.Errorf("chat.update = %v", updated)
	}
	wantError(t, callForm(t, s, slacktest.Token, "chat.update", url.Values{"channel": {"C1"}, "ts": {"1.2"}, "text": {"x"}}), "message_not_found")
	wantError(t, callJSON(t, s, "chat.postMessage", map[string]any{"channel": "C1"}), "no_text")
	wantError(t, callJSON(t, s, "chat.postMessage", map[string]any{"text": "x"}), "channel_not_found")
}

func TestChatPostEphemeralAndConversationsOpen(t *testing.T) {
	s := slacktest.NewServer(t)
	s.AddUser("U1", "T1", "dev@example.com")
	got := callForm(t, s, slacktest.Token, "chat.postEphemeral", url.Values{"channel": {"C1"}, "user": {"U1"}, "text": {"Only you can see this."}})
	if got["ok"] != true || got["message_ts"] == "" || got["message_ts"] == nil {
		t.Errorf("chat.postEphemeral = %v", got)
	}
	wantError(t, callForm(t, s, slacktest.Token, "chat.postEphemeral", url.Values{"channel": {"C1"}, "user": {"U404"}, "text": {"x"}}), "user_not_in_channel")

	first := callForm(t, s, slacktest.Token, "conversations.open", url.Values{"users": {"U1"}})
	id := first["channel"].(map[string]any)["id"].(string)
	if first["ok"] != true || !strings.HasPrefix(id, "D") {
		t.Errorf("conversations.open = %v", first)
	}
	again := callForm(t, s, slacktest.Token, "conversations.open", url.Values{"users": {"U1"}, "return_im": {"true"}})
	if again["channel"].(map[string]any)["id"] != id || again["already_open"] != true {
		t.Errorf("second conversations.open = %v, want the same %s", again, id)
	}
	wantError(t, callForm(t, s, slacktest.Token, "conversations.open", url.Values{"users": {"U404"}}), "user_not_found")
	wantError(t, callForm(t, s, slacktest.Token, "conversations.open", url.Values{}), "users_list_not_supplied")
	wantError(t, callForm(t, s, slacktest.Token, "chat.delete", url.Values{}), "unknown_method")
}

func TestServerRecordsConcurrentCalls(t *testing.T) {
	s := slacktest.NewServer(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			// Not callJSON: t.Fatal may not be called off the test goroutine.
			req, _ := http.NewRequest(http.MethodPost, s.URL+"chat.postMessage", strings.NewReader(`{"channel":"C1","text":"hi"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+slacktest.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if n := len(s.CallsTo("chat.postMessage")); n != 20 {
		t.Errorf("%d calls recorded, want 20", n)
	}
}

func TestCallParam(t *testing.T) {
	c := slacktest.Call{Method: "m", Params: map[string]any{"s": "x", "n": 1.5, "a": []any{"y"}}}
	for key, want := range map[string]string{"s": "x", "n": "1.5", "a": `["y"]`, "missing": ""} {
		if got := c.Param(key); got != want {
			t.Errorf("Param(%q) = %q, want %q", key, got, want)
		}
	}
	var v any
	if err := c.Decode("missing", &v); err == nil {
		t.Error("Decode of a missing parameter succeeded")
	}
}

// The fake refuses what Slack refuses: views over Block Kit's limits with
// invalid_arguments, messages with invalid_blocks, each saying why.
func TestPayloadsSlackWouldRefuseAreRefused(t *testing.T) {
	long := strings.Repeat("é", 3001)
	section := func(text string) map[string]any {
		return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}
	}
	opts := func(n int, value string) []any {
		var out []any
		for i := range n {
			out = append(out, map[string]any{"text": map[string]any{"type": "plain_text", "text": "o"}, "value": value + strings.Repeat("x", i%3)})
		}
		return out
	}
	modal := func(blocks ...any) map[string]any {
		return map[string]any{"type": "modal", "title": map[string]any{"type": "plain_text", "text": "Latch"}, "blocks": blocks}
	}
	tooMany := make([]any, 101)
	for i := range tooMany {
		tooMany[i] = section("x")
	}
	views := []struct {
		name string
		give map[string]any
	}{
		{"a section over 3,000 characters", modal(section(long))},
		{"an empty section text", modal(section(""))},
		{"a title over 24 characters", map[string]any{"type": "modal", "title": map[string]any{"type": "plain_text", "text": strings.Repeat("t", 25)}, "blocks": []any{}}},
		{"101 blocks", modal(tooMany...)},
		{"a header over 150", modal(map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("h", 151)}})},
		{"101 static options", modal(map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "pick"},
			"accessory": map[string]any{"type": "static_select", "action_id": "a", "options": opts(101, "v")}})},
		{"an option value over 150", modal(map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "pick"},
			"accessory": map[string]any{"type": "static_select", "action_id": "a", "options": opts(1, strings.Repeat("v", 151))}})},
		{"private_metadata over 3,000", map[string]any{"type": "modal", "title": map[string]any{"type": "plain_text", "text": "L"}, "blocks": []any{}, "private_metadata": long}},
		{"an input without submit", modal(map[string]any{"type": "input", "block_id": "b", "label": map[string]any{"type": "plain_text", "text": "L"},
			"element": map[string]any{"type": "plain_text_input", "action_id": "value"}})},
	}
	s := slacktest.NewServer(t)
	for _, tt := range views {
		t.Run(tt.name, func(t *testing.T) {
			got := callJSON(t, s, "views.open", map[string]any{"trigger_id": "1", "view": tt.give})
			wantError(t, got, "invalid_arguments")
			if msgs, _ := got["response_metadata"].(map[string]any)["messages"].([]any); len(msgs) == 0 {
				t.Errorf("no response_metadata.messages in %v", got)
			}
		})
	}
	blocks := make([]any, 51)
	for i := range blocks {
		blocks[i] = section("x")
	}
	wantError(t, callJSON(t, s, "chat.postMessage", map[string]any{"channel": "C1", "text": "t", "blocks": blocks}), "invalid_blocks")
	wantError(t, callJSON(t, s, "chat.postMessage", map[string]any{"channel": "C1", "text": "t", "blocks": []any{section(long)}}), "invalid_blocks")
	wantError(t, callJSON(t, s, "chat.postMessage", map[string]any{"channel": "C1", "text": strings.Repeat("t", 40001)}), "msg_too_long")
	if got := callJSON(t, s, "chat.postMessage", map[string]any{"channel": "C1", "text": "t", "blocks": blocks[:50]}); got["ok"] != true {
		t.Errorf("50 blocks refused: %v", got)
	}
}
