package latch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// world is an in-memory stand-in for the store and the engine: it loads the
// state a command needs, decides, and commits the change with the store's
// rules (versions, dedup, one open grant per key, audit sequence).
type world struct {
	tb      testing.TB
	flow    *latch.Flow
	users   map[string]*latch.User
	reqs    map[string]latch.Request
	grants  map[string]latch.Grant
	audit   map[string][]latch.AuditEvent
	effects []latch.Effect
	dedup   map[string]bool
	grantN  int
}

func newWorld(tb testing.TB, f *latch.Flow, users ...*latch.User) *world {
	tb.Helper()
	w := &world{tb: tb, flow: f, users: map[string]*latch.User{}, reqs: map[string]latch.Request{},
		grants: map[string]latch.Grant{}, audit: map[string][]latch.AuditEvent{}, dedup: map[string]bool{}}
	for _, u := range users {
		w.users[u.Email] = u
	}
	return w
}

func (w *world) create(id string, u *latch.User, dur string, t time.Time) {
	w.tb.Helper()
	c, err := latch.Create(w.flow, latch.NewRequest{ID: id, Flow: w.flow.Name, Requester: u, Source: latch.SourceSlack,
		Fields: map[string]any{"reason": "story", latch.FieldNameDuration: dur}, At: t})
	if err != nil {
		w.tb.Fatalf("create %s: %v", id, err)
	}
	w.commit(c)
}

// do decides cmd against the world and commits the change.
func (w *world) do(cmd latch.Command) latch.Change {
	w.tb.Helper()
	c, err := latch.Decide(w.load(cmd), cmd)
	if err != nil {
		w.tb.Fatalf("decide %s %s: %v", cmd.ID, cmd.Kind, err)
	}
	w.commit(c)
	return c
}

func (w *world) load(cmd latch.Command) latch.State {
	w.tb.Helper()
	s := latch.State{Flow: w.flow, Requests: map[string]*latch.Request{}, NewGrantID: func() string {
		w.grantN++
		return fmt.Sprintf("g%d", w.grantN)
	}}
	var ids []string
	if cmd.Kind.GrantLevel() {
		g, ok := w.grants[cmd.GrantID]
		if !ok {
			w.tb.Fatalf("no grant %s", cmd.GrantID)
		}
		s.Grant = &g
		ids = g.RequestIDs()
	} else {
		r, ok := w.reqs[cmd.RequestID]
		if !ok {
			w.tb.Fatalf("no request %s", cmd.RequestID)
		}
		s.Request = &r
		s.Requester = w.users[r.Requester.Email]
		s.Actor = w.users[latch.NormalizeEmail(cmd.Actor.Email)]
		if g, ok := w.grants[r.GrantID]; ok {
			s.Grant = &g
			ids = append(ids, g.RequestIDs()...)
		}
		for _, g := range w.grants {
			if g.Status.Open() && g.Key == latch.GrantKey(r.Flow, r.TargetID, r.Requester.Email) {
				s.OpenGrant = &g
				ids = append(ids, g.RequestIDs()...)
			}
		}
	}
	for _, id := range ids {
		if r, ok := w.reqs[id]; ok && (s.Request == nil || s.Request.ID != id) {
			s.Requests[id] = &r
		}
	}
	return s
}

func (w *world) commit(c latch.Change) {
	w.tb.Helper()
	if w.dedup[c.Dedup] {
		w.tb.Fatalf("change %s committed twice", c.Dedup)
	}
	w.dedup[c.Dedup] = true
	for _, r := range c.Requests {
		if old, ok := w.reqs[r.ID]; ok && old.Version != r.Version || !ok && r.Version != 0 {
			w.tb.Fatalf("request %s written at version %d, stored at %d", r.ID, r.Version, old.Version)
		}
		r.Version++
		w.reqs[r.ID] = r
	}
	for _, g := range c.Grants {
		if old, ok := w.grants[g.ID]; ok && old.Version != g.Version || !ok && g.Version != 0 {
			w.tb.Fatalf("grant %s written at version %d, stored at %d", g.ID, g.Version, old.Version)
		}
		g.Version++
		w.grants[g.ID] = g
	}
	open := map[string]string{}
	for _, g := range w.grants {
		if g.Status.Open() {
			if other, dup := open[g.Key]; dup {
				w.tb.Fatalf("grants %s and %s are both open for %s", other, g.ID, g.Key)
			}
			open[g.Key] = g.ID
		}
	}
	for _, e := range c.Audit {
		prev := w.audit[e.RequestID]
		if want := int64(len(prev) + 1); e.Seq != want || e.ID != latch.AuditEventID(e.RequestID, want) {
			w.tb.Fatalf("audit event %s has seq %d, want %d", e.ID, e.Seq, want)
		}
		w.audit[e.RequestID] = append(prev, e)
		if got := w.reqs[e.RequestID].EventSeq; got < e.Seq {
			w.tb.Fatalf("request %s records event seq %d, behind its event %d", e.RequestID, got, e.Seq)
		}
	}
	for i, e := range c.Effects {
		if want := fmt.Sprintf("%s/%d", c.Dedup, i); e.ID != want {
			w.tb.Fatalf("effect %d has id %s, want %s", i, e.ID, want)
		}
	}
	w.effects = append(w.effects, c.Effects...)
}

