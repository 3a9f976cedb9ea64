package slackapp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/slack-go/slack"
)

// Callback and action ids of Latch's views and messages.
const (
	callbackPicker  = "latch_pick"    // the flow picker modal
	callbackRequest = "latch_request" // a flow's request form
	callbackLoading = "latch_loading" // opened at once while Latch looks the person up
	actionPickFlow  = "pick_flow"     // the picker's select
	actionValue     = "value"         // every input of the request form
	actionApprove   = "approve"
	actionDeny      = "deny"
	actionRevoke    = "revoke"
	actionDone      = "done"   // "I'm done" on the requester's DM: the requester ends their own access
	blockReason     = "reason" // the optional decision reason in an approval message
	blockTarget     = latch.FieldNameTarget
)

// view is a Block Kit modal.
type view = slack.ModalViewRequest

// plain is a plain_text object of at most n characters. Plain text is shown
// as is: it needs no escaping.
func plain(s string, n int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, clipPlain(s, n), true, false)
}

// mrkdwn is a mrkdwn text object of at most n characters; more points to
// the full text where it was cut. s must already be mrkdwn: outside text in
// it escaped, Latch's mentions built with mention.
func mrkdwn(s string, n int, more string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, clipMrkdwn(s, n, more), false, false)
}

// section is a section block of mrkdwn text.
func section(blockID, md, more string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(nonEmpty(md), maxSectionText, more), nil, nil, slack.SectionBlockOptionBlockID(clipPlain(blockID, maxID)))
}

// header is a header block.
func header(text string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(plain(nonEmpty(text), maxHeaderText))
}

// contextBlock is a context block of mrkdwn texts (at most ten).
func contextBlock(mds ...string) *slack.ContextBlock {
	els := make([]slack.MixedElement, 0, min(len(mds), maxContextElements))
	for _, md := range mds[:min(len(mds), maxContextElements)] {
		els = append(els, mrkdwn(nonEmpty(md), maxContextText, ""))
	}
	return slack.NewContextBlock("", els...)
}

// nonEmpty is s, or "(empty)" where s is blank: Slack refuses empty text.
func nonEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(empty)"
	}
	return s
}

// option is a select option showing text; value must come from optionKey
// or be a value Latch made (at most 150 characters).
func option(text, value string) *slack.OptionBlockObject {
	return slack.NewOptionBlockObject(value, plain(nonEmpty(text), maxOptionText), nil)
}

// optionKey is the value of the option offering v: v itself when it fits
// Slack's 150 characters, else a short key (a hash of v) that optionValue
// maps back. Keys start with "~", which no short value that is its own key
// needs to: a value starting with "~" (or empty) is always keyed.
func optionKey(v string) string {
	if v != "" && utf8.RuneCountInString(v) <= maxOptionValue && !strings.HasPrefix(v, "~") {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "~" + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// optionValue maps a submitted option value back to the one of values it
// offers (key as is when none does: the engine then says it is not
// allowed).
func optionValue(key string, values []string) string {
	for _, v := range values {
		if optionKey(v) == key {
			return v
		}
	}
	return key
}

// modal is a modal view; blocks past Slack's 100 are dropped (flows are
// validated to stay well under it).
func modal(callback, title string, blocks []slack.Block) view {
	if len(blocks) > maxModalBlocks {
		blocks = blocks[:maxModalBlocks]
	}
	return view{Type: slack.VTModal, CallbackID: callback, Title: plain(nonEmpty(title), maxTitle),
		Close: plain("Cancel", maxTitle), Blocks: slack.Blocks{BlockSet: blocks}}
}

// flowLabel is the name people see for a flow.
func flowLabel(f *latch.Flow) string {
	if f.Label != "" {
		return f.Label
	}
	return f.Name
}

// pickerView is the modal that lists the flows a person may request. Picking
// one replaces it with that flow's form. note is mrkdwn (outside text in it
// escaped).
func pickerView(flows []*latch.Flow, note string) view {
	var blocks []slack.Block
	if note != "" {
		blocks = append(blocks, section("", note, ""))
	}
	opts := make([]*slack.OptionBlockObject, len(flows))
	for i, f := range flows {
		opts[i] = option(flowLabel(f), optionKey(f.Name))
	}
	pick := section("pick", "What do you need access to?", "")
	pick.Accessory = slack.NewAccessory(selectOf(actionPickFlow, "Choose a flow", opts))
	blocks = append(blocks, pick)
	return modal(callbackPicker, "Request access", blocks)
}

// selectOf is a select of options: static when Slack allows that many,
// else external (its options come from /slack/options as people type).
func selectOf(actionID, placeholder string, opts []*slack.OptionBlockObject) *slack.SelectBlockElement {
	if len(opts) > maxStaticOptions {
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plain(placeholder, maxPlaceholder), actionID)
		zero := 0
		sel.MinQueryLength = &zero
		return sel
	}
	return slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain(placeholder, maxPlaceholder), actionID, opts...)
}

