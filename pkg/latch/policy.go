package latch

import (
	"fmt"
	"slices"
)

// Reasons a person may not act, as stable error codes.
const (
	CodeSelfApproval       = "self_approval"
	CodeNotApprover        = "not_an_approver"
	CodeGuestNotAllowed    = "guest_not_allowed"
	CodeGuestCannotRequest = "guest_cannot_request"
	CodeRevokeNotAllowed   = "revoke_not_allowed"
	CodeSourceNotAllowed   = "source_not_allowed"
	CodeUnknownUser        = "unknown_user"
	CodeRuleError          = "rule_error"
	CodeNotRequester       = "not_requester"
	CodeAdminOnly          = "admin_only"
	CodeFlowNotOffered     = "flow_not_offered"
	// CodeCreatorCannotDecide refuses an approval by the principal that
	// created the request on someone else's behalf (a bot, whatever person
	// it names with "as").
	CodeCreatorCannotDecide = "creator_cannot_decide"
	// CodeBotMayNotRequestFor and CodeBotMayNotDecideAs refuse a bot that
	// speaks for a person its may_request_for or may_decide_as rule leaves
	// out.
	CodeBotMayNotRequestFor = "bot_may_not_request_for"
	CodeBotMayNotDecideAs   = "bot_may_not_decide_as"
)

// RuleError is the error of a rule that failed when it ran (an error or its
// cost limit): a KindInvalid *Error, answered 422 rule_error, whose message
// names the rule and where it is written (the flow, or the bot) and whose
// details say the same for a program; the cause, for the log of admins, is
// wrapped and never shown.
func RuleError(owner, name, rule string, cause error) *Error {
	return &Error{Kind: KindInvalid, Code: CodeRuleError,
		Message: fmt.Sprintf("The %s rule of %s %q failed when it ran; an admin must fix it (Latch's log has the details).", rule, owner, name),
		Details: map[string]any{owner: name, "rule": rule}, Err: cause}
}

// CanApprove reports whether actor (acting as by) may approve r: never the
// principal that created r for someone else — the bot that created it,
// whoever its "as" names (and no one acting as that bot), or a person who
// asked on another's behalf — and otherwise as CanDecide says.
func CanApprove(f *Flow, r *Request, by Actor, actor, requester *User, oc OnCall) error {
	c := r.CreatedBy
	switch {
	case c.Bot != "" && (by.Bot == c.Bot || (actor != nil && actor.Kind == KindBot && actor.Name == c.Bot)):
		return Errorf(KindForbidden, CodeCreatorCannotDecide,
			"Bot %q created this request, so it may not approve it, whoever it acts as: another principal must.", c.Bot)
	case c.Bot == "" && c.Email != "" && c.Email != r.Requester.Email && by.Email == c.Email:
		return Errorf(KindForbidden, CodeCreatorCannotDecide,
			"%s created this request for %s, so may not approve it: another principal must.", c.Email, r.Requester.Email)
	}
	return CanDecide(f, r, actor, requester, oc)
}

// CanDecide reports whether actor may approve or deny r: an admin always may;
// otherwise an approver listed by the flow or allowed by its rule. Nobody may
// decide their own request unless the flow allows self-approval, and a guest
// acts only on flows that allow guest interaction. The error is a
// KindForbidden *Error naming the reason.
func CanDecide(f *Flow, r *Request, actor, requester *User, oc OnCall) error {
	if actor == nil {
		return Errorf(KindForbidden, CodeUnknownUser, "Latch does not know who you are.")
	}
	if err := guestCheck(f, actor); err != nil {
		return err
	}
	if actor.Email == r.Requester.Email && !f.Approval.AllowSelfApproval {
		return Errorf(KindForbidden, CodeSelfApproval, "You cannot approve or deny your own request: flow %q does not allow self-approval.", f.Name)
	}
	if actor.Role == RoleAdmin {
		return nil
	}
	ok, err := IsApprover(f, r, actor, requester, oc)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(KindForbidden, CodeNotApprover, "%s is not an approver for flow %q.", actor.Email, f.Name)
	}
	return nil
}

