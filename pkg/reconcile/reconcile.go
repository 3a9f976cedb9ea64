// Package reconcile finds what should have happened by now and did not, and
// sets it going again: a revoke whose time has passed while the grant is
// still active (a wake-up that was lost), a grant stuck escalating or
// deescalating (a runner that died half-way), a pending request past its
// approval deadline (an expiry that never fired), and outbox effects left
// behind by a failure. Every correction is recorded as a
// corrected_by_reconciler audit event.
//
// It also makes an overdue revoke loud: a grant whose revoke is not done
// Grace (a minute) after it fell due gets CmdOverdue (revoke_overdue on its
// requests, with the revoke's last error when RevokeErrors knows it, and
// the Notifier's alerts), an ERROR log line and the Overdue metric, on every
// run while it lasts; and its revoke is asked for again.
//
// With Drift set, it also checks what each checkable target holds against
// the grants Latch made, and repairs the difference (drift.go).
//
// Every action it takes is idempotent and goes through the same paths as
// the original (the queue with the original's deterministic command id,
// the grant runner), so running it while the original is merely late does no
// harm: the engine drops the duplicate. On AWS a scheduled function runs it
// every few minutes; `latch server` runs it on a timer.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// Defaults of Reconciler's durations.
const (
	DefaultGrace       = time.Minute      // how late a revoke or an expiry may be before it is driven again, and a revoke is overdue
	DefaultStuck       = 30 * time.Minute // how long a grant may stay escalating untouched
	DefaultStuckRevoke = 25 * time.Hour   // ... or deescalating: a revoke is retried for a day before it fails
)

// RevokeErrors tells the last error of a grant's revoke, as the grant
// runner recorded it (on AWS, the revoke task beside the Hold's token:
// dynamostore.Store). RevokeError returns an error wrapping latch.ErrNotFound
// when none was recorded.
type RevokeErrors interface {
	RevokeError(ctx context.Context, grantID string) (string, error)
}

// Outbox carries out effects left in the outbox (engine.Engine).
type Outbox interface {
	DispatchPending(ctx context.Context, minAge time.Duration) (int, error)
}

// Reconciler checks the store against the clock. Store, Queue and Runner
// are required; Outbox is optional (latch server retries its outbox on a
// timer of its own).
type Reconciler struct {
	Store  latch.Store
	Queue  latch.Queue
	Runner latch.GrantRunner
	Outbox Outbox
	// Expiries, when set, is the deployment's scheduler (AWS): its sweep
	// sends every expiry that is due, so Run sweeps instead of looking for
	// overdue expiries to correct.
	Expiries    *Expiries
	Clock       latch.Clock
	Log         *slog.Logger
	Grace       time.Duration
	Stuck       time.Duration
	StuckRevoke time.Duration
	// Overdue, when set, is told of each grant whose revoke is overdue, on
	// every run (a CloudWatch metric on AWS: see EMF).
	Overdue func(g latch.Grant, due time.Time)
	// Drift, when set, also checks the targets against the grants on every
	// run and repairs what differs (see Drift).
	Drift *Drift
	// RevokeErrors, when set, gives the last error of an overdue revoke
	// still being retried, for revoke_overdue's last_error.
	RevokeErrors RevokeErrors
	// Flows, when set, are the deployment's flows: the break glasses of
	// those that offer one are checked for a missing review (breakglass.go).
	Flows *engine.FlowSet
	// ReviewOverdue, when set, is told of each break glass nobody reviewed
	// in time, on every run while it lasts (a CloudWatch metric on AWS: see
	// EMFReview).
	ReviewOverdue func(r latch.Request, due time.Time)
}

// Report counts what one run corrected.
type Report struct {
	Effects        int // outbox effects carried out
	OverdueRevokes int // active grants past a lease's end, sent due again
	Redriven       int // grants stuck escalating or deescalating, handed to the runner again
	Expired        int // pending requests past their deadline, sent expire again
	Swept          int // expiries sent by the Expiries sweep, on time
	Overdue        int // grants whose revoke is overdue (past Grace after it fell due)
	Drift          int // grants whose target differed from Latch's grants (Drift), corrected or not
	BreakGlass     int // break glasses still pending, sent again
	ReviewOverdue  int // break glasses nobody reviewed in time: alerted
}

// Corrections is the total of what the run set going again (outbox effects
// not included: retrying them is routine).
func (r Report) Corrections() int { return r.OverdueRevokes + r.Redriven + r.Expired + r.Drift }

