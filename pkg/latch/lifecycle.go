package latch

import (
	"fmt"
	"slices"
	"time"
)

// State is what Decide needs to judge one command, loaded by the engine.
type State struct {
	Flow *Flow
	// Request is the subject of a request-level command.
	Request *Request
	// Grant is the grant a command acts on: for a grant-level command the one
	// it names; for a request-level command the request's current grant, if any.
	Grant *Grant
	// OpenGrant is the open grant for the request's key, if any (request-level
	// commands that may take a lease).
	OpenGrant *Grant
	// Requests holds every request leasing or queued on Grant and OpenGrant.
	Requests map[string]*Request
	// Actor is the user behind the command's actor; nil for Latch itself.
	Actor *User
	// Requester is the user who asked for Request.
	Requester *User
	// NewGrantID names a new grant.
	NewGrantID func() string
	// OnCall is what the flow's on-call source said of Actor and
	// Requester, for rules (zero when the flow names none).
	OnCall OnCall
}

// Decide applies cmd to the state and returns the change to commit: the
// requests and grants it moves, their audit events, and the effects to carry
// out afterwards. It is pure: no I/O, no clock (the time is cmd.At). An empty
// change means the command no longer applies (a stale timer, a repeated
// report). Errors are *Error values for edges to show.
func Decide(s State, cmd Command) (Change, error) {
	b := &builder{s: s, cmd: cmd, reqs: map[string]*Request{}, grants: map[string]*Grant{}}
	for id, r := range s.Requests {
		c := *r
		b.reqs[id] = &c
	}
	if s.Request != nil {
		c := *s.Request
		b.reqs[c.ID] = &c
	}
	for _, g := range []*Grant{s.Grant, s.OpenGrant} {
		if g != nil {
			if _, seen := b.grants[g.ID]; !seen {
				b.grants[g.ID] = g.clone()
			}
		}
	}
	var err error
	if cmd.Kind.GrantLevel() {
		err = b.grantCommand()
	} else {
		if s.Request == nil {
			return Change{}, fmt.Errorf("decide %s: no request", cmd.Kind)
		}
		err = b.apply(s.Request.ID, cmd, Env{Flow: s.Flow, Actor: s.Actor, Requester: s.Requester, OnCall: s.OnCall})
	}
	if err != nil {
		return Change{}, err
	}
	return b.change(), nil
}

// builder accumulates the change of one Decide.
type builder struct {
	s       State
	cmd     Command
	reqs    map[string]*Request
	grants  map[string]*Grant
	touched []string // request ids, in order of first change
	gtouch  []string // grant ids, in order of first change
	audit   []AuditEvent
	effects []Effect
}

func (b *builder) now() time.Time { return b.cmd.At }

func (b *builder) touchRequest(id string) {
	if !slices.Contains(b.touched, id) {
		b.touched = append(b.touched, id)
	}
}

func (b *builder) touchGrant(g *Grant) {
	b.grants[g.ID] = g
	if !slices.Contains(b.gtouch, g.ID) {
		b.gtouch = append(b.gtouch, g.ID)
	}
}

func (b *builder) effect(e Effect) { b.effects = append(b.effects, e) }

// apply runs one request transition and whatever it asks of the grant.
func (b *builder) apply(requestID string, cmd Command, env Env) error {
	r, ok := b.reqs[requestID]
	if !ok {
		return fmt.Errorf("decide %s: request %s not loaded", cmd.Kind, requestID)
	}
	if env.Flow == nil {
		env.Flow = b.s.Flow
	}
	out, err := r.Apply(cmd, env)
	if err != nil {
		return err
	}
	if out.Noop {
		return nil
	}
	n := out.Request
	n.UpdatedAt = b.now()
	*r = n
	b.touchRequest(r.ID)
	for _, a := range out.Audit {
		b.record(r, a)
	}
	for _, e := range out.Effects {
		e.RequestID = r.ID
		b.effect(e)
	}
	switch out.Grant {
	case GrantJoin:
		b.join(r)
	case GrantLeave:
		if err := b.leave(r); err != nil {
			return err
		}
	case GrantDeescalate:
		return b.redeescalate(r)
	case GrantExtend:
		return b.extendLease(r)
	}
	return nil
}

