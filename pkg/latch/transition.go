package latch

import (
	"fmt"
	"slices"
	"time"
)

// GrantOp is what a request transition asks of the request's grant.
type GrantOp int

// Grant operations.
const (
	GrantNone       GrantOp = iota
	GrantJoin               // take a lease on the grant for the request's key (starting one if none is open)
	GrantLeave              // give the request's lease back
	GrantDeescalate         // retry the revoke of the request's failed grant
	GrantExtend             // move the request's lease end to the request's EndsAt
)

// Env is what a request transition may consult besides the request and the
// command. Actor is nil for commands from Latch itself.
type Env struct {
	Flow      *Flow
	Actor     *User
	Requester *User
	// Lease is the request's lease, for CmdEscalated: when access starts and ends.
	Lease *Lease
	// AccessKept is set on CmdDeescalated when the request's lease ended but
	// another request still holds the access.
	AccessKept bool
	// DueAt is, on CmdOverdue, CmdDeescalationFailed and CmdDeescalated,
	// when the grant's revoke fell due.
	DueAt *time.Time
	// HeldBefore is set on CmdEscalated and CmdDeescalated when the grant's
	// access was the person's before Latch (Grant.LeftInPlace): Latch
	// granted nothing, and the revoke left the access in place.
	HeldBefore bool
	// OnCall is what the flow's on-call source said of Actor and
	// Requester (zero when the flow names none).
	OnCall OnCall
}

// Outcome is the result of a request transition: the new request, what to
// record, what to do after the commit, and what it asks of the grant.
// Audit events and effects come without ID, Seq or times; Decide fills them.
type Outcome struct {
	Request Request
	Audit   []AuditEvent
	Effects []Effect
	Grant   GrantOp
	// Noop is set when the command changes nothing (a stale timer, a repeated
	// report). It is not an error.
	Noop bool
}

