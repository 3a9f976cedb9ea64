// Package local is the one-machine runtime of `latch server`: an in-process
// queue ordered per request, timers, and a grant runner on goroutines that is
// re-armed from the store at start, so that a restart loses no revoke.
package local

import (
	"context"
	"sync"

	"github.com/latchhq/latch/pkg/latch"
)

// Queue hands commands to a handler in the caller's goroutine, one at a time
// per request (or grant): Publish returns once the command is handled, with
// the handler's error.
type Queue struct {
	handle func(context.Context, latch.Command) error

	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

var _ latch.Queue = (*Queue)(nil)

// NewQueue returns a queue that hands commands to handle (the engine's Handle).
func NewQueue(handle func(context.Context, latch.Command) error) *Queue {
	return &Queue{handle: handle, locks: map[string]*keyLock{}}
}

// Publish handles cmd after every earlier command for the same request or
// grant, and returns the handler's error.
func (q *Queue) Publish(ctx context.Context, cmd latch.Command) error {
	key := cmd.RequestID
	if cmd.Kind.GrantLevel() {
		key = "g/" + cmd.GrantID
	}
	l := q.acquire(key)
	defer q.release(key, l)
	return q.handle(ctx, cmd)
}

func (q *Queue) acquire(key string) *keyLock {
	q.mu.Lock()
	l, ok := q.locks[key]
	if !ok {
		l = &keyLock{}
		q.locks[key] = l
	}
	l.refs++
	q.mu.Unlock()
	l.mu.Lock()
	return l
}

func (q *Queue) release(key string, l *keyLock) {
	l.mu.Unlock()
	q.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(q.locks, key)
	}
	q.mu.Unlock()
}
