package sfngrants_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

var _ sfngrants.HeldRecords = (*dynamostore.Store)(nil)

// heldStores are the HeldRecords the tests run against: in memory, and
// DynamoDB Local (skipped where it is not installed, unless
// LATCH_REQUIRE_DYNAMODB=1).
var heldStores = []struct {
	name string
	open func(testing.TB) sfngrants.HeldRecords
}{
	{"memory", func(testing.TB) sfngrants.HeldRecords { return &sfngrants.MemoryHeld{} }},
	{"dynamodb", func(tb testing.TB) sfngrants.HeldRecords { return dynamotest.NewStore(tb) }},
}

// forEachHeldStore runs f once per HeldRecords.
func forEachHeldStore(t *testing.T, f func(t *testing.T, held sfngrants.HeldRecords)) {
	for _, s := range heldStores {
		t.Run(s.name, func(t *testing.T) { f(t, s.open(t)) })
	}
}

// The first answer recorded stands; a grant with none is not found.
func TestHeldRecordsFirstWriterWins(t *testing.T) {
	forEachHeldStore(t, func(t *testing.T, held sfngrants.HeldRecords) {
		ctx := context.Background()
		if _, err := held.HeldBefore(ctx, "grt_none"); !errors.Is(err, latch.ErrNotFound) {
			t.Errorf("HeldBefore of a grant with no record: %v, want ErrNotFound", err)
		}
		for _, first := range []bool{false, true} {
			id := "grt_first_" + map[bool]string{false: "no", true: "yes"}[first]
			if got, err := held.RecordHeldBefore(ctx, id, first); err != nil || got != first {
				t.Fatalf("RecordHeldBefore(%v) = %v, %v", first, got, err)
			}
			if got, err := held.RecordHeldBefore(ctx, id, !first); err != nil || got != first {
				t.Errorf("a second RecordHeldBefore(%v) = %v, %v; want the first answer %v", !first, got, err, first)
			}
			if got, err := held.HeldBefore(ctx, id); err != nil || got != first {
				t.Errorf("HeldBefore = %v, %v; want %v", got, err, first)
			}
		}
	})
}

// target is a fake target system that can check (latch.Checker): the
// people who hold the access. Grant adds the person before the fake
// escalator's scripted answer (a write that then times out), Revoke removes
// them after a successful answer, Check reads.
type target struct {
	*fakeEscalator
	mu     sync.Mutex
	holds  map[string]bool
	checks int
}

var _ latch.Checker = (*target)(nil)

func newTarget(esc *fakeEscalator, holders ...string) *target {
	t := &target{fakeEscalator: esc, holds: map[string]bool{}}
	for _, h := range holders {
		t.holds[h] = true
	}
	return t
}

func (t *target) Grant(ctx context.Context, g latch.GrantSpec) error {
	t.set(g.User.Email, true)
	return t.fakeEscalator.Grant(ctx, g)
}

func (t *target) Revoke(ctx context.Context, g latch.GrantSpec) error {
	if err := t.fakeEscalator.Revoke(ctx, g); err != nil {
		return err
	}
	t.set(g.User.Email, false)
	return nil
}

func (t *target) Check(_ context.Context, g latch.GrantSpec) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checks++
	return t.holds[g.User.Email], nil
}

func (t *target) set(email string, held bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.holds[email] = held
}

func (t *target) has(email string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.holds[email]
}

func (t *target) checked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checks
}

// withTarget makes tg the escalator of the rig's tasks, and held their
// record of access held before.
func (rt *rig) withTarget(tg *target, held sfngrants.HeldRecords) {
	rt.tasks.Escalator = func(*latch.Flow) (latch.Escalator, error) { return tg, nil }
	rt.tasks.Held = held
}

func (rt *rig) deescalatedData(requestID string) map[string]any {
	rt.t.Helper()
	evs, err := rt.store.AuditEvents(context.Background(), requestID)
	if err != nil {
		rt.t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e latch.AuditEvent) bool { return e.Type == latch.AuditDeescalated })
	if i < 0 {
		rt.t.Fatalf("no deescalated event of %s", requestID)
	}
	return evs[i].Data
}

func heldOf(g latch.Grant) string {
	if g.HeldBefore == nil {
		return "unset"
	}
	return map[bool]string{false: "false", true: "true"}[*g.HeldBefore]
}

