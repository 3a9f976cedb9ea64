package slackapp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// overdueAlert tells, once per revoke_overdue event, that r's access was
// not taken away in time: a new message in the flow's approval channel, a
// reply in the thread of each approval message, and a DM to each admin.
// Each post is recorded as a message ref named after the event's sequence
// number, so a retried notification does not repeat it.
func (a *App) overdueAlert(ctx context.Context, f *latch.Flow, r latch.Request) error {
	ev, found, err := a.lastEvent(ctx, r, latch.AuditRevokeOverdue)
	if err != nil {
		return err
	}
	if !found {
		a.Log.WarnContext(ctx, "revoke_overdue notified but not in the request's audit; no alert", "request", r.ID)
		return nil
	}
	text := a.overdueText(ctx, f, r, ev)
	key := fmt.Sprintf("overdue %d", ev.Seq)
	refs, err := a.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("message refs of %s: %w", r.ID, err)
	}
	has := func(kind, channel string) bool {
		return slices.ContainsFunc(refs, func(ref latch.MessageRef) bool {
			return ref.Kind == kind && (channel == "" || ref.Channel == channel)
		})
	}
	if ch := a.approvalChannel(f); ch != "" && !has(key+" channel", "") {
		m, err := a.Slack.PostMessage(ctx, ch, text, nil)
		if err != nil {
			if err := a.slackFailed(ctx, "posting the overdue alert to "+ch, r, err); err != nil {
				return err
			}
		} else if err := a.record(ctx, r, key+" channel", m.Channel, m.TS); err != nil {
			return err
		}
	}
	for _, ref := range refs {
		if ref.Kind != RefApproval || has(key+" thread", ref.Channel) {
			continue
		}
		if err := a.Slack.PostReply(ctx, ref.Channel, ref.TS, text); err != nil {
			if err := a.slackFailed(ctx, "posting the overdue alert in the approval message's thread", r, err); err != nil {
				return err
			}
			continue
		}
		if err := a.record(ctx, r, key+" thread", ref.Channel, ref.TS); err != nil {
			return err
		}
	}
	if l := a.threadLink(ctx, r); l != "" {
		text = clipMrkdwn(text, maxMessageText-200, seeRequest(r.ID)) + "\n" + l
	}
	_, err = a.tellAdmins(ctx, r, key+" admin", text)
	return err
}

// overdueText is the overdue alert (mrkdwn within maxMessageText, outside
// text escaped and bounded): the request, the person, the target, how
// long past its end, and the last error.
func (a *App) overdueText(ctx context.Context, f *latch.Flow, r latch.Request, ev latch.AuditEvent) string {
	s := fmt.Sprintf(":rotating_light: *Revoke overdue*: %s may still have %s", a.who(ctx, latch.Actor{Email: r.Requester.Email}), whatOf(f, r))
	if due, ok := dueAt(ev, r); ok {
		past := max(ev.At.Sub(due).Round(time.Second), 0)
		s += fmt.Sprintf(", %s past its end (%s)", shortDuration(past), slackDate(due))
	}
	s += ". Latch keeps revoking it until the target confirms."
	if last, _ := ev.Data["last_error"].(string); last != "" {
		s += "\nLast error: " + quote(last)
	}
	s += fmt.Sprintf("\nRequest `%s`. Check the target by hand if this lasts.", escape(r.ID))
	return clipMrkdwn(s, maxMessageText, seeRequest(r.ID))
}

// shortDuration is d as Go writes it without trailing zero units: 1m30s,
// 2m, 1h5m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// dueAt is when the revoke fell due: the event's due_at, else the
// request's end.
func dueAt(ev latch.AuditEvent, r latch.Request) (time.Time, bool) {
	switch v := ev.Data["due_at"].(type) {
	case time.Time:
		return v, true
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, true
		}
	}
	if r.EndsAt != nil {
		return *r.EndsAt, true
	}
	return time.Time{}, false
}

