package slackapp

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// refForward is the kind of the ref that records what became of one
// destination of forwarding step n: Channel names the destination as the
// flow wrote it (a channel, an email), TS the message posted there, or
// refUndelivered when Slack refused it for good.
func refForward(step int) string { return fmt.Sprintf("forward %d", step) }

const refUndelivered = "undelivered"

// forwardMessages posts the request's approval message to the destinations
// of every forwarding step it has reached that has not had it yet: the
// step's channel, and a DM to each person the step names. Each message is
// recorded as an approval message, so it is updated with the others and
// its buttons work. A destination Slack refuses for good is recorded and
// not tried again; when every destination of the step just reached was
// refused, it returns latch.ErrUndeliverable, and the engine moves the
// request on to the next step. Other Slack errors are returned, to be
// retried.
func (a *App) forwardMessages(ctx context.Context, f *latch.Flow, r latch.Request) error {
	refs, err := a.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("message refs of %s: %w", r.ID, err)
	}
	for step := 1; step <= r.Forwarded && step <= len(f.Approval.Forward); step++ {
		s := f.Approval.Forward[step-1]
		kind := refForward(step)
		done := map[string]string{}
		for _, ref := range refs {
			if ref.Kind == kind {
				done[ref.Channel] = ref.TS
			}
		}
		text, blocks := a.render(ctx, f, r)
		record := func(dest, ch, ts string) error {
			if ch != "" {
				ref := latch.MessageRef{RequestID: r.ID, Kind: RefApproval, Channel: ch, TS: ts, PostedAt: a.Clock.Now()}
				if err := a.Store.PutMessageRef(ctx, ref); err != nil {
					return fmt.Errorf("record the forwarded approval message of %s: %w", r.ID, err)
				}
				// The message says where it went already: no thread reply
				// about it (threadReply) when this notification is retried.
				told := ref
				told.Kind = fmt.Sprintf("thread %s v%d", latch.AuditForwarded, r.Version)
				if err := a.Store.PutMessageRef(ctx, told); err != nil {
					return fmt.Errorf("record the forwarded approval message of %s: %w", r.ID, err)
				}
			} else {
				ts = refUndelivered
			}
			done[dest] = ts
			mark := latch.MessageRef{RequestID: r.ID, Kind: kind, Channel: dest, TS: ts, PostedAt: a.Clock.Now()}
			if err := a.Store.PutMessageRef(ctx, mark); err != nil {
				return fmt.Errorf("record forwarding step %d of %s: %w", step, r.ID, err)
			}
			return nil
		}
		post := func(dest, ch string) error {
			m, err := a.Slack.PostMessage(ctx, ch, text, blocks)
			if refusedBlocks(err) {
				mt, mb := a.minimalMessage(ctx, f, r)
				m, err = a.Slack.PostMessage(ctx, ch, mt, mb)
			}
			if err != nil {
				if err := a.slackFailed(ctx, fmt.Sprintf("forwarding step %d to %s", step, dest), r, err); err != nil {
					return err
				}
				return record(dest, "", "")
			}
			return record(dest, m.Channel, m.TS)
		}
		if s.Channel != "" && done[s.Channel] == "" {
			if err := post(s.Channel, s.Channel); err != nil {
				return err
			}
		}
		for _, email := range s.DMs() {
			if done[email] != "" {
				continue
			}
			id, err := a.slackID(ctx, email)
			if err == nil {
				var im string
				if im, err = a.Slack.OpenIM(ctx, id); err == nil {
					if err := post(email, im); err != nil {
						return err
					}
					continue
				}
			}
			if err := a.slackFailed(ctx, fmt.Sprintf("forwarding step %d to %s in a DM", step, email), r, err); err != nil {
				return err
			}
			if err := record(email, "", ""); err != nil {
				return err
			}
		}
		if step == r.Forwarded && undelivered(done, s.Destination()) {
			return fmt.Errorf("forward %s to step %d (%s): %w", r.ID, step, strings.Join(s.Destination(), ", "), latch.ErrUndeliverable)
		}
	}
	return nil
}

// undelivered reports whether every destination was refused for good.
func undelivered(done map[string]string, dests []string) bool {
	for _, d := range dests {
		if done[d] != refUndelivered {
			return false
		}
	}
	return len(dests) > 0
}

var channelID = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)

// forwardedTo names where step (from 1) of f's chain sent the request, for
// messages (mrkdwn, escaped); "" for no step.
func (a *App) forwardedTo(ctx context.Context, f *latch.Flow, step int) string {
	if step < 1 || step > len(f.Approval.Forward) {
		return ""
	}
	s := f.Approval.Forward[step-1]
	var names []string
	if s.Channel != "" {
		if channelID.MatchString(s.Channel) {
			names = append(names, "<#"+s.Channel+">")
		} else {
			names = append(names, escape(s.Channel))
		}
	}
	for _, email := range s.DMs() {
		names = append(names, a.who(ctx, latch.Actor{Email: email}))
	}
	return clipMrkdwn(strings.Join(names, ", "), maxQuote, "")
}
