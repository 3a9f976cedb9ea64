package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
)

// vaultFlow grants through the webhook target, but its target knows people
// by a vault id that Latch must be told (no lookup by email).
func vaultFlow(url string) string {
	return `name: vault-access
approval:
  approvers: [alice@example.com]
fields:
  - {name: reason, type: string, required: true}
strategy:
  type: webhook
  url: ` + url + `
  secret_env: LATCH_WEBHOOK_SECRET
  targets: [{id: vault, label: Vault}]
identity:
  service: vault
  lookup_by_email: false
`
}

// hookedFlow finds identities with a get_identity hook.
func hookedFlow(url, hookURL string) string {
	return `name: hooked-access
approval:
  approvers: [alice@example.com]
fields:
  - {name: reason, type: string, required: true}
strategy:
  type: webhook
  url: ` + url + `
  secret_env: LATCH_WEBHOOK_SECRET
  targets: [{id: db, label: DB}]
identity:
  service: dbusers
  lookup_by_email: false
hooks:
  secret_env: LATCH_HOOK_SECRET
  get_identity: ` + hookURL + `
`
}

// identityHook is a fake get_identity hook: it verifies signatures, answers
// "<local part>-db" and counts calls.
func identityHook(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := signing.Verify(r.Header, body, []byte(hookSecret), time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("get_identity call with a bad signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var in struct {
			Hook    string `json:"hook"`
			Service string `json:"service"`
			User    struct {
				Email string `json:"email"`
			} `json:"user"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Hook != "get_identity" || in.Service != "dbusers" {
			t.Errorf("get_identity body = %s (%v)", body, err)
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"identity": strings.Split(in.User.Email, "@")[0] + "-db"})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestIdentity(t *testing.T) {
	tg := newTarget(t)
	hook, hookCalls := identityHook(t)
	srv := startServer(t, writeFlows(t, map[string]string{
		"prod-access.yaml":   webhookFlow(tg.srv.URL + "/hook"),
		"vault-access.yaml":  vaultFlow(tg.srv.URL + "/hook"),
		"hooked-access.yaml": hookedFlow(tg.srv.URL+"/hook", hook.URL+"/identity"),
	}), t.TempDir(), "--domain", "example.com")
	c := srv.client()
	ctx := context.Background()

	t.Run("a guest cannot request", func(t *testing.T) {
		_, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "mallory@other.example", Fields: map[string]any{"reason": "x"}})
		var le *latch.Error
		if !errors.As(err, &le) || le.Code != latch.CodeGuestCannotRequest || le.Kind != latch.KindForbidden {
			t.Fatalf("guest request: %v, want 403 guest_cannot_request", err)
		}
		u, err := c.GetUser(ctx, "mallory@other.example")
		if err != nil || u.User.Role != latch.RoleGuest {
			t.Errorf("mallory = %+v, %v; want a guest", u.User, err)
		}
	})

	t.Run("an unmapped user fails with the fix, and a retry after set-identity succeeds", func(t *testing.T) {
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "vault-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "x"}})
		if err != nil {
			t.Fatalf("a member of a listed domain could not request: %v", err)
		}
		if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		failed := waitStatus(t, c, req.ID, latch.StatusFailed, 10*time.Second)
		if failed.Failure == nil || failed.Failure.Code != "identity_not_found" ||
			!strings.Contains(failed.Failure.Message, "latch users set-identity bob@example.com vault ID") {
			t.Fatalf("failure = %+v, want identity_not_found naming the fix", failed.Failure)
		}
		tg.none(100 * time.Millisecond) // nothing was granted

		if out, stderr, code := cli(t, srv, "users", "set-role", "root@example.com", "--role", "admin"); code != 0 {
			t.Fatalf("set-role: exit %d: %s%s", code, out, stderr)
		}
		if out, stderr, code := cli(t, srv, "users", "set-identity", "bob@example.com", "vault", "bob-v"); code != 0 {
			t.Fatalf("set-identity: exit %d: %s%s", code, out, stderr)
		}
		if _, err := c.Act(ctx, req.ID, "retry", httpapi.ActionBody{As: "alice@example.com"}); latch.ErrorCodeOf(err) != latch.CodeAdminOnly {
			t.Errorf("retry by a member: %v, want admin_only", err)
		}
		if out, stderr, code := cli(t, srv, "retry", req.ID, "--as", "root@example.com"); code != 0 {
			t.Fatalf("retry: exit %d: %s%s", code, out, stderr)
		}
		esc := tg.next(10 * time.Second)
		if got := esc.Body["grant"].(map[string]any)["user"].(map[string]any)["identity"]; esc.Action != "escalate" || got != "bob-v" {
			t.Fatalf("after the retry: %s with identity %v, want escalate with bob-v", esc.Action, got)
		}
		waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)
	})

	t.Run("a hook's identity is stored and reused", func(t *testing.T) {
		for i := range 2 {
			req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "hooked-access", UserEmail: "carol@example.com", Fields: map[string]any{"reason": "x"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
				t.Fatal(err)
			}
			esc := tg.next(10 * time.Second)
			if got := esc.Body["grant"].(map[string]any)["user"].(map[string]any)["identity"]; got != "carol-db" {
				t.Errorf("request %d escalated with identity %v, want carol-db", i+1, got)
			}
			waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)
			if _, err := c.Act(ctx, req.ID, "revoke", httpapi.ActionBody{As: "carol@example.com"}); err != nil {
				t.Fatal(err)
			}
			if got := tg.next(10 * time.Second).Action; got != "deescalate" {
				t.Fatalf("action = %s, want deescalate", got)
			}
			waitStatus(t, c, req.ID, latch.StatusEnded, 5*time.Second)
		}
		if n := hookCalls.Load(); n != 1 {
			t.Errorf("get_identity hook called %d times for two grants, want 1", n)
		}
		v, err := c.GetUser(ctx, "carol@example.com")
		if err != nil || len(v.Identities) != 1 || v.Identities[0].ID != "carol-db" || v.Identities[0].Source != latch.IdentityFromHook {
			t.Errorf("carol = %+v, %v; want the hook's identity stored", v, err)
		}
	})

	t.Run("admin routes", func(t *testing.T) {
		w, err := c.Whoami(ctx)
		if err != nil || !w.Principal.Admin {
			t.Errorf("whoami = %+v, %v; want the admin token", w, err)
		}
		if _, err := c.AddDomain(ctx, "Corp.Example"); err != nil {
			t.Fatal(err)
		}
		ds, err := c.ListDomains(ctx)
		if err != nil || len(ds) != 2 || ds[0].Name != "corp.example" || ds[1].Name != "example.com" {
			t.Errorf("domains = %+v, %v; want corp.example and example.com", ds, err)
		}
		if err := c.RemoveDomain(ctx, "nope.example"); latch.ErrorCodeOf(err) != "domain_not_found" {
			t.Errorf("removing an unknown domain: %v, want domain_not_found", err)
		}
		csv, err := c.ExportUsers(ctx)
		if err != nil || !strings.Contains(string(csv), "bob@example.com,member,person,vault,bob-v") {
			t.Errorf("export = %q, %v; want bob's vault identity", csv, err)
		}
		if _, err := c.ImportUsers(ctx, []byte("email,role\nnot-an-email,member\n")); latch.ErrorCodeOf(err) != "invalid_csv" {
			t.Errorf("import of a bad file: %v, want invalid_csv", err)
		}
		if _, err := c.SetRole(ctx, "bob@example.com", "owner"); latch.ErrorCodeOf(err) != "invalid_role" {
			t.Errorf("set-role owner: %v, want invalid_role", err)
		}
	})
}
