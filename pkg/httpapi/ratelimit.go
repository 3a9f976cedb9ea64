package httpapi

import (
	"math"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// RateLimit is a token bucket per caller (per API token): Rate calls a
// second on average, bursts of up to Burst. The zero value limits nothing.
type RateLimit struct {
	Rate  float64
	Burst int
}

// DefaultRateLimit is what `latch server` applies to each token.
var DefaultRateLimit = RateLimit{Rate: 20, Burst: 40}

type limiter struct {
	limit RateLimit
	clock latch.Clock

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes one call from key's bucket. When the bucket is empty it
// returns false and how long until a call is allowed again.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil || l.limit.Rate <= 0 {
		return true, 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(max(l.limit.Burst, 1)), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(max(l.limit.Burst, 1)), b.tokens+now.Sub(b.last).Seconds()*l.limit.Rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.limit.Rate * float64(time.Second))
	return false, wait
}

func rateLimited(retry time.Duration) error {
	secs := int(math.Ceil(retry.Seconds()))
	return &latch.Error{Kind: latch.KindTooMany, Code: "rate_limited",
		Message: "Too many calls with this token; slow down and try again shortly.", Details: map[string]any{"retry_after_seconds": secs}}
}
