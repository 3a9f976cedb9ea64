package sfngrants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/latch"
)

// Task actions: what a Lambda task of the state machine is asked to do.
// ActionEscalate and ActionDeescalate are the grant task actions of package
// events; the others exist only between the state machine and its tasks.
const (
	ActionEscalate   = string(events.ActionEscalate)   // grant the access (escalator function)
	ActionDeescalate = string(events.ActionDeescalate) // revoke the access (escalator function)
	// ActionHold records the Hold's task token and answers it at once when
	// the grant already asks for something else (grant-task function).
	ActionHold = "hold"
	// ActionCleanUp takes back what a failed escalation may have granted
	// (a timeout that granted all the same): a best-effort revoke of a grant
	// still escalating (escalator function).
	ActionCleanUp = "clean_up"
	// ActionEscalationFailed sends the escalation_failed report, built from
	// the escalate task's error (grant-task function).
	ActionEscalationFailed = "escalation_failed"
	// ActionDeescalationFailed records RevokeOver and sends the
	// deescalation_failed report, built from the revoke task's error
	// (grant-task function).
	ActionDeescalationFailed = "deescalation_failed"
	// ActionRegrant sends an active grant to its target again with its
	// later end, when its escalator's target follows ends
	// (latch.EndFollower), and answers with the Hold until its next lease
	// end (escalator function).
	ActionRegrant = "regrant"
)

// TaskInput is the payload every Lambda task of the state machine receives.
type TaskInput struct {
	GrantID string `json:"grant_id"`
	Action  string `json:"action"`
	// TaskToken and Hold are set for ActionHold.
	TaskToken string `json:"task_token,omitempty"`
	Hold      *Hold  `json:"hold,omitempty"`
	// Error is the caught error, for the failure actions.
	Error *StatesError `json:"error,omitempty"`
	// MaybeHeld is set for ActionEscalationFailed after any attempt failed
	// otherwise than by a refusal: the target may hold access whatever the
	// last attempt answered.
	MaybeHeld bool `json:"maybe_held,omitempty"`
	// RequestID is set for ActionStart (and GrantID is not).
	RequestID string `json:"request_id,omitempty"`
	// StartsAt (RFC 3339) is the scheduled start, for ActionStart: the
	// start command is stamped no earlier (a Wait may end a little early
	// by the function's clock).
	StartsAt string `json:"starts_at,omitempty"`
}

// StatesError is an error as a Catch hands it on: its name and cause. For a
// Lambda function error the name is the error's type and the cause is the
// JSON of the function's error ({"errorMessage":…,"errorType":…}).
type StatesError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// TaskOutput is what a task returns: the report it sent to the events
// queue, if any (a task that finds nothing to do, the grant being no longer
// in the state it acts on, sends none), and for the escalate task the Hold
// that follows it.
type TaskOutput struct {
	Report *Report `json:"report,omitempty"`
	Hold   *Hold   `json:"hold,omitempty"`
}

// Report is one events v1 message as a task sent it: its id (the FIFO
// deduplication id) and its JSON body, written and validated by
// events.Marshal.
type Report struct {
	ID   string `json:"id"`
	Body string `json:"body"`
}

// Hold is what a Hold task waits for: the lease end it holds until (RFC 3339
// with nanoseconds, UTC; empty when the grant has none) and its timeout in
// seconds. Recheck marks a Hold entered after a timeout (or an answer the
// definition does not know): its timeout is DueRecheck, not the time left
// until Until, and its task looks at the grant afresh — it reports a due
// end (or a lost escalation) again, and otherwise answers itself with the
// Hold the grant asks for.
type Hold struct {
	Until   string `json:"until"`
	Seconds int64  `json:"seconds"`
	Recheck bool   `json:"recheck,omitempty"`
}

// Answer completes a Hold task (SendTaskSuccess output). Action is one of
// the Answer constants; Hold is set for AnswerHold.
type Answer struct {
	Action string `json:"action"`
	Hold   *Hold  `json:"hold,omitempty"`
}

