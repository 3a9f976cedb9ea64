package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Backoff is how the runner retries escalators.
type Backoff struct {
	Initial time.Duration // first wait; doubles each attempt
	Max     time.Duration // longest wait
	// EscalateAttempts is how often a grant is tried before it fails.
	EscalateAttempts int
	// RevokeFor is how long a revoke is retried before it fails: every error,
	// permanent ones included, is retried until then, because access that
	// should be gone must not stay.
	RevokeFor time.Duration
}

// DefaultBackoff retries a grant 6 times over about a minute, and a revoke
// for a day with waits of at most five minutes.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 5 * time.Minute, EscalateAttempts: 6, RevokeFor: 24 * time.Hour}

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
}

// Runner runs grant lifecycles on goroutines and timers. It implements
// latch.GrantRunner.
type Runner struct {
	c   RunnerConfig
	ctx context.Context

	mu sync.Mutex
	// running holds the work under way ("escalate/<id>", "deescalate/<id>"),
	// and whether it was asked for again meanwhile and must run once more.
	running map[string]bool
	wg      sync.WaitGroup
}

var _ latch.GrantRunner = (*Runner)(nil)

// NewRunner returns a runner whose work lives as long as ctx.
func NewRunner(ctx context.Context, c RunnerConfig) *Runner {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Backoff == (Backoff{}) {
		c.Backoff = DefaultBackoff
	}
	return &Runner{c: c, ctx: ctx, running: map[string]bool{}}
}

// Escalate starts granting access for the grant, unless that is already under way.
func (r *Runner) Escalate(_ context.Context, grantID string) error {
	r.start("escalate/"+grantID, func() { r.escalate(grantID) })
	return nil
}

// Deescalate starts revoking access for the grant, unless that is already under way.
func (r *Runner) Deescalate(_ context.Context, grantID string) error {
	r.start("deescalate/"+grantID, func() { r.deescalate(grantID) })
	return nil
}

// Wake sends CmdDue for the grant at at, replacing an earlier wake-up.
func (r *Runner) Wake(ctx context.Context, grantID string, at time.Time) error {
	r.c.Timers.Set("wake/"+grantID, at, latch.Command{
		ID: fmt.Sprintf("due/%s/%d", grantID, at.UnixNano()), Kind: latch.CmdDue, GrantID: grantID, Source: latch.SourceSchedule})
	return nil
}

// Rearm restarts, from the store, everything that was under way when the
// process stopped: grants being escalated or deescalated are tried again,
// wake-ups are set for active grants (one already due fires at once), and
// pending requests get their expiry timers.
func (r *Runner) Rearm(ctx context.Context) error {
	grants, err := r.c.Store.ListGrants(ctx, latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating)
	if err != nil {
		return fmt.Errorf("rearm: list grants: %w", err)
	}
	for _, g := range grants {
		switch g.Status {
		case latch.GrantEscalating:
			_ = r.Escalate(ctx, g.ID)
		case latch.GrantDeescalating:
			_ = r.Deescalate(ctx, g.ID)
		case latch.GrantActive:
			if at, ok := g.NextDue(); ok {
				_ = r.Wake(ctx, g.ID, at)
			}
		}
	}
	pending, err := r.c.Store.ListRequests(ctx, latch.RequestFilter{Status: latch.StatusPending, Limit: 100000})
	if err != nil {
		return fmt.Errorf("rearm: list pending requests: %w", err)
	}
	for _, p := range pending {
		if p.ExpiresAt != nil {
			cmd := latch.Command{ID: "expire/" + p.ID, Kind: latch.CmdExpire, RequestID: p.ID, Source: latch.SourceSchedule}
			r.c.Timers.Set(cmd.ID, *p.ExpiresAt, cmd)
		}
	}
	r.c.Log.Info("runtime re-armed from the store", "grants", len(grants), "pending_requests", len(pending))
	return nil
}

// Wait blocks until every escalation and revoke under way has finished. It
// is for shutdown after the runner's context is cancelled, and for tests.
func (r *Runner) Wait() { r.wg.Wait() }

// start runs fn on a goroutine unless the same work is under way. Work asked
// for while it runs is run again when it is done, because it may have come
// after the running work last read the grant (a revoke retried just as its
// failure is reported); fn reloads the grant and does nothing if no longer
// needed.
func (r *Runner) start(key string, fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	if _, ok := r.running[key]; ok {
		r.running[key] = true
		return
	}
	r.running[key] = false
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			fn()
			r.mu.Lock()
			again := r.running[key] && r.ctx.Err() == nil
			if !again {
				delete(r.running, key)
				r.mu.Unlock()
				return
			}
			r.running[key] = false
			r.mu.Unlock()
		}
	}()
}

