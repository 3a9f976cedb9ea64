package slackapp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// RefApproval is the kind of the message ref of a request's approval message.
const RefApproval = "approval"

var _ latch.Notifier = (*App)(nil)

// dmEvents are the events the requester is sent a DM about.
var dmEvents = []latch.AuditType{latch.AuditApproved, latch.AuditDenied, latch.AuditExpired, latch.AuditEscalated,
	latch.AuditDeescalated, latch.AuditFailed, latch.AuditDeescalationFailed}

// Notify posts a request's approval message when there is none yet, updates
// it in place otherwise, and sends the requester a DM about decisions,
// grants and ends. It renders the request as it is now, so a retried or
// late notification shows the latest state. A Slack error that retrying
// cannot fix (an unknown channel, a person who left) is logged and
// dropped; any other error is returned, to be retried from the outbox.
func (a *App) Notify(ctx context.Context, event latch.AuditType, r latch.Request) error {
	a.init()
	f, err := a.Engine.Flows().Get(r.Flow)
	if err != nil {
		f = &latch.Flow{Name: r.Flow} // a flow removed since: render what the request knows
	}
	if err := a.approvalMessage(ctx, f, r); err != nil {
		return err
	}
	if slices.Contains(dmEvents, event) {
		return a.dmRequester(ctx, f, event, r)
	}
	return nil
}

// retryable reports whether a failed Slack call may succeed later.
func retryable(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return true // the network, a timeout, a 5xx
	}
	switch ae.Code {
	case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org":
		return true
	}
	return false
}

// slackFailed returns err when retrying may help, and otherwise logs it
// and returns nil.
func (a *App) slackFailed(ctx context.Context, what string, r latch.Request, err error) error {
	if retryable(err) {
		return fmt.Errorf("%s for %s: %w", what, r.ID, err)
	}
	a.Log.ErrorContext(ctx, "slack refused "+what+"; not retried", "request", r.ID, "err", err)
	return nil
}

// approvalChannel is where a flow's approval messages go: the flow's
// channel, else the deployment's; "" means a DM to each listed approver.
func (a *App) approvalChannel(f *latch.Flow) string {
	if f.Approval.Channel != "" {
		return f.Approval.Channel
	}
	return a.Channel
}

// approvalMessage posts or updates the request's approval message(s).
func (a *App) approvalMessage(ctx context.Context, f *latch.Flow, r latch.Request) error {
	refs, err := a.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("message refs of %s: %w", r.ID, err)
	}
	text, blocks := a.render(ctx, f, r)
	posted := false
	for _, ref := range refs {
		if ref.Kind != RefApproval {
			continue
		}
		posted = true
		if err := a.Slack.UpdateMessage(ctx, ref.Channel, ref.TS, text, blocks); err != nil {
			if err := a.slackFailed(ctx, "updating the approval message", r, err); err != nil {
				return err
			}
		}
	}
	if posted {
		return nil
	}
	channels, err := a.approvalDestinations(ctx, f, r)
	if err != nil {
		return err
	}
	for _, ch := range channels {
		m, err := a.Slack.PostMessage(ctx, ch, text, blocks)
		if err != nil {
			if err := a.slackFailed(ctx, "posting the approval message to "+ch, r, err); err != nil {
				return err
			}
			continue
		}
		ref := latch.MessageRef{RequestID: r.ID, Kind: RefApproval, Channel: m.Channel, TS: m.TS, PostedAt: a.Clock.Now()}
		if err := a.Store.PutMessageRef(ctx, ref); err != nil {
			return fmt.Errorf("record the approval message of %s: %w", r.ID, err)
		}
	}
	return nil
}

// approvalDestinations are the channels a new approval message goes to:
// the approval channel, or a DM to each approver the flow lists.
func (a *App) approvalDestinations(ctx context.Context, f *latch.Flow, r latch.Request) ([]string, error) {
	if ch := a.approvalChannel(f); ch != "" {
		return []string{ch}, nil
	}
	var out []string
	for _, email := range f.Approval.Approvers {
		id, err := a.slackID(ctx, email)
		if err != nil {
			if err := a.slackFailed(ctx, "finding approver "+email+" in Slack", r, err); err != nil {
				return nil, err
			}
			continue
		}
		im, err := a.Slack.OpenIM(ctx, id)
		if err != nil {
			if err := a.slackFailed(ctx, "opening a DM with approver "+email, r, err); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, im)
	}
	if len(out) == 0 {
		a.Log.WarnContext(ctx, "flow has no approval channel and no approver Slack knows; no approval message posted",
			"flow", f.Name, "request", r.ID)
	}
	return out, nil
}

