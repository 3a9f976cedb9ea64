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

	"github.com/latchhq/latch/pkg/ids"
	"github.com/latchhq/latch/pkg/latch"
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

// CreateBot makes a bot: a named non-human user that owns tokens. It
// returns KindConflict if the bot exists and KindInvalid for a bad name.
func (s *Service) CreateBot(ctx context.Context, name string) (latch.User, error) {
	if !botNameRE.MatchString(name) {
		return latch.User{}, latch.Errorf(latch.KindInvalid, "invalid_bot_name",
			"%q is not a bot name: 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit.", name)
	}
	u := latch.User{ID: ids.New("usr"), Email: BotEmail(name), Name: name, Role: latch.RoleMember, Kind: latch.KindBot, CreatedAt: s.Clock.Now()}
	if err := s.Store.PutUser(ctx, u); errors.Is(err, latch.ErrConflict) {
		return latch.User{}, latch.Errorf(latch.KindConflict, "bot_exists", "There is already a bot named %q.", name)
	} else if err != nil {
		return latch.User{}, err
	}
	u.Version = 1
	return u, nil
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
