package slackapp_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// Slack's documented example of a signed slash command.
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = "1531420618"
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSignatureMatchesSlacksExample(t *testing.T) {
	if got := slackapp.Signature([]byte(docSecret), docTimestamp, []byte(docBody)); got != docSignature {
		t.Errorf("Signature = %s, want %s", got, docSignature)
	}
	ts, sig := slacktest.Sign([]byte(docSecret), time.Unix(1531420618, 0), []byte(docBody))
	if ts != docTimestamp || sig != docSignature {
		t.Errorf("slacktest.Sign = %s %s, want %s %s", ts, sig, docTimestamp, docSignature)
	}
	now := time.Unix(1531420618, 0).Add(time.Minute)
	if err := slackapp.CheckSignature([]byte(docSecret), now, docTimestamp, docSignature, []byte(docBody)); err != nil {
		t.Errorf("CheckSignature: %v", err)
	}
}

var (
	secret = []byte("s3cr3t-signing-secret")
	now    = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock  = latch.ClockFunc(func() time.Time { return now })
)

const maxBody = 64

func TestVerify(t *testing.T) {
	body := "command=%2Flatch&text=prod"
	signed := func(ts time.Time, key []byte, b string) http.Header {
		timestamp, sig := slacktest.Sign(key, ts, []byte(b))
		return http.Header{slackapp.HeaderTimestamp: {timestamp}, slackapp.HeaderSignature: {sig}}
	}
	tests := []struct {
		name       string
		header     http.Header
		body       string
		wantStatus int
		wantCode   string
	}{
		{name: "good signature passes the body on", header: signed(now, secret, body), body: body, wantStatus: http.StatusOK},
		{name: "within the window in the past", header: signed(now.Add(-5*time.Minute), secret, body), body: body, wantStatus: http.StatusOK},
		{name: "within the window in the future", header: signed(now.Add(5*time.Minute), secret, body), body: body, wantStatus: http.StatusOK},
		{name: "empty body signed", header: signed(now, secret, ""), body: "", wantStatus: http.StatusOK},
		{name: "body of exactly the limit", header: signed(now, secret, strings.Repeat("a", maxBody)), body: strings.Repeat("a", maxBody), wantStatus: http.StatusOK},
		{name: "tampered body", header: signed(now, secret, body), body: body + "x", wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "wrong secret", header: signed(now, []byte("other"), body), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "stale: older than 5 minutes", header: signed(now.Add(-5*time.Minute-time.Second), secret, body), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "future: more than 5 minutes ahead", header: signed(now.Add(5*time.Minute+time.Second), secret, body), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "missing both headers", header: http.Header{}, body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "missing timestamp", header: http.Header{slackapp.HeaderSignature: signed(now, secret, body)[slackapp.HeaderSignature]}, body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "missing signature", header: http.Header{slackapp.HeaderTimestamp: signed(now, secret, body)[slackapp.HeaderTimestamp]}, body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "malformed signature: no v0 prefix", header: withSig(signed(now, secret, body), func(s string) string { return strings.TrimPrefix(s, "v0=") }), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "malformed signature: v1 prefix", header: withSig(signed(now, secret, body), func(s string) string { return "v1" + s[2:] }), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "malformed signature: not hex", header: withSig(signed(now, secret, body), func(s string) string { return s[:len(s)-1] + "z" }), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "malformed signature: truncated", header: withSig(signed(now, secret, body), func(s string) string { return s[:len(s)-2] }), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "malformed signature: upper-case hex", header: withSig(signed(now, secret, body), strings.ToUpper), body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "malformed timestamp", header: http.Header{slackapp.HeaderTimestamp: {"12e9"}, slackapp.HeaderSignature: signed(now, secret, body)[slackapp.HeaderSignature]}, body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "negative timestamp", header: http.Header{slackapp.HeaderTimestamp: {"-1"}, slackapp.HeaderSignature: signed(now, secret, body)[slackapp.HeaderSignature]}, body: body, wantStatus: http.StatusUnauthorized, wantCode: "invalid_signature"},
		{name: "oversized body", header: signed(now, secret, strings.Repeat("a", maxBody+1)), body: strings.Repeat("a", maxBody+1), wantStatus: http.StatusRequestEntityTooLarge, wantCode: "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called bool
			var gotBody string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("read restored body: %v", err)
				}
				gotBody = string(b)
				w.WriteHeader(http.StatusOK)
			})
			req := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			slackapp.Verify(secret, clock, maxBody, next).ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == http.StatusOK {
				if !called || gotBody != tt.body {
					t.Errorf("next called=%v with body %q, want %q", called, gotBody, tt.body)
				}
				return
			}
			if called {
				t.Error("next was called for a refused request")
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if want := `{"error":{"code":"` + tt.wantCode + `"`; !strings.HasPrefix(rec.Body.String(), want) {
				t.Errorf("body = %s, want prefix %s", rec.Body, want)
			}
		})
	}
}