func (b *builder) record(r *Request, a AuditEvent) {
	r.EventSeq++
	a.Seq = r.EventSeq
	a.ID = AuditEventID(r.ID, a.Seq)
	a.RequestID = r.ID
	a.At = b.now()
	a.Flow = r.Flow
	a.Requester = r.Requester.Email
	a.TargetID = r.TargetID
	a.GrantID = r.GrantID
	b.audit = append(b.audit, a)
}

// AuditEventID is the stable id of a request's seq-th audit event.
func AuditEventID(requestID string, seq int64) string {
	return fmt.Sprintf("%s/%06d", requestID, seq)
}

// join takes a lease for r on the open grant of its key, starting a grant
// when none is open.
func (b *builder) join(r *Request) {
	lease := Lease{RequestID: r.ID, Duration: r.Duration}
	scheduled := b.flow().ScheduleDeescalation
	if b.cmd.Kind == CmdStart && r.ScheduledStart != nil {
		// A scheduled start: the end counts from the start asked for, however
		// late the timer fired (a restart), and whatever grant it joins.
		lease.fixEnd(*r.ScheduledStart, scheduled)
	}
	var g *Grant
	if b.s.OpenGrant != nil {
		g = b.grants[b.s.OpenGrant.ID]
	}
	if g == nil || !g.Status.Open() {
		// The first escalation attempt is asked for now: the end is fixed
		// from now, whatever the escalation's retries, a crash or a late
		// report cost.
		lease.fixEnd(b.now(), scheduled)
		g = &Grant{ID: b.s.NewGrantID(), Key: GrantKey(r.Flow, r.TargetID, r.Requester.Email), Flow: r.Flow,
			TargetID: r.TargetID, User: r.Requester, Status: GrantEscalating, Leases: []Lease{lease},
			Revoke: revokeInfo(b.s.Flow, r.TargetID), ChecksHeld: true, CreatedAt: b.now(), UpdatedAt: b.now()}
		b.touchGrant(g)
		r.GrantID = g.ID
		b.effect(Effect{Kind: EffectEscalate, GrantID: g.ID, RequestID: r.ID})
		return
	}
	g.UpdatedAt = b.now()
	b.touchGrant(g)
	switch g.Status {
	case GrantEscalating:
		lease.fixEnd(b.now(), scheduled)
		g.Leases = append(g.Leases, lease)
		r.GrantID = g.ID
	case GrantActive:
		lease.start(b.now(), scheduled)
		before, hadEnd := g.EndsAt()
		g.Leases = append(g.Leases, lease)
		b.regrantIfLater(g, before, hadEnd) // the target learns the later end
		r.GrantID = g.ID
		// Access is already in place: the request is active at once. The error
		// cannot happen: r is escalating and the lease is given.
		_ = b.apply(r.ID, b.system(CmdEscalated), Env{Lease: &lease, HeldBefore: g.LeftInPlace()})
	case GrantDeescalating:
		// Access is being revoked; the next grant starts when that is done.
		g.Queued = append(g.Queued, lease)
	}
}

