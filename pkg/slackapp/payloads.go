package slackapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"

	"github.com/latchhq/latch/pkg/latch"
)

// SlashCommand is the form Slack posts when someone runs a slash command
// (application/x-www-form-urlencoded).
type SlashCommand struct {
	Token               string // deprecated verification token; never trusted
	TeamID              string
	TeamDomain          string
	EnterpriseID        string // empty outside Enterprise Grid
	EnterpriseName      string
	ChannelID           string
	ChannelName         string
	UserID              string
	UserName            string // deprecated by Slack; use UserID
	Command             string // e.g. "/latch"
	Text                string // everything after the command
	ResponseURL         string
	TriggerID           string // opens a modal within 3 seconds
	APIAppID            string
	IsEnterpriseInstall bool
}

// ParseSlashCommand parses a slash command's raw, already verified, form
// body. It returns a *latch.Error of kind invalid (code bad_request) when the
// body is not a form or lacks command or user_id.
func ParseSlashCommand(body []byte) (*SlashCommand, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("The slash command is not a form.", err)
	}
	c := &SlashCommand{
		Token:          v.Get("token"),
		TeamID:         v.Get("team_id"),
		TeamDomain:     v.Get("team_domain"),
		EnterpriseID:   v.Get("enterprise_id"),
		EnterpriseName: v.Get("enterprise_name"),
		ChannelID:      v.Get("channel_id"),
		ChannelName:    v.Get("channel_name"),
		UserID:         v.Get("user_id"),
		UserName:       v.Get("user_name"),
		Command:        v.Get("command"),
		Text:           v.Get("text"),
		ResponseURL:    v.Get("response_url"),
		TriggerID:      v.Get("trigger_id"),
		APIAppID:       v.Get("api_app_id"),
	}
	if s := v.Get("is_enterprise_install"); s != "" {
		c.IsEnterpriseInstall, err = strconv.ParseBool(s)
		if err != nil {
			return nil, badRequest("is_enterprise_install is not true or false.", err)
		}
	}
	if c.Command == "" || c.UserID == "" {
		return nil, badRequest("The slash command lacks command or user_id.", nil)
	}
	return c, nil
}

// Interaction types Latch handles, the "type" of an interaction payload.
const (
	InteractionBlockActions    = "block_actions"
	InteractionViewSubmission  = "view_submission"
	InteractionViewClosed      = "view_closed"
	InteractionBlockSuggestion = "block_suggestion" // sent to the options load URL
	InteractionShortcut        = "shortcut"         // a global shortcut
)

// Interaction is the JSON Slack puts in the payload field of the form it
// posts to the interactivity URL (and the options load URL): a button click
// or menu choice (block_actions), a submitted or closed modal
// (view_submission, view_closed), or a request for menu options
// (block_suggestion). Fields that a type lacks are zero.
type Interaction struct {
	Type                string        `json:"type"`
	Token               string        `json:"token"` // deprecated verification token; never trusted
	APIAppID            string        `json:"api_app_id"`
	TriggerID           string        `json:"trigger_id"`
	ResponseURL         string        `json:"response_url"` // block_actions from a message
	IsEnterpriseInstall bool          `json:"is_enterprise_install"`
	Team                *Team         `json:"team"` // nil when the app is installed on an org
	Enterprise          *Enterprise   `json:"enterprise"`
	User                User          `json:"user"`
	Channel             *Channel      `json:"channel"`       // block_actions from a message
	Container           *Container    `json:"container"`     // block_actions
	Message             *Message      `json:"message"`       // block_actions from a message
	View                *View         `json:"view"`          // from a modal or App Home
	Actions             []Action      `json:"actions"`       // block_actions: the one element acted on
	State               *State        `json:"state"`         // block_actions: every stateful element
	ResponseURLs        []ResponseURL `json:"response_urls"` // view_submission, when a conversation select asks for one

	// shortcut: the global shortcut's callback id.
	CallbackID string `json:"callback_id"`

	// block_suggestion: the element asking for options and what was typed.
	ActionID string `json:"action_id"`
	BlockID  string `json:"block_id"`
	Value    string `json:"value"`
}

