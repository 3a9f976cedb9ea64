package reconcile

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// Expiries is the Scheduler of the AWS runtime. The only commands Latch
// schedules are the expiries of pending requests, the steps of their
// forwarding chains and the starts of scheduled requests, and their times
// are stored with the request (Request.ExpiresAt, Request.ForwardAt,
// Request.ScheduledStart): so the store is the schedule, and
// a sweep run every minute (the scheduled function) is the timer. At checks
// that it is asked for an expiry or a forward and records nothing more;
// Sweep sends the expiry of every pending request whose deadline has
// passed, and the next forwarding step of every one whose step is due. A
// request therefore expires, or is forwarded, within about a minute of its
// time. Both commands' ids are stable, so a sweep that sends one twice
// changes nothing.
type Expiries struct {
	Store latch.Store
	Queue latch.Queue
	Clock latch.Clock
}

var _ latch.Scheduler = (*Expiries)(nil)

// At accepts the expiry of a pending request; the sweep will send it. Any
// other command is an error: this scheduler has no place to keep it.
func (e *Expiries) At(_ context.Context, _ time.Time, cmd latch.Command) error {
	if (cmd.Kind != latch.CmdExpire && cmd.Kind != latch.CmdForward && cmd.Kind != latch.CmdStart) || cmd.RequestID == "" {
		return fmt.Errorf("reconcile: the sweeping scheduler only expires and forwards requests, not %s", cmd.Kind)
	}
	return nil
}

// Sweep sends the expiry of every pending request past its deadline, and
// the forward of every pending request whose next forwarding step is due,
// and returns how many commands it sent.
func (e *Expiries) Sweep(ctx context.Context) (int, error) {
	clock := e.Clock
	if clock == nil {
		clock = latch.SystemClock
	}
	now := clock.Now()
	pending, err := e.Store.ListRequests(ctx, latch.RequestFilter{Status: latch.StatusPending, Limit: 100000})
	if err != nil {
		return 0, fmt.Errorf("list pending requests: %w", err)
	}
	sent := 0
	var errs []error
	for _, r := range pending {
		if r.ForwardAt != nil && !now.Before(*r.ForwardAt) && (r.ExpiresAt == nil || now.Before(*r.ExpiresAt)) {
			if err := e.Queue.Publish(ctx, latch.ForwardCommand(r.ID, r.Forwarded+1, now)); err != nil {
				errs = append(errs, fmt.Errorf("request %s: send forward: %w", r.ID, err))
			} else {
				sent++
			}
		}
		if r.ExpiresAt == nil || now.Before(*r.ExpiresAt) {
			continue
		}
		if err := e.Queue.Publish(ctx, engine.ExpireCommand(r.ID, now)); err != nil {
			errs = append(errs, fmt.Errorf("request %s: send expire: %w", r.ID, err))
			continue
		}
		sent++
	}
	n, err := e.sweepStarts(ctx, now)
	return sent + n, errors.Join(append(errs, err)...)
}

// sweepStarts sends the start of every scheduled request whose start has
// come (Request.ScheduledStart): the start of a scheduled request is kept
// with it too, and a start already handled changes nothing.
func (e *Expiries) sweepStarts(ctx context.Context, now time.Time) (int, error) {
	scheduled, err := e.Store.ListRequests(ctx, latch.RequestFilter{Status: latch.StatusScheduled, Limit: 100000})
	if err != nil {
		return 0, fmt.Errorf("list scheduled requests: %w", err)
	}
	sent := 0
	var errs []error
	for _, r := range scheduled {
		if r.ScheduledStart == nil || now.Before(*r.ScheduledStart) {
			continue
		}
		if err := e.Queue.Publish(ctx, latch.StartCommand(r.ID, now)); err != nil {
			errs = append(errs, fmt.Errorf("request %s: send start: %w", r.ID, err))
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}