// Run checks once. It goes on past a failing correction and returns the
// errors joined.
func (rc *Reconciler) Run(ctx context.Context) (Report, error) {
	clock, log := rc.Clock, rc.Log
	if clock == nil {
		clock = latch.SystemClock
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	grace, stuck, stuckRevoke := or(rc.Grace, DefaultGrace), or(rc.Stuck, DefaultStuck), or(rc.StuckRevoke, DefaultStuckRevoke)
	now := clock.Now()
	var rep Report
	var errs []error

	grants, err := rc.Store.ListGrants(ctx, latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating)
	if err != nil {
		return rep, errors.Join(append(errs, fmt.Errorf("list open grants: %w", err))...)
	}
	for _, g := range grants {
		switch g.Status {
		case latch.GrantActive:
			due, ok := g.NextDue()
			if !ok || now.Sub(due) < grace {
				continue
			}
			// The id the runner's own wake-up carries: if that lands too,
			// one of the two is a duplicate.
			cmd := latch.Command{ID: fmt.Sprintf("due/%s/%d", g.ID, due.UnixNano()), Kind: latch.CmdDue, GrantID: g.ID,
				At: now, Source: latch.SourceReconciler}
			if err := rc.Queue.Publish(ctx, cmd); err != nil {
				errs = append(errs, fmt.Errorf("grant %s: send due: %w", g.ID, err))
				continue
			}
			rep.OverdueRevokes++
			errs = appendErr(errs, rc.record(ctx, now, "overdue_revoke", cmd.ID, g, map[string]any{"due_at": due.UTC().Format(time.RFC3339)}))
			log.WarnContext(ctx, "reconciler: access past its end is being revoked", "grant", g.ID, "due", due)
			errs = appendErr(errs, rc.overdue(ctx, now, g, due, log, &rep))
		case latch.GrantEscalating, latch.GrantDeescalating:
			run, what, limit := rc.Runner.Escalate, "stuck_escalating", stuck
			if g.Status == latch.GrantDeescalating {
				run, what, limit = rc.Runner.Deescalate, "stuck_deescalating", stuckRevoke
			}
			if g.Status == latch.GrantDeescalating && g.DueAt != nil && now.Sub(*g.DueAt) >= grace {
				errs = appendErr(errs, rc.overdue(ctx, now, g, *g.DueAt, log, &rep))
				if now.Sub(g.UpdatedAt) < limit {
					// Asked again (idempotent): a runner that lost the
					// work, or an execution that ended, revokes again.
					if err := run(ctx, g.ID); err != nil {
						errs = append(errs, fmt.Errorf("grant %s: revoke again: %w", g.ID, err))
					}
					continue
				}
			}
			if now.Sub(g.UpdatedAt) < limit {
				continue
			}
			if err := run(ctx, g.ID); err != nil {
				errs = append(errs, fmt.Errorf("grant %s: run again: %w", g.ID, err))
				continue
			}
			rep.Redriven++
			key := fmt.Sprintf("%s/%s/%d", what, g.ID, g.UpdatedAt.UnixNano())
			errs = appendErr(errs, rc.record(ctx, now, what, key, g, map[string]any{"since": g.UpdatedAt.UTC().Format(time.RFC3339)}))
			log.WarnContext(ctx, "reconciler: a grant stuck half-way is run again", "grant", g.ID, "status", g.Status, "since", g.UpdatedAt)
		}
	}

	if rc.Drift != nil {
		dr, err := rc.Drift.Run(ctx)
		rep.Drift = len(dr.Findings)
		errs = appendErr(errs, err)
	}

	if rc.Expiries != nil {
		n, err := rc.Expiries.Sweep(ctx)
		rep.Swept = n
		errs = appendErr(errs, err)
	} else {
		errs = append(errs, rc.overdueExpiries(ctx, now, grace, log, &rep)...)
	}

	errs = append(errs, rc.breakGlass(ctx, now, grace, log, &rep)...)

	// The outbox last, and within what is left of the time: effects that
	// hang (a hook's endpoint that does not answer) must not keep the
	// checks above from running.
	if rc.Outbox != nil {
		octx, cancel := context.WithCancel(ctx)
		if d, ok := ctx.Deadline(); ok {
			octx, cancel = context.WithDeadline(ctx, d.Add(-outboxMargin))
		}
		n, err := rc.Outbox.DispatchPending(octx, time.Minute)
		cancel()
		rep.Effects = n
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox: %w", err))
		}
	}
	return rep, errors.Join(errs...)
}

// overdue makes the overdue revoke of g, due at due, loud: CmdOverdue (the
// engine records revoke_overdue once per due and alerts), an ERROR log line
// and the Overdue metric.
func (rc *Reconciler) overdue(ctx context.Context, now time.Time, g latch.Grant, due time.Time, log *slog.Logger, rep *Report) error {
	rep.Overdue++
	// The revoke's own last error when the runner recorded one (the latest
	// attempt's), else the failure the grant carries.
	last := "the revoke has not finished; the grant runner retries it"
	if g.Failure != nil {
		last = g.Failure.Message
	}
	if rc.RevokeErrors != nil {
		msg, err := rc.RevokeErrors.RevokeError(ctx, g.ID)
		switch {
		case err == nil && msg != "":
			last = msg
		case err != nil && !errors.Is(err, latch.ErrNotFound):
			log.WarnContext(ctx, "reconciler: reading the revoke's last error failed", "grant", g.ID, "err", err)
		}
	}
	log.ErrorContext(ctx, latch.OverdueLog, "grant", g.ID,
		"flow", g.Flow, "target", g.TargetID, "user", g.User.Email, "status", g.Status, "due", due,
		"late", now.Sub(due).Round(time.Second).String(), "last_error", last)
	if rc.Overdue != nil {
		rc.Overdue(g, due)
	}
	cmd := latch.Command{ID: latch.OverdueCommandID(g.ID, due), Kind: latch.CmdOverdue, GrantID: g.ID,
		At: now, Source: latch.SourceReconciler, Failure: &latch.Failure{Code: "revoke_overdue", Message: last}}
	if err := rc.Queue.Publish(ctx, cmd); err != nil {
		return fmt.Errorf("grant %s: send overdue: %w", g.ID, err)
	}
	return nil
}