// On AWS, access the person had before Latch is neither granted nor
// revoked: the grant ends, and the audit trail says it was left in place.
func TestHeldBeforeIsLeftInPlaceOnAWS(t *testing.T) {
	forEachHeldStore(t, func(t *testing.T, held sfngrants.HeldRecords) {
		rt := newRig(t)
		tg := newTarget(rt.esc, ann)
		rt.withTarget(tg, held)
		r, g, ex := rt.active("1h")
		if heldOf(g) != "true" {
			t.Errorf("grant held_before = %s, want true", heldOf(g))
		}
		rt.do(latch.CmdRevoke, r.ID, ann)
		if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
			t.Fatalf("execution %s: %s %s", e.Status, e.Error, e.Cause)
		}
		rt.waitFor(r.ID, latch.StatusEnded)
		if n, m := rt.esc.count("grant"), rt.esc.count("revoke"); n != 0 || m != 0 {
			t.Errorf("Grant called %d times, Revoke %d times; want neither", n, m)
		}
		if !tg.has(ann) {
			t.Error("the access ann had before Latch was taken away")
		}
		if d := rt.deescalatedData(r.ID); d["held_before"] != true || d["access"] != "left_in_place" {
			t.Errorf("deescalated data %v: want held_before and access left_in_place", d)
		}
	})
}

// Access the person did not have is granted and revoked; and when the first
// Grant attempt wrote, then failed, the retry that finds the access in
// place still treats it as Latch's.
func TestHeldBeforeIsDecidedOnceOnAWS(t *testing.T) {
	for _, tt := range []struct {
		name   string
		grants []error
	}{
		{"granted at once", nil},
		{"a first attempt that wrote then timed out", []error{errDown, nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			forEachHeldStore(t, func(t *testing.T, held sfngrants.HeldRecords) {
				rt := newRig(t)
				tg := newTarget(rt.esc)
				rt.withTarget(tg, held)
				rt.esc.on("grant", tt.grants...)
				r, g, ex := rt.active("1h")
				if heldOf(g) != "false" {
					t.Errorf("grant held_before = %s, want false", heldOf(g))
				}
				if n := tg.checked(); n != 1 {
					t.Errorf("%d checks before granting, want 1", n)
				}
				rt.do(latch.CmdRevoke, r.ID, ann)
				if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
					t.Fatalf("execution %s: %s %s", e.Status, e.Error, e.Cause)
				}
				rt.waitFor(r.ID, latch.StatusEnded)
				if tg.has(ann) {
					t.Error("the access Latch granted outlived the grant")
				}
				if d := rt.deescalatedData(r.ID); d["held_before"] != nil || d["verified"] != true {
					t.Errorf("deescalated data %v: want verified, no held_before", d)
				}
			})
		})
	}
}

