package local

import (
	"container/heap"
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
//
// The timers are one queue ordered by time (a heap) watched by one goroutine
// with one runtime timer, whatever their number: a timer costs a heap entry
// and a map entry, not a goroutine or a runtime timer. What falls due is
// published by up to Workers goroutines at once, in the order it fell due,
// so that commands due together are recorded together (the store groups
// concurrent commits).
type Timers struct {
	queue latch.Queue
	clock latch.Clock
	log   *slog.Logger
	ctx   context.Context

	// RetryMax is the longest wait between attempts to publish a command
	// that failed; zero means DefaultRetryMax. Set it before the first Set.
	RetryMax time.Duration
	// Workers is how many commands are published at once; zero means
	// DefaultTimerWorkers. Set it before the first Set.
	Workers int

	mu       sync.Mutex
	byKey    map[string]*entry
	order    entries
	commands int // entries that publish a command (Pending)
	closed   bool
	kick     chan struct{} // wakes the loop: an earlier entry, or Close
	done     chan struct{} // closed when the loop has returned
	slots    chan struct{} // one per publish under way
	wg       sync.WaitGroup
}

// entry is one timer: a command to publish, or (for the runner) a function
// to call, at at.
type entry struct {
	key      string
	when     time.Time // when it fires, on this machine's monotonic clock
	due      time.Time // the time asked for: a published command's At is never earlier
	cmd      latch.Command
	fn       func()
	failures int
	index    int // in the heap
}

// DefaultRetryMax is the longest wait between attempts to publish a timer's
// command that failed: short, so that it lands soon after the store recovers.
const DefaultRetryMax = 500 * time.Millisecond

// DefaultTimerWorkers is how many commands fallen due are published at once.
const DefaultTimerWorkers = 1024

var _ latch.Scheduler = (*Timers)(nil)

// NewTimers returns timers that publish to queue. Commands are published
// with ctx, which should live as long as the server. A nil log discards.
func NewTimers(ctx context.Context, queue latch.Queue, clock latch.Clock, log *slog.Logger) *Timers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Timers{queue: queue, clock: clock, log: log, ctx: ctx, byKey: map[string]*entry{},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go t.loop()
	return t
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
	t.put(&entry{key: key, when: t.fromNow(at), due: at, cmd: cmd})
}

// call runs fn at (or just after) at on one of the publishing goroutines,
// replacing an earlier timer with the same key. Such timers are not Pending.
func (t *Timers) call(key string, at time.Time, fn func()) {
	t.put(&entry{key: key, when: t.fromNow(at), due: at, fn: fn})
}

// fromNow is when at falls, on the monotonic clock: the wait is measured
// from the clock's now once, when the timer is set, as a runtime timer
// would. Timers already due fire at once, the most overdue first.
func (t *Timers) fromNow(at time.Time) time.Time {
	return time.Now().Add(at.Sub(t.clock.Now())) // past: due, and before those due later
}

// stop removes the timer with the key, if it is set.
func (t *Timers) stop(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byKey[key]; ok {
		t.removeLocked(e)
	}
}

func (t *Timers) put(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if t.slots == nil {
		workers := t.Workers
		if workers <= 0 {
			workers = DefaultTimerWorkers
		}
		t.slots = make(chan struct{}, workers)
	}
	if old, ok := t.byKey[e.key]; ok {
		t.removeLocked(old)
	}
	t.byKey[e.key] = e
	if e.fn == nil {
		t.commands++
	}
	heap.Push(&t.order, e)
	if e.index == 0 {
		t.wake() // the earliest: the loop may be waiting for a later one
	}
}

func (t *Timers) removeLocked(e *entry) {
	delete(t.byKey, e.key)
	heap.Remove(&t.order, e.index)
	if e.fn == nil {
		t.commands--
	}
}

func (t *Timers) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// loop fires what falls due, in order, and sleeps until the next.
func (t *Timers) loop() {
	defer close(t.done)
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return
		}
		slots := t.slots
		wait, due := time.Hour, false
		if len(t.order) > 0 {
			wait = time.Until(t.order[0].when)
			due = wait <= 0
		}
		t.mu.Unlock()
		if due {
			// A worker first, then the earliest due entry at that moment.
			select {
			case slots <- struct{}{}:
			case <-t.ctx.Done():
				<-t.kick // nothing can be published any more; Close ends the loop
				continue
			}
			t.mu.Lock()
			if !t.closed && len(t.order) > 0 && !t.order[0].when.After(time.Now()) {
				e := t.order[0]
				t.removeLocked(e)
				t.wg.Add(1)
				go t.fire(e)
			} else {
				<-slots
			}
			t.mu.Unlock()
			continue
		}
		sleep.Reset(wait)
		select {
		case <-sleep.C:
		case <-t.kick:
		case <-t.ctx.Done():
			// Nothing can be published any more; Close ends the loop.
			<-t.kick
		}
	}
}

// fire publishes e's command (or calls its function) on a publishing slot,
// and sets it again after a failure to record it.
func (t *Timers) fire(e *entry) {
	defer t.wg.Done()
	defer func() { <-t.slots }() // set before e was
	if e.fn != nil {
		e.fn()
		return
	}
	cmd := e.cmd
	cmd.At = t.clock.Now()
	if cmd.At.Before(e.due) {
		cmd.At = e.due
	}
	err := t.queue.Publish(t.ctx, cmd)
	if err == nil || refused(err) || t.ctx.Err() != nil {
		if err != nil {
			t.log.Warn("timer command refused", "command", cmd.ID, "kind", cmd.Kind, "err", err)
		}
		return
	}
	e.failures++
	if sparse(e.failures) {
		t.log.Error("timer command could not be recorded; retrying", "command", cmd.ID, "kind", cmd.Kind,
			"attempt", e.failures, "err", err)
	}
	most := t.RetryMax
	if most <= 0 {
		most = DefaultRetryMax
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, replaced := t.byKey[e.key]; replaced || t.closed {
		return
	}
	e.when = time.Now().Add(min(time.Duration(e.failures)*50*time.Millisecond, most))
	t.byKey[e.key] = e
	t.commands++
	heap.Push(&t.order, e)
	if e.index == 0 {
		t.wake()
	}
}

// Pending returns how many commands are waiting for their time.
func (t *Timers) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.commands
}

// Close stops every timer and waits for those firing to finish.
func (t *Timers) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.byKey = map[string]*entry{}
		t.order = nil
		t.commands = 0
		close(t.kick)
	}
	t.mu.Unlock()
	<-t.done
	t.wg.Wait()
}

// entries is a heap of timers, earliest first.
type entries []*entry

func (h entries) Len() int           { return len(h) }
func (h entries) Less(i, j int) bool { return h[i].when.Before(h[j].when) }
func (h entries) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *entries) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entries) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
