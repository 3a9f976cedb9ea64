package reconcile

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// ReviewOverdueLog is the message of the ERROR line logged for a break
// glass nobody reviewed in time, on every runtime (alerts and searches
// match it).
const ReviewOverdueLog = "break glass not reviewed: a reviewer must acknowledge it"

// breakGlass looks at the break glasses of the flows that offer one: a
// break glass still pending Grace after it was asked for (its grant was
// lost: the engine's command never landed) is sent again; one nobody
// reviewed by its review_within gets CmdReviewOverdue (the engine records
// break_glass_review_overdue and alerts), an ERROR log line and the
// ReviewOverdue hook, and again every day until someone reviews it.
//
// It reads every request of each such flow on every run (Store.ListRequests
// by flow, at most 100,000): cheap for flows with thousands of requests,
// costly beyond; a store index of the break glasses awaiting review would
// make it read only those (not built yet).
func (rc *Reconciler) breakGlass(ctx context.Context, now time.Time, grace time.Duration, log *slog.Logger, rep *Report) []error {
	if rc.Flows == nil {
		return nil
	}
	var errs []error
	for _, f := range rc.Flows.All() {
		if f.BreakGlass == nil {
			continue
		}
		reqs, err := rc.Store.ListRequests(ctx, latch.RequestFilter{Flow: f.Name, Limit: 100000})
		if err != nil {
			errs = append(errs, fmt.Errorf("list the requests of flow %s: %w", f.Name, err))
			continue
		}
		for _, r := range reqs {
			bg := r.BreakGlass
			if bg == nil || bg.Review != nil {
				continue
			}
			if r.Status == latch.StatusPending {
				if now.Sub(r.CreatedAt) >= grace {
					if err := rc.Queue.Publish(ctx, latch.BreakGlassCommand(r, now)); err != nil {
						errs = append(errs, fmt.Errorf("request %s: send break glass again: %w", r.ID, err))
						continue
					}
					rep.BreakGlass++
					log.WarnContext(ctx, "reconciler: a break glass not granted yet is sent again", "request", r.ID)
				}
				continue
			}
			if !r.GrantedByBreakGlass() {
				continue // withdrawn, cancelled, denied or expired: nothing was granted
			}
			n, due := bg.NextReviewAlert(now)
			if !due {
				continue
			}
			rep.ReviewOverdue++
			log.ErrorContext(ctx, ReviewOverdueLog, "request", r.ID, "flow", r.Flow, "user", r.Requester.Email,
				"target", r.TargetID, "review_due", bg.ReviewDueAt, "alert", n, "reason", bg.Reason)
			if rc.ReviewOverdue != nil {
				rc.ReviewOverdue(r, bg.ReviewDueAt)
			}
			if err := rc.Queue.Publish(ctx, latch.ReviewOverdueCommand(r.ID, n, now)); err != nil {
				errs = append(errs, fmt.Errorf("request %s: send review overdue: %w", r.ID, err))
			}
		}
	}
	return errs
}

// MetricBreakGlassReviewOverdue is the metric EMFReview writes: one per
// break glass nobody reviewed in time, per reconciler run.
const MetricBreakGlassReviewOverdue = "BreakGlassReviewOverdue"

// EMFReview returns a ReviewOverdue func that writes one CloudWatch
// embedded metric format line per unreviewed break glass to w (a Lambda
// function's stdout), as EMF does for overdue revokes.
func EMFReview(w io.Writer, namespace string, clock latch.Clock) func(r latch.Request, due time.Time) {
	write := emf(w, namespace, MetricBreakGlassReviewOverdue, clock)
	return func(r latch.Request, due time.Time) {
		write(map[string]any{"request": r.ID, "flow": r.Flow, "due": due.UTC().Format(time.RFC3339)})
	}
}
