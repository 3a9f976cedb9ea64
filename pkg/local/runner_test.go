package local_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
)

func TestEscalateSuccessMakesTheRequestActive(t *testing.T) {
	rt := newRig(t, rigOptions{})
	r := rt.active(ann, nil)
	g := rt.grant(r.GrantID)
	if g.Status != latch.GrantActive {
		t.Errorf("grant is %s, want active", g.Status)
	}
	// The end is fixed when the grant starts: an hour from the approval that
	// asked for the first escalation attempt.
	if r.StartsAt == nil || r.EndsAt == nil || !r.EndsAt.Equal(g.CreatedAt.Add(time.Hour)) || r.StartsAt.Before(g.CreatedAt) {
		t.Errorf("request runs %v to %v, want an hour from the grant's start %v", r.StartsAt, r.EndsAt, g.CreatedAt)
	}
	if n := rt.esc.count("grant", ann); n != 1 {
		t.Errorf("escalator Grant called %d times, want 1", n)
	}
	if kinds := rt.kinds(g.ID); !hasKind(kinds, latch.CmdEscalated) || hasKind(kinds, latch.CmdEscalationFailed) {
		t.Errorf("runner reported %v, want escalated", kinds)
	}
	if got := rt.auditTypes(r.ID); got[len(got)-1] != latch.AuditEscalated {
		t.Errorf("audit trail %v, want it to end with escalated", got)
	}
}

func TestEscalateRetriesRetryableFailures(t *testing.T) {
	esc := newFakeEscalator()
	esc.on("grant", ann, fail("503 from target"), fail("connection reset"), succeed())
	rt := newRig(t, rigOptions{esc: esc})
	r := rt.active(ann, nil)
	if n := esc.count("grant", ann); n != 3 {
		t.Errorf("escalator Grant called %d times, want 3", n)
	}
	if r.Failure != nil {
		t.Errorf("active request carries failure %+v", r.Failure)
	}
}

func TestEscalateFailures(t *testing.T) {
	for _, tt := range []struct {
		name      string
		give      []answer
		wantCalls int
		wantMsg   string
		// wantRevokes: after failures that leave the target's state unknown
		// (timeouts, 5xx, panics) what may have been granted is taken back;
		// after a permanent refusal nothing was granted.
		wantRevokes int
	}{
		{name: "retryable failures exhaust the attempts", give: []answer{fail("503 from target")},
			wantCalls: testBackoff.EscalateAttempts, wantMsg: "503 from target", wantRevokes: 1},
		{name: "the last failure is the one reported", give: []answer{fail("timeout"), fail("timeout"), fail("502 from target")},
			wantCalls: testBackoff.EscalateAttempts, wantMsg: "502 from target", wantRevokes: 1},
		{name: "a permanent failure is not retried", give: []answer{failForGood("no such user in target")},
			wantCalls: 1, wantMsg: "no such user in target"},
		// The timed-out attempt may have granted: the later refusal does
		// not make that undone.
		{name: "a permanent failure after a retryable one", give: []answer{fail("timeout"), failForGood("group is gone")},
			wantCalls: 2, wantMsg: "group is gone", wantRevokes: 1},
		{name: "a panic is a failure", give: []answer{panicWith("nil map in plugin")},
			wantCalls: testBackoff.EscalateAttempts, wantMsg: "escalator panicked: nil map in plugin", wantRevokes: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			esc := newFakeEscalator()
			esc.on("grant", ann, tt.give...)
			rt := newRig(t, rigOptions{esc: esc})
			r := rt.create(ann, nil)
			rt.approve(r.ID)
			r = rt.waitFor(r.ID, latch.StatusFailed)
			rt.runner.Wait()
			if n := esc.count("grant", ann); n != tt.wantCalls {
				t.Errorf("escalator Grant called %d times, want %d", n, tt.wantCalls)
			}
			maybeHeld := tt.wantRevokes > 0
			want := &latch.Failure{Code: "escalation_failed", Message: tt.wantMsg, Stage: latch.StageEscalate, MaybeHeld: maybeHeld}
			if diff := cmp.Diff(want, r.Failure); diff != "" {
				t.Errorf("request failure (-want +got):\n%s", diff)
			}
			// A grant that may hold access is revoked, then ends; one refused
			// for good fails at once.
			wantGrant, wantAccess := latch.GrantFailed, latch.AccessRevoked
			if maybeHeld {
				wantGrant = latch.GrantEnded
			}
			eventually(t, wait, func() bool { return rt.grant(r.GrantID).Status == wantGrant })
			if a := rt.request(r.ID).Access; a != wantAccess {
				t.Errorf("request access %q, want %q", a, wantAccess)
			}
			if n := esc.count("revoke", ann); n != tt.wantRevokes {
				t.Errorf("escalator Revoke called %d times after the failed grant, want %d", n, tt.wantRevokes)
			}

			// The runtime lives on: the next request is granted.
			other := rt.active(cat, nil)
			if other.Failure != nil {
				t.Errorf("next request failed: %+v", other.Failure)
			}
		})
	}
}

