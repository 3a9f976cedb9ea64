package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/latch"
)

// AuditPage is the answer of GET /v1/audit: events in commit order, and the
// position to ask after next (also when no event matched, so that a
// follower moves on).
type AuditPage struct {
	Events []AuditEntry `json:"events"`
	Next   uint64       `json:"next"`
}

// AuditEntry is one event of the feed with its position.
type AuditEntry struct {
	Pos   uint64      `json:"pos"`
	Event audit.Event `json:"event"`
}

const auditScanPage = 500

// listAudit serves GET /v1/audit?after=&limit=&request=&user=&flow=&type=&since=
// from the store's audit feed. Filters combine; type may repeat.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ Principal) error {
	if s.Feed == nil {
		return latch.Errorf(latch.KindInvalid, "not_supported", "This deployment serves the audit trail per request only: GET /v1/requests/{id}/events.")
	}
	q := r.URL.Query()
	var after uint64
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return latch.Errorf(latch.KindInvalid, "bad_request", "after must be a position from an earlier answer's next.")
		}
		after = n
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return latch.Errorf(latch.KindInvalid, "bad_request", "limit must be a whole number from 1 to 1000.")
		}
		limit = n
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return latch.Errorf(latch.KindInvalid, "bad_request", "since must be a time such as 2026-11-25T09:00:00Z.")
		}
		since = t
	}
	types := q["type"]
	match := func(e latch.AuditEvent) bool {
		return (q.Get("request") == "" || e.RequestID == q.Get("request")) &&
			(q.Get("user") == "" || strings.EqualFold(e.Requester, q.Get("user")) || strings.EqualFold(e.Actor.Email, q.Get("user"))) &&
			(q.Get("flow") == "" || e.Flow == q.Get("flow")) &&
			(len(types) == 0 || slices.Contains(types, string(e.Type))) &&
			(since.IsZero() || !e.At.Before(since))
	}
	page := AuditPage{Events: []AuditEntry{}, Next: after}
	for scanned := 0; len(page.Events) < limit && scanned < 20*auditScanPage; {
		batch, err := s.Feed.AuditAfter(r.Context(), page.Next, auditScanPage)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, fe := range batch {
			page.Next = fe.Pos
			scanned++
			if match(fe.Event) {
				page.Events = append(page.Events, AuditEntry{Pos: fe.Pos, Event: audit.FromAudit(fe.Event)})
				if len(page.Events) == limit {
					break
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
