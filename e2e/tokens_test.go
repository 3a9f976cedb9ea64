package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

func TestBotTokens(t *testing.T) {
	tg := newTarget(t)
	data := t.TempDir()
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), data)
	admin := srv.client()
	ctx := context.Background()

	if _, err := admin.CreateBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateBot(ctx, "ci"); latch.ErrorCodeOf(err) != "bot_exists" {
		t.Errorf("creating the bot twice: %v, want bot_exists", err)
	}
	issue := func(label string, expires string, scopes ...string) string {
		t.Helper()
		out, err := admin.IssueToken(ctx, httpapi.TokenBody{Bot: "ci", Label: label, Scopes: scopes, ExpiresIn: expires})
		if err != nil {
			t.Fatal(err)
		}
		return out.Secret
	}
	writer := issue("deploys", "90d", "requests:write", "requests:read")
	approver := issue("chatops", "", "requests:approve", "requests:read")
	ci := client.New(srv.URL, writer)

	req, err := ci.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "deploy"}})
	if err != nil {
		t.Fatalf("a write token could not request on a person's behalf: %v", err)
	}
	if req.CreatedBy != (latch.Actor{Email: "bob@example.com", Bot: "ci"}) {
		t.Errorf("created_by = %+v, want bob via the ci bot", req.CreatedBy)
	}
	if _, err := ci.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); latch.ErrorCodeOf(err) != "missing_scope" || latch.ErrorKindOf(err) != latch.KindForbidden {
		t.Errorf("approve with a write token: %v, want 403 missing_scope", err)
	}
	if _, err := ci.ListUsers(ctx); latch.ErrorCodeOf(err) != "missing_scope" {
		t.Errorf("admin route with a write token: %v, want missing_scope", err)
	}
	if _, err := client.New(srv.URL, approver).Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatalf("approve with an approve token: %v", err)
	}
	evs, err := admin.Events(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Actor != (latch.Actor{Email: "bob@example.com", Bot: "ci"}) || evs[1].Actor != (latch.Actor{Email: "alice@example.com", Bot: "ci"}) {
		t.Errorf("audit actors = %+v, %+v; want the person and the bot on each", evs[0].Actor, evs[1].Actor)
	}

	// Revoked, expired, missing and unknown tokens are refused.
	list, err := admin.ListTokens(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("tokens = %+v, %v", list, err)
	}
	if err := admin.RevokeToken(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.GetRequest(ctx, req.ID); latch.ErrorCodeOf(err) != "token_revoked" || latch.ErrorKindOf(err) != latch.KindUnauthorized {
		t.Errorf("revoked token: %v, want 401 token_revoked", err)
	}
	short := issue("short", "1s", "requests:read")
	time.Sleep(1100 * time.Millisecond) // let the token's one second pass
	if _, err := client.New(srv.URL, short).GetRequest(ctx, req.ID); latch.ErrorCodeOf(err) != "token_expired" {
		t.Errorf("expired token: %v, want token_expired", err)
	}
	if _, err := client.New(srv.URL, "").GetRequest(ctx, req.ID); latch.ErrorCodeOf(err) != "missing_token" {
		t.Errorf("no token: %v, want missing_token", err)
	}
	if _, err := client.New(srv.URL, "latch_nope").GetRequest(ctx, req.ID); latch.ErrorCodeOf(err) != "invalid_token" {
		t.Errorf("unknown token: %v, want invalid_token", err)
	}
	if err := admin.DeleteBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(srv.URL, approver).GetRequest(ctx, req.ID); latch.ErrorCodeOf(err) != "token_revoked" {
		t.Errorf("token of a deleted bot: %v, want token_revoked", err)
	}

	// No secret is kept at rest or written to a log.
	srv.stop()
	db, err := os.ReadFile(filepath.Join(data, "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := srv.logs.String()
	for _, secret := range []string{writer, approver, short, adminToken} {
		if bytes.Contains(db, []byte(secret)) {
			t.Errorf("a token's secret is in the store file")
		}
		if bytes.Contains([]byte(logs), []byte(secret)) {
			t.Errorf("a token's secret is in the server log")
		}
	}
}
