package slackapp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/slack-go/slack"
)

// Break glass in Slack: the request form offers it to the people the
// flow's break_glass.allowed rule lets in (a checkbox and a reason); the
// flow's broadcast channel is told of every break glass with a Reviewed
// button, the admins in a DM; a review updates that message; and a missing
// review is alerted there, in its thread and to the admins.
const (
	actionReview      = "review"             // "Reviewed" on the broadcast message: a reviewer acknowledges a break glass
	blockBreakGlass   = "break-glass"        // the form's break-glass checkbox (a field name cannot hold "-")
	blockGlassReason  = "break-glass-reason" // the form's reason for breaking glass
	refBreakGlass     = "break_glass"        // the message ref of the broadcast message
	breakGlassChecked = "break_glass"        // the checkbox's option value
)

// breakGlassEvents are the events told in the flow's broadcast channel.
var breakGlassEvents = []latch.AuditType{latch.AuditBreakGlass, latch.AuditBreakGlassReviewed, latch.AuditBreakGlassReviewOverdue}

// breakGlassInputs are the form's break-glass inputs, for a person the
// flow's rule allows.
func breakGlassInputs(f *latch.Flow) []slack.Block {
	box := slack.NewCheckboxGroupsBlockElement(actionValue,
		slack.NewOptionBlockObject(breakGlassChecked, plain("Break glass: grant me access now, without an approver", maxOptionText),
			plain(fmt.Sprintf("Tells %s; lasts at most %s; a reviewer must acknowledge it.",
				f.BreakGlass.Broadcast, latch.FormatDuration(f.BreakGlass.MaxDuration)), maxOptionText)))
	check := slack.NewInputBlock(blockBreakGlass, plain("Emergency", maxLabel), nil, box)
	check.Optional = true
	reason := slack.NewPlainTextInputBlockElement(plain("Why you need access now", maxPlaceholder), actionValue)
	reason.Multiline = true
	reason.MaxLength = latch.MaxBreakGlassReason
	in := slack.NewInputBlock(blockGlassReason, plain("Reason for breaking glass", maxLabel),
		plain("Required when you break glass; shown to the reviewers.", maxHint), reason)
	in.Optional = true
	return []slack.Block{check, in}
}

// breakGlassChoice reads the form's break-glass inputs: whether it was
// ticked, and the reason.
func breakGlassChoice(st *State) (bool, string) {
	v, ok := st.Get(blockBreakGlass, actionValue)
	if !ok || !slices.Contains(v.Strings(), breakGlassChecked) {
		return false, ""
	}
	reason := ""
	if r, ok := st.Get(blockGlassReason, actionValue); ok {
		reason = strings.TrimSpace(r.Value)
	}
	return true, reason
}

// breakGlassError answers a refused break glass next to the input it is
// about; ok is false for other errors.
func breakGlassError(err error) (map[string]any, bool) {
	block := ""
	switch latch.ErrorCodeOf(err) {
	case latch.CodeReasonRequired:
		block = blockGlassReason
	case latch.CodeBreakGlassNotAllowed, latch.CodeBreakGlassNotOffered:
		block = blockBreakGlass
	case "invalid_fields":
		if le, ok := errors.AsType[*latch.Error](err); ok && le.Details["reason"] != nil && len(le.Details) == 1 {
			block = blockGlassReason
		}
	}
	if block == "" {
		return nil, false
	}
	return map[string]any{"response_action": "errors", "errors": map[string]string{block: clipPlain(latch.ErrorMessageOf(err), maxErrorText)}}, true
}

// brokeGlassView is what the form turns into once a break glass is sent.
func brokeGlassView(f *latch.Flow, requestID string) view {
	text := fmt.Sprintf(":rotating_light: You broke glass on *%s*: access is being granted now, without an approver.\n%s and the admins have been told; a reviewer will acknowledge it. Request `%s`.",
		escape(flowLabel(f)), escape(f.BreakGlass.Broadcast), escape(requestID))
	v := modal(callbackRequest+"_done", "Break glass", []slack.Block{section("", text, "")})
	v.Close = plain("Done", maxTitle)
	return v
}

// broadcastChannel is where a flow's break glasses are told: its
// broadcast channel (the approval channel for a flow removed since).
func (a *App) broadcastChannel(f *latch.Flow) string {
	if f.BreakGlass != nil && f.BreakGlass.Broadcast != "" {
		return f.BreakGlass.Broadcast
	}
	return a.approvalChannel(f)
}

