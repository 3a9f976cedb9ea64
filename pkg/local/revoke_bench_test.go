package local_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// BenchmarkRevokeLateness makes N grants end at the same instant and
// measures how late each revoke reaches the target: the time of the
// escalator's Revoke call less the grant's end. The grants are made through
// the engine on a bbolt file with the clock stopped (so that they all end
// together), then a new runtime on the same file is re-armed with the clock
// running, as at a restart, a few seconds before the end. The target answers
// at once, so the figures are the runtime's own: timers, queue, store.
//
// Metrics: lateness p50/p99/max in ms, late>1s (how many revokes reached the
// target more than a second late), revokes/s (N over the time from the end
// to the last revoke call), recorded_ms (the end to the last grant
// recorded ended), and cpu_us/revoke: the process's CPU time (user and
// system) from the re-arm to the last grant recorded ended, over N — the
// figure that a machine shared with other work changes least.
//
// LATCH_BENCH_CPUPROFILE=<file> writes a CPU profile of that phase alone
// (from the re-arm to the last grant recorded ended) to file; with both
// sizes run, the last run's profile is the one left (select one with
// -bench 'RevokeLateness/N=5000').
func BenchmarkRevokeLateness(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			for range b.N {
				revokeLateness(b, n)
			}
		})
	}
}

// timingTarget is an escalator that answers at once and records when each
// grant's first revoke reached it.
type timingTarget struct {
	clock *testClock
	want  int
	mu    sync.Mutex
	at    map[string]time.Time
	all   chan struct{}
}

func (t *timingTarget) Grant(context.Context, latch.GrantSpec) error { return nil }

func (t *timingTarget) Revoke(_ context.Context, g latch.GrantSpec) error {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.at[g.GrantID]; !ok {
		t.at[g.GrantID] = now
		if len(t.at) == t.want {
			close(t.all)
		}
	}
	return nil
}

func revokeLateness(b *testing.B, n int) {
	b.StopTimer()
	path := filepath.Join(b.TempDir(), "latch.db")
	const hold = time.Hour
	frozen := time.Now().UTC().Truncate(time.Second)
	setupClock := &testClock{}
	setupClock.frozen.Store(frozen.UnixNano())
	setup := newRig(b, rigOptions{path: path, clock: setupClock})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				r := setup.create(fmt.Sprintf("user%d@example.com", i), map[string]any{latch.FieldNameDuration: "1h"})
				setup.approve(r.ID)
			}
		}()
	}
	wg.Wait()
	eventually(b, time.Duration(n)*20*time.Millisecond, func() bool {
		gs, err := setup.store.ListGrants(context.Background(), latch.GrantActive)
		return err == nil && len(gs) == n
	})
	setup.Close()

	// The grants end at frozen+hold; the new runtime's clock reaches that
	// lead after it starts, enough to re-arm every grant first.
	end := frozen.Add(hold)
	lead := 2*time.Second + time.Duration(n)*200*time.Microsecond
	clock := &testClock{}
	clock.Advance(end.Sub(time.Now().UTC()) - lead)
	target := &timingTarget{clock: clock, want: n, at: map[string]time.Time{}, all: make(chan struct{})}
	var ended atomic.Int64
	var lastEnded atomic.Int64
	run := newRig(b, rigOptions{path: path, clock: clock, escalator: target,
		after: func(cmd latch.Command, err error) {
			if cmd.Kind == latch.CmdDeescalated && err == nil {
				lastEnded.Store(clock.Now().UnixNano())
				ended.Add(1)
			}
		}})
	stopProfile := startProfile(b)
	cpu0 := cpuTime()
	if err := run.runner.Rearm(context.Background()); err != nil {
		b.Fatalf("Rearm: %v", err)
	}
	if now := clock.Now(); !now.Before(end) {
		b.Fatalf("re-arming took past the end by %v: raise the lead", now.Sub(end))
	}
	b.StartTimer()
	select {
	case <-target.all:
	case <-time.After(lead + time.Duration(n)*10*time.Millisecond + time.Minute):
		b.Fatalf("only %d of %d revokes reached the target", len(target.at), n)
	}
	eventually(b, time.Minute, func() bool { return ended.Load() == int64(n) })
	b.StopTimer()
	cpu := cpuTime() - cpu0
	stopProfile()

	target.mu.Lock()
	late := make([]time.Duration, 0, n)
	var last time.Time
	for _, at := range target.at {
		late = append(late, at.Sub(end))
		if at.After(last) {
			last = at
		}
	}
	target.mu.Unlock()
	slices.Sort(late)
	over := 0
	for _, l := range late {
		if l > time.Second {
			over++
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(late[len(late)/2]), "p50_ms")
	b.ReportMetric(ms(late[len(late)*99/100]), "p99_ms")
	b.ReportMetric(ms(late[len(late)-1]), "max_ms")
	b.ReportMetric(float64(over), "late>1s")
	b.ReportMetric(float64(n)/max(last.Sub(end), time.Millisecond).Seconds(), "revokes/s")
	b.ReportMetric(ms(time.Unix(0, lastEnded.Load()).Sub(end)), "recorded_ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu_us/revoke")
	run.Close()
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startProfile starts a CPU profile to the file LATCH_BENCH_CPUPROFILE
// names, if it names one, and returns what stops it.
func startProfile(b *testing.B) func() {
	path := os.Getenv("LATCH_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatalf("cpu profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatalf("cpu profile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Errorf("cpu profile: %v", err)
		}
	}
}
