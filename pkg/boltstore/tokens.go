package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// CreateToken stores t. It returns latch.ErrConflict, and writes nothing, if
// a token with its ID or its Hash exists, and a latch.KindInvalid error if
// the ID or the Hash is empty or unusable as a key.
func (s *Store) CreateToken(ctx context.Context, t latch.Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !keyable(t.ID) || !keyable(t.Hash) {
		return latch.Errorf(latch.KindInvalid, "invalid_token", "A token needs an ID and a hash.")
	}
	t = t.UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		docs, byHash := tx.Bucket(bucketTokens), tx.Bucket(bucketTokensByHash)
		if docs.Get([]byte(t.ID)) != nil {
			return fmt.Errorf("its ID exists: %w", latch.ErrConflict)
		}
		if byHash.Get([]byte(t.Hash)) != nil {
			return fmt.Errorf("its hash exists: %w", latch.ErrConflict)
		}
		if err := byHash.Put([]byte(t.Hash), []byte(t.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokensByTime).Put(timeKey(t.CreatedAt, t.ID), nil); err != nil {
			return err
		}
		return put(docs, t.ID, t)
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, or
// latch.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash string) (latch.Token, error) {
	var t latch.Token
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketTokensByHash).Get([]byte(hash))
		if id == nil {
			return latch.ErrNotFound
		}
		return get(tx.Bucket(bucketTokens), string(id), &t)
	})
	if err != nil {
		// The hash stays out of the message: it names a credential.
		return latch.Token{}, fmt.Errorf("token by hash: %w", err)
	}
	return t, nil
}

// GetToken returns the token with the given id, or latch.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, id string) (latch.Token, error) {
	var t latch.Token
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bucketTokens), id, &t)
	})
	if err != nil {
		return latch.Token{}, fmt.Errorf("get token %s: %w", id, err)
	}
	return t, nil
}

// ListTokens returns every token, revoked and expired ones included, ordered
// by CreatedAt, then ID.
func (s *Store) ListTokens(ctx context.Context) ([]latch.Token, error) {
	var out []latch.Token
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucketTokensByTime).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			var t latch.Token
			if !getOr(tx, bucketTokens, idOf(k), &t, bad) {
				continue
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken sets the token's RevokedAt to at, unless it was revoked at or
// before at already: the earliest revocation is kept. It returns
// latch.ErrNotFound if there is no such token.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at = at.UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketTokens)
		var t latch.Token
		if err := get(docs, id, &t); err != nil {
			return err
		}
		if t.RevokedAt != nil && !at.Before(*t.RevokedAt) {
			return nil
		}
		t.RevokedAt = &at
		return put(docs, t.ID, t)
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}
