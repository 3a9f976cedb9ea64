package tokens_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestIssueAndCheck(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	svc := &tokens.Service{Store: st, Clock: c}

	if _, err := svc.CreateBot(ctx, "Bad Name"); latch.ErrorCodeOf(err) != "invalid_bot_name" {
		t.Errorf("bad bot name: %v", err)
	}
	if _, err := svc.CreateBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		in       tokens.IssueInput
		wantCode string
	}{
		{"unknown bot", tokens.IssueInput{Bot: "nope", Label: "x", Scopes: []string{tokens.ScopeRead}}, "bot_not_found"},
		{"no label", tokens.IssueInput{Bot: "ci", Scopes: []string{tokens.ScopeRead}}, "missing_label"},
		{"no scopes", tokens.IssueInput{Bot: "ci", Label: "x"}, "missing_scopes"},
		{"unknown scope", tokens.IssueInput{Bot: "ci", Label: "x", Scopes: []string{"requests:delete"}}, "invalid_scope"},
	} {
		if _, _, err := svc.Issue(ctx, tt.in); latch.ErrorCodeOf(err) != tt.wantCode {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.wantCode)
		}
	}
	secret, tok, err := svc.Issue(ctx, tokens.IssueInput{Bot: "ci", Label: "deploys", Scopes: []string{tokens.ScopeWrite, tokens.ScopeRead, tokens.ScopeRead}, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, tokens.Prefix) || tok.Hash != tokens.Hash(secret) || strings.Contains(tok.Hash, secret) {
		t.Errorf("secret %q and hash %q: want a prefixed secret stored only as its hash", secret[:8], tok.Hash)
	}
	if strings.Join(tok.Scopes, ",") != "requests:read,requests:write" || tok.Owner != tokens.BotEmail("ci") {
		t.Errorf("token = %+v, want sorted unique scopes owned by the bot", tok)
	}
	if got, err := svc.Check(ctx, secret); err != nil || got.ID != tok.ID {
		t.Errorf("Check of a live token = %+v, %v", got, err)
	}
	if _, err := svc.Check(ctx, secret+"x"); latch.ErrorCodeOf(err) != "invalid_token" {
		t.Errorf("a wrong secret: %v, want invalid_token", err)
	}
	c.now = c.now.Add(time.Hour)
	if _, err := svc.Check(ctx, secret); latch.ErrorCodeOf(err) != "token_expired" || latch.ErrorKindOf(err) != latch.KindUnauthorized {
		t.Errorf("at its expiry: %v, want token_expired", err)
	}
	second, tok2, err := svc.Issue(ctx, tokens.IssueInput{Bot: "ci", Label: "chatops", Scopes: []string{tokens.ScopeApprove}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Revoke(ctx, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Check(ctx, second); latch.ErrorCodeOf(err) != "token_revoked" {
		t.Errorf("revoked: %v, want token_revoked", err)
	}
	if err := svc.Revoke(ctx, "tok_nope"); latch.ErrorCodeOf(err) != "token_not_found" {
		t.Errorf("revoking an unknown token: %v", err)
	}
	if err := svc.DeleteBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if bots, _ := svc.Bots(ctx); len(bots) != 0 {
		t.Errorf("bots after delete = %v", bots)
	}
	if err := svc.DeleteBot(ctx, "ci"); latch.ErrorCodeOf(err) != "bot_not_found" {
		t.Errorf("deleting it again: %v", err)
	}
}