// formMeta is what a request form carries in private_metadata: the flow,
// and who the form was opened for, as Latch resolved them then, so that
// submitting it needs no users.info call within the 3-second budget.
// Slack returns private_metadata as Latch set it; it is read only for the
// Slack user it names.
type formMeta struct {
	Flow    string `json:"flow"`
	Channel string `json:"channel,omitempty"` // where the command was run
	User    string `json:"user,omitempty"`    // the Slack user id it was opened for
	Email   string `json:"email,omitempty"`   // their Latch user
	Connect bool   `json:"connect,omitempty"` // a Slack Connect user
	// user is who the form is opened for, to offer break glass to the
	// people the flow's rule allows; not sent to Slack.
	user *latch.User
}

// metaFor is the metadata of a form opened for p.
func metaFor(p person) *formMeta {
	return &formMeta{User: p.slack.ID, Email: p.user.Email, Connect: p.connect, user: &p.user}
}

// requestView is the form of one flow: its header text, a target picker
// when the strategy has several targets, and an input per field, with
// defaults filled in.
func requestView(f *latch.Flow, meta *formMeta) view {
	if meta == nil {
		meta = &formMeta{}
	}
	meta.Flow = f.Name
	blocks := []slack.Block{header(flowLabel(f))}
	if f.AdditionalHeaderText != "" {
		// The flow's author writes it as mrkdwn, links included: it is the
		// deployment's own text, bounded but not escaped.
		blocks = append(blocks, section("", f.AdditionalHeaderText, " (the rest is in the flow's file)"))
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
	if f.AllowScheduledStart && f.Strategy != nil {
		blocks = append(blocks, startInput())
	}
	if meta.user != nil && !meta.Connect && latch.MayBreakGlass(f, meta.user) {
		blocks = append(blocks, breakGlassInputs(f)...)
	}
	md, _ := json.Marshal(meta)
	v := modal(callbackRequest, "Request access", blocks)
	v.Submit = plain("Request", maxTitle)
	v.PrivateMetadata = string(md) // names, ids and an email: well under 3,000
	return v
}

// targetInput is the picker of the strategy's targets.
func targetInput(f *latch.Flow) *slack.InputBlock {
	opts := make([]*slack.OptionBlockObject, len(f.Strategy.Targets))
	for i, t := range f.Strategy.Targets {
		opts[i] = option(targetLabel(t), optionKey(t.ID))
	}
	label := "Target"
	if fl, ok := f.Field(latch.FieldNameTarget); ok && fl.Label != "" {
		label = fl.Label
	}
	return slack.NewInputBlock(blockTarget, plain(nonEmpty(label), maxLabel), nil, selectOf(actionValue, "Choose a target", opts))
}

func targetLabel(t latch.Target) string {
	if t.Label != "" {
		return t.Label
	}
	return t.ID
}

// fieldInput is the input block of one field.
func fieldInput(fl latch.Field) *slack.InputBlock {
	label := fl.Label
	if label == "" {
		label = fl.Name
	}
	allowed := make([]*slack.OptionBlockObject, len(fl.AllowedValues))
	for i, v := range fl.AllowedValues {
		s := latch.FormatValue(fl.Type, v)
		allowed[i] = option(s, optionKey(s))
	}
	initial := func() (string, bool) {
		if fl.Default == nil {
			return "", false
		}
		return latch.FormatValue(fl.Type, fl.Default), true
	}
	optional := !fl.Required || fl.Default != nil
	var hint *slack.TextBlockObject
	var el slack.BlockElement
	switch {
	case fl.Type == latch.FieldBool:
		box := option(label, "true")
		cb := slack.NewCheckboxGroupsBlockElement(actionValue, box)
		if b, _ := fl.Default.(bool); b {
			cb.InitialOptions = []*slack.OptionBlockObject{box}
		}
		el, optional = cb, true // unticked is false
	case fl.Type == latch.FieldSlackUser:
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, nil, actionValue)
		if s, ok := fl.Default.(string); ok && s != "" {
			sel.InitialUser = s
		}
		el = sel
	case fl.Type == latch.FieldSlackUsers:
		sel := slack.NewOptionsMultiSelectBlockElement(slack.MultiOptTypeUser, nil, actionValue)
		if s, ok := fl.Default.([]string); ok && len(s) > 0 {
			sel.InitialUsers = s
		}
		el = sel
	case len(allowed) > 0:
		sel := selectOf(actionValue, "Choose one", allowed)
		if s, ok := initial(); ok {
			if opts := pickOptions(allowed, []string{optionKey(s)}); len(opts) == 1 {
				sel.InitialOption = opts[0] // Slack takes an initial option in external selects too
			}
		}
		el = sel
	case fl.Type == latch.FieldInt:
		num := slack.NewNumberInputBlockElement(nil, actionValue, false)
		if fl.Min != nil {
			num.MinValue = strconv.FormatInt(*fl.Min, 10)
		}
		if fl.Max != nil {
			num.MaxValue = strconv.FormatInt(*fl.Max, 10)
		}
		if s, ok := initial(); ok {
			num.InitialValue = s
		}
		el = num
	case fl.Type == latch.FieldStrings || fl.Type == latch.FieldInts:
		in := slack.NewPlainTextInputBlockElement(plain("One per line", maxPlaceholder), actionValue)
		in.Multiline = true
		if d := fl.Default; d != nil {
			in.InitialValue = clipPlain(strings.ReplaceAll(latch.FormatValue(fl.Type, d), ", ", "\n"), maxInitialValue)
		}
		el = in
	default: // string, duration
		in := slack.NewPlainTextInputBlockElement(nil, actionValue)
		if fl.Type == latch.FieldDuration {
			in.Placeholder = plain("e.g. 30m, 4h, 1d", maxPlaceholder)
			hint = plain(durationHint(fl), maxHint)
		}
		if s, ok := initial(); ok {
			in.InitialValue = clipPlain(s, maxInitialValue)
		}
		el = in
	}
	block := slack.NewInputBlock(fl.Name, plain(nonEmpty(label), maxLabel), hint, el)
	block.Optional = optional
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
func pickOptions(options []*slack.OptionBlockObject, values []string) []*slack.OptionBlockObject {
	var out []*slack.OptionBlockObject
	for _, o := range options {
		if slices.Contains(values, o.Value) {
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
			raw[latch.FieldNameTarget] = optionValue(s[0], targetIDs(f))
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
		if len(fl.AllowedValues) > 0 && fl.Type != latch.FieldBool {
			allowed := allowedStrings(fl)
			for i, k := range vals {
				vals[i] = optionValue(k, allowed)
			}
		}
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

// allowedStrings is a field's allowed values as the form offers them.
func allowedStrings(fl latch.Field) []string {
	out := make([]string, len(fl.AllowedValues))
	for i, v := range fl.AllowedValues {
		out[i] = latch.FormatValue(fl.Type, v)
	}
	return out
}

// targetIDs is the ids of a flow's targets.
func targetIDs(f *latch.Flow) []string {
	if f.Strategy == nil {
		return nil
	}
	out := make([]string, len(f.Strategy.Targets))
	for i, t := range f.Strategy.Targets {
		out[i] = t.ID
	}
	return out
}

// submittedView is what the form turns into once the request is sent;
// where is the approval channel ("" for DMs).
func submittedView(f *latch.Flow, requestID, where string) view {
	if where != "" {
		where = " in " + escape(where)
	}
	text := fmt.Sprintf(":white_check_mark: Your request for *%s* is on its way to the approvers%s.\nLatch sends you a DM at every step. Request `%s`.",
		escape(flowLabel(f)), where, escape(requestID))
	v := modal(callbackRequest+"_done", "Request sent", []slack.Block{section("", text, "")})
	v.Close = plain("Done", maxTitle)
	return v
}

// messageView is a modal that only says md (mrkdwn).
func messageView(callback, title, md string) view {
	return modal(callback, title, []slack.Block{section("", md, "")})
}
