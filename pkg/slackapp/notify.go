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
	"github.com/slack-go/slack"
)

// RefApproval is the kind of the message ref of a request's approval message.
const RefApproval = "approval"

var _ latch.Notifier = (*App)(nil)

// dmEvents are the events the requester is sent a DM about.
var dmEvents = []latch.AuditType{latch.AuditApproved, latch.AuditDenied, latch.AuditExpired, latch.AuditEscalated,
	latch.AuditDeescalated, latch.AuditFailed, latch.AuditDeescalationFailed,
	latch.AuditExtended, latch.AuditExtensionDenied}

// threadEvents are the events also told in the approval message's thread,
// so that the channel keeps the request's history.
var threadEvents = []latch.AuditType{latch.AuditApprovalAdded, latch.AuditApproved, latch.AuditDenied, latch.AuditCancelled,
	latch.AuditExpired, latch.AuditEscalated, latch.AuditRevoked, latch.AuditDeescalated, latch.AuditFailed,
	latch.AuditDeescalationFailed, latch.AuditRetried, latch.AuditForwarded,
	latch.AuditExtensionRequested, latch.AuditExtended, latch.AuditExtensionDenied}

// Notify posts a request's approval message when there is none yet, updates
// it in place otherwise, and sends the requester a DM about decisions,
// grants and ends. A failure and an overdue revoke are also sent to each
// admin in a DM; an overdue revoke is alerted in the approval channel and
// the approval message's thread too. It renders the request as it is now,
// so a retried or late notification shows the latest state. A Slack error that retrying
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
	if slices.Contains(threadEvents, event) {
		if err := a.threadReply(ctx, f, event, r); err != nil {
			return err
		}
	}
	if event == latch.AuditRevokeOverdue {
		if err := a.overdueAlert(ctx, f, r); err != nil {
			return err
		}
	}
	if slices.Contains(breakGlassEvents, event) {
		if err := a.breakGlassNotice(ctx, f, event, r); err != nil {
			return err
		}
	}
	if event == latch.AuditForwarded {
		return a.forwardMessages(ctx, f, r)
	}
	if slices.Contains(dmEvents, event) {
		return a.dmRequester(ctx, f, event, r)
	}
	return nil
}

// threadReply tells event in the thread of each approval message of r,
// once: the reply is recorded as a message ref named after the event and
// the request's version, so a retried notification does not repeat it.
func (a *App) threadReply(ctx context.Context, f *latch.Flow, event latch.AuditType, r latch.Request) error {
	text := a.threadText(ctx, f, event, r)
	if text == "" {
		return nil
	}
	refs, err := a.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("message refs of %s: %w", r.ID, err)
	}
	kind := fmt.Sprintf("thread %s v%d", event, r.Version)
	told := map[string]bool{}
	for _, ref := range refs {
		if ref.Kind == kind {
			told[ref.Channel] = true
		}
	}
	for _, ref := range refs {
		if ref.Kind != RefApproval || told[ref.Channel] {
			continue
		}
		if err := a.Slack.PostReply(ctx, ref.Channel, ref.TS, clipMrkdwn(text, maxMessageText, seeRequest(r.ID))); err != nil {
			if err := a.slackFailed(ctx, "replying in the approval message's thread", r, err); err != nil {
				return err
			}
			continue
		}
		reply := latch.MessageRef{RequestID: r.ID, Kind: kind, Channel: ref.Channel, TS: ref.TS, PostedAt: a.Clock.Now()}
		if err := a.Store.PutMessageRef(ctx, reply); err != nil {
			return fmt.Errorf("record the thread reply of %s: %w", r.ID, err)
		}
	}
	return nil
}

