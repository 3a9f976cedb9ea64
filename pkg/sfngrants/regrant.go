package sfngrants

import (
	"context"
	"fmt"

	"github.com/latchhq/latch/pkg/latch"
)

var _ latch.Regranter = (*Runner)(nil)

// Regrant has the grant's execution send the grant to its target again
// with its later end (latch.EffectRegrant): it answers the current Hold
// with regrant, so that the execution runs the Regrant task and then holds
// until the next lease end. A token that is stale, or none (the execution
// is between two Holds), is an error: the effect stays in the outbox and is
// tried again, by then with the next Hold's token. A grant no longer active
// needs nothing.
func (r *Runner) Regrant(ctx context.Context, grantID string) error {
	g, err := r.c.Grants.GetGrant(ctx, grantID)
	if err != nil {
		return fmt.Errorf("sfngrants: regrant %s: %w", grantID, err)
	}
	if g.Status != latch.GrantActive {
		return nil
	}
	tok, _, err := r.token(ctx, grantID)
	if err != nil {
		return err
	}
	if tok == "" || tok == RevokeOver {
		return fmt.Errorf("sfngrants: regrant %s: its execution waits in no Hold now; tried again later", grantID)
	}
	next, ok := g.NextDue()
	a := Answer{Action: AnswerRegrant, Hold: HoldFor(next, ok, r.c.Clock.Now(), r.c.Timing)}
	if err := r.callbacks.Complete(ctx, tok, mustJSON(a)); err != nil {
		return fmt.Errorf("sfngrants: regrant %s (tried again later): %w", grantID, err)
	}
	return nil
}

// regrant is the Regrant task: it sends an active grant to its target
// again with its later end when the target follows ends (a webhook, a
// customer's Lambda), and answers with the Hold until the grant's next
// lease end. A grant no longer active, or whose access was the person's
// before Latch, is not sent; the Hold that follows sees where it is.
func (h *TaskHandler) regrant(ctx context.Context, grantID string) (TaskOutput, error) {
	g, err := h.Store.GetGrant(ctx, grantID)
	if err != nil {
		return TaskOutput{}, taskErr("grant_unavailable", err)
	}
	out := TaskOutput{Hold: holdOf(g, h.now(), h.Timing.orDefault())}
	if g.Status != latch.GrantActive || g.LeftInPlace() {
		return out, nil
	}
	f, esc, err := h.revokeWith(g)
	if err != nil {
		return TaskOutput{}, err
	}
	if !latch.FollowsEnd(esc) {
		return out, nil // Latch revokes at the new end itself
	}
	spec := h.spec(ctx, f, g)
	if err := esc.Grant(ctx, spec); err != nil {
		h.log().WarnContext(ctx, "sending the grant's new end failed", "grant", g.ID, "err", err)
		if latch.IsPermanent(err) {
			code, msg := failureOf(err, "regrant_failed")
			return TaskOutput{}, &PermanentError{Code: code, Message: msg}
		}
		return TaskOutput{}, taskErr("regrant_failed", err)
	}
	h.log().InfoContext(ctx, "the target was sent the grant's new end", "grant", g.ID, "ends_at", spec.EndsAt)
	return out, nil
}
