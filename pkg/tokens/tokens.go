// Package tokens issues and checks API bearer tokens, and keeps the bots
// that own them. A token's secret is shown once, when it is issued; only its
// SHA-256 hash is stored, so the secret appears nowhere at rest.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/ids"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/policy"
)

// Scopes a token may carry.
const (
	ScopeRead    = "requests:read"    // read flows, requests and audit trails
	ScopeWrite   = "requests:write"   // create requests on a person's behalf, and cancel them
	ScopeApprove = "requests:approve" // approve, deny and revoke as a person
	ScopeAdmin   = "admin"            // everything, and manage users, domains, bots and tokens
)

// AllScopes lists every scope.
var AllScopes = []string{ScopeRead, ScopeWrite, ScopeApprove, ScopeAdmin}

// Prefix starts every secret, so that a leaked one is recognisable.
const Prefix = "latch_"

// BotDomain is the email domain of bots: a reserved name that is never a
// real mailbox.
const BotDomain = "bots.invalid"

var botNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// BotEmail is the user email of the bot named name.
func BotEmail(name string) string { return name + "@" + BotDomain }

// BotName returns the name of a bot's email, and false for a person's.
func BotName(email string) (string, bool) {
	return strings.CutSuffix(email, "@"+BotDomain)
}

// Hash is the stored form of a secret: hex SHA-256.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Service issues, lists, revokes and checks tokens, and manages bots.
type Service struct {
	Store latch.Store
	Clock latch.Clock
}

// BotRules are a bot's rules over the people it speaks for (CEL, see
// policy.CompileBotRule). Empty: the default — MayRequestFor, the people of
// the organisation's domains (everyone when none is configured, as for the
// roles of new users); MayDecideAs, nobody, so that the bot decides as
// itself.
type BotRules struct {
	MayRequestFor string
	MayDecideAs   string
}

// The names of a bot's rules, as its errors and settings name them.
const (
	RuleMayRequestFor = "may_request_for"
	RuleMayDecideAs   = "may_decide_as"
)

// checkRule compiles a bot's rule, answering a KindInvalid invalid_rule
// *latch.Error that names the rule and the reason when it does not.
func checkRule(name, src string) error {
	if src == "" {
		return nil
	}
	if _, err := policy.CompileBotRule(src); err != nil {
		reason := err.Error()
		details := map[string]any{"rule": name, "reason": reason}
		var ce *policy.CompileError
		if errors.As(err, &ce) {
			reason, details["reason"] = ce.Reason, ce.Reason
			if ce.Line > 0 {
				details["line"], details["column"] = ce.Line, ce.Column
				reason = fmt.Sprintf("%s (line %d, column %d)", ce.Reason, ce.Line, ce.Column)
			}
		}
		return &latch.Error{Kind: latch.KindInvalid, Code: "invalid_rule",
			Message: fmt.Sprintf("The %s rule does not compile: %s.", name, reason), Details: details}
	}
	return nil
}

// CreateBot makes a bot: a named non-human user that owns tokens. It
// returns KindConflict if the bot exists and KindInvalid for a bad name or
// a rule that does not compile.
func (s *Service) CreateBot(ctx context.Context, name string, rules BotRules) (latch.User, error) {
	if !botNameRE.MatchString(name) {
		return latch.User{}, latch.Errorf(latch.KindInvalid, "invalid_bot_name",
			"%q is not a bot name: 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit.", name)
	}
	rules.MayRequestFor, rules.MayDecideAs = strings.TrimSpace(rules.MayRequestFor), strings.TrimSpace(rules.MayDecideAs)
	if err := checkRule(RuleMayRequestFor, rules.MayRequestFor); err != nil {
		return latch.User{}, err
	}
	if err := checkRule(RuleMayDecideAs, rules.MayDecideAs); err != nil {
		return latch.User{}, err
	}
	u := latch.User{ID: ids.New("usr"), Email: BotEmail(name), Name: name, Role: latch.RoleMember, Kind: latch.KindBot,
		MayRequestFor: rules.MayRequestFor, MayDecideAs: rules.MayDecideAs, CreatedAt: s.Clock.Now()}
	if err := s.Store.PutUser(ctx, u); errors.Is(err, latch.ErrConflict) {
		return latch.User{}, latch.Errorf(latch.KindConflict, "bot_exists", "There is already a bot named %q.", name)
	} else if err != nil {
		return latch.User{}, err
	}
	u.Version = 1
	return u, nil
}

