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
// Latch still revokes it at the new end.
func (r *Runner) regrant(grantID string) step {
	var (
		spec    latch.GrantSpec
		esc     latch.Escalator
		log     *slog.Logger
		attempt int
	)
	return func() (time.Duration, bool) {
		if attempt == 0 {
			log = r.c.Log.With("grant", grantID)
			g, err := r.c.Store.GetGrant(r.ctx, grantID)
			if err != nil {
				log.Error("runner cannot load grant to send its new end", "err", err)
				return 0, false
			}
			if g.Status != latch.GrantActive || g.LeftInPlace() {
				return 0, false // ending already, or Latch granted nothing
			}
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
		err := safeCall(r.ctx, esc.Grant, spec)
		if err == nil {
			log.Info("the target was sent the grant's new end", "attempt", attempt)
			return 0, false
		}
		if latch.IsPermanent(err) || attempt >= r.c.Backoff.EscalateAttempts {
			log.Error("the target could not be sent the grant's new end; the access still ends then", "attempt", attempt, "err", err)
			return 0, false
		}
		log.Warn("sending the grant's new end failed; retrying", "attempt", attempt, "err", err)
		return jitter(min(doubling(r.c.Backoff.Initial, attempt), r.c.Backoff.Max)), true
	}
}
