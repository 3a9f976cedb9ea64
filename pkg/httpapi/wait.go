package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// Long polls: GET /v1/requests/{id}/wait answers as soon as the request is
// settled (no longer pending or escalating: approved, active, or ended one
// way or another), or when the timeout passes, with the request as it is.
const (
	DefaultWait  = 25 * time.Second
	MaxWait      = 30 * time.Second // API Gateway's HTTP API answers within 30 s
	waitInterval = 200 * time.Millisecond
	waitSlack    = 10 * time.Second // past the timeout, for the last look and the answer
)

// Settled reports whether a request waiting on approval or escalation is
// done with both: what the wait route and the CI orb wait for.
func Settled(s latch.Status) bool {
	return s != latch.StatusPending && s != latch.StatusEscalating
}

func (s *Server) waitRequest(w http.ResponseWriter, r *http.Request, _ Principal) error {
	timeout := DefaultWait
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			if n, nerr := strconv.Atoi(t); nerr == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d < 0 || d > MaxWait {
			return latch.Errorf(latch.KindInvalid, "bad_request", "timeout must be a duration from 0s to %s, such as 20s.", MaxWait)
		}
		timeout = d
	}
	// The server's read and write timeouts bound ordinary calls; a wait
	// sets its own, by design, from the timeout it was given. (Not every
	// ResponseWriter can: the API Lambda's answers have no connection.)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout + waitSlack))
	_ = rc.SetWriteDeadline(time.Now().Add(timeout + waitSlack))
	id := r.PathValue("id")
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(waitInterval)
	defer tick.Stop()
	for {
		req, err := s.request(r.Context(), id)
		if err != nil {
			return err
		}
		if Settled(req.Status) {
			writeJSON(w, http.StatusOK, req)
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil // the caller went away
		case <-deadline.C:
			w.Header().Set("Latch-Wait-Timed-Out", "true")
			writeJSON(w, http.StatusOK, req)
			return nil
		case <-tick.C:
		}
	}
}