func TestEscalateIdentityFailure(t *testing.T) {
	rt := newRig(t, rigOptions{identity: func(context.Context, *latch.Flow, latch.UserRef) (string, error) {
		return "", latch.Errorf(latch.KindNotFound, "no_identity", "ann has no account in the target.")
	}})
	r := rt.create(ann, nil)
	rt.approve(r.ID)
	r = rt.waitFor(r.ID, latch.StatusFailed)
	want := &latch.Failure{Code: "no_identity", Message: "ann has no account in the target.", Stage: latch.StageEscalate}
	if diff := cmp.Diff(want, r.Failure); diff != "" {
		t.Errorf("request failure (-want +got):\n%s", diff)
	}
	if n := rt.esc.count("grant", ann); n != 0 {
		t.Errorf("escalator Grant called %d times without an identity", n)
	}
}

// A revoke takes access from the identity the grant was made with, recorded
// when the escalation was reported: it needs no lookup (which could fail, or
// find another id after a change).
func TestRevokeUsesTheIdentityTheGrantWasMadeWith(t *testing.T) {
	var mu sync.Mutex
	lookups := 0
	rt := newRig(t, rigOptions{
		identity: func(context.Context, *latch.Flow, latch.UserRef) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			lookups++
			if lookups > 1 {
				return "", errors.New("identity store unreachable")
			}
			return "id-ann", nil
		}})
	r := rt.active(ann, nil)
	if g := rt.grant(r.GrantID); g.Identity != "id-ann" {
		t.Errorf("grant recorded identity %q, want id-ann", g.Identity)
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	specs := rt.esc.specs("revoke", ann)
	if len(specs) != 1 || specs[0].User.Identity != "id-ann" {
		t.Errorf("revokes %+v, want one of id-ann", specs)
	}
	mu.Lock()
	defer mu.Unlock()
	if lookups != 1 {
		t.Errorf("%d identity lookups, want 1 (the grant's)", lookups)
	}
}

func TestDeescalateRetriesUntilItSucceeds(t *testing.T) {
	esc := newFakeEscalator()
	esc.on("revoke", ann, fail("503 from target"), failForGood("403 from target"), panicWith("plugin bug"), succeed())
	rt := newRig(t, rigOptions{esc: esc})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	r = rt.waitFor(r.ID, latch.StatusEnded)
	if n := esc.count("revoke", ann); n != 4 {
		t.Errorf("escalator Revoke called %d times, want 4: every error, permanent or panic, is retried", n)
	}
	if g := rt.grant(r.GrantID); g.Status != latch.GrantEnded {
		t.Errorf("grant is %s, want ended", g.Status)
	}
	if kinds := rt.kinds(r.GrantID); !hasKind(kinds, latch.CmdDeescalated) {
		t.Errorf("runner reported %v, want deescalated", kinds)
	}
}

