package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
)

// fakeAPI answers GET /v1/requests/{id} with an active request of
// alice@example.com and records each POST /v1/requests/{id}/{action}, as
// the API does (202 with the request).
type fakeAPI struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []string // "path body"
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	r := latch.Request{ID: "req_1", Flow: "prod-access", Requester: latch.UserRef{Email: "alice@example.com"}, Status: latch.StatusActive}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/requests/{id}", func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer cli-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r)
	})
	mux.HandleFunc("POST /v1/requests/{id}/{action}", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		f.mu.Lock()
		f.posts = append(f.posts, req.URL.Path+" "+strings.TrimSpace(string(body)))
		f.mu.Unlock()
		out := r
		out.Status = latch.StatusDeescalating
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(out)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...)
}

// latch done sends the revoke as the requester; naming anyone else is a
// usage error and sends nothing.
func TestDoneRevokesAsTheRequester(t *testing.T) {
	api := newFakeAPI(t)
	t.Setenv("LATCH_TOKEN", "cli-token")

	code, out, errOut := latchCLI(t, "done", "req_1", "--as", "Alice@Example.com", "--reason", "deploy finished", "--url", api.srv.URL, "-o", "json")
	if code != exitOK {
		t.Fatalf("latch done: exit %d, %s", code, errOut)
	}
	want := []string{`/v1/requests/req_1/revoke {"as":"Alice@Example.com","reason":"deploy finished"}`}
	if got := api.sent(); len(got) != 1 || got[0] != want[0] {
		t.Errorf("sent %q, want %q", got, want)
	}
	if !strings.Contains(out, `"status": "deescalating"`) && !strings.Contains(out, `"status":"deescalating"`) {
		t.Errorf("output %q does not show the request as the API answered", out)
	}

	code, _, errOut = latchCLI(t, "done", "req_1", "--as", "lead@example.com", "--url", api.srv.URL)
	if code != exitUsage || !strings.Contains(errOut, "alice@example.com") || !strings.Contains(errOut, "latch revoke") {
		t.Errorf("latch done as someone else: exit %d, %q; want %d naming the requester and latch revoke", code, errOut, exitUsage)
	}
	if got := api.sent(); len(got) != 1 {
		t.Errorf("latch done as someone else sent %q", got[1:])
	}

	code, _, _ = latchCLI(t, "done", "req_1", "--url", api.srv.URL)
	if code != exitUsage {
		t.Errorf("latch done without --as: exit %d, want %d", code, exitUsage)
	}
}