func (w *world) status(id string) latch.Status { return w.reqs[id].Status }

func (w *world) types(id string) []latch.AuditType { return auditTypes(w.audit[id]) }

// wakes lists the wake-ups asked for, as grant@minutes after t0.
func wakes(effs []latch.Effect) []string {
	var out []string
	for _, e := range effs {
		if e.Kind == latch.EffectWake {
			out = append(out, fmt.Sprintf("%s@%v", e.GrantID, e.At.Sub(t0)))
		}
	}
	return out
}

// TestStoryOverlappingRequests follows three of ann's requests for the same
// access through one shared grant, a queued lease and the next grant.
func TestStoryOverlappingRequests(t *testing.T) {
	w := newWorld(t, fieldsFlow(), ann, bob, cat, dan)
	sys := func(id string, k latch.CommandKind, g string, m time.Duration) latch.Command {
		return latch.Command{ID: id, Kind: k, GrantID: g, At: at(m)}
	}
	person := func(id string, k latch.CommandKind, r string, u *latch.User, m time.Duration) latch.Command {
		return latch.Command{ID: id, Kind: k, RequestID: r, Actor: by(u), At: at(m)}
	}

	w.create("r1", ann, "1h", t0)
	c := w.do(person("c1", latch.CmdApprove, "r1", bob, time.Minute))
	diff(t, "effects of the first approval", []string{"notify:approved", "hook:on_approve", "escalate"}, effectNames(c.Effects))
	c = w.do(sys("c2", latch.CmdEscalated, "g1", 2*time.Minute))
	// The end counts from the approval, which asked for the escalation.
	diff(t, "wakes after escalation", []string{"g1@1h1m0s"}, wakes(c.Effects))

	w.create("r2", ann, "30m", at(5*time.Minute))
	c = w.do(person("c3", latch.CmdApprove, "r2", cat, 10*time.Minute))
	diff(t, "r2 joins the active grant", latch.StatusActive, w.status("r2"))
	diff(t, "wakes after r2 joins", []string{"g1@40m0s"}, wakes(c.Effects))

	c = w.do(sys("c4", latch.CmdDue, "g1", 40*time.Minute))
	diff(t, "r2 ends at its time", latch.StatusEnded, w.status("r2"))
	diff(t, "r1 still holds", latch.StatusActive, w.status("r1"))
	diff(t, "wakes after r2 ends", []string{"g1@1h1m0s"}, wakes(c.Effects))

	w.create("r3", ann, "1h", at(50*time.Minute))
	w.do(sys("c5", latch.CmdDue, "g1", 61*time.Minute))
	diff(t, "g1 is revoked", latch.GrantDeescalating, w.grants["g1"].Status)
	w.do(person("c6", latch.CmdApprove, "r3", bob, 62*time.Minute+30*time.Second))
	diff(t, "r3 waits for the revoke", []latch.Lease{{RequestID: "r3", Duration: 3600}}, w.grants["g1"].Queued)

	c = w.do(sys("c7", latch.CmdDeescalated, "g1", 63*time.Minute))
	diff(t, "effects of the revoke", []string{"hook:after_deescalate", "notify:deescalated", "escalate"}, effectNames(c.Effects))
	diff(t, "r3's new grant", "g2", w.reqs["r3"].GrantID)
	c = w.do(sys("c8", latch.CmdEscalated, "g2", 64*time.Minute))
	// g2 started when g1's revoke was done: r3's hour counts from then.
	diff(t, "wakes after g2", []string{"g2@2h3m0s"}, wakes(c.Effects))

	w.do(person("c9", latch.CmdRevoke, "r3", ann, 70*time.Minute))
	w.do(sys("c10", latch.CmdDeescalated, "g2", 71*time.Minute))

	// A report delivered again under a new id finds nothing to do.
	if c := w.do(sys("c11", latch.CmdDeescalated, "g2", 72*time.Minute)); !c.Empty() {
		t.Errorf("repeated deescalated report changed %+v", c)
	}

	got := map[string][]latch.AuditType{"r1": w.types("r1"), "r2": w.types("r2"), "r3": w.types("r3")}
	want := map[string][]latch.AuditType{
		"r1": {latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditDeescalated},
		"r2": {latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditLeaseEnded},
		"r3": {latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditReleased, latch.AuditDeescalated},
	}
	diff(t, "audit trail", want, got)
	for id, s := range map[string]latch.Status{"r1": latch.StatusEnded, "r2": latch.StatusEnded, "r3": latch.StatusEnded} {
		diff(t, id+" status", s, w.status(id))
	}
	for id, s := range map[string]latch.GrantStatus{"g1": latch.GrantEnded, "g2": latch.GrantEnded} {
		diff(t, id+" status", s, w.grants[id].Status)
	}
	diff(t, "r3 ended when revoked", ptr(at(71*time.Minute)), w.reqs["r3"].EndsAt)
}

