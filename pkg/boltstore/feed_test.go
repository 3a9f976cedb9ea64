package boltstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

func TestAuditFeed(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	commit := func(dedup, reqID string, version int64, seqs ...int64) error {
		c := latch.Change{Dedup: dedup, Requests: []latch.Request{{ID: reqID, Flow: "f", Status: latch.StatusPending, Version: version,
			Requester: latch.UserRef{Email: "a@example.com"}, CreatedAt: t0}}}
		for _, s := range seqs {
			c.Audit = append(c.Audit, latch.AuditEvent{ID: latch.AuditEventID(reqID, s), RequestID: reqID, Seq: s, Type: latch.AuditRequested, At: t0})
		}
		return st.Commit(ctx, c)
	}
	// Two requests interleaved: the feed keeps commit order across them.
	for _, step := range []struct {
		dedup, req string
		version    int64
		seqs       []int64
	}{{"c1", "r1", 0, []int64{1}}, {"c2", "r2", 0, []int64{1, 2}}, {"c3", "r1", 1, []int64{2}}} {
		if err := commit(step.dedup, step.req, step.version, step.seqs...); err != nil {
			t.Fatal(err)
		}
	}
	// A refused commit adds nothing to the feed.
	if err := commit("c4", "r1", 0, 9); !errors.Is(err, latch.ErrConflict) {
		t.Fatalf("stale commit: %v, want a conflict", err)
	}
	all, err := st.AuditAfter(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, fe := range all {
		got = append(got, fe.Event.ID)
		if i > 0 && fe.Pos <= all[i-1].Pos {
			t.Errorf("positions not increasing: %d after %d", fe.Pos, all[i-1].Pos)
		}
	}
	want := []string{"r1/000001", "r2/000001", "r2/000002", "r1/000002"}
	if len(got) != len(want) {
		t.Fatalf("feed = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("feed = %v, want %v", got, want)
		}
	}
	rest, err := st.AuditAfter(ctx, all[1].Pos, 2)
	if err != nil || len(rest) != 2 || rest[0].Event.ID != "r2/000002" {
		t.Errorf("AuditAfter(second, 2) = %+v, %v; want the third and fourth", rest, err)
	}
	if pos, err := st.FeedCursor(ctx, "datadog"); err != nil || pos != 0 {
		t.Errorf("an unsaved cursor = %d, %v; want 0", pos, err)
	}
	if err := st.SetFeedCursor(ctx, "datadog", all[2].Pos); err != nil {
		t.Fatal(err)
	}
	if pos, err := st.FeedCursor(ctx, "datadog"); err != nil || pos != all[2].Pos {
		t.Errorf("cursor = %d, %v; want %d", pos, err, all[2].Pos)
	}
}
