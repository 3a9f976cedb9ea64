// Package storetest is the contract suite for latch.Store. Every Store
// implementation runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) latch.Store { return openEmpty(t) })
//	}
//
// The suite pins down what the Store interface promises: reads and lists with
// their filters and orders, Commit's atomicity, version conditions, dedup
// markers and the one-open-grant-per-key rule; audit events of no request
// (AppendAudit, AdminAudit, and the feed of stores with an AuditFeed); users
// and their identities, domains and API tokens; the refs of chat messages
// posted about requests; and what happens when several goroutines commit
// against the same version, or create tokens with the same hash, at once
// (run it under -race).
package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchhq/latch/pkg/latch"
)

// Run runs the contract suite against the stores newStore returns. newStore
// is called once per subtest and must return an empty store; it arranges its
// own clean-up (closing the store) with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("Requests", func(t *testing.T) { testRequests(t, newStore) })
	t.Run("Grants", func(t *testing.T) { testGrants(t, newStore) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, newStore) })
	t.Run("AdminAudit", func(t *testing.T) { testAdminAudit(t, newStore) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, newStore) })
	t.Run("Users", func(t *testing.T) { testUsers(t, newStore) })
	t.Run("DeleteUser", func(t *testing.T) { testDeleteUser(t, newStore) })
	t.Run("Identities", func(t *testing.T) { testIdentities(t, newStore) })
	t.Run("Domains", func(t *testing.T) { testDomains(t, newStore) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newStore) })
	t.Run("MessageRefs", func(t *testing.T) { testMessageRefs(t, newStore) })
	t.Run("Commit", func(t *testing.T) { testCommit(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, newStore) })
}

// t0 is the suite's epoch. It has nanoseconds so that a store that drops
// them is caught.
var t0 = time.Date(2026, time.November, 2, 9, 30, 0, 123456789, time.UTC)

// zone is a non-UTC location: times given in it must read back equal (and
// in UTC).
var zone = time.FixedZone("UTC+5", 5*60*60)

// at returns t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

func ptr[T any](v T) *T { return &v }

// opts compares what a store returns with what was written: times by
// instant (a store may change the location and drops the monotonic
// reading), and nil and empty slices and maps alike.
var opts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	cmpopts.EquateEmpty(),
}

// sortGrantsByID sorts grants by ID, for results whose order the contract leaves open.
var sortGrantsByID = cmpopts.SortSlices(func(a, b latch.Grant) bool { return a.ID < b.ID })

func newRequest(id string, created time.Time) latch.Request {
	return latch.Request{
		ID:        id,
		Flow:      "prod-db",
		Requester: latch.UserRef{ID: "U01", Email: "ann@example.com"},
		CreatedBy: latch.Actor{Email: "ann@example.com"},
		Source:    latch.SourceSlack,
		Fields:    latch.Fields{"reason": "incident 42"},
		TargetID:  "db-1",
		Duration:  3600,
		Status:    latch.StatusPending,
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func newGrant(id, key string, status latch.GrantStatus) latch.Grant {
	return latch.Grant{
		ID:        id,
		Key:       key,
		Flow:      "prod-db",
		TargetID:  "db-1",
		User:      latch.UserRef{ID: "U01", Email: "ann@example.com"},
		Status:    status,
		Leases:    []latch.Lease{{RequestID: "r-" + id, Duration: 3600}},
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

func newEvent(requestID string, seq int64) latch.AuditEvent {
	return latch.AuditEvent{
		ID:        fmt.Sprintf("%s/%d", requestID, seq),
		RequestID: requestID,
		Seq:       seq,
		Type:      latch.AuditRequested,
		At:        at(int(seq)),
		Flow:      "prod-db",
		Requester: "ann@example.com",
		Actor:     latch.Actor{Email: "ann@example.com"},
	}
}

func newEffect(id string, created time.Time) latch.Effect {
	return latch.Effect{ID: id, Kind: latch.EffectNotify, RequestID: "r1", Event: latch.AuditRequested, CreatedAt: created}
}

// written returns r as a store holds it after one more write.
func written[T latch.Request | latch.Grant | latch.User](v T) T {
	switch x := any(&v).(type) {
	case *latch.Request:
		x.Version++
	case *latch.Grant:
		x.Version++
	case *latch.User:
		x.Version++
	}
	return v
}

func commit(tb testing.TB, s latch.Store, c latch.Change) {
	tb.Helper()
	if err := s.Commit(tb.Context(), c); err != nil {
		tb.Fatalf("Commit(%s): %v", describe(c), err)
	}
}

// describe summarises a change for failure messages.
func describe(c latch.Change) string {
	return fmt.Sprintf("dedup %q, %d requests, %d grants, %d audit events, %d effects",
		c.Dedup, len(c.Requests), len(c.Grants), len(c.Audit), len(c.Effects))
}

func getRequest(tb testing.TB, s latch.Store, id string) latch.Request {
	tb.Helper()
	r, err := s.GetRequest(tb.Context(), id)
	if err != nil {
		tb.Fatalf("GetRequest(%q): %v", id, err)
	}
	return r
}

func getGrant(tb testing.TB, s latch.Store, id string) latch.Grant {
	tb.Helper()
	g, err := s.GetGrant(tb.Context(), id)
	if err != nil {
		tb.Fatalf("GetGrant(%q): %v", id, err)
	}
	return g
}

func pending(tb testing.TB, s latch.Store, limit int) []latch.Effect {
	tb.Helper()
	effs, err := s.PendingEffects(tb.Context(), limit)
	if err != nil {
		tb.Fatalf("PendingEffects(%d): %v", limit, err)
	}
	return effs
}

func auditEvents(tb testing.TB, s latch.Store, requestID string) []latch.AuditEvent {
	tb.Helper()
	evs, err := s.AuditEvents(tb.Context(), requestID)
	if err != nil {
		tb.Fatalf("AuditEvents(%q): %v", requestID, err)
	}
	return evs
}

// wantErr fails tb unless errors.Is(err, want).
func wantErr(tb testing.TB, what string, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// wantNotFound fails tb unless err is ErrNotFound.
func wantNotFound(tb testing.TB, what string, err error) {
	tb.Helper()
	wantErr(tb, what, err, latch.ErrNotFound)
}

// wantInvalid fails tb unless err is a latch.KindInvalid error.
func wantInvalid(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil || latch.ErrorKindOf(err) != latch.KindInvalid {
		tb.Fatalf("%s: got error %v, want a %s error", what, err, latch.KindInvalid)
	}
}
