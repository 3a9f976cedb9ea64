package tokens_test

import (
	"context"
	"errors"
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

	if _, err := svc.CreateBot(ctx, "Bad Name", tokens.BotRules{}); latch.ErrorCodeOf(err) != "invalid_bot_name" {
		t.Errorf("bad bot name: %v", err)
	}
	if _, err := svc.CreateBot(ctx, "ci", tokens.BotRules{}); err != nil {
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

// A bot's rules are checked when they are set, kept, and judge the people
// it names: by default it requests for the organisation's people and
// decides as nobody.
func TestBotRules(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	svc := &tokens.Service{Store: st, Clock: &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}}

	for _, tt := range []struct {
		name  string
		rules tokens.BotRules
		rule  string
	}{
		{"bad may_request_for", tokens.BotRules{MayRequestFor: `person.email.endsWith("@example.com"`}, "may_request_for"},
		{"bad may_decide_as", tokens.BotRules{MayDecideAs: `person.mail == "x"`}, "may_decide_as"},
		{"not a bool", tokens.BotRules{MayDecideAs: `person.email`}, "may_decide_as"},
	} {
		_, err := svc.CreateBot(ctx, "ci", tt.rules)
		le, ok := errors.AsType[*latch.Error](err)
		if !ok || le.Code != "invalid_rule" || le.Details["rule"] != tt.rule || !strings.Contains(le.Message, tt.rule) || le.Details["reason"] == "" {
			t.Errorf("%s: %v (%+v), want invalid_rule naming %s and the reason", tt.name, err, le, tt.rule)
		}
	}
	if bots, _ := svc.Bots(ctx); len(bots) != 0 {
		t.Fatalf("a bot with a bad rule was created: %+v", bots)
	}

	bot, err := svc.CreateBot(ctx, "ci", tokens.BotRules{})
	if err != nil {
		t.Fatal(err)
	}
	alice := latch.User{Email: "alice@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	eve := latch.User{Email: "eve@elsewhere.test", Role: latch.RoleMember, Kind: latch.KindPerson}
	other := latch.User{Email: "other@bots.invalid", Name: "other", Role: latch.RoleMember, Kind: latch.KindBot}
	code := func(err error) string {
		if err == nil {
			return ""
		}
		return latch.ErrorCodeOf(err)
	}
	// No domain configured: everyone is a member, as for new users' roles.
	if err := svc.MayRequestFor(ctx, bot, eve); err != nil {
		t.Errorf("no domain configured, request for eve: %v", err)
	}
	if err := st.PutDomain(ctx, latch.Domain{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		check  func(context.Context, latch.User, latch.User) error
		person latch.User
		want   string
	}{
		{"default: request for a person of the domain", svc.MayRequestFor, alice, ""},
		{"default: request for a person elsewhere", svc.MayRequestFor, eve, latch.CodeBotMayNotRequestFor},
		{"default: request for a bot", svc.MayRequestFor, other, latch.CodeBotMayNotRequestFor},
		{"default: decide as anyone", svc.MayDecideAs, alice, latch.CodeBotMayNotDecideAs},
	} {
		err := tt.check(ctx, bot, tt.person)
		if code(err) != tt.want || (err != nil && latch.ErrorKindOf(err) != latch.KindForbidden) {
			t.Errorf("%s: %v, want %q (403)", tt.name, err, tt.want)
		}
	}

	// Update: a rule left out stays, an empty one is the default again.
	decide, request := `person.email == "lead@example.com"`, `person.email.endsWith("@elsewhere.test")`
	bot, err = svc.UpdateBot(ctx, "ci", &request, &decide)
	if err != nil || bot.MayRequestFor != request || bot.MayDecideAs != decide {
		t.Fatalf("UpdateBot = %+v, %v", bot, err)
	}
	if got, _ := svc.Bot(ctx, "ci"); got.MayRequestFor != request || got.MayDecideAs != decide || got.Version != bot.Version {
		t.Errorf("stored bot = %+v, want the rules set and version %d", got, bot.Version)
	}
	lead := latch.User{Email: "lead@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	if err := svc.MayDecideAs(ctx, bot, lead); err != nil {
		t.Errorf("decide as lead: %v", err)
	}
	if err := svc.MayDecideAs(ctx, bot, alice); code(err) != latch.CodeBotMayNotDecideAs {
		t.Errorf("decide as alice: %v", err)
	}
	if err := svc.MayRequestFor(ctx, bot, eve); err != nil {
		t.Errorf("request for eve by the rule: %v", err)
	}
	if err := svc.MayRequestFor(ctx, bot, alice); code(err) != latch.CodeBotMayNotRequestFor {
		t.Errorf("request for alice, whom the rule leaves out: %v", err)
	}
	empty := ""
	if bot, err = svc.UpdateBot(ctx, "ci", nil, &empty); err != nil || bot.MayRequestFor != request || bot.MayDecideAs != "" {
		t.Errorf("UpdateBot(nil, \"\") = %+v, %v; want may_request_for kept, may_decide_as default", bot, err)
	}
	bad := `person.email.endsWith(`
	if _, err := svc.UpdateBot(ctx, "ci", &bad, nil); code(err) != "invalid_rule" {
		t.Errorf("UpdateBot with a bad rule: %v", err)
	}
	if _, err := svc.UpdateBot(ctx, "nope", nil, &empty); code(err) != "bot_not_found" {
		t.Errorf("UpdateBot of an unknown bot: %v", err)
	}

	// A rule that fails when it runs is a rule_error naming the bot and
	// the rule, with the cause wrapped for the log.
	failing := `person.email.split("+")[1] == "x"`
	if bot, err = svc.UpdateBot(ctx, "ci", nil, &failing); err != nil {
		t.Fatal(err)
	}
	err = svc.MayDecideAs(ctx, bot, alice)
	le, ok := errors.AsType[*latch.Error](err)
	if !ok || le.Code != latch.CodeRuleError || le.Kind != latch.KindInvalid || le.Details["bot"] != "ci" || le.Details["rule"] != "may_decide_as" ||
		!strings.Contains(le.Message, "may_decide_as") || strings.Contains(le.Message, "index out of bounds") || !strings.Contains(err.Error(), "index out of bounds") {
		t.Errorf("a failing rule: %v (%+v)", err, le)
	}
}