// ResponseURL is a URL to answer in the conversation a modal's
// conversation select named (response_url_enabled).
type ResponseURL struct {
	BlockID     string `json:"block_id"`
	ActionID    string `json:"action_id"`
	ChannelID   string `json:"channel_id"`
	ResponseURL string `json:"response_url"`
}

// Team is the workspace an interaction comes from.
type Team struct {
	ID             string `json:"id"`
	Domain         string `json:"domain"`
	EnterpriseID   string `json:"enterprise_id"`
	EnterpriseName string `json:"enterprise_name"`
}

// Enterprise is the Enterprise Grid org an interaction comes from.
type Enterprise struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// User is the person who interacted.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	TeamID   string `json:"team_id"`
}

// Channel is the conversation of the message acted on.
type Channel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Container says where the acted-on element lives: a message or a view.
type Container struct {
	Type        string `json:"type"` // "message" or "view"
	MessageTS   string `json:"message_ts"`
	ChannelID   string `json:"channel_id"`
	IsEphemeral bool   `json:"is_ephemeral"`
	ViewID      string `json:"view_id"`
}

// Message is the message an action was taken on. Blocks are kept raw.
type Message struct {
	Type   string          `json:"type"`
	User   string          `json:"user"`
	BotID  string          `json:"bot_id"`
	TS     string          `json:"ts"`
	Text   string          `json:"text"`
	Blocks json.RawMessage `json:"blocks"`
}

// View is a modal or App Home view as Slack echoes it back. Blocks are kept
// raw; State holds what the user entered.
type View struct {
	ID              string          `json:"id"`
	TeamID          string          `json:"team_id"`
	Type            string          `json:"type"` // "modal" or "home"
	CallbackID      string          `json:"callback_id"`
	PrivateMetadata string          `json:"private_metadata"`
	ExternalID      string          `json:"external_id"`
	Hash            string          `json:"hash"` // pass to views.update to avoid races
	RootViewID      string          `json:"root_view_id"`
	PreviousViewID  string          `json:"previous_view_id"`
	AppID           string          `json:"app_id"`
	BotID           string          `json:"bot_id"`
	Title           *Text           `json:"title"`
	Blocks          json.RawMessage `json:"blocks"`
	State           State           `json:"state"`
}

// State is the values of a view's (or a message's) stateful elements:
// block_id → action_id → value.
type State struct {
	Values map[string]map[string]ElementValue `json:"values"`
}

