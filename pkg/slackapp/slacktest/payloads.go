package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The header names of Slack's request signature.
const (
	headerTimestamp = "X-Slack-Request-Timestamp"
	headerSignature = "X-Slack-Signature"
)

// TriggerID is the trigger id of the payloads built here.
const TriggerID = "13345224609.738474920.8088930838d88f008e0"

// Command is the form Slack posts for `/latch text` run by userID of
// userTeam, in a channel of the app's workspace (Team).
func Command(userTeam, userID, text string) []byte {
	return []byte(url.Values{
		"token": {"gIkuvaNzQIHg97ATvDxqgjtO"}, "team_id": {userTeam}, "team_domain": {"example"},
		"channel_id": {"C0GENERAL"}, "channel_name": {"general"}, "user_id": {userID}, "user_name": {"someone"},
		"command": {"/latch"}, "text": {text}, "api_app_id": {"A0LATCH"}, "is_enterprise_install": {"false"},
		"response_url": {"https://hooks.slack.com/commands/T0LATCH/1/abc"}, "trigger_id": {TriggerID},
	}.Encode())
}

// Form is the body Slack posts for an interaction: a form whose payload
// field holds the JSON.
func Form(tb testing.TB, payload any) []byte {
	tb.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

func userOf(userTeam, userID string) map[string]any {
	return map[string]any{"id": userID, "username": "someone", "name": "someone", "team_id": userTeam}
}

// Submission is the view_submission payload of view (as the app opened
// it, or as the fake echoed it: then with its id and hash) submitted by userID of userTeam, with the given state values: block
// id → the value of its element (whose action id is "value").
func Submission(userTeam, userID string, view map[string]any, values map[string]map[string]any) map[string]any {
	state := map[string]any{}
	for block, val := range values {
		state[block] = map[string]any{"value": val}
	}
	id, hash := "V0FORM", "1700000000.abc"
	if s, ok := view["id"].(string); ok && s != "" { // a view as the fake echoed it
		id, hash = s, fmt.Sprint(view["hash"])
	}
	sent := map[string]any{"id": id, "team_id": Team, "type": "modal", "callback_id": view["callback_id"],
		"private_metadata": view["private_metadata"], "blocks": view["blocks"], "hash": hash,
		"title": view["title"], "state": map[string]any{"values": state}}
	return map[string]any{"type": "view_submission", "team": map[string]any{"id": Team, "domain": "example"},
		"user": userOf(userTeam, userID), "api_app_id": "A0LATCH", "token": "legacy", "trigger_id": TriggerID, "view": sent}
}

// Click is the block_actions payload of userID (of userTeam) pressing the
// button action, whose value is value, on the message at ts in channel;
// reason, when not "", is what the message's reason input holds.
func Click(userTeam, userID, action, value, channel, ts, reason string) map[string]any {
	values := map[string]any{}
	if reason != "" {
		values["reason"] = map[string]any{"value": map[string]any{"type": "plain_text_input", "value": reason}}
	}
	return map[string]any{"type": "block_actions", "team": map[string]any{"id": Team, "domain": "example"},
		"user": userOf(userTeam, userID), "api_app_id": "A0LATCH", "token": "legacy", "trigger_id": TriggerID,
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
		"channel":      map[string]any{"id": channel, "name": "access-requests"},
		"message":      map[string]any{"type": "message", "ts": ts, "text": "", "blocks": []any{}},
		"state":        map[string]any{"values": values},
		"response_url": "https://hooks.slack.com/actions/T0LATCH/1/abc",
		"actions": []any{map[string]any{"action_id": action, "block_id": "decide", "value": value, "type": "button",
			"text": map[string]any{"type": "plain_text", "text": action}, "action_ts": "1700000000.000100"}}}
}

// Post signs body with secret as Slack does at time now and posts it to
// url; it returns the answer's status and body.
func Post(tb testing.TB, url string, secret []byte, contentType string, body []byte) (int, []byte) {
	tb.Helper()
	ts, sig := Sign(secret, time.Now(), body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerSignature, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// OpenedView returns the view of the last call of method (views.open or
// views.update), failing the test when there is none.
func (s *Server) OpenedView(tb testing.TB, method string) map[string]any {
	tb.Helper()
	calls := s.CallsTo(method)
	if len(calls) == 0 {
		tb.Fatalf("no %s call", method)
	}
	var v map[string]any
	if err := calls[len(calls)-1].Decode("view", &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// ActionIDs lists the action ids of the buttons and menus in a message's
// blocks, in order.
func ActionIDs(blocks []map[string]any) []string {
	var out []string
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		for _, e := range b["elements"].([]any) {
			out = append(out, e.(map[string]any)["action_id"].(string))
		}
	}
	return out
}

// LastBlocks returns the blocks of the last call of method (chat.postMessage
// or chat.update) and the call, failing the test when there is none.
func (s *Server) LastBlocks(tb testing.TB, method string) ([]map[string]any, Call) {
	tb.Helper()
	calls := s.CallsTo(method)
	if len(calls) == 0 {
		tb.Fatalf("no %s call", method)
	}
	last := calls[len(calls)-1]
	var blocks []map[string]any
	if err := last.Decode("blocks", &blocks); err != nil {
		tb.Fatal(err)
	}
	return blocks, last
}
