package boot

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
)

// seededDomains is a store whose domains are seeded with seed, on the first
// read of them, when it has none: the read a function's start used to make
// is made when a domain is first needed (a new person's role, an admin's
// list), not before the function's first answer. A failed read or seed is
// tried again on the next read.
type seededDomains struct {
	latch.Store
	seed []string

	mu     sync.Mutex
	seeded atomic.Bool
}

func (s *seededDomains) ListDomains(ctx context.Context) ([]latch.Domain, error) {
	if s.seeded.Load() {
		return s.Store.ListDomains(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	have, err := s.Store.ListDomains(ctx)
	if err != nil || s.seeded.Load() {
		return have, err
	}
	if len(have) == 0 && len(s.seed) > 0 {
		dir := &identity.Directory{Store: s.Store, Clock: latch.SystemClock}
		for _, d := range s.seed {
			if _, err := dir.AddDomain(ctx, d); err != nil {
				return nil, fmt.Errorf("LATCH_DOMAINS %q: %w", d, err)
			}
		}
		if have, err = s.Store.ListDomains(ctx); err != nil {
			return nil, err
		}
	}
	s.seeded.Store(true)
	return have, nil
}
