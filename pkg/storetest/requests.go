package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

func testRequests(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("get missing request returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetRequest(t.Context(), "nope")
		wantNotFound(t, "GetRequest", err)
	})

	t.Run("new request reads back at version 1", func(t *testing.T) {
		s := newStore(t)
		r := newRequest("r1", t0)
		commit(t, s, latch.Change{Dedup: "create/r1", Requests: []latch.Request{r}})
		if diff := cmp.Diff(written(r), getRequest(t, s, "r1"), opts); diff != "" {
			t.Errorf("GetRequest (-want +got):\n%s", diff)
		}
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := newStore(t)
		r := fullRequest()
		commit(t, s, latch.Change{Requests: []latch.Request{r}})
		got := getRequest(t, s, r.ID)
		if diff := cmp.Diff(written(r), got, opts); diff != "" {
			t.Errorf("GetRequest (-want +got):\n%s", diff)
		}
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt,
			"StartsAt": deref(got.StartsAt), "Approvals[0].At": got.Approvals[0].At,
			"ScheduledStart": deref(got.ScheduledStart)} {
			if tm.Location() != time.UTC {
				t.Errorf("%s = %v is in %v, want UTC", name, tm, tm.Location())
			}
		}
	})

	t.Run("list filters", testListRequests(newStore))
	t.Run("list pages and time ranges", testListPages(newStore))

	t.Run("list returns at most 100 by default", func(t *testing.T) {
		s := newStore(t)
		const n = 101
		var all []latch.Request
		for i := range n {
			all = append(all, newRequest(fmt.Sprintf("r%03d", i), at(i)))
		}
		for i := 0; i < n; i += 40 {
			commit(t, s, latch.Change{Requests: all[i:min(i+40, n)]})
		}
		got, err := s.ListRequests(t.Context(), latch.RequestFilter{})
		if err != nil {
			t.Fatalf("ListRequests: %v", err)
		}
		if len(got) != 100 {
			t.Fatalf("ListRequests returned %d requests, want 100", len(got))
		}
		if got[0].ID != "r100" || got[99].ID != "r001" {
			t.Errorf("ListRequests returned %s … %s, want r100 … r001", got[0].ID, got[99].ID)
		}
	})

	t.Run("a status change moves a request between lists", func(t *testing.T) {
		s := newStore(t)
		r := newRequest("r1", t0)
		commit(t, s, latch.Change{Requests: []latch.Request{r}})
		r = getRequest(t, s, "r1")
		r.Status = latch.StatusDenied
		commit(t, s, latch.Change{Requests: []latch.Request{r}})

		for _, tt := range []struct {
			name string
			give latch.RequestFilter
			want []latch.Request
		}{
			{"old status", latch.RequestFilter{Status: latch.StatusPending}, nil},
			{"new status", latch.RequestFilter{Status: latch.StatusDenied}, []latch.Request{written(r)}},
			{"flow", latch.RequestFilter{Flow: r.Flow}, []latch.Request{written(r)}},
			{"user", latch.RequestFilter{User: r.Requester.Email}, []latch.Request{written(r)}},
			{"everything", latch.RequestFilter{}, []latch.Request{written(r)}},
		} {
			got, err := s.ListRequests(t.Context(), tt.give)
			if err != nil {
				t.Fatalf("ListRequests(%+v): %v", tt.give, err)
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("%s: ListRequests(%+v) (-want +got):\n%s", tt.name, tt.give, diff)
			}
		}
	})
}

