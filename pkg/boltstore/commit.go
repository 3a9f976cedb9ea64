package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// Commit writes c durably and atomically. Concurrent commits share one bbolt
// transaction and one fsync (see the writer in queue.go), but each change
// stands alone: it returns latch.ErrDuplicate if c.Dedup was committed
// before (checked first, so a replayed change reports a duplicate, not a
// conflict); latch.ErrConflict if a request or grant is not at the version
// given (or, for version 0, exists), if an audit event's ID exists, or if an
// open grant would share its key with another open grant; and a
// latch.KindInvalid error if c names one item twice or has an empty or
// unusable ID. On such an error nothing of c is written, and the other
// changes of its transaction are not affected. A change without Dedup is not
// deduplicated; one with only Dedup records the marker. Commit returns after
// the transaction holding c is on disk.
func (s *Store) Commit(ctx context.Context, c latch.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkChange(c); err != nil {
		return fmt.Errorf("commit %s: %w", c.Dedup, err)
	}
	if c.Dedup == "" && c.Empty() {
		return nil
	}
	if err := s.w.submit(&c); err != nil {
		return fmt.Errorf("commit %s: %w", c.Dedup, err)
	}
	return nil
}

// applyChange writes c in tx, after every check it must pass: if a check
// fails it returns that error (a *changeError) having written nothing. An
// error of any other type came from a write and leaves tx half-written.
func applyChange(tx *bolt.Tx, c latch.Change) error {
	olds, err := checkPreconditions(tx, c)
	if err != nil {
		return &changeError{err}
	}
	if c.Dedup != "" {
		if err := tx.Bucket(bucketDedup).Put([]byte(c.Dedup), binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))); err != nil {
			return err
		}
	}
	for i, r := range c.Requests {
		if err := putRequest(tx, r.UTC(), olds.requests[i]); err != nil {
			return fmt.Errorf("request %s: %w", r.ID, err)
		}
	}
	if err := putGrants(tx, c.Grants, olds.grants); err != nil {
		return err
	}
	for _, e := range c.Audit {
		if err := putAudit(tx, e.UTC()); err != nil {
			return fmt.Errorf("audit event %s: %w", e.ID, err)
		}
	}
	for _, e := range c.Effects {
		if err := putEffect(tx, e.UTC()); err != nil {
			return fmt.Errorf("effect %s: %w", e.ID, err)
		}
	}
	return nil
}

// changeError is a change's own failure: a check it did not pass.
type changeError struct{ err error }

func (e *changeError) Error() string { return e.err.Error() }
func (e *changeError) Unwrap() error { return e.err }

// checkPreconditions reads, without writing, whether c may be written in tx:
// its dedup marker is new, every request and grant is at the version given,
// every audit event's ID is new, and no open grant would share its key with
// another. It returns what it read of the stored requests and grants c
// replaces, for putRequest and putGrants, so that those never fail a check
// after the first write of c and the commit decodes each stored document
// once (and only the part it needs: storedRequest, storedGrant).
func checkPreconditions(tx *bolt.Tx, c latch.Change) (replaced, error) {
	olds := replaced{requests: make([]*storedRequest, len(c.Requests)), grants: make([]*storedGrant, len(c.Grants))}
	if c.Dedup != "" && tx.Bucket(bucketDedup).Get([]byte(c.Dedup)) != nil {
		return olds, latch.ErrDuplicate
	}
	reqs := tx.Bucket(bucketRequests)
	for i, r := range c.Requests {
		var old storedRequest
		err := get(reqs, r.ID, &old)
		if err := checkVersion(err, old.Version, r.Version); err != nil {
			return olds, fmt.Errorf("request %s: %w", r.ID, err)
		}
		if err == nil {
			olds.requests[i] = &old
		}
	}
	// The open-grant bucket as it will be, for the keys c touches: first
	// every stored grant of c releases its key, then each open grant takes
	// its own (the two passes of putGrants).
	docs, open := tx.Bucket(bucketGrants), tx.Bucket(bucketOpenGrants)
	holders := map[string]string{}
	holder := func(key string) string {
		if h, ok := holders[key]; ok {
			return h
		}
		return string(open.Get([]byte(key)))
	}
	for i, g := range c.Grants {
		var old storedGrant
		err := get(docs, g.ID, &old)
		if err := checkVersion(err, old.Version, g.Version); err != nil {
			return olds, fmt.Errorf("grant %s: %w", g.ID, err)
		}
		if err == nil {
			olds.grants[i] = &old
			if holder(old.Key) == old.ID {
				holders[old.Key] = ""
			}
		}
	}
	for _, g := range c.Grants {
		if !g.Status.Open() {
			continue
		}
		if h := holder(g.Key); h != "" && h != g.ID {
			return olds, fmt.Errorf("grant %s: key %s has the open grant %s: %w", g.ID, g.Key, h, latch.ErrConflict)
		}
		holders[g.Key] = g.ID
	}
	audit := tx.Bucket(bucketAudit)
	for _, e := range c.Audit {
		if audit.Get([]byte(e.ID)) != nil {
			return olds, fmt.Errorf("audit event %s: it exists already: %w", e.ID, latch.ErrConflict)
		}
	}
	return olds, nil
}

