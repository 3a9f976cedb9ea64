package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// DeleteUser removes the user with the given email (compared normalized)
// and every identity stored under that email, in one transaction. It returns
// latch.ErrNotFound, and removes nothing, if there is no such user.
func (s *Store) DeleteUser(ctx context.Context, email string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	email = latch.NormalizeEmail(email)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(email)) == nil {
			return latch.ErrNotFound
		}
		if err := users.Delete([]byte(email)); err != nil {
			return err
		}
		ids := tx.Bucket(bucketIdentities)
		var keys [][]byte
		c := ids.Cursor()
		p := identityPrefix(email)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := ids.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", email, err)
	}
	return nil
}

// GetIdentity returns the identity of the user with the given email
// (compared normalized) in service, or latch.ErrNotFound.
func (s *Store) GetIdentity(ctx context.Context, email, service string) (latch.Identity, error) {
	var id latch.Identity
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bucketIdentities), string(identityKey(email, service)), &id)
	})
	if err != nil {
		return latch.Identity{}, fmt.Errorf("get identity of %s in %s: %w", email, service, err)
	}
	return id, nil
}

// PutIdentity creates or replaces the identity of id.Email in id.Service,
// storing the email normalized. It returns a latch.KindInvalid error if the
// email or the service is empty or unusable as a key.
func (s *Store) PutIdentity(ctx context.Context, id latch.Identity) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id.Email = latch.NormalizeEmail(id.Email)
	if !keyable(id.Email) || !keyable(id.Service) {
		return latch.Errorf(latch.KindInvalid, "invalid_identity", "An identity needs an email address and a service.")
	}
	id = id.UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketIdentities), string(identityKey(id.Email, id.Service)), id)
	})
	if err != nil {
		return fmt.Errorf("put identity of %s in %s: %w", id.Email, id.Service, err)
	}
	return nil
}

// DeleteIdentity removes the identity of the user with the given email
// (compared normalized) in service; latch.ErrNotFound if there is none.
func (s *Store) DeleteIdentity(ctx context.Context, email, service string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := identityKey(email, service)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdentities)
		if b.Get(k) == nil {
			return latch.ErrNotFound
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("delete identity of %s in %s: %w", email, service, err)
	}
	return nil
}

// ListIdentities returns the identities of the user with the given email
// (compared normalized), ordered by service; with email "", every identity,
// ordered by email, then service.
func (s *Store) ListIdentities(ctx context.Context, email string) ([]latch.Identity, error) {
	var p []byte
	if email != "" {
		p = identityPrefix(latch.NormalizeEmail(email))
	}
	var out []latch.Identity
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		out = decodePrefix[latch.Identity](tx, bucketIdentities, p, bad)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list identities of %q: %w", email, err)
	}
	return out, nil
}

// identityKey is the key of an identity: the normalized email, NUL, the
// service. NUL sorts before every other byte, so key order is email order,
// then service order.
func identityKey(email, service string) []byte {
	return append(identityPrefix(latch.NormalizeEmail(email)), service...)
}

// identityPrefix is the prefix of the keys of a (normalized) email's
// identities.
func identityPrefix(email string) []byte { return []byte(email + "\x00") }
