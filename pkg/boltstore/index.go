package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// The indexes of requests by two or three of status, flow and requester,
// beside the ones by one of them (boltstore.go), so that every combination
// of ListRequests' filters walks the keys of exactly the requests it lists.
// Like every index bucket they hold keys only, each ending in the request's
// time key (created \0 id), so a time range or a page's continuation is a
// key range.
var (
	bucketRequestsByStatusFlow     = []byte("requests_by_status_flow")      // status \0 flow \0 created \0 id
	bucketRequestsByStatusUser     = []byte("requests_by_status_user")      // status \0 email \0 created \0 id
	bucketRequestsByFlowUser       = []byte("requests_by_flow_user")        // flow \0 email \0 created \0 id
	bucketRequestsByStatusFlowUser = []byte("requests_by_status_flow_user") // status \0 flow \0 email \0 created \0 id

	combinedRequestIndexes = [][]byte{bucketRequestsByStatusFlow, bucketRequestsByStatusUser,
		bucketRequestsByFlowUser, bucketRequestsByStatusFlowUser}
)

// withCombinedIndexes adds r's keys in the combined indexes to m, its keys
// in the others; t is r's time key.
func withCombinedIndexes(r latch.Request, t string, m map[string][]byte) map[string][]byte {
	st, flow, user := string(r.Status), r.Flow, latch.NormalizeEmail(r.Requester.Email)
	m[string(bucketRequestsByStatusFlow)] = []byte(st + "\x00" + flow + "\x00" + t)
	m[string(bucketRequestsByStatusUser)] = []byte(st + "\x00" + user + "\x00" + t)
	m[string(bucketRequestsByFlowUser)] = []byte(flow + "\x00" + user + "\x00" + t)
	m[string(bucketRequestsByStatusFlowUser)] = []byte(st + "\x00" + flow + "\x00" + user + "\x00" + t)
	return m
}

// buildCombinedIndexes creates the combined index buckets and, when any was
// missing (a store written before they existed, or a new one), fills them
// from the stored requests: a one-time migration, in Open's transaction.
// It returns how many requests it indexed. A request that cannot be
// decoded is left out (Open reports it).
func buildCombinedIndexes(tx *bolt.Tx) (int, error) {
	missing := false
	for _, name := range combinedRequestIndexes {
		if tx.Bucket(name) == nil {
			missing = true
			if _, err := tx.CreateBucket(name); err != nil {
				return 0, fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
	}
	docs := tx.Bucket(bucketRequests)
	if !missing || docs == nil {
		return 0, nil
	}
	// The keys are put in order: bbolt splits a node only when the
	// transaction commits, so keys put out of order into one transaction
	// cost a move of the node's entries each.
	keys := map[string][][]byte{}
	n := 0
	err := docs.ForEach(func(k, v []byte) error {
		var r latch.Request
		if get(docs, string(k), &r) != nil {
			return nil
		}
		for bucket, key := range withCombinedIndexes(r, string(timeKey(r.CreatedAt, r.ID)), map[string][]byte{}) {
			keys[bucket] = append(keys[bucket], key)
		}
		n++
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("index the stored requests: %w", err)
	}
	for bucket, ks := range keys {
		slices.SortFunc(ks, bytes.Compare)
		b := tx.Bucket([]byte(bucket))
		for _, k := range ks {
			if err := b.Put(k, nil); err != nil {
				return 0, fmt.Errorf("index the stored requests: %w", err)
			}
		}
	}
	return n, nil
}

// requestIndexFor returns the index bucket and key prefix that hold exactly
// the requests matching f's status, flow and requester.
func requestIndexFor(f latch.RequestFilter) (bucket []byte, prefix string) {
	user := latch.NormalizeEmail(f.User)
	var parts []string
	switch {
	case f.Status != "" && f.Flow != "" && user != "":
		bucket, parts = bucketRequestsByStatusFlowUser, []string{string(f.Status), f.Flow, user}
	case f.Status != "" && f.Flow != "":
		bucket, parts = bucketRequestsByStatusFlow, []string{string(f.Status), f.Flow}
	case f.Status != "" && user != "":
		bucket, parts = bucketRequestsByStatusUser, []string{string(f.Status), user}
	case f.Flow != "" && user != "":
		bucket, parts = bucketRequestsByFlowUser, []string{f.Flow, user}
	case f.Status != "":
		bucket, parts = bucketRequestsByStatus, []string{string(f.Status)}
	case f.Flow != "":
		bucket, parts = bucketRequestsByFlow, []string{f.Flow}
	case user != "":
		bucket, parts = bucketRequestsByUser, []string{user}
	default:
		return bucketRequestsByTime, ""
	}
	return bucket, strings.Join(parts, "\x00") + "\x00"
}

// timeBound is the time part of a time key: every key of a request created
// at t or later sorts at or after prefix+timeBound(t), every key of one
// created before t before it.
func timeBound(t time.Time) string { return t.UTC().Format(timeLayout) }

// ListRequests returns the requests matching f, newest first (by
// CreatedAt, then ID), at most f.Limit of them (100 when f.Limit is 0). It
// walks the one index that holds exactly the requests of f's status, flow
// and requester, backwards from the newest key in f's time range (and
// before f.Before), so it reads only the requests it returns.
func (s *Store) ListRequests(ctx context.Context, f latch.RequestFilter) ([]latch.Request, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	bucket, prefix := requestIndexFor(f)
	// Keys in [lo, hi) are the range.
	lo := []byte(prefix)
	if !f.Since.IsZero() {
		lo = []byte(prefix + timeBound(f.Since))
	}
	var hi []byte
	if !f.Until.IsZero() {
		hi = []byte(prefix + timeBound(f.Until))
	}
	if !f.Before.IsZero() {
		if b := []byte(prefix + string(timeKey(f.Before.CreatedAt, f.Before.ID))); hi == nil || bytes.Compare(b, hi) < 0 {
			hi = b
		}
	}
	if hi == nil {
		hi = append([]byte(prefix), 0xff) // after every key with the prefix
	}
	var out []latch.Request
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := lastBefore(c, hi); k != nil && bytes.HasPrefix(k, lo[:len(prefix)]) && bytes.Compare(k, lo) >= 0 && len(out) < limit; k, _ = c.Prev() {
			var r latch.Request
			if !getOr(tx, bucketRequests, idOf(k), &r, bad) {
				continue
			}
			// The index holds exactly the matches; the check keeps a
			// list right should an index key and its document disagree.
			if f.Match(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}
