package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
)

// FlowSource finds a flow by name.
type FlowSource interface {
	Get(name string) (*latch.Flow, error)
}

// Backoff is how the runner retries escalators and its reports. Zero fields
// take DefaultBackoff's.
type Backoff struct {
	Initial time.Duration // first wait; doubles each attempt
	Max     time.Duration // longest wait between escalation attempts
	// EscalateAttempts is how often a grant is tried before it fails.
	EscalateAttempts int
	// A revoke is retried on every error, permanent ones included, for as
	// long as it takes, because access that should be gone must not stay:
	// waits double up to RevokeMax for the first RevokeMaxFor, then are
	// RevokeLater.
	RevokeMax    time.Duration
	RevokeMaxFor time.Duration
	RevokeLater  time.Duration
	// Report is the longest wait between attempts to record a result (a
	// store that cannot write: a full disk). Short, so that the result lands
	// soon after the store recovers.
	Report time.Duration
	// Overdue is how long after it fell due a revoke not done is overdue:
	// CmdOverdue is sent (revoke_overdue, alerts) and an ERROR logged.
	Overdue time.Duration
}

// DefaultBackoff retries a grant 6 times over about a minute; a revoke for
// as long as it takes, with waits of at most 30 seconds for the first hour
// and 5 minutes after; a report at least every half second; and calls a
// revoke overdue a minute after it fell due.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 5 * time.Minute, EscalateAttempts: 6,
	RevokeMax: 30 * time.Second, RevokeMaxFor: time.Hour, RevokeLater: 5 * time.Minute,
	Report: 500 * time.Millisecond, Overdue: time.Minute}

