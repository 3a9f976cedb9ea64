package slackapp

import (
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/slack-go/slack"
)

// blockStart is the request form's optional date-time picker of a flow
// that allows a scheduled start. Its id holds a dot, which no field name
// may, so it never meets a field's block.
const blockStart = "latch.starts_at"

// startInput is the date-time picker of the request form: when the access
// should start; left empty, on approval.
func startInput() *slack.InputBlock {
	block := slack.NewInputBlock(blockStart, plain("Start later", maxLabel),
		plain("Optional. Leave it empty to start once approved; at most 90 days ahead.", maxHint),
		slack.NewDateTimePickerBlockElement(actionValue))
	block.Optional = true
	return block
}

// formStart is the start a submitted request form asks for (Slack sends
// selected_date_time as Unix seconds); nil when none was picked.
func formStart(f *latch.Flow, st *State) *time.Time {
	if !f.AllowScheduledStart {
		return nil
	}
	v, ok := st.Get(blockStart, actionValue)
	if !ok || v.SelectedDateTime <= 0 {
		return nil
	}
	t := time.Unix(v.SelectedDateTime, 0).UTC()
	return &t
}

// startError answers a request form whose start was refused with the
// reason next to the picker; ok is false for any other error.
func startError(err error) (map[string]any, bool) {
	switch latch.ErrorCodeOf(err) {
	case latch.CodeInvalidStartsAt, latch.CodeScheduledStartNotAllowed:
		return map[string]any{"response_action": "errors",
			"errors": map[string]string{blockStart: clipPlain(latch.ErrorMessageOf(err), maxErrorText)}}, true
	}
	return nil, false
}
