package latch

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Reasons an extension is refused, as stable error codes.
const (
	// CodeExtensionNotAllowed: the flow has no extension policy (409).
	CodeExtensionNotAllowed = "extension_not_allowed"
	// CodeExtensionPending: an extension of the request waits for
	// approvers already (409).
	CodeExtensionPending = "extension_pending"
	// CodeExtensionTooLong: the extension would take the request's whole
	// duration past the flow's extension.max_total, or a break glass's past
	// the flow's break_glass.max_duration when that is shorter (422).
	CodeExtensionTooLong = "extension_too_long"
	// CodeBadDuration: the time asked for is not a positive duration (400).
	CodeBadDuration = "bad_duration"
	// CodeNoEnd: the request's access has no scheduled end to move (409).
	CodeNoEnd = "no_scheduled_end"
)

// extend is CmdExtend: the requester asks for cmd.Duration more seconds on
// r's active grant. It is granted at once when the flow's auto_within
// covers it, else it waits for approvers as r.Extension.
func (r Request) extend(cmd Command, env Env) (Outcome, error) {
	f := env.Flow
	if err := wantStatus(&r, "extend", StatusActive); err != nil {
		return Outcome{}, err
	}
	if f.Extension == nil {
		return Outcome{}, Errorf(KindConflict, CodeExtensionNotAllowed,
			"Flow %q does not allow extending access (it has no extension policy); make a new request instead.", f.Name)
	}
	if env.Actor == nil {
		return Outcome{}, Errorf(KindForbidden, CodeUnknownUser, "Latch does not know who you are.")
	}
	if !r.ReleasedBy(env.Actor.Email) {
		return Outcome{}, Errorf(KindForbidden, CodeNotRequester, "Only the requester may ask for more time on this access.")
	}
	if r.EndsAt == nil {
		return Outcome{}, Errorf(KindConflict, CodeNoEnd, "Request %s has no scheduled end to move.", r.ID)
	}
	if r.Extension != nil {
		return Outcome{}, &Error{Kind: KindConflict, Code: CodeExtensionPending,
			Message: "An extension of this request is waiting for approvers already.",
			Details: map[string]any{"duration_seconds": r.Extension.Duration}}
	}
	if cmd.Duration <= 0 {
		return Outcome{}, Errorf(KindInvalid, CodeBadDuration, "Ask for a positive duration, such as 30m or 1h.")
	}
	// A break glass, granted with no approver, may not be extended past
	// the flow's break_glass.max_duration either.
	limit, capName := f.Extension.MaxTotal, "extension.max_total"
	if r.BreakGlass != nil && f.BreakGlass != nil && f.BreakGlass.MaxDuration < limit {
		limit, capName = f.BreakGlass.MaxDuration, "break_glass.max_duration"
	}
	maxTotal := int64(limit / time.Second)
	// Compared without adding, so that a huge duration cannot overflow.
	if cmd.Duration > maxTotal-r.Duration {
		left := max(maxTotal-r.Duration, 0)
		ask := fmt.Sprintf("Extending by more than %s would make this access last longer than that in all", FormatDuration(limit))
		if cmd.Duration <= maxTotal {
			ask = fmt.Sprintf("Extending by %s would make this access last %s in all",
				FormatDuration(time.Duration(cmd.Duration)*time.Second), FormatDuration(time.Duration(r.Duration+cmd.Duration)*time.Second))
		}
		return Outcome{}, &Error{Kind: KindInvalid, Code: CodeExtensionTooLong,
			Message: fmt.Sprintf("%s; flow %q caps it at %s (%s), so at most %s more can be asked for.",
				ask, f.Name, FormatDuration(limit), capName, FormatDuration(time.Duration(left)*time.Second)),
			Details: map[string]any{"max_total_seconds": maxTotal, "available_seconds": left, "cap": capName}}
	}
	out := Outcome{Request: r}
	if f.Extension.AutoWithin > 0 && cmd.Duration <= int64(f.Extension.AutoWithin/time.Second) {
		out.grantExtension(cmd, cmd.Duration, "auto_within")
		return out, nil
	}
	out.Request.Extension = &PendingExtension{Duration: cmd.Duration, Reason: cmd.Reason, By: cmd.Actor, At: cmd.At}
	out.Audit = append(out.Audit, AuditEvent{Type: AuditExtensionRequested, Actor: cmd.Actor, Reason: cmd.Reason, Source: cmd.Source,
		Data: map[string]any{"added_seconds": cmd.Duration, "ends_at": *r.EndsAt}})
	out.Effects = append(out.Effects, Effect{Kind: EffectNotify, Event: AuditExtensionRequested})
	return out, nil
}

