package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// ExtendBody is the body of POST /v1/requests/{id}/extend: how much more
// time (a duration such as "30m", "1h", "1d", or whole seconds), why, and
// who asks ("as": the requester; a bot's token may name them).
type ExtendBody struct {
	Duration json.RawMessage `json:"duration"`
	Reason   string          `json:"reason"`
	As       string          `json:"as"`
}

// extend asks for more time on an active grant: granted at once within the
// flow's auto_within (extended), else sent to the approvers (the request's
// extension is pending). Answers 202 with the request.
func (s *Server) extend(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := needScope(p, tokens.ScopeWrite); err != nil {
		return err
	}
	var body ExtendBody
	if err := decode(r, &body); err != nil {
		return err
	}
	secs, err := durationSeconds(body.Duration)
	if err != nil {
		return err
	}
	actor, err := s.actor(r.Context(), p, latch.CmdExtend, body.As)
	if err != nil {
		return err
	}
	cmd := latch.Command{ID: engine.NewID("cmd"), Kind: latch.CmdExtend, RequestID: r.PathValue("id"),
		Actor: actor, Reason: body.Reason, Duration: secs, Source: latch.SourceAPI, At: s.Clock.Now()}
	return s.send(w, r, cmd)
}

// MaxExtendDuration is the longest extension the API reads (366 days): a
// longer one is refused as bad_duration, before any arithmetic on it.
const MaxExtendDuration = 366 * 24 * time.Hour

// durationSeconds reads an extension's duration: a string such as "1h" or
// "1d", or a whole number of seconds, at most MaxExtendDuration.
func durationSeconds(raw json.RawMessage) (int64, error) {
	bad := func() error {
		return &latch.Error{Kind: latch.KindInvalid, Code: latch.CodeBadDuration,
			Message: `"duration" must be a positive duration such as "30m", "1h" or "1d", or a whole number of seconds.`,
			Details: map[string]any{"duration": "is required"}}
	}
	const maxSecs = int64(MaxExtendDuration / time.Second)
	tooLong := func() error {
		return &latch.Error{Kind: latch.KindInvalid, Code: latch.CodeBadDuration,
			Message: fmt.Sprintf(`"duration" may be at most %s (%d seconds).`, latch.FormatDuration(MaxExtendDuration), maxSecs),
			Details: map[string]any{"max_seconds": maxSecs}}
	}
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return 0, bad()
	}
	var secs int64
	if err := json.Unmarshal(raw, &secs); err == nil {
		if secs <= 0 {
			return 0, bad()
		}
		if secs > maxSecs {
			return 0, tooLong()
		}
		return secs, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, bad()
	}
	d, err := latch.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, bad()
	}
	if d > MaxExtendDuration {
		return 0, tooLong()
	}
	return int64(d / time.Second), nil
}
