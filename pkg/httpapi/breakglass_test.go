package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// glassFlow lets alice break glass for at most an hour; lead approves.
const glassFlow = `name: glass
fields:
  - {name: duration, type: duration, default: 30m}
approval:
  approvers: [lead@example.com]
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: LATCH_TEST_WEBHOOK_SECRET
  targets:
    - {id: db, label: Database}
break_glass:
  allowed: 'requester.email == "alice@example.com"'
  broadcast: "#security"
  max_duration: 1h
  review_within: 24h
`

// A person the flow's rule allows breaks glass: the request is granted
// without an approver, capped at max_duration; others are refused with
// JSON errors; a reviewer then acknowledges it, once, and never the
// person who broke glass.
func TestBreakGlassThroughTheAPI(t *testing.T) {
	esc := &calls{ch: make(chan string, 10)}
	a := localAPI(t, esc, glassFlow)
	store := a.store

	refusals := []struct {
		name, body, wantCode string
		wantStatus           int
	}{
		{"a person the rule leaves out", `{"flow":"glass","user_email":"bob@example.com","break_glass":true,"reason":"db is down"}`,
			latch.CodeBreakGlassNotAllowed, http.StatusForbidden},
		{"no reason", `{"flow":"glass","user_email":"alice@example.com","break_glass":true}`,
			latch.CodeReasonRequired, http.StatusUnprocessableEntity},
		{"a blank reason", `{"flow":"glass","user_email":"alice@example.com","break_glass":true,"reason":"  "}`,
			latch.CodeReasonRequired, http.StatusUnprocessableEntity},
		{"a reason without break_glass", `{"flow":"glass","user_email":"alice@example.com","reason":"db is down"}`,
			"bad_request", http.StatusBadRequest},
		{"break_glass that is not a boolean", `{"flow":"glass","user_email":"alice@example.com","break_glass":"yes","reason":"x"}`,
			"bad_json", http.StatusBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			st, code, out := a.call(t, adminSecret, http.MethodPost, "/v1/requests", tt.body)
			if st != tt.wantStatus || code != tt.wantCode {
				t.Fatalf("create = %d %s %v, want %d %s", st, code, out, tt.wantStatus, tt.wantCode)
			}
			if msg, _ := out["error"].(map[string]any)["message"].(string); msg == "" {
				t.Errorf("error %s has no message", code)
			}
		})
	}

	st, code, out := a.call(t, adminSecret, http.MethodPost, "/v1/requests",
		`{"flow":"glass","user_email":"alice@example.com","fields":{"duration":"4h"},"break_glass":true,"reason":"db is down, INC-7"}`)
	if st != http.StatusAccepted {
		t.Fatalf("break glass = %d %s %v, want 202", st, code, out)
	}
	id := out["id"].(string)
	if got := out["duration_seconds"]; got != float64(3600) {
		t.Errorf("duration_seconds = %v, want 3600: capped at max_duration", got)
	}
	bg, _ := out["break_glass"].(map[string]any)
	if bg["reason"] != "db is down, INC-7" || bg["requested_seconds"] != float64(4*3600) || bg["review_due_at"] == nil {
		t.Errorf("break_glass = %v", bg)
	}
	if s := out["status"]; s != string(latch.StatusEscalating) && s != string(latch.StatusActive) {
		t.Errorf("status = %v, want escalating or active: no approver is asked", s)
	}
	if got := <-esc.ch; got[:6] != "grant " {
		t.Fatalf("first escalator call %q, want a grant", got)
	}
	waitStatus(t, store, id, latch.StatusActive)

	st, code, _ = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/review", `{"as":"alice@example.com"}`)
	if st != http.StatusForbidden || code != latch.CodeSelfReview {
		t.Errorf("review by the person who broke glass = %d %s, want 403 %s", st, code, latch.CodeSelfReview)
	}
	st, code, _ = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/review", `{"as":"bob@example.com"}`)
	if st != http.StatusForbidden || code != latch.CodeNotReviewer {
		t.Errorf("review by somebody = %d %s, want 403 %s", st, code, latch.CodeNotReviewer)
	}
	st, code, out = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/review", `{"as":"lead@example.com","reason":"INC-7 checks out"}`)
	if st != http.StatusAccepted {
		t.Fatalf("review by the approver = %d %s, want 202", st, code)
	}
	var r latch.Request
	for r.BreakGlass == nil || r.BreakGlass.Review == nil {
		var err error
		if r, err = store.GetRequest(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		<-time.After(5 * time.Millisecond)
	}
	if got := r.BreakGlass.Review; got.By.Email != "lead@example.com" || got.Reason != "INC-7 checks out" {
		t.Errorf("review = %+v", got)
	}
	st, code, _ = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/review", `{"as":"lead@example.com"}`)
	if st != http.StatusConflict || code != latch.CodeAlreadyReviewed {
		t.Errorf("a second review = %d %s, want 409 %s", st, code, latch.CodeAlreadyReviewed)
	}
	evs, err := store.AuditEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var types []latch.AuditType
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditBreakGlass, latch.AuditEscalated, latch.AuditBreakGlassReviewed}
	diffTypes(t, want, types)

	// A review names its reviewer.
	st, code, _ = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/review", `{}`)
	if st != http.StatusUnprocessableEntity || code != "missing_fields" {
		t.Errorf("review without as = %d %s, want 422 missing_fields", st, code)
	}
}

func TestBreakGlassNotOffered(t *testing.T) {
	a := localAPI(t, &calls{ch: make(chan string, 10)}, noRevokeFlow)
	st, code, _ := a.call(t, adminSecret, http.MethodPost, "/v1/requests",
		`{"flow":"locked","user_email":"alice@example.com","fields":{"service":"api"},"break_glass":true,"reason":"db is down"}`)
	if st != http.StatusUnprocessableEntity || code != latch.CodeBreakGlassNotOffered {
		t.Errorf("break glass on a flow without it = %d %s, want 422 %s", st, code, latch.CodeBreakGlassNotOffered)
	}
	id := a.create(t, adminSecret, "locked", "alice@example.com")
	st, code, _ = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/review", `{"as":"lead@example.com"}`)
	if st != http.StatusConflict || code != latch.CodeNotBreakGlass {
		t.Errorf("review of a plain request = %d %s, want 409 %s", st, code, latch.CodeNotBreakGlass)
	}
}

func diffTypes(t *testing.T, want, got []latch.AuditType) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("audit trail %v, want %v", got, want)
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("audit trail %v, want %v", got, want)
		}
	}
}