// A revoke is never given up: long after it fell due, permanent refusals
// included, it is retried until it succeeds, and no failure is reported.
func TestDeescalateIsNeverGivenUp(t *testing.T) {
	clock := &testClock{}
	esc := newFakeEscalator()
	esc.on("revoke", ann, failForGood("403 from target"),
		answer{err: latch.Permanent(errors.New("403: not allowed to remove members")), do: func() { clock.Advance(25 * time.Hour) }},
		failForGood("403 from target"), succeed())
	rt := newRig(t, rigOptions{esc: esc, clock: clock})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	r = rt.waitFor(r.ID, latch.StatusEnded)
	if n := esc.count("revoke", ann); n != 4 {
		t.Errorf("escalator Revoke called %d times, want 4", n)
	}
	if kinds := rt.kinds(r.GrantID); hasKind(kinds, latch.CmdDeescalationFailed) {
		t.Errorf("runner reported %v: a revoke must never be reported failed", kinds)
	}
	if g := rt.grant(r.GrantID); g.Status != latch.GrantEnded {
		t.Errorf("grant is %s, want ended", g.Status)
	}
}

func TestRevokeDelay(t *testing.T) {
	b := local.DefaultBackoff
	for _, tt := range []struct {
		attempt int
		elapsed time.Duration
		want    time.Duration
	}{
		{1, 0, time.Second},
		{2, 2 * time.Second, 2 * time.Second},
		{5, time.Minute, 16 * time.Second},
		{6, time.Minute, 30 * time.Second},
		{60, 59 * time.Minute, 30 * time.Second},
		{61, time.Hour, 5 * time.Minute},
		{1000, 48 * time.Hour, 5 * time.Minute},
	} {
		if got := b.RevokeDelay(tt.attempt, tt.elapsed); got != tt.want {
			t.Errorf("RevokeDelay(%d, %v) = %v, want %v", tt.attempt, tt.elapsed, got, tt.want)
		}
	}
}