// UnmarshalJSON reads a state as Slack sends it: values is an object, or,
// for a view or message without inputs, an empty list or null (or absent).
func (s *State) UnmarshalJSON(b []byte) error {
	var raw struct {
		Values json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	s.Values = nil
	v := bytes.TrimSpace(raw.Values)
	switch {
	case len(v) == 0 || string(v) == "null":
		return nil
	case v[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return err
		}
		if len(list) > 0 {
			return errors.New("state.values is a list that is not empty")
		}
		return nil
	}
	return json.Unmarshal(v, &s.Values)
}

// Get returns the value of the element action within block, and whether
// there is one.
func (s *State) Get(block, action string) (ElementValue, bool) {
	if s == nil {
		return ElementValue{}, false
	}
	v, ok := s.Values[block][action]
	return v, ok
}

// ElementValue is what one interactive element holds. Which field is set
// depends on Type: value for text, number, email and url inputs and buttons;
// selected_option for static and external selects and radio buttons;
// selected_options for multi selects and checkboxes; selected_user(s),
// selected_conversation(s), selected_channel(s); selected_date (YYYY-MM-DD),
// selected_time (HH:mm) and selected_date_time (Unix seconds) for pickers.
type ElementValue struct {
	Type                  string   `json:"type"`
	Value                 string   `json:"value"`
	SelectedOption        *Option  `json:"selected_option"`
	SelectedOptions       []Option `json:"selected_options"`
	SelectedUser          string   `json:"selected_user"`
	SelectedUsers         []string `json:"selected_users"`
	SelectedConversation  string   `json:"selected_conversation"`
	SelectedConversations []string `json:"selected_conversations"`
	SelectedChannel       string   `json:"selected_channel"`
	SelectedChannels      []string `json:"selected_channels"`
	SelectedDate          string   `json:"selected_date"`
	SelectedTime          string   `json:"selected_time"`
	SelectedDateTime      int64    `json:"selected_date_time"`
	Timezone              string   `json:"timezone"`
}

// Strings returns the element's value or values as strings, whatever its
// type: the option values of a select, the ids of a user or conversation
// picker, the text of an input, a date as YYYY-MM-DD. It is nil when nothing
// is chosen or entered.
func (v ElementValue) Strings() []string {
	var out []string
	add := func(s ...string) {
		for _, x := range s {
			if x != "" {
				out = append(out, x)
			}
		}
	}
	add(v.Value)
	if v.SelectedOption != nil {
		add(v.SelectedOption.Value)
	}
	for _, o := range v.SelectedOptions {
		add(o.Value)
	}
	add(v.SelectedUser)
	add(v.SelectedUsers...)
	add(v.SelectedConversation)
	add(v.SelectedConversations...)
	add(v.SelectedChannel)
	add(v.SelectedChannels...)
	add(v.SelectedDate, v.SelectedTime)
	if v.SelectedDateTime != 0 {
		add(strconv.FormatInt(v.SelectedDateTime, 10))
	}
	return out
}

// Option is a choice in a select, checkbox or radio group.
type Option struct {
	Text        Text   `json:"text"`
	Value       string `json:"value"`
	Description *Text  `json:"description,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type  string `json:"type"` // "plain_text" or "mrkdwn"
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Action is one element acted on in a block_actions payload: its ids, when
// it happened, and its value (a button's value, a select's choice...).
type Action struct {
	ActionID string `json:"action_id"`
	BlockID  string `json:"block_id"`
	ActionTS string `json:"action_ts"`
	Text     *Text  `json:"text"`  // a button's label
	Style    string `json:"style"` // a button's "primary" or "danger"
	ElementValue
}

// maxPayload bounds the JSON in an interaction's payload field; Verify
// bounds the whole body, this is a second guard for direct callers.
const maxPayload = 1 << 20

// ParseInteraction parses an interaction's raw, already verified, form body:
// the JSON in its payload field. It returns a *latch.Error of kind invalid
// (code bad_request) when the body is not a form, has no payload, the
// payload is not JSON, or it has no type.
func ParseInteraction(body []byte) (*Interaction, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("The interaction is not a form.", err)
	}
	p := v.Get("payload")
	if p == "" {
		return nil, badRequest("The interaction has no payload field.", nil)
	}
	if len(p) > maxPayload {
		return nil, badRequest("The interaction's payload is too large.", nil)
	}
	var in Interaction
	if err := json.Unmarshal([]byte(p), &in); err != nil {
		return nil, badRequest("The interaction's payload is not JSON of the expected shape.", err)
	}
	if in.Type == "" {
		return nil, badRequest("The interaction's payload has no type.", nil)
	}
	return &in, nil
}

// Event types of the Events API envelope.
const (
	EventURLVerification = "url_verification"
	EventCallback        = "event_callback"
)

// Event is the JSON body Slack posts to the Events API URL: a
// url_verification handshake (answer Challenge) or an event_callback
// envelope whose inner event is kept raw.
type Event struct {
	Type      string          `json:"type"`
	Token     string          `json:"token"` // deprecated verification token; never trusted
	Challenge string          `json:"challenge"`
	TeamID    string          `json:"team_id"`
	APIAppID  string          `json:"api_app_id"`
	EventID   string          `json:"event_id"`
	EventTime int64           `json:"event_time"`
	Event     json.RawMessage `json:"event"`
}

// ParseEvent parses an Events API body. It returns a *latch.Error of kind
// invalid (code bad_request) when the body is not a JSON object with a type,
// or is a url_verification without a challenge.
func ParseEvent(body []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, badRequest("The event is not JSON of the expected shape.", err)
	}
	if e.Type == "" {
		return nil, badRequest("The event has no type.", nil)
	}
	if e.Type == EventURLVerification && e.Challenge == "" {
		return nil, badRequest("The url_verification event has no challenge.", nil)
	}
	return &e, nil
}

func badRequest(msg string, err error) error {
	return &latch.Error{Kind: latch.KindInvalid, Code: "bad_request", Message: msg, Err: err}
}
