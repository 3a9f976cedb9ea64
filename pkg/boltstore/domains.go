package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// ListDomains returns the organisation's email domains, ordered by name.
func (s *Store) ListDomains(ctx context.Context) ([]latch.Domain, error) {
	var out []latch.Domain
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		return tx.Bucket(bucketDomains).ForEach(func(k, v []byte) error {
			var d latch.Domain
			if err := json.Unmarshal(v, &d); err != nil {
				bad.add(bucketDomains, k, err)
				return nil
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// PutDomain adds d, its name as given (callers normalize). Adding a domain
// that exists changes nothing: the first CreatedAt stays. It returns a
// latch.KindInvalid error if the name is empty or unusable as a key.
func (s *Store) PutDomain(ctx context.Context, d latch.Domain) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !keyable(d.Name) {
		return latch.Errorf(latch.KindInvalid, "invalid_domain", "A domain needs a name.")
	}
	d = d.UTC()
	// A domain that exists is found by a read, which does not wait for the
	// whole-file check (WithBackgroundCheck) as a write does: a server that
	// names its domains at every start answers before the check ends.
	var exists bool
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		exists = tx.Bucket(bucketDomains).Get([]byte(d.Name)) != nil
		return nil
	}); err != nil {
		return fmt.Errorf("put domain %s: %w", d.Name, err)
	}
	if exists {
		return nil
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDomains)
		if b.Get([]byte(d.Name)) != nil {
			return nil
		}
		return put(b, d.Name, d)
	})
	if err != nil {
		return fmt.Errorf("put domain %s: %w", d.Name, err)
	}
	return nil
}

// DeleteDomain removes the domain with the given name; latch.ErrNotFound if
// there is none.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDomains)
		if b.Get([]byte(name)) == nil {
			return latch.ErrNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete domain %s: %w", name, err)
	}
	return nil
}
