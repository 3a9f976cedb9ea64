package slackapp_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// interactionBody wraps a payload's JSON the way Slack posts it: a form
// with one field, payload.
func interactionBody(tb testing.TB, name string) []byte {
	tb.Helper()
	return []byte(url.Values{"payload": {string(readTestdata(tb, name))}}.Encode())
}

func TestParseSlashCommand(t *testing.T) {
	got, err := slackapp.ParseSlashCommand(readTestdata(t, "slash_command.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := &slackapp.SlashCommand{
		Token:          "gIkuvaNzQIHg97ATvDxqgjtO",
		TeamID:         "T0001",
		TeamDomain:     "example",
		EnterpriseID:   "E0001",
		EnterpriseName: "Globular Construct Inc",
		ChannelID:      "C2147483705",
		ChannelName:    "test",
		UserID:         "U2147483697",
		UserName:       "requester",
		Command:        "/latch",
		Text:           "prod-db because incident 4711",
		ResponseURL:    "https://hooks.slack.com/commands/1234/5678",
		TriggerID:      "13345224609.738474920.8088930838d88f008e0",
		APIAppID:       "A123456",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseSlashCommand (-want +got):\n%s", diff)
	}
}

func TestParseSlashCommandSlacksSignedExample(t *testing.T) {
	got, err := slackapp.ParseSlashCommand([]byte(docBody))
	if err != nil {
		t.Fatal(err)
	}
	if got.Command != "/webhook-collect" || got.Text != "" || got.UserID != "U2CERLKJA" || got.EnterpriseID != "" || got.IsEnterpriseInstall {
		t.Errorf("got %+v", got)
	}
}

func TestParseSlashCommandRejects(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{name: "not a form", give: "command=%zz"},
		{name: "no command", give: "user_id=U1&text=x"},
		{name: "no user", give: "command=%2Flatch"},
		{name: "enterprise install not a bool", give: "command=%2Flatch&user_id=U1&is_enterprise_install=maybe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := slackapp.ParseSlashCommand([]byte(tt.give))
			wantBadRequest(t, err)
		})
	}
}

func wantBadRequest(tb testing.TB, err error) {
	tb.Helper()
	le, ok := errors.AsType[*latch.Error](err)
	if !ok || le.Kind != latch.KindInvalid || le.Code != "bad_request" {
		tb.Errorf("err = %v, want a bad_request *latch.Error", err)
	}
}

