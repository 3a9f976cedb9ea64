package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// slackUsers knows one Slack user of one workspace.
type slackUsers struct{}

func (slackUsers) SlackUserEmail(_ context.Context, team, userID string) (string, error) {
	if team != "" && team != "T0LATCH" {
		return "", latch.Errorf(latch.KindInvalid, "unknown_team", "not ours")
	}
	if userID != "U0DEV" {
		return "", latch.Errorf(latch.KindNotFound, "unknown_slack_user", "Slack knows no user %s.", userID)
	}
	return "dev@example.com", nil
}

// A request may name its person by Slack user id (and workspace) instead
// of email.
func TestCreateNamingTheSlackUser(t *testing.T) {
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
	post := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/requests", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	// Without Slack, user_id is refused with a reason.
	if status, out := post(`{"flow":"deploy","user_id":"U0DEV","fields":{"service":"api"}}`); status != http.StatusUnprocessableEntity {
		t.Errorf("user_id without Slack: %d %v, want 422", status, out)
	}

	api.SlackUsers = slackUsers{}
	status, out := post(`{"flow":"deploy","user_id":"U0DEV","team_id":"T0LATCH","fields":{"service":"api"}}`)
	if status != http.StatusAccepted {
		t.Fatalf("user_id: %d %v, want 202", status, out)
	}
	mu.Lock()
	if len(submitted) != 1 || submitted[0].UserEmail != "dev@example.com" {
		t.Errorf("submitted %+v, want a request for dev@example.com", submitted)
	}
	mu.Unlock()
	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"flow":"deploy","user_id":"U0NOBODY","fields":{"service":"api"}}`, http.StatusNotFound},
		{`{"flow":"deploy","user_id":"U0DEV","team_id":"T0ELSE","fields":{"service":"api"}}`, http.StatusUnprocessableEntity},
		{`{"flow":"deploy","user_id":"U0DEV","user_email":"dev@example.com","fields":{"service":"api"}}`, http.StatusBadRequest},
		{`{"flow":"deploy","team_id":"T0LATCH","user_email":"dev@example.com","fields":{"service":"api"}}`, http.StatusBadRequest},
	} {
		if status, out := post(tt.body); status != tt.want {
			t.Errorf("%s: %d %v, want %d", tt.body, status, out, tt.want)
		}
	}
}
