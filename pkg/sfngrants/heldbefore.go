package sfngrants

import (
	"context"
	"sync"

	"github.com/latchhq/latch/pkg/latch"
)

// HeldRecords keeps, per grant, whether the target held the grant's access
// before Latch's first attempt to grant it. The escalate task records the
// answer before its first Grant call, and every later task reads it: a
// retried escalate, or one after a crash, would otherwise take Latch's own
// earlier write for the person's and never revoke it. (The escalated report
// carries the answer to the grant itself, but a report on the queue is not
// applied when it is sent, so the task cannot wait for it.) Both methods
// must be strongly consistent (on DynamoDB: a conditional PutItem and a
// GetItem with ConsistentRead; dynamostore.Store is one).
type HeldRecords interface {
	// RecordHeldBefore records held for the grant unless an answer is
	// recorded already, and returns the recorded answer: the first
	// writer's.
	RecordHeldBefore(ctx context.Context, grantID string, held bool) (bool, error)
	// HeldBefore returns the recorded answer, or an error wrapping
	// latch.ErrNotFound when none was recorded.
	HeldBefore(ctx context.Context, grantID string) (bool, error)
}

// MemoryHeld is HeldRecords in memory, for tests and single-process use.
type MemoryHeld struct {
	mu sync.Mutex
	m  map[string]bool
}

var _ HeldRecords = (*MemoryHeld)(nil)

// RecordHeldBefore implements HeldRecords.
func (h *MemoryHeld) RecordHeldBefore(_ context.Context, grantID string, held bool) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]bool{}
	}
	if old, ok := h.m[grantID]; ok {
		return old, nil
	}
	h.m[grantID] = held
	return held, nil
}

// HeldBefore implements HeldRecords.
func (h *MemoryHeld) HeldBefore(_ context.Context, grantID string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	held, ok := h.m[grantID]
	if !ok {
		return false, latch.ErrNotFound
	}
	return held, nil
}
