package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// windowFlow lets a request name its start.
const windowFlow = `name: window
allow_scheduled_start: true
fields:
  - {name: service, type: string, required: true}
approval:
  approvers: [lead@example.com]
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: LATCH_TEST_WEBHOOK_SECRET
  targets:
    - {id: db, label: Database}
`

// scheduleAPI serves the API over the window and locked flows.
func scheduleAPI(t *testing.T) (*authzAPI, *calls) {
	t.Helper()
	esc := &calls{ch: make(chan string, 10)}
	return localAPI(t, esc, windowFlow, noRevokeFlow), esc
}

// A request created with starts_at is answered with its scheduled_start,
// waits in scheduled once approved, and is cancelled without the target
// being asked anything.
func TestCreateWithStartsAt(t *testing.T) {
	a, esc := scheduleAPI(t)
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	st, code, out := a.call(t, adminSecret, http.MethodPost, "/v1/requests",
		`{"flow":"window","user_email":"alice@example.com","fields":{"service":"api"},"starts_at":"`+start.Format(time.RFC3339)+`"}`)
	if st != http.StatusAccepted {
		t.Fatalf("create: %d %s", st, code)
	}
	if out["status"] != "pending" || out["scheduled_start"] != start.Format(time.RFC3339) {
		t.Fatalf("create answered status %v, scheduled_start %v; want pending, %s", out["status"], out["scheduled_start"], start.Format(time.RFC3339))
	}
	id := out["id"].(string)
	if st, code, _ := a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/approve", `{"as":"lead@example.com"}`); st != http.StatusAccepted {
		t.Fatalf("approve: %d %s", st, code)
	}
	r, err := a.store.GetRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != latch.StatusScheduled || r.GrantID != "" {
		t.Fatalf("after approval: %s with grant %q; want scheduled, none", r.Status, r.GrantID)
	}
	if st, code, _ := a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/revoke", `{"as":"alice@example.com"}`); st != http.StatusConflict || code != "not_active" {
		t.Errorf("revoke of a scheduled request: %d %s; want 409 not_active", st, code)
	}
	st, code, out = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/cancel", `{"as":"alice@example.com","reason":"window moved"}`)
	if st != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", st, code)
	}
	if r, _ = a.store.GetRequest(context.Background(), id); r.Status != latch.StatusCancelled {
		t.Fatalf("after cancel: %s", r.Status)
	}
	esc.mu.Lock()
	defer esc.mu.Unlock()
	if len(esc.got) != 0 {
		t.Errorf("the escalator was called: %v", esc.got)
	}
}

func TestCreateRefusesABadStartsAt(t *testing.T) {
	a, _ := scheduleAPI(t)
	now := time.Now().UTC()
	tests := []struct {
		name, flow, startsAt, want string
	}{
		{"not a time", "window", "tomorrow", latch.CodeInvalidStartsAt},
		{"no zone", "window", now.Add(time.Hour).Format("2006-01-02T15:04:05"), latch.CodeInvalidStartsAt},
		{"in the past", "window", now.Add(-time.Hour).Format(time.RFC3339), latch.CodeInvalidStartsAt},
		{"more than 90 days ahead", "window", now.Add(91 * 24 * time.Hour).Format(time.RFC3339), latch.CodeInvalidStartsAt},
		{"a flow without allow_scheduled_start", "locked", now.Add(time.Hour).Format(time.RFC3339), latch.CodeScheduledStartNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, code, out := a.call(t, adminSecret, http.MethodPost, "/v1/requests",
				`{"flow":"`+tt.flow+`","user_email":"alice@example.com","fields":{"service":"api"},"starts_at":"`+tt.startsAt+`"}`)
			if st != http.StatusUnprocessableEntity || code != tt.want {
				t.Errorf("create: %d %s %v; want 422 %s", st, code, out, tt.want)
			}
		})
	}
}