func (r *Runner) escalate(grantID string) {
	g, spec, esc, ok := r.prepare(grantID, latch.GrantEscalating)
	if !ok {
		return
	}
	log := r.c.Log.With("grant", grantID, "flow", g.Flow, "target", g.TargetID)
	called := false // whether the escalator was asked to grant at all
	for attempt := 1; ; attempt++ {
		err := safeCall(r.ctx, func(ctx context.Context, _ latch.GrantSpec) error {
			if spec.User.Identity == "" {
				// Who the grantee is in the target system is found once,
				// inside the retry loop: a hook's passing failure is
				// retried like the escalator's.
				id, err := r.identity(g)
				if err != nil {
					return err
				}
				spec.User.Identity = id
			}
			called = true
			return esc.Grant(ctx, spec)
		}, spec)
		if err == nil {
			log.Info("access granted", "attempt", attempt)
			r.report(log, latch.Command{ID: commandID("escalated", g), Kind: latch.CmdEscalated, GrantID: g.ID})
			return
		}
		if latch.IsPermanent(err) || attempt >= r.c.Backoff.EscalateAttempts {
			log.Warn("granting access failed", "attempt", attempt, "err", err)
			if called && !latch.IsPermanent(err) {
				// The target did not refuse; an attempt that timed out or
				// failed half-way may have granted all the same. Take back
				// what may be there (revoking what is not there succeeds),
				// best effort. A permanent refusal granted nothing.
				if err := safeCall(r.ctx, esc.Revoke, spec); err != nil {
					log.Warn("taking back a failed grant failed; the target may still hold access", "err", err)
				}
			}
			r.report(log, latch.Command{ID: commandID("escalation_failed", g), Kind: latch.CmdEscalationFailed,
				GrantID: g.ID, Failure: failureOf(err, "escalation_failed")})
			return
		}
		log.Warn("granting access failed; retrying", "attempt", attempt, "err", err)
		if !r.sleep(r.delay(attempt)) {
			return
		}
	}
}

func (r *Runner) deescalate(grantID string) {
	g, spec, esc, ok := r.prepare(grantID, latch.GrantDeescalating)
	if !ok {
		return
	}
	log := r.c.Log.With("grant", grantID, "flow", g.Flow, "target", g.TargetID)
	deadline := r.c.Clock.Now().Add(r.c.Backoff.RevokeFor)
	for attempt := 1; ; attempt++ {
		id, err := r.identity(g)
		if err == nil || latch.ErrorCodeOf(err) == identity.CodeNotFound {
			// Revoke with what is known (nothing, when no identity was
			// ever found): the escalator decides. A lookup that failed
			// for a passing reason is retried like the revoke.
			spec.User.Identity = id
			err = safeCall(r.ctx, esc.Revoke, spec)
		}
		if err == nil {
			log.Info("access revoked", "attempt", attempt)
			r.report(log, latch.Command{ID: commandID("deescalated", g), Kind: latch.CmdDeescalated, GrantID: g.ID})
			return
		}
		if !r.c.Clock.Now().Before(deadline) {
			log.Error("revoking access failed for good", "attempt", attempt, "err", err)
			r.report(log, latch.Command{ID: commandID("deescalation_failed", g), Kind: latch.CmdDeescalationFailed,
				GrantID: g.ID, Failure: failureOf(err, "deescalation_failed")})
			return
		}
		log.Warn("revoking access failed; retrying", "attempt", attempt, "err", err)
		if !r.sleep(r.delay(attempt)) {
			return
		}
	}
}

// prepare loads a grant in the wanted status and what calling its escalator needs.
func (r *Runner) prepare(grantID string, want latch.GrantStatus) (latch.Grant, latch.GrantSpec, latch.Escalator, bool) {
	log := r.c.Log.With("grant", grantID)
	g, err := r.c.Store.GetGrant(r.ctx, grantID)
	if err != nil {
		log.Error("runner cannot load grant", "err", err)
		return g, latch.GrantSpec{}, nil, false
	}
	if g.Status != want {
		return g, latch.GrantSpec{}, nil, false // already done
	}
	fail := func(code string, err error) (latch.Grant, latch.GrantSpec, latch.Escalator, bool) {
		kind := latch.CmdEscalationFailed
		if want == latch.GrantDeescalating {
			kind = latch.CmdDeescalationFailed
		}
		r.report(log, latch.Command{ID: commandID(string(kind), g), Kind: kind, GrantID: g.ID, Failure: failureOf(err, code)})
		return g, latch.GrantSpec{}, nil, false
	}
	f, err := r.c.Flows.Get(g.Flow)
	if err != nil {
		return fail("flow_not_found", err)
	}
	esc, err := r.c.Escalator(f)
	if err != nil {
		return fail("escalator_unavailable", err)
	}
	var first *latch.Request
	if id := g.FirstRequestID(); id != "" {
		if req, err := r.c.Store.GetRequest(r.ctx, id); err == nil {
			first = &req
		}
	}
	spec := latch.NewGrantSpec(f, &g, first, r.c.Clock.Now())
	return g, spec, esc, true
}

func (r *Runner) identity(g latch.Grant) (string, error) {
	if r.c.Identity == nil {
		return g.User.Email, nil
	}
	f, err := r.c.Flows.Get(g.Flow)
	if err != nil {
		return "", err
	}
	return r.c.Identity(r.ctx, f, g.User)
}

// report publishes a runner's result, retrying until it is accepted or the
// runner stops: a result must not be lost.
func (r *Runner) report(log *slog.Logger, cmd latch.Command) {
	cmd.At = r.c.Clock.Now()
	cmd.Source = latch.SourceLatch
	for attempt := 1; ; attempt++ {
		err := r.c.Queue.Publish(r.ctx, cmd)
		var le *latch.Error
		if err == nil || (errors.As(err, &le) && !errors.Is(err, latch.ErrConflict)) {
			if err != nil {
				log.Warn("runner report refused", "command", cmd.ID, "err", err)
			}
			return
		}
		log.Warn("runner report failed; retrying", "command", cmd.ID, "attempt", attempt, "err", err)
		if !r.sleep(r.delay(attempt)) {
			return
		}
	}
}

func (r *Runner) delay(attempt int) time.Duration {
	d := r.c.Backoff.Initial << min(attempt-1, 20)
	if d > r.c.Backoff.Max || d <= 0 {
		d = r.c.Backoff.Max
	}
	return d/2 + rand.N(d/2+1) // jitter
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