// testListRequests checks each filter of ListRequests, alone and combined,
// against one set of requests committed out of creation order.
func testListRequests(newStore func(t *testing.T) latch.Store) func(t *testing.T) {
	return func(t *testing.T) {
		s := newStore(t)
		mk := func(id, flow, email string, st latch.Status, created time.Time) latch.Request {
			r := newRequest(id, created)
			r.Flow, r.Requester.Email, r.Status = flow, email, st
			return r
		}
		seed := []latch.Request{
			mk("r5", "prod-db", "ann@example.com", latch.StatusEnded, at(5)),
			mk("r1", "prod-db", "ann@example.com", latch.StatusPending, at(1)),
			mk("r3", "staging", "ann@example.com", latch.StatusPending, at(3)),
			mk("r6", "billing", "cat@example.com", latch.StatusPending, at(6)),
			// In another zone, but between r3 and r5 in time.
			mk("r4", "staging", "bob@example.com", latch.StatusDenied, at(4).In(zone)),
			mk("r2", "prod-db", "bob@example.com", latch.StatusActive, at(2)),
		}
		byID := map[string]latch.Request{}
		for _, r := range seed {
			commit(t, s, latch.Change{Dedup: "create/" + r.ID, Requests: []latch.Request{r}})
			byID[r.ID] = written(r)
		}
		reqs := func(ids ...string) []latch.Request {
			out := make([]latch.Request, len(ids))
			for i, id := range ids {
				out[i] = byID[id]
			}
			return out
		}

		tests := []struct {
			name string
			give latch.RequestFilter
			want []latch.Request
		}{
			{"no filter lists all newest first", latch.RequestFilter{}, reqs("r6", "r5", "r4", "r3", "r2", "r1")},
			{"status", latch.RequestFilter{Status: latch.StatusPending}, reqs("r6", "r3", "r1")},
			{"flow", latch.RequestFilter{Flow: "prod-db"}, reqs("r5", "r2", "r1")},
			{"user", latch.RequestFilter{User: "ann@example.com"}, reqs("r5", "r3", "r1")},
			{"status and flow", latch.RequestFilter{Status: latch.StatusPending, Flow: "prod-db"}, reqs("r1")},
			{"flow and user", latch.RequestFilter{Flow: "staging", User: "bob@example.com"}, reqs("r4")},
			{"status and user", latch.RequestFilter{Status: latch.StatusPending, User: "ann@example.com"}, reqs("r3", "r1")},
			{"status, flow and user", latch.RequestFilter{Status: latch.StatusPending, Flow: "staging", User: "ann@example.com"}, reqs("r3")},
			{"limit", latch.RequestFilter{Limit: 2}, reqs("r6", "r5")},
			{"limit with a filter", latch.RequestFilter{Status: latch.StatusPending, Limit: 2}, reqs("r6", "r3")},
			{"limit above the matches", latch.RequestFilter{Flow: "staging", Limit: 10}, reqs("r4", "r3")},
			{"unknown flow", latch.RequestFilter{Flow: "nope"}, nil},
			{"unknown user", latch.RequestFilter{User: "nobody@example.com"}, nil},
			{"status nobody is in", latch.RequestFilter{Status: latch.StatusExpired}, nil},
			{"filters that match apart but not together", latch.RequestFilter{Flow: "billing", User: "ann@example.com"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListRequests(t.Context(), tt.give)
				if err != nil {
					t.Fatalf("ListRequests(%+v): %v", tt.give, err)
				}
				if diff := cmp.Diff(tt.want, got, opts); diff != "" {
					t.Errorf("ListRequests(%+v) (-want +got):\n%s", tt.give, diff)
				}
			})
		}
	}
}

// fullRequest sets every field of a Request, with every kind of field
// value, times in a zone other than UTC and nanoseconds.
func fullRequest() latch.Request {
	local := func(n int) time.Time { return at(n).Add(987 * time.Nanosecond).In(zone) }
	return latch.Request{
		ID:        "r-full",
		Flow:      "prod-db",
		Requester: latch.UserRef{ID: "U01", Email: "ann@example.com"},
		CreatedBy: latch.Actor{Email: "ann@example.com", Bot: "deploy-bot"},
		Source:    latch.SourceAPI,
		Fields: latch.Fields{
			"reason":    "incident 42: replica lag",
			"count":     int64(3),
			"big":       int64(1) << 62,
			"negative":  int64(-7),
			"urgent":    true,
			"dry_run":   false,
			"duration":  int64(7200),
			"hosts":     []string{"db-1", "db-2"},
			"ports":     []int64{22, 5432},
			"target_id": "db-1",
		},
		Context: map[string]any{
			"ci":      map[string]any{"job": "deploy", "attempt": float64(2), "ok": true},
			"tags":    []any{"blue", float64(1.5), false},
			"ticket":  "OPS-1",
			"nothing": nil,
		},
		TargetID: "db-1",
		Duration: 7200,
		Status:   latch.StatusActive,
		Approvals: []latch.Decision{
			{By: latch.Actor{Email: "bob@example.com"}, At: local(1), Reason: "looks fine"},
			{By: latch.Actor{Email: "cat@example.com", Bot: "approver-bot"}, At: local(2)},
		},
		Decision:  &latch.Decision{By: latch.Actor{Email: "bob@example.com"}, At: local(3), Reason: "done"},
		Failure:   &latch.Failure{Code: "timeout", Message: "the target did not answer", Stage: latch.StageEscalate},
		GrantID:   "g-full",
		StartsAt:  ptr(local(4)),
		EndsAt:    ptr(local(124)),
		ExpiresAt: ptr(local(60)),
		CreatedAt: local(0),
		UpdatedAt: local(4),
		EventSeq:  7,
		// A request created with a scheduled start (latch.CheckStart).
		ScheduledStart: ptr(local(2)),
	}
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