// replaced is what checkPreconditions read of the stored requests and
// grants a change replaces, index for index with the change's (nil: a new
// one).
type replaced struct {
	requests []*storedRequest
	grants   []*storedGrant
}

// checkChange rejects changes that name an item twice, or whose IDs or
// indexed values cannot be index keys.
func checkChange(c latch.Change) error {
	if err := unique("request", c.Requests, func(r latch.Request) string { return r.ID }); err != nil {
		return err
	}
	if err := unique("grant", c.Grants, func(g latch.Grant) string { return g.ID }); err != nil {
		return err
	}
	if err := unique("audit event", c.Audit, func(e latch.AuditEvent) string { return e.ID }); err != nil {
		return err
	}
	if err := unique("effect", c.Effects, func(e latch.Effect) string { return e.ID }); err != nil {
		return err
	}
	for _, r := range c.Requests {
		if !keyable(r.Flow) || !keyable(string(r.Status)) || !keyable(r.Requester.Email) {
			return latch.Errorf(latch.KindInvalid, "invalid_request", "Request %q has an empty or unusable flow, status or requester.", r.ID)
		}
	}
	for _, g := range c.Grants {
		if !keyable(g.Key) || !keyable(string(g.Status)) {
			return latch.Errorf(latch.KindInvalid, "invalid_grant", "Grant %q has an empty or unusable key or status.", g.ID)
		}
	}
	for _, e := range c.Audit {
		if !keyable(e.RequestID) {
			return latch.Errorf(latch.KindInvalid, "invalid_audit_event", "Audit event %q names no request.", e.ID)
		}
	}
	return nil
}

func unique[T any](what string, items []T, id func(T) string) error {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		k := id(it)
		if !keyable(k) {
			return latch.Errorf(latch.KindInvalid, "invalid_id", "A %s has an empty or unusable ID %q.", what, k)
		}
		if seen[k] {
			return latch.Errorf(latch.KindInvalid, "duplicate_in_change", "The %s %q appears twice in one change.", what, k)
		}
		seen[k] = true
	}
	return nil
}