// slackID finds a person's Slack user id: the one Latch recorded, else by
// email.
func (a *App) slackID(ctx context.Context, email string) (string, error) {
	if u, err := a.Store.GetUser(ctx, latch.NormalizeEmail(email)); err == nil {
		if id := firstSlackID(u, a.Teams); id != "" {
			return id, nil
		}
	}
	su, err := a.Slack.LookupByEmail(ctx, email)
	if err != nil {
		return "", err
	}
	return su.ID, nil
}

// firstSlackID returns the user's id in the first home team that has one,
// else in any team (in team order, so that the choice is stable).
func firstSlackID(u latch.User, home []string) string {
	for _, t := range home {
		if id := u.SlackIDs[t]; id != "" {
			return id
		}
	}
	teams := make([]string, 0, len(u.SlackIDs))
	for t := range u.SlackIDs {
		teams = append(teams, t)
	}
	sort.Strings(teams)
	for _, t := range teams {
		return u.SlackIDs[t]
	}
	return ""
}

// who names a person in a message: a mention when Latch knows their Slack
// id, else their email.
func (a *App) who(ctx context.Context, act latch.Actor) string {
	if act.IsSystem() {
		return "Latch"
	}
	name := act.Email
	if u, err := a.Store.GetUser(ctx, act.Email); err == nil {
		if id := firstSlackID(u, a.Teams); id != "" {
			name = "<@" + id + ">"
		}
	}
	if act.Bot != "" {
		if name == "" {
			return act.Bot
		}
		return name + " (via " + act.Bot + ")"
	}
	return name
}

// slackDate is a time Slack shows in each reader's time zone.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format(time.RFC1123))
}

// render is a request's approval message: its summary, fields and status,
// the reason input and Approve / Deny while it is pending, and Revoke while
// its access is active on a flow that allows it.
func (a *App) render(ctx context.Context, f *latch.Flow, r latch.Request) (string, []any) {
	requester := a.who(ctx, latch.Actor{Email: r.Requester.Email})
	what := whatOf(f, r)
	summary := fmt.Sprintf("%s requests %s", requester, what)
	if f.Strategy != nil {
		summary += " for " + latch.FormatValue(latch.FieldDuration, r.Duration)
	}
	text := fmt.Sprintf("%s requests %s: %s", r.Requester.Email, flowLabel(f), r.Status)
	blocks := []any{map[string]any{"type": "section", "block_id": "summary", "text": mrkdwn(":key: " + summary)}}
	if fields := a.fieldTexts(f, r); len(fields) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "block_id": "fields", "fields": fields})
	}
	blocks = append(blocks, map[string]any{"type": "section", "block_id": "status", "text": mrkdwn(a.status(ctx, f, r))})
	via := "via " + string(r.Source)
	if r.CreatedBy.Bot != "" {
		via += " by " + r.CreatedBy.Bot
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []any{mrkdwn(fmt.Sprintf("Request `%s` · %s", r.ID, via))}})
	switch {
	case r.Status == latch.StatusPending:
		blocks = append(blocks,
			map[string]any{"type": "input", "block_id": blockReason, "optional": true, "label": plain("Reason (optional)"),
				"element": map[string]any{"type": "plain_text_input", "action_id": actionValue, "placeholder": plain("Why you approve or deny")}},
			map[string]any{"type": "actions", "block_id": "decide", "elements": []any{
				button(actionApprove, "Approve", "primary", r.ID, nil),
				button(actionDeny, "Deny", "danger", r.ID, nil),
			}})
	case r.Status == latch.StatusActive && f.AllowRevoke:
		confirm := map[string]any{"title": plain("Revoke access?"), "text": plain("Access ends now, before its scheduled end."),
			"confirm": plain("Revoke"), "deny": plain("Keep"), "style": "danger"}
		blocks = append(blocks, map[string]any{"type": "actions", "block_id": "active", "elements": []any{
			button(actionRevoke, "Revoke", "danger", r.ID, confirm),
		}})
	}
	return text, blocks
}