// A revoke not done Overdue after it fell due is loud: revoke_overdue with
// the last error on the request, the metric, and it goes on until it works.
func TestOverdueRevokeIsRecordedAndAlerted(t *testing.T) {
	esc := newFakeEscalator()
	esc.on("revoke", ann, panicWith("plugin bug"))
	var mu sync.Mutex
	var metrics []string
	b := testBackoff
	b.Overdue = 100 * time.Millisecond
	rt := newRig(t, rigOptions{esc: esc, backoff: b, metric: func(id string) {
		mu.Lock()
		defer mu.Unlock()
		metrics = append(metrics, id)
	}})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	eventually(t, wait, func() bool { return slices.Contains(rt.auditTypes(r.ID), latch.AuditRevokeOverdue) })
	if got := rt.request(r.ID).Status; got != latch.StatusDeescalating {
		t.Errorf("request is %s while its revoke is overdue, want deescalating", got)
	}
	evs, err := rt.store.AuditEvents(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[len(evs)-1]
	if msg, _ := ev.Data["last_error"].(string); !strings.Contains(msg, "plugin bug") {
		t.Errorf("revoke_overdue data %v, want the last error", ev.Data)
	}
	mu.Lock()
	if len(metrics) != 1 || metrics[0] != r.GrantID {
		t.Errorf("overdue metric for %v, want once for %s", metrics, r.GrantID)
	}
	mu.Unlock()
	esc.on("revoke", ann, succeed())
	rt.waitFor(r.ID, latch.StatusEnded)
}

// An escalation that failed without a refusal may have granted: the grant
// stays open and its revoke is retried until it succeeds (a compensation
// that fails once is not the last word).
func TestFailedEscalationIsRevokedUntilTheRevokeSucceeds(t *testing.T) {
	esc := newFakeEscalator()
	esc.on("grant", ann, fail("timeout"))
	esc.on("revoke", ann, fail("timeout"), fail("503 from target"), succeed())
	rt := newRig(t, rigOptions{esc: esc})
	r := rt.create(ann, nil)
	rt.approve(r.ID)
	r = rt.waitFor(r.ID, latch.StatusFailed)
	eventually(t, wait, func() bool { return rt.grant(r.GrantID).Status == latch.GrantEnded })
	if n := esc.count("revoke", ann); n != 3 {
		t.Errorf("escalator Revoke called %d times, want 3 (until it succeeded)", n)
	}
	r = rt.request(r.ID)
	if r.Status != latch.StatusFailed || r.Access != latch.AccessRevoked {
		t.Errorf("request is %s with access %q, want failed with access revoked", r.Status, r.Access)
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditFailed, latch.AuditDeescalated}
	if diff := cmp.Diff(want, rt.auditTypes(r.ID)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
}

// A grant whose flow was removed is revoked with what it recorded.
func TestRevokeOfAGrantWhoseFlowIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	rt := newRig(t, rigOptions{path: path})
	r := rt.active(ann, nil)
	rt.Close()

	other := testFlow()
	other.Name = "other-flow"
	esc := newFakeEscalator()
	rt = newRig(t, rigOptions{path: path, esc: esc, flows: []*latch.Flow{other}})
	if err := rt.runner.Rearm(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := rt.grant(r.GrantID)
	if err := rt.queue.Publish(context.Background(), latch.Command{ID: "due-1", Kind: latch.CmdDue, GrantID: g.ID,
		At: g.Leases[0].EndsAt, Source: latch.SourceSchedule}); err != nil {
		t.Fatal(err)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	specs := esc.specs("revoke", ann)
	if len(specs) != 1 || specs[0].Target.ID != targetID || specs[0].Target.Settings["group"] != "prod-admins" {
		t.Errorf("revokes %+v, want one of the recorded target", specs)
	}
}

func TestEscalateTwiceConcurrentlyCallsTheEscalatorOnce(t *testing.T) {
	release := make(chan struct{})
	esc := newFakeEscalator()
	esc.on("grant", ann, block(release), succeed())
	rt := newRig(t, rigOptions{esc: esc})
	r := rt.create(ann, nil)
	rt.approve(r.ID) // starts the escalation, which blocks
	r = rt.request(r.ID)
	eventually(t, wait, func() bool { return esc.count("grant", ann) == 1 })
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rt.runner.Escalate(context.Background(), r.GrantID); err != nil {
				t.Errorf("Escalate: %v", err)
			}
		}()
	}
	wg.Wait()
	close(release)
	rt.waitFor(r.ID, latch.StatusActive)
	rt.runner.Wait()
	if n := esc.count("grant", ann); n != 1 {
		t.Errorf("escalator Grant called %d times, want 1", n)
	}
}

func TestDeescalateTwiceConcurrentlyCallsTheEscalatorOnce(t *testing.T) {
	release := make(chan struct{})
	esc := newFakeEscalator()
	esc.on("revoke", ann, block(release), succeed())
	rt := newRig(t, rigOptions{esc: esc})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann) // starts the revoke, which blocks
	eventually(t, wait, func() bool { return esc.count("revoke", ann) == 1 })
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rt.runner.Deescalate(context.Background(), r.GrantID); err != nil {
				t.Errorf("Deescalate: %v", err)
			}
		}()
	}
	wg.Wait()
	close(release)
	rt.waitFor(r.ID, latch.StatusEnded)
	rt.runner.Wait()
	if n := esc.count("revoke", ann); n != 1 {
		t.Errorf("escalator Revoke called %d times, want 1", n)
	}
}