// keyable reports whether s can be part of an index key: not empty, valid
// UTF-8 (so no 0xff byte) and without NUL, the separator.
func keyable(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func requestIndex(r latch.Request) map[string][]byte {
	t := string(timeKey(r.CreatedAt, r.ID))
	return withCombinedIndexes(r, t, map[string][]byte{
		string(bucketRequestsByTime):   []byte(t),
		string(bucketRequestsByStatus): []byte(string(r.Status) + "\x00" + t),
		string(bucketRequestsByFlow):   []byte(r.Flow + "\x00" + t),
		string(bucketRequestsByUser):   []byte(latch.NormalizeEmail(r.Requester.Email) + "\x00" + t),
	})
}

// putRequest writes r over old, the stored request checkPreconditions read
// (nil: r is new), with its index entries.
func putRequest(tx *bolt.Tx, r latch.Request, old *storedRequest) error {
	docs := tx.Bucket(bucketRequests)
	var prev latch.Request
	keys := requestIndex(r)
	if old != nil {
		prev = old.request()
		for bucket, k := range requestIndex(prev) {
			if bytes.Equal(k, keys[bucket]) {
				delete(keys, bucket) // unchanged: the entry is in place
				continue
			}
			if err := tx.Bucket([]byte(bucket)).Delete(k); err != nil {
				return err
			}
		}
	}
	for bucket, k := range keys {
		if err := tx.Bucket([]byte(bucket)).Put(k, nil); err != nil {
			return err
		}
	}
	if err := reindexRequestDue(tx.Bucket(bucketDue), prev, old != nil, r); err != nil {
		return err
	}
	r.Version++
	return put(docs, r.ID, r)
}

// putGrants writes grants over olds, the stored grants checkPreconditions
// read (index for index; nil: a new grant), in two passes, so that their
// order does not matter: first the entries of the stored grants are
// released; then the writes, each open grant taking its key.
func putGrants(tx *bolt.Tx, grants []latch.Grant, olds []*storedGrant) error {
	docs := tx.Bucket(bucketGrants)
	byStatus := tx.Bucket(bucketGrantsByStatus)
	open := tx.Bucket(bucketOpenGrants)
	for _, o := range olds {
		if o == nil {
			continue // a new grant
		}
		old := o.grant()
		if err := byStatus.Delete(statusKey(old)); err != nil {
			return err
		}
		if err := reindexGrantDue(tx.Bucket(bucketDue), old, true, latch.Grant{}); err != nil {
			return err
		}
		if string(open.Get([]byte(old.Key))) == old.ID {
			if err := open.Delete([]byte(old.Key)); err != nil {
				return err
			}
		}
	}
	for _, g := range grants {
		g = g.UTC()
		if g.Status.Open() {
			if holder := open.Get([]byte(g.Key)); holder != nil && string(holder) != g.ID {
				return fmt.Errorf("grant %s: key %s has the open grant %s: %w", g.ID, g.Key, holder, latch.ErrConflict)
			}
			if err := open.Put([]byte(g.Key), []byte(g.ID)); err != nil {
				return err
			}
		}
		if err := byStatus.Put(statusKey(g), nil); err != nil {
			return err
		}
		if err := reindexGrantDue(tx.Bucket(bucketDue), latch.Grant{}, false, g); err != nil {
			return err
		}
		g.Version++
		if err := put(docs, g.ID, g); err != nil {
			return err
		}
	}
	return nil
}

func statusKey(g latch.Grant) []byte { return []byte(string(g.Status) + "\x00" + g.ID) }

// putAudit writes a request's audit event: the event, its entry in the
// request's log and in the feed.
func putAudit(tx *bolt.Tx, e latch.AuditEvent) error {
	return addAudit(tx, e, bucketAuditByRequest, seqKey(e))
}

// addAudit writes e under its ID, the index key k into bucket index and e's
// feed entry. It returns latch.ErrConflict if an event with e's ID exists.
func addAudit(tx *bolt.Tx, e latch.AuditEvent, index, k []byte) error {
	docs := tx.Bucket(bucketAudit)
	if docs.Get([]byte(e.ID)) != nil {
		return fmt.Errorf("it exists already: %w", latch.ErrConflict)
	}
	if err := tx.Bucket(index).Put(k, nil); err != nil {
		return err
	}
	feed := tx.Bucket(bucketAuditFeed)
	pos, err := feed.NextSequence()
	if err != nil {
		return err
	}
	if err := feed.Put(u64(pos), []byte(e.ID)); err != nil {
		return err
	}
	return put(docs, e.ID, e)
}

// putEffect adds e to the outbox, replacing an effect with the same ID.
func putEffect(tx *bolt.Tx, e latch.Effect) error {
	if err := deleteEffect(tx, e.ID); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOutboxByTime).Put(timeKey(e.CreatedAt, e.ID), nil); err != nil {
		return err
	}
	return put(tx.Bucket(bucketOutbox), e.ID, e)
}
