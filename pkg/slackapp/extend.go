package slackapp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// The Extend button and its modal: the requester asks for more time on
// active access (latch.CmdExtend).
const (
	actionExtend        = "extend"        // "Extend" on the requester's DM and the approval message
	callbackExtend      = "latch_extend"  // the modal asking how much more time, and why
	blockExtendDuration = "extend_by"     // the modal's duration input
	blockExtendReason   = "extend_reason" // the modal's optional reason
)

// extendButton is the Extend button of request r.
func extendButton(r latch.Request) *slack.ButtonBlockElement {
	return button(actionExtend, "Extend", slack.StyleDefault, r.ID, nil)
}

// withExtend adds the Extend button to the "active" action block of
// blocks, when f lets the requester extend and r is active with no
// extension pending.
func withExtend(f *latch.Flow, r latch.Request, blocks []slack.Block) []slack.Block {
	if f.Extension == nil || r.Status != latch.StatusActive || r.Extension != nil {
		return blocks
	}
	for _, b := range blocks {
		if ab, ok := b.(*slack.ActionBlock); ok && ab.BlockID == "active" {
			ab.Elements.ElementSet = append([]slack.BlockElement{extendButton(r)}, ab.Elements.ElementSet...)
			return blocks
		}
	}
	return append(blocks, slack.NewActionBlock("active", extendButton(r)))
}

// extensionBlocks are the buttons of an active request's approval message
// on a flow with an extension policy: Approve and Deny of its pending
// extension (the same buttons as a request's, which decide the extension
// of an active request), or Extend; and, where the flow allows it, Revoke
// (the access can be ended while an extension waits).
func extensionBlocks(f *latch.Flow, r latch.Request) []slack.Block {
	var active []slack.Block
	if f.AllowRevoke {
		active = []slack.Block{revokeBlock(r)}
	}
	if r.Extension != nil {
		return append([]slack.Block{slack.NewActionBlock("decide",
			button(actionApprove, "Approve extension", slack.StylePrimary, r.ID, nil),
			button(actionDeny, "Deny extension", slack.StyleDanger, r.ID, nil))}, active...)
	}
	return withExtend(f, r, active)
}

// extensionStatus is the line an active request's status gains while an
// extension waits for approvers (mrkdwn, outside text escaped); "" when none.
func (a *App) extensionStatus(ctx context.Context, f *latch.Flow, r latch.Request) string {
	x := r.Extension
	if x == nil {
		return ""
	}
	s := fmt.Sprintf("\n:hourglass_flowing_sand: *Extension asked*: %s more, by %s",
		escape(latch.FormatDuration(time.Duration(x.Duration)*time.Second)), a.who(ctx, x.By))
	if x.Reason != "" {
		s += ": " + quote(x.Reason)
	}
	if q := max(f.Approval.Quorum, 1); q > 1 {
		s += fmt.Sprintf(" (%d of %d approvals)", len(x.Approvals), q)
	}
	return s
}

// extensionText is what the thread and the requester's DM say of an
// extension event (mrkdwn, outside text escaped); "" for other events.
func (a *App) extensionText(ctx context.Context, f *latch.Flow, event latch.AuditType, r latch.Request, dm bool) string {
	until := ""
	if r.EndsAt != nil {
		until = " until " + slackDate(*r.EndsAt)
	}
	switch event {
	case latch.AuditExtensionRequested:
		if dm || r.Extension == nil {
			return ""
		}
		s := fmt.Sprintf(":hourglass_flowing_sand: %s asks for %s more", a.who(ctx, r.Extension.By),
			escape(latch.FormatDuration(time.Duration(r.Extension.Duration)*time.Second)))
		if r.Extension.Reason != "" {
			s += ": " + quote(r.Extension.Reason)
		}
		return s + ". Approve or deny the extension above."
	case latch.AuditExtended:
		if dm {
			return fmt.Sprintf(":hourglass: Your access to %s is extended%s.", whatOf(f, r), until)
		}
		return ":hourglass: Access extended" + until + "."
	case latch.AuditExtensionDenied:
		if dm {
			return fmt.Sprintf(":no_entry: Your extension of %s was denied; the access still ends%s.", whatOf(f, r), until)
		}
		return ":no_entry: Extension denied; the access still ends" + until + "."
	}
	return ""
}

// openExtend answers a click on Extend at once (the trigger id lives three
// seconds): the modal asking how much more time and why, or, for someone
// who may not extend, a modal saying why. It reports whether the click was
// an Extend.
func (a *App) openExtend(ctx context.Context, in *Interaction) bool {
	if len(in.Actions) == 0 || in.Actions[0].ActionID != actionExtend {
		return false
	}
	requestID := in.Actions[0].Value
	v, err := a.extendView(ctx, in, requestID)
	if err != nil {
		v = messageView(callbackExtend+"_error", "Extend access", ":warning: "+escape(a.explain(ctx, err)))
	}
	if _, _, err := a.Slack.OpenView(ctx, in.TriggerID, v); err != nil {
		a.Log.WarnContext(ctx, "could not open the extension form", "request", requestID, "err", err)
	}
	return true
}