func TestEscalateOfAGrantNoLongerEscalatingDoesNothing(t *testing.T) {
	rt := newRig(t, rigOptions{})
	r := rt.active(ann, nil)
	_ = rt.runner.Escalate(context.Background(), r.GrantID)
	_ = rt.runner.Deescalate(context.Background(), r.GrantID) // active, not deescalating
	_ = rt.runner.Escalate(context.Background(), "grt_unknown")
	rt.runner.Wait()
	if n, m := rt.esc.count("grant", ann), rt.esc.count("revoke", ann); n != 1 || m != 0 {
		t.Errorf("escalator called Grant %d and Revoke %d times, want 1 and 0", n, m)
	}
	if got := rt.request(r.ID); got.Status != latch.StatusActive {
		t.Errorf("request is %s, want active", got.Status)
	}
}

func TestWakeRevokesWhenTheLeaseIsDue(t *testing.T) {
	clock := &testClock{}
	rt := newRig(t, rigOptions{clock: clock})
	r := rt.active(ann, nil)
	ctx := context.Background()

	// A wake-up before the lease's end changes nothing.
	if err := rt.runner.Wake(ctx, r.GrantID, clock.Now()); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	eventually(t, wait, func() bool { return hasKind(rt.kinds(r.GrantID), latch.CmdDue) })
	if got := rt.request(r.ID); got.Status != latch.StatusActive {
		t.Fatalf("request is %s after an early wake-up, want active", got.Status)
	}

	// Once the end has come, the wake-up revokes.
	clock.Advance(time.Hour + time.Minute)
	if err := rt.runner.Wake(ctx, r.GrantID, *r.EndsAt); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	r = rt.waitFor(r.ID, latch.StatusEnded)
	if n := rt.esc.count("revoke", ann); n != 1 {
		t.Errorf("escalator Revoke called %d times, want 1", n)
	}
	if g := rt.grant(r.GrantID); g.Status != latch.GrantEnded {
		t.Errorf("grant is %s, want ended", g.Status)
	}
	if got := rt.auditTypes(r.ID); got[len(got)-1] != latch.AuditDeescalated {
		t.Errorf("audit trail %v, want it to end with deescalated", got)
	}
}

func TestTheLeaseEndsOnItsOwn(t *testing.T) {
	// A real one-second lease, from approval to revoke with no help.
	rt := newRig(t, rigOptions{})
	r := rt.active(ann, map[string]any{latch.FieldNameDuration: 1})
	r = rt.waitFor(r.ID, latch.StatusEnded)
	if kinds := rt.kinds(r.GrantID); !hasKind(kinds, latch.CmdDue) || !hasKind(kinds, latch.CmdDeescalated) {
		t.Errorf("commands about the grant %v, want due and deescalated", kinds)
	}
	if n := rt.esc.count("revoke", ann); n != 1 {
		t.Errorf("escalator Revoke called %d times, want 1", n)
	}
}

func TestEscalatorReceivesTheGrantSpec(t *testing.T) {
	rt := newRig(t, rigOptions{identity: func(_ context.Context, f *latch.Flow, u latch.UserRef) (string, error) {
		if f.Name != flowName {
			t.Errorf("identity asked for flow %q", f.Name)
		}
		return "id-" + strings.TrimSuffix(u.Email, "@example.com"), nil
	}})
	r := rt.active(ann, map[string]any{"reason": "incident 4211", latch.FieldNameDuration: "2h"})
	wantFields := latch.Fields{"reason": "incident 4211", latch.FieldNameDuration: int64(7200), latch.FieldNameTarget: targetID}
	if diff := cmp.Diff(wantFields, r.Fields); diff != "" {
		t.Fatalf("request fields (-want +got):\n%s", diff)
	}
	want := latch.GrantSpec{
		GrantID: r.GrantID,
		User:    latch.SpecUser{Email: ann, Identity: "id-ann"},
		Target:  testTarget,
		Request: latch.SpecRequest{ID: r.ID, Flow: flowName, Fields: wantFields},
	}
	got := rt.esc.specs("grant", ann)
	if len(got) != 1 {
		t.Fatalf("escalator Grant called %d times, want 1", len(got))
	}
	// Before access is in place the spec says when it is meant to start
	// (the call) and end (two hours from the approval, fixed then).
	g := rt.grant(r.GrantID)
	if got[0].StartsAt.IsZero() || got[0].StartsAt.After(*r.StartsAt) || !got[0].EndsAt.Equal(g.CreatedAt.Add(2*time.Hour)) {
		t.Errorf("Grant spec runs %v to %v, want two hours from the grant's start %v", got[0].StartsAt, got[0].EndsAt, g.CreatedAt)
	}
	want.StartsAt, want.EndsAt = got[0].StartsAt, got[0].EndsAt
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("Grant spec (-want +got):\n%s", diff)
	}

	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	g = rt.grant(r.GrantID)
	want.StartsAt, want.EndsAt = *g.StartsAt, g.CreatedAt.Add(2*time.Hour)
	got = rt.esc.specs("revoke", ann)
	if len(got) != 1 {
		t.Fatalf("escalator Revoke called %d times, want 1", len(got))
	}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("Revoke spec (-want +got):\n%s", diff)
	}
}

