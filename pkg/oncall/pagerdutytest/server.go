// Package pagerdutytest is a fake of PagerDuty's REST API v2 for tests: the
// two endpoints Latch calls (GET /users?query=, GET /oncalls), with
// PagerDuty's JSON, its offset/limit/more pagination, its error bodies,
// token authentication (Authorization: Token token=…) and, on demand, 429
// with Retry-After or 500.
package pagerdutytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Token is the API token the fake accepts.
const Token = "pd-test-token"

// PageSize is the most items the fake returns per page, whatever limit is
// asked, so that tests see pagination.
const PageSize = 2

// Server is a running fake. Add users and on-call entries; read Calls.
type Server struct {
	URL string

	mu      sync.Mutex
	users   []user
	oncalls []oncall
	fail    []failure
	calls   []string
}

type user struct{ ID, Name, Email string }

type oncall struct{ UserID, ScheduleID string }

type failure struct {
	status     int
	retryAfter string
}

// NewServer starts a fake on 127.0.0.1, stopped when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users", s.handle(s.listUsers))
	mux.HandleFunc("GET /oncalls", s.handle(s.listOnCalls))
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// AddUser adds a PagerDuty user.
func (s *Server) AddUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, user{id, name, email})
}

// PutOnCall puts user id on call in schedule.
func (s *Server) PutOnCall(userID, scheduleID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oncalls = append(s.oncalls, oncall{userID, scheduleID})
}

// RateLimitNext answers the next call 429 with Retry-After seconds.
func (s *Server) RateLimitNext(retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, failure{http.StatusTooManyRequests, retryAfter})
}

// FailNext answers the next call with status (a 5xx, say).
func (s *Server) FailNext(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, failure{status: status})
}

// Calls returns the path and query of every call, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "code": code}})
}

func (s *Server) handle(next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls = append(s.calls, r.URL.RequestURI())
		var f *failure
		if len(s.fail) > 0 {
			f = &s.fail[0]
			s.fail = s.fail[1:]
		}
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Token token="+Token {
			apiError(w, http.StatusUnauthorized, 2006, "Unauthenticated")
			return
		}
		if f != nil {
			if f.status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", f.retryAfter)
				apiError(w, f.status, 2020, "Rate Limit Exceeded")
				return
			}
			apiError(w, f.status, 2001, "Internal Server Error")
			return
		}
		next(w, r)
	}
}

// page cuts items to the offset and limit asked (at most PageSize) and
// says whether more follow.
func page[T any](r *http.Request, items []T) (out []T, limit, offset int, more bool) {
	limit, _ = strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 25
	}
	offset, _ = strconv.Atoi(r.URL.Query().Get("offset"))
	n := min(limit, PageSize)
	if offset >= len(items) {
		return []T{}, limit, offset, false
	}
	end := min(offset+n, len(items))
	return items[offset:end], limit, offset, end < len(items)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("query"))
	s.mu.Lock()
	var match []map[string]any
	for _, u := range s.users {
		if q == "" || strings.Contains(strings.ToLower(u.Email), q) || strings.Contains(strings.ToLower(u.Name), q) {
			match = append(match, map[string]any{"id": u.ID, "type": "user", "summary": u.Name, "name": u.Name,
				"email": u.Email, "self": "https://api.pagerduty.com/users/" + u.ID, "html_url": "https://example.pagerduty.com/users/" + u.ID})
		}
	}
	s.mu.Unlock()
	items, limit, offset, more := page(r, match)
	writeJSON(w, http.StatusOK, map[string]any{"users": items, "limit": limit, "offset": offset, "more": more, "total": nil})
}

func (s *Server) listOnCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	schedules, users := q["schedule_ids[]"], q["user_ids[]"]
	s.mu.Lock()
	var match []map[string]any
	for _, o := range s.oncalls {
		if (len(schedules) == 0 || slices.Contains(schedules, o.ScheduleID)) && (len(users) == 0 || slices.Contains(users, o.UserID)) {
			match = append(match, map[string]any{
				"user":              map[string]any{"id": o.UserID, "type": "user_reference", "self": "https://api.pagerduty.com/users/" + o.UserID},
				"schedule":          map[string]any{"id": o.ScheduleID, "type": "schedule_reference", "self": "https://api.pagerduty.com/schedules/" + o.ScheduleID},
				"escalation_policy": map[string]any{"id": "PEP0001", "type": "escalation_policy_reference"},
				"escalation_level":  1,
				"start":             "2026-11-30T09:00:00Z",
				"end":               "2026-12-07T09:00:00Z",
			})
		}
	}
	s.mu.Unlock()
	items, limit, offset, more := page(r, match)
	writeJSON(w, http.StatusOK, map[string]any{"oncalls": items, "limit": limit, "offset": offset, "more": more, "total": nil})
}