func TestParseInteractionBlockActions(t *testing.T) {
	in, err := slackapp.ParseInteraction(interactionBody(t, "block_actions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Type != slackapp.InteractionBlockActions {
		t.Errorf("Type = %q", in.Type)
	}
	if in.User.ID != "UA8RXUSPL" || in.User.TeamID != "T9TK3CUKW" || in.Team == nil || in.Team.ID != "T9TK3CUKW" {
		t.Errorf("User %+v Team %+v", in.User, in.Team)
	}
	wantContainer := &slackapp.Container{Type: "message", MessageTS: "1548261231.000200", ChannelID: "CBR2V3XEX"}
	if diff := cmp.Diff(wantContainer, in.Container); diff != "" {
		t.Errorf("Container (-want +got):\n%s", diff)
	}
	if in.Channel == nil || in.Channel.ID != "CBR2V3XEX" || in.Message == nil || in.Message.TS != "1548261231.000200" || len(in.Message.Blocks) == 0 {
		t.Errorf("Channel %+v Message %+v", in.Channel, in.Message)
	}
	if !strings.HasPrefix(in.ResponseURL, "https://hooks.slack.com/actions/") || in.TriggerID == "" {
		t.Errorf("ResponseURL %q TriggerID %q", in.ResponseURL, in.TriggerID)
	}
	want := []slackapp.Action{{
		ActionID: "approve", BlockID: "decide", ActionTS: "1548426417.840180",
		Text:         &slackapp.Text{Type: "plain_text", Text: "Approve", Emoji: true},
		Style:        "primary",
		ElementValue: slackapp.ElementValue{Type: "button", Value: "01JDXQ3M4ZV7Y8K9N2P5R6S7T8"},
	}}
	if diff := cmp.Diff(want, in.Actions); diff != "" {
		t.Errorf("Actions (-want +got):\n%s", diff)
	}
	if in.State == nil || len(in.State.Values) != 0 {
		t.Errorf("State = %+v, want empty values", in.State)
	}
}

func TestParseInteractionViewSubmission(t *testing.T) {
	in, err := slackapp.ParseInteraction(interactionBody(t, "view_submission.json"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Type != slackapp.InteractionViewSubmission || in.View == nil {
		t.Fatalf("Type %q View %v", in.Type, in.View)
	}
	v := in.View
	if v.ID != "V0PKB1ZFV" || v.CallbackID != "latch_request" || v.PrivateMetadata != `{"flow":"prod-db"}` || v.Hash != "156772938.1827394" || v.PreviousViewID != "" {
		t.Errorf("View %+v", v)
	}
	if in.Enterprise != nil || in.IsEnterpriseInstall {
		t.Errorf("Enterprise %+v IsEnterpriseInstall %v", in.Enterprise, in.IsEnterpriseInstall)
	}
	tests := []struct {
		block string
		want  slackapp.ElementValue
		strs  []string
	}{
		{block: "target", want: slackapp.ElementValue{Type: "static_select", SelectedOption: &slackapp.Option{
			Text: slackapp.Text{Type: "plain_text", Text: "Production database", Emoji: true}, Value: "prod-db"}}, strs: []string{"prod-db"}},
		{block: "reason", want: slackapp.ElementValue{Type: "plain_text_input", Value: "incident 4711"}, strs: []string{"incident 4711"}},
		{block: "note", want: slackapp.ElementValue{Type: "plain_text_input"}},
		{block: "duration", want: slackapp.ElementValue{Type: "number_input", Value: "2"}, strs: []string{"2"}},
		{block: "regions", want: slackapp.ElementValue{Type: "multi_static_select", SelectedOptions: []slackapp.Option{
			{Text: slackapp.Text{Type: "plain_text", Text: "eu-west-1", Emoji: true}, Value: "eu-west-1"},
			{Text: slackapp.Text{Type: "plain_text", Text: "us-east-1", Emoji: true}, Value: "us-east-1"},
		}}, strs: []string{"eu-west-1", "us-east-1"}},
		{block: "environment", want: slackapp.ElementValue{Type: "radio_buttons", SelectedOption: &slackapp.Option{
			Text: slackapp.Text{Type: "plain_text", Text: "Production"}, Value: "prod",
			Description: &slackapp.Text{Type: "plain_text", Text: "Live traffic"}}}, strs: []string{"prod"}},
		{block: "flags", want: slackapp.ElementValue{Type: "checkboxes", SelectedOptions: []slackapp.Option{}}},
		{block: "buddy", want: slackapp.ElementValue{Type: "users_select", SelectedUser: "U0G9QF9C6"}, strs: []string{"U0G9QF9C6"}},
		{block: "watchers", want: slackapp.ElementValue{Type: "multi_users_select", SelectedUsers: []string{"U0G9QF9C6", "U0CA5"}}, strs: []string{"U0G9QF9C6", "U0CA5"}},
		{block: "where", want: slackapp.ElementValue{Type: "conversations_select", SelectedConversation: "C012AB3CD"}, strs: []string{"C012AB3CD"}},
		{block: "start_date", want: slackapp.ElementValue{Type: "datepicker", SelectedDate: "2026-11-26"}, strs: []string{"2026-11-26"}},
		{block: "start_time", want: slackapp.ElementValue{Type: "timepicker", SelectedTime: "09:30", Timezone: "Europe/Berlin"}, strs: []string{"09:30"}},
		{block: "ends", want: slackapp.ElementValue{Type: "datetimepicker", SelectedDateTime: 1796025600}, strs: []string{"1796025600"}},
		{block: "contact", want: slackapp.ElementValue{Type: "email_text_input", Value: "requester@example.com"}, strs: []string{"requester@example.com"}},
	}
	if len(v.State.Values) != len(tests) {
		t.Errorf("%d blocks in state, want %d", len(v.State.Values), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.block, func(t *testing.T) {
			got, ok := v.State.Get(tt.block, tt.block)
			if !ok {
				t.Fatalf("no value for %s", tt.block)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.strs, got.Strings(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Strings (-want +got):\n%s", diff)
			}
		})
	}
	if _, ok := v.State.Get("target", "nope"); ok {
		t.Error("Get found an action that is not there")
	}
	var nilState *slackapp.State
	if _, ok := nilState.Get("a", "b"); ok {
		t.Error("Get on a nil state found something")
	}
}

func TestParseInteractionBlockSuggestion(t *testing.T) {
	in, err := slackapp.ParseInteraction(interactionBody(t, "block_suggestion.json"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Type != slackapp.InteractionBlockSuggestion || in.ActionID != "target" || in.BlockID != "target" || in.Value != "prod" {
		t.Errorf("got %+v", in)
	}
	if in.View == nil || in.View.PrivateMetadata != `{"flow":"prod-db"}` || in.Container == nil || in.Container.ViewID != "V0PKB1ZFV" {
		t.Errorf("View %+v Container %+v", in.View, in.Container)
	}
}

func TestParseInteractionRejects(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{name: "not a form", give: "payload=%zz"},
		{name: "no payload", give: "type=block_actions"},
		{name: "empty payload", give: "payload="},
		{name: "payload not JSON", give: "payload=" + url.QueryEscape("{not json")},
		{name: "payload of the wrong shape", give: "payload=" + url.QueryEscape(`{"type":"block_actions","actions":{}}`)},
		{name: "payload without type", give: "payload=" + url.QueryEscape(`{"user":{"id":"U1"}}`)},
		{name: "raw JSON body, not a form", give: `{"type":"block_actions"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := slackapp.ParseInteraction([]byte(tt.give))
			wantBadRequest(t, err)
		})
	}
}

func TestParseEventURLVerification(t *testing.T) {
	got, err := slackapp.ParseEvent(readTestdata(t, "url_verification.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &slackapp.Event{Type: slackapp.EventURLVerification, Token: "Jhj5dZrVaK7ZwHHjRyZWjbDl",
		Challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseEvent (-want +got):\n%s", diff)
	}
}

func TestParseEventRejects(t *testing.T) {
	for name, give := range map[string]string{
		"not JSON":                      "challenge=x",
		"no type":                       `{"challenge":"x"}`,
		"url_verification no challenge": `{"type":"url_verification"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := slackapp.ParseEvent([]byte(give))
			wantBadRequest(t, err)
		})
	}
}

func FuzzParseInteraction(f *testing.F) {
	for _, name := range []string{"block_actions.json", "view_submission.json", "block_suggestion.json"} {
		f.Add(interactionBody(f, name))
	}
	f.Add([]byte("payload="))
	f.Add([]byte(`payload={"type":"view_submission","view":{"state":{"values":{"a":{"b":{"selected_options":null}}}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := slackapp.ParseInteraction(body)
		if err != nil {
			if _, ok := errors.AsType[*latch.Error](err); !ok {
				t.Fatalf("error %v is not a *latch.Error", err)
			}
			return
		}
		if in.Type == "" {
			t.Fatal("parsed an interaction without a type")
		}
		if in.View != nil {
			for block, actions := range in.View.State.Values {
				for action := range actions {
					v, _ := in.View.State.Get(block, action)
					_ = v.Strings()
				}
			}
		}
		for _, a := range in.Actions {
			_ = a.Strings()
		}
	})
}
