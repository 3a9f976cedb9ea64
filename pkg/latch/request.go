package latch

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Status is where a request is in its life. A request only moves forward.
type Status string

// Request statuses. See DESIGN.md for the diagram.
const (
	StatusPending      Status = "pending"      // waiting for approvers
	StatusApproved     Status = "approved"     // final for approval-only flows
	StatusScheduled    Status = "scheduled"    // approved; waits for its scheduled start (Request.ScheduledStart)
	StatusEscalating   Status = "escalating"   // approved; access is being granted
	StatusActive       Status = "active"       // access is in place
	StatusDeescalating Status = "deescalating" // access is being taken away
	StatusEnded        Status = "ended"        // access was granted and is gone again
	StatusDenied       Status = "denied"
	StatusCancelled    Status = "cancelled"
	StatusExpired      Status = "expired" // no decision in time
	StatusFailed       Status = "failed"  // granting or revoking failed; an admin may retry
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusPending, StatusApproved, StatusScheduled, StatusEscalating, StatusActive, StatusDeescalating,
	StatusEnded, StatusDenied, StatusCancelled, StatusExpired, StatusFailed}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Final reports whether nothing more can happen to a request in status s
// (failed is final too, unless an admin retries).
func (s Status) Final() bool {
	switch s {
	case StatusApproved, StatusEnded, StatusDenied, StatusCancelled, StatusExpired, StatusFailed:
		return true
	}
	return false
}

// Decided reports whether approvers are done with a request in status s: it
// was approved, denied, expired or cancelled.
func (s Status) Decided() bool { return s != StatusPending }

// UserRef names a user in a request.
type UserRef struct {
	ID    string `json:"id,omitempty"`
	Email string `json:"email"`
}

// Actor is who did something: a person, and the bot that acted on the
// person's behalf where there was one. The zero Actor is Latch itself
// (a schedule, the reconciler).
type Actor struct {
	Email string `json:"email,omitempty"`
	Bot   string `json:"bot,omitempty"`
}

// IsSystem reports whether a is Latch itself.
func (a Actor) IsSystem() bool { return a.Email == "" && a.Bot == "" }

// Decision is one approver's approval, or the denial, cancellation or revoke
// that ended a request.
type Decision struct {
	By     Actor     `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Failure says why granting or revoking failed.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Stage   string `json:"stage,omitempty"` // "escalate" or "deescalate"
	// MaybeHeld is set on an escalation failure that was not a refusal (a
	// timeout, a 5xx after the escalator was called): the target may hold
	// the access all the same, so it is revoked before the grant closes.
	MaybeHeld bool `json:"maybe_held,omitempty"`
}

// AccessState says, for a failed request, whether the target may still hold
// the access its grant asked for.
type AccessState string

// Access states of a failed request.
const (
	// AccessMaybeHeld: the target may hold the access (an escalation that
	// failed without a refusal). The grant is being revoked, and is retried
	// until a revoke succeeds; then the state becomes revoked.
	AccessMaybeHeld AccessState = "maybe_held"
	// AccessRevoked: the target holds no access from this request's grant:
	// it was refused outright, or revoked after the failure.
	AccessRevoked AccessState = "revoked"
)

// Failure stages.
const (
	StageEscalate   = "escalate"
	StageDeescalate = "deescalate"
)

// Request is one person's ask through one flow, and its whole life.
type Request struct {
	ID        string         `json:"id"`
	Flow      string         `json:"flow"`
	Requester UserRef        `json:"requester"`
	CreatedBy Actor          `json:"created_by"` // who submitted it: the requester, or a bot on their behalf
	Source    Source         `json:"source"`
	Fields    Fields         `json:"fields"`
	Context   map[string]any `json:"context,omitempty"`
	TargetID  string         `json:"target_id,omitempty"`
	Duration  int64          `json:"duration_seconds"` // the grant's length, in seconds
	Status    Status         `json:"status"`

	Approvals []Decision `json:"approvals,omitempty"`
	Decision  *Decision  `json:"decision,omitempty"` // the denial, cancellation or revoke
	Failure   *Failure   `json:"failure,omitempty"`
	// Access is set when the request failed: whether the target may still
	// hold the access (maybe_held) or is known not to (revoked).
	Access AccessState `json:"access,omitempty"`

	GrantID   string     `json:"grant_id,omitempty"`
	StartsAt  *time.Time `json:"starts_at,omitempty"` // when access was in place
	EndsAt    *time.Time `json:"ends_at,omitempty"`   // when access is (or was) due to end
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// ScheduledStart is when the requester asked the access to start
	// (starts_at on the API): once approved, the request waits in
	// scheduled until then, and its lease's end counts from it. Nil: at
	// once, on approval.
	ScheduledStart *time.Time `json:"scheduled_start,omitempty"`
	// Forwarded is how many steps of the flow's forwarding chain the
	// request has reached; ForwardAt is when the next one falls due (nil
	// when there is none, or the request is decided).
	Forwarded int        `json:"forwarded,omitempty"`
	ForwardAt *time.Time `json:"forward_at,omitempty"`
	// Extension is more time the requester asked for on the active grant,
	// waiting for the flow's approvers (nil when none is pending). Once
	// granted, Duration and EndsAt include it.
	Extension *PendingExtension `json:"extension,omitempty"`
	// BreakGlass is set on a request made by breaking glass: its reason and
	// its review.
	BreakGlass *BreakGlassInfo `json:"break_glass,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`   // bumped by the store on every write
	EventSeq  int64     `json:"event_seq"` // the Seq of its latest audit event
}

