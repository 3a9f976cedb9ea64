package httpapi

import (
	"encoding/json"
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

// durationSeconds reads an extension's duration: a string such as "1h" or
// "1d", or a whole number of seconds.
func durationSeconds(raw json.RawMessage) (int64, error) {
	bad := func() error {
		return &latch.Error{Kind: latch.KindInvalid, Code: latch.CodeBadDuration,
			Message: `"duration" must be a positive duration such as "30m", "1h" or "1d", or a whole number of seconds.`,
			Details: map[string]any{"duration": "is required"}}
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
	return int64(d / time.Second), nil
}
