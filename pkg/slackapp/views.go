package slackapp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// Callback and action ids of Latch's views and messages.
const (
	callbackPicker  = "latch_pick"    // the flow picker modal
	callbackRequest = "latch_request" // a flow's request form
	actionPickFlow  = "pick_flow"     // the picker's select
	actionValue     = "value"         // every input of the request form
	actionApprove   = "approve"
	actionDeny      = "deny"
	actionRevoke    = "revoke"
	blockReason     = "reason" // the optional decision reason in an approval message
	blockTarget     = latch.FieldNameTarget
)

// Slack's limits on Block Kit.
const (
	maxStaticOptions = 100 // options in a static select; more go to an external select
	maxOptionText    = 75
	maxTitle         = 24
)

// view is a Block Kit modal.
type view = map[string]any

func plain(s string) map[string]any {
	return map[string]any{"type": "plain_text", "text": s, "emoji": true}
}
func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

// truncate shortens s to n characters, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func option(text, value string) map[string]any {
	return map[string]any{"text": plain(truncate(text, maxOptionText)), "value": value}
}

func modal(callback, title string, blocks []any) view {
	return view{"type": "modal", "callback_id": callback, "title": plain(truncate(title, maxTitle)),
		"close": plain("Cancel"), "blocks": blocks}
}

// flowLabel is the name people see for a flow.
func flowLabel(f *latch.Flow) string {
	if f.Label != "" {
		return f.Label
	}
	return f.Name
}

// pickerView is the modal that lists the flows a person may request. Picking
// one replaces it with that flow's form.
func pickerView(flows []*latch.Flow, note string) view {
	var blocks []any
	if note != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn(note)})
	}
	opts := make([]any, len(flows))
	for i, f := range flows {
		opts[i] = option(flowLabel(f), f.Name)
	}
	sel := selectOf(actionPickFlow, "Choose a flow", opts)
	blocks = append(blocks,
		map[string]any{"type": "section", "block_id": "pick", "text": mrkdwn("What do you need access to?"), "accessory": sel})
	return modal(callbackPicker, "Request access", blocks)
}

// selectOf is a select of options: static when Slack allows that many,
// else external (its options come from /slack/options as people type).
func selectOf(actionID, placeholder string, opts []any) map[string]any {
	sel := map[string]any{"action_id": actionID, "placeholder": plain(placeholder)}
	if len(opts) > maxStaticOptions {
		sel["type"], sel["min_query_length"] = "external_select", 0
	} else {
		sel["type"], sel["options"] = "static_select", opts
	}
	return sel
}

// formMeta is what a request form carries in private_metadata.
type formMeta struct {
	Flow    string `json:"flow"`
	Channel string `json:"channel,omitempty"` // where the command was run
}

// requestView is the form of one flow: its header text, a target picker
// when the strategy has several targets, and an input per field, with
// defaults filled in. errors are shown above the form (a note).
func requestView(f *latch.Flow, meta *formMeta) view {
	if meta == nil {
		meta = &formMeta{}
	}
	meta.Flow = f.Name
	blocks := []any{map[string]any{"type": "header", "text": plain(truncate(flowLabel(f), 150))}}
	if f.AdditionalHeaderText != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn(f.AdditionalHeaderText)})
	}
	if f.Strategy != nil && len(f.Strategy.Targets) > 1 {
		if _, declared := f.Field(latch.FieldNameTarget); !declared {
			blocks = append(blocks, targetInput(f))
		}
	}
	for _, fl := range f.Fields {
		if fl.Name == latch.FieldNameTarget && f.Strategy != nil {
			blocks = append(blocks, targetInput(f))
			continue
		}
		blocks = append(blocks, fieldInput(fl))
	}
	md, _ := json.Marshal(meta)
	v := modal(callbackRequest, "Request access", blocks)
	v["submit"] = plain("Request")
	v["private_metadata"] = string(md)
	return v
}

// targetInput is the picker of the strategy's targets.
func targetInput(f *latch.Flow) map[string]any {
	opts := make([]any, len(f.Strategy.Targets))
	for i, t := range f.Strategy.Targets {
		opts[i] = option(targetLabel(t), t.ID)
	}
	sel := selectOf(actionValue, "Choose a target", opts)
	label := "Target"
	if fl, ok := f.Field(latch.FieldNameTarget); ok && fl.Label != "" {
		label = fl.Label
	}
	return map[string]any{"type": "input", "block_id": blockTarget, "label": plain(label), "element": sel}
}

func targetLabel(t latch.Target) string {
	if t.Label != "" {
		return t.Label
	}
	return t.ID
}

