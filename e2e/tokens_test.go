package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
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
	// The impersonation case: one token that may request and approve asks
	// for bob and approves "as" alice. The bot may not decide as anyone by
	// default; allowed to decide as alice, it still created the request.
	both := client.New(srv.URL, issue("both", "", "requests:write", "requests:approve", "requests:read"))
	own, err := both.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := both.Act(ctx, own.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); latch.ErrorCodeOf(err) != latch.CodeBotMayNotDecideAs || latch.ErrorKindOf(err) != latch.KindForbidden {
		t.Errorf("the bot approves its own request as alice: %v, want 403 bot_may_not_decide_as", err)
	}
	aliceOnly := `person.email == "alice@example.com"`
	if _, err := admin.UpdateBot(ctx, "ci", httpapi.BotUpdate{MayDecideAs: &aliceOnly}); err != nil {
		t.Fatal(err)
	}
	if _, err := both.Act(ctx, own.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); latch.ErrorCodeOf(err) != latch.CodeCreatorCannotDecide {
		t.Errorf("the bot, allowed to decide as alice, approves its own request: %v, want 403 creator_cannot_decide", err)
	}
	if got, err := admin.GetRequest(ctx, own.ID); err != nil || got.Status != latch.StatusPending || len(got.Approvals) != 0 {
		t.Errorf("after the refusals the request is %s with %d approvals (%v), want pending with none", got.Status, len(got.Approvals), err)
	}
	// Another bot, allowed to decide as alice, approves what ci asked for.
	if _, err := admin.CreateBotWith(ctx, httpapi.BotBody{Name: "chatops", MayDecideAs: aliceOnly}); err != nil {
		t.Fatal(err)
	}
	chatops, err := admin.IssueToken(ctx, httpapi.TokenBody{Bot: "chatops", Label: "chat", Scopes: []string{"requests:approve"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(srv.URL, approver).Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); latch.ErrorCodeOf(err) != latch.CodeCreatorCannotDecide {
		t.Errorf("ci's approve token on ci's request: %v, want creator_cannot_decide", err)
	}
	if _, err := client.New(srv.URL, chatops.Secret).Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatalf("approve by another bot, as alice: %v", err)
	}
	evs, err := admin.Events(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Actor != (latch.Actor{Email: "bob@example.com", Bot: "ci"}) || evs[1].Actor != (latch.Actor{Email: "alice@example.com", Bot: "chatops"}) {
		t.Errorf("audit actors = %+v, %+v; want the person and the bot on each", evs[0].Actor, evs[1].Actor)
	}

	// A rule that does not compile is refused when it is set, by the CLI
	// too, naming the rule and the reason.
	if _, stderr, code := cli(t, srv, "bots", "create", "broken", "--may-decide-as", `person.mail == "x"`); code == 0 ||
		!strings.Contains(stderr, "may_decide_as") || !strings.Contains(stderr, `no key "mail"`) {
		t.Errorf("latch bots create with a bad rule: exit %d, stderr %q; want a failure naming the rule and the reason", code, stderr)
	}
	if out, stderr, code := cli(t, srv, "bots", "update", "ci", "--may-decide-as", ""); code != 0 || !strings.Contains(out, "may_decide_as nobody") {
		t.Errorf("latch bots update ci --may-decide-as '': exit %d, %q %q", code, out, stderr)
	}

	// Revoked, expired, missing and unknown tokens are refused.
	list, err := admin.ListTokens(ctx)
	if err != nil || len(list) != 4 {
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
	for _, secret := range []string{writer, approver, short, chatops.Secret, adminToken} {
		if bytes.Contains(db, []byte(secret)) {
			t.Errorf("a token's secret is in the store file")
		}
		if bytes.Contains([]byte(logs), []byte(secret)) {
			t.Errorf("a token's secret is in the server log")
		}
	}
}
