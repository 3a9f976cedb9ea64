package latch

import "time"

// Clock tells the time. The domain never calls time.Now; everything that needs
// the time is given a Clock (or the time itself), and tests use a fake.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to a Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the real clock, in UTC.
var SystemClock Clock = ClockFunc(func() time.Time { return time.Now().UTC() })
