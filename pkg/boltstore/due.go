package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// The due index: every open grant and every request with work at a time,
// keyed by its next due time, so that re-arming at start reads the work that
// is open, not every request. A grant's entry names its status (the value),
// so that re-arming it decodes nothing; a request's entry names the
// request, which is read. Written in the same transaction as the grant or
// request (putGrants, putRequest); built once when a store written before
// the index is opened (ensureDueIndex).
var bucketDue = []byte("due") // due (unix ns, 8 bytes) kind (1 byte) id → grant status, or empty

const (
	dueGrant   = 'g'
	dueRequest = 'r'
)

// grantDue is when an open grant next needs the runner: escalating and
// deescalating grants at once (the zero time), active ones at their next
// lease end; closed grants never.
func grantDue(g latch.Grant) (time.Time, bool) {
	switch g.Status {
	case latch.GrantEscalating, latch.GrantDeescalating:
		return time.Time{}, true
	case latch.GrantActive:
		return g.NextDue()
	}
	return time.Time{}, false
}

// requestDue is when a request's next timer falls: a pending request's
// expiry or forwarding, whichever is first; a scheduled request's start. A
// timer added to requests belongs here too, so that a restart re-arms it.
func requestDue(r latch.Request) (time.Time, bool) {
	if r.Status == latch.StatusScheduled && r.ScheduledStart != nil {
		return *r.ScheduledStart, true
	}
	if r.Status != latch.StatusPending {
		return time.Time{}, false
	}
	var next time.Time
	for _, t := range []*time.Time{r.ExpiresAt, r.ForwardAt} {
		if t != nil && (next.IsZero() || t.Before(next)) {
			next = *t
		}
	}
	return next, !next.IsZero()
}

func dueKey(at time.Time, kind byte, id string) []byte {
	k := make([]byte, 9, 9+len(id))
	if !at.IsZero() && at.UnixNano() > 0 {
		binary.BigEndian.PutUint64(k, uint64(at.UnixNano()))
	}
	k[8] = kind
	return append(k, id...)
}

// reindexGrantDue moves a grant's due entry from what old had (when had) to
// what g has.
func reindexGrantDue(b *bolt.Bucket, old latch.Grant, had bool, g latch.Grant) error {
	if had {
		if at, ok := grantDue(old); ok {
			if err := b.Delete(dueKey(at, dueGrant, old.ID)); err != nil {
				return err
			}
		}
	}
	if at, ok := grantDue(g); ok {
		return b.Put(dueKey(at, dueGrant, g.ID), []byte(g.Status))
	}
	return nil
}

// reindexRequestDue moves a request's due entry from what old had (when
// had) to what r has.
func reindexRequestDue(b *bolt.Bucket, old latch.Request, had bool, r latch.Request) error {
	if had {
		if at, ok := requestDue(old); ok {
			if err := b.Delete(dueKey(at, dueRequest, old.ID)); err != nil {
				return err
			}
		}
	}
	if at, ok := requestDue(r); ok {
		return b.Put(dueKey(at, dueRequest, r.ID), nil)
	}
	return nil
}

// ensureDueIndex builds the due index of a store written before it existed,
// from every grant and request: once, in the transaction that opens the
// store. A document that cannot be decoded is left out (scanDocuments
// reports it).
func ensureDueIndex(tx *bolt.Tx) error {
	if tx.Bucket(bucketDue) != nil {
		return nil
	}
	due, err := tx.CreateBucket(bucketDue)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketDue, err)
	}
	err = tx.Bucket(bucketGrants).ForEach(func(k, v []byte) error {
		var g latch.Grant
		if decodeErr := json.Unmarshal(v, &g); decodeErr != nil {
			return nil
		}
		return reindexGrantDue(due, g, false, g)
	})
	if err != nil {
		return fmt.Errorf("build the due index of grants: %w", err)
	}
	err = tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
		var r latch.Request
		if decodeErr := json.Unmarshal(v, &r); decodeErr != nil {
			return nil
		}
		return reindexRequestDue(due, r, false, r)
	})
	if err != nil {
		return fmt.Errorf("build the due index of requests: %w", err)
	}
	return nil
}

// Due returns the open grants and the requests with a timer whose next due
// time is before before, earliest first, from the due index: the grants
// without reading them, the requests read. A zero before means every one.
func (s *Store) Due(ctx context.Context, before time.Time) ([]latch.DueGrant, []latch.Request, error) {
	var grants []latch.DueGrant
	var requests []latch.Request
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucketDue).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) < 9 {
				continue
			}
			ns := int64(binary.BigEndian.Uint64(k))
			var at time.Time
			if ns != 0 {
				at = time.Unix(0, ns).UTC()
			}
			if !before.IsZero() && !at.Before(before) {
				break
			}
			id := string(k[9:])
			switch k[8] {
			case dueGrant:
				grants = append(grants, latch.DueGrant{ID: id, Status: latch.GrantStatus(v), At: at})
			case dueRequest:
				var r latch.Request
				if getOr(tx, bucketRequests, id, &r, bad) {
					requests = append(requests, r)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("due work: %w", err)
	}
	return grants, requests, nil
}