// PendingExtension is an extension waiting for approvers: how much time it
// adds, who asked (the requester, or a bot on their behalf), why and when,
// and the approvals it has so far.
type PendingExtension struct {
	Duration  int64      `json:"duration_seconds"`
	Reason    string     `json:"reason,omitempty"`
	By        Actor      `json:"by"`
	At        time.Time  `json:"at"`
	Approvals []Decision `json:"approvals,omitempty"`
}

// GrantDuration is the request's grant length.
func (r *Request) GrantDuration() time.Duration { return time.Duration(r.Duration) * time.Second }

// ApprovedBy reports whether email has already approved r. Emails are
// compared case-insensitively: an approval records the email as the command
// named it.
func (r *Request) ApprovedBy(email string) bool {
	email = NormalizeEmail(email)
	return slices.ContainsFunc(r.Approvals, func(d Decision) bool { return NormalizeEmail(d.By.Email) == email })
}

// ReleasedBy reports whether an early end of r's access by email is the
// requester giving up their own access ("I'm done"): recorded as released,
// and allowed whatever the flow's allow_revoke says.
func (r *Request) ReleasedBy(email string) bool {
	return email != "" && NormalizeEmail(email) == NormalizeEmail(r.Requester.Email)
}

// CommandKind names a Command.
type CommandKind string

// The commands that move a request or grant. Approve, deny, cancel and revoke
// come from people; the rest from timers and the grant runner.
const (
	CmdApprove            CommandKind = "approve"
	CmdDeny               CommandKind = "deny"
	CmdCancel             CommandKind = "cancel"
	CmdRevoke             CommandKind = "revoke"
	CmdExpire             CommandKind = "expire"              // the approval timeout passed
	CmdEscalated          CommandKind = "escalated"           // the grant is in place (grant-level)
	CmdEscalationFailed   CommandKind = "escalation_failed"   // granting failed for good (grant-level)
	CmdDue                CommandKind = "due"                 // a lease's end may have come (grant-level)
	CmdDeescalated        CommandKind = "deescalated"         // the grant is gone (grant-level)
	CmdDeescalationFailed CommandKind = "deescalation_failed" // revoking failed for good (grant-level)
	CmdRetry              CommandKind = "retry"               // an admin retries a failed request
	// CmdOverdue: a grant's revoke is not done a while (a minute) after it
	// fell due. It records revoke_overdue on the grant's requests and alerts.
	CmdOverdue CommandKind = "overdue"
	// CmdAutoApprove: a new request is judged by its flow's auto_approve
	// rule; it approves the request as the flow, or records why it could not.
	CmdAutoApprove CommandKind = "auto_approve"
	// CmdForward: step Step of the flow's forwarding chain may have come
	// (a timer), or the previous step could not be delivered (Failure set).
	CmdForward CommandKind = "forward"
	// CmdStart: a scheduled request's start may have come (a timer): it is
	// escalated, its lease's end counted from its ScheduledStart.
	CmdStart CommandKind = "start"
	// CmdExtend: the requester asks for Duration more seconds on the
	// active grant. Approve and deny of an active request decide its
	// pending extension.
	CmdExtend CommandKind = "extend"
)

// CommandKinds lists every command kind.
var CommandKinds = []CommandKind{CmdApprove, CmdDeny, CmdCancel, CmdRevoke, CmdExpire, CmdEscalated,
	CmdEscalationFailed, CmdDue, CmdDeescalated, CmdDeescalationFailed, CmdRetry, CmdOverdue, CmdForward, CmdAutoApprove, CmdStart, CmdExtend,
	CmdBreakGlass, CmdReview, CmdReviewOverdue}

// GrantLevel reports whether k is about a grant (GrantID) rather than a
// request (RequestID).
func (k CommandKind) GrantLevel() bool {
	switch k {
	case CmdEscalated, CmdEscalationFailed, CmdDue, CmdDeescalated, CmdDeescalationFailed, CmdOverdue:
		return true
	}
	return false
}

