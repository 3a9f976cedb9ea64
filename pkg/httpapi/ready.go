package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 5 * time.Second

// ErrStarting is what a Ready probe returns while the server is starting
// (it checks its store and resumes the work under way first): /readyz is
// 503 not_ready, which is then no fault to log.
var ErrStarting = errors.New("starting")

// ready answers GET /readyz: 200 when Ready succeeds, 503 with the reason
// (logged, not shown) when it does not.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		err := s.Ready(ctx)
		if errors.Is(err, ErrStarting) {
			writeJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorDetail{Code: "not_ready",
				Message: "Latch is starting: it checks its store and resumes the work under way first."}})
			return
		}
		if err != nil {
			s.Log.ErrorContext(r.Context(), "not ready", "request_id", RequestID(r.Context()), "err", err)
			writeJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorDetail{Code: "not_ready",
				Message: "Latch cannot commit to its store; the server log has the cause."}})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// CursorWriter saves a named position; latch.AuditFeed is one.
type CursorWriter interface {
	SetFeedCursor(ctx context.Context, name string, pos uint64) error
}

// ReadyCursor is the feed cursor CommitProbe writes.
const ReadyCursor = "readyz"

// CommitProbe proves the store can commit a write: it saves the time as the
// feed cursor ReadyCursor, which no reader of the feed uses. A store that is
// read-only, full or broken fails it.
func CommitProbe(store CursorWriter, clock latch.Clock) func(context.Context) error {
	return func(ctx context.Context) error {
		return store.SetFeedCursor(ctx, ReadyCursor, uint64(clock.Now().Unix()))
	}
}