// threadText is what a thread reply says of event (mrkdwn, outside text
// escaped); "" for events not told there.
func (a *App) threadText(ctx context.Context, f *latch.Flow, event latch.AuditType, r latch.Request) string {
	decided := func(verb string) string {
		if r.Decision == nil {
			return verb
		}
		s := verb + " by " + a.who(ctx, r.Decision.By)
		if r.Decision.Reason != "" {
			s += ": " + quote(r.Decision.Reason)
		}
		return s
	}
	if s := a.extensionText(ctx, f, event, r, false); s != "" {
		return s
	}
	if event == latch.AuditApprovalAdded && r.Extension != nil && len(r.Extension.Approvals) > 0 {
		d := r.Extension.Approvals[len(r.Extension.Approvals)-1]
		return fmt.Sprintf(":white_check_mark: Extension approved by %s (%d of %d)", a.who(ctx, d.By), len(r.Extension.Approvals), max(f.Approval.Quorum, 1))
	}
	switch event {
	case latch.AuditApprovalAdded, latch.AuditApproved:
		if len(r.Approvals) == 0 {
			return ""
		}
		d := r.Approvals[len(r.Approvals)-1]
		s := ":white_check_mark: Approved by " + a.who(ctx, d.By)
		if d.Reason != "" {
			s += ": " + quote(d.Reason)
		}
		if q := max(f.Approval.Quorum, 1); q > 1 {
			s += fmt.Sprintf(" (%d of %d)", len(r.Approvals), q)
		}
		return s
	case latch.AuditDenied:
		return ":no_entry: " + decided("Denied")
	case latch.AuditCancelled:
		return ":heavy_multiplication_x: " + decided("Cancelled")
	case latch.AuditExpired:
		if windowPassed(r) {
			return ":hourglass: Expired: its scheduled window passed before Latch could start it; nothing was granted."
		}
		return ":hourglass: Expired: nobody decided in time."
	case latch.AuditEscalated:
		s := ":large_green_circle: Access granted"
		if r.EndsAt != nil {
			s += " until " + slackDate(*r.EndsAt)
		}
		return s + "."
	case latch.AuditRevoked:
		return ":gear: " + decided("Revoked") + "; taking access away."
	case latch.AuditDeescalated:
		return ":checkered_flag: Access ended."
	case latch.AuditFailed, latch.AuditDeescalationFailed:
		return ":x: " + strings.TrimPrefix(a.status(ctx, f, r), ":x: ")
	case latch.AuditRetried:
		return ":repeat: " + decided("Retried")
	case latch.AuditForwarded:
		if to := a.forwardedTo(ctx, f, r.Forwarded); to != "" {
			return ":arrow_right: Nobody decided yet: forwarded to " + to + "."
		}
	}
	return ""
}

// threadLink is a link to the request's approval message and its thread,
// for DMs; "" when there is none or Slack gives no link.
func (a *App) threadLink(ctx context.Context, r latch.Request) string {
	refs, err := a.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return ""
	}
	for _, ref := range refs {
		if ref.Kind != RefApproval {
			continue
		}
		permalink, err := a.Slack.Permalink(ctx, ref.Channel, ref.TS)
		if err != nil {
			a.Log.WarnContext(ctx, "no link to the approval message", "request", r.ID, "err", err)
			return ""
		}
		return link(permalink, "See the request and its thread")
	}
	return ""
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

