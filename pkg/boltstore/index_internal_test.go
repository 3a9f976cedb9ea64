package boltstore

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// Each combined index holds one key per request, for its status now: a
// status change moves the request's keys, and leaves none behind (the lists
// would skip a stale key, but pay for reading it).
func TestCombinedIndexesHoldEachRequestOnce(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var reqs []latch.Request
	for i, flow := range []string{"prod-db", "staging", "prod-db"} {
		reqs = append(reqs, latch.Request{ID: fmt.Sprintf("r%d", i), Flow: flow, Status: latch.StatusPending,
			Requester: latch.UserRef{Email: "Ann@Example.com"}, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	if err := s.Commit(t.Context(), latch.Change{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	r := reqs[1]
	for v, st := range []latch.Status{latch.StatusApproved, latch.StatusActive} {
		r.Version, r.Status = int64(v+1), st
		if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{r}}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"r0": "pending", "r1": "active", "r2": "pending"}
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, name := range combinedRequestIndexes {
			n := 0
			err := tx.Bucket(name).ForEach(func(k, _ []byte) error {
				n++
				id := idOf(k)
				if strings.Contains(string(name), "status") && !strings.HasPrefix(string(k), want[id]+"\x00") {
					t.Errorf("%s holds %q for %s, whose status is %s", name, k, id, want[id])
				}
				if strings.HasSuffix(string(name), "user") && !strings.Contains(string(k), "ann@example.com\x00") {
					t.Errorf("%s holds %q: the requester is not normalized", name, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n != len(reqs) {
				t.Errorf("%s holds %d keys, want one per request (%d)", name, n, len(reqs))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