// TestStoryRevokeNeverGivenUp follows a runner that stops retrying a revoke
// (a Step Functions execution after a day): the grant stays deescalating,
// the failure is loud, and the revoke is asked for again until it succeeds.
func TestStoryRevokeNeverGivenUp(t *testing.T) {
	w := newWorld(t, fieldsFlow(), ann, bob, dan)
	w.create("r1", ann, "1h", t0)
	w.do(latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(time.Minute)})
	w.do(latch.Command{ID: "c2", Kind: latch.CmdEscalated, GrantID: "g1", At: at(2 * time.Minute)})
	w.do(latch.Command{ID: "c3", Kind: latch.CmdDue, GrantID: "g1", At: at(62 * time.Minute)})
	diff(t, "due at the lease end", ptr(at(61*time.Minute)), w.grants["g1"].DueAt)
	c := w.do(latch.Command{ID: "c4", Kind: latch.CmdDeescalationFailed, GrantID: "g1", At: at(25 * time.Hour),
		Failure: &latch.Failure{Code: "throttled", Message: "slow down"}})
	diff(t, "request after the failure", latch.StatusDeescalating, w.status("r1"))
	diff(t, "grant after the failure", latch.GrantDeescalating, w.grants["g1"].Status)
	diff(t, "the grant keeps the last error", &latch.Failure{Code: "throttled", Message: "slow down", Stage: latch.StageDeescalate},
		w.grants["g1"].Failure)
	diff(t, "effects of the failure", []string{"deescalate", "notify:revoke_overdue"}, effectNames(c.Effects))
	last := w.audit["r1"][len(w.audit["r1"])-1]
	diff(t, "overdue event", map[string]any{"due_at": at(61 * time.Minute), "last_error": "slow down", "code": "throttled",
		"retrying": true}, last.Data)

	_, err := latch.Decide(w.load(latch.Command{Kind: latch.CmdRetry, RequestID: "r1", Actor: by(dan)}),
		latch.Command{ID: "c5", Kind: latch.CmdRetry, RequestID: "r1", Actor: by(dan), At: at(26 * time.Hour)})
	wantKindCode(t, err, latch.KindConflict, "not_failed")

	w.do(latch.Command{ID: "c6", Kind: latch.CmdDeescalated, GrantID: "g1", At: at(26*time.Hour + time.Minute)})
	diff(t, "audit trail", []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated,
		latch.AuditRevokeOverdue, latch.AuditDeescalated}, w.types("r1"))
	diff(t, "request", latch.StatusEnded, w.status("r1"))
	diff(t, "grant", latch.GrantEnded, w.grants["g1"].Status)
	diff(t, "ends at the scheduled end", ptr(at(61*time.Minute)), w.reqs["r1"].EndsAt)
}

