package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
	bolt "go.etcd.io/bbolt"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type observed struct {
	route  string
	status int
}

// newAPI serves the API of latch server over a store of its own, logging
// JSON into the returned buffer.
func newAPI(t *testing.T, configure func(*httpapi.Server)) (*httptest.Server, *syncBuf, *[]observed) {
	t.Helper()
	eng, store, queue := newEngine(t)
	toks := &tokens.Service{Store: store, Clock: latch.SystemClock}
	logs := &syncBuf{}
	var mu sync.Mutex
	var seen []observed
	api := &httpapi.Server{Engine: eng, Store: store, Feed: store, Queue: queue, Tokens: toks,
		Auth:  &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken("admin-secret-token"), Service: toks},
		Log:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready: httpapi.CommitProbe(store, latch.SystemClock),
		Observe: func(route string, status int, _ time.Duration) {
			mu.Lock()
			seen = append(seen, observed{route, status})
			mu.Unlock()
		}}
	if configure != nil {
		configure(api)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv, logs, &seen
}

func do(t *testing.T, method, url, token, body string, header ...string) (*http.Response, httpapi.ErrorBody) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb httpapi.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp, eb
}

func TestMethodNotAllowed(t *testing.T) {
	srv, _, _ := newAPI(t, nil)
	for _, tt := range []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{http.MethodDelete, "/v1/requests", 405, "GET, HEAD, POST"},
		{http.MethodPut, "/v1/requests/req_1", 405, "GET, HEAD"},
		{http.MethodGet, "/v1/requests/req_1/approve", 405, "POST"},
		{http.MethodPost, "/healthz", 405, "GET, HEAD"},
		{http.MethodGet, "/v1/nothing", 404, ""},
	} {
		resp, eb := do(t, tt.method, srv.URL+tt.path, "admin-secret-token", "")
		if resp.StatusCode != tt.wantStatus || resp.Header.Get("Allow") != tt.wantAllow {
			t.Errorf("%s %s = %d, Allow %q; want %d, %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), tt.wantStatus, tt.wantAllow)
		}
		wantCode := map[int]string{405: "method_not_allowed", 404: "route_not_found"}[tt.wantStatus]
		if eb.Error.Code != wantCode {
			t.Errorf("%s %s: code %q, want %q", tt.method, tt.path, eb.Error.Code, wantCode)
		}
	}
}

func TestUnauthorizedSaysBearer(t *testing.T) {
	srv, _, _ := newAPI(t, nil)
	for token, want := range map[string]string{
		"":           `Bearer realm="latch"`,
		"latch_nope": `Bearer realm="latch", error="invalid_token"`,
	} {
		resp, eb := do(t, http.MethodGet, srv.URL+"/v1/requests", token, "")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
			t.Errorf("token %q: %d, WWW-Authenticate %q (%s); want 401, %q", token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), eb.Error.Code, want)
		}
	}
	if resp, _ := do(t, http.MethodGet, srv.URL+"/v1/requests", "admin-secret-token", ""); resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("a good call carries WWW-Authenticate")
	}
}

// One line a call: method, the route pattern, status, duration, principal
// and request id; never the token, the path's ids, the query or the body.
func TestAccessLog(t *testing.T) {
	srv, logs, seen := newAPI(t, nil)
	body := `{"flow":"deploy","user_email":"dev@example.com","fields":{"service":"secret-service-name"}}`
	resp, _ := do(t, http.MethodPost, srv.URL+"/v1/requests?debug=query-text", "admin-secret-token", body, "X-Request-Id", "ci-run-42")
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Request-Id") != "ci-run-42" {
		t.Fatalf("create: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	resp, _ = do(t, http.MethodGet, srv.URL+"/v1/requests/req_someid", "latch_wrong", "", "X-Request-Id", "bad id with spaces")
	generated := resp.Header.Get("X-Request-Id")
	if !strings.HasPrefix(generated, "call_") {
		t.Errorf("X-Request-Id for an unusable one = %q, want a generated call_...", generated)
	}

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "api call" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2:\n%s", len(lines), logs.String())
	}
	want := []map[string]any{
		{"method": "POST", "route": "POST /v1/requests", "status": 202.0, "principal": "admin", "request_id": "ci-run-42"},
		{"method": "GET", "route": "GET /v1/requests/{id}", "status": 401.0, "principal": "", "request_id": generated},
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i+1, k, lines[i][k], v)
			}
		}
		if _, ok := lines[i]["duration_ms"].(float64); !ok {
			t.Errorf("line %d has no duration_ms: %v", i+1, lines[i])
		}
	}
	for _, secret := range []string{"admin-secret-token", "latch_wrong", "secret-service-name", "query-text", "req_someid", "dev@example.com"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs.String())
		}
	}
	if len(*seen) != 2 || (*seen)[0] != (observed{"POST /v1/requests", 202}) || (*seen)[1] != (observed{"GET /v1/requests/{id}", 401}) {
		t.Errorf("observed %v", *seen)
	}
}

// /readyz commits to the store: 200 on a store that can, 503 on one that
// cannot (a bbolt file opened read-only).
func TestReadyz(t *testing.T) {
	srv, _, _ := newAPI(t, nil)
	if resp, _ := do(t, http.MethodGet, srv.URL+"/readyz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz on a writable store = %d, want 200", resp.StatusCode)
	}

	path := filepath.Join(t.TempDir(), "latch.db")
	bs, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ro, _, _ := newAPI(t, func(s *httpapi.Server) { s.Ready = httpapi.CommitProbe(readOnlyCursors{db}, latch.SystemClock) })
	resp, eb := do(t, http.MethodGet, ro.URL+"/readyz", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || eb.Error.Code != "not_ready" {
		t.Errorf("/readyz on a read-only store = %d %s, want 503 not_ready", resp.StatusCode, eb.Error.Code)
	}
	if resp, _ := do(t, http.MethodGet, ro.URL+"/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d, want 200: the process is alive", resp.StatusCode)
	}

	// A server still starting is not ready, and says so.
	st, _, _ := newAPI(t, func(s *httpapi.Server) {
		s.Ready = func(context.Context) error { return fmt.Errorf("catching up: %w", httpapi.ErrStarting) }
	})
	resp, eb = do(t, http.MethodGet, st.URL+"/readyz", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || eb.Error.Code != "not_ready" || !strings.Contains(eb.Error.Message, "starting") {
		t.Errorf("/readyz while starting = %d %s %q, want 503 not_ready saying it is starting", resp.StatusCode, eb.Error.Code, eb.Error.Message)
	}
}

// readOnlyCursors writes feed cursors as boltstore does, to a bbolt
// database opened read-only.
type readOnlyCursors struct{ db *bolt.DB }

func (r readOnlyCursors) SetFeedCursor(_ context.Context, name string, pos uint64) error {
	return r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("feed_cursors")).Put([]byte(name), []byte{byte(pos)})
	})
}