// checkingEscalator is an escalator that can check (latch.Checker): its
// checks answer held from a script (the last answer repeats).
type checkingEscalator struct {
	*fakeEscalator
	mu     sync.Mutex
	held   []bool
	checks int
}

func (c *checkingEscalator) Check(context.Context, latch.GrantSpec) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks++
	h := c.held[0]
	if len(c.held) > 1 {
		c.held = c.held[1:]
	}
	return h, nil
}

// Where the strategy can check, a revoke is done only when a check after it
// says the access is gone; until then it is retried.
func TestRevokeIsConfirmedByACheck(t *testing.T) {
	fake := newFakeEscalator()
	// Not held before the grant; then still held after the first revoke.
	esc := &checkingEscalator{fakeEscalator: fake, held: []bool{false, true, false}}
	rt := newRig(t, rigOptions{esc: fake, escalator: esc})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	rt.runner.Wait()
	esc.mu.Lock()
	defer esc.mu.Unlock()
	if n := esc.count("revoke", ann); n < 2 || esc.checks < 3 {
		t.Errorf("%d revokes, %d checks; want the revoke retried until a check said the access was gone", n, esc.checks)
	}
	// The deescalated event says the revoke was verified, and how long after
	// the grant's end (the early revoke) it was done.
	evs, err := rt.store.AuditEvents(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e latch.AuditEvent) bool { return e.Type == latch.AuditDeescalated })
	if i < 0 {
		t.Fatalf("no deescalated event in %v", rt.auditTypes(r.ID))
	}
	d := evs[i].Data
	if d["verified"] != true {
		t.Errorf("deescalated data %v: verified is not true", d)
	}
	if s, ok := d["revoke_seconds"].(float64); !ok || s < 0 {
		t.Errorf("deescalated data %v: revoke_seconds is not a duration", d)
	}
}

// A strategy that cannot check records no verified flag.
func TestRevokeWithoutCheckIsNotVerified(t *testing.T) {
	fake := newFakeEscalator()
	rt := newRig(t, rigOptions{esc: fake})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	rt.runner.Wait()
	evs, err := rt.store.AuditEvents(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == latch.AuditDeescalated {
			if _, ok := e.Data["verified"]; ok {
				t.Errorf("deescalated data %v: verified recorded for a strategy that cannot check", e.Data)
			}
			if _, ok := e.Data["revoke_seconds"]; !ok {
				t.Errorf("deescalated data %v: no revoke_seconds", e.Data)
			}
			return
		}
	}
	t.Fatal("no deescalated event")
}

// outputEscalator is the fake escalator handing back what the target said.
type outputEscalator struct {
	*fakeEscalator
	output map[string]any
}

func (e outputEscalator) GrantWithOutput(ctx context.Context, g latch.GrantSpec) (map[string]any, error) {
	return e.output, e.Grant(ctx, g)
}

