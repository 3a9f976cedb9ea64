package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// Principal is who called the API: a token's holder and what it may do.
type Principal struct {
	Name    string   `json:"name"`            // "admin" for the bootstrap token; a bot's name otherwise
	Bot     string   `json:"bot,omitempty"`   // the bot acting, recorded with the person it acts for
	Email   string   `json:"email,omitempty"` // the user the token belongs to, if any
	TokenID string   `json:"token_id,omitempty"`
	Scopes  []string `json:"scopes"`
	Admin   bool     `json:"admin"`
}

// Has reports whether the principal holds scope; admins hold every scope.
func (p Principal) Has(scope string) bool {
	return p.Admin || slices.Contains(p.Scopes, scope)
}

// Authenticator decides who a call is from. It returns a KindUnauthorized
// *Error when the call has no valid credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// StaticToken is the bootstrap admin token (LATCH_ADMIN_TOKEN), checked by Tokens. It
// keeps only the token's hash and compares in constant time.
type StaticToken struct {
	hash [32]byte
	set  bool
}

// NewStaticToken returns an authenticator for token; an empty token accepts nothing.
func NewStaticToken(token string) *StaticToken {
	if token == "" {
		return &StaticToken{}
	}
	return &StaticToken{hash: sha256.Sum256([]byte(token)), set: true}
}

// bootstrapAdmin is who the bootstrap admin token speaks as.
var bootstrapAdmin = Principal{Name: "admin", Scopes: []string{tokens.ScopeAdmin}, Admin: true}

// Tokens accepts the bootstrap admin token and the tokens issued to bots.
type Tokens struct {
	Bootstrap *StaticToken
	Service   *tokens.Service
}

// Authenticate checks the bearer token: the bootstrap token first, then the
// issued ones (refusing revoked and expired tokens).
func (a *Tokens) Authenticate(r *http.Request) (Principal, error) {
	tok, ok := BearerToken(r)
	if !ok {
		return Principal{}, latch.Errorf(latch.KindUnauthorized, "missing_token",
			"Send a bearer token: Authorization: Bearer <token>.")
	}
	if a.Bootstrap != nil && a.Bootstrap.matches(tok) {
		return bootstrapAdmin, nil
	}
	t, err := a.Service.Check(r.Context(), tok)
	if err != nil {
		return Principal{}, err
	}
	bot, _ := tokens.BotName(t.Owner)
	return Principal{Name: bot, Bot: bot, Email: t.Owner, TokenID: t.ID, Scopes: t.Scopes,
		Admin: slices.Contains(t.Scopes, tokens.ScopeAdmin)}, nil
}

func (s *StaticToken) matches(tok string) bool {
	if !s.set {
		return false
	}
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], s.hash[:]) == 1
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
