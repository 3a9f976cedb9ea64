// Package engine is the one writer of request state. It loads what a command
// needs, runs the domain's pure Decide, commits the change (state, audit
// events and outbox) in one conditional write, and then carries out the
// outbox's effects through the ports: the grant runner, the scheduler, the
// notifier and the hook caller. It is used the same way by `latch server` and
// by the approvals Lambda.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchhq/latch/pkg/ids"
	"github.com/latchhq/latch/pkg/latch"
)

// HookCaller calls a flow's hook at a named point (on_request, on_approve,
// ...) and returns its answer. An error leaves the effect in the outbox to
// be retried.
type HookCaller interface {
	CallHook(ctx context.Context, f *latch.Flow, point string, r latch.Request) (latch.HookAnswer, error)
}

// Engine applies commands. Fields left nil get safe defaults from New:
// notifications and hooks are logged and dropped.
type Engine struct {
	store     latch.Store
	flows     *FlowSet
	clock     latch.Clock
	log       *slog.Logger
	users     *Users
	runner    latch.GrantRunner
	scheduler latch.Scheduler
	notifier  latch.Notifier
	hooks     HookCaller
	onCall    func(*latch.Flow) (latch.OnCallSource, error)
}

// Config is what an Engine is built from. Store, Flows, Runner and Scheduler
// are required.
type Config struct {
	Store     latch.Store
	Flows     *FlowSet
	Clock     latch.Clock
	Log       *slog.Logger
	Users     *Users
	Runner    latch.GrantRunner
	Scheduler latch.Scheduler
	Notifier  latch.Notifier
	Hooks     HookCaller
	// OnCall gives a flow's on-call source (nil, nil when it names none);
	// nil: no flow's rules see anyone on call.
	OnCall func(*latch.Flow) (latch.OnCallSource, error)
}

