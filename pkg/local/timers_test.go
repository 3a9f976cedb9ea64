package local_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
)

// firedLog is a queue that records the commands timers publish.
type firedLog struct {
	mu    sync.Mutex
	cmds  []latch.Command
	err   error
	block <-chan struct{} // when set, Publish waits for it
	in    chan struct{}   // when set, receives once per Publish on entry
}

func (f *firedLog) Publish(_ context.Context, cmd latch.Command) error {
	if f.in != nil {
		f.in <- struct{}{}
	}
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, cmd)
	return f.err
}

func (f *firedLog) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *firedLog) fired() []latch.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

func (f *firedLog) ids() []string {
	var out []string
	for _, c := range f.fired() {
		out = append(out, c.ID)
	}
	return out
}

func newTimers(t *testing.T, q latch.Queue, clock latch.Clock) *local.Timers {
	t.Helper()
	tm := local.NewTimers(context.Background(), q, clock, slog.New(slog.DiscardHandler))
	t.Cleanup(tm.Close)
	return tm
}

func expireCmd(id string) latch.Command {
	return latch.Command{ID: "expire/" + id, Kind: latch.CmdExpire, RequestID: id}
}

func TestTimersFireNeverEarlierThanAsked(t *testing.T) {
	frozen := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		clock latch.Clock
		in    time.Duration // how far from the clock's now the timer is set
	}{
		{name: "real clock, soon", clock: latch.SystemClock, in: 5 * time.Millisecond},
		{name: "real clock, past", clock: latch.SystemClock, in: -time.Hour},
		// A clock that does not move says the timer fired before its time;
		// the command still carries the time asked for.
		{name: "clock that lags", clock: latch.ClockFunc(func() time.Time { return frozen }), in: 5 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, via := range []string{"At", "Set"} {
				q := &firedLog{}
				tm := newTimers(t, q, tt.clock)
				at := tt.clock.Now().Add(tt.in)
				cmd := expireCmd("req_" + via)
				if via == "At" {
					cmd.At = at.Add(-time.Hour) // overwritten when it fires
					if err := tm.At(context.Background(), at, cmd); err != nil {
						t.Fatalf("At: %v", err)
					}
				} else {
					tm.Set("k", at, cmd)
				}
				eventually(t, wait, func() bool { return len(q.fired()) == 1 })
				got := q.fired()[0]
				if got.At.Before(at) {
					t.Errorf("%s: command fired with At %v, before %v", via, got.At, at)
				}
				if got.ID != cmd.ID || got.Kind != cmd.Kind || got.RequestID != cmd.RequestID {
					t.Errorf("%s: fired %+v, want %+v", via, got, cmd)
				}
			}
		})
	}
}

func TestTimersSetWithTheSameKeyReplacesTheEarlierTimer(t *testing.T) {
	q := &firedLog{}
	tm := newTimers(t, q, latch.SystemClock)
	now := time.Now()
	tm.Set("wake/g1", now.Add(time.Hour), latch.Command{ID: "first", Kind: latch.CmdDue, GrantID: "g1"})
	tm.Set("wake/g1", now.Add(2*time.Hour), latch.Command{ID: "second", Kind: latch.CmdDue, GrantID: "g1"})
	if n := tm.Pending(); n != 1 {
		t.Fatalf("Pending = %d after two Sets of one key, want 1", n)
	}
	tm.Set("wake/g1", now, latch.Command{ID: "last", Kind: latch.CmdDue, GrantID: "g1"})
	eventually(t, wait, func() bool { return len(q.fired()) > 0 && tm.Pending() == 0 })
	tm.Close() // nothing can fire after Close: what fired is final
	if got, want := q.ids(), []string{"last"}; !slices.Equal(got, want) {
		t.Errorf("fired %v, want %v", got, want)
	}

	// At replaces by the command's id.
	q2 := &firedLog{}
	tm2 := newTimers(t, q2, latch.SystemClock)
	cmd := expireCmd("req_1")
	_ = tm2.At(context.Background(), now.Add(time.Hour), cmd)
	cmd.Reason = "moved"
	_ = tm2.At(context.Background(), now, cmd)
	eventually(t, wait, func() bool { return len(q2.fired()) > 0 && tm2.Pending() == 0 })
	tm2.Close()
	if got := q2.fired(); len(got) != 1 || got[0].Reason != "moved" {
		t.Errorf("fired %+v, want only the replacement", got)
	}
}