// refusedBlocks reports whether Slack refused a message for what it holds.
func refusedBlocks(err error) bool {
	switch ErrorCode(err) {
	case "invalid_blocks", "invalid_blocks_format", "invalid_arguments", "msg_too_long", "too_many_attachments", "no_text":
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
		err := a.Slack.UpdateMessage(ctx, ref.Channel, ref.TS, text, blocks)
		if refusedBlocks(err) {
			a.Log.WarnContext(ctx, "slack refused the approval message's update; sending its status and buttons only",
				"request", r.ID, "err", err)
			mt, mb := a.minimalMessage(ctx, f, r)
			err = a.Slack.UpdateMessage(ctx, ref.Channel, ref.TS, mt, mb)
		}
		if err != nil {
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
		if refusedBlocks(err) {
			a.Log.WarnContext(ctx, "slack refused the approval message; posting its status and buttons only", "request", r.ID, "err", err)
			mt, mb := a.minimalMessage(ctx, f, r)
			m, err = a.Slack.PostMessage(ctx, ch, mt, mb)
		}
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
// id, else their email (escaped). A bot acting for them is named too.
func (a *App) who(ctx context.Context, act latch.Actor) string {
	if act.IsSystem() {
		return "Latch"
	}
	name := escape(act.Email)
	if u, err := a.Store.GetUser(ctx, act.Email); err == nil {
		if id := firstSlackID(u, a.Teams); id != "" {
			name = mention(id)
		}
	}
	if act.Bot != "" {
		if name == "" {
			return escape(act.Bot)
		}
		return name + " (via " + escape(act.Bot) + ")"
	}
	return name
}

// slackDate is a time Slack shows in each reader's time zone.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format(time.RFC1123))
}

// maxQuote bounds one quoted reason or message inside a longer text, so
// that several fit and the text around them survives.
const maxQuote = 1000

// quote is outside text (a reason), escaped and bounded, in quotes.
func quote(s string) string {
	return "“" + clipMrkdwn(escape(s), maxQuote, "") + "”"
}

// seeRequest points to where a request is read whole, for text cut short.
func seeRequest(id string) string { return " (all of it: `latch get " + escape(id) + "`)" }

// render is a request's approval message: its summary, fields and status,
// the reason input and Approve / Deny while it is pending, and Revoke while
// its access is active on a flow that allows it. Outside text is escaped
// and every text within Slack's limits.
func (a *App) render(ctx context.Context, f *latch.Flow, r latch.Request) (string, []slack.Block) {
	requester := a.who(ctx, latch.Actor{Email: r.Requester.Email})
	what := whatOf(f, r)
	more := seeRequest(r.ID)
	summary := fmt.Sprintf("%s requests %s", requester, what)
	if f.Strategy != nil {
		summary += " for " + escape(latch.FormatValue(latch.FieldDuration, r.Duration))
	}
	text := clipMrkdwn(fmt.Sprintf("%s requests %s: %s", escape(r.Requester.Email), escape(flowLabel(f)), r.Status), maxMessageText, "")
	blocks := []slack.Block{section("summary", ":key: "+summary, more)}
	if fields := a.fieldTexts(f, r); len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil, slack.SectionBlockOptionBlockID("fields")))
	}
	blocks = append(blocks, section("status", a.status(ctx, f, r), more))
	via := "via " + escape(string(r.Source))
	if r.CreatedBy.Bot != "" {
		via += " by " + escape(r.CreatedBy.Bot)
	}
	if r.BreakGlass != nil {
		via += " · :rotating_light: break glass, no approver: " + quote(r.BreakGlass.Reason)
	}
	blocks = append(blocks, contextBlock(fmt.Sprintf("Request `%s` · %s", escape(r.ID), via)))
	return text, append(blocks, actionBlocks(f, r)...)
}

// actionBlocks are the inputs and buttons of an approval message: the
// reason input (unless the flow turns it off) and Approve / Deny while it
// is pending, Revoke while its
// access is active on a flow that allows it, nothing otherwise.
func actionBlocks(f *latch.Flow, r latch.Request) []slack.Block {
	switch {
	case r.Status == latch.StatusPending:
		decide := slack.NewActionBlock("decide",
			button(actionApprove, "Approve", slack.StylePrimary, r.ID, nil),
			button(actionDeny, "Deny", slack.StyleDanger, r.ID, nil))
		if f.OmitDecisionMessage {
			return []slack.Block{decide}
		}
		reason := slack.NewInputBlock(blockReason, plain("Reason (optional)", maxLabel), nil,
			slack.NewPlainTextInputBlockElement(plain("Why you approve or deny", maxPlaceholder), actionValue))
		reason.Optional = true
		return []slack.Block{reason, decide}
	case r.Status == latch.StatusActive && (f.Extension != nil || r.Extension != nil):
		return extensionBlocks(f, r)
	case r.Status == latch.StatusActive && f.AllowRevoke:
		return []slack.Block{revokeBlock(r)}
	}
	return nil
}

