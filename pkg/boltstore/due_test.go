package boltstore_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// dueFixture commits grants and requests in every state the due index
// tells apart, and returns when the active grant and the pending request
// fall due.
func dueFixture(t *testing.T, s *boltstore.Store) (grantAt, expiresAt time.Time) {
	t.Helper()
	base := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	grantAt = base.Add(2 * time.Hour)
	expiresAt = base.Add(time.Hour)
	forwardAt := base.Add(30 * time.Minute)
	user := func(e string) latch.UserRef { return latch.UserRef{Email: e} }
	grants := []latch.Grant{
		{ID: "g-active", Key: "k1", Flow: "f", Status: latch.GrantActive, User: user("ann@example.com"),
			Leases: []latch.Lease{{RequestID: "r-a", EndsAt: grantAt.Add(time.Hour)}, {RequestID: "r-b", EndsAt: grantAt}}},
		{ID: "g-escalating", Key: "k2", Flow: "f", Status: latch.GrantEscalating, User: user("bob@example.com")},
		{ID: "g-deescalating", Key: "k3", Flow: "f", Status: latch.GrantDeescalating, User: user("cat@example.com")},
		{ID: "g-ended", Key: "k4", Flow: "f", Status: latch.GrantEnded, User: user("dan@example.com")},
	}
	requests := []latch.Request{
		{ID: "r-pending", Flow: "f", Requester: user("eve@example.com"), Status: latch.StatusPending,
			ExpiresAt: &expiresAt, ForwardAt: &forwardAt},
		{ID: "r-pending-no-timer", Flow: "f", Requester: user("eve@example.com"), Status: latch.StatusPending},
		{ID: "r-ended", Flow: "f", Requester: user("fay@example.com"), Status: latch.StatusEnded, ExpiresAt: &expiresAt},
	}
	if err := s.Commit(t.Context(), latch.Change{Grants: grants, Requests: requests}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return grantAt, forwardAt
}

func dueIDs(t *testing.T, s *boltstore.Store, before time.Time) (grants, requests []string) {
	t.Helper()
	gs, rs, err := s.Due(t.Context(), before)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	for _, g := range gs {
		grants = append(grants, g.ID+"/"+string(g.Status)+"@"+g.At.Format(time.TimeOnly))
	}
	for _, r := range rs {
		requests = append(requests, r.ID)
	}
	return grants, requests
}

func TestDueIndexFollowsEveryWrite(t *testing.T) {
	s := open(t)
	grantAt, forwardAt := dueFixture(t, s)
	grants, requests := dueIDs(t, s, time.Time{})
	wantGrants := []string{"g-deescalating/deescalating@00:00:00", "g-escalating/escalating@00:00:00",
		"g-active/active@" + grantAt.Format(time.TimeOnly)}
	if !slices.Equal(grants, wantGrants) {
		t.Errorf("due grants = %v, want %v (open ones, by due time)", grants, wantGrants)
	}
	if !slices.Equal(requests, []string{"r-pending"}) {
		t.Errorf("due requests = %v, want the pending request with timers", requests)
	}
	// Only what falls due before a time.
	if grants, requests := dueIDs(t, s, forwardAt.Add(time.Minute)); len(grants) != 2 || len(requests) != 1 {
		t.Errorf("due before %v: grants %v, requests %v; want the two at once and the request", forwardAt, grants, requests)
	}

	// The active grant ends, the pending request is approved: both leave the index.
	g, err := s.GetGrant(t.Context(), "g-active")
	if err != nil {
		t.Fatal(err)
	}
	g.Status = latch.GrantDeescalating
	r, err := s.GetRequest(t.Context(), "r-pending")
	if err != nil {
		t.Fatal(err)
	}
	r.Status = latch.StatusActive
	if err := s.Commit(t.Context(), latch.Change{Grants: []latch.Grant{g}, Requests: []latch.Request{r}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	grants, requests = dueIDs(t, s, time.Time{})
	if len(grants) != 3 || !slices.Contains(grants, "g-active/deescalating@00:00:00") || len(requests) != 0 {
		t.Errorf("after the changes: grants %v, requests %v; want g-active due at once and no request", grants, requests)
	}
	// A scheduled request is due at its start, and leaves the index when it
	// starts.
	start := forwardAt.Add(time.Hour)
	sched := latch.Request{ID: "r-scheduled", Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"},
		Status: latch.StatusScheduled, ScheduledStart: &start}
	if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{sched}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, requests := dueIDs(t, s, time.Time{}); !slices.Equal(requests, []string{"r-scheduled"}) {
		t.Errorf("due requests = %v, want the scheduled request", requests)
	}
	if _, requests := dueIDs(t, s, start); len(requests) != 0 {
		t.Errorf("due before its start: %v, want none", requests)
	}
	if sched, err = s.GetRequest(t.Context(), "r-scheduled"); err != nil {
		t.Fatal(err)
	}
	sched.Status = latch.StatusEscalating
	if err := s.Commit(t.Context(), latch.Change{Requests: []latch.Request{sched}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, requests := dueIDs(t, s, time.Time{}); len(requests) != 0 {
		t.Errorf("after the start: due requests %v, want none", requests)
	}
}

// A store written before the due index is given one when it is opened.
func TestDueIndexIsBuiltForAnOlderStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	dueFixture(t, s)
	want, wantReq := dueIDs(t, s, time.Time{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// What an older version left: no due bucket.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("due")) }); err != nil {
		t.Fatalf("drop the due bucket: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, gotReq := dueIDs(t, s, time.Time{})
	if len(want) != 3 || !slices.Equal(got, want) || !slices.Equal(gotReq, wantReq) {
		t.Errorf("after the migration: grants %v, requests %v; want %v, %v", got, gotReq, want, wantReq)
	}
}