// Apply is the request lifecycle: a pure function of the request, one
// command and what the command needs to be judged, with no I/O. A command a
// person may not give returns a KindForbidden *Error; one the request's status
// does not allow, a KindConflict *Error; one from Latch itself that no longer
// applies, an Outcome with Noop set.
func (r Request) Apply(cmd Command, env Env) (Outcome, error) {
	f := env.Flow
	if f == nil {
		return Outcome{}, fmt.Errorf("apply %s to %s: no flow", cmd.Kind, r.ID)
	}
	out := Outcome{Request: r}
	n := &out.Request
	audit := func(t AuditType, data map[string]any) {
		out.Audit = append(out.Audit, AuditEvent{Type: t, Actor: cmd.Actor, Reason: cmd.Reason, Source: cmd.Source, Data: data})
	}
	notify := func(t AuditType) { out.Effects = append(out.Effects, Effect{Kind: EffectNotify, Event: t}) }
	hook := func(point, url string) {
		if url != "" {
			out.Effects = append(out.Effects, Effect{Kind: EffectHook, Hook: point})
		}
	}
	noop := func() (Outcome, error) { return Outcome{Request: r, Noop: true}, nil }

	switch cmd.Kind {
	case CmdExtend:
		return r.extend(cmd, env)
	case CmdApprove, CmdDeny:
		if r.Status == StatusActive && r.Extension != nil {
			return r.decideExtension(cmd, env)
		}
	case CmdBreakGlass, CmdReview, CmdReviewOverdue:
		return r.applyBreakGlass(cmd, env)
	}

	switch cmd.Kind {
	case CmdApprove:
		if err := wantStatus(&r, "approve", StatusPending); err != nil {
			return Outcome{}, err
		}
		if cmd.Hook == "" {
			if err := CanApprove(f, &r, cmd.Actor, env.Actor, env.Requester, env.OnCall); err != nil {
				return Outcome{}, err
			}
			if r.ApprovedBy(env.Actor.Email) {
				return Outcome{}, Errorf(KindConflict, "already_approved", "You have already approved this request.")
			}
			// A quorum counts distinct principals: a bot that may decide as
			// several people still approves once.
			if cmd.Actor.Bot != "" && slices.ContainsFunc(r.Approvals, func(d Decision) bool { return d.By.Bot == cmd.Actor.Bot }) {
				return Outcome{}, Errorf(KindConflict, "already_approved",
					"Bot %q has already approved this request (as another person); a quorum needs distinct principals.", cmd.Actor.Bot)
			}
		}
		n.Approvals = append(append([]Decision(nil), r.Approvals...), Decision{By: cmd.Actor, At: cmd.At, Reason: cmd.Reason})
		quorum := max(f.Approval.Quorum, 1)
		if cmd.Hook != "" {
			quorum = len(n.Approvals) // the flow's hook approves outright
		}
		if len(n.Approvals) < quorum {
			audit(AuditApprovalAdded, map[string]any{"approvals": len(n.Approvals), "quorum": quorum})
			notify(AuditApprovalAdded)
			return out, nil
		}
		n.ExpiresAt, n.ForwardAt = nil, nil
		audit(AuditApproved, nil)
		notify(AuditApproved)
		hook(HookOnApprove, f.Hooks.OnApprove)
		if f.Strategy == nil {
			n.Status = StatusApproved
			return out, nil
		}
		if r.ScheduledStart != nil && cmd.At.Before(*r.ScheduledStart) {
			// Approved ahead of its start: it waits, and is escalated then
			// (CmdStart). Approved after it, it is escalated now.
			n.Status = StatusScheduled
			audit(AuditScheduled, map[string]any{"starts_at": *r.ScheduledStart})
			notify(AuditScheduled)
			out.Effects = append(out.Effects, Effect{Kind: EffectStart, At: *r.ScheduledStart})
			return out, nil
		}
		n.Status = StatusEscalating
		out.Grant = GrantJoin
		return out, nil

	case CmdDeny:
		if err := wantStatus(&r, "deny", StatusPending); err != nil {
			return Outcome{}, err
		}
		if cmd.Hook == "" {
			if err := CanDecide(f, &r, env.Actor, env.Requester, env.OnCall); err != nil {
				return Outcome{}, err
			}
		}
		n.Status = StatusDenied
		n.ExpiresAt, n.ForwardAt = nil, nil
		n.Decision = &Decision{By: cmd.Actor, At: cmd.At, Reason: cmd.Reason}
		audit(AuditDenied, nil)
		notify(AuditDenied)
		hook(HookOnDeny, f.Hooks.OnDeny)
		return out, nil

	case CmdCancel:
		// A scheduled request may be cancelled until it starts: it holds no
		// grant yet, so the target is never asked.
		if r.Status != StatusScheduled {
			if err := wantStatus(&r, "cancel", StatusPending); err != nil {
				return Outcome{}, err
			}
		}
		if err := CanCancel(&r, env.Actor); err != nil {
			return Outcome{}, err
		}
		n.Status = StatusCancelled
		n.ExpiresAt, n.ForwardAt = nil, nil
		n.Decision = &Decision{By: cmd.Actor, At: cmd.At, Reason: cmd.Reason}
		audit(AuditCancelled, nil)
		notify(AuditCancelled)
		return out, nil

	case CmdExpire:
		if r.Status != StatusPending || r.ExpiresAt == nil || cmd.At.Before(*r.ExpiresAt) {
			return noop()
		}
		n.Status = StatusExpired
		n.ExpiresAt, n.ForwardAt = nil, nil
		audit(AuditExpired, nil)
		notify(AuditExpired)
		return out, nil

	case CmdAutoApprove:
		// The flow's own rule decides a new request: approved as the flow
		// when it is true; recorded, and left to people, when it cannot be
		// judged. A failed on-call lookup never approves.
		if r.Status != StatusPending || f.AutoApprove == nil || len(r.Approvals) > 0 {
			return noop()
		}
		why := ""
		if env.OnCall.Err != "" {
			why = "the on-call lookup failed: " + env.OnCall.Err
		} else {
			ok, err := f.AutoApprove.Eval(RuleVars{Requester: env.Requester, Request: &r, Flow: f,
				OnCall: OnCall{Requester: env.OnCall.Requester}})
			switch {
			case err != nil:
				why = "the auto_approve rule failed: " + err.Error()
			case !ok:
				return noop()
			}
		}
		if why != "" {
			audit(AuditAutoApproveSkipped, map[string]any{"reason": why, "rule": f.AutoApproveSource})
			return out, nil
		}
		approve := cmd
		approve.Kind, approve.Hook = CmdApprove, HookAutoApprove
		if approve.Actor.IsSystem() {
			approve.Actor = Actor{Bot: "auto_approve rule"}
		}
		if approve.Reason == "" {
			approve.Reason = "auto_approve: " + f.AutoApproveSource
		}
		return r.Apply(approve, env)

	case CmdForward:
		// A step is reached once, in order, while the request is pending:
		// at its time, or at once when the step before it could not be
		// delivered (cmd.Failure).
		due, ok := f.Approval.ForwardDue(r.CreatedAt, cmd.Step)
		if r.Status != StatusPending || !ok || cmd.Step != r.Forwarded+1 || (cmd.At.Before(due) && cmd.Failure == nil) {
			return noop()
		}
		step := f.Approval.Forward[cmd.Step-1]
		n.Forwarded = cmd.Step
		n.ForwardAt = nil
		data := map[string]any{"step": cmd.Step}
		if step.Channel != "" {
			data["channel"] = step.Channel
		}
		if len(step.Approvers) > 0 {
			data["approvers"] = step.Approvers
		}
		if len(step.DM) > 0 {
			data["dm"] = step.DM
		}
		if cmd.Failure != nil {
			data["undeliverable"] = cmd.Failure.Message
		}
		audit(AuditForwarded, data)
		notify(AuditForwarded)
		if next, ok := f.Approval.ForwardDue(r.CreatedAt, cmd.Step+1); ok {
			n.ForwardAt = &next
			out.Effects = append(out.Effects, Effect{Kind: EffectForward, At: next, Step: cmd.Step + 1})
		}
		return out, nil

	case CmdStart:
		if r.Status != StatusScheduled || r.ScheduledStart == nil || cmd.At.Before(*r.ScheduledStart) {
			return noop()
		}
		// A start that comes after the whole window it asked for (Latch
		// was down) grants nothing: the access would end before it began.
		if f.ScheduleDeescalation {
			end := r.ScheduledStart.Add(time.Duration(r.Duration) * time.Second)
			if !cmd.At.Before(end) {
				n.Status = StatusExpired
				audit(AuditExpired, map[string]any{"reason": "scheduled_window_passed", "starts_at": *r.ScheduledStart, "ends_at": end})
				notify(AuditExpired)
				return out, nil
			}
		}
		n.Status = StatusEscalating
		out.Grant = GrantJoin
		return out, nil

	case CmdRevoke:
		if err := wantStatus(&r, "revoke", StatusActive); err != nil {
			return Outcome{}, err
		}
		if err := CanRevoke(f, &r, env.Actor, env.Requester, env.OnCall); err != nil {
			return Outcome{}, err
		}
		n.Status = StatusDeescalating
		n.Decision = &Decision{By: cmd.Actor, At: cmd.At, Reason: cmd.Reason}
		n.Extension = nil // a pending extension ends with the access
		if r.ReleasedBy(cmd.Actor.Email) {
			audit(AuditReleased, nil) // the requester is done early
		} else {
			audit(AuditRevoked, nil)
		}
		out.Grant = GrantLeave
		return out, nil

	case CmdEscalated:
		if r.Status != StatusEscalating || env.Lease == nil {
			return noop()
		}
		n.Status = StatusActive
		n.StartsAt = timePtr(env.Lease.StartsAt)
		n.EndsAt = nil
		if !env.Lease.EndsAt.IsZero() {
			n.EndsAt = timePtr(env.Lease.EndsAt)
		}
		data := map[string]any{"starts_at": env.Lease.StartsAt}
		if n.EndsAt != nil {
			data["ends_at"] = *n.EndsAt
		}
		if len(cmd.Output) > 0 {
			data["output"] = cmd.Output
		}
		if env.HeldBefore {
			data["held_before"] = true // the person had this access before Latch: nothing was granted
		}
		audit(AuditEscalated, data)
		notify(AuditEscalated)
		hook(HookAfterEscalate, f.Hooks.AfterEscalate)
		return out, nil

	case CmdEscalationFailed:
		if r.Status != StatusEscalating {
			return noop()
		}
		n.Status = StatusFailed
		n.Failure = failureAt(cmd.Failure, StageEscalate)
		n.Access = AccessRevoked
		if n.Failure.MaybeHeld {
			n.Access = AccessMaybeHeld
		}
		audit(AuditFailed, map[string]any{"code": n.Failure.Code, "message": n.Failure.Message, "stage": StageEscalate,
			"access": string(n.Access)})
		notify(AuditFailed)
		return out, nil

	case CmdDue:
		if r.Status != StatusActive || r.EndsAt == nil || cmd.At.Before(*r.EndsAt) {
			return noop()
		}
		n.Status = StatusDeescalating
		n.Extension = nil // a pending extension ends with the access
		out.Grant = GrantLeave
		return out, nil

	case CmdDeescalated:
		revoked := revokeData(cmd, env)
		if r.Status == StatusFailed && r.Access == AccessMaybeHeld {
			// What the failed escalation may have granted is revoked.
			n.Access = AccessRevoked
			if revoked == nil {
				revoked = map[string]any{}
			}
			revoked["access"] = string(AccessRevoked)
			audit(AuditDeescalated, revoked)
			notify(AuditDeescalated)
			return out, nil
		}
		if r.Status != StatusDeescalating && !(r.Status == StatusFailed && r.Failure != nil && r.Failure.Stage == StageDeescalate) {
			return noop()
		}
		n.Access = ""
		n.Status = StatusEnded
		n.Failure = nil
		if n.EndsAt == nil || cmd.At.Before(*n.EndsAt) {
			n.EndsAt = timePtr(cmd.At)
		}
		if env.AccessKept {
			audit(AuditLeaseEnded, nil)
		} else {
			if env.HeldBefore {
				// The person had this access before Latch: it was left in
				// place, the target not asked.
				if revoked == nil {
					revoked = map[string]any{}
				}
				revoked["held_before"] = true
				revoked["access"] = accessLeftInPlace
			}
			audit(AuditDeescalated, revoked)
			hook(HookAfterDeescalate, f.Hooks.AfterDeescalate)
		}
		notify(AuditDeescalated)
		return out, nil

	case CmdDeescalationFailed, CmdOverdue:
		// A revoke is never given up: a runner that stops retrying (a Step
		// Functions execution after a day) reports the failure, the grant
		// stays deescalating and is revoked again. Both are loud.
		if r.Status != StatusDeescalating && !(r.Status == StatusFailed && r.Access == AccessMaybeHeld) &&
			!(cmd.Kind == CmdOverdue && r.Status == StatusActive && r.EndsAt != nil && !cmd.At.Before(*r.EndsAt)) {
			return noop()
		}
		data := map[string]any{}
		if env.DueAt != nil {
			data["due_at"] = *env.DueAt
		}
		if f := cmd.Failure; f != nil {
			data["last_error"] = f.Message
			data["code"] = f.Code
		}
		if cmd.Kind == CmdDeescalationFailed {
			data["retrying"] = true
		}
		audit(AuditRevokeOverdue, data)
		notify(AuditRevokeOverdue)
		return out, nil

	case CmdRetry:
		if err := wantStatus(&r, "retry", StatusFailed); err != nil {
			return Outcome{}, err
		}
		if env.Actor == nil || env.Actor.Role != RoleAdmin {
			return Outcome{}, Errorf(KindForbidden, CodeAdminOnly, "Only an admin may retry a failed request.")
		}
		stage := StageEscalate
		if r.Failure != nil && r.Failure.Stage != "" {
			stage = r.Failure.Stage
		}
		n.Failure = nil
		n.Access = ""
		audit(AuditRetried, map[string]any{"stage": stage})
		if stage == StageDeescalate {
			n.Status = StatusDeescalating
			out.Grant = GrantDeescalate
			return out, nil
		}
		n.Status = StatusEscalating
		n.GrantID = ""
		out.Grant = GrantJoin
		return out, nil
	}
	return Outcome{}, Errorf(KindInvalid, "unknown_command", "Unknown command %q.", cmd.Kind)
}