// Answers to a Hold.
const (
	AnswerHold       = "hold"       // hold again, with the new Hold
	AnswerDeescalate = "deescalate" // revoke now
	AnswerEnd        = "end"        // the grant is closed; end without revoking
	// AnswerRegrant: the grant's end moved later; send it to the target
	// again (Regrant), then hold with the new Hold.
	AnswerRegrant = "regrant"
)

// PermanentError is returned by an escalate task whose failure retrying
// cannot mend (latch.Permanent, an unknown flow or strategy). The Lambda
// runtime names a function error by its Go type, so Step Functions sees the
// error name "PermanentError", which the escalate state does not retry.
// Function mains must return it unwrapped.
type PermanentError struct {
	Code    string
	Message string
}

func (e *PermanentError) Error() string { return e.Code + ": " + e.Message }

// TaskError is any other task failure ("TaskError" to Step Functions),
// retried by the state machine.
type TaskError struct {
	Code    string
	Message string
}

func (e *TaskError) Error() string { return e.Code + ": " + e.Message }

// ReportError is returned by a task that could not send its report to the
// events queue ("ReportError" to Step Functions). The escalate states retry
// it as long as a revoke, and never count it as a failed escalation: the
// access may be in place, and the task, granting again (idempotent), sends
// the report again.
type ReportError struct {
	Code    string
	Message string
}

func (e *ReportError) Error() string { return e.Code + ": " + e.Message }

// Error names the state machine relies on.
const (
	ErrorPermanent = "PermanentError"
	ErrorTask      = "TaskError"
	ErrorReport    = "ReportError"
)

// Reports sends the tasks' reports to the FIFO events queue, with the
// message's order key (the grant id) as group and its id as deduplication
// id; sqsqueue.Publisher is one. Send returns once the queue has accepted
// the message.
type Reports interface {
	Send(ctx context.Context, m events.Message) error
}

// FlowSource finds a flow by name (engine.FlowSet is one).
type FlowSource interface {
	Get(name string) (*latch.Flow, error)
}

// GrantReader reads grants (latch.Store is one). GetGrant must be strongly
// consistent (on DynamoDB, ConsistentRead).
type GrantReader interface {
	GetGrant(ctx context.Context, id string) (latch.Grant, error)
}

// TaskStore is what the task handler reads: grants, and the request that
// first asked for a grant (for the escalator's spec).
type TaskStore interface {
	GrantReader
	GetRequest(ctx context.Context, id string) (latch.Request, error)
}

// Completer completes Hold tasks (Step Functions' SendTaskSuccess). It
// returns an error wrapping ErrTokenGone when the task is no longer waiting.
type Completer interface {
	Complete(ctx context.Context, token string, output []byte) error
}

// ErrTokenGone: the task token names a task that has ended (answered, timed
// out, or its execution stopped) or no task at all.
var ErrTokenGone = errors.New("sfngrants: the task token is no longer valid")

// TaskHandler carries out the state machine's Lambda tasks. Store, Flows,
// Escalator, Tokens, Reports and Completer are required for the actions
// that use them; Identity, Clock, Timing and Log have defaults.
type TaskHandler struct {
	Store TaskStore
	Flows FlowSource
	// Reports sends the reports (escalated, due, deescalated, the
	// failures): each task sends its own, so that no state of the state
	// machine is spent on it.
	Reports Reports
	// Escalator returns the escalator of a flow's strategy.
	Escalator func(*latch.Flow) (latch.Escalator, error)
	// Identity returns the grantee's id in the target system; nil uses the email.
	Identity  func(ctx context.Context, f *latch.Flow, user latch.UserRef) (string, error)
	Tokens    Tokens
	Completer Completer
	Clock     latch.Clock
	Timing    Timing
	Log       *slog.Logger
	// Held records whether a grant's access was in place before Latch's
	// first attempt to grant it (HeldRecords). Without it nothing is
	// checked before granting: the access is treated as Latch's and
	// revoked.
	Held HeldRecords
}