// An escalator's output (the aws_lambda strategy's body) is kept in the
// escalated audit event.
func TestEscalateKeepsTheEscalatorsOutputInTheAudit(t *testing.T) {
	esc := newFakeEscalator()
	rt := newRig(t, rigOptions{esc: esc, escalator: outputEscalator{esc, map[string]any{"mysql_user": "latch_ann"}}})
	r := rt.active(ann, nil)
	evs, err := rt.store.AuditEvents(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e latch.AuditEvent) bool { return e.Type == latch.AuditEscalated })
	if i < 0 {
		t.Fatalf("no escalated event in %v", rt.auditTypes(r.ID))
	}
	if diff := cmp.Diff(map[string]any{"mysql_user": "latch_ann"}, evs[i].Data["output"]); diff != "" {
		t.Errorf("escalated event's output (-want +got):\n%s", diff)
	}
}

// A flow whose target now points elsewhere does not redirect the revoke of
// a grant approved before: it is revoked where it was granted.
func TestRevokeOfARetargetedFlowGoesWhereTheGrantWas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	rt := newRig(t, rigOptions{path: path})
	r := rt.active(ann, nil)
	rt.Close()

	moved := testFlow()
	moved.Strategy.Targets = []latch.Target{{ID: targetID, Label: testTarget.Label, Settings: map[string]any{"group": "other-group"}}}
	esc := newFakeEscalator()
	rt = newRig(t, rigOptions{path: path, esc: esc, flows: []*latch.Flow{moved}})
	if err := rt.runner.Rearm(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	specs := esc.specs("revoke", ann)
	if len(specs) != 1 || specs[0].Target.Settings["group"] != "prod-admins" {
		t.Errorf("revokes %+v, want one of the group the grant was made in", specs)
	}
}

// A grant still escalating when the process stopped, whose flow is gone
// after the restart, is escalated as it was approved (the process before
// may have granted already), then revoked at its end like any other.
func TestEscalatingGrantOfARemovedFlowAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	stuck := make(chan struct{})
	esc1 := newFakeEscalator()
	esc1.on("grant", ann, block(stuck))
	first := newRig(t, rigOptions{path: path, esc: esc1})
	r := first.create(ann, nil)
	first.approve(r.ID)
	eventually(t, wait, func() bool { return esc1.count("grant", ann) == 1 })
	first.Close()

	other := testFlow()
	other.Name = "other-flow"
	esc := newFakeEscalator()
	rt := newRig(t, rigOptions{path: path, esc: esc, flows: []*latch.Flow{other}})
	if err := rt.runner.Rearm(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = rt.waitFor(r.ID, latch.StatusActive)
	specs := esc.specs("grant", ann)
	if len(specs) != 1 || specs[0].Target.Settings["group"] != "prod-admins" {
		t.Errorf("grants %+v, want one of the recorded target", specs)
	}
}

// A grant still escalating that no escalator can be built for counts as
// maybe held: a process before a restart may have granted. It stays in the
// revoke machinery.
func TestEscalatingGrantWithoutAnEscalatorIsMaybeHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	stuck := make(chan struct{})
	esc1 := newFakeEscalator()
	esc1.on("grant", ann, block(stuck))
	first := newRig(t, rigOptions{path: path, esc: esc1})
	r := first.create(ann, nil)
	first.approve(r.ID)
	eventually(t, wait, func() bool { return esc1.count("grant", ann) == 1 })
	first.Close()

	rt := newRig(t, rigOptions{path: path, unavailable: errors.New("strategy webhook: secret LATCH_WEBHOOK_SECRET is not set")})
	if err := rt.runner.Rearm(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = rt.waitFor(r.ID, latch.StatusFailed)
	if r.Access != latch.AccessMaybeHeld || r.Failure == nil || !r.Failure.MaybeHeld {
		t.Errorf("request access %q, failure %+v; want maybe held", r.Access, r.Failure)
	}
	if g := rt.grant(r.GrantID); g.Status != latch.GrantDeescalating {
		t.Errorf("grant %s, want deescalating: revoked until a revoke succeeds", g.Status)
	}
}