func TestTimersPendingCounts(t *testing.T) {
	q := &firedLog{}
	tm := newTimers(t, q, latch.SystemClock)
	if n := tm.Pending(); n != 0 {
		t.Fatalf("Pending = %d at start, want 0", n)
	}
	later := time.Now().Add(time.Hour)
	tm.Set("a", later, expireCmd("a"))
	tm.Set("b", later, expireCmd("b"))
	tm.Set("c", later, expireCmd("c"))
	tm.Set("b", later.Add(time.Minute), expireCmd("b"))
	if n := tm.Pending(); n != 3 {
		t.Errorf("Pending = %d for three keys, want 3", n)
	}
	tm.Set("c", time.Now(), expireCmd("c")) // fires at once and is no longer pending
	eventually(t, wait, func() bool { return len(q.fired()) == 1 })
	if n := tm.Pending(); n != 2 {
		t.Errorf("Pending = %d after one fired, want 2", n)
	}
	tm.Close()
	if n := tm.Pending(); n != 0 {
		t.Errorf("Pending = %d after Close, want 0", n)
	}
}

func TestTimersCloseStopsPendingTimers(t *testing.T) {
	q := &firedLog{}
	tm := newTimers(t, q, latch.SystemClock)
	soon := time.Now().Add(20 * time.Millisecond)
	for _, id := range []string{"a", "b", "c"} {
		tm.Set(id, soon, expireCmd(id))
	}
	tm.Close()
	if n := tm.Pending(); n != 0 {
		t.Errorf("Pending = %d after Close, want 0", n)
	}
	tm.Set("d", time.Now(), expireCmd("d")) // after Close: ignored
	if n := tm.Pending(); n != 0 {
		t.Errorf("Pending = %d after a Set on closed timers, want 0", n)
	}

	// A witness set later, for later, has fired: so would the stopped ones.
	witness := &firedLog{}
	wt := newTimers(t, witness, latch.SystemClock)
	wt.Set("w", soon.Add(20*time.Millisecond), expireCmd("w"))
	eventually(t, wait, func() bool { return len(witness.fired()) == 1 })
	if got := q.ids(); len(got) != 0 {
		t.Errorf("fired after Close: %v", got)
	}
}

func TestTimersCloseWaitsForACommandBeingPublished(t *testing.T) {
	release := make(chan struct{})
	q := &firedLog{block: release, in: make(chan struct{}, 1)}
	tm := newTimers(t, q, latch.SystemClock)
	tm.Set("a", time.Now(), expireCmd("a"))
	<-q.in // the timer is publishing, and waits for release
	closed := make(chan []latch.Command)
	go func() {
		tm.Close()
		closed <- q.fired()
	}()
	close(release)
	if got := <-closed; len(got) != 1 {
		t.Errorf("Close returned before the firing timer's Publish finished (fired %d)", len(got))
	}
}

func TestTimersSurviveAFailingPublishWithoutALogger(t *testing.T) {
	q := &firedLog{err: latch.Errorf(latch.KindConflict, "not_pending", "engine refused")}
	tm := local.NewTimers(context.Background(), q, latch.SystemClock, nil)
	defer tm.Close()
	tm.Set("a", time.Now(), expireCmd("a"))
	eventually(t, wait, func() bool { return len(q.fired()) == 1 && tm.Pending() == 0 })
	tm.Close() // waits for the timer's goroutine, which logs the error
}

// A command that could not be recorded (the store cannot write) is published
// again until it is: a due revoke is durable work, not a one-shot timer.
func TestTimersRetryACommandThatCouldNotBeRecorded(t *testing.T) {
	q := &firedLog{err: errors.New("write latch.db: no space left on device")}
	tm := local.NewTimers(context.Background(), q, latch.SystemClock, nil)
	tm.RetryMax = 10 * time.Millisecond
	defer tm.Close()
	tm.Set("a", time.Now(), expireCmd("a"))
	eventually(t, wait, func() bool { return len(q.fired()) >= 3 })
	// Between its attempts the command waits as a timer of its own (during
	// an attempt it is being published, not pending).
	eventually(t, wait, func() bool { return tm.Pending() == 1 })
	q.setErr(nil)
	// Recorded: no timer is left to publish it again.
	eventually(t, wait, func() bool { return tm.Pending() == 0 })
}

// Timers fire in the order of their times, whatever the order they were set
// in: with one publishing worker, busy while the others are set, the rest
// are published in that order.
func TestTimersFireInTimeOrder(t *testing.T) {
	release := make(chan struct{})
	q := &firedLog{block: release, in: make(chan struct{}, 8)}
	tm := local.NewTimers(context.Background(), q, latch.SystemClock, nil)
	tm.Workers = 1
	defer tm.Close()
	now := time.Now()
	tm.Set("first", now, expireCmd("first"))
	<-q.in // the one worker is publishing it, and waits for release
	for _, c := range []struct {
		id  string
		off time.Duration
	}{{"c", -2 * time.Hour}, {"a", -4 * time.Hour}, {"d", -time.Hour}, {"b", -3 * time.Hour}} {
		tm.Set(c.id, now.Add(c.off), expireCmd(c.id))
	}
	close(release)
	eventually(t, wait, func() bool { return len(q.fired()) == 5 })
	want := []string{"expire/first", "expire/a", "expire/b", "expire/c", "expire/d"}
	if got := q.ids(); !slices.Equal(got, want) {
		t.Errorf("fired %v, want %v", got, want)
	}
}