// breakGlassNotice tells a break-glass event: the broadcast message (once),
// its update on review, and the missing-review alert (once per alert).
func (a *App) breakGlassNotice(ctx context.Context, f *latch.Flow, event latch.AuditType, r latch.Request) error {
	if r.BreakGlass == nil {
		return nil
	}
	refs, err := a.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("message refs of %s: %w", r.ID, err)
	}
	find := func(kind string) (latch.MessageRef, bool) {
		i := slices.IndexFunc(refs, func(ref latch.MessageRef) bool { return ref.Kind == kind })
		if i < 0 {
			return latch.MessageRef{}, false
		}
		return refs[i], true
	}
	switch event {
	case latch.AuditBreakGlass:
		text, blocks := a.breakGlassMessage(ctx, f, r)
		if _, ok := find(refBreakGlass); !ok {
			if ch := a.broadcastChannel(f); ch != "" {
				m, err := a.Slack.PostMessage(ctx, ch, text, blocks)
				if err != nil {
					if err := a.slackFailed(ctx, "posting the break glass to "+ch, r, err); err != nil {
						return err
					}
				} else if err := a.record(ctx, r, refBreakGlass, m.Channel, m.TS); err != nil {
					return err
				}
			}
		}
		_, err := a.tellAdmins(ctx, r, refBreakGlass+" admin", text)
		return err

	case latch.AuditBreakGlassReviewed:
		ref, ok := find(refBreakGlass)
		if !ok {
			return nil
		}
		text, blocks := a.breakGlassMessage(ctx, f, r)
		if err := a.Slack.UpdateMessage(ctx, ref.Channel, ref.TS, text, blocks); err != nil {
			if err := a.slackFailed(ctx, "updating the break glass message", r, err); err != nil {
				return err
			}
		}
		if _, told := find(refBreakGlass + " reviewed"); told {
			return nil
		}
		rev := r.BreakGlass.Review
		reply := ":white_check_mark: Reviewed by " + a.who(ctx, rev.By)
		if rev.Reason != "" {
			reply += ": " + quote(rev.Reason)
		}
		if err := a.Slack.PostReply(ctx, ref.Channel, ref.TS, clipMrkdwn(reply, maxMessageText, seeRequest(r.ID))); err != nil {
			return a.slackFailed(ctx, "replying in the break glass thread", r, err)
		}
		return a.record(ctx, r, refBreakGlass+" reviewed", ref.Channel, ref.TS)

	case latch.AuditBreakGlassReviewOverdue:
		ev, found, err := a.lastEvent(ctx, r, event)
		if err != nil || !found {
			return err
		}
		key := fmt.Sprintf("review_overdue %d", ev.Seq)
		text := fmt.Sprintf(":rotating_light: *Break glass not reviewed*: %s broke glass for %s on %s, and nobody has reviewed it (due %s). An admin or an approver of the flow must: the *Reviewed* button, or `latch review %s`.\nReason: %s",
			a.who(ctx, latch.Actor{Email: r.Requester.Email}), whatOf(f, r), slackDate(r.CreatedAt), slackDate(r.BreakGlass.ReviewDueAt),
			escape(r.ID), quote(r.BreakGlass.Reason))
		text = clipMrkdwn(text, maxMessageText, seeRequest(r.ID))
		if _, told := find(key + " channel"); !told {
			if ch := a.broadcastChannel(f); ch != "" {
				m, err := a.Slack.PostMessage(ctx, ch, text, []slack.Block{section("alert", text, seeRequest(r.ID)), reviewActions(r)})
				if err != nil {
					if err := a.slackFailed(ctx, "posting the missing review alert to "+ch, r, err); err != nil {
						return err
					}
				} else if err := a.record(ctx, r, key+" channel", m.Channel, m.TS); err != nil {
					return err
				}
			}
		}
		if ref, ok := find(refBreakGlass); ok {
			if _, told := find(key + " thread"); !told {
				if err := a.Slack.PostReply(ctx, ref.Channel, ref.TS, text); err != nil {
					if err := a.slackFailed(ctx, "posting the missing review alert in the thread", r, err); err != nil {
						return err
					}
				} else if err := a.record(ctx, r, key+" thread", ref.Channel, ref.TS); err != nil {
					return err
				}
			}
		}
		_, err = a.tellAdmins(ctx, r, key+" admin", text)
		return err
	}
	return nil
}

// breakGlassMessage is the broadcast message of a break glass: who, what,
// until when and why (outside text escaped and bounded), with Reviewed
// until someone reviews it, and who did after.
func (a *App) breakGlassMessage(ctx context.Context, f *latch.Flow, r latch.Request) (string, []slack.Block) {
	bg := r.BreakGlass
	s := fmt.Sprintf(":rotating_light: *Break glass*: %s granted themselves %s without an approver, for %s",
		a.who(ctx, latch.Actor{Email: r.Requester.Email}), whatOf(f, r), latch.FormatDuration(r.GrantDuration()))
	if bg.RequestedSeconds > 0 {
		s += fmt.Sprintf(" (capped from %s)", latch.FormatDuration(time.Duration(bg.RequestedSeconds)*time.Second))
	}
	s += ".\nReason: " + quote(bg.Reason)
	if bg.Review != nil {
		s += "\n:white_check_mark: Reviewed by " + a.who(ctx, bg.Review.By) + " " + slackDate(bg.Review.At) + "."
	} else {
		s += fmt.Sprintf("\nAn admin or an approver of the flow must review it by %s. Request `%s`.", slackDate(bg.ReviewDueAt), escape(r.ID))
	}
	s = clipMrkdwn(s, maxMessageText, seeRequest(r.ID))
	blocks := []slack.Block{section("break_glass", s, seeRequest(r.ID))}
	if bg.Review == nil {
		blocks = append(blocks, reviewActions(r))
	}
	return s, blocks
}

// reviewActions holds the Reviewed button of a break glass.
func reviewActions(r latch.Request) *slack.ActionBlock {
	confirm := slack.NewConfirmationBlockObject(plain("Mark this break glass reviewed?", maxConfirmTitle),
		plain("You confirm the access was warranted; the alerts stop.", maxConfirmText),
		plain("Reviewed", maxConfirmButton), plain("Not yet", maxConfirmButton))
	return slack.NewActionBlock("review", button(actionReview, "Reviewed", slack.StylePrimary, r.ID, confirm))
}