// UpdateBot changes a bot's rules: a nil rule is left as it is, an empty
// one goes back to the default. It returns KindNotFound when there is no
// such bot and KindInvalid for a rule that does not compile.
func (s *Service) UpdateBot(ctx context.Context, name string, mayRequestFor, mayDecideAs *string) (latch.User, error) {
	for _, r := range []struct {
		name string
		src  *string
	}{{RuleMayRequestFor, mayRequestFor}, {RuleMayDecideAs, mayDecideAs}} {
		if r.src == nil {
			continue
		}
		*r.src = strings.TrimSpace(*r.src)
		if err := checkRule(r.name, *r.src); err != nil {
			return latch.User{}, err
		}
	}
	for range 5 {
		u, err := s.Bot(ctx, name)
		if err != nil {
			return u, err
		}
		if mayRequestFor != nil {
			u.MayRequestFor = *mayRequestFor
		}
		if mayDecideAs != nil {
			u.MayDecideAs = *mayDecideAs
		}
		u.UpdatedAt = s.Clock.Now()
		err = s.Store.PutUser(ctx, u)
		if err == nil {
			u.Version++
			return u, nil
		}
		if !errors.Is(err, latch.ErrConflict) {
			return latch.User{}, err
		}
	}
	return latch.User{}, fmt.Errorf("update bot %s: %w", name, latch.ErrConflict)
}

// Bot returns the bot named name, or a KindNotFound *latch.Error.
func (s *Service) Bot(ctx context.Context, name string) (latch.User, error) {
	u, err := s.Store.GetUser(ctx, BotEmail(name))
	if errors.Is(err, latch.ErrNotFound) || (err == nil && u.Kind != latch.KindBot) {
		return latch.User{}, latch.Errorf(latch.KindNotFound, "bot_not_found", "There is no bot named %q.", name)
	}
	return u, err
}

// MayRequestFor reports whether bot may create a request for person (who
// may not be known to Latch yet: the user Latch would make). It returns a
// KindForbidden bot_may_not_request_for *latch.Error when the bot's rule
// (or the default: people of the organisation's domains) leaves the person
// out, and a rule_error one when the rule fails when it runs.
func (s *Service) MayRequestFor(ctx context.Context, bot, person latch.User) error {
	ok, err := s.allows(ctx, bot, person, RuleMayRequestFor, bot.MayRequestFor)
	if err != nil || ok {
		return err
	}
	return &latch.Error{Kind: latch.KindForbidden, Code: latch.CodeBotMayNotRequestFor,
		Message: fmt.Sprintf("Bot %q may not request access for %s (its may_request_for rule%s); an admin can change it with latch bots update.",
			bot.Name, person.Email, defaultNote(bot.MayRequestFor, "members of the organisation's domains")),
		Details: map[string]any{"bot": bot.Name, "person": person.Email, "rule": RuleMayRequestFor}}
}

// MayDecideAs reports whether bot may approve, deny, revoke or retry as
// person. It returns a KindForbidden bot_may_not_decide_as *latch.Error when
// the bot's rule (by default: nobody) leaves the person out, and a
// rule_error one when the rule fails when it runs.
func (s *Service) MayDecideAs(ctx context.Context, bot, person latch.User) error {
	ok, err := s.allows(ctx, bot, person, RuleMayDecideAs, bot.MayDecideAs)
	if err != nil || ok {
		return err
	}
	return &latch.Error{Kind: latch.KindForbidden, Code: latch.CodeBotMayNotDecideAs,
		Message: fmt.Sprintf("Bot %q may not act as %s (its may_decide_as rule%s); leave out \"as\" to act as the bot itself.",
			bot.Name, person.Email, defaultNote(bot.MayDecideAs, "nobody")),
		Details: map[string]any{"bot": bot.Name, "person": person.Email, "rule": RuleMayDecideAs}}
}

func defaultNote(src, def string) string {
	if src == "" {
		return " is the default: " + def
	}
	return ""
}

// allows evaluates one of bot's rules for person; src "" is the rule's
// default.
func (s *Service) allows(ctx context.Context, bot, person latch.User, name, src string) (bool, error) {
	if src == "" {
		if name == RuleMayDecideAs || person.Kind == latch.KindBot {
			return false, nil
		}
		role, err := (&identity.Directory{Store: s.Store, Clock: s.Clock}).RoleFor(ctx, person.Email)
		return err == nil && role == latch.RoleMember, err
	}
	rule, err := policy.CompileBotRule(src)
	if err == nil {
		var ok bool
		if ok, err = rule.Eval(&person, &bot); err == nil {
			return ok, nil
		}
	}
	return false, latch.RuleError("bot", bot.Name, name, err)
}

// Bots lists the bots.
func (s *Service) Bots(ctx context.Context) ([]latch.User, error) {
	us, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(us, func(u latch.User) bool { return u.Kind != latch.KindBot }), nil
}

