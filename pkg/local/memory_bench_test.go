package local_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
)

// BenchmarkWakeMemory arms the wake-ups of 100,000 active grants (each an
// end timer and an overdue check) and reports the heap they take per grant
// (bytes/grant) and the goroutines they add (goroutines, over all of them):
// what the runtime holds for a grant between its start and its end.
func BenchmarkWakeMemory(b *testing.B) {
	const grants = 100000
	for range b.N {
		ctx, cancel := context.WithCancel(context.Background())
		tm := local.NewTimers(ctx, &firedLog{}, latch.SystemClock, nil)
		runner := local.NewRunner(ctx, local.RunnerConfig{Timers: tm, Clock: latch.SystemClock})
		ids := make([]string, grants)
		for i := range ids {
			ids[i] = fmt.Sprintf("grt_%026d", i) // as long as the engine's ids
		}
		end := time.Now().Add(time.Hour)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()
		for i, id := range ids {
			_ = runner.Wake(ctx, id, end.Add(time.Duration(i)*time.Millisecond))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/grants, "bytes/grant")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines), "goroutines")
		if n := tm.Pending(); n != grants {
			b.Fatalf("%d wake-ups pending, want %d", n, grants)
		}
		cancel()
		tm.Close()
		runner.Wait()
	}
}