// revokeBlock is the "active" action block of Revoke, for active access on
// a flow that allows it.
func revokeBlock(r latch.Request) *slack.ActionBlock {
	confirm := slack.NewConfirmationBlockObject(plain("Revoke access?", maxConfirmTitle), plain("Access ends now, before its scheduled end.", maxConfirmText),
		plain("Revoke", maxConfirmButton), plain("Keep", maxConfirmButton)).WithStyle(slack.StyleDanger)
	return slack.NewActionBlock("active", button(actionRevoke, "Revoke", slack.StyleDanger, r.ID, confirm))
}

// minimalMessage is the approval message cut to its status and buttons,
// for an update Slack refused whole: a decided request must not keep live
// buttons because some other part of its message was refused.
func (a *App) minimalMessage(ctx context.Context, f *latch.Flow, r latch.Request) (string, []slack.Block) {
	status := clipMrkdwn(a.status(ctx, f, r), maxSectionText, "")
	st := fmt.Sprintf("Request `%s`: %s", escape(r.ID), status)
	blocks := []slack.Block{section("status", st, "")}
	return clipPlain(fmt.Sprintf("Request %s: %s", r.ID, r.Status), maxMessageText), append(blocks, actionBlocks(f, r)...)
}

func button(action, label string, style slack.Style, value string, confirm *slack.ConfirmationBlockObject) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(action, clipPlain(value, maxButtonValue), plain(label, maxButtonText)).WithStyle(style)
	if confirm != nil {
		b = b.WithConfirm(confirm)
	}
	return b
}

// fieldTexts shows the request's fields, as Slack section fields (at most
// 10), in the flow's order: labels and values escaped, users chosen in
// user fields mentioned.
func (a *App) fieldTexts(f *latch.Flow, r latch.Request) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
	for _, fl := range f.Fields {
		v, ok := r.Fields[fl.Name]
		if !ok || fl.Name == latch.FieldNameTarget || fl.Name == latch.FieldNameDuration {
			continue
		}
		label := fl.Label
		if label == "" {
			label = fl.Name
		}
		val := escape(latch.FormatValue(fl.Type, v))
		switch fl.Type {
		case latch.FieldSlackUser:
			if id, ok := v.(string); ok {
				val = mention(id)
			}
		case latch.FieldSlackUsers:
			if ids, ok := v.([]string); ok {
				m := make([]string, len(ids))
				for i, id := range ids {
					m[i] = mention(id)
				}
				val = strings.Join(m, ", ")
			}
		}
		if len(out) < maxSectionFields {
			out = append(out, mrkdwn("*"+clipMrkdwn(escape(label), maxLabel/10, "")+"*\n"+val, maxSectionFieldText, seeRequest(r.ID)))
		}
	}
	return out
}