func (b Backoff) orDefault() Backoff {
	d := DefaultBackoff
	for _, f := range []struct{ v, def *time.Duration }{{&b.Initial, &d.Initial}, {&b.Max, &d.Max},
		{&b.RevokeMax, &d.RevokeMax}, {&b.RevokeMaxFor, &d.RevokeMaxFor}, {&b.RevokeLater, &d.RevokeLater},
		{&b.Report, &d.Report}, {&b.Overdue, &d.Overdue}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if b.EscalateAttempts <= 0 {
		b.EscalateAttempts = d.EscalateAttempts
	}
	return b
}

// RevokeDelay is the wait before the next revoke attempt after attempt
// failed, elapsed after the revoke fell due (without jitter).
func (b Backoff) RevokeDelay(attempt int, elapsed time.Duration) time.Duration {
	if elapsed >= b.RevokeMaxFor {
		return b.RevokeLater
	}
	return min(doubling(b.Initial, attempt), b.RevokeMax)
}

func doubling(initial time.Duration, attempt int) time.Duration {
	d := initial << min(attempt-1, 30)
	if d <= 0 || d < initial {
		return time.Duration(math.MaxInt64)
	}
	return d
}

// RunnerConfig is what a Runner is built from; all but Log are required.
type RunnerConfig struct {
	Store latch.Store
	Flows FlowSource
	// Escalator returns the escalator of a flow's strategy.
	Escalator func(*latch.Flow) (latch.Escalator, error)
	// Identity returns the grantee's id in the target system; nil uses the email.
	Identity func(ctx context.Context, f *latch.Flow, user latch.UserRef) (string, error)
	Queue    latch.Queue
	Timers   *Timers
	Clock    latch.Clock
	Log      *slog.Logger
	Backoff  Backoff
	// Metric, when set, is told of every overdue revoke (a CloudWatch
	// metric on AWS, a counter here). It must not block.
	Metric func(grantID string)
	// Workers is how many grants of one escalator (one flow's strategy:
	// one target system) are escalated or revoked at once; zero means
	// DefaultWorkers. The rest wait their turn in the order they came.
	Workers int
}

// DefaultWorkers is how many grants of one escalator are escalated or
// revoked at once.
const DefaultWorkers = 64

// Runner runs grant lifecycles on a bounded pool of goroutines per target
// system, and the timers. It implements latch.GrantRunner.
type Runner struct {
	c   RunnerConfig
	ctx context.Context

	mu sync.Mutex
	// running holds the work under way ("escalate/<id>", "deescalate/<id>"),
	// and whether it was asked for again meanwhile and must run once more.
	running map[string]bool
	// lastErr is the last error of each grant's revoke, for the overdue alert.
	lastErr map[string]string
	// pools run the work of each target system (pool.go); parked holds
	// the work waiting to be tried again, on a timer, off the pool.
	pools  map[string]*pool
	parked map[string]*job
	// closed is set by Wait once the context is done: no work is added to
	// wg after it (a WaitGroup must not grow while it is waited on).
	closed bool
	wg     sync.WaitGroup
	// settled holds, for the grants whose revoke was done or found not
	// needed lately, the version that was found: a revoke handed over at
	// that version or an earlier one is stale (DeescalateGrant).
	settled recent
}

var (
	_ latch.GrantRunner       = (*Runner)(nil)
	_ latch.DeescalateHandoff = (*Runner)(nil)
)

// NewRunner returns a runner whose work lives as long as ctx.
func NewRunner(ctx context.Context, c RunnerConfig) *Runner {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.Backoff = c.Backoff.orDefault()
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	r := &Runner{c: c, ctx: ctx, running: map[string]bool{}, lastErr: map[string]string{},
		pools: map[string]*pool{}, parked: map[string]*job{}}
	context.AfterFunc(ctx, r.unparkAll)
	return r
}

// Escalate starts granting access for the grant, unless that is already under way.
func (r *Runner) Escalate(ctx context.Context, grantID string) error {
	r.start("escalate/"+grantID, r.poolOf(ctx, grantID), func() step { return r.escalate(grantID) })
	return nil
}

// Deescalate starts revoking access for the grant, unless that is already under way.
func (r *Runner) Deescalate(ctx context.Context, grantID string) error {
	r.start("deescalate/"+grantID, r.poolOf(ctx, grantID), func() step { return r.deescalate(grantID, nil, nil) })
	return nil
}

// DeescalateGrant starts revoking access for g, which the engine has just
// committed deescalating, with g and its first request as handed over
// instead of read again (latch.DeescalateHandoff). The first attempt uses
// them; a retry reads the grant again. A hand-off at a version this runner
// has seen settled (its revoke done, or the grant found no longer
// deescalating) changes nothing; while the grant's revoke is under way, it
// is run again afterwards, reading the grant, as Deescalate is.
func (r *Runner) DeescalateGrant(_ context.Context, g latch.Grant, first *latch.Request) error {
	if r.stale(g) {
		return nil
	}
	r.startWith("deescalate/"+g.ID, g.Flow, r.deescalate(g.ID, &g, first),
		func() step { return r.deescalate(g.ID, nil, nil) })
	return nil
}

// stale reports whether g, handed over, is at a version found settled.
func (r *Runner) stale(g latch.Grant) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.settled.get(g.ID)
	return ok && g.Version <= v
}

// settle records that grant id needs no revoke at version (or before).
func (r *Runner) settle(id string, version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settled.put(id, version, time.Now())
}

// Wake sends CmdDue for the grant at at, replacing an earlier wake-up, and
// checks Backoff.Overdue after at that the revoke was done.
func (r *Runner) Wake(ctx context.Context, grantID string, at time.Time) error {
	r.c.Timers.Set("wake/"+grantID, at, latch.Command{
		ID: fmt.Sprintf("due/%s/%d", grantID, at.UnixNano()), Kind: latch.CmdDue, GrantID: grantID, Source: latch.SourceSchedule})
	r.watch(grantID, at)
	return nil
}

// watch arms the overdue check of the grant's revoke due at due, replacing
// an earlier one. The check is a timer (no goroutine until it fires) that
// runs on the overdue pool.
func (r *Runner) watch(grantID string, due time.Time) {
	if r.ctx.Err() != nil {
		return
	}
	r.c.Timers.call("overdue/"+grantID, due.Add(r.c.Backoff.Overdue), func() {
		r.start("overdue/"+grantID, overduePool, func() step {
			return func() (time.Duration, bool) {
				r.checkOverdue(grantID, due)
				return 0, false
			}
		})
	})
}

