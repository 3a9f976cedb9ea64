package latch

import (
	"fmt"
	"strings"
	"time"
)

// BreakGlass is a flow's break-glass setting (break_glass in flow files): a
// person its Allowed rule is true for may grant themselves access at once,
// with a reason and no approver. The grant is capped at MaxDuration, the
// Broadcast channel and the admins are told, and a reviewer must
// acknowledge it within ReviewWithin, or an alert is raised, and repeated
// every ReviewRepeat, until one does.
type BreakGlass struct {
	// Allowed is a CEL rule over requester and flow (see package policy).
	Allowed       Rule
	AllowedSource string
	// Broadcast is the Slack channel told of every break glass.
	Broadcast    string
	MaxDuration  time.Duration
	ReviewWithin time.Duration
}

// ReviewRepeat is how often the alert of a break glass nobody reviewed is
// repeated, from its first.
const ReviewRepeat = 24 * time.Hour

// MaxBreakGlassReason is the longest reason a break glass may carry, in
// bytes.
const MaxBreakGlassReason = 2000

// BreakGlassInfo is what a request made by breaking glass carries
// (Request.BreakGlass).
type BreakGlassInfo struct {
	Reason string `json:"reason"`
	// RequestedSeconds is the duration asked for when it was longer than
	// the flow's max_duration, and the grant was capped; 0 otherwise.
	RequestedSeconds int64 `json:"requested_seconds,omitempty"`
	// ReviewDueAt is when a reviewer must have acknowledged it.
	ReviewDueAt time.Time `json:"review_due_at"`
	// Review is who acknowledged it, when and with what note; nil until then.
	Review *Decision `json:"review,omitempty"`
	// Alerts is how many missing-review alerts were raised.
	Alerts int `json:"alerts,omitempty"`
}

// GrantedByBreakGlass reports whether r is a break glass that was granted:
// its CmdBreakGlass took it on to escalating (or approved, on an
// approval-only flow) and on. One withdrawn, cancelled, denied or expired
// before that granted nothing and needs no review.
func (r *Request) GrantedByBreakGlass() bool {
	if r.BreakGlass == nil {
		return false
	}
	switch r.Status {
	case StatusApproved, StatusEscalating, StatusActive, StatusDeescalating, StatusEnded, StatusFailed:
		return true
	}
	return false
}

// ReviewAlertDue is when the n-th (from 1) missing-review alert falls due:
// at ReviewDueAt, then every ReviewRepeat.
func (b *BreakGlassInfo) ReviewAlertDue(n int) time.Time {
	return b.ReviewDueAt.Add(time.Duration(max(n-1, 0)) * ReviewRepeat)
}

// Break-glass commands and audit events.
const (
	// CmdBreakGlass grants a break-glass request at once, as its requester,
	// with no approver (sent by the engine right after the request is
	// created).
	CmdBreakGlass CommandKind = "break_glass"
	// CmdReview is a reviewer's acknowledgement of a break glass.
	CmdReview CommandKind = "review"
	// CmdReviewOverdue: the Step-th missing-review alert of a break glass
	// may have come (the reconciler).
	CmdReviewOverdue CommandKind = "review_overdue"

	// AuditBreakGlass: access granted by breaking glass (Data: broadcast,
	// max_duration_seconds, review_due_at, requested_seconds when capped).
	AuditBreakGlass AuditType = "break_glass"
	// AuditBreakGlassReviewed: a reviewer acknowledged the break glass.
	AuditBreakGlassReviewed AuditType = "break_glass_reviewed"
	// AuditBreakGlassReviewOverdue: nobody reviewed the break glass in time
	// (Data: review_due_at, alert: the alert's number, from 1).
	AuditBreakGlassReviewOverdue AuditType = "break_glass_review_overdue"
)

// Error codes of break glass.
const (
	CodeBreakGlassNotOffered = "break_glass_not_offered" // the flow has no break_glass
	CodeBreakGlassNotAllowed = "break_glass_not_allowed" // its allowed rule is false for the person
	CodeReasonRequired       = "reason_required"         // a break glass needs a reason
	CodeNotBreakGlass        = "not_break_glass"         // review of a request that was not a break glass
	CodeAlreadyReviewed      = "already_reviewed"
	CodeSelfReview           = "self_review"  // the requester may not review their own break glass
	CodeNotReviewer          = "not_reviewer" // only admins and the flow's approvers review
)

// NextReviewAlert is the number of the missing-review alert of b due at
// now, and whether one is: the one after the last raised, or, when more
// than one fell due since (Latch was down), the latest of them.
func (b *BreakGlassInfo) NextReviewAlert(now time.Time) (int, bool) {
	if b.Review != nil || now.Before(b.ReviewAlertDue(b.Alerts+1)) {
		return 0, false
	}
	return max(b.Alerts+1, int(now.Sub(b.ReviewDueAt)/ReviewRepeat)+1), true
}