func button(action, label, style, value string, confirm map[string]any) map[string]any {
	b := map[string]any{"type": "button", "action_id": action, "text": plain(label), "value": value}
	if style != "" {
		b["style"] = style
	}
	if confirm != nil {
		b["confirm"] = confirm
	}
	return b
}

// fieldTexts shows the request's fields, as Slack section fields (at most
// 10), in the flow's order.
func (a *App) fieldTexts(f *latch.Flow, r latch.Request) []any {
	var out []any
	for _, fl := range f.Fields {
		v, ok := r.Fields[fl.Name]
		if !ok || fl.Name == latch.FieldNameTarget || fl.Name == latch.FieldNameDuration {
			continue
		}
		label := fl.Label
		if label == "" {
			label = fl.Name
		}
		val := latch.FormatValue(fl.Type, v)
		switch fl.Type {
		case latch.FieldSlackUser:
			val = "<@" + val + ">"
		case latch.FieldSlackUsers:
			if ids, ok := v.([]string); ok {
				m := make([]string, len(ids))
				for i, id := range ids {
					m[i] = "<@" + id + ">"
				}
				val = strings.Join(m, ", ")
			}
		}
		if len(out) < 10 {
			out = append(out, mrkdwn(truncate("*"+label+"*\n"+val, 2000)))
		}
	}
	return out
}

// status says where the request stands, and who decided.
func (a *App) status(ctx context.Context, f *latch.Flow, r latch.Request) string {
	approvedBy := func() string { return a.approvers(ctx, r, true) }
	decidedBy := func() string {
		if r.Decision == nil {
			return ""
		}
		s := " by " + a.who(ctx, r.Decision.By)
		if r.Decision.Reason != "" {
			s += ": “" + r.Decision.Reason + "”"
		}
		return s
	}
	switch r.Status {
	case latch.StatusPending:
		s := ":hourglass_flowing_sand: *Waiting for approval*"
		if q := max(f.Approval.Quorum, 1); q > 1 {
			s += fmt.Sprintf(" (%d of %d)", len(r.Approvals), q)
		}
		if len(r.Approvals) > 0 {
			s += "\nApproved so far by " + approvedBy()
		}
		if r.ExpiresAt != nil {
			s += "\nExpires " + slackDate(*r.ExpiresAt) + " if nobody decides."
		}
		return s
	case latch.StatusApproved:
		return ":white_check_mark: *Approved* by " + approvedBy()
	case latch.StatusEscalating:
		return ":white_check_mark: *Approved* by " + approvedBy() + "\n:gear: Granting access…"
	case latch.StatusActive:
		s := ":large_green_circle: *Access active*"
		if r.EndsAt != nil {
			s += " until " + slackDate(*r.EndsAt)
		}
		return s + "\nApproved by " + approvedBy()
	case latch.StatusDeescalating:
		s := ":gear: *Taking access away…*"
		if r.Decision != nil {
			s += "\nRevoked" + decidedBy()
		}
		return s
	case latch.StatusEnded:
		s := ":checkered_flag: *Access ended*"
		if r.EndsAt != nil {
			s += " " + slackDate(*r.EndsAt)
		}
		if r.Decision != nil {
			s += "\nRevoked" + decidedBy()
		}
		return s + "\nApproved by " + approvedBy()
	case latch.StatusDenied:
		return ":no_entry: *Denied*" + decidedBy()
	case latch.StatusCancelled:
		return ":heavy_multiplication_x: *Cancelled*" + decidedBy()
	case latch.StatusExpired:
		return ":hourglass: *Expired*: nobody decided in time."
	case latch.StatusFailed:
		s := ":x: *Failed*"
		if r.Failure != nil {
			stage := "granting"
			if r.Failure.Stage == latch.StageDeescalate {
				stage = "taking access away"
			}
			s += fmt.Sprintf(" while %s: %s (`%s`)", stage, r.Failure.Message, r.Failure.Code)
		}
		return s + "\nAn admin can retry with `latch retry " + r.ID + "`."
	}
	return string(r.Status)
}