// status says where the request stands, and who decided (mrkdwn, outside
// text escaped).
func (a *App) status(ctx context.Context, f *latch.Flow, r latch.Request) string {
	approvedBy := func() string { return a.approvers(ctx, r, true) }
	decidedBy := func() string {
		if r.Decision == nil {
			return ""
		}
		s := " by " + a.who(ctx, r.Decision.By)
		if r.Decision.Reason != "" {
			s += ": " + quote(r.Decision.Reason)
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
		if to := a.forwardedTo(ctx, f, r.Forwarded); to != "" {
			s += "\n:arrow_right: Forwarded to " + to
		}
		if r.ExpiresAt != nil {
			s += "\nExpires " + slackDate(*r.ExpiresAt) + " if nobody decides."
		}
		if r.ScheduledStart != nil {
			s += "\n:calendar: Asks for access from " + slackDate(*r.ScheduledStart) + "."
		}
		return s
	case latch.StatusApproved:
		return ":white_check_mark: *Approved* by " + approvedBy()
	case latch.StatusScheduled:
		s := ":calendar: *Scheduled*"
		if r.ScheduledStart != nil {
			s += ": access starts " + slackDate(*r.ScheduledStart)
		}
		return s + "\nApproved by " + approvedBy()
	case latch.StatusEscalating:
		return ":white_check_mark: *Approved* by " + approvedBy() + "\n:gear: Granting access…"
	case latch.StatusActive:
		s := ":large_green_circle: *Access active*"
		if r.EndsAt != nil {
			s += " until " + slackDate(*r.EndsAt)
		}
		return s + "\nApproved by " + approvedBy() + a.extensionStatus(ctx, f, r)
	case latch.StatusDeescalating:
		s := ":gear: *Taking access away…*"
		if r.Decision != nil {
			s += "\n" + endedEarly(r) + decidedBy()
		}
		return s
	case latch.StatusEnded:
		s := ":checkered_flag: *Access ended*"
		if r.EndsAt != nil {
			s += " " + slackDate(*r.EndsAt)
		}
		if r.Decision != nil {
			s += "\n" + endedEarly(r) + decidedBy()
		}
		return s + "\nApproved by " + approvedBy()
	case latch.StatusDenied:
		return ":no_entry: *Denied*" + decidedBy()
	case latch.StatusCancelled:
		return ":heavy_multiplication_x: *Cancelled*" + decidedBy()
	case latch.StatusExpired:
		if windowPassed(r) {
			return ":hourglass: *Expired*: its scheduled window passed before Latch could start it."
		}
		return ":hourglass: *Expired*: nobody decided in time."
	case latch.StatusFailed:
		s := ":x: *Failed*"
		if r.Failure != nil {
			stage := "granting"
			if r.Failure.Stage == latch.StageDeescalate {
				stage = "taking access away"
			}
			s += fmt.Sprintf(" while %s: %s (`%s`)", stage, clipMrkdwn(escape(r.Failure.Message), maxQuote, ""), clipMrkdwn(escape(r.Failure.Code), 100, ""))
		}
		if r.Access == latch.AccessMaybeHeld {
			s += "\n:warning: *Access may still be in place*: Latch keeps revoking it until the target confirms it is gone."
		}
		return s + "\nAn admin can retry with `latch retry " + escape(r.ID) + "`."
	}
	return escape(string(r.Status))
}

// endedEarly names an early end: released when the requester gave up their
// own access ("I'm done"), revoked otherwise.
// windowPassed says an expired request was a scheduled one whose whole
// window (its start plus its duration) had passed when it expired: it was
// approved, but Latch could not start it in time (it was down).
func windowPassed(r latch.Request) bool {
	return r.Status == latch.StatusExpired && r.ScheduledStart != nil &&
		!r.ScheduledStart.Add(r.GrantDuration()).After(r.UpdatedAt)
}

func endedEarly(r latch.Request) string {
	if r.Decision != nil && r.ReleasedBy(r.Decision.By.Email) {
		return "Released early"
	}
	return "Revoked"
}

// dmRequester tells the requester what happened to their request.
func (a *App) dmRequester(ctx context.Context, f *latch.Flow, event latch.AuditType, r latch.Request) error {
	what := whatOf(f, r)
	var text string
	switch event {
	case latch.AuditApproved:
		text = fmt.Sprintf(":white_check_mark: Your request for %s was approved by %s.", what, a.approvers(ctx, r, false))
		if r.Status == latch.StatusScheduled && r.ScheduledStart != nil {
			text += " Access starts " + slackDate(*r.ScheduledStart) + "."
		} else if f.Strategy != nil {
			text += " Granting access now."
		}
	case latch.AuditDenied:
		text = fmt.Sprintf(":no_entry: Your request for %s was denied", what)
		if r.Decision != nil {
			text += " by " + a.who(ctx, r.Decision.By)
			if r.Decision.Reason != "" {
				text += ": " + quote(r.Decision.Reason)
			}
		}
		text += "."
	case latch.AuditExpired:
		why := "nobody decided in time"
		if windowPassed(r) {
			why = "its scheduled window passed before Latch could start it, so nothing was granted"
		}
		text = fmt.Sprintf(":hourglass: Your request for %s expired: %s. Ask again with `/latch req %s`.", what, why, escape(f.Name))
	case latch.AuditEscalated:
		text = fmt.Sprintf(":large_green_circle: You have access to %s", what)
		if r.EndsAt != nil {
			text += " until " + slackDate(*r.EndsAt)
		}
		text += "."
	case latch.AuditDeescalated:
		text = fmt.Sprintf(":checkered_flag: Your access to %s has ended", what)
		if r.Decision != nil && r.ReleasedBy(r.Decision.By.Email) {
			text += " (you ended it early)"
		} else if r.Decision != nil {
			text += " (revoked by " + a.who(ctx, r.Decision.By) + ")"
		}
		text += "."
	case latch.AuditExtended, latch.AuditExtensionDenied:
		text = a.extensionText(ctx, f, event, r, true)
	case latch.AuditFailed, latch.AuditDeescalationFailed:
		text = fmt.Sprintf(":x: Latch could not complete your request for %s", what)
		if r.Failure != nil {
			text += ": " + clipMrkdwn(escape(strings.TrimRight(r.Failure.Message, ".")), maxQuote, "")
		}
		text += "."
		if r.Status == latch.StatusFailed && r.Access == latch.AccessMaybeHeld {
			text += " Your access may still be in place: Latch keeps revoking it until the target confirms it is gone."
		}
		told, err := a.failureAlert(ctx, f, event, r)
		if err != nil {
			return err
		}
		if told > 0 {
			text += " Admins have been told."
		}
	default:
		return nil
	}
	if l := a.threadLink(ctx, r); l != "" {
		text = clipMrkdwn(text, maxMessageText-200, seeRequest(r.ID)) + "\n" + l
	}
	text = clipMrkdwn(text, maxMessageText, seeRequest(r.ID))
	if (event == latch.AuditEscalated || event == latch.AuditExtended || event == latch.AuditExtensionDenied) && r.Status == latch.StatusActive {
		return a.dmRequesterBlocks(ctx, r, text, withExtend(f, r, doneBlocks(r, text)))
	}
	return a.dmRequesterText(ctx, r, text)
}

// doneBlocks are the DM that access is granted, text, with "I'm done": the
// requester ends their own access early (recorded as released), whatever
// the flow's allow_revoke says.
func doneBlocks(r latch.Request, text string) []slack.Block {
	confirm := slack.NewConfirmationBlockObject(plain("End your access now?", maxConfirmTitle),
		plain("Your access ends now, before its scheduled end.", maxConfirmText),
		plain("End it", maxConfirmButton), plain("Keep it", maxConfirmButton))
	return []slack.Block{section("granted", text, seeRequest(r.ID)),
		slack.NewActionBlock("active", button(actionDone, "I'm done", slack.StylePrimary, r.ID, confirm))}
}

// whatOf names what a request is for: the flow, and the target (mrkdwn,
// escaped).
func whatOf(f *latch.Flow, r latch.Request) string {
	what := "*" + clipMrkdwn(escape(flowLabel(f)), maxHeaderText, "") + "*"
	if t, ok := f.Target(r.TargetID); ok {
		what += " on *" + clipMrkdwn(escape(targetLabel(t)), maxHeaderText, "") + "*"
	}
	return what
}

// dmRequesterText sends text (mrkdwn, within maxMessageText) to r's
// requester in a DM.
func (a *App) dmRequesterText(ctx context.Context, r latch.Request, text string) error {
	return a.dmRequesterBlocks(ctx, r, text, nil)
}

// dmRequesterBlocks sends blocks (text as the notification's fallback) to
// r's requester in a DM.
func (a *App) dmRequesterBlocks(ctx context.Context, r latch.Request, text string, blocks []slack.Block) error {
	id, err := a.slackID(ctx, r.Requester.Email)
	if err != nil {
		return a.slackFailed(ctx, "finding the requester in Slack", r, err)
	}
	im, err := a.Slack.OpenIM(ctx, id)
	if err != nil {
		return a.slackFailed(ctx, "opening a DM with the requester", r, err)
	}
	if _, err := a.Slack.PostMessage(ctx, im, text, blocks); err != nil {
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
			names[i] += " (" + quote(d.Reason) + ")"
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
	text := fmt.Sprintf(":x: Your request for *%s* was not recorded: %s", escape(label), escape(latch.ErrorMessageOf(refusal)))
	return a.dmRequesterText(ctx, r, clipMrkdwn(text, maxMessageText, ""))
}