// checkOverdue makes a revoke due at due and not done by now loud: an ERROR
// log, the metric, and CmdOverdue (revoke_overdue on the grant's requests,
// and the alerts), carrying the last error. A grant still active past its
// end (its due could not be recorded) is sent due again too.
func (r *Runner) checkOverdue(grantID string, due time.Time) {
	g, err := r.c.Store.GetGrant(r.ctx, grantID)
	last := ""
	switch {
	case err != nil:
		last = "reading the grant: " + err.Error()
	case g.Status == latch.GrantActive:
		next, ok := g.NextDue()
		if !ok || next.After(due) {
			return // the end moved
		}
		cmd := latch.Command{ID: fmt.Sprintf("due/%s/%d", grantID, next.UnixNano()), Kind: latch.CmdDue, GrantID: grantID,
			Source: latch.SourceSchedule, At: r.c.Clock.Now()}
		if err := r.c.Queue.Publish(r.ctx, cmd); err != nil {
			last = "recording the end: " + err.Error()
		} else if g, err = r.c.Store.GetGrant(r.ctx, grantID); err == nil && g.Status != latch.GrantDeescalating {
			return
		}
	case g.Status != latch.GrantDeescalating:
		return // done
	}
	r.mu.Lock()
	if last == "" {
		last = r.lastErr[grantID]
	}
	r.mu.Unlock()
	if last == "" {
		last = "the revoke is under way and has not finished"
	}
	late := r.c.Clock.Now().Sub(due).Round(time.Second)
	r.c.Log.Error(latch.OverdueLog, "grant", grantID,
		"flow", g.Flow, "target", g.TargetID, "user", g.User.Email, "due", due, "late", late.String(), "last_error", last)
	if r.c.Metric != nil {
		r.c.Metric(grantID)
	}
	r.report(r.c.Log.With("grant", grantID), latch.Command{ID: latch.OverdueCommandID(grantID, due),
		Kind: latch.CmdOverdue, GrantID: grantID, Failure: &latch.Failure{Code: "revoke_overdue", Message: last}})
}

// setLastErr records the last error of a grant's revoke ("" clears it).
func (r *Runner) setLastErr(grantID string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.lastErr, grantID)
		r.c.Timers.stop("overdue/" + grantID)
		return
	}
	r.lastErr[grantID] = err.Error()
}

// DueStore is a store that indexes its open grants and the requests with a
// timer by next due time (boltstore). Rearm reads that index instead of
// listing: the grants without decoding them.
type DueStore interface {
	// Due returns the open grants and the requests with a timer whose next
	// due time is before before (zero: all), earliest first.
	Due(ctx context.Context, before time.Time) ([]latch.DueGrant, []latch.Request, error)
}

// Rearm restarts, from the store, everything that was under way when the
// process stopped: grants being escalated or deescalated are tried again,
// wake-ups are set for active grants (one already due fires at once),
// pending requests get their expiry and forwarding timers, and scheduled
// requests their start.
func (r *Runner) Rearm(ctx context.Context) error {
	var grants []latch.DueGrant
	var timed []latch.Request // pending and scheduled requests
	if ds, ok := r.c.Store.(DueStore); ok {
		var err error
		if grants, timed, err = ds.Due(ctx, time.Time{}); err != nil {
			return fmt.Errorf("rearm: %w", err)
		}
	} else {
		open, err := r.c.Store.ListGrants(ctx, latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating)
		if err != nil {
			return fmt.Errorf("rearm: list grants: %w", err)
		}
		for _, g := range open {
			at, _ := g.NextDue()
			grants = append(grants, latch.DueGrant{ID: g.ID, Status: g.Status, At: at})
		}
		for _, st := range []latch.Status{latch.StatusPending, latch.StatusScheduled} {
			rs, err := r.c.Store.ListRequests(ctx, latch.RequestFilter{Status: st, Limit: 100000})
			if err != nil {
				return fmt.Errorf("rearm: list %s requests: %w", st, err)
			}
			timed = append(timed, rs...)
		}
	}
	for _, g := range grants {
		switch g.Status {
		case latch.GrantEscalating:
			_ = r.Escalate(ctx, g.ID)
		case latch.GrantDeescalating:
			_ = r.Deescalate(ctx, g.ID)
		case latch.GrantActive:
			if !g.At.IsZero() {
				_ = r.Wake(ctx, g.ID, g.At)
			}
		}
	}
	pending, scheduled := 0, 0
	for _, p := range timed {
		switch p.Status {
		case latch.StatusPending:
			pending++
			if p.ExpiresAt != nil {
				cmd := latch.Command{ID: "expire/" + p.ID, Kind: latch.CmdExpire, RequestID: p.ID, Source: latch.SourceSchedule}
				r.c.Timers.Set(cmd.ID, *p.ExpiresAt, cmd)
			}
			if p.ForwardAt != nil {
				cmd := latch.ForwardCommand(p.ID, p.Forwarded+1, *p.ForwardAt)
				r.c.Timers.Set(cmd.ID, *p.ForwardAt, cmd)
			}
		case latch.StatusScheduled:
			// The start is stored with the request; one already past
			// fires at once.
			if p.ScheduledStart != nil {
				scheduled++
				cmd := latch.StartCommand(p.ID, *p.ScheduledStart)
				r.c.Timers.Set(cmd.ID, *p.ScheduledStart, cmd)
			}
		}
	}
	r.c.Log.Info("runtime re-armed from the store", "grants", len(grants), "pending_requests", pending,
		"scheduled_requests", scheduled)
	return nil
}

