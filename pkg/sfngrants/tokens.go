package sfngrants

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/latchhq/latch/pkg/latch"
)

// Tokens keeps, per grant, the task token of the Hold its execution is in
// now and the lease end that Hold waits for, and the last error of the
// grant's revoke. The Hold task writes the token (PutHoldToken) before it
// reads the grant; the runner reads it (HoldToken) after the engine has
// committed the grant. Both must be strongly consistent: a HoldToken that
// follows a PutHoldToken in real time returns that token or a later one (on
// DynamoDB: a conditional write, and GetItem with ConsistentRead).
type Tokens interface {
	// PutHoldToken records token as the grant's current one, of a Hold
	// waiting until until (a lease end as Hold.Until writes it; "" when
	// none), written for the task that started at at: it replaces a token
	// written for an earlier start, and is dropped (no error) when the
	// stored token's task started later. A Hold invocation that outlived
	// its Hold (it timed out) so cannot overwrite the token of the Hold
	// after it. It keeps the revoke error.
	PutHoldToken(ctx context.Context, grantID, token, until string, at time.Time) error
	// HoldToken returns the grant's current token and the lease end its
	// Hold waits until, or an error wrapping latch.ErrNotFound when no token
	// was ever recorded.
	HoldToken(ctx context.Context, grantID string) (token, until string, err error)
	// PutRevokeError records message (at most MaxRevokeError bytes) as the
	// last error of the grant's revoke, keeping the token.
	PutRevokeError(ctx context.Context, grantID, message string) error
	// RevokeError returns the last error recorded for the grant's revoke,
	// or an error wrapping latch.ErrNotFound when none was.
	RevokeError(ctx context.Context, grantID string) (string, error)
}

// MaxRevokeError is the most bytes of a revoke's error Tokens keeps: the
// text comes from the target system, and is shown in the audit trail.
const MaxRevokeError = 500

// RevokeOver is what the deescalation_failed task records in place of a task
// token once an execution's revoke has failed for good, before it reports
// the failure: no Hold of that execution will ever run again, so a later
// Deescalate (an admin's retry) starts a revoke of its own instead of
// waiting for one. It cannot be a task token (those are long opaque
// strings).
const RevokeOver = "latch:revoke-over"

// MemoryTokens is Tokens in memory, for tests and single-process use.
type MemoryTokens struct {
	mu sync.Mutex
	m  map[string]memToken
}

type memToken struct {
	token, until string
	at           time.Time
	revokeError  string
}

var _ Tokens = (*MemoryTokens)(nil)

// PutHoldToken implements Tokens.
func (t *MemoryTokens) PutHoldToken(_ context.Context, grantID, token, until string, at time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]memToken{}
	}
	old, ok := t.m[grantID]
	if ok && old.token != "" && old.at.After(at) {
		return nil // written for a later task: this one is stale
	}
	t.m[grantID] = memToken{token: token, until: until, at: at, revokeError: old.revokeError}
	return nil
}

// HoldToken implements Tokens.
func (t *MemoryTokens) HoldToken(_ context.Context, grantID string) (string, string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok, ok := t.m[grantID]
	if !ok || tok.token == "" {
		return "", "", latch.ErrNotFound
	}
	return tok.token, tok.until, nil
}

// PutRevokeError implements Tokens.
func (t *MemoryTokens) PutRevokeError(_ context.Context, grantID, message string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]memToken{}
	}
	tok := t.m[grantID]
	tok.revokeError = ClipRevokeError(message)
	t.m[grantID] = tok
	return nil
}

// RevokeError implements Tokens.
func (t *MemoryTokens) RevokeError(_ context.Context, grantID string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok, ok := t.m[grantID]
	if !ok || tok.revokeError == "" {
		return "", latch.ErrNotFound
	}
	return tok.revokeError, nil
}

// ClipRevokeError makes a revoke's error fit to keep and show: one line
// (control characters and runs of spaces become one space), at most
// MaxRevokeError bytes of valid UTF-8, a cut marked "…".
func ClipRevokeError(s string) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	return clipTo(s, MaxRevokeError)
}