// TestStoryFailedEscalationMayHoldAccess follows an escalation that failed
// without a refusal (the target may have granted all the same): the request
// fails with its access maybe held, the grant stays open and is revoked,
// an admin's retry waits for that revoke, and only then starts a new grant.
func TestStoryFailedEscalationMayHoldAccess(t *testing.T) {
	w := newWorld(t, fieldsFlow(), ann, bob, dan)
	w.create("r1", ann, "1h", t0)
	w.do(latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(time.Minute)})
	c := w.do(latch.Command{ID: "c2", Kind: latch.CmdEscalationFailed, GrantID: "g1", At: at(2 * time.Minute),
		Failure: &latch.Failure{Code: "timeout", Message: "no answer in 10s", MaybeHeld: true}})
	diff(t, "request", latch.StatusFailed, w.status("r1"))
	diff(t, "access", latch.AccessMaybeHeld, w.reqs["r1"].Access)
	diff(t, "grant stays open to be revoked", latch.GrantDeescalating, w.grants["g1"].Status)
	diff(t, "effects", []string{"deescalate", "notify:failed"}, effectNames(c.Effects))

	// The admin retries while the revoke is still under way: the new lease
	// waits for it.
	c = w.do(latch.Command{ID: "c3", Kind: latch.CmdRetry, RequestID: "r1", Actor: by(dan), At: at(3 * time.Minute)})
	diff(t, "retry starts no escalation yet", []string(nil), effectNames(c.Effects))
	diff(t, "queued behind the revoke", []latch.Lease{{RequestID: "r1", Duration: 3600}}, w.grants["g1"].Queued)

	c = w.do(latch.Command{ID: "c4", Kind: latch.CmdDeescalated, GrantID: "g1", At: at(5 * time.Minute)})
	diff(t, "the revoke done, the next grant starts", []string{"escalate"}, effectNames(c.Effects))
	diff(t, "g1", latch.GrantEnded, w.grants["g1"].Status)
	diff(t, "r1 on g2", "g2", w.reqs["r1"].GrantID)
	diff(t, "g2's end counts from its start", at(65*time.Minute), w.grants["g2"].Leases[0].EndsAt)
	diff(t, "audit trail", []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditFailed,
		latch.AuditRetried}, w.types("r1"))
}

// TestStoryFailedEscalationRevokedWithoutRetry: the revoke after a failed
// escalation is recorded on the failed request, which then shows its access
// revoked.
func TestStoryFailedEscalationRevokedWithoutRetry(t *testing.T) {
	w := newWorld(t, fieldsFlow(), ann, bob)
	w.create("r1", ann, "1h", t0)
	w.do(latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(time.Minute)})
	w.do(latch.Command{ID: "c2", Kind: latch.CmdEscalationFailed, GrantID: "g1", At: at(2 * time.Minute),
		Failure: &latch.Failure{Code: "timeout", Message: "no answer in 10s", MaybeHeld: true}})
	c := w.do(latch.Command{ID: "c3", Kind: latch.CmdOverdue, GrantID: "g1", At: at(3 * time.Minute),
		Failure: &latch.Failure{Code: "http_503", Message: "unavailable"}})
	diff(t, "overdue alerts", []string{"notify:revoke_overdue"}, effectNames(c.Effects))
	w.do(latch.Command{ID: "c4", Kind: latch.CmdDeescalated, GrantID: "g1", At: at(4 * time.Minute)})
	diff(t, "request", latch.StatusFailed, w.status("r1"))
	diff(t, "access", latch.AccessRevoked, w.reqs["r1"].Access)
	diff(t, "grant", latch.GrantEnded, w.grants["g1"].Status)
	diff(t, "audit trail", []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditFailed,
		latch.AuditRevokeOverdue, latch.AuditDeescalated}, w.types("r1"))

	// A refusal granted nothing: the grant closes at once.
	w.create("r2", ann, "1h", at(10*time.Minute))
	w.do(latch.Command{ID: "c5", Kind: latch.CmdApprove, RequestID: "r2", Actor: by(bob), At: at(11 * time.Minute)})
	c = w.do(latch.Command{ID: "c6", Kind: latch.CmdEscalationFailed, GrantID: "g2", At: at(12 * time.Minute),
		Failure: &latch.Failure{Code: "no_such_group", Message: "refused"}})
	diff(t, "refused: access revoked", latch.AccessRevoked, w.reqs["r2"].Access)
	diff(t, "refused: grant failed", latch.GrantFailed, w.grants["g2"].Status)
	diff(t, "refused: no revoke", []string{"notify:failed"}, effectNames(c.Effects))
}