// Handle carries out one task. Its errors are *PermanentError, *TaskError or
// *ReportError, to be returned to the Lambda runtime unwrapped. A panic in an escalator or
// identity lookup becomes a *TaskError.
func (h *TaskHandler) Handle(ctx context.Context, in TaskInput) (out TaskOutput, err error) {
	started := h.now() // orders this task's token write against a later task's
	defer func() {
		if p := recover(); p != nil {
			out, err = TaskOutput{}, &TaskError{Code: "panic", Message: fmt.Sprintf("task %s of grant %s panicked: %v", in.Action, in.GrantID, p)}
		}
	}()
	if in.Action == ActionStart {
		return h.start(ctx, in)
	}
	if in.GrantID == "" {
		return TaskOutput{}, &PermanentError{Code: "invalid_task", Message: "the task names no grant"}
	}
	switch in.Action {
	case ActionEscalate:
		return h.escalate(ctx, in.GrantID)
	case ActionDeescalate:
		out, err := h.revoke(ctx, in.GrantID)
		if err != nil {
			h.revokeFailed(ctx, in.GrantID, err)
		}
		return out, err
	case ActionCleanUp:
		return TaskOutput{}, h.cleanUp(ctx, in.GrantID)
	case ActionRegrant:
		return h.regrant(ctx, in.GrantID)
	case ActionHold:
		return TaskOutput{}, h.hold(ctx, in, started)
	case ActionEscalationFailed:
		return h.failed(ctx, in, latch.GrantEscalating, events.TypeEscalationFailed, latch.StageEscalate)
	case ActionDeescalationFailed:
		if err := h.Tokens.PutHoldToken(ctx, in.GrantID, RevokeOver, "", started); err != nil {
			return TaskOutput{}, taskErr("token_store", err)
		}
		return h.failed(ctx, in, latch.GrantDeescalating, events.TypeDeescalationFailed, latch.StageDeescalate)
	}
	return TaskOutput{}, &PermanentError{Code: "invalid_task", Message: fmt.Sprintf("unknown task action %q", in.Action)}
}

func (h *TaskHandler) now() time.Time {
	if h.Clock == nil {
		return latch.SystemClock.Now()
	}
	return h.Clock.Now()
}

