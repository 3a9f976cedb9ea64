package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// newMessageRef returns the ref of a message about requestID of kind in
// channel, posted at(1).
func newMessageRef(requestID, kind, channel string) latch.MessageRef {
	return latch.MessageRef{
		RequestID: requestID,
		Kind:      kind,
		Team:      "T01",
		Channel:   channel,
		TS:        "1767346200.000100",
		PostedAt:  at(1),
	}
}

func putMessageRef(tb testing.TB, s latch.Store, ref latch.MessageRef) {
	tb.Helper()
	if err := s.PutMessageRef(tb.Context(), ref); err != nil {
		tb.Fatalf("PutMessageRef(%s, %s, %s): %v", ref.RequestID, ref.Kind, ref.Channel, err)
	}
}

func messageRefs(tb testing.TB, s latch.Store, requestID string) []latch.MessageRef {
	tb.Helper()
	refs, err := s.MessageRefs(tb.Context(), requestID)
	if err != nil {
		tb.Fatalf("MessageRefs(%q): %v", requestID, err)
	}
	return refs
}

func testMessageRefs(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("round trip keeps every field, PostedAt in UTC", func(t *testing.T) {
		s := newStore(t)
		ref := latch.MessageRef{
			RequestID: "r1",
			Kind:      "approval",
			Team:      "T0123",
			Channel:   "C0456",
			TS:        "1767346200.123456",
			PostedAt:  at(4).Add(17 * time.Nanosecond).In(zone),
		}
		putMessageRef(t, s, ref)
		got := messageRefs(t, s, "r1")
		if diff := cmp.Diff([]latch.MessageRef{ref}, got, opts); diff != "" {
			t.Fatalf("MessageRefs (-want +got):\n%s", diff)
		}
		if got[0].PostedAt.Location() != time.UTC {
			t.Errorf("PostedAt read back in %v, want UTC", got[0].PostedAt.Location())
		}
	})

	t.Run("put replaces the ref of the same request, kind and channel", func(t *testing.T) {
		s := newStore(t)
		putMessageRef(t, s, newMessageRef("r1", "approval", "C1"))
		ref := newMessageRef("r1", "approval", "C1")
		ref.Team, ref.TS, ref.PostedAt = "T02", "1767346800.000200", at(9)
		putMessageRef(t, s, ref)
		if diff := cmp.Diff([]latch.MessageRef{ref}, messageRefs(t, s, "r1"), opts); diff != "" {
			t.Errorf("MessageRefs (-want +got):\n%s", diff)
		}
	})

	t.Run("refs are ordered by kind then channel", func(t *testing.T) {
		s := newStore(t)
		// Put out of order. "approval" is a prefix of "approval2" and "C1"
		// of "C10"; a '#' in a kind or a channel makes no two refs one.
		want := []latch.MessageRef{
			newMessageRef("r1", "approval", "C1"),
			newMessageRef("r1", "approval", "C10"),
			newMessageRef("r1", "approval", "C2"),
			newMessageRef("r1", "approval", "x#C1"),
			newMessageRef("r1", "approval#x", "C1"),
			newMessageRef("r1", "approval2", "C1"),
			newMessageRef("r1", "summary", "C0"),
		}
		for _, i := range []int{6, 2, 4, 0, 5, 3, 1} {
			putMessageRef(t, s, want[i])
		}
		if diff := cmp.Diff(want, messageRefs(t, s, "r1"), opts); diff != "" {
			t.Errorf("MessageRefs (-want +got):\n%s", diff)
		}
	})

	t.Run("refs of another request are not returned", func(t *testing.T) {
		s := newStore(t)
		// "r1" is a prefix of "r10".
		r1 := newMessageRef("r1", "approval", "C1")
		r10 := newMessageRef("r10", "approval", "C1")
		r10.TS = "1767346800.000300"
		putMessageRef(t, s, r1)
		putMessageRef(t, s, r10)
		if diff := cmp.Diff([]latch.MessageRef{r1}, messageRefs(t, s, "r1"), opts); diff != "" {
			t.Errorf("MessageRefs(r1) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]latch.MessageRef{r10}, messageRefs(t, s, "r10"), opts); diff != "" {
			t.Errorf("MessageRefs(r10) (-want +got):\n%s", diff)
		}
	})

	t.Run("a request without refs has none", func(t *testing.T) {
		s := newStore(t)
		if got := messageRefs(t, s, "r1"); len(got) != 0 {
			t.Errorf("MessageRefs of an empty store = %v, want none", got)
		}
		putMessageRef(t, s, newMessageRef("r1", "approval", "C1"))
		for _, id := range []string{"r2", "r", ""} {
			if got := messageRefs(t, s, id); len(got) != 0 {
				t.Errorf("MessageRefs(%q) = %v, want none", id, got)
			}
		}
	})

	t.Run("refs live beside their request and its audit events", func(t *testing.T) {
		s := newStore(t)
		r := newRequest("r1", at(0))
		ev := newEvent("r1", 1)
		commit(t, s, latch.Change{Dedup: "create/r1", Requests: []latch.Request{r}, Audit: []latch.AuditEvent{ev}})
		ref := newMessageRef("r1", "approval", "C1")
		putMessageRef(t, s, ref)
		r2 := r
		r2.Version, r2.Status, r2.UpdatedAt = 1, latch.StatusCancelled, at(5)
		commit(t, s, latch.Change{Dedup: "cancel/r1", Requests: []latch.Request{r2}})
		if diff := cmp.Diff(written(r2), getRequest(t, s, "r1"), opts); diff != "" {
			t.Errorf("GetRequest (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]latch.AuditEvent{ev}, auditEvents(t, s, "r1"), opts); diff != "" {
			t.Errorf("AuditEvents (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]latch.MessageRef{ref}, messageRefs(t, s, "r1"), opts); diff != "" {
			t.Errorf("MessageRefs (-want +got):\n%s", diff)
		}
	})

	t.Run("a ref without request ID, kind, channel or TS is invalid and writes nothing", func(t *testing.T) {
		s := newStore(t)
		old := newMessageRef("r1", "approval", "C1")
		putMessageRef(t, s, old)
		tests := []struct {
			name string
			edit func(*latch.MessageRef)
		}{
			{"no request ID", func(r *latch.MessageRef) { r.RequestID = "" }},
			{"no kind", func(r *latch.MessageRef) { r.Kind = "" }},
			{"no channel", func(r *latch.MessageRef) { r.Channel = "" }},
			{"no TS", func(r *latch.MessageRef) { r.TS = "" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// Otherwise a replacement of the stored ref.
				ref := old
				ref.Team, ref.TS, ref.PostedAt = "T02", "1767346800.000400", at(7)
				tt.edit(&ref)
				wantInvalid(t, "PutMessageRef", s.PutMessageRef(t.Context(), ref))
			})
		}
		if diff := cmp.Diff([]latch.MessageRef{old}, messageRefs(t, s, "r1"), opts); diff != "" {
			t.Errorf("MessageRefs after invalid puts (-want +got):\n%s", diff)
		}
		if got := messageRefs(t, s, ""); len(got) != 0 {
			t.Errorf("MessageRefs(\"\") after invalid puts = %v, want none", got)
		}
	})
}
