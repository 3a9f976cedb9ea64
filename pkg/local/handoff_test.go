package local_test

import (
	"context"
	"sync"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
)

// readCounter is a store that counts the runner's reads of grants and
// requests.
type readCounter struct {
	latch.Store
	mu    sync.Mutex
	reads int
}

func (c *readCounter) GetGrant(ctx context.Context, id string) (latch.Grant, error) {
	c.count()
	return c.Store.GetGrant(ctx, id)
}

func (c *readCounter) GetRequest(ctx context.Context, id string) (latch.Request, error) {
	c.count()
	return c.Store.GetRequest(ctx, id)
}

func (c *readCounter) count() { c.mu.Lock(); c.reads++; c.mu.Unlock() }

// take returns the reads counted since the last take.
func (c *readCounter) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.reads
	c.reads = 0
	return n
}

func countingRig(t *testing.T, esc *fakeEscalator) (*rig, *readCounter) {
	reads := &readCounter{}
	rt := newRig(t, rigOptions{esc: esc, runnerStore: func(s latch.Store) latch.Store {
		reads.Store = s
		return reads
	}})
	return rt, reads
}

// revokeEarly makes ann's access active, has her revoke it and waits until
// it has ended; it returns her request and how often the runner read the
// store for the revoke.
func revokeEarly(rt *rig, reads *readCounter) (latch.Request, int) {
	r := rt.active(ann, nil)
	reads.take()
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.waitFor(r.ID, latch.StatusEnded)
	return r, reads.take()
}

// The revoke that the engine's commit starts acts on the grant and the
// request handed over: the runner reads neither again.
func TestRevokeActsOnTheGrantHandedOver(t *testing.T) {
	rt, reads := countingRig(t, nil)
	r, n := revokeEarly(rt, reads)
	if n != 0 {
		t.Errorf("the runner read the store %d times for the revoke, want none", n)
	}
	specs := rt.esc.specs("revoke", ann)
	if len(specs) != 1 || specs[0].GrantID != r.GrantID || specs[0].Request.ID != r.ID || specs[0].Target.ID != targetID {
		t.Errorf("revokes %+v, want one of grant %s for request %s", specs, r.GrantID, r.ID)
	}
}

// A revoke that failed reads the grant again for its retry.
func TestARetriedRevokeReadsTheGrantAgain(t *testing.T) {
	esc := newFakeEscalator()
	esc.on("revoke", ann, fail("503 from target"), succeed())
	r, n := revokeEarly(countingRig(t, esc))
	if n != 2 {
		t.Errorf("the runner read the store %d times, want 2: the grant and its request, for the retry", n)
	}
	specs := esc.specs("revoke", ann)
	if len(specs) != 2 || specs[0].Request.ID != r.ID || specs[1].Request.ID != r.ID {
		t.Errorf("revokes %+v, want two for request %s", specs, r.ID)
	}
}

// A hand-off of a version of the grant that the runner has seen settled
// (its revoke done) calls nothing, reports nothing and reads nothing.
func TestAStaleHandOffChangesNothing(t *testing.T) {
	rt, reads := countingRig(t, nil)
	r, _ := revokeEarly(rt, reads)
	ended := rt.grant(r.GrantID)
	if ended.Status != latch.GrantEnded {
		t.Fatalf("grant %s, want ended", ended.Status)
	}
	// The grant as the revoke's commit made it: deescalating, the version
	// before the one that ended it.
	handed := ended
	handed.Status, handed.EndedAt, handed.Version = latch.GrantDeescalating, nil, ended.Version-1
	before, published := len(rt.esc.specs("revoke", ann)), len(rt.kinds(r.GrantID))
	reads.take()
	if err := rt.runner.DeescalateGrant(context.Background(), handed, nil); err != nil {
		t.Fatal(err)
	}
	rt.Close() // waits for any work the hand-off started
	if n := len(rt.esc.specs("revoke", ann)); n != before {
		t.Errorf("%d revokes after the stale hand-off, want %d", n, before)
	}
	if n := len(rt.kinds(r.GrantID)); n != published {
		t.Errorf("%d commands published about the grant after the stale hand-off, want %d", n, published)
	}
	if n := reads.take(); n != 0 {
		t.Errorf("the stale hand-off read the store %d times, want none", n)
	}
}

// A hand-off that waited longer than a settled version is surely remembered
// does not act on what it was handed: it reads the grant, finds it ended,
// and changes nothing.
func TestAHandOffThatWaitedLongReadsTheGrant(t *testing.T) {
	defer local.SetHandoffFresh(0)()
	rt, reads := countingRig(t, nil)
	r, _ := revokeEarly(rt, reads)
	ended := rt.grant(r.GrantID)
	handed := ended
	handed.Status, handed.EndedAt, handed.Version = latch.GrantDeescalating, nil, ended.Version+1 // not known settled
	before := len(rt.esc.specs("revoke", ann))
	reads.take()
	if err := rt.runner.DeescalateGrant(context.Background(), handed, nil); err != nil {
		t.Fatal(err)
	}
	read := 0
	eventually(t, wait, func() bool { read += reads.take(); return read > 0 }) // fails if it never reads
	rt.Close()
	if n := len(rt.esc.specs("revoke", ann)); n != before {
		t.Errorf("%d revokes after the old hand-off, want %d (the grant read is ended)", n, before)
	}
}
