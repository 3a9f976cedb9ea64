package sfngrants

import (
	"context"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// Tokens keeps, per grant, the task token of the Hold its execution is in
// now. The Hold task writes it (PutHoldToken) before it reads the grant; the
// runner reads it (HoldToken) after the engine has committed the grant.
// Both must be strongly consistent: a HoldToken that follows a PutHoldToken
// in real time returns that token or a later one (on DynamoDB: a plain
// PutItem, and GetItem with ConsistentRead).
type Tokens interface {
	// PutHoldToken records token as the grant's current one, written for
	// the task that started at at: it replaces a token written for an
	// earlier start, and is dropped (no error) when the stored token's
	// task started later. A Hold invocation that outlived its Hold (it
	// timed out) so cannot overwrite the token of the Hold after it.
	PutHoldToken(ctx context.Context, grantID, token string, at time.Time) error
	// HoldToken returns the grant's current token, or an error wrapping
	// latch.ErrNotFound when none was ever recorded.
	HoldToken(ctx context.Context, grantID string) (string, error)
}

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
	token string
	at    time.Time
}

var _ Tokens = (*MemoryTokens)(nil)

// PutHoldToken implements Tokens.
func (t *MemoryTokens) PutHoldToken(_ context.Context, grantID, token string, at time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]memToken{}
	}
	if old, ok := t.m[grantID]; ok && old.at.After(at) {
		return nil // written for a later task: this one is stale
	}
	t.m[grantID] = memToken{token: token, at: at}
	return nil
}

// HoldToken implements Tokens.
func (t *MemoryTokens) HoldToken(_ context.Context, grantID string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok, ok := t.m[grantID]
	if !ok {
		return "", latch.ErrNotFound
	}
	return tok.token, nil
}
