package latch

import (
	"strings"
	"time"
)

// Role is what a user may do in Latch.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"  // manages Latch; may always approve or deny
	RoleMember Role = "member" // requests; approves where a flow allows
	RoleGuest  Role = "guest"  // never requests; acts only where a flow allows guests
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMember || r == RoleGuest }

// UserKind separates people from bots.
type UserKind string

// User kinds.
const (
	KindPerson UserKind = "person"
	KindBot    UserKind = "bot"
)

// User is a person (or bot) Latch knows. Email is the key, stored lower-case.
type User struct {
	ID       string            `json:"id"`
	Email    string            `json:"email"`
	Name     string            `json:"name,omitempty"`
	Role     Role              `json:"role"`
	Kind     UserKind          `json:"kind"`
	SlackIDs map[string]string `json:"slack_ids,omitempty"` // Slack team id → user id
	// MayRequestFor and MayDecideAs are a bot's CEL rules over the person
	// it names (see package policy): whom it may create requests for, and
	// as whom it may approve, deny, revoke or retry. Empty: the defaults,
	// the organisation's members and nobody. People have neither.
	MayRequestFor string    `json:"may_request_for,omitempty"`
	MayDecideAs   string    `json:"may_decide_as,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	Version       int64     `json:"version"`
}

// Identity is a user's id in one external service: an IAM user name, an
// Okta user id, a GitHub login. Service names the system ("aws_iam",
// "okta", "github", or what a flow's strategy calls it).
type Identity struct {
	Email     string    `json:"email"`
	Service   string    `json:"service"`
	ID        string    `json:"id"`
	Source    string    `json:"source"` // how it was learned: admin, import, rule, hook, lookup
	UpdatedAt time.Time `json:"updated_at"`
}

// Identity sources.
const (
	IdentityFromAdmin  = "admin"
	IdentityFromImport = "import"
	IdentityFromRule   = "rule"
	IdentityFromHook   = "hook"
	IdentityFromLookup = "lookup"
)

// Domain is one of the organisation's email domains: people whose email is
// in it (or a subdomain of it) join as members; everyone else as guests.
type Domain struct {
	Name      string    `json:"name"` // lower-case, no leading @
	CreatedAt time.Time `json:"created_at"`
}

// Token is an API bearer token. Only a hash of its secret is kept.
type Token struct {
	ID        string     `json:"id"`
	Hash      string     `json:"hash"`  // hex SHA-256 of the secret
	Label     string     `json:"label"` // what it is for
	Owner     string     `json:"owner"` // the email of the user (person or bot) it acts as
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// NormalizeEmail lower-cases and trims an email address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail reports whether s looks like an email address: one @ with
// something on each side and no spaces.
func ValidEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at == strings.LastIndexByte(s, '@') && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>,")
}