// Wait blocks until every escalation and revoke under way has finished. It
// is for shutdown after the runner's context is cancelled, and for tests.
func (r *Runner) Wait() {
	r.mu.Lock()
	r.closed = r.ctx.Err() != nil
	r.mu.Unlock()
	r.wg.Wait()
}

// escalate returns the steps of granting access for the grant: each call
// makes one attempt and says whether, and after how long, to make another.
func (r *Runner) escalate(grantID string) step {
	var (
		g    latch.Grant
		f    *latch.Flow
		spec latch.GrantSpec
		esc  latch.Escalator
		log  *slog.Logger
		// maybeHeld: an attempt that reached the escalator failed otherwise
		// than by a refusal, so it may have granted all the same. Once set it
		// stays set: a later refusal does not undo what an earlier attempt did.
		maybeHeld bool
		output    map[string]any
		// heldBefore is what the grant records of access held before Latch,
		// decided once, before the first Grant call (heldBefore); decided says
		// it was: a retry that finds the access in place does not ask again,
		// because the access it finds may be an earlier attempt's.
		heldBefore *bool
		decided    bool
		attempt    int
		last       func() // the report, once the escalator has answered
	)
	return func() (time.Duration, bool) {
		if last != nil {
			last()
			return 0, false
		}
		if attempt == 0 {
			var ok bool
			if g, f, spec, esc, ok = r.prepare(grantID, latch.GrantEscalating); !ok {
				return 0, false
			}
			log = r.c.Log.With("grant", grantID, "flow", g.Flow, "target", g.TargetID)
			heldBefore = g.HeldBefore
		}
		attempt++
		called := false // whether this attempt asked the escalator to grant
		err := safeCall(r.ctx, func(ctx context.Context, _ latch.GrantSpec) error {
			if spec.User.Identity == "" {
				// Who the grantee is in the target system is found once,
				// inside the retry loop: a hook's passing failure is
				// retried like the escalator's.
				id, err := r.identityFor(r.identityFlow(f, g), g)
				if err != nil {
					return err
				}
				spec.User.Identity = id
			}
			if !decided {
				// A check that fails granted nothing: it is retried like a
				// failed grant, and does not make the access maybe held.
				held, err := r.heldBefore(ctx, &g, esc, spec)
				if err != nil {
					return err
				}
				heldBefore, decided = held, true
			}
			if heldBefore != nil && *heldBefore {
				return nil // the person's before Latch: nothing to grant
			}
			called = true
			var err error
			output, err = latch.GrantWithOutput(ctx, esc, spec)
			return err
		}, spec)
		if errors.Is(err, errNotEscalating) {
			return 0, false // the grant moved on while it was checked
		}
		if err == nil {
			if heldBefore != nil && *heldBefore {
				log.Info("the access was in place before Latch: nothing granted, and it is left in place at the end", "attempt", attempt)
			} else {
				log.Info("access granted", "attempt", attempt)
			}
			cmd := latch.Command{ID: commandID("escalated", g), Kind: latch.CmdEscalated, GrantID: g.ID,
				Identity: spec.User.Identity, Output: output, HeldBefore: heldBefore}
			last = func() { r.report(log, cmd) }
			return onReports, true
		}
		maybeHeld = maybeHeld || (called && !latch.IsPermanent(err))
		if latch.IsPermanent(err) || attempt >= r.c.Backoff.EscalateAttempts {
			log.Warn("granting access failed", "attempt", attempt, "err", err)
			failure := failureOf(err, "escalation_failed")
			// Some attempt failed without a refusal (a timeout, a failure
			// half-way): it may have granted all the same. The engine keeps
			// such a grant open and revokes it until a revoke succeeds.
			// Only refusals, or failures before the escalator was called,
			// granted nothing.
			failure.MaybeHeld = maybeHeld
			cmd := latch.Command{ID: commandID("escalation_failed", g), Kind: latch.CmdEscalationFailed,
				GrantID: g.ID, Failure: failure}
			last = func() { r.report(log, cmd) }
			return onReports, true
		}
		log.Warn("granting access failed; retrying", "attempt", attempt, "err", err)
		return jitter(min(doubling(r.c.Backoff.Initial, attempt), r.c.Backoff.Max)), true
	}
}