func (h *TaskHandler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func (h *TaskHandler) escalate(ctx context.Context, grantID string) (TaskOutput, error) {
	g, err := h.Store.GetGrant(ctx, grantID)
	if err != nil {
		return TaskOutput{}, taskErr("grant_unavailable", err)
	}
	if g.Status != latch.GrantEscalating {
		// Done already; the Hold that follows sees where the grant is.
		return TaskOutput{Hold: holdOf(g, h.now(), h.Timing.orDefault())}, nil
	}
	// The grant is escalated with what it recorded when it was approved
	// (latch.RevokeTarget): a flow changed or removed since does not
	// redirect it. When nothing can act for it, the failure is not a
	// refusal: an execution before this one may have granted, so it is
	// reported maybe held and revoked until a revoke succeeds.
	f, esc, err := h.revokeWith(g)
	if err != nil {
		return TaskOutput{}, err
	}
	spec := h.spec(ctx, f, g)
	// Who the grantee is in the target system is found on every attempt: a
	// hook's passing failure is retried like the escalator's.
	id, err := h.identity(ctx, h.identityFlow(f, g), g)
	var output map[string]any
	var held *bool
	if err == nil {
		spec.User.Identity = id
		// A check that fails granted nothing; it is retried like a grant.
		held, err = h.heldBefore(ctx, g, esc, spec)
	}
	if err == nil && !isTrue(held) {
		output, err = latch.GrantWithOutput(ctx, esc, spec)
	}
	if err != nil {
		h.log().WarnContext(ctx, "granting access failed", "grant", g.ID, "err", err)
		if latch.IsPermanent(err) {
			code, msg := failureOf(err, "escalation_failed")
			return TaskOutput{}, &PermanentError{Code: code, Message: msg}
		}
		return TaskOutput{}, taskErr("escalation_failed", err)
	}
	if isTrue(held) {
		h.log().InfoContext(ctx, "the access was in place before Latch: nothing granted, and it is left in place at the end", "grant", g.ID)
	} else {
		h.log().InfoContext(ctx, "access granted", "grant", g.ID)
	}
	r, err := h.report(ctx, events.Message{Type: events.TypeEscalated, ID: commandID("escalated", g), GrantID: g.ID,
		Identity: spec.User.Identity, Output: output, HeldBefore: held})
	// The Hold that follows waits until the lease end, fixed when the grant
	// was approved: the engine's wake-up after it records the escalation
	// finds the Hold waiting for that end already, and leaves it.
	return TaskOutput{Report: r, Hold: holdOf(g, h.now(), h.Timing.orDefault())}, err
}

// holdOf is the Hold until g's next lease end as of now.
func holdOf(g latch.Grant, now time.Time, t Timing) *Hold {
	next, ok := g.NextDue()
	return HoldFor(next, ok, now, t)
}

// heldBefore is whether the target held g's access before Latch's first
// attempt to grant it, decided before that attempt's Grant call when esc
// can check (latch.Checker) and h.Held is set: an answer recorded before
// stands (the access a retry finds may be an earlier attempt's own);
// otherwise a check, recorded (the first writer wins) before any Grant
// call. Nil when nothing can check.
func (h *TaskHandler) heldBefore(ctx context.Context, g latch.Grant, esc latch.Escalator, spec latch.GrantSpec) (*bool, error) {
	if g.HeldBefore != nil {
		return g.HeldBefore, nil
	}
	c, ok := esc.(latch.Checker)
	if !ok || h.Held == nil || !g.ChecksHeld {
		return nil, nil // an earlier version, which did not check, may have granted already
	}
	held, err := h.Held.HeldBefore(ctx, g.ID)
	switch {
	case err == nil:
		return &held, nil
	case !errors.Is(err, latch.ErrNotFound):
		return nil, fmt.Errorf("read whether the access was in place before Latch: %w", err)
	}
	if held, err = c.Check(ctx, spec); err != nil {
		return nil, fmt.Errorf("check whether the access is in place before granting it: %w", err)
	}
	if held, err = h.Held.RecordHeldBefore(ctx, g.ID, held); err != nil {
		return nil, fmt.Errorf("record whether the access was in place before Latch: %w", err)
	}
	return &held, nil
}

// recordedHeld is what g records of access held before Latch, else what
// the escalate task recorded (for a grant whose escalated report did not
// land); nil when neither knows.
func (h *TaskHandler) recordedHeld(ctx context.Context, g latch.Grant) (*bool, error) {
	if g.HeldBefore != nil || h.Held == nil {
		return g.HeldBefore, nil
	}
	held, err := h.Held.HeldBefore(ctx, g.ID)
	switch {
	case errors.Is(err, latch.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read whether the access was in place before Latch: %w", err)
	}
	return &held, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// revokeWith is the flow and escalator to escalate or revoke g with: what g
// recorded, or for a grant that recorded nothing, its flow as loaded now
// (latch.RevokeTarget). A revoke never depends on the flow file.
func (h *TaskHandler) revokeWith(g latch.Grant) (*latch.Flow, latch.Escalator, error) {
	cur, _ := h.Flows.Get(g.Flow)
	f, name, ok := latch.RevokeTarget(&g, cur)
	if !ok {
		return nil, nil, &TaskError{Code: "flow_not_found",
			Message: fmt.Sprintf("flow %q is not loaded and grant %s recorded nothing to act with: restore the flow file", g.Flow, g.ID)}
	}
	esc, err := h.Escalator(f.EscalatorFlow(name))
	if err != nil {
		return nil, nil, taskErr("escalator_unavailable", err)
	}
	return f, esc, nil
}

// revokeIdentity is the grantee's id to revoke g from: the one recorded at
// escalation, else what the resolver finds.
func (h *TaskHandler) revokeIdentity(ctx context.Context, f *latch.Flow, g latch.Grant) (string, error) {
	if g.Identity != "" {
		return g.Identity, nil
	}
	return h.identity(ctx, h.identityFlow(f, g), g)
}

// identityFlow is the flow to find g's grantee with: the loaded flow, whose
// identity rule and hooks say how (a grant does not record them), else f.
func (h *TaskHandler) identityFlow(f *latch.Flow, g latch.Grant) *latch.Flow {
	if cur, err := h.Flows.Get(g.Flow); err == nil && cur != nil {
		return cur
	}
	return f
}

func (h *TaskHandler) revoke(ctx context.Context, grantID string) (TaskOutput, error) {
	g, err := h.Store.GetGrant(ctx, grantID)
	if err != nil {
		return TaskOutput{}, taskErr("grant_unavailable", err)
	}
	if g.Status != latch.GrantDeescalating {
		return TaskOutput{}, nil // nothing to revoke: done already, or never asked
	}
	held, err := h.recordedHeld(ctx, g)
	if err != nil {
		return TaskOutput{}, taskErr("held_before_unavailable", err)
	}
	if isTrue(held) {
		// The person had this access before Latch, which granted nothing:
		// it stays, and the target is not asked.
		h.log().InfoContext(ctx, "the access was in place before Latch: left in place", "grant", g.ID)
		r, err := h.report(ctx, events.Message{Type: events.TypeDeescalated, ID: commandID("deescalated", g), GrantID: g.ID,
			HeldBefore: held})
		return TaskOutput{Report: r}, err
	}
	f, esc, err := h.revokeWith(g)
	if err != nil {
		return TaskOutput{}, err
	}
	spec := h.spec(ctx, f, g)
	// Revoke with what is known (nothing, when no identity was ever found):
	// the escalator decides. A lookup that failed for a passing reason is
	// retried like the revoke, not skipped.
	id, err := h.revokeIdentity(ctx, f, g)
	if err != nil && latch.ErrorCodeOf(err) != identityNotFound {
		h.log().WarnContext(ctx, "finding the grantee's identity to revoke failed", "grant", g.ID, "err", err)
		return TaskOutput{}, taskErr("identity_unavailable", err)
	}
	spec.User.Identity = id
	if err := esc.Revoke(ctx, spec); err != nil {
		h.log().WarnContext(ctx, "revoking access failed", "grant", g.ID, "err", err)
		return TaskOutput{}, taskErr("deescalation_failed", err)
	}
	if err := latch.ConfirmRevoked(ctx, esc, spec); err != nil {
		h.log().WarnContext(ctx, "the check after the revoke failed", "grant", g.ID, "err", err)
		return TaskOutput{}, taskErr("revoke_unconfirmed", err)
	}
	h.log().InfoContext(ctx, "access revoked", "grant", g.ID)
	r, err := h.report(ctx, events.Message{Type: events.TypeDeescalated, ID: commandID("deescalated", g), GrantID: g.ID,
		Verified: latch.Checks(esc), HeldBefore: held})
	return TaskOutput{Report: r}, err
}

// revokeFailed records the revoke's error as its last (Tokens.PutRevokeError:
// the reconciler puts it in revoke_overdue). Recording is best effort: the
// revoke is retried whatever it does.
func (h *TaskHandler) revokeFailed(ctx context.Context, grantID string, err error) {
	if h.Tokens == nil {
		return
	}
	if perr := h.Tokens.PutRevokeError(ctx, grantID, ClipRevokeError(err.Error())); perr != nil {
		h.log().WarnContext(ctx, "recording the revoke's error failed", "grant", grantID, "err", perr)
	}
}

// cleanUp revokes what a failed escalation may have granted, when the grant
// is still escalating (the failure is not yet reported). It reports
// nothing: the escalation_failed report follows whatever it does.
func (h *TaskHandler) cleanUp(ctx context.Context, grantID string) error {
	g, err := h.Store.GetGrant(ctx, grantID)
	if err != nil {
		return taskErr("grant_unavailable", err)
	}
	if g.Status != latch.GrantEscalating {
		return nil
	}
	if held, err := h.recordedHeld(ctx, g); err != nil {
		return taskErr("held_before_unavailable", err)
	} else if isTrue(held) {
		return nil // the person's before Latch: nothing was granted
	}
	f, esc, err := h.revokeWith(g)
	if err != nil {
		return err
	}
	spec := h.spec(ctx, f, g)
	spec.User.Identity, _ = h.revokeIdentity(ctx, f, g) // what is known; the escalator decides
	if err := esc.Revoke(ctx, spec); err != nil {
		h.log().WarnContext(ctx, "taking back a failed grant failed; the target may still hold access", "grant", g.ID, "err", err)
		return taskErr("clean_up_failed", err)
	}
	h.log().InfoContext(ctx, "took back what a failed grant may have granted", "grant", g.ID)
	return nil
}

// failed builds the failure report of a grant still in status want.
func (h *TaskHandler) failed(ctx context.Context, in TaskInput, want latch.GrantStatus, typ events.Type, stage string) (TaskOutput, error) {
	g, err := h.Store.GetGrant(ctx, in.GrantID)
	if err != nil {
		return TaskOutput{}, taskErr("grant_unavailable", err)
	}
	if g.Status != want {
		return TaskOutput{}, nil
	}
	code, msg := causeOf(in.Error, string(typ))
	// An escalation of which some attempt failed otherwise than by a
	// refusal (PermanentError) may have granted all the same: the engine
	// keeps the grant open and revokes it until a revoke succeeds.
	maybeHeld := typ == events.TypeEscalationFailed && (in.MaybeHeld || in.Error == nil || in.Error.Error != ErrorPermanent)
	r, err := h.report(ctx, events.Message{Type: typ, ID: commandID(string(typ), g), GrantID: g.ID,
		Failure: &events.Failure{Code: code, Message: msg, Stage: stage, MaybeHeld: maybeHeld}})
	return TaskOutput{Report: r}, err
}

// hold records the Hold's token, then reads the grant, sends the report
// the grant calls for (due, or escalated again), and answers the Hold at
// once when the grant asks for something other than what it waits for.
// The order (write the token, then read the grant) is what makes early
// revoke and extension race-free: see the package documentation.
func (h *TaskHandler) hold(ctx context.Context, in TaskInput, started time.Time) error {
	if in.TaskToken == "" || in.Hold == nil {
		return &PermanentError{Code: "invalid_task", Message: "a hold task needs task_token and hold"}
	}
	if err := h.Tokens.PutHoldToken(ctx, in.GrantID, in.TaskToken, in.Hold.Until, started); err != nil {
		return taskErr("token_store", err)
	}
	g, err := h.Store.GetGrant(ctx, in.GrantID)
	if err != nil {
		return taskErr("grant_unavailable", err)
	}
	d := DecideHold(g, h.now(), *in.Hold, h.Timing.orDefault())
	if d.Report != nil {
		if d.Report.Type == events.TypeEscalated {
			// The escalated report sent again (the first was lost) carries
			// what the escalate task recorded of access held before Latch.
			if held, err := h.recordedHeld(ctx, g); err != nil {
				h.log().WarnContext(ctx, "the escalated report is sent again without held_before", "grant", g.ID, "err", err)
			} else {
				d.Report.HeldBefore = held
			}
		}
		if _, err := h.report(ctx, *d.Report); err != nil {
			return err
		}
	}
	if d.Answer == nil {
		return nil
	}
	out, err := json.Marshal(d.Answer)
	if err != nil {
		return taskErr("answer", err)
	}
	if err := h.Completer.Complete(ctx, in.TaskToken, out); err != nil && !errors.Is(err, ErrTokenGone) {
		return taskErr("send_task_success", err)
	}
	return nil
}

// HoldDecision is what a Hold task does: send Report to the events queue
// (when set), then complete its own task with Answer (when set). With no
// Answer the task waits: for its timeout, or for the engine.
type HoldDecision struct {
	Report *events.Message
	Answer *Answer
}

// DecideHold is what a Hold waiting as hold does about grant g at now.
//
//   - deescalating: revoke now;
//   - ended or failed: end (this execution revokes nothing it did not grant);
//   - active and due (its next lease end has passed): report due (again, on
//     a Recheck: the engine did not act on the first within DueRecheck),
//     and wait at most DueRecheck for the engine's answer;
//   - escalating: wait for the engine, which records the escalation, until
//     the lease end (fixed when the grant was approved, so the engine's
//     wake-up finds the Hold waiting for it and leaves it). On a Recheck of
//     a grant that has not changed for DueRecheck, send the escalated report
//     again (the first was lost: dead-lettered, say); once the end has
//     passed, look again every DueRecheck;
//   - otherwise, holding for another end than the grant's next one, or on
//     a Recheck: hold again until that end;
//   - otherwise: wait.
func DecideHold(g latch.Grant, now time.Time, hold Hold, t Timing) HoldDecision {
	switch g.Status {
	case latch.GrantDeescalating:
		return HoldDecision{Answer: &Answer{Action: AnswerDeescalate}}
	case latch.GrantEnded, latch.GrantFailed:
		return HoldDecision{Answer: &Answer{Action: AnswerEnd}}
	}
	recheck := t.seconds(t.DueRecheck)
	next, ok := g.NextDue()
	until := ""
	if ok {
		until = formatUntil(next)
	}
	due := ok && !now.Before(next)
	var d HoldDecision
	// waitRecheck waits at most DueRecheck, for the engine.
	waitRecheck := func() HoldDecision {
		if hold.Seconds > recheck || hold.Until != until {
			d.Answer = &Answer{Action: AnswerHold, Hold: &Hold{Until: until, Seconds: recheck, Recheck: true}}
		}
		return d
	}
	if g.Status == latch.GrantEscalating {
		if hold.Recheck && now.Sub(g.UpdatedAt) >= t.DueRecheck {
			d.Report = &events.Message{Type: events.TypeEscalated, ID: commandID("escalated", g), GrantID: g.ID, At: now}
		}
		if due {
			return waitRecheck()
		}
	} else if due {
		at := now
		if at.Before(next) {
			at = next
		}
		d.Report = &events.Message{Type: events.TypeDue, ID: fmt.Sprintf("due/%s/%d", g.ID, next.UnixNano()), GrantID: g.ID, At: at}
		return waitRecheck()
	}
	if hold.Recheck || hold.Until != until {
		d.Answer = &Answer{Action: AnswerHold, Hold: HoldFor(next, ok, now, t)}
	}
	return d
}

// HoldFor is the Hold until end (none when !ok) as of now: its timeout is the
// time left, rounded up to whole seconds (so that it never fires before the
// end), at least 1 and at most t.MaxHold.
func HoldFor(end time.Time, ok bool, now time.Time, t Timing) *Hold {
	if !ok {
		return &Hold{Seconds: t.seconds(t.MaxHold)}
	}
	left := math.Ceil(end.Sub(now).Seconds())
	secs := max(int64(1), min(int64(left), t.seconds(t.MaxHold)))
	if left < 1 {
		secs = 1
	}
	return &Hold{Until: formatUntil(end), Seconds: secs}
}

func formatUntil(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// report sends m (stamped now when it has no time) to the events queue,
// and returns it as sent. A report that cannot be sent is a *ReportError.
func (h *TaskHandler) report(ctx context.Context, m events.Message) (*Report, error) {
	if m.At.IsZero() {
		m.At = h.now()
	}
	m.Version = events.Version
	body, err := events.Marshal(m)
	if err != nil {
		return nil, &TaskError{Code: "invalid_report", Message: err.Error()}
	}
	if h.Reports == nil {
		return nil, &ReportError{Code: "report_unsent", Message: "the task handler has no events queue to report to"}
	}
	if err := h.Reports.Send(ctx, m); err != nil {
		h.log().WarnContext(ctx, "sending the report failed", "grant", m.GrantID, "report", m.ID, "err", err)
		return nil, &ReportError{Code: "report_unsent", Message: clip(err.Error())}
	}
	return &Report{ID: m.ID, Body: string(body)}, nil
}

// spec is what the escalator is told about g (latch.NewGrantSpec, as
// pkg/local tells it).
func (h *TaskHandler) spec(ctx context.Context, f *latch.Flow, g latch.Grant) latch.GrantSpec {
	var first *latch.Request
	if id := g.FirstRequestID(); id != "" {
		if req, err := h.Store.GetRequest(ctx, id); err == nil {
			first = &req
		}
	}
	return latch.NewGrantSpec(f, &g, first, h.now())
}

func (h *TaskHandler) identity(ctx context.Context, f *latch.Flow, g latch.Grant) (string, error) {
	if h.Identity == nil {
		return g.User.Email, nil
	}
	return h.Identity(ctx, f, g.User)
}

// identityNotFound is the code of the identity resolver's "nobody knows
// this person" (pkg/identity.CodeNotFound).
const identityNotFound = "identity_not_found"

// commandID names a report uniquely per grant version, as pkg/local does,
// so a report repeated for the same state is a duplicate and a later one is
// not.
func commandID(kind string, g latch.Grant) string {
	return fmt.Sprintf("%s/%s/v%d", kind, g.ID, g.Version)
}

func taskErr(code string, err error) *TaskError {
	c, msg := failureOf(err, code)
	return &TaskError{Code: c, Message: msg}
}

// failureOf is the code and message a failure is reported with: a
// latch.Error's own, else code and the error's text.
func failureOf(err error, code string) (string, string) {
	var le *latch.Error
	if errors.As(err, &le) && le.Code != "" {
		return le.Code, le.Message
	}
	return code, err.Error()
}

// causeOf reads the code and message of a caught error: a PermanentError or
// TaskError of ours keeps its code; anything else (a Lambda timeout, a
// service error) is reported under code with its name and cause.
func causeOf(e *StatesError, code string) (string, string) {
	if e == nil {
		return code, "the task failed for an unknown reason"
	}
	var lambdaErr struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	if json.Unmarshal([]byte(e.Cause), &lambdaErr) == nil && lambdaErr.Message != "" {
		if e.Error == ErrorPermanent || e.Error == ErrorTask {
			if c, msg, ok := strings.Cut(lambdaErr.Message, ": "); ok && c != "" && !strings.ContainsAny(c, " \t\n") {
				return c, msg
			}
		}
		return code, clip(e.Error + ": " + lambdaErr.Message)
	}
	if e.Cause == "" {
		return code, clip(e.Error)
	}
	return code, clip(e.Error + ": " + e.Cause)
}

// clip keeps a failure message short enough for a report.
func clip(s string) string { return clipTo(s, 2000) }

// clipTo cuts s to at most limit bytes of valid UTF-8, the cut marked "…".
func clipTo(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "…"
	return strings.ToValidUTF8(s[:limit-len(mark)], "") + mark
}
