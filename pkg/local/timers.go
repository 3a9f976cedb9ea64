package local

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// Timers publishes commands at given times. It implements latch.Scheduler.
// Timers live in memory: after a restart, Runner.Rearm sets them again from
// the store. A command that cannot be recorded (the store cannot write: a
// full disk) is published again, every RetryMax at most, until it is, the
// timer is replaced, or the timers close: a due revoke is work that must be
// done, not a one-shot message.
type Timers struct {
	queue latch.Queue
	clock latch.Clock
	log   *slog.Logger
	ctx   context.Context

	// RetryMax is the longest wait between attempts to publish a command
	// that failed; zero means DefaultRetryMax. Set it before the first Set.
	RetryMax time.Duration

	mu     sync.Mutex
	timers map[string]*time.Timer
	closed bool
	wg     sync.WaitGroup
}

// DefaultRetryMax is the longest wait between attempts to publish a timer's
// command that failed: short, so that it lands soon after the store recovers.
const DefaultRetryMax = 500 * time.Millisecond

var _ latch.Scheduler = (*Timers)(nil)

// NewTimers returns timers that publish to queue. Commands are published
// with ctx, which should live as long as the server. A nil log discards.
func NewTimers(ctx context.Context, queue latch.Queue, clock latch.Clock, log *slog.Logger) *Timers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Timers{queue: queue, clock: clock, log: log, ctx: ctx, timers: map[string]*time.Timer{}}
}

// At publishes cmd at (or just after) at, replacing an earlier timer for cmd.ID.
func (t *Timers) At(_ context.Context, at time.Time, cmd latch.Command) error {
	t.Set(cmd.ID, at, cmd)
	return nil
}

// Set publishes cmd at (or just after) at, replacing an earlier timer with
// the same key. The command's At is set to the time it fires, never earlier
// than at.
func (t *Timers) Set(key string, at time.Time, cmd latch.Command) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setLocked(key, at, cmd, 0)
}

func (t *Timers) setLocked(key string, at time.Time, cmd latch.Command, failures int) {
	if t.closed {
		return
	}
	if old, ok := t.timers[key]; ok {
		old.Stop()
	}
	wait := max(at.Sub(t.clock.Now()), 0)
	if failures > 0 {
		most := t.RetryMax
		if most <= 0 {
			most = DefaultRetryMax
		}
		wait = min(time.Duration(failures)*50*time.Millisecond, most)
	}
	var timer *time.Timer
	timer = time.AfterFunc(wait, func() {
		t.mu.Lock()
		if t.closed || t.timers[key] != timer {
			t.mu.Unlock()
			return
		}
		delete(t.timers, key)
		t.wg.Add(1)
		t.mu.Unlock()
		defer t.wg.Done()
		cmd.At = t.clock.Now()
		if cmd.At.Before(at) {
			cmd.At = at
		}
		err := t.queue.Publish(t.ctx, cmd)
		if err == nil || refused(err) || t.ctx.Err() != nil {
			if err != nil {
				t.log.Warn("timer command refused", "command", cmd.ID, "kind", cmd.Kind, "err", err)
			}
			return
		}
		failures++
		if sparse(failures) {
			t.log.Error("timer command could not be recorded; retrying", "command", cmd.ID, "kind", cmd.Kind,
				"attempt", failures, "err", err)
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if _, replaced := t.timers[key]; !replaced {
			t.setLocked(key, at, cmd, failures)
		}
	})
	t.timers[key] = timer
}

// Pending returns how many timers are set.
func (t *Timers) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.timers)
}

// Close stops every timer and waits for those firing to finish.
func (t *Timers) Close() {
	t.mu.Lock()
	t.closed = true
	for _, tm := range t.timers {
		tm.Stop()
	}
	t.timers = map[string]*time.Timer{}
	t.mu.Unlock()
	t.wg.Wait()
}