// tellAdmins DMs text to each admin Slack knows, once: each DM is
// recorded as a message ref of kind in the admin's DM channel. It returns
// how many admins have been told (now or before).
func (a *App) tellAdmins(ctx context.Context, r latch.Request, kind, text string) (int, error) {
	admins, err := a.admins(ctx)
	if err != nil {
		return 0, err
	}
	refs, err := a.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return 0, fmt.Errorf("message refs of %s: %w", r.ID, err)
	}
	told := 0
	for _, u := range admins {
		id := firstSlackID(u, a.Teams)
		if id == "" {
			su, err := a.Slack.LookupByEmail(ctx, u.Email)
			if err != nil {
				if err := a.slackFailed(ctx, "finding admin "+u.Email+" in Slack", r, err); err != nil {
					return told, err
				}
				continue
			}
			id = su.ID
		}
		im, err := a.Slack.OpenIM(ctx, id)
		if err != nil {
			if err := a.slackFailed(ctx, "opening a DM with admin "+u.Email, r, err); err != nil {
				return told, err
			}
			continue
		}
		if slices.ContainsFunc(refs, func(ref latch.MessageRef) bool { return ref.Kind == kind && ref.Channel == im }) {
			told++
			continue
		}
		m, err := a.Slack.PostMessage(ctx, im, text, nil)
		if err != nil {
			if err := a.slackFailed(ctx, "sending admin "+u.Email+" a DM", r, err); err != nil {
				return told, err
			}
			continue
		}
		if err := a.record(ctx, r, kind, im, m.TS); err != nil {
			return told, err
		}
		told++
	}
	if len(admins) > 0 && told == 0 {
		a.Log.WarnContext(ctx, "no admin could be told in Slack", "request", r.ID, "about", kind)
	}
	return told, nil
}

// admins are the people with role admin in the store (bots excluded),
// ordered by email.
func (a *App) admins(ctx context.Context) ([]latch.User, error) {
	users, err := a.Store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return slices.DeleteFunc(users, func(u latch.User) bool { return u.Role != latch.RoleAdmin || u.Kind == latch.KindBot }), nil
}

// record keeps a message ref of a post about r.
func (a *App) record(ctx context.Context, r latch.Request, kind, channel, ts string) error {
	ref := latch.MessageRef{RequestID: r.ID, Kind: kind, Channel: channel, TS: ts, PostedAt: a.Clock.Now()}
	if err := a.Store.PutMessageRef(ctx, ref); err != nil {
		return fmt.Errorf("record the %s message of %s: %w", kind, r.ID, err)
	}
	return nil
}

// lastEvent returns r's latest audit event of type t.
func (a *App) lastEvent(ctx context.Context, r latch.Request, t latch.AuditType) (latch.AuditEvent, bool, error) {
	events, err := a.Store.AuditEvents(ctx, r.ID)
	if err != nil {
		return latch.AuditEvent{}, false, fmt.Errorf("audit events of %s: %w", r.ID, err)
	}
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == t {
			return events[i], true, nil
		}
	}
	return latch.AuditEvent{}, false, nil
}

// failureAlert DMs each admin, once per failure event, that r failed, and
// returns how many admins have been told.
func (a *App) failureAlert(ctx context.Context, f *latch.Flow, event latch.AuditType, r latch.Request) (int, error) {
	ev, found, err := a.lastEvent(ctx, r, event)
	if err != nil {
		return 0, err
	}
	kind := fmt.Sprintf("%s v%d admin", event, r.Version)
	if found {
		kind = fmt.Sprintf("%s %d admin", event, ev.Seq)
	}
	text := fmt.Sprintf("%s requested %s.\n%s", a.who(ctx, latch.Actor{Email: r.Requester.Email}), whatOf(f, r), a.status(ctx, f, r))
	text = clipMrkdwn(text, maxMessageText-200, seeRequest(r.ID))
	if l := a.threadLink(ctx, r); l != "" {
		text += "\n" + l
	}
	return a.tellAdmins(ctx, r, kind, text)
}
