package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// extendFlow: "db" lets the requester extend up to 8 hours in all, an
// hour or less at once and more with the lead's approval; "fixed" has no
// extension policy.
const extendFlow = `name: db
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
extension:
  max_total: 8h
  auto_within: 1h
`

// fixedFlow is extendFlow without its extension policy.
var fixedFlow = strings.Replace(extendFlow[:strings.Index(extendFlow, "extension:")], "name: db", "name: fixed", 1)

// endsFake is a fake escalator whose target is told the grant's end: it
// records the end of every grant call.
type endsFake struct {
	mu   sync.Mutex
	ends []time.Time
}

func (f *endsFake) Grant(_ context.Context, g latch.GrantSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ends = append(f.ends, g.EndsAt)
	return nil
}

func (f *endsFake) Revoke(context.Context, latch.GrantSpec) error { return nil }

func (f *endsFake) FollowsEnd() bool { return true }

func (f *endsFake) grants() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.ends...)
}

// extendAPI is the API wired as latch server wires it, with the db and
// fixed flows and the fake escalator.
func extendAPI(t *testing.T) (*authzAPI, *endsFake) {
	t.Helper()
	esc := &endsFake{}
	return localAPI(t, esc, extendFlow, fixedFlow), esc
}

// localAPI is the API of latch server with the local runtime (queue,
// timers, runner) behind it, over a store of its own, with the flows (YAML)
// and esc as every flow's escalator.
func localAPI(t *testing.T, esc latch.Escalator, flowTexts ...string) *authzAPI {
	t.Helper()
	t.Setenv("LATCH_TEST_WEBHOOK_SECRET", "s3cret")
	var dir *identity.Directory
	eng, store, queue := newEngineEsc(t, esc, func(st latch.Store) *engine.Users {
		dir = &identity.Directory{Store: st, Clock: latch.SystemClock}
		return &engine.Users{Store: st, Clock: latch.SystemClock, RoleFor: dir.RoleFor}
	}, flowTexts...)
	toks := &tokens.Service{Store: store, Clock: latch.SystemClock}
	api := &httpapi.Server{Engine: eng, Directory: dir, Store: store, Feed: store, Queue: queue, Tokens: toks,
		Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(adminSecret), Service: toks}}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &authzAPI{url: srv.URL, store: store}
}

// activeRequest creates a flow request for alice through the ci bot, has the
// lead approve it, and waits until its access is in place.
func activeRequest(t *testing.T, a *authzAPI, ci, flow string) latch.Request {
	t.Helper()
	id := a.create(t, ci, flow, "alice@example.com")
	if st, code, _ := a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/approve", `{"as":"lead@example.com"}`); st != http.StatusAccepted {
		t.Fatalf("approve: %d %s", st, code)
	}
	return waitStatus(t, a.store, id, latch.StatusActive)
}

func waitStatus(t *testing.T, store latch.Store, id string, want latch.Status) latch.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := store.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %s, want %s", id, r.Status, want)
		}
		<-time.After(5 * time.Millisecond)
	}
}

