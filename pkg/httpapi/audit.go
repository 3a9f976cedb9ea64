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
//
// Without a feed (the DynamoDB store: there is no order across requests
// there), it serves one request's trail, with filter request= required; its
// positions are the events' sequence numbers within the request. The whole
// log is in the deployment's audit destinations.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ Principal) error {
	q := r.URL.Query()
	if s.Feed == nil && q.Get("request") == "" {
		return latch.Errorf(latch.KindInvalid, "not_supported",
			"This deployment keeps no audit feed across requests: name one with request=, or search the audit destinations (Datadog, S3, ...).")
	}
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
	if s.Feed == nil {
		events, err := s.Store.AuditEvents(r.Context(), q.Get("request"))
		if err != nil {
			return err
		}
		for _, e := range events {
			if uint64(e.Seq) <= after {
				continue
			}
			if len(page.Events) == limit {
				break
			}
			page.Next = uint64(e.Seq)
			if match(e) {
				page.Events = append(page.Events, AuditEntry{Pos: uint64(e.Seq), Event: audit.FromAudit(e)})
			}
		}
		writeJSON(w, http.StatusOK, page)
		return nil
	}
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
