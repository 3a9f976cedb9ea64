package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// AppendAudit writes events that belong to no request in one transaction:
// each in the audit bucket under its ID (the ID space it shares with
// requests' events), in the admin audit index by time and in the feed, in
// the order given. It returns a latch.KindInvalid error if an event has an
// empty or unusable ID or a RequestID, and latch.ErrConflict if an ID exists
// or appears twice among events; on error nothing is written.
func (s *Store) AppendAudit(ctx context.Context, events ...latch.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, e := range events {
		if !keyable(e.ID) {
			return latch.Errorf(latch.KindInvalid, "invalid_id", "An audit event has an empty or unusable ID %q.", e.ID)
		}
		if e.RequestID != "" {
			return latch.Errorf(latch.KindInvalid, "invalid_audit_event",
				"Audit event %q names request %q; append only events of no request.", e.ID, e.RequestID)
		}
	}
	if len(events) == 0 {
		return nil
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		for _, e := range events {
			e = e.UTC()
			if err := addAudit(tx, e, bucketAdminAudit, timeKey(e.At, e.ID)); err != nil {
				return fmt.Errorf("audit event %s: %w", e.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// AdminAudit returns the events written with AppendAudit whose At is in
// [from, to), ordered by At then ID: a walk of the admin audit index from
// from's key to to's.
func (s *Store) AdminAudit(ctx context.Context, from, to time.Time) ([]latch.AuditEvent, error) {
	var out []latch.AuditEvent
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucketAdminAudit).Cursor()
		end := timeKey(to, "")
		for k, _ := c.Seek(timeKey(from, "")); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			var e latch.AuditEvent
			if !getOr(tx, bucketAudit, idOf(k), &e, bad) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("admin audit from %s to %s: %w", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), err)
	}
	return out, nil
}