// Command is one thing that happened to a request or grant, as delivered to
// the engine. ID is its dedup key: a command delivered twice acts once.
type Command struct {
	ID        string      `json:"id"`
	Kind      CommandKind `json:"kind"`
	RequestID string      `json:"request_id,omitempty"`
	GrantID   string      `json:"grant_id,omitempty"`
	Actor     Actor       `json:"actor"`
	Reason    string      `json:"reason,omitempty"`
	Source    Source      `json:"source,omitempty"`
	At        time.Time   `json:"at"`
	Failure   *Failure    `json:"failure,omitempty"`
	// Identity is, on CmdEscalated, the grantee's id in the target system
	// that the escalator was given: the grant records it for its revoke.
	Identity string `json:"identity,omitempty"`
	// Verified is set on CmdDeescalated when a check of the target
	// (latch.Checker) confirmed after the revoke that the access is gone.
	Verified bool `json:"verified,omitempty"`
	// Output is, on CmdEscalated, what the escalator said about the grant
	// (OutputGranter): the escalated audit event keeps it as data "output".
	Output map[string]any `json:"output,omitempty"`
	// HeldBefore is, on CmdEscalated and CmdDeescalated, what the runner
	// recorded before its first Grant call: whether the target held the
	// access already (Grant.HeldBefore). Nil when it did not check. A grant
	// that recorded an answer keeps it.
	HeldBefore *bool `json:"held_before,omitempty"`
	// Hook is set when the flow's own hook (on_request) made this approval
	// or denial. The flow's author configured the hook, so its decision is
	// trusted like the flow itself: it needs no approver and meets the quorum.
	Hook string `json:"hook,omitempty"`
	// Step is, on CmdForward, the step of the forwarding chain (from 1).
	Step int `json:"step,omitempty"`
	// Duration is, on CmdExtend, the time asked for, in seconds.
	Duration int64 `json:"duration_seconds,omitempty"`
}

// ForwardCommand is the command that forwards a pending request to step
// (from 1) of its flow's forwarding chain at at. Its id is stable per step,
// so a timer, a sweep and an undeliverable step sending it all act once.
func ForwardCommand(requestID string, step int, at time.Time) Command {
	return Command{ID: fmt.Sprintf("forward/%s/%d", requestID, step), Kind: CmdForward, RequestID: requestID,
		Step: step, At: at, Source: SourceSchedule}
}

// StartCommand is the command that starts a scheduled request at at (its
// ScheduledStart). Its id is stable, so a timer, a re-arm and a sweep
// sending it all act once.
func StartCommand(requestID string, at time.Time) Command {
	return Command{ID: "start/" + requestID, Kind: CmdStart, RequestID: requestID, At: at, Source: SourceSchedule}
}

// ErrUndeliverable is returned (wrapped) by a Notifier for the forwarded
// event when no destination of the step just reached could be sent the
// request for good (an unknown channel, nobody Slack knows): the request
// moves on to the next step at once.
var ErrUndeliverable = errors.New("the forwarding step's destinations cannot be reached")

// AuditType names an audit event.
type AuditType string

