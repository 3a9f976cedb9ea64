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
// the store.
type Timers struct {
	queue latch.Queue
	clock latch.Clock
	log   *slog.Logger
	ctx   context.Context

	mu     sync.Mutex
	timers map[string]*time.Timer
	closed bool
	wg     sync.WaitGroup
}

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
	if t.closed {
		return
	}
	if old, ok := t.timers[key]; ok {
		old.Stop()
	}
	var timer *time.Timer
	timer = time.AfterFunc(max(at.Sub(t.clock.Now()), 0), func() {
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
		if err := t.queue.Publish(t.ctx, cmd); err != nil {
			t.log.Error("timer command failed", "command", cmd.ID, "kind", cmd.Kind, "err", err)
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
