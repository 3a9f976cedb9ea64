package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// script is a server that answers each call with the next of its answers
// and records what it was sent.
type script struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	calls   []*http.Request
	bodies  []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, r)
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	if n >= len(s.answers) {
		http.Error(w, "no more answers", http.StatusTeapot)
		return
	}
	s.answers[n](w)
}

func status(code int, headers ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if code >= 300 {
			_ = json.NewEncoder(w).Encode(httpapi.ErrorBody{Error: httpapi.ErrorDetail{Code: "code_" + http.StatusText(code), Message: "no"}})
			return
		}
		_ = json.NewEncoder(w).Encode(latch.Request{ID: "req_01", Status: latch.StatusPending})
	}
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func newTestClient(t *testing.T, s *script) (*Client, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := New(srv.URL, "tok")
	c.Retry = Retry{Attempts: 4, Base: time.Millisecond, Max: 5 * time.Second}
	var waits []time.Duration
	c.OnRetry = func(_, _ string, _ error, d time.Duration) { waits = append(waits, d) }
	return c, &waits
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	create := func(c *Client) error {
		_, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "f", UserEmail: "a@example.com"})
		return err
	}
	act := func(c *Client) error {
		_, err := c.Act(ctx, "req_01", "approve", httpapi.ActionBody{As: "a@example.com"})
		return err
	}
	get := func(c *Client) error {
		_, err := c.GetRequest(ctx, "req_01")
		return err
	}
	for _, tt := range []struct {
		name      string
		call      func(*Client) error
		answers   []func(http.ResponseWriter)
		wantCalls int
		wantCode  string // "" for success
	}{
		{"a 429 is tried again, even for a POST without a key", act,
			[]func(http.ResponseWriter){status(429, "Retry-After", "0"), status(202)}, 2, ""},
		{"a GET is tried again after a 503", get,
			[]func(http.ResponseWriter){status(503), status(502), status(200)}, 3, ""},
		{"a GET is tried again after a dropped connection", get,
			[]func(http.ResponseWriter){hangUp, status(200)}, 2, ""},
		{"a create (with its key) is tried again after a dropped connection", create,
			[]func(http.ResponseWriter){hangUp, status(500), status(202)}, 3, ""},
		{"an action without a key is not tried again after a 500", act,
			[]func(http.ResponseWriter){status(500), status(202)}, 1, "code_Internal Server Error"},
		{"a 4xx is never tried again", get,
			[]func(http.ResponseWriter){status(404), status(200)}, 1, "code_Not Found"},
		{"the tries are bounded", get,
			[]func(http.ResponseWriter){status(503), status(503), status(503), status(503), status(200)}, 4, "code_Service Unavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{answers: tt.answers}
			c, _ := newTestClient(t, s)
			err := tt.call(c)
			if got := len(s.calls); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
			switch {
			case tt.wantCode == "" && err != nil:
				t.Errorf("err = %v, want success", err)
			case tt.wantCode != "" && latch.ErrorCodeOf(err) != tt.wantCode:
				t.Errorf("err = %v (code %q), want code %q", err, latch.ErrorCodeOf(err), tt.wantCode)
			}
		})
	}
}

// Every try of a create sends the same Idempotency-Key and the same body,
// so the server can answer a repeat with the first request.
func TestCreateSendsOneKeyOnEveryTry(t *testing.T) {
	s := &script{answers: []func(http.ResponseWriter){hangUp, status(429, "Retry-After", "0"), status(202)}}
	c, _ := newTestClient(t, s)
	if _, err := c.CreateRequest(context.Background(), httpapi.CreateBody{Flow: "f", UserEmail: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 3 {
		t.Fatalf("%d calls, want 3", len(s.calls))
	}
	key := s.calls[0].Header.Get("Idempotency-Key")
	if !strings.HasPrefix(key, "latch-") || len(key) < 20 {
		t.Errorf("Idempotency-Key = %q, want a generated latch-... key", key)
	}
	for i, r := range s.calls {
		if r.Header.Get("Idempotency-Key") != key || s.bodies[i] != s.bodies[0] || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("try %d: key %q, body %q, type %q; want the first try's", i+1, r.Header.Get("Idempotency-Key"), s.bodies[i], r.Header.Get("Content-Type"))
		}
	}
	s2 := &script{answers: []func(http.ResponseWriter){status(202)}}
	c2, _ := newTestClient(t, s2)
	if _, err := c2.CreateRequestWithKey(context.Background(), "ci-build-42", httpapi.CreateBody{Flow: "f", UserEmail: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := s2.calls[0].Header.Get("Idempotency-Key"); got != "ci-build-42" {
		t.Errorf("Idempotency-Key = %q, want the caller's", got)
	}
	if NewIdempotencyKey() == NewIdempotencyKey() {
		t.Errorf("two generated keys are equal")
	}
}

func TestBackoff(t *testing.T) {
	s := &script{answers: []func(http.ResponseWriter){status(429, "Retry-After", "2"), status(200)}}
	c, waits := newTestClient(t, s)
	c.Retry.Max = 100 * time.Millisecond // so the test does not wait the 2s asked for
	if _, err := c.GetRequest(context.Background(), "req_01"); err != nil {
		t.Fatal(err)
	}
	if len(*waits) != 1 || (*waits)[0] != 100*time.Millisecond {
		t.Errorf("waits %v, want one of 100ms: Retry-After capped by Retry.Max", *waits)
	}

	c.Retry = Retry{Attempts: 10, Base: 100 * time.Millisecond, Max: time.Second}
	seen := map[time.Duration]bool{}
	for try := 1; try <= 8; try++ {
		for range 20 {
			d := c.backoff(try, 0)
			ceiling := min(100*time.Millisecond<<(try-1), time.Second)
			if d <= 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want in (0, %s]", try, d, ceiling)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("160 backoffs took only %d values: no jitter?", len(seen))
	}
	if d := c.backoff(1, 3*time.Second); d != time.Second {
		t.Errorf("a Retry-After over Max waits %s, want Max", d)
	}
	if d := c.backoff(1, 200*time.Millisecond); d < 200*time.Millisecond || d > 300*time.Millisecond {
		t.Errorf("Retry-After 200ms waits %s, want 200ms plus at most 100ms of jitter", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for give, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 0 ":                           0,
		"-1":                            0,
		"soon":                          0,
		"Wed, 02 Dec 2026 09:00:05 GMT": 5 * time.Second,
		"Wed, 02 Dec 2026 08:59:00 GMT": 0,
	} {
		if got := parseRetryAfter(give, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", give, got, want)
		}
	}
}

// A cancelled context stops the waiting at once.
func TestRetryStopsWithTheContext(t *testing.T) {
	s := &script{answers: []func(http.ResponseWriter){status(429, "Retry-After", "60"), status(200)}}
	c, _ := newTestClient(t, s)
	c.Retry.Max = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	c.OnRetry = func(string, string, error, time.Duration) { cancel() }
	_, err := c.GetRequest(ctx, "req_01")
	if latch.ErrorCodeOf(err) != "code_Too Many Requests" || len(s.calls) != 1 {
		t.Errorf("err = %v after %d calls, want the 429 after one call", err, len(s.calls))
	}
}