func wantStatus(r *Request, verb string, want Status) error {
	if r.Status == want {
		return nil
	}
	return &Error{Kind: KindConflict, Code: "not_" + string(want),
		Message: fmt.Sprintf("Request %s is %s; only a %s request can be %s.", r.ID, r.Status, want, pastTense(verb)),
		Details: map[string]any{"status": string(r.Status)}}
}

func pastTense(verb string) string {
	switch verb {
	case "approve":
		return "approved"
	case "deny":
		return "denied"
	case "cancel":
		return "cancelled"
	case "revoke":
		return "revoked"
	case "retry":
		return "retried"
	}
	return verb + "ed"
}

func failureAt(f *Failure, stage string) *Failure {
	out := Failure{Code: "unknown", Message: "The escalator failed without saying why.", Stage: stage}
	if f != nil {
		out.Code, out.Message, out.MaybeHeld = f.Code, f.Message, f.MaybeHeld
	}
	return &out
}

func timePtr(t time.Time) *time.Time { return &t }

// accessLeftInPlace is the deescalated event's data "access" when the
// grant's access was the person's before Latch and was left in place.
const accessLeftInPlace = "left_in_place"

// revokeData is what the deescalated event records of the revoke: verified
// (true when a check of the target confirmed the access gone; absent when
// the strategy cannot check), and, when the grant's end is known (env.DueAt),
// revoke_seconds: how long after that end the revoke was done. Nil when
// neither is known.
func revokeData(cmd Command, env Env) map[string]any {
	if !cmd.Verified && env.DueAt == nil {
		return nil
	}
	data := map[string]any{}
	if cmd.Verified {
		data["verified"] = true
	}
	if env.DueAt != nil {
		data["due_at"] = *env.DueAt
		data["revoke_seconds"] = max(cmd.At.Sub(*env.DueAt), 0).Seconds()
	}
	return data
}
