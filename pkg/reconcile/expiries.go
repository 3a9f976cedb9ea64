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
// schedules are expiries of pending requests, and a pending request's
// deadline is stored with it (Request.ExpiresAt): so the store is the
// schedule, and a sweep run every minute (the scheduled function) is the
// timer. At checks that it is asked for an expiry and records nothing more;
// Sweep sends the expiry of every pending request whose deadline has
// passed. A request therefore expires within about a minute of its
// deadline. The expire command's id is stable, so a sweep that sends it
// twice changes nothing.
type Expiries struct {
	Store latch.Store
	Queue latch.Queue
	Clock latch.Clock
}

var _ latch.Scheduler = (*Expiries)(nil)

// At accepts the expiry of a pending request; the sweep will send it. Any
// other command is an error: this scheduler has no place to keep it.
func (e *Expiries) At(_ context.Context, _ time.Time, cmd latch.Command) error {
	if cmd.Kind != latch.CmdExpire || cmd.RequestID == "" {
		return fmt.Errorf("reconcile: the sweeping scheduler only expires requests, not %s", cmd.Kind)
	}
	return nil
}

// Sweep sends the expiry of every pending request past its deadline and
// returns how many it sent.
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
		if r.ExpiresAt == nil || now.Before(*r.ExpiresAt) {
			continue
		}
		if err := e.Queue.Publish(ctx, engine.ExpireCommand(r.ID, now)); err != nil {
			errs = append(errs, fmt.Errorf("request %s: send expire: %w", r.ID, err))
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}