// IsApprover reports whether the flow names actor as an approver for r, by
// the list of emails or by the rule, or by those of a forwarding step r has
// reached (approvers, dm, rule). A failing rule is an error only when no
// other list or rule lets actor decide. Rules see oc as approver.on_call
// and requester.on_call.
func IsApprover(f *Flow, r *Request, actor, requester *User, oc OnCall) (bool, error) {
	ok, err := isApprover(f, f.Approval.Approvers, nil, f.Approval.Rule, "approval.rule", r, actor, requester, oc)
	for i := 0; !ok && i < r.Forwarded && i < len(f.Approval.Forward); i++ {
		s := f.Approval.Forward[i]
		var serr error
		ok, serr = isApprover(f, s.Approvers, s.DM, s.Rule, fmt.Sprintf("approval.forward step %d", i+1), r, actor, requester, oc)
		if err == nil {
			err = serr
		}
	}
	if ok {
		return true, nil
	}
	return false, err
}

func isApprover(f *Flow, listed, dm []string, rule Rule, what string, r *Request, actor, requester *User, oc OnCall) (bool, error) {
	named := func(e string) bool { return NormalizeEmail(e) == actor.Email }
	if slices.ContainsFunc(listed, named) || slices.ContainsFunc(dm, named) {
		return true, nil
	}
	if rule == nil {
		return false, nil
	}
	ok, err := rule.Eval(RuleVars{Approver: actor, Requester: requester, Request: r, Flow: f, OnCall: oc})
	if err != nil {
		return false, RuleError("flow", f.Name, what, err)
	}
	return ok, nil
}

// CanRevoke reports whether actor may end r's access early: the requester
// always (giving up one's own access: "I'm done", recorded as released,
// whatever the flow's allow_revoke and guest settings say); admins always;
// otherwise, on flows that allow revoke, the approvers.
func CanRevoke(f *Flow, r *Request, actor, requester *User, oc OnCall) error {
	if actor == nil {
		return Errorf(KindForbidden, CodeUnknownUser, "Latch does not know who you are.")
	}
	if actor.Role == RoleAdmin || r.ReleasedBy(actor.Email) {
		return nil
	}
	if err := guestCheck(f, actor); err != nil {
		return err
	}
	if !f.AllowRevoke {
		return Errorf(KindForbidden, CodeRevokeNotAllowed, "Flow %q does not allow revoking access early; it ends on schedule.", f.Name)
	}
	ok, err := IsApprover(f, r, actor, requester, oc)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(KindForbidden, CodeNotApprover, "Only the requester, an approver or an admin may revoke this access.")
	}
	return nil
}

// CanCancel reports whether actor may withdraw r: the requester or an admin.
func CanCancel(r *Request, actor *User) error {
	if actor == nil {
		return Errorf(KindForbidden, CodeUnknownUser, "Latch does not know who you are.")
	}
	if actor.Role == RoleAdmin || actor.Email == r.Requester.Email {
		return nil
	}
	return Errorf(KindForbidden, CodeNotRequester, "Only the requester or an admin may cancel a request.")
}

// CanRequest reports whether user may start a request through f from src:
// the flow allows the source, the user is not a guest, and the flow's
// visible_to rule, if any, lets them see it.
func CanRequest(f *Flow, user *User, src Source) error {
	if !f.AllowsSource(src) {
		return Errorf(KindForbidden, CodeSourceNotAllowed, "Flow %q cannot be requested from %s.", f.Name, src)
	}
	if user.Role == RoleGuest {
		return Errorf(KindForbidden, CodeGuestCannotRequest, "Guests cannot request access. Ask an admin to make %s a member.", user.Email)
	}
	if f.VisibleTo != nil {
		ok, err := f.VisibleTo.Eval(RuleVars{Requester: user, Flow: f})
		if err != nil {
			return RuleError("flow", f.Name, "visible_to", err)
		}
		if !ok {
			return Errorf(KindForbidden, CodeFlowNotOffered, "Flow %q is not offered to %s (its visible_to rule).", f.Name, user.Email)
		}
	}
	return nil
}

func guestCheck(f *Flow, actor *User) error {
	if actor.Role == RoleGuest && !f.AllowGuestInteraction {
		return Errorf(KindForbidden, CodeGuestNotAllowed, "Guests cannot act on flow %q.", f.Name)
	}
	return nil
}
