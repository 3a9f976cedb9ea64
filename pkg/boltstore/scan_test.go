package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// With WithBackgroundScan, Open returns before the scan for undecodable
// documents, which reports them all the same.
func TestBackgroundScanReportsUnreadableRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r1", "r2"} {
		r := latch.Request{ID: id, Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"}, Status: latch.StatusEnded}
		if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{r}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	garble(t, path, "requests", "r2")

	s, err = boltstore.Open(path, boltstore.WithBackgroundScan())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := s.AdminAudit(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 && evs[0].Type == boltstore.AuditRecordUnreadable && evs[0].Data["key"] == "r2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin events %+v, want one unreadable record, r2", evs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close stops a scan under way and returns.
func TestCloseStopsTheBackgroundScan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = boltstore.Open(path, boltstore.WithBackgroundScan())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