// An escalate task that recorded, granted and died before its report (a
// Lambda that timed out) is run again: it does not ask again, and reports
// not held. If that report is lost too, the revoke reads the record and
// still revokes. A record of held before is kept the same way: the revoke
// and the clean-up leave the access alone, and the escalated report sent
// again by a rechecking Hold carries it.
func TestHeldBeforeRecordOutlivesACrashOnAWS(t *testing.T) {
	forEachHeldStore(t, func(t *testing.T, held sfngrants.HeldRecords) {
		ctx := context.Background()
		for _, before := range []bool{false, true} {
			g := activeGrant()
			g.ID = map[bool]string{false: "grt_crash_no", true: "grt_crash_yes"}[before]
			g.Status = latch.GrantEscalating
			g.Leases = []latch.Lease{{RequestID: "req_a", Duration: 3600}}
			g.ChecksHeld = true
			fake := &fakeEscalator{}
			tg := newTarget(fake)
			if before {
				tg.set(ann, true)
			}
			h, store, _ := newHandler(g, tg)
			h.Held = held

			for run := 1; run <= 2; run++ { // the first run's report is lost with its Lambda
				out, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionEscalate})
				if err != nil {
					t.Fatalf("escalate run %d: %v", run, err)
				}
				m, err := events.Unmarshal([]byte(out.Report.Body))
				if err != nil {
					t.Fatal(err)
				}
				if m.HeldBefore == nil || *m.HeldBefore != before {
					t.Errorf("held before %v: run %d reports held_before %v", before, run, m.HeldBefore)
				}
			}
			if n := tg.checked(); n != 1 {
				t.Errorf("held before %v: %d checks, want 1", before, n)
			}
			wantGrants := map[bool]int{false: 2, true: 0}[before]
			if n := fake.count("grant"); n != wantGrants {
				t.Errorf("held before %v: Grant called %d times, want %d", before, n, wantGrants)
			}

			// A Hold rechecking a grant still escalating long after sends
			// the escalated report again, with the record.
			g.UpdatedAt = fixedNow.Add(-time.Hour)
			store.grants[g.ID] = g
			if _, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionHold, TaskToken: "tok-" + g.ID,
				Hold: &sfngrants.Hold{Seconds: 60, Recheck: true}}); err != nil {
				t.Fatal(err)
			}
			sent := h.Reports.(*sentReports).sent
			if len(sent) == 0 {
				t.Fatal("the Hold sent no report")
			}
			if m := sent[len(sent)-1]; m.Type != events.TypeEscalated || m.HeldBefore == nil || *m.HeldBefore != before {
				t.Errorf("held before %v: the escalated report sent again is %s with held_before %v", before, m.Type, m.HeldBefore)
			}

			// The clean-up after a failed escalation, and the revoke of a
			// grant whose reports were all lost (it records nothing).
			if _, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionCleanUp}); err != nil {
				t.Fatal(err)
			}
			g.Status = latch.GrantDeescalating
			store.grants[g.ID] = g
			out, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionDeescalate})
			if err != nil {
				t.Fatal(err)
			}
			m, err := events.Unmarshal([]byte(out.Report.Body))
			if err != nil {
				t.Fatal(err)
			}
			if m.Type != events.TypeDeescalated || m.HeldBefore == nil || *m.HeldBefore != before {
				t.Errorf("held before %v: revoke reports %s with held_before %v", before, m.Type, m.HeldBefore)
			}
			wantRevokes := map[bool]int{false: 2, true: 0}[before] // the clean-up's and the revoke's
			if n := fake.count("revoke"); n != wantRevokes {
				t.Errorf("held before %v: Revoke called %d times, want %d", before, n, wantRevokes)
			}
			if tg.has(ann) != before {
				t.Errorf("held before %v: the target holds the access: %v", before, tg.has(ann))
			}
		}
	})
}

// Without a record store, or with an escalator that cannot check, nothing
// is checked: the access is treated as Latch's (held_before unset).
func TestHeldBeforeNeedsACheckAndARecord(t *testing.T) {
	g := activeGrant()
	g.Status = latch.GrantEscalating
	g.Leases = []latch.Lease{{RequestID: "req_a", Duration: 3600}}
	for _, tt := range []struct {
		name string
		esc  latch.Escalator
		held sfngrants.HeldRecords
	}{
		{"no record store", newTarget(&fakeEscalator{}, ann), nil},
		{"an escalator that cannot check", &fakeEscalator{}, &sfngrants.MemoryHeld{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _, _ := newHandler(g, tt.esc)
			h.Held = tt.held
			out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionEscalate})
			if err != nil {
				t.Fatal(err)
			}
			m, err := events.Unmarshal([]byte(out.Report.Body))
			if err != nil {
				t.Fatal(err)
			}
			if m.HeldBefore != nil {
				t.Errorf("held_before %v, want none", *m.HeldBefore)
			}
		})
	}
}

// A grant an earlier version started (no ChecksHeld: that version may have
// granted already, before an upgrade) is never checked for access held
// before: the access the escalate task finds may be Latch's own, so it is
// granted as usual and revoked at the end.
func TestUpgradedGrantIsNeverHeldBeforeOnAWS(t *testing.T) {
	forEachHeldStore(t, func(t *testing.T, held sfngrants.HeldRecords) {
		ctx := context.Background()
		g := activeGrant()
		g.ID = "grt_upgraded"
		g.Status = latch.GrantEscalating
		g.Leases = []latch.Lease{{RequestID: "req_a", Duration: 3600}}
		fake := &fakeEscalator{}
		tg := newTarget(fake)
		tg.set(ann, true) // what the earlier version's grant call did
		h, store, _ := newHandler(g, tg)
		h.Held = held
		out, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionEscalate})
		if err != nil {
			t.Fatal(err)
		}
		m, err := events.Unmarshal([]byte(out.Report.Body))
		if err != nil {
			t.Fatal(err)
		}
		if m.HeldBefore != nil || tg.checked() != 0 {
			t.Errorf("held_before %v after %d checks; want neither", m.HeldBefore, tg.checked())
		}
		g.Status = latch.GrantDeescalating
		store.grants[g.ID] = g
		if _, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: sfngrants.ActionDeescalate}); err != nil {
			t.Fatal(err)
		}
		if tg.has(ann) {
			t.Error("the access outlived the grant")
		}
	})
}
