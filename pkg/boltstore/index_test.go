package boltstore_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// A store written before the combined indexes existed (the buckets by two
// or three of status, flow and requester) gets them when it is opened:
// lists that need them find the requests stored before, and the store says
// once that it indexed them.
func TestOpenIndexesTheRequestsOfAnEarlierStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var reqs []latch.Request
	for i := range 6 {
		reqs = append(reqs, latch.Request{
			ID: fmt.Sprintf("r%d", i), Flow: []string{"prod-db", "staging"}[i%2],
			Requester: latch.UserRef{Email: []string{"ann@example.com", "bob@example.com"}[i/3]},
			Status:    []latch.Status{latch.StatusPending, latch.StatusActive}[i%3/2],
			CreatedAt: t0.Add(time.Duration(i) * time.Minute), UpdatedAt: t0,
		})
	}
	if err := s.Commit(t.Context(), latch.Change{Requests: reqs}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// What an earlier version left: no combined index buckets.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"requests_by_status_flow", "requests_by_status_user", "requests_by_flow_user", "requests_by_status_flow_user"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return fmt.Errorf("delete %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("remove the combined indexes: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("bolt Close: %v", err)
	}

	var logs bytes.Buffer
	s, err = boltstore.Open(path, boltstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	tests := []struct {
		give latch.RequestFilter
		want []string
	}{
		{latch.RequestFilter{Status: latch.StatusPending, Flow: "prod-db"}, []string{"r4", "r0"}},
		{latch.RequestFilter{Status: latch.StatusActive, User: "bob@example.com"}, []string{"r5"}},
		{latch.RequestFilter{Flow: "staging", User: "ann@example.com"}, []string{"r1"}},
		{latch.RequestFilter{Status: latch.StatusPending, Flow: "staging", User: "bob@example.com"}, []string{"r3"}},
	}
	for _, tt := range tests {
		got, err := s.ListRequests(t.Context(), tt.give)
		if err != nil {
			t.Fatalf("ListRequests(%+v): %v", tt.give, err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
			t.Errorf("ListRequests(%+v) = %v, want %v", tt.give, ids, tt.want)
		}
	}
	if !strings.Contains(logs.String(), "indexed the stored requests") || !strings.Contains(logs.String(), "requests=6") {
		t.Errorf("the log does not say the 6 requests were indexed:\n%s", logs.String())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Once indexed, a store is not indexed again.
	logs.Reset()
	s, err = boltstore.Open(path, boltstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("open again: %v", err)
	}
	defer s.Close()
	if strings.Contains(logs.String(), "indexed") {
		t.Errorf("the third open indexed the requests again:\n%s", logs.String())
	}
}
