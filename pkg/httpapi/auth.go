package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// Principal is who called the API: a token's holder and what it may do.
type Principal struct {
	Name  string `json:"name"`            // "admin" for the bootstrap token; a bot's name otherwise
	Bot   string `json:"bot,omitempty"`   // the bot acting, recorded with the person it acts for
	Email string `json:"email,omitempty"` // the user the token belongs to, if any
	Admin bool   `json:"admin"`
}

// Authenticator decides who a call is from. It returns a KindUnauthorized
// *Error when the call has no valid credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// StaticToken accepts one bearer token (LATCH_ADMIN_TOKEN) as an admin. It
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

// Authenticate checks the Authorization: Bearer header.
func (s *StaticToken) Authenticate(r *http.Request) (Principal, error) {
	tok, ok := BearerToken(r)
	if !ok {
		return Principal{}, latch.Errorf(latch.KindUnauthorized, "missing_token",
			"Send a bearer token: Authorization: Bearer <token>.")
	}
	if !s.set {
		return Principal{}, latch.Errorf(latch.KindUnauthorized, "no_tokens_configured",
			"This server accepts no tokens yet: start it with LATCH_ADMIN_TOKEN set.")
	}
	h := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(h[:], s.hash[:]) != 1 {
		return Principal{}, latch.Errorf(latch.KindUnauthorized, "invalid_token", "The bearer token is not valid.")
	}
	return Principal{Name: "admin", Admin: true}, nil
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