// dmRequester tells the requester what happened to their request.
func (a *App) dmRequester(ctx context.Context, f *latch.Flow, event latch.AuditType, r latch.Request) error {
	what := whatOf(f, r)
	var text string
	switch event {
	case latch.AuditApproved:
		text = fmt.Sprintf(":white_check_mark: Your request for %s was approved by %s.", what, a.approvers(ctx, r, false))
		if f.Strategy != nil {
			text += " Granting access now."
		}
	case latch.AuditDenied:
		text = fmt.Sprintf(":no_entry: Your request for %s was denied", what)
		if r.Decision != nil {
			text += " by " + a.who(ctx, r.Decision.By)
			if r.Decision.Reason != "" {
				text += ": “" + r.Decision.Reason + "”"
			}
		}
		text += "."
	case latch.AuditExpired:
		text = fmt.Sprintf(":hourglass: Your request for %s expired: nobody decided in time. Ask again with `/latch req %s`.", what, f.Name)
	case latch.AuditEscalated:
		text = fmt.Sprintf(":large_green_circle: You have access to %s", what)
		if r.EndsAt != nil {
			text += " until " + slackDate(*r.EndsAt)
		}
		text += "."
	case latch.AuditDeescalated:
		text = fmt.Sprintf(":checkered_flag: Your access to %s has ended", what)
		if r.Decision != nil {
			text += " (revoked by " + a.who(ctx, r.Decision.By) + ")"
		}
		text += "."
	case latch.AuditFailed, latch.AuditDeescalationFailed:
		text = fmt.Sprintf(":x: Latch could not complete your request for %s", what)
		if r.Failure != nil {
			text += ": " + strings.TrimRight(r.Failure.Message, ".")
		}
		text += ". Admins have been told."
	default:
		return nil
	}
	return a.dmRequesterText(ctx, r, text)
}

// whatOf names what a request is for: the flow, and the target.
func whatOf(f *latch.Flow, r latch.Request) string {
	what := "*" + flowLabel(f) + "*"
	if t, ok := f.Target(r.TargetID); ok {
		what += " on *" + targetLabel(t) + "*"
	}
	return what
}

// dmRequesterText sends text to r's requester in a DM.
func (a *App) dmRequesterText(ctx context.Context, r latch.Request, text string) error {
	id, err := a.slackID(ctx, r.Requester.Email)
	if err != nil {
		return a.slackFailed(ctx, "finding the requester in Slack", r, err)
	}
	im, err := a.Slack.OpenIM(ctx, id)
	if err != nil {
		return a.slackFailed(ctx, "opening a DM with the requester", r, err)
	}
	if _, err := a.Slack.PostMessage(ctx, im, text, nil); err != nil {
		return a.slackFailed(ctx, "sending the requester a DM", r, err)
	}
	return nil
}

// approvers names who approved r, with their reasons when withReasons.
func (a *App) approvers(ctx context.Context, r latch.Request, withReasons bool) string {
	names := make([]string, len(r.Approvals))
	for i, d := range r.Approvals {
		names[i] = a.who(ctx, d.By)
		if withReasons && d.Reason != "" {
			names[i] += " (“" + d.Reason + "”)"
		}
	}
	return strings.Join(names, ", ")
}

// TellRefused DMs the person a new request was for that Latch could not
// record it after all (the request was checked when it was sent, but the
// flow or their role changed before it was recorded), and why.
func (a *App) TellRefused(ctx context.Context, flowName, email string, refusal error) error {
	a.init()
	label := flowName
	if f, err := a.Engine.Flows().Get(flowName); err == nil {
		label = flowLabel(f)
	}
	r := latch.Request{ID: "(not recorded)", Flow: flowName, Requester: latch.UserRef{Email: email}}
	return a.dmRequesterText(ctx, r, fmt.Sprintf(":x: Your request for *%s* was not recorded: %s", label, latch.ErrorMessageOf(refusal)))
}
