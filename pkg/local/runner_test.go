package local_test

import (
	"context"
	"errors"
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
	if r.StartsAt == nil || r.EndsAt == nil || r.EndsAt.Sub(*r.StartsAt) != time.Hour {
		t.Errorf("request runs %v to %v, want an hour from its start", r.StartsAt, r.EndsAt)
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
		{name: "a permanent failure after a retryable one", give: []answer{fail("timeout"), failForGood("group is gone")},
			wantCalls: 2, wantMsg: "group is gone"},
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
			want := &latch.Failure{Code: "escalation_failed", Message: tt.wantMsg, Stage: latch.StageEscalate}
			if diff := cmp.Diff(want, r.Failure); diff != "" {
				t.Errorf("request failure (-want +got):\n%s", diff)
			}
			if g := rt.grant(r.GrantID); g.Status != latch.GrantFailed {
				t.Errorf("grant is %s, want failed", g.Status)
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

// A revoke never goes ahead with an identity lookup that failed for a
// passing reason: it is retried, and revokes once the lookup answers.
func TestDeescalateRetriesAFailedIdentityLookup(t *testing.T) {
	var mu sync.Mutex
	lookups := 0
	rt := newRig(t, rigOptions{backoff: local.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, EscalateAttempts: 3, RevokeFor: time.Hour},
		identity: func(context.Context, *latch.Flow, latch.UserRef) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			lookups++
			if lookups == 2 || lookups == 3 { // the grant's lookup works; the revoke's first two fail
				return "", errors.New("identity store unreachable")
			}
			return "id-ann", nil
		}})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	if n := rt.esc.count("revoke", ann); n != 1 {
		t.Errorf("escalator Revoke called %d times, want once, after the lookup answered", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if lookups != 4 {
		t.Errorf("%d identity lookups, want 4 (grant, two failures, the revoke's)", lookups)
	}
}

func TestDeescalateRetriesUntilItSucceeds(t *testing.T) {
	esc := newFakeEscalator()
	esc.on("revoke", ann, fail("503 from target"), failForGood("403 from target"), panicWith("plugin bug"), succeed())
	rt := newRig(t, rigOptions{esc: esc, backoff: local.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond,
		EscalateAttempts: 3, RevokeFor: time.Hour}})
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

func TestDeescalateFailsOnceRevokeForHasPassed(t *testing.T) {
	clock := &testClock{}
	esc := newFakeEscalator()
	// Permanent errors are retried too; the third attempt fails after the
	// revoke window has passed, so it is the last.
	esc.on("revoke", ann, failForGood("403 from target"), failForGood("403 from target"),
		answer{err: latch.Permanent(errors.New("403: not allowed to remove members")), do: func() { clock.Advance(2 * time.Hour) }},
		succeed())
	rt := newRig(t, rigOptions{esc: esc, clock: clock, backoff: local.Backoff{Initial: time.Millisecond,
		Max: 5 * time.Millisecond, EscalateAttempts: 3, RevokeFor: time.Hour}})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	r = rt.waitFor(r.ID, latch.StatusFailed)
	rt.runner.Wait()
	if n := esc.count("revoke", ann); n != 3 {
		t.Errorf("escalator Revoke called %d times, want 3", n)
	}
	want := &latch.Failure{Code: "deescalation_failed", Message: "403: not allowed to remove members", Stage: latch.StageDeescalate}
	if diff := cmp.Diff(want, r.Failure); diff != "" {
		t.Errorf("request failure (-want +got):\n%s", diff)
	}
	if g := rt.grant(r.GrantID); g.Status != latch.GrantFailed {
		t.Errorf("grant is %s, want failed", g.Status)
	}
	if kinds := rt.kinds(r.GrantID); !hasKind(kinds, latch.CmdDeescalationFailed) {
		t.Errorf("runner reported %v, want deescalation_failed", kinds)
	}
	if got := rt.auditTypes(r.ID); got[len(got)-1] != latch.AuditDeescalationFailed {
		t.Errorf("audit trail %v, want it to end with deescalation_failed", got)
	}
}

func TestDeescalateWithRealTimeRevokeWindow(t *testing.T) {
	esc := newFakeEscalator()
	esc.on("revoke", ann, panicWith("plugin bug"))
	rt := newRig(t, rigOptions{esc: esc}) // RevokeFor is a few milliseconds
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	r = rt.waitFor(r.ID, latch.StatusFailed)
	if r.Failure == nil || r.Failure.Stage != latch.StageDeescalate || !strings.Contains(r.Failure.Message, "plugin bug") {
		t.Errorf("request failure %+v, want the panic at the deescalate stage", r.Failure)
	}
	if n := esc.count("revoke", ann); n < 1 {
		t.Errorf("escalator Revoke called %d times", n)
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
	// (the call) and end (two hours on).
	if got[0].StartsAt.IsZero() || got[0].StartsAt.After(*r.StartsAt) || got[0].EndsAt.Sub(got[0].StartsAt) != 2*time.Hour {
		t.Errorf("Grant spec runs %v to %v, want two hours from a start no later than %v", got[0].StartsAt, got[0].EndsAt, *r.StartsAt)
	}
	want.StartsAt, want.EndsAt = got[0].StartsAt, got[0].EndsAt
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("Grant spec (-want +got):\n%s", diff)
	}

	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	g := rt.grant(r.GrantID)
	want.StartsAt, want.EndsAt = *g.StartsAt, g.StartsAt.Add(2*time.Hour)
	got = rt.esc.specs("revoke", ann)
	if len(got) != 1 {
		t.Fatalf("escalator Revoke called %d times, want 1", len(got))
	}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("Revoke spec (-want +got):\n%s", diff)
	}
}

func TestARevokeRetriedAsItsFailureIsReportedIsNotLost(t *testing.T) {
	clock := &testClock{}
	esc := newFakeEscalator()
	// The first revoke fails after the revoke window has passed; the retry succeeds.
	esc.on("revoke", ann, answer{err: errors.New("503 from target"), do: func() { clock.Advance(2 * time.Hour) }}, succeed())
	var rt *rig
	var once sync.Once
	retried := make(chan error, 1)
	rt = newRig(t, rigOptions{esc: esc, clock: clock, backoff: local.Backoff{Initial: time.Millisecond,
		Max: 5 * time.Millisecond, EscalateAttempts: 3, RevokeFor: time.Hour},
		after: func(cmd latch.Command, err error) {
			if cmd.Kind != latch.CmdDeescalationFailed || err != nil {
				return
			}
			// An admin retries the moment the failure is committed, while the
			// runner is still finishing the revoke that failed.
			once.Do(func() {
				g := rt.grant(cmd.GrantID)
				retried <- rt.queue.Publish(context.Background(), latch.Command{ID: "retry-1", Kind: latch.CmdRetry,
					RequestID: g.Leases[0].RequestID, Actor: latch.Actor{Email: dan}, Source: latch.SourceAPI})
			})
		}})
	r := rt.active(ann, nil)
	rt.do(latch.CmdRevoke, r.ID, ann)
	if err := <-retried; err != nil {
		t.Fatalf("retry: %v", err)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	if n := esc.count("revoke", ann); n != 2 {
		t.Errorf("escalator Revoke called %d times, want 2", n)
	}
}
