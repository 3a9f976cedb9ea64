package local_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
)

// target is a fake target system that can check (latch.Checker): a set of
// people who hold the access. Grant adds the person, Revoke removes them,
// Check reads the set. The fake escalator scripts the answers: a Grant
// whose script fails still adds the person first (a write that timed out).
type target struct {
	*fakeEscalator
	mu     sync.Mutex
	holds  map[string]bool
	checks int
}

var _ latch.Checker = (*target)(nil)

func newTarget(holders ...string) *target {
	t := &target{fakeEscalator: newFakeEscalator(), holds: map[string]bool{}}
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

// deescalatedData is the data of the request's deescalated event.
func (rt *rig) deescalatedData(requestID string) map[string]any {
	rt.t.Helper()
	evs, err := rt.store.AuditEvents(context.Background(), requestID)
	if err != nil {
		rt.t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e latch.AuditEvent) bool { return e.Type == latch.AuditDeescalated })
	if i < 0 {
		rt.t.Fatalf("no deescalated event in %v", rt.auditTypes(requestID))
	}
	return evs[i].Data
}

func heldBefore(g latch.Grant) string {
	if g.HeldBefore == nil {
		return "unset"
	}
	if *g.HeldBefore {
		return "true"
	}
	return "false"
}

// Access the person had before Latch is left in place: it is not granted
// (nothing to add) nor revoked, the grant still ends on time, and the
// audit trail says so.
func TestAccessHeldBeforeIsLeftInPlace(t *testing.T) {
	tg := newTarget(ann)
	rt := newRig(t, rigOptions{esc: tg.fakeEscalator, escalator: tg})
	r := rt.active(ann, nil)
	if got := heldBefore(rt.grant(r.GrantID)); got != "true" {
		t.Errorf("grant held_before = %s, want true", got)
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	rt.runner.Wait()
	if n, m := tg.count("grant", ann), tg.count("revoke", ann); n != 0 || m != 0 {
		t.Errorf("Grant called %d times, Revoke %d times; want neither", n, m)
	}
	if !tg.has(ann) {
		t.Error("the access ann had before Latch was taken away")
	}
	if g := rt.grant(r.GrantID); g.Status != latch.GrantEnded {
		t.Errorf("grant is %s, want ended", g.Status)
	}
	d := rt.deescalatedData(r.ID)
	if d["held_before"] != true || d["access"] != "left_in_place" || d["verified"] != nil {
		t.Errorf("deescalated data %v: want held_before and access left_in_place, not verified", d)
	}
}

// Access the person did not have is granted and revoked, and the grant
// records that it was not held before.
func TestAccessNotHeldBeforeIsGrantedAndRevoked(t *testing.T) {
	tg := newTarget()
	rt := newRig(t, rigOptions{esc: tg.fakeEscalator, escalator: tg})
	r := rt.active(ann, nil)
	if got := heldBefore(rt.grant(r.GrantID)); got != "false" {
		t.Errorf("grant held_before = %s, want false", got)
	}
	if !tg.has(ann) {
		t.Fatal("the access was not granted")
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	rt.runner.Wait()
	if tg.has(ann) {
		t.Error("the access Latch granted is still in place after the revoke")
	}
	if d := rt.deescalatedData(r.ID); d["verified"] != true || d["held_before"] != nil {
		t.Errorf("deescalated data %v: want verified and no held_before", d)
	}
}

// A first Grant attempt that wrote and then timed out leaves the access in
// place; the retry finds it there. It is Latch's all the same: the answer
// recorded before the first attempt stands, and the access is revoked.
func TestARetryThatFindsItsOwnGrantStillRevokes(t *testing.T) {
	tg := newTarget()
	tg.on("grant", ann, fail("timeout after the write"), succeed())
	rt := newRig(t, rigOptions{esc: tg.fakeEscalator, escalator: tg})
	r := rt.active(ann, nil)
	if n := tg.count("grant", ann); n != 2 {
		t.Errorf("Grant called %d times, want 2", n)
	}
	tg.mu.Lock()
	checks := tg.checks
	tg.mu.Unlock()
	if checks != 1 {
		t.Errorf("%d checks before granting, want 1 (before the first attempt only)", checks)
	}
	if got := heldBefore(rt.grant(r.GrantID)); got != "false" {
		t.Errorf("grant held_before = %s, want false", got)
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	rt.runner.Wait()
	if tg.has(ann) {
		t.Error("the access Latch granted outlived the grant")
	}
}

// crashWhileGranting runs a first process that approves ann's request and
// stops while its Grant call has written but not answered; before it stops,
// edit (if set) changes the grant as stored. A second process on the same
// file then re-arms, escalates again and, once active, revokes. It returns
// the second process's grant as recorded while active and how many checks
// the target saw in all; the caller asserts on them and on tg.
func crashWhileGranting(t *testing.T, tg *target, edit func(*latch.Grant)) (latch.Grant, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latch.db")
	stuck := make(chan struct{}) // never closed: the first process stops while granting
	tg.on("grant", ann, block(stuck))
	first := newRig(t, rigOptions{path: path, esc: tg.fakeEscalator, escalator: tg})
	r := first.create(ann, nil)
	first.approve(r.ID)
	eventually(t, wait, func() bool { return tg.count("grant", ann) == 1 })
	r = first.request(r.ID)
	g := first.grant(r.GrantID)
	if g.Status != latch.GrantEscalating || heldBefore(g) != "false" {
		t.Fatalf("before the crash the grant is %s with held_before %s, want escalating and false", g.Status, heldBefore(g))
	}
	if edit != nil {
		edit(&g)
		if err := first.store.Commit(context.Background(), latch.Change{Grants: []latch.Grant{g}}); err != nil {
			t.Fatal(err)
		}
	}
	first.Close()
	if !tg.has(ann) {
		t.Fatal("the first process's Grant did not write")
	}

	tg.on("grant", ann, succeed())
	second := newRig(t, rigOptions{path: path, esc: tg.fakeEscalator, escalator: tg})
	if err := second.runner.Rearm(context.Background()); err != nil {
		t.Fatal(err)
	}
	second.waitFor(r.ID, latch.StatusActive)
	active := second.grant(r.GrantID)
	tg.mu.Lock()
	checks := tg.checks
	tg.mu.Unlock()
	second.do(latch.CmdRevoke, r.ID, ann)
	second.waitFor(r.ID, latch.StatusEnded)
	second.runner.Wait()
	return active, checks
}

// A process that recorded the answer and granted, then stopped before it
// reported: the next process escalates the grant again from the store. It
// finds the access in place but does not ask again; the grant ends revoked.
func TestARunAfterACrashStillRevokes(t *testing.T) {
	tg := newTarget()
	g, checks := crashWhileGranting(t, tg, nil)
	if checks != 1 {
		t.Errorf("%d checks before granting, want 1: the second process must not ask again", checks)
	}
	if got := heldBefore(g); got != "false" {
		t.Errorf("grant held_before = %s, want false", got)
	}
	if tg.has(ann) {
		t.Error("the access Latch granted before the crash outlived the grant")
	}
}

// A grant an earlier version was escalating at the upgrade (it records no
// checks_held): that version may have granted already, so the next process
// neither asks whether the access was held before nor leaves it in place.
func TestAnUpgradedGrantIsNeverHeldBefore(t *testing.T) {
	tg := newTarget()
	g, checks := crashWhileGranting(t, tg, func(g *latch.Grant) {
		g.HeldBefore, g.ChecksHeld = nil, false // what an earlier version wrote
	})
	if checks != 1 { // the first process's own, before its grant
		t.Errorf("%d checks before granting, want 1: an upgraded grant is not checked", checks)
	}
	if got := heldBefore(g); got != "unset" {
		t.Errorf("grant held_before = %s, want unset", got)
	}
	if tg.has(ann) {
		t.Error("the access an earlier version granted outlived the grant")
	}
}

// A check that fails before the first grant granted nothing: it is retried
// like a failed grant, and once the attempts are used up the request fails
// without anything to revoke.
func TestACheckThatFailsBeforeGrantingIsRetried(t *testing.T) {
	tg := &failingCheck{target: newTarget()}
	rt := newRig(t, rigOptions{esc: tg.fakeEscalator, escalator: tg})
	r := rt.create(ann, nil)
	rt.approve(r.ID)
	r = rt.waitFor(r.ID, latch.StatusFailed)
	rt.runner.Wait()
	if r.Failure == nil || r.Failure.MaybeHeld || r.Access != latch.AccessRevoked {
		t.Errorf("failure %+v, access %q: want a failure that holds nothing", r.Failure, r.Access)
	}
	if n, m := tg.count("grant", ann), tg.count("revoke", ann); n != 0 || m != 0 {
		t.Errorf("Grant called %d times, Revoke %d times; want neither", n, m)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.checks != testBackoff.EscalateAttempts {
		t.Errorf("%d checks, want one per attempt (%d)", tg.checks, testBackoff.EscalateAttempts)
	}
	if g := rt.grant(r.GrantID); g.HeldBefore != nil {
		t.Errorf("grant held_before = %s, want unset", heldBefore(g))
	}
}

// failingCheck is a target whose checks fail.
type failingCheck struct{ *target }

func (f *failingCheck) Check(context.Context, latch.GrantSpec) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	return false, errTargetDown
}

var errTargetDown = latch.Errorf(latch.KindInternal, "target_down", "503 from the target")
