package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// post sends a JSON body with extra headers and decodes the answer.
func post(t *testing.T, srv *server, path string, body any, headers map[string]string, out any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("decode %s answer: %v", path, err)
		}
	}
	return resp
}

func TestIdempotencyKey(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook"), "deploy.yaml": approvalOnlyFlow}), t.TempDir())
	body := httpapi.CreateBody{Flow: "deploy", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "release 7"}}
	key := map[string]string{"Idempotency-Key": "pipeline-123-job-4"}

	var first, second latch.Request
	if resp := post(t, srv, "/v1/requests", body, key, &first); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first create: %d", resp.StatusCode)
	}
	resp := post(t, srv, "/v1/requests", body, key, &second)
	if resp.StatusCode != http.StatusAccepted || second.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d, id %s (first %s), replayed %q; want the same request", resp.StatusCode, second.ID, first.ID, resp.Header.Get("Idempotent-Replayed"))
	}
	rs, err := srv.client().ListRequests(context.Background(), latch.RequestFilter{})
	if err != nil || len(rs) != 1 {
		t.Errorf("requests after a retried create = %d, %v; want 1", len(rs), err)
	}
	other := body
	other.UserEmail = "carol@example.com"
	var eb httpapi.ErrorBody
	if resp := post(t, srv, "/v1/requests", other, key, &eb); resp.StatusCode != http.StatusUnprocessableEntity || eb.Error.Code != "idempotency_key_reused" {
		t.Errorf("the key reused for another ask: %d %q, want 422 idempotency_key_reused", resp.StatusCode, eb.Error.Code)
	}
	var third latch.Request
	post(t, srv, "/v1/requests", body, map[string]string{"Idempotency-Key": "another"}, &third)
	if third.ID == first.ID {
		t.Errorf("a new key gave the old request")
	}
}

func TestWaitLongPoll(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(timeout string) (latch.Request, http.Header) {
		t.Helper()
		hreq, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/requests/"+req.ID+"/wait?timeout="+timeout, nil)
		hreq.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r latch.Request
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&r) != nil {
			t.Fatalf("wait: %d", resp.StatusCode)
		}
		return r, resp.Header
	}
	r, h := wait("200ms")
	if r.Status != latch.StatusPending || h.Get("Latch-Wait-Timed-Out") != "true" {
		t.Errorf("wait with nothing happening = %s, timed out %q; want pending, true", r.Status, h.Get("Latch-Wait-Timed-Out"))
	}
	done := make(chan latch.Request, 1)
	go func() { r, _ := wait("20s"); done <- r }()
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.Status != latch.StatusActive {
			t.Errorf("wait answered %s, want active", r.Status)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("wait did not answer after the approval")
	}
	if code, eb := call(t, srv, "GET", "/v1/requests/"+req.ID+"/wait?timeout=5m", adminToken, ""); code != 400 || eb.Error.Code != "bad_request" {
		t.Errorf("wait longer than allowed: %d %s, want 400", code, eb.Error.Code)
	}
}

func TestRateLimit(t *testing.T) {
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir(), "--rate-limit", "5")
	var limited *http.Response
	for i := 0; i < 200 && limited == nil; i++ {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/flows", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
		}
	}
	if limited == nil {
		t.Fatal("200 calls in a row were never limited")
	}
	if ra := limited.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
	}
	code, eb := call(t, srv, "GET", "/v1/flows", adminToken, "")
	if code == http.StatusTooManyRequests && eb.Error.Code != "rate_limited" {
		t.Errorf("429 with code %q, want rate_limited", eb.Error.Code)
	}
}