// errNotEscalating: the grant is no longer escalating (found while
// recording what it held before): the escalation has nothing left to do.
var errNotEscalating = errors.New("the grant is no longer escalating")

// heldBefore decides, before g's first Grant call, whether the target holds
// its access already, when esc can check (latch.Checker), and records the
// answer on the grant durably before the call: a commit conditioned on the
// grant's version, so that a retry or a run after a crash reads the answer
// instead of taking Latch's own earlier grant for the person's. An answer
// g recorded already stands. Nil when esc cannot check. g is updated to
// the version written.
func (r *Runner) heldBefore(ctx context.Context, g *latch.Grant, esc latch.Escalator, spec latch.GrantSpec) (*bool, error) {
	if g.HeldBefore != nil {
		return g.HeldBefore, nil
	}
	c, ok := esc.(latch.Checker)
	if !ok || !g.ChecksHeld {
		return nil, nil // cannot check, or an earlier version may have granted already
	}
	held, err := c.Check(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("check whether the access is in place before granting it: %w", err)
	}
	for {
		n := *g
		n.HeldBefore = &held
		n.UpdatedAt = r.c.Clock.Now()
		err := r.c.Store.Commit(ctx, latch.Change{Grants: []latch.Grant{n}})
		if err == nil {
			n.Version++
			*g = n
			return g.HeldBefore, nil
		}
		if !errors.Is(err, latch.ErrConflict) {
			return nil, fmt.Errorf("record whether the access was in place before Latch: %w", err)
		}
		// Written meanwhile (a request took a lease): read it again.
		cur, err := r.c.Store.GetGrant(ctx, g.ID)
		if err != nil {
			return nil, fmt.Errorf("record whether the access was in place before Latch: %w", err)
		}
		if cur.Status != latch.GrantEscalating {
			return nil, errNotEscalating
		}
		*g = cur
		if g.HeldBefore != nil {
			return g.HeldBefore, nil
		}
	}
}

