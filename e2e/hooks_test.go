package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
)

// An on_request hook that approves on-call engineers outright and leaves
// everyone else to the approvers: auto-approval is a hook.
func TestOnRequestHookDecides(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := signing.Verify(r.Header, body, []byte(hookSecret), time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("on_request call with a bad signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var in struct {
			Hook    string        `json:"hook"`
			Request latch.Request `json:"request"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Hook != "on_request" {
			t.Errorf("on_request body = %s (%v)", body, err)
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(in.Request.Requester.Email, "oncall"):
			_, _ = io.WriteString(w, `{"decision":"approve","reason":"on call this week"}`)
		case strings.HasPrefix(in.Request.Requester.Email, "banned"):
			_, _ = io.WriteString(w, `{"decision":"deny","reason":"access suspended"}`)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(hook.Close)
	flow := approvalOnlyFlow + "hooks:\n  secret_env: LATCH_HOOK_SECRET\n  on_request: " + hook.URL + "/on-request\n"
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": flow}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	for _, tt := range []struct {
		user       string
		want       latch.Status
		wantReason string
	}{
		{"oncall-eng@example.com", latch.StatusApproved, "on call this week"},
		{"banned@example.com", latch.StatusDenied, "access suspended"},
		{"someone@example.com", latch.StatusPending, ""},
	} {
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "deploy", UserEmail: tt.user, Fields: map[string]any{"reason": "release"}})
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == latch.StatusPending {
			time.Sleep(200 * time.Millisecond) // give a wrong decision the time to land
			if r, _ := c.GetRequest(ctx, req.ID); r.Status != latch.StatusPending {
				t.Errorf("%s: %s, want it left to the approvers", tt.user, r.Status)
			}
			continue
		}
		waitStatus(t, c, req.ID, tt.want, 10*time.Second)
		evs, err := c.Events(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Actor.Bot != "on_request hook" || last.Reason != tt.wantReason {
			t.Errorf("%s: decided by %+v because %q, want the on_request hook because %q", tt.user, last.Actor, last.Reason, tt.wantReason)
		}
	}
}