// decideExtension is an approve or deny of an active request: it decides
// the pending extension with the same policy as the request.
func (r Request) decideExtension(cmd Command, env Env) (Outcome, error) {
	f := env.Flow
	x := r.Extension
	out := Outcome{Request: r}
	if cmd.Kind == CmdDeny {
		if err := CanDecide(f, &r, env.Actor, env.Requester, env.OnCall); err != nil {
			return Outcome{}, err
		}
		out.Request.Extension = nil
		out.Audit = append(out.Audit, AuditEvent{Type: AuditExtensionDenied, Actor: cmd.Actor, Reason: cmd.Reason, Source: cmd.Source,
			Data: map[string]any{"added_seconds": x.Duration}})
		out.Effects = append(out.Effects, Effect{Kind: EffectNotify, Event: AuditExtensionDenied})
		return out, nil
	}
	if err := CanApprove(f, &r, cmd.Actor, env.Actor, env.Requester, env.OnCall); err != nil {
		return Outcome{}, err
	}
	// Whoever asked for the extension may not approve it, as the creator of
	// a request may not: the bot that asked, whoever it acts as now; a
	// person, only on their own request and when the flow allows
	// self-approval (CanDecide judged that above).
	switch a := x.By; {
	case a.Bot != "" && (cmd.Actor.Bot == a.Bot || (env.Actor != nil && env.Actor.Kind == KindBot && env.Actor.Name == a.Bot)):
		return Outcome{}, Errorf(KindForbidden, CodeCreatorCannotDecide,
			"Bot %q asked for this extension, so it may not approve it, whoever it acts as: another principal must.", a.Bot)
	case a.Bot == "" && a.Email != "" && !r.ReleasedBy(a.Email) && NormalizeEmail(cmd.Actor.Email) == NormalizeEmail(a.Email):
		return Outcome{}, Errorf(KindForbidden, CodeCreatorCannotDecide,
			"%s asked for this extension for %s, so may not approve it: another principal must.", a.Email, r.Requester.Email)
	}
	who := NormalizeEmail(env.Actor.Email)
	if slices.ContainsFunc(x.Approvals, func(d Decision) bool {
		return NormalizeEmail(d.By.Email) == who || (cmd.Actor.Bot != "" && d.By.Bot == cmd.Actor.Bot)
	}) {
		return Outcome{}, Errorf(KindConflict, "already_approved", "You have already approved this extension.")
	}
	nx := *x
	nx.Approvals = append(slices.Clone(x.Approvals), Decision{By: cmd.Actor, At: cmd.At, Reason: cmd.Reason})
	quorum := max(f.Approval.Quorum, 1)
	if len(nx.Approvals) < quorum {
		out.Request.Extension = &nx
		out.Audit = append(out.Audit, AuditEvent{Type: AuditApprovalAdded, Actor: cmd.Actor, Reason: cmd.Reason, Source: cmd.Source,
			Data: map[string]any{"approvals": len(nx.Approvals), "quorum": quorum, "extension": true}})
		out.Effects = append(out.Effects, Effect{Kind: EffectNotify, Event: AuditApprovalAdded})
		return out, nil
	}
	approvers := make([]string, 0, len(nx.Approvals))
	for _, d := range nx.Approvals {
		approvers = append(approvers, d.By.Email)
	}
	out.grantExtension(cmd, x.Duration, approvers)
	return out, nil
}

