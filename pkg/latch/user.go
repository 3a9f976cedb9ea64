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
	ID        string
	Email     string
	Name      string
	Role      Role
	Kind      UserKind
	SlackIDs  map[string]string // Slack team id → user id
	CreatedAt time.Time
	Version   int64
}

// NormalizeEmail lower-cases and trims an email address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail reports whether s looks like an email address: one @ with
// something on each side and no spaces.
func ValidEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at == strings.LastIndexByte(s, '@') && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>,")
}
