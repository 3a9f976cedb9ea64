// Package blockkit is the one place that knows Slack's Block Kit limits
// (api.slack.com/reference/block-kit) and checks views and messages
// against them and against Block Kit's structure: Latch's builders keep to
// the limits, and the fake Slack in slacktest refuses what breaks them, as
// Slack does.
package blockkit

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Slack's limits on Block Kit and messages, in characters (Slack counts
// characters, not bytes), as its reference gives them.
const (
	LimitMessageBlocks  = 50
	LimitModalBlocks    = 100
	LimitMessageText    = 40000
	LimitSectionText    = 3000
	LimitSectionField   = 2000
	LimitSectionFields  = 10
	LimitHeaderText     = 150
	LimitContextItems   = 10
	LimitContextText    = 3000
	LimitActionsItems   = 25
	LimitLabel          = 2000
	LimitHint           = 2000
	LimitTitle          = 24
	LimitOptionText     = 75
	LimitOptionValue    = 150
	LimitOptions        = 100
	LimitCheckboxes     = 10
	LimitID             = 255
	LimitMetadata       = 3000
	LimitPlaceholder    = 150
	LimitButtonText     = 75
	LimitButtonValue    = 2000
	LimitInitialValue   = 3000
	LimitConfirmTitle   = 100
	LimitConfirmText    = 300
	LimitConfirmButtons = 30
	LimitErrorText      = 2000 // a response_action errors message, shown under its input
	// LimitReadableText is what Latch puts in a message's top-level text:
	// Slack takes up to LimitMessageText and truncates beyond, but advises
	// under 4,000, which its clients show whole.
	LimitReadableText = 4000
)

// ValidateView returns what Slack would refuse in a modal or Home tab view
// (views.open, views.update, views.publish, a response_action's view); none
// when it is valid.
func ValidateView(v map[string]any) []string {
	var c checker
	typ, _ := v["type"].(string)
	switch typ {
	case "modal":
		c.text("title", v["title"], "plain_text", LimitTitle, true)
		c.text("close", v["close"], "plain_text", LimitTitle, false)
		c.text("submit", v["submit"], "plain_text", LimitTitle, false)
	case "home":
	default:
		c.addf("view.type %q is neither modal nor home", typ)
	}
	c.str("private_metadata", v["private_metadata"], LimitMetadata)
	c.str("callback_id", v["callback_id"], LimitID)
	blocks, ok := v["blocks"].([]any)
	if !ok {
		c.addf("view.blocks is missing or not a list")
	}
	if len(blocks) > LimitModalBlocks {
		c.addf("view has %d blocks, more than %d", len(blocks), LimitModalBlocks)
	}
	hasInput := c.blocks(blocks)
	if typ == "modal" && hasInput && v["submit"] == nil {
		c.addf("a modal with input blocks needs submit")
	}
	return c.problems
}

// ValidateMessage returns what Slack would refuse in a message's text and
// blocks (chat.postMessage, chat.update, chat.postEphemeral, a
// response_url post); blocks may be nil.
func ValidateMessage(text string, blocks any) []string {
	var c checker
	if utf8.RuneCountInString(text) > LimitMessageText {
		c.addf("text is %d characters, more than %d", utf8.RuneCountInString(text), LimitMessageText)
	}
	if blocks == nil {
		return c.problems
	}
	list, ok := blocks.([]any)
	if !ok {
		c.addf("blocks is not a list")
		return c.problems
	}
	if len(list) > LimitMessageBlocks {
		c.addf("message has %d blocks, more than %d", len(list), LimitMessageBlocks)
	}
	c.blocks(list)
	return c.problems
}

type checker struct{ problems []string }

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// str checks an optional string field's length.
func (c *checker) str(where string, v any, limit int) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	if !ok {
		c.addf("%s is not a string", where)
		return
	}
	if runes(s) > limit {
		c.addf("%s is %d characters, more than %d", where, runes(s), limit)
	}
}

// id checks a block_id or action_id.
func (c *checker) id(where string, v any) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	if !ok || s == "" || runes(s) > LimitID {
		c.addf("%s %v must be 1 to %d characters", where, v, LimitID)
	}
}

// text checks a text object; kind is "plain_text", or "" for either.
func (c *checker) text(where string, v any, kind string, limit int, required bool) {
	if v == nil {
		if required {
			c.addf("%s is required", where)
		}
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.addf("%s is not a text object", where)
		return
	}
	typ, _ := m["type"].(string)
	if typ != "plain_text" && typ != "mrkdwn" {
		c.addf("%s.type %q is neither plain_text nor mrkdwn", where, typ)
	}
	if kind != "" && typ != kind {
		c.addf("%s must be %s, not %s", where, kind, typ)
	}
	if _, emoji := m["emoji"]; emoji && typ == "mrkdwn" {
		c.addf("%s: emoji applies only to plain_text", where)
	}
	s, ok := m["text"].(string)
	if !ok || s == "" {
		c.addf("%s.text must be a non-empty string", where)
		return
	}
	if runes(s) > limit {
		c.addf("%s.text is %d characters, more than %d", where, runes(s), limit)
	}
}