// grantExtension moves the request's end added seconds later and asks the
// grant to move the lease with it. approvedBy is "auto_within" or the
// approvers' emails.
func (out *Outcome) grantExtension(cmd Command, added int64, approvedBy any) {
	n := &out.Request
	old := *n.EndsAt
	end := old.Add(time.Duration(added) * time.Second)
	n.EndsAt = &end
	n.Duration += added
	n.Extension = nil
	out.Audit = append(out.Audit, AuditEvent{Type: AuditExtended, Actor: cmd.Actor, Reason: cmd.Reason, Source: cmd.Source,
		Data: map[string]any{"old_ends_at": old, "new_ends_at": end, "added_seconds": added, "approved_by": approvedBy}})
	out.Effects = append(out.Effects, Effect{Kind: EffectNotify, Event: AuditExtended})
	out.Grant = GrantExtend
}

// extendLease moves r's lease on its grant to r's new end. The grant must
// be active: one whose revoke has begun cannot be held longer. When the
// grant's end moves later, its target is told (EffectRegrant).
func (b *builder) extendLease(r *Request) error {
	g, ok := b.grants[r.GrantID]
	if !ok || g.Status != GrantActive {
		return Errorf(KindConflict, "grant_not_active", "The access of request %s is being taken away; it cannot be extended.", r.ID)
	}
	i := slices.IndexFunc(g.Leases, func(l Lease) bool { return l.RequestID == r.ID })
	if i < 0 || r.EndsAt == nil {
		return Errorf(KindConflict, "grant_not_active", "Request %s holds no lease on grant %s.", r.ID, g.ID)
	}
	before, hadEnd := g.EndsAt()
	g.Leases[i].EndsAt = *r.EndsAt
	g.Leases[i].Duration = r.Duration
	g.UpdatedAt = b.now()
	b.touchGrant(g)
	b.regrantIfLater(g, before, hadEnd)
	return nil
}

// regrantIfLater asks for the grant to be sent again to its target when its
// end moved later than before (hadEnd: it had one), so that a target told
// the end learns the new one.
func (b *builder) regrantIfLater(g *Grant, before time.Time, hadEnd bool) {
	after, ok := g.EndsAt()
	if ok && hadEnd && after.After(before) {
		b.effect(Effect{Kind: EffectRegrant, GrantID: g.ID, At: after})
	}
}

// regrantJoined asks, when g's escalation is reported, for g to be sent
// to its target again when a lease that joined while it was escalating
// ends later than its first: the escalation may have told the target the
// first lease's end. (A repeat when it told the later end already is
// idempotent.)
func (b *builder) regrantJoined(g *Grant) {
	if len(g.Leases) < 2 || g.Leases[0].EndsAt.IsZero() {
		return
	}
	b.regrantIfLater(g, g.Leases[0].EndsAt, true)
}

func (x *PendingExtension) utc() *PendingExtension {
	if x == nil {
		return nil
	}
	c := *x
	c.At = c.At.UTC()
	if c.Approvals != nil {
		c.Approvals = slices.Clone(c.Approvals)
		for i := range c.Approvals {
			c.Approvals[i].At = c.Approvals[i].At.UTC()
		}
	}
	return &c
}

// Regranter is an optional ability of a GrantRunner: sending an active
// grant to its target again because its end moved later (EffectRegrant).
// It returns once the work is started; a grant no longer active needs
// nothing. Both runtimes' runners have it.
type Regranter interface {
	Regrant(ctx context.Context, grantID string) error
}

// EndFollower is an optional ability of an Escalator whose target is told
// the grant's end (GrantSpec.EndsAt) and may act on it (a webhook, a
// customer's Lambda): when the end of a grant in place moves later (an
// extension, a second request's lease), Grant is called again for the same
// grant id with the later end. Grant must treat the repeat as idempotent.
// Escalators without it (IAM groups, Okta groups, ...) are not called:
// Latch itself revokes their access at the new end.
type EndFollower interface {
	FollowsEnd() bool
}

// FollowsEnd reports whether esc is an EndFollower that wants a moved end.
func FollowsEnd(esc Escalator) bool {
	f, ok := esc.(EndFollower)
	return ok && f.FollowsEnd()
}