// Audit event types.
const (
	AuditRequested          AuditType = "requested"
	AuditApprovalAdded      AuditType = "approval_added" // an approval short of the quorum
	AuditApproved           AuditType = "approved"
	AuditDenied             AuditType = "denied"
	AuditCancelled          AuditType = "cancelled"
	AuditExpired            AuditType = "expired"
	AuditEscalated          AuditType = "escalated"
	AuditRevoked            AuditType = "revoked" // someone ended access early
	AuditDeescalated        AuditType = "deescalated"
	AuditLeaseEnded         AuditType = "lease_ended" // this request's time is up; another request still holds the access
	AuditFailed             AuditType = "failed"
	AuditRetried            AuditType = "retried"
	AuditDeescalationFailed AuditType = "deescalation_failed"
	// AuditRevokeOverdue: the grant's revoke was not done a minute after it
	// fell due (Data: due_at, last_error). Latch keeps retrying; people are
	// alerted.
	AuditRevokeOverdue AuditType = "revoke_overdue"
	// AuditForwarded: a pending request reached a step of its forwarding
	// chain (Data: step, channel, approvers, dm; undeliverable: the step
	// before could not be delivered).
	AuditForwarded AuditType = "forwarded"
	// AuditAutoApproveSkipped: the flow's auto_approve rule could not be
	// judged (the on-call lookup or the rule failed); the request waits for
	// a person (Data: reason).
	AuditAutoApproveSkipped AuditType = "auto_approve_skipped"
	// AuditReleased: the requester ended their own access early ("I'm
	// done"); the grant behaves as on a revoke.
	AuditReleased AuditType = "released"
	// AuditScheduled: an approved request waits for its scheduled start
	// (Data: starts_at); it is escalated then.
	AuditScheduled AuditType = "scheduled"
	// AuditExtensionRequested: the requester asked for more time on the
	// active grant; approvers decide (Data: added_seconds, ends_at).
	AuditExtensionRequested AuditType = "extension_requested"
	// AuditExtended: the grant's end moved later (Data: old_ends_at,
	// new_ends_at, added_seconds, approved_by: the approvers' emails, or
	// "auto_within" when the flow granted it at once).
	AuditExtended AuditType = "extended"
	// AuditExtensionDenied: an approver refused the pending extension; the
	// end stays (Data: added_seconds).
	AuditExtensionDenied AuditType = "extension_denied"

	// Events that belong to no request (Store.AppendAudit).
	AuditRoleChanged    AuditType = "role_changed"
	AuditIdentityMapped AuditType = "identity_mapped"
	AuditIdentityForgot AuditType = "identity_deleted"
	AuditUsersImported  AuditType = "users_imported"
	AuditDomainAdded    AuditType = "domain_added"
	AuditDomainRemoved  AuditType = "domain_removed"
	AuditBotCreated     AuditType = "bot_created"
	AuditBotDeleted     AuditType = "bot_deleted"
	AuditBotUpdated     AuditType = "bot_updated" // Data: bot and its rules
	AuditTokenIssued    AuditType = "token_issued"
	AuditTokenRevoked   AuditType = "token_revoked"
	// AuditCorrected: the reconciler found something overdue or stuck (a
	// revoke whose time passed, a grant stuck half-way, an expiry that never
	// fired) and set it going again. GrantID or Data name what.
	AuditCorrected AuditType = "corrected_by_reconciler"
)

// AuditEvent is an immutable record of one thing that happened to a request.
// ID is stable ("<request id>/<seq>"), so a duplicate delivery is recognisable.
type AuditEvent struct {
	ID        string         `json:"id"`
	RequestID string         `json:"request_id"`
	Seq       int64          `json:"seq"`
	Type      AuditType      `json:"type"`
	At        time.Time      `json:"at"`
	Flow      string         `json:"flow"`
	Requester string         `json:"requester"`
	Actor     Actor          `json:"actor"`
	TargetID  string         `json:"target_id,omitempty"`
	GrantID   string         `json:"grant_id,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Source    Source         `json:"source,omitempty"`
	Fields    Fields         `json:"fields,omitempty"`
	Data      map[string]any `json:"data,omitempty"`
}

// EffectKind names an Effect.
type EffectKind string

// Effects: work a committed change asks for, carried out after the commit
// from the outbox.
const (
	EffectEscalate   EffectKind = "escalate"   // grant GrantID in the target system
	EffectDeescalate EffectKind = "deescalate" // revoke GrantID in the target system
	EffectWake       EffectKind = "wake"       // send CmdDue for GrantID at At
	EffectExpire     EffectKind = "expire"     // send CmdExpire for RequestID at At
	EffectForward    EffectKind = "forward"    // send CmdForward Step for RequestID at At
	EffectNotify     EffectKind = "notify"     // tell people (Slack) that Event happened to RequestID
	EffectHook       EffectKind = "hook"       // call the flow's hook at point Hook for RequestID
	EffectStart      EffectKind = "start"      // send CmdStart for RequestID at At
	// EffectRegrant: GrantID's end moved later while it is in place (an
	// extension, a second lease): targets told the end (GrantEndFollower)
	// are sent the grant again with the new end.
	EffectRegrant EffectKind = "regrant"
)

// Effect is an entry of the outbox. ID is deterministic (the command's ID and
// the effect's index), so replaying a command cannot double an effect.
type Effect struct {
	ID        string     `json:"id"`
	Kind      EffectKind `json:"kind"`
	RequestID string     `json:"request_id,omitempty"`
	GrantID   string     `json:"grant_id,omitempty"`
	At        time.Time  `json:"at,omitzero"`
	Event     AuditType  `json:"event,omitempty"` // for notify
	Hook      string     `json:"hook,omitempty"`  // for hook: on_request, on_approve, ...
	Step      int        `json:"step,omitempty"`  // for forward
	CreatedAt time.Time  `json:"created_at"`
}

// OverdueCommandID names the CmdOverdue of grantID's revoke due at due: the
// same on every runtime and every check, so that revoke_overdue is recorded
// once per due.
func OverdueCommandID(grantID string, due time.Time) string {
	return fmt.Sprintf("overdue/%s/%d", grantID, due.UnixNano())
}

// OverdueLog is the message of the ERROR line logged for an overdue revoke,
// on every runtime (alerts and searches match it).
const OverdueLog = "revoke overdue: access is still in place after its end; retrying"