// fieldInput is the input block of one field.
func fieldInput(fl latch.Field) map[string]any {
	label := fl.Label
	if label == "" {
		label = fl.Name
	}
	block := map[string]any{"type": "input", "block_id": fl.Name, "label": plain(truncate(label, 2000)),
		"optional": !fl.Required || fl.Default != nil}
	el := map[string]any{"action_id": actionValue}
	block["element"] = el
	allowed := make([]any, len(fl.AllowedValues))
	for i, v := range fl.AllowedValues {
		s := latch.FormatValue(fl.Type, v)
		allowed[i] = option(s, s)
	}
	initial := func() (string, bool) {
		if fl.Default == nil {
			return "", false
		}
		return latch.FormatValue(fl.Type, fl.Default), true
	}
	switch {
	case fl.Type == latch.FieldBool:
		el["type"] = "checkboxes"
		box := option(label, "true")
		el["options"] = []any{box}
		if b, _ := fl.Default.(bool); b {
			el["initial_options"] = []any{box}
		}
		block["optional"] = true // unticked is false
	case fl.Type == latch.FieldSlackUser:
		el["type"] = "users_select"
		if s, ok := fl.Default.(string); ok && s != "" {
			el["initial_user"] = s
		}
	case fl.Type == latch.FieldSlackUsers:
		el["type"] = "multi_users_select"
		if s, ok := fl.Default.([]string); ok && len(s) > 0 {
			el["initial_users"] = s
		}
	case len(allowed) > 0:
		el["type"], el["options"] = "static_select", allowed
		if s, ok := initial(); ok {
			if opts := pickOptions(allowed, []string{s}); len(opts) == 1 {
				el["initial_option"] = opts[0]
			}
		}
	case fl.Type == latch.FieldInt:
		el["type"], el["is_decimal_allowed"] = "number_input", false
		if fl.Min != nil {
			el["min_value"] = strconv.FormatInt(*fl.Min, 10)
		}
		if fl.Max != nil {
			el["max_value"] = strconv.FormatInt(*fl.Max, 10)
		}
		if s, ok := initial(); ok {
			el["initial_value"] = s
		}
	case fl.Type == latch.FieldStrings || fl.Type == latch.FieldInts:
		el["type"], el["multiline"] = "plain_text_input", true
		el["placeholder"] = plain("One per line")
		if d := fl.Default; d != nil {
			el["initial_value"] = strings.ReplaceAll(latch.FormatValue(fl.Type, d), ", ", "\n")
		}
	default: // string, duration
		el["type"] = "plain_text_input"
		if fl.Type == latch.FieldDuration {
			el["placeholder"] = plain("e.g. 30m, 4h, 1d")
			block["hint"] = plain(durationHint(fl))
		}
		if s, ok := initial(); ok {
			el["initial_value"] = s
		}
	}
	return block
}

func durationHint(fl latch.Field) string {
	hint := "A whole number of minutes (m), hours (h) or days (d)."
	show := func(n int64) string { return latch.FormatValue(latch.FieldDuration, n) }
	switch {
	case fl.Min != nil && fl.Max != nil:
		hint += fmt.Sprintf(" From %s to %s.", show(*fl.Min), show(*fl.Max))
	case fl.Min != nil:
		hint += fmt.Sprintf(" At least %s.", show(*fl.Min))
	case fl.Max != nil:
		hint += fmt.Sprintf(" At most %s.", show(*fl.Max))
	}
	return hint
}

// pickOptions returns the options whose values are in values.
func pickOptions(options []any, values []string) []any {
	var out []any
	for _, o := range options {
		if slices.Contains(values, o.(map[string]any)["value"].(string)) {
			out = append(out, o)
		}
	}
	return out
}

// formValues reads a submitted request form into raw field values, as
// Flow.NormalizeFields takes them: strings for text, selects and pickers,
// a list for multi selects and multi-line lists, a bool for a checkbox.
// Empty inputs are left out, so that defaults and "required" apply.
func formValues(f *latch.Flow, st *State) map[string]any {
	raw := map[string]any{}
	if v, ok := st.Get(blockTarget, actionValue); ok {
		if s := v.Strings(); len(s) > 0 {
			raw[latch.FieldNameTarget] = s[0]
		}
	}
	for _, fl := range f.Fields {
		if fl.Name == latch.FieldNameTarget {
			continue
		}
		v, ok := st.Get(fl.Name, actionValue)
		if !ok {
			continue
		}
		vals := v.Strings()
		switch fl.Type {
		case latch.FieldBool:
			raw[fl.Name] = len(v.SelectedOptions) > 0
		case latch.FieldStrings, latch.FieldInts, latch.FieldSlackUsers:
			var list []any
			for _, s := range vals {
				for line := range strings.SplitSeq(s, "\n") {
					if line = strings.TrimSpace(line); line != "" {
						list = append(list, line)
					}
				}
			}
			if len(list) > 0 {
				raw[fl.Name] = list
			}
		default:
			if len(vals) > 0 && strings.TrimSpace(vals[0]) != "" {
				raw[fl.Name] = strings.TrimSpace(vals[0])
			}
		}
	}
	return raw
}

// submittedView is what the form turns into once the request is sent.
func submittedView(f *latch.Flow, requestID, where string) view {
	text := fmt.Sprintf(":white_check_mark: Your request for *%s* is on its way to the approvers%s.\nLatch sends you a DM at every step. Request `%s`.",
		flowLabel(f), where, requestID)
	v := modal(callbackRequest+"_done", "Request sent", []any{map[string]any{"type": "section", "text": mrkdwn(text)}})
	v["close"] = plain("Done")
	return v
}
