package main

import (
	"fmt"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// startFlag reads latch request --start: a duration from now (2h, 1d) or an
// RFC 3339 time, as the API's starts_at; "" when the flag is not given.
// The server judges the bounds (the flow allows it; at most 90 days ahead).
func startFlag(s string, now time.Time) (string, error) {
	if s == "" {
		return "", nil
	}
	if d, err := latch.ParseDuration(s); err == nil {
		return now.Add(d).UTC().Format(time.RFC3339), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", fmt.Errorf("--start %q: write a duration from now such as 2h or 1d, or a time such as 2026-11-25T22:00:00Z", s)
	}
	return t.Format(time.RFC3339), nil
}