// leave gives r's lease back: the request ends at once if another lease
// still holds the access; otherwise the grant is revoked.
func (b *builder) leave(r *Request) error {
	g, ok := b.grants[r.GrantID]
	if !ok {
		return fmt.Errorf("leave: grant %s of request %s not loaded", r.GrantID, r.ID)
	}
	if g.Status != GrantActive {
		return nil // already being revoked: r ends with the grant
	}
	now := b.now()
	holding := slices.ContainsFunc(g.Leases, func(l Lease) bool {
		return l.RequestID != r.ID && (l.EndsAt.IsZero() || l.EndsAt.After(now))
	})
	g.UpdatedAt = now
	b.touchGrant(g)
	if holding {
		g.removeLease(r.ID)
		return b.apply(r.ID, b.system(CmdDeescalated), Env{AccessKept: true})
	}
	g.Status = GrantDeescalating
	due := now
	if l, ok := g.Lease(r.ID); ok && !l.EndsAt.IsZero() && l.EndsAt.Before(now) {
		due = l.EndsAt
	}
	g.DueAt = &due
	b.effect(Effect{Kind: EffectDeescalate, GrantID: g.ID, RequestID: r.ID})
	// Every other lease is due too: those requests end with the grant.
	for _, l := range g.Leases {
		if l.RequestID != r.ID {
			if o, ok := b.reqs[l.RequestID]; ok && o.Status == StatusActive {
				if err := b.apply(o.ID, b.system(CmdDue), Env{}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// leaveUnread ends lease l of g, due, whose request cannot be read (gone,
// or a damaged record): the access it held still ends on time. The grant is
// revoked unless another lease still holds it.
func (b *builder) leaveUnread(g *Grant, l Lease) {
	if g.Status != GrantActive {
		return // already being revoked
	}
	now := b.now()
	holding := slices.ContainsFunc(g.Leases, func(o Lease) bool {
		return o.RequestID != l.RequestID && (o.EndsAt.IsZero() || o.EndsAt.After(now))
	})
	g.UpdatedAt = now
	b.touchGrant(g)
	if holding {
		g.removeLease(l.RequestID)
		return
	}
	g.Status = GrantDeescalating
	due := l.EndsAt
	g.DueAt = &due
	b.effect(Effect{Kind: EffectDeescalate, GrantID: g.ID})
}

// redeescalate retries the revoke of r's failed grant. When a newer grant
// for the same user and target is open, that grant holds the access now and
// revokes it when it ends: revoking here would take away access it relies on,
// so the failed grant is closed instead and its requests end.
func (b *builder) redeescalate(r *Request) error {
	g, ok := b.grants[r.GrantID]
	if !ok || g.Status != GrantFailed {
		return nil
	}
	now := b.now()
	g.Failure = nil
	g.UpdatedAt = now
	b.touchGrant(g)
	if o := b.s.OpenGrant; o != nil && o.ID != g.ID && o.Status.Open() {
		g.Status = GrantEnded
		g.EndedAt = &now
		for _, l := range g.Leases {
			if _, ok := b.reqs[l.RequestID]; ok {
				if err := b.apply(l.RequestID, b.system(CmdDeescalated), Env{AccessKept: true}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	g.Status = GrantDeescalating
	g.DueAt = &now
	b.effect(Effect{Kind: EffectDeescalate, GrantID: g.ID, RequestID: r.ID})
	return nil
}

// grantCommand handles a report about a grant: every lease moves with it.
func (b *builder) grantCommand() error {
	if b.s.Grant == nil {
		return fmt.Errorf("decide %s: no grant", b.cmd.Kind)
	}
	g := b.grants[b.s.Grant.ID]
	now := b.now()
	each := func(leases []Lease, cmd Command, env func(Lease) Env) error {
		for _, l := range leases {
			if _, ok := b.reqs[l.RequestID]; !ok {
				continue // a lease whose request is gone cannot be moved; the grant still is
			}
			if err := b.apply(l.RequestID, cmd, env(l)); err != nil {
				return err
			}
		}
		return nil
	}
	plain := func(Lease) Env { return Env{} }

	switch b.cmd.Kind {
	case CmdEscalated:
		if g.Status != GrantEscalating {
			return nil
		}
		g.Status = GrantActive
		g.StartsAt = &now
		if b.cmd.Identity != "" {
			g.Identity = b.cmd.Identity
		}
		g.keepHeldBefore(b.cmd.HeldBefore)
		for i := range g.Leases {
			g.Leases[i].start(now, b.flow().ScheduleDeescalation)
		}
		g.UpdatedAt = now
		b.touchGrant(g)
		b.regrantJoined(g)
		return each(g.Leases, b.cmd, func(l Lease) Env { return Env{Lease: &l, HeldBefore: g.LeftInPlace()} })

	case CmdEscalationFailed:
		if g.Status != GrantEscalating {
			return nil
		}
		g.Failure = failureAt(b.cmd.Failure, StageEscalate)
		g.UpdatedAt = now
		if g.Failure.MaybeHeld {
			// The target did not refuse; an attempt that timed out may have
			// granted all the same. The grant stays open and is revoked,
			// retried until a revoke succeeds: only then does it close.
			g.Status = GrantDeescalating
			g.DueAt = &now
			b.effect(Effect{Kind: EffectDeescalate, GrantID: g.ID})
		} else {
			g.Status = GrantFailed
		}
		b.touchGrant(g)
		return each(g.Leases, b.cmd, plain)

	case CmdDue:
		if g.Status != GrantActive {
			return nil
		}
		var due []Lease
		for _, l := range g.Leases {
			if !l.EndsAt.IsZero() && !l.EndsAt.After(now) {
				due = append(due, l)
			}
		}
		if err := each(due, b.cmd, plain); err != nil {
			return err
		}
		for _, l := range due {
			if _, ok := b.reqs[l.RequestID]; !ok {
				b.leaveUnread(g, l)
			}
		}
		return nil

	case CmdDeescalated:
		if g.Status != GrantDeescalating {
			return nil
		}
		g.UpdatedAt = now
		g.Status = GrantEnded
		g.EndedAt = &now
		g.keepHeldBefore(b.cmd.HeldBefore) // when the escalated report that carried it was lost
		b.touchGrant(g)
		if err := each(g.Leases, b.cmd, func(Lease) Env { return Env{DueAt: g.DueAt, HeldBefore: g.LeftInPlace()} }); err != nil {
			return err
		}
		if len(g.Queued) > 0 {
			b.startQueued(g)
		}
		return nil

	case CmdDeescalationFailed:
		// The runner stopped retrying (a Step Functions execution after a
		// day): the grant may still hold access, so it stays deescalating,
		// with the last error, and is revoked again.
		if g.Status != GrantDeescalating {
			return nil
		}
		g.UpdatedAt = now
		g.Failure = failureAt(b.cmd.Failure, StageDeescalate)
		b.touchGrant(g)
		b.effect(Effect{Kind: EffectDeescalate, GrantID: g.ID})
		return each(g.Leases, b.cmd, func(Lease) Env { return Env{DueAt: g.DueAt} })

	case CmdOverdue:
		// Recorded on the requests only: the grant itself is not changed, so
		// that the runner's reports about it still apply.
		var due *time.Time
		switch g.Status {
		case GrantDeescalating:
			due = g.DueAt
		case GrantActive:
			next, ok := g.NextDue()
			if !ok || next.After(now) {
				return nil
			}
			due = &next
		default:
			return nil
		}
		return each(g.Leases, b.cmd, func(Lease) Env { return Env{DueAt: due} })
	}
	return fmt.Errorf("decide: %s is not a grant command", b.cmd.Kind)
}

// startQueued starts the next grant for the leases that waited on g's revoke.
func (b *builder) startQueued(g *Grant) {
	now := b.now()
	revoke := g.Revoke
	if f := b.s.Flow; f != nil && f.Strategy != nil {
		if _, ok := f.Target(g.TargetID); ok {
			revoke = revokeInfo(f, g.TargetID)
		}
	}
	next := &Grant{ID: b.s.NewGrantID(), Key: g.Key, Flow: g.Flow, TargetID: g.TargetID, User: g.User,
		Status: GrantEscalating, Leases: slices.Clone(g.Queued), Revoke: revoke, ChecksHeld: true, CreatedAt: now, UpdatedAt: now}
	for i := range next.Leases {
		// The next grant's first escalation attempt is now: its ends count from here.
		next.Leases[i].fixEnd(now, b.flow().ScheduleDeescalation)
	}
	g.Queued = nil
	b.touchGrant(next)
	for _, l := range next.Leases {
		if r, ok := b.reqs[l.RequestID]; ok {
			r.GrantID = next.ID
			r.UpdatedAt = now
			b.touchRequest(r.ID)
		}
	}
	b.effect(Effect{Kind: EffectEscalate, GrantID: next.ID})
}

func (b *builder) flow() *Flow {
	if b.s.Flow == nil {
		return &Flow{}
	}
	return b.s.Flow
}

func (b *builder) system(kind CommandKind) Command {
	return Command{ID: b.cmd.ID, Kind: kind, At: b.cmd.At, Source: b.cmd.Source}
}

// change assembles the Change, with a wake-up for every active grant touched
// and deterministic effect ids.
func (b *builder) change() Change {
	c := Change{Dedup: b.cmd.ID}
	for _, id := range b.touched {
		c.Requests = append(c.Requests, *b.reqs[id])
	}
	for _, id := range b.gtouch {
		g := b.grants[id]
		c.Grants = append(c.Grants, *g)
		if g.Status == GrantActive {
			if at, ok := g.NextDue(); ok {
				b.effect(Effect{Kind: EffectWake, GrantID: g.ID, At: at})
			}
		}
	}
	c.Audit = b.audit
	for i, e := range b.effects {
		e.ID = fmt.Sprintf("%s/%d", b.cmd.ID, i)
		e.CreatedAt = b.cmd.At
		c.Effects = append(c.Effects, e)
	}
	return c
}

// NewRequest is a request as submitted, before it is checked.
type NewRequest struct {
	ID        string
	Flow      string
	Requester *User
	CreatedBy Actor
	Source    Source
	Fields    map[string]any // raw values, checked against the flow's fields
	Context   map[string]any
	At        time.Time
	// StartsAt is when the access should start; nil: on approval. The
	// flow must allow it (Flow.AllowScheduledStart); see CheckStart.
	StartsAt *time.Time
	// BreakGlass asks for access at once by breaking glass, for Reason
	// (required then).
	BreakGlass bool
	Reason     string
}

// Create checks a new request against its flow and returns the change that
// records it: the pending request, its "requested" audit event, and effects
// to notify approvers, call the on_request hook and expire it on time.
func Create(f *Flow, in NewRequest) (Change, error) {
	if in.Requester == nil {
		return Change{}, Errorf(KindInvalid, "missing_user", "The request names no user.")
	}
	if err := CanRequest(f, in.Requester, in.Source); err != nil {
		return Change{}, err
	}
	fields, target, dur, err := f.NormalizeFields(in.Fields)
	if err != nil {
		return Change{}, err
	}
	var bg *BreakGlassInfo
	if in.BreakGlass {
		if bg, dur, err = checkBreakGlass(f, in, dur); err != nil {
			return Change{}, err
		}
	}
	r := Request{ID: in.ID, Flow: f.Name, Requester: UserRef{ID: in.Requester.ID, Email: in.Requester.Email},
		CreatedBy: in.CreatedBy, Source: in.Source, Fields: fields, Context: in.Context, TargetID: target,
		Duration: int64(dur / time.Second), Status: StatusPending, CreatedAt: in.At, UpdatedAt: in.At}
	if r.CreatedBy.IsSystem() {
		r.CreatedBy = Actor{Email: in.Requester.Email}
	}
	if r.ScheduledStart, err = CheckStart(f, in.StartsAt, in.At); err != nil {
		return Change{}, err
	}
	if bg != nil && r.ScheduledStart != nil {
		return Change{}, Errorf(KindInvalid, CodeInvalidStartsAt, "A break glass starts at once: leave out starts_at.")
	}
	if bg != nil {
		// Granted at once by CmdBreakGlass: no approver is asked, and
		// nothing expires or forwards it.
		r.BreakGlass = bg
		b := &builder{cmd: Command{ID: "create/" + in.ID, At: in.At}, reqs: map[string]*Request{r.ID: &r}}
		b.touchRequest(r.ID)
		b.record(&r, AuditEvent{Type: AuditRequested, Actor: r.CreatedBy, Source: in.Source, Fields: fields,
			Reason: bg.Reason, Data: contextData(in.Context)})
		return b.change(), nil
	}
	b := &builder{cmd: Command{ID: "create/" + in.ID, At: in.At}, reqs: map[string]*Request{r.ID: &r}}
	b.touchRequest(r.ID)
	b.record(&r, AuditEvent{Type: AuditRequested, Actor: r.CreatedBy, Source: in.Source, Fields: fields,
		Data: contextData(in.Context)})
	if r.ScheduledStart != nil {
		a := &b.audit[len(b.audit)-1]
		if a.Data == nil {
			a.Data = map[string]any{}
		}
		a.Data["starts_at"] = *r.ScheduledStart
	}
	if f.Approval.Timeout > 0 {
		exp := in.At.Add(f.Approval.Timeout)
		r.ExpiresAt = &exp
		b.effect(Effect{Kind: EffectExpire, RequestID: r.ID, At: exp})
	}
	if at, ok := f.Approval.ForwardDue(in.At, 1); ok {
		r.ForwardAt = &at
		b.effect(Effect{Kind: EffectForward, RequestID: r.ID, At: at, Step: 1})
	}
	b.effect(Effect{Kind: EffectNotify, RequestID: r.ID, Event: AuditRequested})
	if f.Hooks.OnRequest != "" {
		b.effect(Effect{Kind: EffectHook, RequestID: r.ID, Hook: HookOnRequest})
	}
	return b.change(), nil
}

func contextData(ctx map[string]any) map[string]any {
	if len(ctx) == 0 {
		return nil
	}
	return map[string]any{"context": ctx}
}