// deescalate returns the steps of revoking the grant's access, retrying
// every error for as long as it takes (Backoff.RevokeDelay): it never
// reports a failure. Each attempt reads the grant again, so a revoke done
// by another path stops it; but the first uses handed, when given (the
// grant as the engine committed it, and its first request), unless it is
// stale by then.
func (r *Runner) deescalate(grantID string, handed *latch.Grant, first *latch.Request) step {
	log := r.c.Log.With("grant", grantID)
	started := r.c.Clock.Now()
	handedAt := time.Now() // ages the hand-off as settle ages what it records
	watched := false       // the overdue check is armed once the due time is known
	attempt := 0
	var last func() // the report, once the escalator has answered
	return func() (time.Duration, bool) {
		if last != nil {
			last()
			return 0, false
		}
		attempt++
		var (
			verified bool
			g        latch.Grant
			err      error
		)
		if handed != nil && time.Since(handedAt) > handoffFresh {
			// It waited on a busy pool longer than a settled version is
			// surely remembered: read the grant, as a retry does.
			handed = nil
		}
		if handed != nil {
			if r.stale(*handed) {
				return 0, false // settled since it was handed over
			}
			g, handed = *handed, nil
		} else {
			g, err = r.c.Store.GetGrant(r.ctx, grantID)
			first = nil
			if err == nil && g.Status != latch.GrantDeescalating {
				r.settle(grantID, g.Version)
				r.setLastErr(grantID, nil)
				return 0, false // done already, or never asked
			}
		}
		due := started
		if err == nil {
			if g.DueAt != nil {
				due = *g.DueAt
			}
			if !watched {
				watched = true
				log = log.With("flow", g.Flow, "target", g.TargetID)
				r.watch(grantID, due)
			}
			if g.LeftInPlace() {
				// The person had this access before Latch, which granted
				// nothing: it stays, and the target is not asked.
				log.Info("the access was in place before Latch: left in place")
				cmd := latch.Command{ID: commandID("deescalated", g), Kind: latch.CmdDeescalated, GrantID: g.ID,
					HeldBefore: g.HeldBefore}
				last = func() { r.settle(grantID, g.Version); r.report(log, cmd); r.setLastErr(grantID, nil) }
				return onReports, true
			}
			verified, err = r.revoke(g, first)
		}
		if err == nil {
			log.Info("access revoked", "attempt", attempt, "verified", verified)
			cmd := latch.Command{ID: commandID("deescalated", g), Kind: latch.CmdDeescalated, GrantID: g.ID,
				Verified: verified, HeldBefore: g.HeldBefore}
			last = func() { r.settle(grantID, g.Version); r.report(log, cmd); r.setLastErr(grantID, nil) }
			return onReports, true
		}
		r.setLastErr(grantID, err)
		wait := r.c.Backoff.RevokeDelay(attempt, r.c.Clock.Now().Sub(due))
		log.Warn("revoking access failed; retrying", "attempt", attempt, "retry_in", wait.String(), "err", err)
		return jitter(wait), true
	}
}

// revoke makes one attempt at revoking g's access, with what the grant
// recorded (latch.RevokeTarget) and its first request (read when nil). It
// reports whether a check of the target confirmed the access gone.
func (r *Runner) revoke(g latch.Grant, first *latch.Request) (verified bool, err error) {
	f, esc, err := r.target(g)
	if err != nil {
		return false, err
	}
	if first == nil {
		first = r.firstRequest(g)
	}
	spec := latch.NewGrantSpec(f, &g, first, r.c.Clock.Now())
	if spec.User.Identity == "" {
		// No identity recorded (the escalation was never reported): find
		// it. Revoke with what is known (nothing, when no identity was ever
		// found): the escalator decides. A lookup that failed for a passing
		// reason is retried like the revoke.
		id, err := r.identityFor(r.identityFlow(f, g), g)
		if err != nil && latch.ErrorCodeOf(err) != identity.CodeNotFound {
			return false, err
		}
		spec.User.Identity = id
	}
	if err := safeCall(r.ctx, esc.Revoke, spec); err != nil {
		return false, err
	}
	err = safeCall(r.ctx, func(ctx context.Context, spec latch.GrantSpec) error {
		return latch.ConfirmRevoked(ctx, esc, spec)
	}, spec)
	return err == nil && latch.Checks(esc), err
}

// target is the flow to escalate or revoke g with and its escalator
// (latch.RevokeTarget): what g recorded, or for a grant that recorded
// nothing, its flow as loaded now.
func (r *Runner) target(g latch.Grant) (*latch.Flow, latch.Escalator, error) {
	cur, _ := r.c.Flows.Get(g.Flow)
	f, name, ok := latch.RevokeTarget(&g, cur)
	if !ok {
		return nil, nil, fmt.Errorf("flow %q is not loaded and grant %s recorded nothing to act with: restore the flow file", g.Flow, g.ID)
	}
	esc, err := r.c.Escalator(f.EscalatorFlow(name))
	if err != nil {
		return nil, nil, fmt.Errorf("escalator of grant %s: %w", g.ID, err)
	}
	return f, esc, nil
}

