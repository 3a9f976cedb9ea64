package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// PutMessageRef creates or replaces the ref of the message about
// ref.RequestID of ref.Kind in ref.Channel. It returns a latch.KindInvalid
// error, and writes nothing, if the request ID, the kind, the channel or the
// TS is empty, or if one of the first three is unusable as a key.
func (s *Store) PutMessageRef(ctx context.Context, ref latch.MessageRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !keyable(ref.RequestID) || !keyable(ref.Kind) || !keyable(ref.Channel) || ref.TS == "" {
		return latch.Errorf(latch.KindInvalid, "invalid_message_ref",
			"A message ref needs a request ID, a kind, a channel and the message's TS.")
	}
	ref.PostedAt = ref.PostedAt.UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketMessageRefs), string(messageRefKey(ref)), ref)
	})
	if err != nil {
		return fmt.Errorf("put message ref of %s (%s in %s): %w", ref.RequestID, ref.Kind, ref.Channel, err)
	}
	return nil
}

// MessageRefs returns the refs of the messages about the request with the
// given id, ordered by kind, then channel: a walk of the keys with the
// request's prefix. None is not an error.
func (s *Store) MessageRefs(ctx context.Context, requestID string) ([]latch.MessageRef, error) {
	var out []latch.MessageRef
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		if !keyable(requestID) {
			return nil // no ref is stored under such an id
		}
		out = decodePrefix[latch.MessageRef](tx, bucketMessageRefs, messageRefPrefix(requestID), bad)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("message refs of %s: %w", requestID, err)
	}
	return out, nil
}

// messageRefKey is the key of a message ref: the request ID, NUL, the kind,
// NUL, the channel. NUL sorts before every other byte, so the keys of a
// request's refs are in kind order, then channel order.
func messageRefKey(ref latch.MessageRef) []byte {
	return append(messageRefPrefix(ref.RequestID), ref.Kind+"\x00"+ref.Channel...)
}

// messageRefPrefix is the prefix of the keys of a request's message refs.
func messageRefPrefix(requestID string) []byte { return []byte(requestID + "\x00") }
