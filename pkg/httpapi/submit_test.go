package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
	"github.com/latchhq/latch/pkg/tokens"
)

const approvalFlow = `name: deploy
fields:
  - {name: service, type: string, required: true}
approval:
  approvers: [lead@example.com]
`

// newEngine is the engine of latch server over a store of its own, with
// the deploy flow.
func newEngine(t *testing.T) (*engine.Engine, *boltstore.Store, *local.Queue) {
	t.Helper()
	return newEngineWith(t, nil, approvalFlow)
}

// newEngineWith is the engine of latch server over a store of its own,
// with the flows given (YAML) and, when users is not nil, the user
// directory it makes.
func newEngineWith(t *testing.T, users func(latch.Store) *engine.Users, flowTexts ...string) (*engine.Engine, *boltstore.Store, *local.Queue) {
	t.Helper()
	return newEngineEsc(t, nil, users, flowTexts...)
}

// newEngineEsc is newEngineWith whose grants esc escalates (nil: none).
func newEngineEsc(t *testing.T, esc latch.Escalator, users func(latch.Store) *engine.Users, flowTexts ...string) (*engine.Engine, *boltstore.Store, *local.Queue) {
	t.Helper()
	var fs []*latch.Flow
	for i, text := range flowTexts {
		f, err := flows.Parse("flow"+strconv.Itoa(i)+".yaml", []byte(text), flows.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var eng *engine.Engine
	queue := local.NewQueue(func(ctx context.Context, cmd latch.Command) error { return eng.Handle(ctx, cmd) })
	timers := local.NewTimers(ctx, queue, latch.SystemClock, nil)
	flowSet := engine.NewFlowSet(fs)
	rc := local.RunnerConfig{Store: store, Flows: flowSet, Queue: queue, Timers: timers, Clock: latch.SystemClock}
	if esc != nil {
		rc.Escalator = func(*latch.Flow) (latch.Escalator, error) { return esc, nil }
	}
	runner := local.NewRunner(ctx, rc)
	t.Cleanup(func() { cancel(); timers.Close(); runner.Wait(); store.Close() })
	cfg := engine.Config{Store: store, Flows: flowSet, Runner: runner, Scheduler: timers}
	if users != nil {
		cfg.Users = users(store)
	}
	if eng, err = engine.New(cfg); err != nil {
		t.Fatal(err)
	}
	return eng, store, queue
}

// With Submit set (the API Lambda), POST /v1/requests checks the request,
// hands it over and answers with it as it will be recorded; nothing is
// recorded by the API itself, and a retry with the same Idempotency-Key
// after it was recorded is answered with the recorded request.
func TestCreateThroughSubmit(t *testing.T) {
	eng, store, queue := newEngine(t)
	var mu sync.Mutex
	var submitted []engine.CreateInput
	toks := &tokens.Service{Store: store, Clock: latch.SystemClock}
	api := &httpapi.Server{Engine: eng, Store: store, Queue: queue, Tokens: toks,
		Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken("admin"), Service: toks},
		Submit: func(_ context.Context, in engine.CreateInput) error {
			mu.Lock()
			defer mu.Unlock()
			submitted = append(submitted, in)
			return nil
		}}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	post := func(body, key string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/requests", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	status, out := post(`{"flow":"deploy","user_email":"dev@example.com","fields":{}}`, "")
	if status != http.StatusUnprocessableEntity && status != http.StatusBadRequest {
		t.Errorf("a request missing a required field: %d %v, want a 4xx", status, out)
	}
	if len(submitted) != 0 {
		t.Fatalf("an invalid request was submitted: %+v", submitted)
	}

	status, out = post(`{"flow":"deploy","user_email":"dev@example.com","fields":{"service":"web"}}`, "ci-42")
	if status != http.StatusAccepted || out["status"] != "pending" || out["id"] == "" {
		t.Fatalf("create: %d %v, want 202 pending with an id", status, out)
	}
	if len(submitted) != 1 || submitted[0].ID != out["id"] || submitted[0].Fields["service"] != "web" {
		t.Fatalf("submitted %+v, want the request with the id answered", submitted)
	}
	if _, err := store.GetRequest(context.Background(), submitted[0].ID); err == nil {
		t.Errorf("the API recorded the request itself")
	}

	// The approvals function records it; a retry is answered from the store.
	if _, err := eng.Create(context.Background(), submitted[0]); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/requests", strings.NewReader(`{"flow":"deploy","user_email":"dev@example.com","fields":{"service":"web"}}`))
	req.Header.Set("Authorization", "Bearer admin")
	req.Header.Set("Idempotency-Key", "ci-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "true" || len(submitted) != 1 {
		t.Errorf("retry: %d replayed=%q, %d submissions; want 202, replayed, no second submission",
			resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), len(submitted))
	}
}

// Without an audit feed (the DynamoDB store), GET /v1/audit serves one
// request's trail, and asks for a request otherwise.
func TestAuditWithoutAFeed(t *testing.T) {
	eng, store, queue := newEngine(t)
	r, err := eng.Create(context.Background(), engine.CreateInput{Flow: "deploy", UserEmail: "dev@example.com", Source: latch.SourceAPI,
		Fields: map[string]any{"service": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Handle(context.Background(), latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: r.ID,
		Actor: latch.Actor{Email: "lead@example.com"}, Source: latch.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	toks := &tokens.Service{Store: store, Clock: latch.SystemClock}
	api := &httpapi.Server{Engine: eng, Store: store, Queue: queue, Tokens: toks, // no Feed
		Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken("admin"), Service: toks}}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	get := func(query string) (int, httpapi.AuditPage, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/audit?"+query, nil)
		req.Header.Set("Authorization", "Bearer admin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page httpapi.AuditPage
		var raw json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&raw)
		_ = json.Unmarshal(raw, &page)
		return resp.StatusCode, page, string(raw)
	}
	if status, _, body := get(""); status != http.StatusUnprocessableEntity || !strings.Contains(body, "not_supported") {
		t.Errorf("no request named: %d %s, want 422 not_supported", status, body)
	}
	status, page, body := get("request=" + r.ID)
	if status != http.StatusOK || len(page.Events) != 2 || page.Events[0].Event.Type != "requested" || page.Events[1].Event.Type != "approved" {
		t.Fatalf("request's trail: %d %s", status, body)
	}
	if _, next, _ := get("request=" + r.ID + "&after=" + strconv.FormatUint(page.Events[0].Pos, 10)); len(next.Events) != 1 || next.Next != page.Next {
		t.Errorf("after the first: %+v, want the second only", next)
	}
	if _, typed, _ := get("request=" + r.ID + "&type=approved"); len(typed.Events) != 1 || typed.Events[0].Event.Type != "approved" {
		t.Errorf("type=approved: %+v", typed)
	}
}