// prepare loads a grant in the wanted status and what calling its
// escalator needs: the grant is escalated with what it recorded when it was
// approved (latch.RevokeTarget), so a flow changed or removed since does not
// redirect it.
func (r *Runner) prepare(grantID string, want latch.GrantStatus) (latch.Grant, *latch.Flow, latch.GrantSpec, latch.Escalator, bool) {
	log := r.c.Log.With("grant", grantID)
	g, err := r.c.Store.GetGrant(r.ctx, grantID)
	if err != nil {
		log.Error("runner cannot load grant", "err", err)
		return g, nil, latch.GrantSpec{}, nil, false
	}
	if g.Status != want {
		return g, nil, latch.GrantSpec{}, nil, false // already done
	}
	f, esc, err := r.target(g)
	if err != nil {
		// This process called nothing, but the grant is still escalating:
		// a process before a restart may have granted. It is reported maybe
		// held, so that it is revoked until a revoke succeeds (or reported
		// overdue, loudly, while nothing can revoke it).
		failure := failureOf(err, "escalator_unavailable")
		failure.MaybeHeld = true
		r.report(log, latch.Command{ID: commandID(string(latch.CmdEscalationFailed), g), Kind: latch.CmdEscalationFailed,
			GrantID: g.ID, Failure: failure})
		return g, nil, latch.GrantSpec{}, nil, false
	}
	spec := latch.NewGrantSpec(f, &g, r.firstRequest(g), r.c.Clock.Now())
	return g, f, spec, esc, true
}

// firstRequest reads g's first request; nil when it has none or it cannot
// be read.
func (r *Runner) firstRequest(g latch.Grant) *latch.Request {
	if id := g.FirstRequestID(); id != "" {
		if req, err := r.c.Store.GetRequest(r.ctx, id); err == nil {
			return &req
		}
	}
	return nil
}

// identityFlow is the flow to find g's grantee with: the loaded flow, whose
// identity rule and hooks say how (a grant does not record them), else f.
func (r *Runner) identityFlow(f *latch.Flow, g latch.Grant) *latch.Flow {
	if cur, err := r.c.Flows.Get(g.Flow); err == nil && cur != nil {
		return cur
	}
	return f
}

func (r *Runner) identityFor(f *latch.Flow, g latch.Grant) (string, error) {
	if r.c.Identity == nil {
		return g.User.Email, nil
	}
	return r.c.Identity(r.ctx, f, g.User)
}

// report publishes a runner's result, retrying until it is accepted or the
// runner stops: a result must not be lost. The retries are frequent
// (Backoff.Report), so that a result lands soon after a store that could
// not write (a full disk) recovers; they are logged sparingly.
func (r *Runner) report(log *slog.Logger, cmd latch.Command) {
	cmd.At = r.c.Clock.Now()
	cmd.Source = latch.SourceLatch
	for attempt := 1; ; attempt++ {
		err := r.c.Queue.Publish(r.ctx, cmd)
		if err == nil || refused(err) {
			if err != nil {
				log.Warn("runner report refused", "command", cmd.ID, "err", err)
			}
			return
		}
		if sparse(attempt) {
			log.Error("runner report could not be recorded; retrying", "command", cmd.ID, "attempt", attempt, "err", err)
		}
		if !r.sleep(jitter(min(doubling(r.c.Backoff.Initial/4, attempt), r.c.Backoff.Report))) {
			return
		}
	}
}

// refused reports whether a Publish error is the engine's answer (a
// *latch.Error other than a conflict), which retrying cannot change.
func refused(err error) bool {
	var le *latch.Error
	return errors.As(err, &le) && !errors.Is(err, latch.ErrConflict) && le.Kind != latch.KindInternal
}

// sparse reports whether the attempt-th failure of a frequent retry is
// logged: the first few, then one in sixty.
func sparse(attempt int) bool { return attempt <= 3 || attempt%60 == 0 }

// jitter is d less up to half of it, at random.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func (r *Runner) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// commandID names a runner's report uniquely per grant version, so a report
// repeated for the same state is a duplicate and a later one is not.
func commandID(kind string, g latch.Grant) string {
	return fmt.Sprintf("%s/%s/v%d", kind, g.ID, g.Version)
}

func failureOf(err error, code string) *latch.Failure {
	var le *latch.Error
	if errors.As(err, &le) {
		return &latch.Failure{Code: le.Code, Message: le.Message}
	}
	return &latch.Failure{Code: code, Message: err.Error()}
}

// safeCall calls an escalator method, turning a panic into an error so that
// one plugin cannot kill the revoke path.
func safeCall(ctx context.Context, fn func(context.Context, latch.GrantSpec) error, spec latch.GrantSpec) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("escalator panicked: %v", p)
		}
	}()
	return fn(ctx, spec)
}
