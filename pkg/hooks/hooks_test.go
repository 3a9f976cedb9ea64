package hooks_test

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

	"github.com/latchhq/latch/pkg/hooks"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
)

const secret = "hook-secret"

func env(name string) (string, bool) {
	if name == "HOOK_SECRET" {
		return secret, true
	}
	return "", false
}

// receiver is a hook endpoint that verifies signatures, records bodies and
// answers what the test says.
type receiver struct {
	mu     sync.Mutex
	bodies []map[string]any
	header http.Header
	status int
	answer string
	block  chan struct{}
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{status: 200, answer: `{}`}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := signing.Verify(r.Header, body, []byte(secret), time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("hook call with a bad signature: %v", err)
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, m)
		rc.header = r.Header.Clone()
		status, answer, block := rc.status, rc.answer, rc.block
		rc.mu.Unlock()
		if block != nil {
			<-block
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

func flow(url string) *latch.Flow {
	return &latch.Flow{Name: "prod", File: "flows/prod.yaml", Strategy: &latch.Strategy{Type: "webhook"},
		Identity: latch.IdentityConfig{Service: "vault"},
		Hooks:    latch.Hooks{SecretEnv: "HOOK_SECRET", GetIdentity: url, OnApprove: url}}
}

func TestGetIdentity(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		answer   string
		want     string
		wantCode string
		wantPerm bool
	}{
		{"an identity", 200, `{"identity":" bob-vault "}`, "bob-vault", "", false},
		{"an empty identity", 200, `{"identity":""}`, "", "", false},
		{"no identity", 200, `{}`, "", "", false},
		{"null identity", 200, `{"identity":null}`, "", "", false},
		{"not found", 404, `{"error":"no such user"}`, "", "", false},
		{"not JSON", 200, `ok`, "", "hook_bad_answer", true},
		{"not a string", 200, `{"identity":42}`, "", "hook_bad_answer", true},
		{"refused", 403, `{"error":"bad key"}`, "", "hook_refused", true},
		{"server error", 503, ``, "", "hook_failed", false},
		{"throttled", 429, ``, "", "hook_failed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, srv := newReceiver(t)
			rc.status, rc.answer = tt.status, tt.answer
			h := hooks.New(env, nil)
			got, err := h.GetIdentity(context.Background(), flow(srv.URL), latch.User{ID: "usr_1", Email: "bob@example.com", Role: latch.RoleMember, Kind: latch.KindPerson})
			if tt.wantCode != "" {
				if latch.ErrorCodeOf(err) != tt.wantCode || latch.IsPermanent(err) != tt.wantPerm {
					t.Fatalf("GetIdentity = %q, %v (permanent %v); want %s, permanent %v", got, err, latch.IsPermanent(err), tt.wantCode, tt.wantPerm)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("GetIdentity = %q, %v; want %q", got, err, tt.want)
			}
			b := rc.bodies[0]
			user := b["user"].(map[string]any)
			if b["hook"] != "get_identity" || b["flow"] != "prod" || b["service"] != "vault" || user["email"] != "bob@example.com" || user["role"] != "member" {
				t.Errorf("body = %v", b)
			}
		})
	}
}

func TestCallHook(t *testing.T) {
	rc, srv := newReceiver(t)
	h := hooks.New(env, nil)
	r := latch.Request{ID: "req_1", Flow: "prod", Status: latch.StatusApproved, Version: 3}
	if a, err := h.CallHook(context.Background(), flow(srv.URL), latch.HookOnApprove, r); err != nil || a != (latch.HookAnswer{}) {
		t.Fatalf("CallHook = %+v, %v; want an empty answer", a, err)
	}
	b := rc.bodies[0]
	if b["hook"] != "on_approve" || b["request"].(map[string]any)["id"] != "req_1" {
		t.Errorf("body = %v", b)
	}
	if got := rc.header.Get("Idempotency-Key"); got != "req_1:on_approve:3" {
		t.Errorf("Idempotency-Key = %q", got)
	}
	if _, err := h.CallHook(context.Background(), flow(srv.URL), latch.HookOnDeny, r); !latch.IsPermanent(err) {
		t.Errorf("a point with no URL: %v, want a permanent error", err)
	}
	for answer, want := range map[string]latch.HookAnswer{
		`{"decision":"approve","reason":"on call"}`: {Decision: "approve", Reason: "on call"},
		`{"decision":"deny"}`:                       {Decision: "deny"},
		``:                                          {},
	} {
		rc.answer = answer
		if a, err := h.CallHook(context.Background(), flow(srv.URL), latch.HookOnApprove, r); err != nil || a != want {
			t.Errorf("answer %q: CallHook = %+v, %v; want %+v", answer, a, err, want)
		}
	}
	for _, bad := range []string{`{"decision":"maybe"}`, `yes`} {
		rc.answer = bad
		if _, err := h.CallHook(context.Background(), flow(srv.URL), latch.HookOnApprove, r); latch.ErrorCodeOf(err) != "hook_bad_answer" || !latch.IsPermanent(err) {
			t.Errorf("answer %q: %v, want a permanent hook_bad_answer", bad, err)
		}
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.block = make(chan struct{})
	defer close(rc.block)
	h := hooks.New(env, &http.Client{Timeout: 50 * time.Millisecond})
	_, err := h.GetIdentity(context.Background(), flow(srv.URL), latch.User{Email: "bob@example.com"})
	if latch.ErrorCodeOf(err) != "hook_timeout" || latch.IsPermanent(err) {
		t.Errorf("a hook that does not answer: %v, want a retryable hook_timeout", err)
	}
}

func TestCheck(t *testing.T) {
	h := hooks.New(env, nil)
	ok := flow("https://h.example/x")
	missing := flow("https://h.example/x")
	missing.Name, missing.Hooks.SecretEnv = "other", "NOT_SET"
	none := &latch.Flow{Name: "plain"}
	if err := h.Check([]*latch.Flow{ok, none}); err != nil {
		t.Errorf("Check of good flows: %v", err)
	}
	err := h.Check([]*latch.Flow{ok, missing, none})
	if err == nil || !strings.Contains(err.Error(), `flow "other"`) || !strings.Contains(err.Error(), "NOT_SET") {
		t.Errorf("Check with a missing secret = %v, want it to name the flow and the variable", err)
	}
	if _, err := h.GetIdentity(context.Background(), missing, latch.User{Email: "b@example.com"}); latch.ErrorCodeOf(err) != "hook_secret_missing" || !latch.IsPermanent(err) {
		t.Errorf("a call without its secret: %v, want a permanent hook_secret_missing", err)
	}
}