// New returns an Engine. It fails when a required port is missing.
func New(c Config) (*Engine, error) {
	if c.Store == nil || c.Flows == nil || c.Runner == nil || c.Scheduler == nil {
		return nil, errors.New("engine: Store, Flows, Runner and Scheduler are required")
	}
	e := &Engine{store: c.Store, flows: c.Flows, clock: c.Clock, log: c.Log, users: c.Users,
		runner: c.Runner, scheduler: c.Scheduler, notifier: c.Notifier, hooks: c.Hooks, onCall: c.OnCall}
	if e.clock == nil {
		e.clock = latch.SystemClock
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.users == nil {
		e.users = &Users{Store: c.Store, Clock: e.clock}
	}
	return e, nil
}

// Flows returns the engine's flows.
func (e *Engine) Flows() *FlowSet { return e.flows }

// Users returns the engine's user directory.
func (e *Engine) Users() *Users { return e.users }

// NewID returns a new sortable unique id with the given prefix ("req", "grt", "cmd").
func NewID(prefix string) string { return ids.New(prefix) }

// CreateInput is a request as submitted through Slack or the API.
type CreateInput struct {
	Flow      string
	UserEmail string
	CreatedBy latch.Actor // who submitted it; zero means the user themself
	Source    latch.Source
	Fields    map[string]any
	Context   map[string]any
	// ID names the request; empty makes a new one. A caller that derives it
	// from an idempotency key gets ErrExists on a repeat.
	ID string
	// StartsAt is when the access should start (a scheduled start); nil:
	// on approval. See latch.CheckStart.
	StartsAt *time.Time
	// BreakGlass asks for access at once, with no approver, for Reason
	// (required then): see latch.BreakGlass.
	BreakGlass bool
	Reason     string
}

// ErrExists is returned (wrapped) by Create when a request with the given
// ID was already created.
var ErrExists = &latch.Error{Kind: latch.KindConflict, Code: "request_exists", Message: "A request with this id exists."}

// Prepare checks a new request as Create would, without recording it, and
// returns the change that would record it: the request as it will be
// stored first (ID filled in), its audit event and effects. Edges that hand
// the creation to a queue (the Lambdas) answer with its request at once. It
// fails as Create does.
func (e *Engine) Prepare(ctx context.Context, in CreateInput) (latch.Change, error) {
	f, err := e.flows.Get(in.Flow)
	if err != nil {
		return latch.Change{}, err
	}
	user, err := e.users.Resolve(ctx, in.UserEmail)
	if err != nil {
		return latch.Change{}, err
	}
	id := in.ID
	if id == "" {
		id = NewID("req")
	}
	return latch.Create(f, latch.NewRequest{ID: id, Flow: f.Name, Requester: &user, CreatedBy: in.CreatedBy,
		Source: in.Source, Fields: in.Fields, Context: in.Context, At: e.clock.Now(), StartsAt: in.StartsAt,
		BreakGlass: in.BreakGlass, Reason: in.Reason})
}

// Create records a new pending request and carries out its effects. It
// returns KindNotFound for an unknown flow, KindInvalid for bad fields, and
// KindForbidden when the user may not request through the flow.
func (e *Engine) Create(ctx context.Context, in CreateInput) (latch.Request, error) {
	c, err := e.Prepare(ctx, in)
	if err != nil {
		return latch.Request{}, err
	}
	id := c.Requests[0].ID
	if err := e.store.Commit(ctx, c); err != nil {
		if in.ID != "" && (errors.Is(err, latch.ErrDuplicate) || errors.Is(err, latch.ErrConflict)) {
			return latch.Request{}, fmt.Errorf("create request %s: %w", id, ErrExists)
		}
		return latch.Request{}, fmt.Errorf("create request %s: %w", id, err)
	}
	r := c.Requests[0]
	e.log.InfoContext(ctx, "request created", "request", id, "flow", r.Flow, "user", r.Requester.Email)
	e.dispatch(ctx, c.Effects)
	r.Version++
	if r.BreakGlass != nil {
		return e.breakGlass(ctx, r), nil
	}
	if f, err := e.flows.Get(r.Flow); err == nil && f.AutoApprove != nil {
		e.autoApprove(ctx, id)
	}
	return r, nil
}

// autoApprove judges a new request by its flow's auto_approve rule: the
// rule approves it as the flow, or the audit trail says why it could not
// be judged. A failure here leaves the request to people.
func (e *Engine) autoApprove(ctx context.Context, requestID string) {
	cmd := latch.Command{ID: "auto_approve/" + requestID, Kind: latch.CmdAutoApprove, RequestID: requestID,
		At: e.clock.Now(), Source: latch.SourceLatch}
	if err := e.Handle(ctx, cmd); err != nil {
		e.log.WarnContext(ctx, "auto_approve not applied; the request waits for a person", "request", requestID, "err", err)
	}
}

// breakGlass grants break-glass request r at once and returns it as it
// is then. A failure leaves it pending, for the reconciler to send the
// command again (reconcile.Reconciler.BreakGlass).
func (e *Engine) breakGlass(ctx context.Context, r latch.Request) latch.Request {
	if err := e.Handle(ctx, latch.BreakGlassCommand(r, e.clock.Now())); err != nil {
		e.log.ErrorContext(ctx, "break glass not granted yet; the reconciler sends it again", "request", r.ID, "err", err)
		return r
	}
	if now, err := e.store.GetRequest(ctx, r.ID); err == nil {
		return now
	}
	return r
}

// onCallOf asks f's on-call source about actor and requester, for the
// rules of one command. A failure makes nobody on call and says why.
func (e *Engine) onCallOf(ctx context.Context, f *latch.Flow, actor, requester *latch.User) latch.OnCall {
	var oc latch.OnCall
	if e.onCall == nil || f.OnCall == nil {
		return oc
	}
	src, err := e.onCall(f)
	if err == nil && src == nil {
		err = errors.New("no on-call source is configured")
	}
	ask := func(u *latch.User) bool {
		if u == nil || err != nil {
			return false
		}
		on, lerr := src.OnCall(ctx, u.Email)
		if lerr != nil {
			err = lerr
			return false
		}
		return on
	}
	oc.Requester = ask(requester)
	oc.Approver = ask(actor)
	if err != nil {
		oc = latch.OnCall{Err: err.Error()}
		e.log.WarnContext(ctx, "on-call lookup failed; nobody counts as on call", "flow", f.Name, "err", err)
	}
	return oc
}

// Check judges a person's command (approve, deny, cancel, revoke, retry)
// against the request as it stands, without changing anything, so that an
// edge can refuse at once what the engine would refuse later.
func (e *Engine) Check(ctx context.Context, cmd latch.Command) error {
	if cmd.Kind.GrantLevel() || cmd.Kind == latch.CmdExpire || cmd.Kind == latch.CmdForward || cmd.Kind == latch.CmdAutoApprove ||
		cmd.Kind == latch.CmdStart || cmd.Kind == latch.CmdBreakGlass || cmd.Kind == latch.CmdReviewOverdue {
		return latch.Errorf(latch.KindInvalid, "not_a_person_command", "%s is not something a person can ask for.", cmd.Kind)
	}
	s, err := e.load(ctx, cmd)
	if err != nil {
		return err
	}
	_, err = latch.Decide(s, cmd)
	return err
}

// maxAttempts bounds how often Handle reloads and retries after a
// conflicting concurrent write.
const maxAttempts = 20

// Handle applies one command: it loads the state, decides, commits and
// carries out the effects. A command whose Dedup was committed before is
// done already and returns nil. A refused command returns the domain's
// *Error (forbidden, conflict); any other error means "retry me".
func (e *Engine) Handle(ctx context.Context, cmd latch.Command) error {
	if cmd.ID == "" {
		return latch.Errorf(latch.KindInvalid, "missing_id", "A command needs an id.")
	}
	if cmd.At.IsZero() {
		cmd.At = e.clock.Now()
	}
	for attempt := 1; ; attempt++ {
		s, err := e.load(ctx, cmd)
		if err != nil {
			return err
		}
		c, err := latch.Decide(s, cmd)
		if err != nil {
			return err
		}
		if c.Empty() {
			e.log.DebugContext(ctx, "command changes nothing", "command", cmd.ID, "kind", cmd.Kind)
			return nil
		}
		err = e.store.Commit(ctx, c)
		switch {
		case err == nil:
			e.log.InfoContext(ctx, "command applied", "command", cmd.ID, "kind", cmd.Kind,
				"request", cmd.RequestID, "grant", cmd.GrantID, "changed", len(c.Requests))
			e.dispatchCommitted(ctx, c, s)
			e.recordActor(ctx, s.Actor)
			return nil
		case errors.Is(err, latch.ErrDuplicate):
			return nil
		case errors.Is(err, latch.ErrConflict) && attempt < maxAttempts:
			continue // someone else wrote first: reload and decide again
		default:
			return fmt.Errorf("%s %s%s: %w", cmd.Kind, cmd.RequestID, cmd.GrantID, err)
		}
	}
}

// load gathers what Decide needs for cmd.
func (e *Engine) load(ctx context.Context, cmd latch.Command) (latch.State, error) {
	s := latch.State{Requests: map[string]*latch.Request{}, NewGrantID: func() string { return NewID("grt") }}
	var grantIDs []string
	if cmd.Kind.GrantLevel() {
		g, err := e.store.GetGrant(ctx, cmd.GrantID)
		if err != nil {
			return s, fmt.Errorf("load grant %s: %w", cmd.GrantID, err)
		}
		s.Grant = &g
		if s.Flow, err = e.flows.Get(g.Flow); err != nil {
			// The flow was removed while access was held. Reports about the
			// grant must still land, and the grant is revoked with what it
			// recorded (latch.Grant.RevokeFlow).
			e.log.WarnContext(ctx, "grant of a flow that is no longer loaded", "grant", g.ID, "flow", g.Flow)
			if s.Flow, _ = g.RevokeFlow(nil); s.Flow == nil {
				s.Flow = &latch.Flow{Name: g.Flow, ScheduleDeescalation: true}
			}
		}
		grantIDs = g.RequestIDs()
	} else {
		r, err := e.store.GetRequest(ctx, cmd.RequestID)
		if err != nil {
			if errors.Is(err, latch.ErrNotFound) {
				return s, latch.Errorf(latch.KindNotFound, "request_not_found", "There is no request %q.", cmd.RequestID)
			}
			return s, fmt.Errorf("load request %s: %w", cmd.RequestID, err)
		}
		s.Request = &r
		if s.Flow, err = e.flows.Get(r.Flow); err != nil {
			// Taking access away never depends on the flow file: an early
			// revoke of a grant whose flow is gone is judged with what the
			// grant recorded (no approvers: admins may revoke).
			f, ok := e.recordedFlow(ctx, cmd, r)
			if !ok {
				return s, err
			}
			s.Flow = f
		}
		if s.Requester, err = e.userPtr(ctx, r.Requester.Email); err != nil {
			return s, err
		}
		if !cmd.Actor.IsSystem() && cmd.Actor.Email != "" {
			// Judged as the person they are or would be: whom a refused
			// command names is not recorded (Handle records them once
			// their command is applied).
			actor, err := e.users.Peek(ctx, cmd.Actor.Email)
			if err != nil {
				return s, err
			}
			s.Actor = &actor
		}
		switch cmd.Kind {
		case latch.CmdApprove, latch.CmdDeny, latch.CmdRevoke, latch.CmdAutoApprove, latch.CmdReview:
			s.OnCall = e.onCallOf(ctx, s.Flow, s.Actor, s.Requester)
		}
		if r.GrantID != "" {
			g, err := e.store.GetGrant(ctx, r.GrantID)
			if err != nil {
				return s, fmt.Errorf("load grant %s: %w", r.GrantID, err)
			}
			s.Grant = &g
			grantIDs = append(grantIDs, g.RequestIDs()...)
		}
		if s.Flow.Strategy != nil && r.TargetID != "" {
			g, err := e.store.OpenGrant(ctx, latch.GrantKey(r.Flow, r.TargetID, r.Requester.Email))
			switch {
			case err == nil:
				s.OpenGrant = &g
				grantIDs = append(grantIDs, g.RequestIDs()...)
			case !errors.Is(err, latch.ErrNotFound):
				return s, fmt.Errorf("load open grant of %s: %w", r.ID, err)
			}
		}
	}
	for _, id := range grantIDs {
		if _, ok := s.Requests[id]; ok || (s.Request != nil && id == s.Request.ID) {
			continue
		}
		r, err := e.store.GetRequest(ctx, id)
		if err != nil {
			if errors.Is(err, latch.ErrNotFound) {
				continue
			}
			if cmd.Kind.GrantLevel() && errors.Is(err, latch.ErrUndecodable) {
				// One damaged request record must not block its grant's
				// revoke: the grant goes on without it (the store reports
				// the record).
				e.log.ErrorContext(ctx, "a request of the grant cannot be read; going on without it",
					"grant", cmd.GrantID, "request", id, "err", err)
				continue
			}
			return s, fmt.Errorf("load request %s: %w", id, err)
		}
		s.Requests[id] = &r
	}
	return s, nil
}

// recordActor records the person who acted, when Latch met them only now
// (Version 0: see Users.Peek). A failure is logged: the command stands.
func (e *Engine) recordActor(ctx context.Context, actor *latch.User) {
	if actor == nil || actor.Version != 0 {
		return
	}
	if _, err := e.users.Resolve(ctx, actor.Email); err != nil {
		e.log.WarnContext(ctx, "could not record a new user", "user", actor.Email, "err", err)
	}
}

// recordedFlow is the flow made from what the request's grant recorded, for
// an early revoke of a request whose flow is gone.
func (e *Engine) recordedFlow(ctx context.Context, cmd latch.Command, r latch.Request) (*latch.Flow, bool) {
	if cmd.Kind != latch.CmdRevoke || r.GrantID == "" {
		return nil, false
	}
	g, err := e.store.GetGrant(ctx, r.GrantID)
	if err != nil {
		return nil, false
	}
	return g.RevokeFlow(nil)
}

func (e *Engine) userPtr(ctx context.Context, email string) (*latch.User, error) {
	u, err := e.users.Resolve(ctx, email)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// DispatchPending carries out the effects left in the outbox (after a crash,
// or because an earlier attempt failed) that are at least minAge old, so that
// effects being carried out right after their commit are not done twice. It
// returns the number done.
func (e *Engine) DispatchPending(ctx context.Context, minAge time.Duration) (int, error) {
	effects, err := e.store.PendingEffects(ctx, 500)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	cutoff := e.clock.Now().Add(-minAge)
	old := effects[:0]
	for _, ef := range effects {
		if !ef.CreatedAt.After(cutoff) {
			old = append(old, ef)
		}
	}
	return e.dispatch(ctx, old), nil
}

// dispatch carries out effects in order and removes each done one from the
// outbox. A failed effect stays there for DispatchPending, unless it was
// refused for good (latch.Permanent): that one is logged and removed.
func (e *Engine) dispatch(ctx context.Context, effects []latch.Effect) int {
	return e.dispatchFrom(ctx, effects, nil)
}

// dispatchCommitted carries out the effects of change c, just committed
// from state s: a revoke it started is handed to the runner with the grant
// as committed (latch.DeescalateHandoff), not read again.
func (e *Engine) dispatchCommitted(ctx context.Context, c latch.Change, s latch.State) {
	h, ok := e.runner.(latch.DeescalateHandoff)
	if !ok {
		e.dispatch(ctx, c.Effects)
		return
	}
	e.dispatchFrom(ctx, c.Effects, func(ctx context.Context, ef latch.Effect) (bool, error) {
		g, ok := committedGrant(c, ef.GrantID)
		if !ok {
			return false, nil
		}
		return true, h.DeescalateGrant(ctx, g, firstRequest(c, s, g))
	})
}

// committedGrant is grant id as change c wrote it (at the version the store
// holds after the commit), when c made it deescalating.
func committedGrant(c latch.Change, id string) (latch.Grant, bool) {
	for _, g := range c.Grants {
		if g.ID == id && g.Status == latch.GrantDeescalating {
			g.Version++
			return g, true
		}
	}
	return latch.Grant{}, false
}

// firstRequest is g's first request as change c or state s holds it, or nil.
func firstRequest(c latch.Change, s latch.State, g latch.Grant) *latch.Request {
	id := g.FirstRequestID()
	if id == "" {
		return nil
	}
	for i := range c.Requests {
		if c.Requests[i].ID == id {
			r := c.Requests[i]
			r.Version++
			return &r
		}
	}
	r := s.Requests[id]
	if s.Request != nil && s.Request.ID == id {
		r = s.Request
	}
	if r == nil {
		return nil
	}
	cp := *r
	return &cp
}

// dispatchFrom is dispatch with handOff, when given, trying each revoke
// first: it says whether it took the effect, and its error.
func (e *Engine) dispatchFrom(ctx context.Context, effects []latch.Effect,
	handOff func(context.Context, latch.Effect) (bool, error)) int {
	done := 0
	for _, ef := range effects {
		var err error
		handed := false
		if handOff != nil && ef.Kind == latch.EffectDeescalate {
			handed, err = handOff(ctx, ef)
		}
		if !handed {
			err = e.do(ctx, ef)
		}
		if err != nil {
			if !latch.IsPermanent(err) {
				e.log.WarnContext(ctx, "effect failed; it stays in the outbox", "effect", ef.ID, "kind", ef.Kind, "err", err)
				continue
			}
			// Refused for good (a hook's endpoint answered 4xx, its secret
			// is missing): retrying cannot help, and keeping it would
			// retry it for ever.
			e.log.ErrorContext(ctx, "effect refused for good; it is dropped", "effect", ef.ID, "kind", ef.Kind,
				"request", ef.RequestID, "grant", ef.GrantID, "err", err)
		}
		if err := e.store.EffectDone(ctx, ef.ID); err != nil {
			e.log.WarnContext(ctx, "could not clear effect from the outbox", "effect", ef.ID, "err", err)
			continue
		}
		done++
	}
	return done
}

func (e *Engine) do(ctx context.Context, ef latch.Effect) error {
	switch ef.Kind {
	case latch.EffectEscalate:
		return e.runner.Escalate(ctx, ef.GrantID)
	case latch.EffectDeescalate:
		return e.runner.Deescalate(ctx, ef.GrantID)
	case latch.EffectWake:
		return e.runner.Wake(ctx, ef.GrantID, ef.At)
	case latch.EffectRegrant:
		if rg, ok := e.runner.(latch.Regranter); ok {
			return rg.Regrant(ctx, ef.GrantID)
		}
		return nil
	case latch.EffectExpire:
		return e.scheduler.At(ctx, ef.At, ExpireCommand(ef.RequestID, ef.At))
	case latch.EffectForward:
		return e.scheduler.At(ctx, ef.At, latch.ForwardCommand(ef.RequestID, ef.Step, ef.At))
	case latch.EffectStart:
		return e.scheduler.At(ctx, ef.At, latch.StartCommand(ef.RequestID, ef.At))
	case latch.EffectNotify:
		if e.notifier == nil {
			return nil
		}
		r, err := e.store.GetRequest(ctx, ef.RequestID)
		if err != nil {
			return err
		}
		err = e.notifier.Notify(ctx, ef.Event, r)
		if ef.Event == latch.AuditForwarded && errors.Is(err, latch.ErrUndeliverable) {
			return e.forwardNow(ctx, r, err)
		}
		return err
	case latch.EffectHook:
		if e.hooks == nil {
			e.log.WarnContext(ctx, "no hook caller configured; hook skipped", "hook", ef.Hook, "request", ef.RequestID)
			return nil
		}
		r, err := e.store.GetRequest(ctx, ef.RequestID)
		if err != nil {
			return err
		}
		f, err := e.flows.Get(r.Flow)
		if err != nil {
			return err
		}
		answer, err := e.hooks.CallHook(ctx, f, ef.Hook, r)
		if err != nil {
			return err
		}
		return e.hookDecision(ctx, ef.Hook, r, answer)
	}
	return fmt.Errorf("unknown effect kind %q", ef.Kind)
}

// hookDecision acts on an on_request hook's answer: approve or deny the
// request as the flow's hook, or leave it to the approvers. A decision the
// request no longer allows (someone decided first) is not an error.
func (e *Engine) hookDecision(ctx context.Context, point string, r latch.Request, a latch.HookAnswer) error {
	var kind latch.CommandKind
	switch a.Decision {
	case "":
		return nil
	case "approve":
		kind = latch.CmdApprove
	case "deny":
		kind = latch.CmdDeny
	default:
		e.log.WarnContext(ctx, "hook answered an unknown decision; ignored", "request", r.ID, "hook", point, "decision", a.Decision)
		return nil
	}
	if point != latch.HookOnRequest {
		e.log.WarnContext(ctx, "only the on_request hook may decide; answer ignored", "request", r.ID, "hook", point)
		return nil
	}
	cmd := latch.Command{ID: "hook/" + r.ID + "/" + point, Kind: kind, RequestID: r.ID,
		Actor: latch.Actor{Bot: point + " hook"}, Reason: a.Reason, Hook: point, At: e.clock.Now()}
	err := e.Handle(ctx, cmd)
	var le *latch.Error
	if errors.As(err, &le) && le.Kind != latch.KindInternal && !errors.Is(err, latch.ErrConflict) {
		e.log.InfoContext(ctx, "hook decision no longer applies", "request", r.ID, "decision", a.Decision, "reason", le.Message)
		return nil
	}
	return err
}

// forwardNow moves r on to the step after the one it has reached, at once,
// because that step could not be delivered (why). A request that has moved
// on already, or has no next step, is left as it is.
func (e *Engine) forwardNow(ctx context.Context, r latch.Request, why error) error {
	e.log.WarnContext(ctx, "forwarding step could not be delivered; moving to the next step", "request", r.ID,
		"step", r.Forwarded, "err", why)
	cmd := latch.ForwardCommand(r.ID, r.Forwarded+1, e.clock.Now())
	cmd.Failure = &latch.Failure{Code: "undeliverable", Message: fmt.Sprintf("step %d: %v", r.Forwarded, why)}
	err := e.Handle(ctx, cmd)
	var le *latch.Error
	if errors.As(err, &le) && le.Kind != latch.KindInternal {
		return nil
	}
	return err
}

// ExpireCommand is the command that expires a pending request at its
// approval deadline. Its id is stable, so scheduling it twice is harmless.
func ExpireCommand(requestID string, at time.Time) latch.Command {
	return latch.Command{ID: "expire/" + requestID, Kind: latch.CmdExpire, RequestID: requestID, At: at, Source: latch.SourceSchedule}
}