// extendView is the modal of an extension of request id, for the person
// behind in: only its requester, while its access is active on a flow that
// allows extending.
func (a *App) extendView(ctx context.Context, in *Interaction, id string) (view, error) {
	p, err := a.resolve(ctx, teamOf(in), in.User.ID)
	if err != nil {
		return view{}, err
	}
	r, err := a.Store.GetRequest(ctx, id)
	if err != nil {
		return view{}, err
	}
	if !r.ReleasedBy(p.user.Email) {
		return view{}, latch.Errorf(latch.KindForbidden, latch.CodeNotRequester, "Only the person who asked for this access can ask for more time.")
	}
	f, err := a.Engine.Flows().Get(r.Flow)
	if err != nil {
		return view{}, err
	}
	if f.Extension == nil {
		return view{}, latch.Errorf(latch.KindConflict, latch.CodeExtensionNotAllowed, "Flow %q does not allow extending access.", f.Name)
	}
	if r.Status != latch.StatusActive {
		return view{}, latch.Errorf(latch.KindConflict, "not_active", "Request %s is %s; only active access can be extended.", r.ID, r.Status)
	}
	intro := fmt.Sprintf("Your access to %s ends %s.", whatOf(f, r), slackDate(*r.EndsAt))
	if f.Extension.AutoWithin > 0 {
		intro += fmt.Sprintf(" Up to %s more is granted at once; more goes to the approvers.", latch.FormatDuration(f.Extension.AutoWithin))
	} else {
		intro += " The approvers decide."
	}
	dur := slack.NewInputBlock(blockExtendDuration, plain("How much more time", maxLabel), plain("30m, 1h, 1d", maxLabel),
		slack.NewPlainTextInputBlockElement(plain("1h", maxPlaceholder), actionValue))
	reason := slack.NewInputBlock(blockExtendReason, plain("Why (optional)", maxLabel), nil,
		slack.NewPlainTextInputBlockElement(plain("What still needs the access", maxPlaceholder), actionValue))
	reason.Optional = true
	v := modal(callbackExtend, "Extend access", []slack.Block{section("", intro, seeRequest(r.ID)), dur, reason})
	v.Submit = plain("Extend", maxTitle)
	v.PrivateMetadata = r.ID
	return v, nil
}

// submitExtend handles the extension modal: a duration it cannot read, and
// every refusal the engine would give, are shown next to the duration
// (response_action errors); otherwise the extension is sent and the modal
// says what happens next.
func (a *App) submitExtend(ctx context.Context, in *Interaction) map[string]any {
	fail := func(msg string) map[string]any {
		return map[string]any{"response_action": "errors", "errors": map[string]string{blockExtendDuration: clipPlain(msg, maxErrorText)}}
	}
	raw := ""
	if v, ok := in.View.State.Get(blockExtendDuration, actionValue); ok {
		raw = strings.TrimSpace(v.Value)
	}
	d, err := latch.ParseDuration(raw)
	if err != nil || d < time.Second {
		return fail(fmt.Sprintf("%q is not a duration: write it like 30m, 1h or 1d.", raw))
	}
	reason := ""
	if v, ok := in.View.State.Get(blockExtendReason, actionValue); ok {
		reason = strings.TrimSpace(v.Value)
	}
	p, err := a.resolve(ctx, teamOf(in), in.User.ID)
	if err != nil {
		return fail(a.explain(ctx, err))
	}
	cmd := latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdExtend, RequestID: in.View.PrivateMetadata,
		Actor: latch.Actor{Email: p.user.Email}, Reason: reason, Duration: int64(d / time.Second), Source: latch.SourceSlack, At: a.Clock.Now()}
	if err := a.Engine.Check(ctx, cmd); err != nil {
		return fail(a.explain(ctx, err))
	}
	if err := a.Queue.Publish(ctx, cmd); err != nil {
		return fail(a.explain(ctx, err))
	}
	a.Log.InfoContext(ctx, "slack extension accepted", "request", cmd.RequestID, "actor", p.user.Email, "seconds", cmd.Duration)
	v := messageView(callbackExtend+"_done", "Extend access",
		fmt.Sprintf(":white_check_mark: Asked for %s more. Latch sends you a DM when it is granted or refused. Request `%s`.",
			escape(latch.FormatDuration(d)), escape(cmd.RequestID)))
	v.Close = plain("Done", maxTitle)
	return map[string]any{"response_action": "update", "view": v}
}