// ReviewOverdueCommand is the command that raises the n-th (from 1)
// missing-review alert of break-glass request requestID. Its id is stable
// per alert, so a reconciler run that sends it twice alerts once.
func ReviewOverdueCommand(requestID string, n int, at time.Time) Command {
	return Command{ID: fmt.Sprintf("review_overdue/%s/%d", requestID, n), Kind: CmdReviewOverdue,
		RequestID: requestID, Step: n, At: at, Source: SourceReconciler}
}

// BreakGlassCommand is the command that grants break-glass request r at
// once; its id is stable, so sending it again changes nothing.
func BreakGlassCommand(r Request, at time.Time) Command {
	cmd := Command{ID: "break_glass/" + r.ID, Kind: CmdBreakGlass, RequestID: r.ID,
		Actor: Actor{Email: r.Requester.Email}, At: at, Source: r.Source}
	if r.BreakGlass != nil {
		cmd.Reason = r.BreakGlass.Reason
	}
	return cmd
}

// CanBreakGlass reports whether user may break glass on f: the flow offers
// it and its allowed rule is true for them. The error is a KindInvalid
// *Error (break_glass_not_offered, rule_error) or a KindForbidden one
// (break_glass_not_allowed).
func CanBreakGlass(f *Flow, user *User) error {
	if f.BreakGlass == nil {
		return Errorf(KindInvalid, CodeBreakGlassNotOffered, "Flow %q has no break_glass: ask for access the usual way.", f.Name)
	}
	if user == nil {
		return Errorf(KindForbidden, CodeUnknownUser, "Latch does not know who you are.")
	}
	if user.Role == RoleGuest {
		return Errorf(KindForbidden, CodeBreakGlassNotAllowed, "Guests cannot break glass.")
	}
	ok, err := f.BreakGlass.Allowed.Eval(RuleVars{Requester: user, Flow: f})
	if err != nil {
		return RuleError("flow", f.Name, "break_glass.allowed", err)
	}
	if !ok {
		return Errorf(KindForbidden, CodeBreakGlassNotAllowed,
			"%s may not break glass on flow %q (its break_glass.allowed rule); ask for access the usual way.", user.Email, f.Name)
	}
	return nil
}

// MayBreakGlass reports whether user may break glass on f, for offering it
// (a form, a list): false when the flow has none or its rule fails.
func MayBreakGlass(f *Flow, user *User) bool {
	return f.BreakGlass != nil && CanBreakGlass(f, user) == nil
}

// CanReview reports whether actor may acknowledge break glass r: an admin or
// one of the flow's approvers, never the requester.
func CanReview(f *Flow, r *Request, actor, requester *User, oc OnCall) error {
	if actor == nil {
		return Errorf(KindForbidden, CodeUnknownUser, "Latch does not know who you are.")
	}
	if r.ReleasedBy(actor.Email) {
		return Errorf(KindForbidden, CodeSelfReview, "You cannot review your own break glass: another admin or approver must.")
	}
	if err := guestCheck(f, actor); err != nil {
		return err
	}
	if actor.Role == RoleAdmin {
		return nil
	}
	ok, err := IsApprover(f, r, actor, requester, oc)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(KindForbidden, CodeNotReviewer, "Only an admin or an approver of flow %q may review a break glass.", f.Name)
	}
	return nil
}

// checkBreakGlass checks a new break-glass request and returns its
// BreakGlassInfo and the grant's duration, capped at the flow's max.
func checkBreakGlass(f *Flow, in NewRequest, dur time.Duration) (*BreakGlassInfo, time.Duration, error) {
	if err := CanBreakGlass(f, in.Requester); err != nil {
		return nil, 0, err
	}
	reason := strings.TrimSpace(in.Reason)
	switch {
	case reason == "":
		return nil, 0, &Error{Kind: KindInvalid, Code: CodeReasonRequired,
			Message: "Breaking glass needs a reason: say why you need access now.", Details: map[string]any{"reason": "is required"}}
	case len(reason) > MaxBreakGlassReason:
		return nil, 0, &Error{Kind: KindInvalid, Code: "invalid_fields",
			Message: fmt.Sprintf("The reason is longer than %d bytes.", MaxBreakGlassReason),
			Details: map[string]any{"reason": fmt.Sprintf("is longer than %d bytes", MaxBreakGlassReason)}}
	}
	info := &BreakGlassInfo{Reason: reason, ReviewDueAt: in.At.Add(f.BreakGlass.ReviewWithin)}
	if max := f.BreakGlass.MaxDuration; max > 0 && dur > max {
		info.RequestedSeconds = int64(dur / time.Second)
		dur = max
	}
	return info, dur, nil
}

