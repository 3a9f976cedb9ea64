package latch

import "time"

// Bounds of a scheduled start (NewRequest.StartsAt).
const (
	// StartSkew is how far in the past a requested start may be and still
	// be taken: as "now" (clocks of a CLI, a bot and the server differ a
	// little). Further in the past is refused.
	StartSkew = time.Minute
	// MaxStartAhead is how far ahead a start may be scheduled.
	MaxStartAhead = 90 * 24 * time.Hour
)

// Error codes of a scheduled start.
const (
	// CodeScheduledStartNotAllowed: the flow does not allow a scheduled
	// start (allow_scheduled_start), or grants nothing.
	CodeScheduledStartNotAllowed = "scheduled_start_not_allowed"
	// CodeInvalidStartsAt: the start is in the past (beyond StartSkew) or
	// more than MaxStartAhead ahead.
	CodeInvalidStartsAt = "invalid_starts_at"
)

// CheckStart judges a requested start for a request through f created at
// now, and returns the start to record: nil when none was asked for, or
// when it is now (within StartSkew), so the request starts on approval as
// any other. It returns a KindInvalid *Error when f does not allow a
// scheduled start, or the start is too far in the past or ahead.
func CheckStart(f *Flow, start *time.Time, now time.Time) (*time.Time, error) {
	if start == nil {
		return nil, nil
	}
	if !f.AllowScheduledStart || f.Strategy == nil {
		return nil, Errorf(KindInvalid, CodeScheduledStartNotAllowed,
			"Flow %q does not allow a scheduled start (allow_scheduled_start); leave starts_at out.", f.Name)
	}
	at := start.UTC()
	switch {
	case at.Before(now.Add(-StartSkew)):
		return nil, Errorf(KindInvalid, CodeInvalidStartsAt, "starts_at %s is in the past.", at.Format(time.RFC3339))
	case at.After(now.Add(MaxStartAhead)):
		return nil, Errorf(KindInvalid, CodeInvalidStartsAt, "starts_at %s is more than %d days ahead.",
			at.Format(time.RFC3339), int(MaxStartAhead/(24*time.Hour)))
	case !at.After(now):
		return nil, nil
	}
	return &at, nil
}
