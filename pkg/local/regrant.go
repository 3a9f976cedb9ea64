package local

import (
	"context"

	"github.com/latchhq/latch/pkg/latch"
)

var _ latch.Regranter = (*Runner)(nil)

// Regrant sends the active grant to its target again with its later end
// (latch.EffectRegrant), when its escalator's target is told ends
// (latch.EndFollower): the webhook's escalate, or the customer's Lambda,
// called again for the same grant. A grant no longer active needs nothing.
func (r *Runner) Regrant(_ context.Context, grantID string) error {
	r.start("regrant/"+grantID, func() { r.regrant(grantID) })
	return nil
}

// regrant makes the call, retried like an escalation. A failure is logged:
// the access is in place and Latch still revokes it at the new end.
func (r *Runner) regrant(grantID string) {
	log := r.c.Log.With("grant", grantID)
	g, err := r.c.Store.GetGrant(r.ctx, grantID)
	if err != nil {
		log.Error("runner cannot load grant to send its new end", "err", err)
		return
	}
	if g.Status != latch.GrantActive || g.LeftInPlace() {
		return // ending already, or Latch granted nothing
	}
	f, esc, err := r.target(g)
	if err != nil {
		log.Error("cannot send the grant's new end to its target", "err", err)
		return
	}
	if !latch.FollowsEnd(esc) {
		return // Latch revokes at the new end itself
	}
	var first *latch.Request
	if id := g.FirstRequestID(); id != "" {
		if req, err := r.c.Store.GetRequest(r.ctx, id); err == nil {
			first = &req
		}
	}
	spec := latch.NewGrantSpec(f, &g, first, r.c.Clock.Now())
	log = log.With("flow", g.Flow, "target", g.TargetID, "ends_at", spec.EndsAt)
	for attempt := 1; ; attempt++ {
		err := safeCall(r.ctx, esc.Grant, spec)
		if err == nil {
			log.Info("the target was sent the grant's new end", "attempt", attempt)
			return
		}
		if latch.IsPermanent(err) || attempt >= r.c.Backoff.EscalateAttempts {
			log.Error("the target could not be sent the grant's new end; the access still ends then", "attempt", attempt, "err", err)
			return
		}
		log.Warn("sending the grant's new end failed; retrying", "attempt", attempt, "err", err)
		if !r.sleep(jitter(min(doubling(r.c.Backoff.Initial, attempt), r.c.Backoff.Max))) {
			return
		}
	}
}
