package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
	"github.com/latchhq/latch/pkg/tokens"
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

// runningAPI serves the API over the flows (file name → YAML) with the
// local runtime behind it and a fake escalator that records every call.
func runningAPI(t *testing.T, files map[string]string) (*authzAPI, *calls) {
	t.Helper()
	t.Setenv("LATCH_TEST_WEBHOOK_SECRET", "s3cret")
	var fs []*latch.Flow
	for name, src := range files {
		f, err := flows.Parse(name, []byte(src), flows.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	esc := &calls{ch: make(chan string, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	var eng *engine.Engine
	queue := local.NewQueue(func(ctx context.Context, cmd latch.Command) error { return eng.Handle(ctx, cmd) })
	timers := local.NewTimers(ctx, queue, latch.SystemClock, nil)
	flowSet := engine.NewFlowSet(fs)
	runner := local.NewRunner(ctx, local.RunnerConfig{Store: store, Flows: flowSet, Queue: queue, Timers: timers, Clock: latch.SystemClock,
		Escalator: func(*latch.Flow) (latch.Escalator, error) { return esc, nil }})
	t.Cleanup(func() { cancel(); timers.Close(); runner.Wait(); store.Close() })
	dir := &identity.Directory{Store: store, Clock: latch.SystemClock}
	users := &engine.Users{Store: store, Clock: latch.SystemClock, RoleFor: dir.RoleFor}
	if eng, err = engine.New(engine.Config{Store: store, Flows: flowSet, Runner: runner, Scheduler: timers, Users: users}); err != nil {
		t.Fatal(err)
	}
	toks := &tokens.Service{Store: store, Clock: latch.SystemClock}
	api := &httpapi.Server{Engine: eng, Directory: dir, Store: store, Feed: store, Queue: queue, Tokens: toks,
		Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(adminSecret), Service: toks}}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &authzAPI{url: srv.URL, store: store}, esc
}

// scheduleAPI serves the API over the window and locked flows.
func scheduleAPI(t *testing.T) (*authzAPI, *calls) {
	t.Helper()
	return runningAPI(t, map[string]string{"window.yaml": windowFlow, "locked.yaml": noRevokeFlow})
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