// blocks checks a list of blocks and reports whether it holds an input.
func (c *checker) blocks(blocks []any) bool {
	hasInput := false
	seen := map[string]bool{}
	for i, b := range blocks {
		m, ok := b.(map[string]any)
		if !ok {
			c.addf("blocks[%d] is not an object", i)
			continue
		}
		where := fmt.Sprintf("blocks[%d]", i)
		c.id(where+".block_id", m["block_id"])
		if id, ok := m["block_id"].(string); ok {
			if seen[id] {
				c.addf("%s: block_id %q is not unique", where, id)
			}
			seen[id] = true
		}
		switch typ, _ := m["type"].(string); typ {
		case "section":
			fields, _ := m["fields"].([]any)
			if m["text"] == nil && len(fields) == 0 {
				c.addf("%s: a section needs text or fields", where)
			}
			c.text(where+".text", m["text"], "", LimitSectionText, false)
			if len(fields) > LimitSectionFields {
				c.addf("%s has %d fields, more than %d", where, len(fields), LimitSectionFields)
			}
			for j, f := range fields {
				c.text(fmt.Sprintf("%s.fields[%d]", where, j), f, "", LimitSectionField, true)
			}
			if acc, ok := m["accessory"].(map[string]any); ok {
				c.element(where+".accessory", acc)
			}
		case "header":
			c.text(where+".text", m["text"], "plain_text", LimitHeaderText, true)
		case "divider":
		case "context":
			els, _ := m["elements"].([]any)
			if len(els) == 0 || len(els) > LimitContextItems {
				c.addf("%s has %d elements, want 1 to %d", where, len(els), LimitContextItems)
			}
			for j, e := range els {
				if em, ok := e.(map[string]any); ok && em["type"] == "image" {
					continue
				}
				c.text(fmt.Sprintf("%s.elements[%d]", where, j), e, "", LimitContextText, true)
			}
		case "actions":
			els, _ := m["elements"].([]any)
			if len(els) == 0 || len(els) > LimitActionsItems {
				c.addf("%s has %d elements, want 1 to %d", where, len(els), LimitActionsItems)
			}
			actions := map[string]bool{}
			for j, e := range els {
				em, _ := e.(map[string]any)
				c.element(fmt.Sprintf("%s.elements[%d]", where, j), em)
				if id, ok := em["action_id"].(string); ok {
					if actions[id] {
						c.addf("%s: action_id %q is not unique", where, id)
					}
					actions[id] = true
				}
			}
		case "input":
			hasInput = true
			c.text(where+".label", m["label"], "plain_text", LimitLabel, true)
			c.text(where+".hint", m["hint"], "plain_text", LimitHint, false)
			el, ok := m["element"].(map[string]any)
			if !ok {
				c.addf("%s: an input needs an element", where)
				continue
			}
			c.element(where+".element", el)
		default:
			c.addf("%s: unknown block type %q", where, typ)
		}
	}
	return hasInput
}

// element checks an interactive element.
func (c *checker) element(where string, m map[string]any) {
	if m == nil {
		c.addf("%s is not an object", where)
		return
	}
	c.id(where+".action_id", m["action_id"])
	c.text(where+".placeholder", m["placeholder"], "plain_text", LimitPlaceholder, false)
	if cf, ok := m["confirm"].(map[string]any); ok {
		c.text(where+".confirm.title", cf["title"], "plain_text", LimitConfirmTitle, true)
		c.text(where+".confirm.text", cf["text"], "", LimitConfirmText, true)
		c.text(where+".confirm.confirm", cf["confirm"], "plain_text", LimitConfirmButtons, true)
		c.text(where+".confirm.deny", cf["deny"], "plain_text", LimitConfirmButtons, true)
	}
	switch typ, _ := m["type"].(string); typ {
	case "button":
		c.text(where+".text", m["text"], "plain_text", LimitButtonText, true)
		c.str(where+".value", m["value"], LimitButtonValue)
		if s, ok := m["style"].(string); ok && s != "primary" && s != "danger" {
			c.addf("%s.style %q is neither primary nor danger", where, s)
		}
	case "static_select", "multi_static_select":
		opts, _ := m["options"].([]any)
		if len(opts) == 0 || len(opts) > LimitOptions {
			c.addf("%s has %d options, want 1 to %d", where, len(opts), LimitOptions)
		}
		values := c.options(where, opts, "plain_text")
		if io, ok := m["initial_option"].(map[string]any); ok && !slices.Contains(values, fmt.Sprint(io["value"])) {
			c.addf("%s.initial_option is not one of its options", where)
		}
	case "external_select", "multi_external_select":
		if io, ok := m["initial_option"].(map[string]any); ok {
			c.options(where+".initial_option", []any{io}, "plain_text")
		}
	case "checkboxes", "radio_buttons":
		opts, _ := m["options"].([]any)
		if len(opts) == 0 || len(opts) > LimitCheckboxes {
			c.addf("%s has %d options, want 1 to %d", where, len(opts), LimitCheckboxes)
		}
		c.options(where, opts, "")
	case "plain_text_input":
		c.str(where+".initial_value", m["initial_value"], LimitInitialValue)
	case "number_input":
		if _, ok := m["is_decimal_allowed"].(bool); !ok {
			c.addf("%s: a number_input needs is_decimal_allowed", where)
		}
	case "users_select", "multi_users_select", "conversations_select", "multi_conversations_select",
		"channels_select", "multi_channels_select", "datepicker", "timepicker", "datetimepicker",
		"email_text_input", "url_text_input", "overflow", "image":
	default:
		c.addf("%s: unknown element type %q", where, typ)
	}
}

// options checks options and returns their values.
func (c *checker) options(where string, opts []any, kind string) []string {
	var values []string
	for j, o := range opts {
		om, _ := o.(map[string]any)
		ow := fmt.Sprintf("%s.options[%d]", where, j)
		c.text(ow+".text", om["text"], kind, LimitOptionText, true)
		v, ok := om["value"].(string)
		if !ok || v == "" || runes(v) > LimitOptionValue {
			c.addf("%s.value must be 1 to %d characters", ow, LimitOptionValue)
		}
		values = append(values, v)
	}
	return values
}