// applyBreakGlass is the part of Apply for the break-glass commands.
func (r Request) applyBreakGlass(cmd Command, env Env) (Outcome, error) {
	f := env.Flow
	out := Outcome{Request: r}
	n := &out.Request
	audit := func(t AuditType, data map[string]any) {
		out.Audit = append(out.Audit, AuditEvent{Type: t, Actor: cmd.Actor, Reason: cmd.Reason, Source: cmd.Source, Data: data})
		out.Effects = append(out.Effects, Effect{Kind: EffectNotify, Event: t})
	}
	switch cmd.Kind {
	case CmdBreakGlass:
		if r.BreakGlass == nil || r.Status != StatusPending {
			return Outcome{Request: r, Noop: true}, nil
		}
		// Judged again: the flow may have changed since the request was
		// made. No longer allowed, it is withdrawn, by Latch, saying why; a
		// rule that fails is an error, tried again once an admin fixes it.
		if err := CanBreakGlass(f, env.Requester); err != nil {
			if ErrorCodeOf(err) == CodeRuleError || ErrorKindOf(err) == KindInternal {
				return Outcome{}, err
			}
			n.Status = StatusCancelled
			n.Decision = &Decision{At: cmd.At, Reason: ErrorMessageOf(err)}
			out.Audit = append(out.Audit, AuditEvent{Type: AuditCancelled, Reason: ErrorMessageOf(err), Source: cmd.Source,
				Data: map[string]any{"code": ErrorCodeOf(err)}})
			out.Effects = append(out.Effects, Effect{Kind: EffectNotify, Event: AuditCancelled})
			return out, nil
		}
		bg := *r.BreakGlass
		n.BreakGlass = &bg
		n.ExpiresAt, n.ForwardAt = nil, nil
		data := map[string]any{"broadcast": f.BreakGlass.Broadcast, "review_due_at": bg.ReviewDueAt,
			"max_duration_seconds": int64(f.BreakGlass.MaxDuration / time.Second)}
		if bg.RequestedSeconds > 0 {
			data["requested_seconds"] = bg.RequestedSeconds
		}
		audit(AuditBreakGlass, data)
		if f.Strategy == nil {
			n.Status = StatusApproved
			return out, nil
		}
		n.Status = StatusEscalating
		out.Grant = GrantJoin
		return out, nil

	case CmdReview:
		if r.BreakGlass == nil {
			return Outcome{}, Errorf(KindConflict, CodeNotBreakGlass, "Request %s was not a break glass: there is nothing to review.", r.ID)
		}
		if r.BreakGlass.Review != nil {
			return Outcome{}, &Error{Kind: KindConflict, Code: CodeAlreadyReviewed,
				Message: fmt.Sprintf("Break glass %s was reviewed already, by %s.", r.ID, r.BreakGlass.Review.By.Email),
				Details: map[string]any{"reviewed_by": r.BreakGlass.Review.By.Email}}
		}
		if !r.GrantedByBreakGlass() {
			// Pending: not granted yet; cancelled, denied or expired:
			// never granted, so there is no access to review.
			return Outcome{}, Errorf(KindConflict, "not_granted", "Break glass %s was not granted (it is %s): there is no access to review.", r.ID, r.Status)
		}
		if err := CanReview(f, &r, env.Actor, env.Requester, env.OnCall); err != nil {
			return Outcome{}, err
		}
		bg := *r.BreakGlass
		bg.Review = &Decision{By: cmd.Actor, At: cmd.At, Reason: cmd.Reason}
		n.BreakGlass = &bg
		data := map[string]any{"review_due_at": bg.ReviewDueAt}
		if cmd.At.After(bg.ReviewDueAt) {
			data["late"] = true
		}
		audit(AuditBreakGlassReviewed, data)
		return out, nil

	case CmdReviewOverdue:
		// The n-th alert, once, at its time, while nobody has reviewed. An
		// alert sent late (Latch was down for days) stands for those it
		// missed: they are not raised one after another.
		bg := r.BreakGlass
		if bg == nil || bg.Review != nil || !r.GrantedByBreakGlass() || cmd.Step <= bg.Alerts ||
			cmd.At.Before(bg.ReviewAlertDue(cmd.Step)) {
			return Outcome{Request: r, Noop: true}, nil
		}
		nb := *bg
		nb.Alerts = cmd.Step
		n.BreakGlass = &nb
		audit(AuditBreakGlassReviewOverdue, map[string]any{"review_due_at": bg.ReviewDueAt, "alert": cmd.Step})
		return out, nil
	}
	return Outcome{}, Errorf(KindInvalid, "unknown_command", "Unknown command %q.", cmd.Kind)
}
