package httpapi

import (
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// startsAt reads a create body's starts_at: nil when it is absent.
func startsAt(s string) (*time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return nil, latch.Errorf(latch.KindInvalid, latch.CodeInvalidStartsAt,
			"starts_at %q is not an RFC 3339 time, such as 2026-11-25T09:30:00Z.", clipStart(s))
	}
	return &t, nil
}

func clipStart(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