func withSig(h http.Header, f func(string) string) http.Header {
	h.Set(slackapp.HeaderSignature, f(h.Get(slackapp.HeaderSignature)))
	return h
}

// An oversized body whose length the client does not announce is still cut
// off at the limit.
func TestVerifyChunkedOversizedBody(t *testing.T) {
	body := strings.Repeat("a", maxBody+1)
	ts, sig := slacktest.Sign(secret, now, []byte(body))
	req := httptest.NewRequest(http.MethodPost, "/slack/commands", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set(slackapp.HeaderTimestamp, ts)
	req.Header.Set(slackapp.HeaderSignature, sig)
	rec := httptest.NewRecorder()
	slackapp.Verify(secret, clock, maxBody, http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", rec.Code)
	}
}

func TestCheckSignatureReasons(t *testing.T) {
	body := []byte("payload")
	ts, sig := slacktest.Sign(secret, now, body)
	tests := []struct {
		name       string
		give       [2]string
		giveNow    time.Time
		wantReason error
	}{
		{name: "no timestamp", give: [2]string{"", sig}, giveNow: now, wantReason: slackapp.ErrMissingTimestamp},
		{name: "no signature", give: [2]string{ts, ""}, giveNow: now, wantReason: slackapp.ErrMissingSignature},
		{name: "timestamp not a number", give: [2]string{"soon", sig}, giveNow: now, wantReason: slackapp.ErrBadTimestamp},
		{name: "stale", give: [2]string{ts, sig}, giveNow: now.Add(6 * time.Minute), wantReason: slackapp.ErrStaleTimestamp},
		{name: "future", give: [2]string{ts, sig}, giveNow: now.Add(-6 * time.Minute), wantReason: slackapp.ErrStaleTimestamp},
		{name: "malformed", give: [2]string{ts, "v0=abc"}, giveNow: now, wantReason: slackapp.ErrBadSignature},
		{name: "mismatch", give: [2]string{ts, "v0=" + strings.Repeat("0", 64)}, giveNow: now, wantReason: slackapp.ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := slackapp.CheckSignature(secret, tt.giveNow, tt.give[0], tt.give[1], body)
			if !errors.Is(err, tt.wantReason) {
				t.Errorf("err = %v, want %v", err, tt.wantReason)
			}
			if le, ok := errors.AsType[*latch.Error](err); !ok || le.Kind != latch.KindUnauthorized {
				t.Errorf("err = %#v, want a *latch.Error of kind unauthorized", err)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	good := []byte("command=%2Flatch&text=")
	ts, sig := slacktest.Sign(secret, now, good)
	f.Add(ts, sig, good)
	f.Add(docTimestamp, docSignature, []byte(docBody))
	f.Add("", "", []byte(""))
	f.Add("-1", "v0=", []byte("x"))
	f.Add("99999999999999999999", "v0="+strings.Repeat("g", 64), []byte("x"))
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		var called bool
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			b, _ := io.ReadAll(r.Body)
			if string(b) != string(body) {
				t.Errorf("next saw body %q, want %q", b, body)
			}
		})
		req := httptest.NewRequest(http.MethodPost, "/slack/events", strings.NewReader(string(body)))
		req.Header.Set(slackapp.HeaderTimestamp, timestamp)
		req.Header.Set(slackapp.HeaderSignature, signature)
		rec := httptest.NewRecorder()
		slackapp.Verify(secret, clock, 1<<10, next).ServeHTTP(rec, req)

		valid := slackapp.CheckSignature(secret, now, timestamp, signature, body) == nil
		switch {
		case len(body) > 1<<10 && called:
			t.Fatal("an oversized body reached next")
		case called && !valid:
			t.Fatalf("next called for timestamp %q signature %q", timestamp, signature)
		case !called && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusRequestEntityTooLarge:
			t.Fatalf("refused with status %d", rec.Code)
		}
	})
}

func TestVerifyNilClockIsTheSystemClock(t *testing.T) {
	body := []byte("payload=%7B%7D")
	ts, sig := slacktest.Sign(secret, time.Now(), body)
	req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(string(body)))
	req.Header.Set(slackapp.HeaderTimestamp, ts)
	req.Header.Set(slackapp.HeaderSignature, sig)
	rec := httptest.NewRecorder()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	slackapp.Verify(secret, nil, maxBody, ok).ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Errorf("status = %d, want 204", rec.Code)
	}
}
