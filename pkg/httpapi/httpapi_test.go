package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLimiter(t *testing.T) {
	clock := &stepClock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	l := &limiter{limit: RateLimit{Rate: 2, Burst: 3}, clock: clock, buckets: map[string]*bucket{}}
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("call %d of the burst refused", i+1)
		}
	}
	ok, retry := l.allow("a")
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("fourth call: allowed %v, retry after %s; want refused, 500ms", ok, retry)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Errorf("another caller is limited by the first one's calls")
	}
	clock.add(500 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Errorf("after the wait the call is still refused")
	}
	if ok, _ := l.allow("a"); ok {
		t.Errorf("the bucket refilled more than the rate allows")
	}
	clock.add(time.Hour)
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Errorf("after an hour, call %d refused: the bucket should hold the burst", i+1)
		}
	}
	if ok, _ := l.allow("a"); ok {
		t.Errorf("the bucket holds more than the burst")
	}
	var off *limiter
	if ok, _ := off.allow("a"); !ok {
		t.Errorf("a nil limiter refused a call")
	}
}

func TestIdempotentID(t *testing.T) {
	a := Principal{Name: "ci", TokenID: "tok_1"}
	b := Principal{Name: "ci", TokenID: "tok_2"}
	if idempotentID(a, "k1") != idempotentID(a, "k1") {
		t.Errorf("the same key from the same caller names different requests")
	}
	if idempotentID(a, "k1") == idempotentID(b, "k1") {
		t.Errorf("the same key from two tokens names the same request")
	}
	if idempotentID(a, "k1") == idempotentID(a, "k2") {
		t.Errorf("two keys name the same request")
	}
	if id := idempotentID(a, "k1"); !strings.HasPrefix(id, "req_") || len(id) != 30 {
		t.Errorf("id %q does not look like a request id", id)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body, wantCode string
	}{
		{"good", `{"flow":"f","user_email":"a@example.com","fields":{"x":1}}`, ""},
		{"empty", ``, "bad_json"},
		{"not an object", `[1]`, "bad_json"},
		{"unknown key", `{"flow":"f","colour":1}`, "bad_json"},
		{"wrong type", `{"flow":["f"]}`, "bad_json"},
		{"trailing data", `{"flow":"f"} x`, "bad_json"},
		{"too large", `{"flow":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body CreateBody
			err := decode(httptest.NewRequest(http.MethodPost, "/v1/requests", strings.NewReader(tt.body)), &body)
			if got := codeOf(err); got != tt.wantCode {
				t.Errorf("decode = %v (%s), want code %q", err, got, tt.wantCode)
			}
			if err != nil && StatusOf(err) >= 500 {
				t.Errorf("a bad body maps to %d", StatusOf(err))
			}
		})
	}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	return latch.ErrorCodeOf(err)
}

// FuzzDecode: no body makes the decoders panic, and every refusal is a
// client error with a code and a message.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"flow":"f","user_email":"a@example.com","fields":{"reason":"x","duration":"1h"},"context":{"a":[1,2]}}`,
		`{"as":"a@example.com","reason":"ok"}`, `{"role":"admin"}`, `{"bot":"ci","scopes":["admin"],"expires_in":"90d"}`, `{`, `null`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := []any{&CreateBody{}, &ActionBody{}, &RoleBody{}, &IdentityBody{}, &DomainBody{}, &BotBody{}, &TokenBody{}}
		for _, v := range targets {
			err := decode(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(data))), v)
			if err == nil {
				continue
			}
			if st := StatusOf(err); st != http.StatusBadRequest && st != http.StatusRequestEntityTooLarge {
				t.Fatalf("decode error maps to %d: %v", st, err)
			}
			if latch.ErrorCodeOf(err) == "internal" || latch.ErrorMessageOf(err) == "" {
				t.Fatalf("decode error without code or message: %v", err)
			}
		}
	})
}