// DeleteBot revokes every token of the bot and deletes it. It returns a
// KindNotFound *latch.Error when there is no such bot.
func (s *Service) DeleteBot(ctx context.Context, name string) error {
	email := BotEmail(name)
	if u, err := s.Store.GetUser(ctx, email); errors.Is(err, latch.ErrNotFound) || (err == nil && u.Kind != latch.KindBot) {
		return latch.Errorf(latch.KindNotFound, "bot_not_found", "There is no bot named %q.", name)
	} else if err != nil {
		return err
	}
	toks, err := s.Store.ListTokens(ctx)
	if err != nil {
		return err
	}
	now := s.Clock.Now()
	for _, t := range toks {
		if t.Owner == email && t.RevokedAt == nil {
			if err := s.Store.RevokeToken(ctx, t.ID, now); err != nil {
				return fmt.Errorf("revoke token %s of bot %s: %w", t.ID, name, err)
			}
		}
	}
	return s.Store.DeleteUser(ctx, email)
}

// IssueInput is what a new token is for.
type IssueInput struct {
	Bot       string
	Label     string
	Scopes    []string
	ExpiresIn time.Duration // 0: never
}

// Issue makes a token for a bot and returns its secret (shown only now) and
// its record. Unknown scopes, a missing bot or label are KindInvalid or
// KindNotFound *latch.Error values.
func (s *Service) Issue(ctx context.Context, in IssueInput) (string, latch.Token, error) {
	u, err := s.Store.GetUser(ctx, BotEmail(in.Bot))
	if errors.Is(err, latch.ErrNotFound) || (err == nil && u.Kind != latch.KindBot) {
		return "", latch.Token{}, latch.Errorf(latch.KindNotFound, "bot_not_found", "There is no bot named %q; create it with latch bots create %s.", in.Bot, in.Bot)
	} else if err != nil {
		return "", latch.Token{}, err
	}
	if strings.TrimSpace(in.Label) == "" {
		return "", latch.Token{}, latch.Errorf(latch.KindInvalid, "missing_label", "Give the token a label that says what it is for.")
	}
	if len(in.Scopes) == 0 {
		return "", latch.Token{}, latch.Errorf(latch.KindInvalid, "missing_scopes", "Give the token at least one scope: %s.", strings.Join(AllScopes, ", "))
	}
	for _, sc := range in.Scopes {
		if !slices.Contains(AllScopes, sc) {
			return "", latch.Token{}, latch.Errorf(latch.KindInvalid, "invalid_scope", "%q is not a scope: use %s.", sc, strings.Join(AllScopes, ", "))
		}
	}
	if in.ExpiresIn < 0 {
		return "", latch.Token{}, latch.Errorf(latch.KindInvalid, "invalid_expiry", "A token cannot expire in the past.")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", latch.Token{}, err
	}
	secret := Prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	now := s.Clock.Now()
	t := latch.Token{ID: ids.New("tok"), Hash: Hash(secret), Label: strings.TrimSpace(in.Label), Owner: u.Email,
		Scopes: slices.Compact(slices.Sorted(slices.Values(in.Scopes))), CreatedAt: now}
	if in.ExpiresIn > 0 {
		exp := now.Add(in.ExpiresIn)
		t.ExpiresAt = &exp
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", latch.Token{}, err
	}
	return secret, t, nil
}

// List returns every token (never a secret).
func (s *Service) List(ctx context.Context) ([]latch.Token, error) { return s.Store.ListTokens(ctx) }

// Revoke ends a token at once. It returns a KindNotFound *latch.Error when
// there is no such token.
func (s *Service) Revoke(ctx context.Context, id string) error {
	if err := s.Store.RevokeToken(ctx, id, s.Clock.Now()); errors.Is(err, latch.ErrNotFound) {
		return latch.Errorf(latch.KindNotFound, "token_not_found", "There is no token %q.", id)
	} else if err != nil {
		return err
	}
	return nil
}

// Check returns the live token whose secret this is. A secret that matches
// no token, or a revoked or expired one, is a KindUnauthorized *latch.Error.
func (s *Service) Check(ctx context.Context, secret string) (latch.Token, error) {
	t, err := s.Store.TokenByHash(ctx, Hash(secret))
	if errors.Is(err, latch.ErrNotFound) {
		return t, latch.Errorf(latch.KindUnauthorized, "invalid_token", "The bearer token is not valid.")
	} else if err != nil {
		return t, err
	}
	now := s.Clock.Now()
	switch {
	case t.RevokedAt != nil && !t.RevokedAt.After(now):
		return t, latch.Errorf(latch.KindUnauthorized, "token_revoked", "The bearer token %s was revoked; ask an admin for a new one.", t.ID)
	case t.ExpiresAt != nil && !t.ExpiresAt.After(now):
		return t, latch.Errorf(latch.KindUnauthorized, "token_expired", "The bearer token %s expired at %s; ask an admin for a new one.",
			t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return t, nil
}