// EMF returns an Overdue func that writes one CloudWatch embedded metric
// format line per overdue grant to w (a Lambda function's stdout): the
// metric RevokeOverdue (Count) in namespace, which an alarm watches.
func EMF(w io.Writer, namespace string, clock latch.Clock) func(g latch.Grant, due time.Time) {
	write := emf(w, namespace, MetricRevokeOverdue, clock)
	return func(g latch.Grant, due time.Time) {
		write(map[string]any{"grant": g.ID, "flow": g.Flow, "due": due.UTC().Format(time.RFC3339)})
	}
}

// emf returns a func that writes one CloudWatch embedded metric format
// line to w for each call: metric (Count) 1 in namespace, with fields.
func emf(w io.Writer, namespace, metric string, clock latch.Clock) func(fields map[string]any) {
	if clock == nil {
		clock = latch.SystemClock
	}
	var mu sync.Mutex
	return func(fields map[string]any) {
		line := map[string]any{
			"_aws": map[string]any{
				"Timestamp": clock.Now().UnixMilli(),
				"CloudWatchMetrics": []any{map[string]any{"Namespace": namespace, "Dimensions": [][]string{{}},
					"Metrics": []any{map[string]any{"Name": metric, "Unit": "Count"}}}},
			},
			metric: 1,
		}
		for k, v := range fields {
			line[k] = v
		}
		b, err := json.Marshal(line)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(append(b, '\n'))
	}
}

// MetricRevokeOverdue is the metric EMF writes: one per overdue grant per
// reconciler run.
const MetricRevokeOverdue = "RevokeOverdue"

// outboxMargin is the time the reconciler leaves, before its deadline, for
// answering after the outbox.
const outboxMargin = 3 * time.Second

// overdueExpiries sends again the expiry of pending requests grace past
// their deadline (a timer that was lost), recording each correction.
func (rc *Reconciler) overdueExpiries(ctx context.Context, now time.Time, grace time.Duration, log *slog.Logger, rep *Report) []error {
	pending, err := rc.Store.ListRequests(ctx, latch.RequestFilter{Status: latch.StatusPending, Limit: 100000})
	if err != nil {
		return []error{fmt.Errorf("list pending requests: %w", err)}
	}
	var errs []error
	for _, r := range pending {
		if r.ExpiresAt == nil || now.Sub(*r.ExpiresAt) < grace {
			continue
		}
		cmd := engine.ExpireCommand(r.ID, now)
		if err := rc.Queue.Publish(ctx, cmd); err != nil {
			errs = append(errs, fmt.Errorf("request %s: send expire: %w", r.ID, err))
			continue
		}
		rep.Expired++
		ev := latch.AuditEvent{ID: "reconcile/expire/" + r.ID, Type: latch.AuditCorrected, At: now, Flow: r.Flow,
			Requester: r.Requester.Email, TargetID: r.TargetID, Source: latch.SourceReconciler,
			Data: map[string]any{"correction": "overdue_expiry", "request": r.ID, "expires_at": r.ExpiresAt.UTC().Format(time.RFC3339)}}
		errs = appendErr(errs, rc.append(ctx, ev))
		log.WarnContext(ctx, "reconciler: a request past its deadline is being expired", "request", r.ID)
	}
	return errs
}

// record adds the audit event of a correction to a grant. key makes its id
// stable, so a correction retried for the same state is recorded once.
func (rc *Reconciler) record(ctx context.Context, now time.Time, what, key string, g latch.Grant, data map[string]any) error {
	data["correction"] = what
	data["grant"] = g.ID
	data["requests"] = g.RequestIDs()
	return rc.append(ctx, latch.AuditEvent{ID: "reconcile/" + key, Type: latch.AuditCorrected, At: now, Flow: g.Flow,
		Requester: g.User.Email, TargetID: g.TargetID, GrantID: g.ID, Source: latch.SourceReconciler, Data: data})
}

func (rc *Reconciler) append(ctx context.Context, ev latch.AuditEvent) error {
	err := rc.Store.AppendAudit(ctx, ev)
	if errors.Is(err, latch.ErrConflict) {
		return nil // recorded by an earlier run
	}
	return err
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}
