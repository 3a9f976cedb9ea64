package local

import (
	"context"
	"log/slog"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

var _ latch.Regranter = (*Runner)(nil)

// Regrant sends the active grant to its target again with its later end
// (latch.EffectRegrant), when its escalator's target is told ends
// (latch.EndFollower): the webhook's escalate, or the customer's Lambda,
// called again for the same grant. A grant no longer active needs nothing.
// It runs on the pool of the grant's target system, like its escalation.
func (r *Runner) Regrant(ctx context.Context, grantID string) error {
	r.start("regrant/"+grantID, r.poolOf(ctx, grantID), func() step { return r.regrant(grantID) })
	return nil
}

// regrant makes the call, retried like an escalation (the wait between
// attempts off the pool). A failure is logged: the access is in place and
// Latch still revokes it at the new end. Every attempt reads the grant
// first and stops once it is no longer active. It runs apart from the
// grant's revoke, so an attempt that reached the target may land after it:
// when the grant is found no longer active after one, the target is sent
// a revoke (retried the same way), so the access never outlives the grant.
func (r *Runner) regrant(grantID string) step {
	var (
		spec    latch.GrantSpec
		esc     latch.Escalator
		log     = r.c.Log.With("grant", grantID)
		attempt int
		undo    int // attempts at the revoke after it, once the grant ended under it
	)
	retry := func(n int) time.Duration { return jitter(min(doubling(r.c.Backoff.Initial, n), r.c.Backoff.Max)) }
	return func() (time.Duration, bool) {
		if undo > 0 {
			return r.unregrant(log, esc, spec, &undo, retry)
		}
		g, err := r.c.Store.GetGrant(r.ctx, grantID)
		if err != nil {
			log.Error("runner cannot load grant to send its new end", "err", err)
			return 0, false
		}
		if g.Status != latch.GrantActive || g.LeftInPlace() {
			return 0, false // ending already, or Latch granted nothing
		}
		if attempt == 0 {
			var f *latch.Flow
			if f, esc, err = r.target(g); err != nil {
				log.Error("cannot send the grant's new end to its target", "err", err)
				return 0, false
			}
			if !latch.FollowsEnd(esc) {
				return 0, false // Latch revokes at the new end itself
			}
			var first *latch.Request
			if id := g.FirstRequestID(); id != "" {
				if req, err := r.c.Store.GetRequest(r.ctx, id); err == nil {
					first = &req
				}
			}
			spec = latch.NewGrantSpec(f, &g, first, r.c.Clock.Now())
			log = log.With("flow", g.Flow, "target", g.TargetID, "ends_at", spec.EndsAt)
		}
		attempt++
		err = safeCall(r.ctx, esc.Grant, spec)
		if err == nil || !latch.IsPermanent(err) {
			// The call reached the target: if the grant ended meanwhile,
			// its revoke may have come first.
			if g, gerr := r.c.Store.GetGrant(r.ctx, grantID); gerr != nil {
				log.Error("runner cannot load grant after sending its new end", "err", gerr)
			} else if g.Status != latch.GrantActive {
				log.Warn("the grant ended while its new end was sent; revoking it again", "attempt", attempt, "status", g.Status, "err", err)
				undo = 1
				return r.unregrant(log, esc, spec, &undo, retry)
			}
		}
		if err == nil {
			log.Info("the target was sent the grant's new end", "attempt", attempt)
			return 0, false
		}
		if latch.IsPermanent(err) || attempt >= r.c.Backoff.EscalateAttempts {
			log.Error("the target could not be sent the grant's new end; the access still ends then", "attempt", attempt, "err", err)
			return 0, false
		}
		log.Warn("sending the grant's new end failed; retrying", "attempt", attempt, "err", err)
		return retry(attempt), true
	}
}

// unregrant makes attempt *n at revoking what a regrant of a grant that
// ended meanwhile may have granted again, retried like an escalation.
func (r *Runner) unregrant(log *slog.Logger, esc latch.Escalator, spec latch.GrantSpec, n *int, retry func(int) time.Duration) (time.Duration, bool) {
	err := safeCall(r.ctx, esc.Revoke, spec)
	if err == nil {
		log.Info("the target was sent a revoke after the grant's new end", "attempt", *n)
		return 0, false
	}
	if latch.IsPermanent(err) || *n >= r.c.Backoff.EscalateAttempts {
		log.Error("the revoke after the grant's new end failed; the target may keep the access", "attempt", *n, "err", err)
		return 0, false
	}
	log.Warn("the revoke after the grant's new end failed; retrying", "attempt", *n, "err", err)
	*n++
	return retry(*n - 1), true
}