func auditOf(t *testing.T, store latch.Store, id string, typ latch.AuditType) []latch.AuditEvent {
	t.Helper()
	evs, err := store.AuditEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []latch.AuditEvent
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// A bot asks, as the requester, for 30 minutes more: within auto_within it
// is granted at once, the answer shows the new end, the audit trail says
// extended, and the target is sent the grant again with the new end.
func TestExtendWithinAutoWithin(t *testing.T) {
	a, esc := extendAPI(t)
	ci := a.bot(t, "ci", `{}`, tokens.ScopeRead, tokens.ScopeWrite)
	r := activeRequest(t, a, ci, "db")
	oldEnd := *r.EndsAt
	st, code, body := a.call(t, ci, http.MethodPost, "/v1/requests/"+r.ID+"/extend",
		`{"as":"alice@example.com","duration":"30m","reason":"the migration runs late"}`)
	if st != http.StatusAccepted {
		t.Fatalf("extend = %d %s, want 202", st, code)
	}
	newEnd := oldEnd.Add(30 * time.Minute)
	if got, _ := time.Parse(time.RFC3339Nano, body["ends_at"].(string)); !got.Equal(newEnd) {
		t.Errorf("answer's ends_at %v, want %v", body["ends_at"], newEnd)
	}
	if body["duration_seconds"] != float64(3600+1800) || body["extension"] != nil || body["status"] != "active" {
		t.Errorf("answer duration_seconds %v, extension %v, status %v; want 5400, none, active", body["duration_seconds"], body["extension"], body["status"])
	}
	ev := auditOf(t, a.store, r.ID, latch.AuditExtended)
	if len(ev) != 1 || ev[0].Actor != (latch.Actor{Email: "alice@example.com", Bot: "ci"}) || ev[0].Reason != "the migration runs late" ||
		ev[0].Data["approved_by"] != "auto_within" {
		t.Fatalf("extended events %+v, want one by alice via ci, auto_within", ev)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(esc.grants()) < 2 && time.Now().Before(deadline) {
		<-time.After(5 * time.Millisecond)
	}
	if g := esc.grants(); len(g) != 2 || !g[0].Equal(oldEnd) || !g[1].Equal(newEnd) {
		t.Errorf("the target was told ends %v, want %v then %v", g, oldEnd, newEnd)
	}
}

// Three hours more is beyond auto_within: the extension waits for the
// lead (the answer shows it pending); the lead's approve of the active
// request grants it.
func TestExtendApprovedByTheApprover(t *testing.T) {
	a, _ := extendAPI(t)
	ci := a.bot(t, "ci", `{}`, tokens.ScopeRead, tokens.ScopeWrite)
	r := activeRequest(t, a, ci, "db")
	oldEnd := *r.EndsAt
	st, code, body := a.call(t, ci, http.MethodPost, "/v1/requests/"+r.ID+"/extend", `{"as":"alice@example.com","duration":10800}`)
	if st != http.StatusAccepted {
		t.Fatalf("extend = %d %s, want 202", st, code)
	}
	ext, _ := body["extension"].(map[string]any)
	if ext == nil || ext["duration_seconds"] != float64(10800) {
		t.Fatalf("answer's extension %v, want 10800 seconds pending", body["extension"])
	}
	st, code, _ = a.call(t, ci, http.MethodPost, "/v1/requests/"+r.ID+"/extend", `{"as":"alice@example.com","duration":"1h"}`)
	if st != http.StatusConflict || code != latch.CodeExtensionPending {
		t.Errorf("a second extension = %d %s, want 409 %s", st, code, latch.CodeExtensionPending)
	}
	if st, code, _ := a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+r.ID+"/approve", `{"as":"lead@example.com","reason":"ok"}`); st != http.StatusAccepted {
		t.Fatalf("approve the extension: %d %s", st, code)
	}
	got := waitStatus(t, a.store, r.ID, latch.StatusActive)
	if got.Extension != nil || !got.EndsAt.Equal(oldEnd.Add(3*time.Hour)) {
		t.Errorf("after the approval: extension %+v, ends %v; want none, %v", got.Extension, got.EndsAt, oldEnd.Add(3*time.Hour))
	}
	ev := auditOf(t, a.store, r.ID, latch.AuditExtended)
	if len(ev) != 1 || ev[0].Actor.Email != "lead@example.com" {
		t.Fatalf("extended events %+v, want one by the lead", ev)
	}
	if by, _ := ev[0].Data["approved_by"].([]any); len(by) != 1 || by[0] != "lead@example.com" {
		t.Errorf("approved_by %v, want [lead@example.com]", ev[0].Data["approved_by"])
	}
}

// What the API refuses, with its status and code.
func TestExtendRefusals(t *testing.T) {
	a, _ := extendAPI(t)
	ci := a.bot(t, "ci", `{}`, tokens.ScopeRead, tokens.ScopeWrite)
	reader := a.bot(t, "reader", `{}`, tokens.ScopeRead)
	db := activeRequest(t, a, ci, "db")
	fixed := activeRequest(t, a, ci, "fixed")
	pending := a.create(t, ci, "db", "alice@example.com")
	tests := []struct {
		name     string
		token    string
		id       string
		body     string
		want     int
		wantCode string
	}{
		{"a flow without extension", ci, fixed.ID, `{"as":"alice@example.com","duration":"30m"}`, 409, latch.CodeExtensionNotAllowed},
		{"past max_total", ci, db.ID, `{"as":"alice@example.com","duration":"8h"}`, 422, latch.CodeExtensionTooLong},
		{"not a duration", ci, db.ID, `{"as":"alice@example.com","duration":"soon"}`, 422, latch.CodeBadDuration},
		{"no duration", ci, db.ID, `{"as":"alice@example.com"}`, 422, latch.CodeBadDuration},
		{"zero seconds", ci, db.ID, `{"as":"alice@example.com","duration":0}`, 422, latch.CodeBadDuration},
		{"the largest int64 of seconds", ci, db.ID, `{"as":"alice@example.com","duration":9223372036854775807}`, 422, latch.CodeBadDuration},
		{"a second past 366 days", ci, db.ID, `{"as":"alice@example.com","duration":31622401}`, 422, latch.CodeBadDuration},
		{"367 days", ci, db.ID, `{"as":"alice@example.com","duration":"367d"}`, 422, latch.CodeBadDuration},
		{"366 days is read, then past max_total", ci, db.ID, `{"as":"alice@example.com","duration":"366d"}`, 422, latch.CodeExtensionTooLong},
		{"a duration of the wrong type", ci, db.ID, `{"as":"alice@example.com","duration":true}`, 422, latch.CodeBadDuration},
		{"an unknown key", ci, db.ID, `{"as":"alice@example.com","duration":"1h","minutes":5}`, 400, "bad_json"},
		{"the approver asks", adminSecret, db.ID, `{"as":"lead@example.com","duration":"30m"}`, 403, latch.CodeNotRequester},
		{"nobody named", adminSecret, db.ID, `{"duration":"30m"}`, 422, "missing_fields"},
		{"a pending request", ci, pending, `{"as":"alice@example.com","duration":"30m"}`, 409, "not_active"},
		{"no such request", ci, "req_nope", `{"as":"alice@example.com","duration":"30m"}`, 404, "request_not_found"},
		{"without requests:write", reader, db.ID, `{"as":"alice@example.com","duration":"30m"}`, 403, "missing_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, code, _ := a.call(t, tt.token, http.MethodPost, "/v1/requests/"+tt.id+"/extend", tt.body)
			if st != tt.want || code != tt.wantCode {
				t.Errorf("extend = %d %s, want %d %s", st, code, tt.want, tt.wantCode)
			}
		})
	}
	t.Run("the bound is named", func(t *testing.T) {
		_, _, m := a.call(t, ci, http.MethodPost, "/v1/requests/"+db.ID+"/extend", `{"as":"alice@example.com","duration":9223372036854775807}`)
		e, _ := m["error"].(map[string]any)
		details, _ := e["details"].(map[string]any)
		if e["message"] != `"duration" may be at most 366d (31622400 seconds).` || details["max_seconds"] != float64(31622400) {
			t.Errorf("error %v, want the bound of 366d named", e)
		}
	})
	if got := waitStatus(t, a.store, db.ID, latch.StatusActive); !got.EndsAt.Equal(*db.EndsAt) {
		t.Errorf("refusals moved the end to %v, want %v", got.EndsAt, db.EndsAt)
	}
}
