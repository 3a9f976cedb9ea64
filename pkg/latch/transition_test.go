package latch_test

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// requestIn returns the test request as the lifecycle leaves it in status s.
func requestIn(tb testing.TB, s latch.Status) latch.Request {
	tb.Helper()
	start, end := at(5*time.Minute), at(65*time.Minute)
	switch s {
	case latch.StatusPending:
		return pending("r1")
	case latch.StatusApproved:
		return req("r1", status(s), noExpiry, approvedBy(decision(bob, at(time.Minute))), seq(2))
	case latch.StatusScheduled:
		return scheduledReq("r1", at(2*time.Hour))
	case latch.StatusEscalating:
		return escalating("r1", "g1")
	case latch.StatusActive:
		return active("r1", "g1", start, end)
	case latch.StatusDeescalating:
		return deescalating("r1", "g1", start, end)
	case latch.StatusEnded:
		return active("r1", "g1", start, end, status(s), seq(4))
	case latch.StatusDenied:
		return req("r1", status(s), noExpiry, decided(decision(bob, at(time.Minute))), seq(2))
	case latch.StatusCancelled:
		return req("r1", status(s), noExpiry, decided(decision(ann, at(time.Minute))), seq(2))
	case latch.StatusExpired:
		return req("r1", status(s), noExpiry, seq(2))
	case latch.StatusFailed:
		return escalating("r1", "g1", failed("target_error", "The group does not exist.", latch.StageEscalate), seq(3))
	}
	tb.Fatalf("no fixture for status %q", s)
	return latch.Request{}
}

// standardCommand is, for each kind, the command and environment under which
// it acts when the request's status allows: given by someone entitled to,
// and late enough for timers.
func standardCommand(tb testing.TB, k latch.CommandKind) (latch.Command, latch.Env) {
	tb.Helper()
	f := testFlow()
	cmd := latch.Command{ID: "c1", Kind: k, RequestID: "r1", At: at(3 * time.Hour)}
	env := latch.Env{Flow: f, Requester: ann}
	person := func(u *latch.User) {
		cmd.Actor = by(u)
		env.Actor = u
	}
	switch k {
	case latch.CmdApprove, latch.CmdDeny:
		person(bob)
	case latch.CmdCancel, latch.CmdRevoke:
		person(ann)
	case latch.CmdRetry:
		person(dan)
	case latch.CmdEscalated:
		env.Lease = &latch.Lease{RequestID: "r1", Duration: 3600, StartsAt: at(3 * time.Hour), EndsAt: at(4 * time.Hour)}
	case latch.CmdEscalationFailed, latch.CmdDeescalationFailed, latch.CmdOverdue:
		cmd.Failure = &latch.Failure{Code: "throttled", Message: "The target API refused."}
	case latch.CmdForward:
		env.Flow = testFlow(forwarding)
		cmd.Step = 1
	case latch.CmdAutoApprove:
		env.Flow = testFlow(autoApproveOnCall)
		env.OnCall = latch.OnCall{Requester: true}
	case latch.CmdExtend:
		person(ann)
		env.Flow = testFlow(extendable(time.Hour))
		cmd.Duration = 1800
	case latch.CmdExpire, latch.CmdDue, latch.CmdDeescalated:
	case latch.CmdStart: // a timer, after the scheduled start (at(2h)), within its hour
		cmd.At = at(150 * time.Minute)
	default:
		tb.Fatalf("no standard command for kind %q", k)
	}
	if k.GrantLevel() {
		cmd.RequestID, cmd.GrantID = "", "g1"
	}
	return cmd, env
}

// acted is what a transition that applies does: the new status, what it
// asks of the grant, what it records and what it asks to be done.
type acted struct {
	status  latch.Status
	op      latch.GrantOp
	audit   []latch.AuditType
	effects []string // kind:event or kind:hook
}

// lifecycle is, for each command kind, the statuses it acts on and what it
// does there. Everywhere else a command from a person is a conflict and one
// from Latch a no-op.
var lifecycle = map[latch.CommandKind]map[latch.Status]acted{
	latch.CmdApprove: {latch.StatusPending: {latch.StatusEscalating, latch.GrantJoin,
		[]latch.AuditType{latch.AuditApproved}, []string{"notify:approved", "hook:on_approve"}}},
	latch.CmdDeny: {latch.StatusPending: {latch.StatusDenied, latch.GrantNone,
		[]latch.AuditType{latch.AuditDenied}, []string{"notify:denied", "hook:on_deny"}}},
	latch.CmdCancel: {latch.StatusPending: {latch.StatusCancelled, latch.GrantNone,
		[]latch.AuditType{latch.AuditCancelled}, []string{"notify:cancelled"}},
		// A scheduled request holds no grant: cancelling it asks nothing of one.
		latch.StatusScheduled: {latch.StatusCancelled, latch.GrantNone,
			[]latch.AuditType{latch.AuditCancelled}, []string{"notify:cancelled"}}},
	// The standard revoke is the requester's own: "I'm done", released.
	latch.CmdRevoke: {latch.StatusActive: {latch.StatusDeescalating, latch.GrantLeave,
		[]latch.AuditType{latch.AuditReleased}, nil}},
	latch.CmdExpire: {latch.StatusPending: {latch.StatusExpired, latch.GrantNone,
		[]latch.AuditType{latch.AuditExpired}, []string{"notify:expired"}}},
	latch.CmdEscalated: {latch.StatusEscalating: {latch.StatusActive, latch.GrantNone,
		[]latch.AuditType{latch.AuditEscalated}, []string{"notify:escalated", "hook:after_escalate"}}},
	latch.CmdEscalationFailed: {latch.StatusEscalating: {latch.StatusFailed, latch.GrantNone,
		[]latch.AuditType{latch.AuditFailed}, []string{"notify:failed"}}},
	latch.CmdDue: {latch.StatusActive: {latch.StatusDeescalating, latch.GrantLeave, nil, nil}},
	latch.CmdDeescalated: {latch.StatusDeescalating: {latch.StatusEnded, latch.GrantNone,
		[]latch.AuditType{latch.AuditDeescalated}, []string{"hook:after_deescalate", "notify:deescalated"}}},
	// A revoke is never given up: the request stays deescalating, and the
	// failure is loud.
	latch.CmdDeescalationFailed: {latch.StatusDeescalating: {latch.StatusDeescalating, latch.GrantNone,
		[]latch.AuditType{latch.AuditRevokeOverdue}, []string{"notify:revoke_overdue"}}},
	latch.CmdOverdue: {
		latch.StatusDeescalating: {latch.StatusDeescalating, latch.GrantNone,
			[]latch.AuditType{latch.AuditRevokeOverdue}, []string{"notify:revoke_overdue"}},
		latch.StatusActive: {latch.StatusActive, latch.GrantNone,
			[]latch.AuditType{latch.AuditRevokeOverdue}, []string{"notify:revoke_overdue"}},
	},
	latch.CmdRetry: {latch.StatusFailed: {latch.StatusEscalating, latch.GrantJoin,
		[]latch.AuditType{latch.AuditRetried}, nil}},
	// Only a pending request is forwarded; the next step's timer is set.
	latch.CmdForward: {latch.StatusPending: {latch.StatusPending, latch.GrantNone,
		[]latch.AuditType{latch.AuditForwarded}, []string{"notify:forwarded", "forward"}}},
	// The flow's rule approves a new request as the flow itself.
	latch.CmdAutoApprove: {latch.StatusPending: {latch.StatusEscalating, latch.GrantJoin,
		[]latch.AuditType{latch.AuditApproved}, []string{"notify:approved", "hook:on_approve"}}},
	// A scheduled request's start has come: it takes its lease (the
	// grant's escalation records the escalated event).
	latch.CmdStart: {latch.StatusScheduled: {latch.StatusEscalating, latch.GrantJoin, nil, nil}},
	// The requester's extension within the flow's auto_within is granted
	// at once: the request stays active and its lease moves.
	latch.CmdExtend: {latch.StatusActive: {latch.StatusActive, latch.GrantExtend,
		[]latch.AuditType{latch.AuditExtended}, []string{"notify:extended"}}},
}

// fromPeople are the commands a person gives.
var fromPeople = map[latch.CommandKind]bool{
	latch.CmdApprove: true, latch.CmdDeny: true, latch.CmdCancel: true, latch.CmdRevoke: true, latch.CmdRetry: true,
	latch.CmdExtend: true,
}

func auditTypes(evs []latch.AuditEvent) []latch.AuditType {
	var out []latch.AuditType
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func effectNames(effs []latch.Effect) []string {
	var out []string
	for _, e := range effs {
		switch e.Kind {
		case latch.EffectNotify:
			out = append(out, fmt.Sprintf("notify:%s", e.Event))
		case latch.EffectHook:
			out = append(out, fmt.Sprintf("hook:%s", e.Hook))
		default:
			out = append(out, string(e.Kind))
		}
	}
	return out
}

// TestApplyEveryStatusAndCommand runs every command kind against a request in
// every status: each pair either moves the request, is a no-op, or is refused
// as a conflict.
func TestApplyEveryStatusAndCommand(t *testing.T) {
	for _, k := range latch.CommandKinds {
		if breakGlassKinds[k] {
			continue // TestApplyBreakGlassEveryStatus
		}
		if _, ok := lifecycle[k]; !ok {
			t.Fatalf("command kind %q is missing from the lifecycle table", k)
		}
	}
	for _, s := range latch.Statuses {
		for _, k := range latch.CommandKinds {
			if breakGlassKinds[k] {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", s, k), func(t *testing.T) {
				give := requestIn(t, s)
				cmd, env := standardCommand(t, k)
				got, err := give.Apply(cmd, env)

				want, acts := lifecycle[k][s]
				switch {
				case acts:
					if err != nil {
						t.Fatalf("Apply: %v", err)
					}
					if got.Noop {
						t.Fatalf("Apply is a no-op, want status %s", want.status)
					}
					diff(t, "status", want.status, got.Request.Status)
					diff(t, "grant op", want.op, got.Grant)
					diff(t, "audit types", want.audit, auditTypes(got.Audit))
					diff(t, "effects", want.effects, effectNames(got.Effects))
				case fromPeople[k]:
					var wantStatus latch.Status
					for ws := range lifecycle[k] {
						wantStatus = ws
					}
					if _, ok := lifecycle[k][latch.StatusPending]; ok {
						wantStatus = latch.StatusPending // cancel: named after pending, also allowed when scheduled
					}
					wantKindCode(t, err, latch.KindConflict, "not_"+string(wantStatus))
					var le *latch.Error
					errors.As(err, &le)
					diff(t, "details", map[string]any{"status": string(s)}, le.Details)
				default:
					if err != nil {
						t.Fatalf("Apply: %v, want a no-op", err)
					}
					diff(t, "outcome", latch.Outcome{Request: give, Noop: true}, got)
				}
			})
		}
	}
}

// TestApplyRevokeEveryStatus runs the early end of access by the requester
// ("I'm done") and by an approver, on flows that do and do not allow
// revoke, against a request in every status: only an active request ends,
// recorded as released when it is the requester's own and revoked
// otherwise; elsewhere it is a conflict, whoever asks.
func TestApplyRevokeEveryStatus(t *testing.T) {
	tests := []struct {
		name     string
		flow     *latch.Flow
		actor    *latch.User
		want     latch.AuditType
		wantCode string // on an active request
	}{
		{name: "requester, revoke allowed", flow: testFlow(), actor: ann, want: latch.AuditReleased},
		{name: "requester, revoke not allowed", flow: testFlow(noRevoke), actor: ann, want: latch.AuditReleased},
		{name: "approver, revoke allowed", flow: testFlow(), actor: bob, want: latch.AuditRevoked},
		{name: "approver, revoke not allowed", flow: testFlow(noRevoke), actor: bob, wantCode: latch.CodeRevokeNotAllowed},
		{name: "someone else, revoke allowed", flow: testFlow(), actor: eve, wantCode: latch.CodeNotApprover},
	}
	for _, tt := range tests {
		for _, s := range latch.Statuses {
			t.Run(fmt.Sprintf("%s/%s", tt.name, s), func(t *testing.T) {
				give := requestIn(t, s)
				cmd := latch.Command{ID: "c1", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(tt.actor), At: at(3 * time.Hour)}
				got, err := give.Apply(cmd, latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: ann})
				switch {
				case s != latch.StatusActive:
					wantKindCode(t, err, latch.KindConflict, "not_active")
				case tt.wantCode != "":
					wantKindCode(t, err, latch.KindForbidden, tt.wantCode)
				default:
					if err != nil {
						t.Fatalf("Apply: %v", err)
					}
					diff(t, "status", latch.StatusDeescalating, got.Request.Status)
					diff(t, "grant op", latch.GrantLeave, got.Grant)
					diff(t, "audit types", []latch.AuditType{tt.want}, auditTypes(got.Audit))
					diff(t, "decision by", by(tt.actor), got.Request.Decision.By)
				}
			})
		}
	}
}

func TestApplyRefusals(t *testing.T) {
	tests := []struct {
		name     string
		give     latch.Request
		cmd      latch.Command
		env      latch.Env
		wantKind latch.ErrorKind
		wantCode string
	}{
		{
			name:     "unknown command is invalid",
			give:     pending("r1"),
			cmd:      latch.Command{ID: "c1", Kind: "sing", Actor: by(ann), At: at(time.Minute)},
			env:      latch.Env{Flow: testFlow(), Actor: ann, Requester: ann},
			wantKind: latch.KindInvalid,
			wantCode: "unknown_command",
		},
		{
			name:     "approve by someone Latch does not know",
			give:     pending("r1"),
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdApprove, Actor: latch.Actor{Email: "who@example.com"}, At: at(time.Minute)},
			env:      latch.Env{Flow: testFlow(), Requester: ann},
			wantKind: latch.KindForbidden,
			wantCode: latch.CodeUnknownUser,
		},
		{
			name:     "revoke by someone Latch does not know",
			give:     active("r1", "g1", at(time.Minute), at(time.Hour)),
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdRevoke, Actor: latch.Actor{Email: "who@example.com"}, At: at(time.Minute)},
			env:      latch.Env{Flow: testFlow(), Requester: ann},
			wantKind: latch.KindForbidden,
			wantCode: latch.CodeUnknownUser,
		},
		{
			name:     "cancel by someone Latch does not know",
			give:     pending("r1"),
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdCancel, Actor: latch.Actor{Email: "who@example.com"}, At: at(time.Minute)},
			env:      latch.Env{Flow: testFlow(), Requester: ann},
			wantKind: latch.KindForbidden,
			wantCode: latch.CodeUnknownUser,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.give.Apply(tt.cmd, tt.env)
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
		})
	}

	t.Run("no flow is an error, not a panic", func(t *testing.T) {
		r := pending("r1")
		if _, err := r.Apply(latch.Command{Kind: latch.CmdExpire, At: at(2 * time.Hour)}, latch.Env{}); err == nil {
			t.Fatal("Apply without a flow succeeded")
		}
	})
}

func TestApplyQuorum(t *testing.T) {
	approve := func(u *latch.User, email, bot string) latch.Command {
		return latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: latch.Actor{Email: email, Bot: bot},
			Reason: "looks fine", At: at(10 * time.Minute)}
	}
	tests := []struct {
		name       string
		flow       *latch.Flow
		give       latch.Request
		actor      *latch.User
		actorEmail string // as the command names the actor; defaults to the user's email
		actorBot   string // the bot acting as the actor, if any
		want       latch.Outcome
		wantKind   latch.ErrorKind
		wantCode   string
	}{
		{
			name:  "first approval of two is recorded and the request stays pending",
			flow:  testFlow(quorum(2), approvers(bob.Email, cat.Email, eve.Email)),
			give:  pending("r1"),
			actor: bob,
			want: latch.Outcome{
				Request: pending("r1", approvedBy(latch.Decision{By: by(bob), At: at(10 * time.Minute), Reason: "looks fine"})),
				Audit: []latch.AuditEvent{{Type: latch.AuditApprovalAdded, Actor: by(bob), Reason: "looks fine",
					Data: map[string]any{"approvals": 1, "quorum": 2}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApprovalAdded}},
			},
		},
		{
			name:  "second distinct approval meets the quorum",
			flow:  testFlow(quorum(2), approvers(bob.Email, cat.Email, eve.Email)),
			give:  pending("r1", approvedBy(decision(bob, at(5*time.Minute)))),
			actor: cat,
			want: latch.Outcome{
				Request: pending("r1", status(latch.StatusEscalating), noExpiry, approvedBy(decision(bob, at(5*time.Minute)),
					latch.Decision{By: by(cat), At: at(10 * time.Minute), Reason: "looks fine"})),
				Audit:   []latch.AuditEvent{{Type: latch.AuditApproved, Actor: by(cat), Reason: "looks fine"}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApproved}, {Kind: latch.EffectHook, Hook: latch.HookOnApprove}},
				Grant:   latch.GrantJoin,
			},
		},
		{
			name:     "the same approver twice does not count twice",
			flow:     testFlow(quorum(2), approvers(bob.Email, cat.Email, eve.Email)),
			give:     pending("r1", approvedBy(decision(bob, at(5*time.Minute)))),
			actor:    bob,
			wantKind: latch.KindConflict,
			wantCode: "already_approved",
		},
		{
			name:       "the same approver twice, named in other case, does not count twice",
			flow:       testFlow(quorum(2), approvers(bob.Email, cat.Email, eve.Email)),
			give:       pending("r1", approvedBy(latch.Decision{By: latch.Actor{Email: "BOB@example.com"}, At: at(5 * time.Minute)})),
			actor:      bob,
			actorEmail: "Bob@Example.com",
			wantKind:   latch.KindConflict,
			wantCode:   "already_approved",
		},
		{
			name:     "a bot that approved as one person does not approve again as another",
			flow:     testFlow(quorum(2), approvers(bob.Email, cat.Email, eve.Email)),
			give:     pending("r1", approvedBy(latch.Decision{By: latch.Actor{Email: bob.Email, Bot: "deploybot"}, At: at(5 * time.Minute)})),
			actor:    cat,
			actorBot: "deploybot",
			wantKind: latch.KindConflict,
			wantCode: "already_approved",
		},
		{
			name:  "a quorum of zero means one",
			flow:  testFlow(quorum(0)),
			give:  pending("r1"),
			actor: bob,
			want: latch.Outcome{
				Request: pending("r1", status(latch.StatusEscalating), noExpiry,
					approvedBy(latch.Decision{By: by(bob), At: at(10 * time.Minute), Reason: "looks fine"})),
				Audit:   []latch.AuditEvent{{Type: latch.AuditApproved, Actor: by(bob), Reason: "looks fine"}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApproved}, {Kind: latch.EffectHook, Hook: latch.HookOnApprove}},
				Grant:   latch.GrantJoin,
			},
		},
		{
			name:  "approval-only flow ends at approved and asks nothing of a grant",
			flow:  testFlow(approvalOnly),
			give:  pending("r1"),
			actor: bob,
			want: latch.Outcome{
				Request: pending("r1", status(latch.StatusApproved), noExpiry,
					approvedBy(latch.Decision{By: by(bob), At: at(10 * time.Minute), Reason: "looks fine"})),
				Audit:   []latch.AuditEvent{{Type: latch.AuditApproved, Actor: by(bob), Reason: "looks fine"}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApproved}, {Kind: latch.EffectHook, Hook: latch.HookOnApprove}},
			},
		},
		{
			name:  "no on_approve hook configured, none called",
			flow:  testFlow(noHooks),
			give:  pending("r1"),
			actor: bob,
			want: latch.Outcome{
				Request: pending("r1", status(latch.StatusEscalating), noExpiry,
					approvedBy(latch.Decision{By: by(bob), At: at(10 * time.Minute), Reason: "looks fine"})),
				Audit:   []latch.AuditEvent{{Type: latch.AuditApproved, Actor: by(bob), Reason: "looks fine"}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApproved}},
				Grant:   latch.GrantJoin,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := tt.actorEmail
			if email == "" {
				email = tt.actor.Email
			}
			before := len(tt.give.Approvals)
			got, err := tt.give.Apply(approve(tt.actor, email, tt.actorBot), latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: ann})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			if len(tt.give.Approvals) != before {
				t.Errorf("Apply changed the given request's approvals")
			}
			if err != nil {
				return
			}
			diff(t, "outcome", tt.want, got)
			if final := got.Request.Status.Final(); final != (got.Request.Status == latch.StatusApproved) {
				t.Errorf("status %s Final() = %v", got.Request.Status, final)
			}
		})
	}
}

// TestApplyWhoMayDecide checks approve and deny against who the actor is.
func TestApplyWhoMayDecide(t *testing.T) {
	var seen latch.RuleVars
	recording := ruleFunc(func(v latch.RuleVars) (bool, error) {
		seen = v
		return v.Approver.Email == eve.Email, nil
	})
	tests := []struct {
		name      string
		flow      *latch.Flow
		kind      latch.CommandKind
		give      latch.Request
		requester *latch.User
		actor     *latch.User
		want      latch.Status
		wantKind  latch.ErrorKind
		wantCode  string
	}{
		{name: "a listed approver approves", flow: testFlow(), kind: latch.CmdApprove, actor: bob, want: latch.StatusEscalating},
		{name: "listed approvers are compared case-insensitively", flow: testFlow(approvers("  CAT@Example.Com ")),
			kind: latch.CmdApprove, actor: cat, want: latch.StatusEscalating},
		{name: "someone neither listed nor allowed by a rule may not approve", flow: testFlow(), kind: latch.CmdApprove,
			actor: eve, wantKind: latch.KindForbidden, wantCode: latch.CodeNotApprover},
		{name: "someone neither listed nor allowed by a rule may not deny", flow: testFlow(), kind: latch.CmdDeny,
			actor: eve, wantKind: latch.KindForbidden, wantCode: latch.CodeNotApprover},
		{name: "the requester may not approve their own request", flow: testFlow(approvers(ann.Email, bob.Email)),
			kind: latch.CmdApprove, actor: ann, wantKind: latch.KindForbidden, wantCode: latch.CodeSelfApproval},
		{name: "the requester may not deny their own request either", flow: testFlow(approvers(ann.Email, bob.Email)),
			kind: latch.CmdDeny, actor: ann, wantKind: latch.KindForbidden, wantCode: latch.CodeSelfApproval},
		{name: "a listed requester approves their own request where self-approval is allowed",
			flow: testFlow(approvers(ann.Email), selfApproval), kind: latch.CmdApprove, actor: ann, want: latch.StatusEscalating},
		{name: "self-approval allowed still needs the requester to be an approver", flow: testFlow(selfApproval),
			kind: latch.CmdApprove, actor: ann, wantKind: latch.KindForbidden, wantCode: latch.CodeNotApprover},
		{name: "an admin not listed may approve", flow: testFlow(), kind: latch.CmdApprove, actor: dan, want: latch.StatusEscalating},
		{name: "an admin not listed may deny", flow: testFlow(), kind: latch.CmdDeny, actor: dan, want: latch.StatusDenied},
		{name: "an admin may not approve their own request", flow: testFlow(), kind: latch.CmdApprove,
			give: pending("r1", requester(dan)), requester: dan, actor: dan, wantKind: latch.KindForbidden, wantCode: latch.CodeSelfApproval},
		{name: "an admin approves their own request where self-approval is allowed", flow: testFlow(selfApproval),
			kind: latch.CmdApprove, give: pending("r1", requester(dan)), requester: dan, actor: dan, want: latch.StatusEscalating},
		{name: "an admin is not asked the rule", flow: testFlow(rule(brokenRule)), kind: latch.CmdApprove, actor: dan,
			want: latch.StatusEscalating},
		{name: "the rule allows an approver", flow: testFlow(rule(allowEmails(eve.Email))), kind: latch.CmdApprove,
			actor: eve, want: latch.StatusEscalating},
		{name: "the rule refuses an approver", flow: testFlow(rule(allowEmails(cat.Email))), kind: latch.CmdApprove,
			actor: eve, wantKind: latch.KindForbidden, wantCode: latch.CodeNotApprover},
		{name: "a rule that fails is a rule_error the person is told of", flow: testFlow(rule(brokenRule)), kind: latch.CmdApprove,
			actor: eve, wantKind: latch.KindInvalid, wantCode: latch.CodeRuleError},
		{name: "a rule that fails refuses a denial too", flow: testFlow(rule(brokenRule)), kind: latch.CmdDeny,
			actor: eve, wantKind: latch.KindInvalid, wantCode: latch.CodeRuleError},
		{name: "a listed approver is not asked the rule", flow: testFlow(rule(brokenRule)), kind: latch.CmdApprove,
			actor: bob, want: latch.StatusEscalating},
		{name: "a guest approver is refused on a flow without guest interaction",
			flow: testFlow(approvers(gus.Email)), kind: latch.CmdApprove, actor: gus,
			wantKind: latch.KindForbidden, wantCode: latch.CodeGuestNotAllowed},
		{name: "a guest approver approves where the flow allows guests",
			flow: testFlow(approvers(gus.Email), guests), kind: latch.CmdApprove, actor: gus, want: latch.StatusEscalating},
		{name: "a guest must still be an approver where the flow allows guests",
			flow: testFlow(guests), kind: latch.CmdDeny, actor: gus, wantKind: latch.KindForbidden, wantCode: latch.CodeNotApprover},
		{name: "a guest is refused before the rule is asked", flow: testFlow(rule(brokenRule)), kind: latch.CmdDeny,
			actor: gus, wantKind: latch.KindForbidden, wantCode: latch.CodeGuestNotAllowed},
		{name: "one denial ends a request that needs two approvals", flow: testFlow(quorum(2)), kind: latch.CmdDeny,
			give: pending("r1", approvedBy(decision(bob, at(time.Minute)))), actor: cat, want: latch.StatusDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give := tt.give
			if give.ID == "" {
				give = pending("r1")
			}
			requester := tt.requester
			if requester == nil {
				requester = ann
			}
			cmd := latch.Command{ID: "c1", Kind: tt.kind, RequestID: "r1", Actor: by(tt.actor), Reason: "ok", At: at(10 * time.Minute)}
			got, err := give.Apply(cmd, latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: requester})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			if err != nil {
				return
			}
			diff(t, "status", tt.want, got.Request.Status)
			if tt.kind == latch.CmdDeny {
				diff(t, "decision", &latch.Decision{By: by(tt.actor), At: at(10 * time.Minute), Reason: "ok"}, got.Request.Decision)
				diff(t, "expires at", (*time.Time)(nil), got.Request.ExpiresAt)
			}
		})
	}

	t.Run("the rule's error is wrapped, not shown", func(t *testing.T) {
		r := pending("r1")
		_, err := r.Apply(latch.Command{Kind: latch.CmdApprove, Actor: by(eve), At: at(time.Minute)},
			latch.Env{Flow: testFlow(rule(brokenRule)), Actor: eve, Requester: ann})
		if !errors.Is(err, errRuleBroken) {
			t.Errorf("error %v does not wrap the rule's error", err)
		}
		if msg := latch.ErrorMessageOf(err); msg == "" || msg == errRuleBroken.Error() {
			t.Errorf("message for people = %q", msg)
		}
	})

	t.Run("the rule sees approver, requester, request and flow", func(t *testing.T) {
		f := testFlow(rule(recording))
		r := pending("r1")
		if _, err := r.Apply(latch.Command{Kind: latch.CmdApprove, Actor: by(eve), At: at(time.Minute)},
			latch.Env{Flow: f, Actor: eve, Requester: ann}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if seen.Approver != eve || seen.Requester != ann || seen.Flow != f {
			t.Errorf("rule saw approver %v, requester %v, flow %p; want eve, ann, %p", seen.Approver, seen.Requester, seen.Flow, f)
		}
		if seen.Request == nil {
			t.Fatal("rule saw no request")
		}
		diff(t, "request the rule saw", r, *seen.Request)
	})
}

func TestApplyCancel(t *testing.T) {
	tests := []struct {
		name     string
		actor    *latch.User
		wantCode string
	}{
		{name: "the requester cancels", actor: ann},
		{name: "an admin cancels", actor: dan},
		{name: "an approver may not cancel", actor: bob, wantCode: latch.CodeNotRequester},
		{name: "someone else may not cancel", actor: eve, wantCode: latch.CodeNotRequester},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := latch.Command{ID: "c1", Kind: latch.CmdCancel, Actor: by(tt.actor), Reason: "not needed", At: at(time.Minute)}
			got, err := pending("r1").Apply(cmd, latch.Env{Flow: testFlow(), Actor: tt.actor, Requester: ann})
			wantKindCode(t, err, latch.KindForbidden, tt.wantCode)
			if err != nil {
				return
			}
			want := latch.Outcome{
				Request: pending("r1", status(latch.StatusCancelled), noExpiry,
					decided(latch.Decision{By: by(tt.actor), At: at(time.Minute), Reason: "not needed"})),
				Audit:   []latch.AuditEvent{{Type: latch.AuditCancelled, Actor: by(tt.actor), Reason: "not needed"}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditCancelled}},
			}
			diff(t, "outcome", want, got)
		})
	}
}

func TestApplyRevoke(t *testing.T) {
	adminAnn := &latch.User{ID: ann.ID, Email: ann.Email, Role: latch.RoleAdmin, Kind: latch.KindPerson}
	guestAnn := &latch.User{ID: ann.ID, Email: ann.Email, Role: latch.RoleGuest, Kind: latch.KindPerson}
	tests := []struct {
		name     string
		flow     *latch.Flow
		actor    *latch.User
		want     latch.AuditType // revoked unless set
		wantKind latch.ErrorKind
		wantCode string
	}{
		{name: "the requester is done early: released", flow: testFlow(), actor: ann, want: latch.AuditReleased},
		{name: "an admin who is the requester releases", flow: testFlow(noRevoke), actor: adminAnn, want: latch.AuditReleased},
		{name: "a requester who became a guest still releases their own access", flow: testFlow(noRevoke), actor: guestAnn,
			want: latch.AuditReleased},
		{name: "a listed approver revokes", flow: testFlow(), actor: bob},
		{name: "an approver by rule revokes", flow: testFlow(rule(allowEmails(eve.Email))), actor: eve},
		{name: "an admin revokes", flow: testFlow(), actor: dan},
		{name: "someone else may not revoke", flow: testFlow(), actor: eve,
			wantKind: latch.KindForbidden, wantCode: latch.CodeNotApprover},
		{name: "a rule that fails is a rule_error the person is told of", flow: testFlow(rule(brokenRule)), actor: eve,
			wantKind: latch.KindInvalid, wantCode: latch.CodeRuleError},
		{name: "a guest may not revoke on a flow without guest interaction", flow: testFlow(approvers(gus.Email)), actor: gus,
			wantKind: latch.KindForbidden, wantCode: latch.CodeGuestNotAllowed},
		{name: "a guest approver revokes where the flow allows guests", flow: testFlow(approvers(gus.Email), guests), actor: gus},
		{name: "the requester releases where the flow does not allow revoke", flow: testFlow(noRevoke), actor: ann,
			want: latch.AuditReleased},
		{name: "an approver may not revoke where the flow does not allow it", flow: testFlow(noRevoke), actor: bob,
			wantKind: latch.KindForbidden, wantCode: latch.CodeRevokeNotAllowed},
		{name: "an admin revokes where the flow does not allow it", flow: testFlow(noRevoke), actor: dan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give := active("r1", "g1", at(5*time.Minute), at(65*time.Minute))
			cmd := latch.Command{ID: "c1", Kind: latch.CmdRevoke, Actor: by(tt.actor), Reason: "done", At: at(20 * time.Minute)}
			got, err := give.Apply(cmd, latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: ann})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			if err != nil {
				return
			}
			want := latch.Outcome{
				Request: active("r1", "g1", at(5*time.Minute), at(65*time.Minute), status(latch.StatusDeescalating),
					decided(latch.Decision{By: by(tt.actor), At: at(20 * time.Minute), Reason: "done"})),
				Audit: []latch.AuditEvent{{Type: cmp.Or(tt.want, latch.AuditRevoked), Actor: by(tt.actor), Reason: "done"}},
				Grant: latch.GrantLeave,
			}
			diff(t, "outcome", want, got)
		})
	}
}

// TestApplyTimers checks the commands a timer sends: they act only once
// their time has come, and are no-ops before.
func TestApplyTimers(t *testing.T) {
	tests := []struct {
		name string
		give latch.Request
		kind latch.CommandKind
		at   time.Time
		want latch.Outcome
	}{
		{
			name: "expire before the timeout is a no-op",
			give: pending("r1"),
			kind: latch.CmdExpire,
			at:   at(time.Hour - time.Second),
			want: latch.Outcome{Request: pending("r1"), Noop: true},
		},
		{
			name: "expire at the timeout expires the request",
			give: pending("r1"),
			kind: latch.CmdExpire,
			at:   at(time.Hour),
			want: latch.Outcome{
				Request: pending("r1", status(latch.StatusExpired), noExpiry),
				Audit:   []latch.AuditEvent{{Type: latch.AuditExpired}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditExpired}},
			},
		},
		{
			name: "expire after the timeout expires the request",
			give: pending("r1"),
			kind: latch.CmdExpire,
			at:   at(25 * time.Hour),
			want: latch.Outcome{
				Request: pending("r1", status(latch.StatusExpired), noExpiry),
				Audit:   []latch.AuditEvent{{Type: latch.AuditExpired}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditExpired}},
			},
		},
		{
			name: "expire of a request without a timeout is a no-op",
			give: pending("r1", noExpiry),
			kind: latch.CmdExpire,
			at:   at(25 * time.Hour),
			want: latch.Outcome{Request: pending("r1", noExpiry), Noop: true},
		},
		{
			name: "due before the lease ends is a no-op",
			give: active("r1", "g1", at(5*time.Minute), at(65*time.Minute)),
			kind: latch.CmdDue,
			at:   at(64 * time.Minute),
			want: latch.Outcome{Request: active("r1", "g1", at(5*time.Minute), at(65*time.Minute)), Noop: true},
		},
		{
			name: "due at the lease end gives the lease back",
			give: active("r1", "g1", at(5*time.Minute), at(65*time.Minute)),
			kind: latch.CmdDue,
			at:   at(65 * time.Minute),
			want: latch.Outcome{
				Request: active("r1", "g1", at(5*time.Minute), at(65*time.Minute), status(latch.StatusDeescalating)),
				Grant:   latch.GrantLeave,
			},
		},
		{
			name: "due without a scheduled end is a no-op",
			give: active("r1", "g1", at(5*time.Minute), time.Time{}),
			kind: latch.CmdDue,
			at:   at(100 * time.Hour),
			want: latch.Outcome{Request: active("r1", "g1", at(5*time.Minute), time.Time{}), Noop: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.give.Apply(latch.Command{ID: "c1", Kind: tt.kind, At: tt.at}, latch.Env{Flow: testFlow()})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			diff(t, "outcome", tt.want, got)
		})
	}
}

func TestApplyRetry(t *testing.T) {
	failedAt := func(stage string) latch.Request {
		return escalating("r1", "g1", failed("target_error", "no such group", stage), seq(3))
	}
	tests := []struct {
		name     string
		give     latch.Request
		actor    *latch.User
		want     latch.Outcome
		wantCode string
	}{
		{
			name:     "a member may not retry",
			give:     failedAt(latch.StageEscalate),
			actor:    ann,
			wantCode: latch.CodeAdminOnly,
		},
		{
			name:     "Latch itself may not retry",
			give:     failedAt(latch.StageEscalate),
			wantCode: latch.CodeAdminOnly,
		},
		{
			name:  "an admin retries a failed escalation: the request takes a new lease",
			give:  failedAt(latch.StageEscalate),
			actor: dan,
			want: latch.Outcome{
				Request: escalating("r1", "", seq(3)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditRetried, Actor: by(dan), Data: map[string]any{"stage": latch.StageEscalate}}},
				Grant:   latch.GrantJoin,
			},
		},
		{
			name:  "an admin retries a failed deescalation: the grant is revoked again",
			give:  failedAt(latch.StageDeescalate),
			actor: dan,
			want: latch.Outcome{
				Request: escalating("r1", "g1", status(latch.StatusDeescalating), seq(3)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditRetried, Actor: by(dan), Data: map[string]any{"stage": latch.StageDeescalate}}},
				Grant:   latch.GrantDeescalate,
			},
		},
		{
			name:  "a failure without a stage is retried as an escalation",
			give:  escalating("r1", "g1", status(latch.StatusFailed), seq(3)),
			actor: dan,
			want: latch.Outcome{
				Request: escalating("r1", "", seq(3)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditRetried, Actor: by(dan), Data: map[string]any{"stage": latch.StageEscalate}}},
				Grant:   latch.GrantJoin,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := latch.Command{ID: "c1", Kind: latch.CmdRetry, At: at(time.Hour)}
			if tt.actor != nil {
				cmd.Actor = by(tt.actor)
			}
			got, err := tt.give.Apply(cmd, latch.Env{Flow: testFlow(), Actor: tt.actor, Requester: ann})
			wantKindCode(t, err, latch.KindForbidden, tt.wantCode)
			if err != nil {
				return
			}
			diff(t, "outcome", tt.want, got)
		})
	}
}

// TestApplyGrantReports checks the request side of the grant runner's reports.
func TestApplyGrantReports(t *testing.T) {
	start, end := at(5*time.Minute), at(65*time.Minute)
	tests := []struct {
		name string
		flow *latch.Flow
		give latch.Request
		cmd  latch.Command
		env  latch.Env
		want latch.Outcome
	}{
		{
			name: "escalated makes the request active with its lease's window",
			flow: testFlow(),
			give: escalating("r1", "g1"),
			cmd:  latch.Command{Kind: latch.CmdEscalated, At: start},
			env:  latch.Env{Lease: &latch.Lease{RequestID: "r1", Duration: 3600, StartsAt: start, EndsAt: end}},
			want: latch.Outcome{
				Request: escalating("r1", "g1", status(latch.StatusActive), window(start, end)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditEscalated, Data: map[string]any{"starts_at": start, "ends_at": end}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditEscalated}, {Kind: latch.EffectHook, Hook: latch.HookAfterEscalate}},
			},
		},
		{
			name: "escalated without a scheduled end leaves EndsAt unset",
			flow: testFlow(noSchedule, noHooks),
			give: escalating("r1", "g1"),
			cmd:  latch.Command{Kind: latch.CmdEscalated, At: start},
			env:  latch.Env{Lease: &latch.Lease{RequestID: "r1", Duration: 3600, StartsAt: start}},
			want: latch.Outcome{
				Request: escalating("r1", "g1", status(latch.StatusActive), window(start, time.Time{})),
				Audit:   []latch.AuditEvent{{Type: latch.AuditEscalated, Data: map[string]any{"starts_at": start}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditEscalated}},
			},
		},
		{
			name: "escalated without a lease is a no-op",
			flow: testFlow(),
			give: escalating("r1", "g1"),
			cmd:  latch.Command{Kind: latch.CmdEscalated, At: start},
			want: latch.Outcome{Request: escalating("r1", "g1"), Noop: true},
		},
		{
			name: "escalation failed records the failure at the escalate stage",
			flow: testFlow(),
			give: escalating("r1", "g1"),
			cmd: latch.Command{Kind: latch.CmdEscalationFailed, At: start,
				Failure: &latch.Failure{Code: "no_identity", Message: "ann has no AWS user.", Stage: "whatever"}},
			want: latch.Outcome{
				Request: escalating("r1", "g1", failed("no_identity", "ann has no AWS user.", latch.StageEscalate), access(latch.AccessRevoked)),
				Audit: []latch.AuditEvent{{Type: latch.AuditFailed,
					Data: map[string]any{"code": "no_identity", "message": "ann has no AWS user.", "stage": latch.StageEscalate, "access": "revoked"}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditFailed}},
			},
		},
		{
			name: "escalation failed without a reason says so",
			flow: testFlow(),
			give: escalating("r1", "g1"),
			cmd:  latch.Command{Kind: latch.CmdEscalationFailed, At: start},
			want: latch.Outcome{
				Request: escalating("r1", "g1", failed("unknown", "The escalator failed without saying why.", latch.StageEscalate), access(latch.AccessRevoked)),
				Audit: []latch.AuditEvent{{Type: latch.AuditFailed,
					Data: map[string]any{"code": "unknown", "message": "The escalator failed without saying why.", "stage": latch.StageEscalate, "access": "revoked"}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditFailed}},
			},
		},
		{
			name: "escalation failed without a refusal leaves the access maybe held",
			flow: testFlow(),
			give: escalating("r1", "g1"),
			cmd: latch.Command{Kind: latch.CmdEscalationFailed, At: start,
				Failure: &latch.Failure{Code: "timeout", Message: "no answer", MaybeHeld: true}},
			want: latch.Outcome{
				Request: escalating("r1", "g1", failed("timeout", "no answer", latch.StageEscalate), access(latch.AccessMaybeHeld),
					func(r *latch.Request) { r.Failure.MaybeHeld = true }),
				Audit: []latch.AuditEvent{{Type: latch.AuditFailed,
					Data: map[string]any{"code": "timeout", "message": "no answer", "stage": latch.StageEscalate, "access": "maybe_held"}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditFailed}},
			},
		},
		{
			name: "deescalated after a failed escalation records the access revoked and keeps the failure",
			flow: testFlow(),
			give: escalating("r1", "g1", failed("timeout", "no answer", latch.StageEscalate), access(latch.AccessMaybeHeld)),
			cmd:  latch.Command{Kind: latch.CmdDeescalated, At: start},
			want: latch.Outcome{
				Request: escalating("r1", "g1", failed("timeout", "no answer", latch.StageEscalate), access(latch.AccessRevoked)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditDeescalated, Data: map[string]any{"access": "revoked"}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditDeescalated}},
			},
		},
		{
			name: "deescalated after the scheduled end keeps the scheduled end",
			flow: testFlow(),
			give: deescalating("r1", "g1", start, end),
			cmd:  latch.Command{Kind: latch.CmdDeescalated, At: end.Add(time.Minute)},
			want: latch.Outcome{
				Request: deescalating("r1", "g1", start, end, status(latch.StatusEnded)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditDeescalated}},
				Effects: []latch.Effect{{Kind: latch.EffectHook, Hook: latch.HookAfterDeescalate}, {Kind: latch.EffectNotify, Event: latch.AuditDeescalated}},
			},
		},
		{
			name: "deescalated before the scheduled end moves the end to when access went",
			flow: testFlow(),
			give: deescalating("r1", "g1", start, end),
			cmd:  latch.Command{Kind: latch.CmdDeescalated, At: at(20 * time.Minute)},
			want: latch.Outcome{
				Request: deescalating("r1", "g1", start, at(20*time.Minute), status(latch.StatusEnded)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditDeescalated}},
				Effects: []latch.Effect{{Kind: latch.EffectHook, Hook: latch.HookAfterDeescalate}, {Kind: latch.EffectNotify, Event: latch.AuditDeescalated}},
			},
		},
		{
			name: "deescalated without a scheduled end records when access went",
			flow: testFlow(noHooks),
			give: deescalating("r1", "g1", start, time.Time{}),
			cmd:  latch.Command{Kind: latch.CmdDeescalated, At: at(20 * time.Minute)},
			want: latch.Outcome{
				Request: deescalating("r1", "g1", start, at(20*time.Minute), status(latch.StatusEnded)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditDeescalated}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditDeescalated}},
			},
		},
		{
			name: "a lease that ends while another holds the access ends without the after_deescalate hook",
			flow: testFlow(),
			give: deescalating("r1", "g1", start, end),
			cmd:  latch.Command{Kind: latch.CmdDeescalated, At: end},
			env:  latch.Env{AccessKept: true},
			want: latch.Outcome{
				Request: deescalating("r1", "g1", start, end, status(latch.StatusEnded)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditLeaseEnded}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditDeescalated}},
			},
		},
		{
			name: "deescalated ends a request whose revoke had failed",
			flow: testFlow(),
			give: deescalating("r1", "g1", start, end, failed("throttled", "slow down", latch.StageDeescalate)),
			cmd:  latch.Command{Kind: latch.CmdDeescalated, At: end.Add(time.Hour)},
			want: latch.Outcome{
				Request: deescalating("r1", "g1", start, end, status(latch.StatusEnded)),
				Audit:   []latch.AuditEvent{{Type: latch.AuditDeescalated}},
				Effects: []latch.Effect{{Kind: latch.EffectHook, Hook: latch.HookAfterDeescalate}, {Kind: latch.EffectNotify, Event: latch.AuditDeescalated}},
			},
		},
		{
			name: "deescalation failed keeps the request deescalating and records the revoke overdue",
			flow: testFlow(),
			give: deescalating("r1", "g1", start, end),
			cmd: latch.Command{Kind: latch.CmdDeescalationFailed, At: end.Add(time.Hour),
				Failure: &latch.Failure{Code: "throttled", Message: "slow down"}},
			env: latch.Env{DueAt: &end},
			want: latch.Outcome{
				Request: deescalating("r1", "g1", start, end),
				Audit: []latch.AuditEvent{{Type: latch.AuditRevokeOverdue,
					Data: map[string]any{"code": "throttled", "last_error": "slow down", "due_at": end, "retrying": true}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditRevokeOverdue}},
			},
		},
		{
			name: "deescalation failed on a request failed at the deescalate stage (recorded before revokes were never given up) is a no-op",
			flow: testFlow(),
			give: deescalating("r1", "g1", start, end, failed("throttled", "slow down", latch.StageDeescalate)),
			cmd:  latch.Command{Kind: latch.CmdDeescalationFailed, At: end.Add(time.Hour)},
			want: latch.Outcome{Request: deescalating("r1", "g1", start, end, failed("throttled", "slow down", latch.StageDeescalate)), Noop: true},
		},
		{
			name: "overdue before the end is a no-op",
			flow: testFlow(),
			give: active("r1", "g1", start, end),
			cmd:  latch.Command{Kind: latch.CmdOverdue, At: end.Add(-time.Second)},
			want: latch.Outcome{Request: active("r1", "g1", start, end), Noop: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			env.Flow = tt.flow
			got, err := tt.give.Apply(tt.cmd, env)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			diff(t, "outcome", tt.want, got)
		})
	}
}

// TestApplyHooks checks that each hook point is called at its transition
// exactly when the flow configures a URL for it, and named by its constant.
func TestApplyHooks(t *testing.T) {
	start, end := at(5*time.Minute), at(65*time.Minute)
	tests := []struct {
		name  string
		point string
		give  latch.Request
		cmd   latch.Command
		env   latch.Env
	}{
		{name: "approve calls on_approve", point: latch.HookOnApprove, give: pending("r1"),
			cmd: latch.Command{Kind: latch.CmdApprove, Actor: by(bob), At: start}, env: latch.Env{Actor: bob, Requester: ann}},
		{name: "deny calls on_deny", point: latch.HookOnDeny, give: pending("r1"),
			cmd: latch.Command{Kind: latch.CmdDeny, Actor: by(bob), At: start}, env: latch.Env{Actor: bob, Requester: ann}},
		{name: "escalated calls after_escalate", point: latch.HookAfterEscalate, give: escalating("r1", "g1"),
			cmd: latch.Command{Kind: latch.CmdEscalated, At: start}, env: latch.Env{Lease: &latch.Lease{RequestID: "r1", StartsAt: start, EndsAt: end}}},
		{name: "deescalated calls after_deescalate", point: latch.HookAfterDeescalate, give: deescalating("r1", "g1", start, end),
			cmd: latch.Command{Kind: latch.CmdDeescalated, At: end}},
	}
	for _, tt := range tests {
		for _, only := range []string{latch.HookOnRequest, latch.HookOnApprove, latch.HookOnDeny, latch.HookAfterEscalate,
			latch.HookAfterDeescalate, latch.HookGetIdentity, ""} {
			t.Run(fmt.Sprintf("%s/only %q configured", tt.name, only), func(t *testing.T) {
				f := testFlow(noHooks)
				switch only {
				case latch.HookOnRequest:
					f.Hooks.OnRequest = "https://h/x"
				case latch.HookOnApprove:
					f.Hooks.OnApprove = "https://h/x"
				case latch.HookOnDeny:
					f.Hooks.OnDeny = "https://h/x"
				case latch.HookAfterEscalate:
					f.Hooks.AfterEscalate = "https://h/x"
				case latch.HookAfterDeescalate:
					f.Hooks.AfterDeescalate = "https://h/x"
				case latch.HookGetIdentity:
					f.Hooks.GetIdentity = "https://h/x"
				}
				env := tt.env
				env.Flow = f
				got, err := tt.give.Apply(tt.cmd, env)
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				var hooks []string
				for _, e := range got.Effects {
					if e.Kind == latch.EffectHook {
						hooks = append(hooks, e.Hook)
					}
				}
				var want []string
				if only == tt.point {
					want = []string{tt.point}
				}
				diff(t, "hooks", want, hooks)
			})
		}
	}
}

// withExtension puts a pending extension of secs seconds, asked for by ann
// at t0+10m, on the request, with the approvals given.
func withExtension(secs int64, approvals ...latch.Decision) reqOpt {
	return func(r *latch.Request) {
		r.Extension = &latch.PendingExtension{Duration: secs, Reason: "the migration runs late", By: by(ann), At: at(10 * time.Minute),
			Approvals: approvals}
	}
}

// TestApplyExtendEveryStatus runs the requester's extension on a flow that
// grants it at once and on one whose approvers decide, against a request in
// every status: only an active request's end moves or waits for approvers;
// elsewhere it is a conflict.
func TestApplyExtendEveryStatus(t *testing.T) {
	end := at(65 * time.Minute)
	tests := []struct {
		name      string
		flow      *latch.Flow
		wantAudit latch.AuditType
		wantOp    latch.GrantOp
		wantEnd   time.Time
		wantPend  *latch.PendingExtension
	}{
		{name: "within auto_within", flow: testFlow(extendable(time.Hour)), wantAudit: latch.AuditExtended,
			wantOp: latch.GrantExtend, wantEnd: end.Add(30 * time.Minute)},
		{name: "approval required", flow: testFlow(extendable(0)), wantAudit: latch.AuditExtensionRequested,
			wantOp: latch.GrantNone, wantEnd: end,
			wantPend: &latch.PendingExtension{Duration: 1800, Reason: "late", By: by(ann), At: at(3 * time.Hour)}},
		{name: "beyond auto_within", flow: testFlow(extendable(10 * time.Minute)), wantAudit: latch.AuditExtensionRequested,
			wantOp: latch.GrantNone, wantEnd: end,
			wantPend: &latch.PendingExtension{Duration: 1800, Reason: "late", By: by(ann), At: at(3 * time.Hour)}},
	}
	for _, tt := range tests {
		for _, s := range latch.Statuses {
			t.Run(fmt.Sprintf("%s/%s", tt.name, s), func(t *testing.T) {
				give := requestIn(t, s)
				cmd := latch.Command{ID: "c1", Kind: latch.CmdExtend, RequestID: "r1", Actor: by(ann), Reason: "late",
					Duration: 1800, At: at(3 * time.Hour), Source: latch.SourceAPI}
				got, err := give.Apply(cmd, latch.Env{Flow: tt.flow, Actor: ann, Requester: ann})
				if s != latch.StatusActive {
					wantKindCode(t, err, latch.KindConflict, "not_active")
					return
				}
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				diff(t, "status", latch.StatusActive, got.Request.Status)
				diff(t, "grant op", tt.wantOp, got.Grant)
				diff(t, "audit", []latch.AuditType{tt.wantAudit}, auditTypes(got.Audit))
				diff(t, "effects", []string{"notify:" + string(tt.wantAudit)}, effectNames(got.Effects))
				diff(t, "ends at", tt.wantEnd, *got.Request.EndsAt)
				diff(t, "pending extension", tt.wantPend, got.Request.Extension)
				if tt.wantPend == nil {
					diff(t, "duration", int64(5400), got.Request.Duration)
					diff(t, "extended data", map[string]any{"old_ends_at": end, "new_ends_at": end.Add(30 * time.Minute),
						"added_seconds": int64(1800), "approved_by": "auto_within"}, got.Audit[0].Data)
				}
			})
		}
	}
}

// TestApplyExtendRefusals: what the requester's extension is refused for,
// and the error each edge shows.
func TestApplyExtendRefusals(t *testing.T) {
	start, end := at(5*time.Minute), at(65*time.Minute)
	tests := []struct {
		name     string
		give     latch.Request
		flow     *latch.Flow
		actor    *latch.User
		cmdActor latch.Actor
		secs     int64
		wantKind latch.ErrorKind
		wantCode string
	}{
		{name: "the flow has no extension policy", give: active("r1", "g1", start, end), flow: testFlow(), actor: ann, secs: 1800,
			wantKind: latch.KindConflict, wantCode: latch.CodeExtensionNotAllowed},
		{name: "an approver asks", give: active("r1", "g1", start, end), flow: testFlow(extendable(time.Hour)), actor: bob, secs: 1800,
			wantKind: latch.KindForbidden, wantCode: latch.CodeNotRequester},
		{name: "an admin asks", give: active("r1", "g1", start, end), flow: testFlow(extendable(time.Hour)), actor: dan, secs: 1800,
			wantKind: latch.KindForbidden, wantCode: latch.CodeNotRequester},
		{name: "nobody Latch knows", give: active("r1", "g1", start, end), flow: testFlow(extendable(time.Hour)), secs: 1800,
			cmdActor: latch.Actor{Email: "who@example.com"}, wantKind: latch.KindForbidden, wantCode: latch.CodeUnknownUser},
		{name: "one is pending already", give: active("r1", "g1", start, end, withExtension(600)), flow: testFlow(extendable(0)),
			actor: ann, secs: 1800, wantKind: latch.KindConflict, wantCode: latch.CodeExtensionPending},
		{name: "no time", give: active("r1", "g1", start, end), flow: testFlow(extendable(time.Hour)), actor: ann, secs: 0,
			wantKind: latch.KindInvalid, wantCode: latch.CodeBadDuration},
		{name: "negative time", give: active("r1", "g1", start, end), flow: testFlow(extendable(time.Hour)), actor: ann, secs: -60,
			wantKind: latch.KindInvalid, wantCode: latch.CodeBadDuration},
		{name: "past max_total", give: active("r1", "g1", start, end), flow: testFlow(extendable(time.Hour)), actor: ann,
			secs: 7*3600 + 1, wantKind: latch.KindInvalid, wantCode: latch.CodeExtensionTooLong},
		{name: "no scheduled end", give: active("r1", "g1", start, time.Time{}), flow: testFlow(extendable(time.Hour)), actor: ann,
			secs: 1800, wantKind: latch.KindConflict, wantCode: latch.CodeNoEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.cmdActor
			if tt.actor != nil {
				a = by(tt.actor)
			}
			cmd := latch.Command{ID: "c1", Kind: latch.CmdExtend, RequestID: "r1", Actor: a, Duration: tt.secs, At: at(time.Hour)}
			_, err := tt.give.Apply(cmd, latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: ann})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
		})
	}
	t.Run("past max_total names the cap", func(t *testing.T) {
		cmd := latch.Command{ID: "c1", Kind: latch.CmdExtend, RequestID: "r1", Actor: by(ann), Duration: 8 * 3600, At: at(time.Hour)}
		_, err := active("r1", "g1", start, end).Apply(cmd, latch.Env{Flow: testFlow(extendable(0)), Actor: ann, Requester: ann})
		var le *latch.Error
		if !errors.As(err, &le) {
			t.Fatalf("err = %v, want a *latch.Error", err)
		}
		diff(t, "message", `Extending by 8h would make this access last 9h in all; flow "prod-access" caps it at 8h (extension.max_total), so at most 7h more can be asked for.`, le.Message)
		diff(t, "details", map[string]any{"max_total_seconds": int64(8 * 3600), "available_seconds": int64(7 * 3600),
			"cap": "extension.max_total"}, le.Details)
	})
	t.Run("a break glass is capped at max_duration", func(t *testing.T) {
		// The flow's max_total is 8h, its break_glass.max_duration 1h: a
		// break glass of 30m may add 30m at most, with no approver.
		give := active("r1", "g1", start, start.Add(30*time.Minute), glass, durationSecs(1800))
		env := latch.Env{Flow: testFlow(extendable(time.Hour), breakGlass), Actor: ann, Requester: ann}
		cmd := latch.Command{ID: "c1", Kind: latch.CmdExtend, RequestID: "r1", Actor: by(ann), Duration: 1801, At: at(time.Hour)}
		_, err := give.Apply(cmd, env)
		wantKindCode(t, err, latch.KindInvalid, latch.CodeExtensionTooLong)
		var le *latch.Error
		if !errors.As(err, &le) {
			t.Fatalf("err = %v, want a *latch.Error", err)
		}
		diff(t, "message", `Extending by 1801s would make this access last 3601s in all; flow "prod-access" caps it at 1h (break_glass.max_duration), so at most 30m more can be asked for.`, le.Message)
		diff(t, "details", map[string]any{"max_total_seconds": int64(3600), "available_seconds": int64(1800),
			"cap": "break_glass.max_duration"}, le.Details)
		cmd.Duration = 1800
		got, err := give.Apply(cmd, env)
		if err != nil {
			t.Fatalf("Apply up to the cap: %v", err)
		}
		diff(t, "duration", int64(3600), got.Request.Duration)
		// Not a break glass: only max_total counts.
		got, err = active("r1", "g1", start, start.Add(30*time.Minute), durationSecs(1800)).Apply(cmd, env)
		if err != nil {
			t.Fatalf("Apply to a request that is no break glass: %v", err)
		}
		diff(t, "audit", []latch.AuditType{latch.AuditExtended}, auditTypes(got.Audit))
	})
	t.Run("a huge duration does not overflow", func(t *testing.T) {
		cmd := latch.Command{ID: "c1", Kind: latch.CmdExtend, RequestID: "r1", Actor: by(ann), Duration: math.MaxInt64, At: at(time.Hour)}
		_, err := active("r1", "g1", start, end).Apply(cmd, latch.Env{Flow: testFlow(extendable(0)), Actor: ann, Requester: ann})
		wantKindCode(t, err, latch.KindInvalid, latch.CodeExtensionTooLong)
		diff(t, "message", `Extending by more than 8h would make this access last longer than that in all; flow "prod-access" caps it at 8h (extension.max_total), so at most 7h more can be asked for.`, latch.ErrorMessageOf(err))
	})
	t.Run("a bot for the requester", func(t *testing.T) {
		cmd := latch.Command{ID: "c1", Kind: latch.CmdExtend, RequestID: "r1", Actor: latch.Actor{Email: ann.Email, Bot: "deploy-bot"},
			Duration: 600, At: at(time.Hour)}
		got, err := active("r1", "g1", start, end).Apply(cmd, latch.Env{Flow: testFlow(extendable(time.Hour)), Actor: ann, Requester: ann})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		diff(t, "audit actor", latch.Actor{Email: ann.Email, Bot: "deploy-bot"}, got.Audit[0].Actor)
	})
}

// TestApplyPendingExtensionEveryCommand runs every command kind against an
// active request whose extension waits for approvers (quorum 2, one
// approval in): approve and deny decide the extension, the end of the
// access drops it, another extension is refused, and the rest act as on
// any active request.
func TestApplyPendingExtensionEveryCommand(t *testing.T) {
	start, end := at(5*time.Minute), at(65*time.Minute)
	type want struct {
		code    string // a refusal
		noop    bool
		status  latch.Status
		op      latch.GrantOp
		audit   []latch.AuditType
		effects []string
		pending int // approvals on the pending extension after; -1: none pending
		endsAt  time.Time
	}
	wants := map[latch.CommandKind]want{
		latch.CmdApprove: {status: latch.StatusActive, op: latch.GrantExtend, audit: []latch.AuditType{latch.AuditExtended},
			effects: []string{"notify:extended"}, pending: -1, endsAt: end.Add(time.Hour)},
		latch.CmdDeny: {status: latch.StatusActive, audit: []latch.AuditType{latch.AuditExtensionDenied},
			effects: []string{"notify:extension_denied"}, pending: -1, endsAt: end},
		latch.CmdCancel: {code: "not_pending"},
		latch.CmdRevoke: {status: latch.StatusDeescalating, op: latch.GrantLeave, audit: []latch.AuditType{latch.AuditReleased},
			pending: -1, endsAt: end},
		latch.CmdExpire:             {noop: true},
		latch.CmdEscalated:          {noop: true},
		latch.CmdEscalationFailed:   {noop: true},
		latch.CmdDue:                {status: latch.StatusDeescalating, op: latch.GrantLeave, pending: -1, endsAt: end},
		latch.CmdDeescalated:        {noop: true},
		latch.CmdDeescalationFailed: {noop: true},
		latch.CmdRetry:              {code: "not_failed"},
		latch.CmdOverdue: {status: latch.StatusActive, audit: []latch.AuditType{latch.AuditRevokeOverdue},
			effects: []string{"notify:revoke_overdue"}, pending: 1, endsAt: end},
		latch.CmdForward:     {noop: true},
		latch.CmdAutoApprove: {noop: true},
		latch.CmdExtend:      {code: latch.CodeExtensionPending},
		// A scheduled start's timer, or break glass commands, for a request
		// that is neither: nothing changes, the extension still waits.
		latch.CmdStart:         {noop: true},
		latch.CmdBreakGlass:    {noop: true},
		latch.CmdReview:        {code: latch.CodeNotBreakGlass},
		latch.CmdReviewOverdue: {noop: true},
	}
	for _, k := range latch.CommandKinds {
		t.Run(string(k), func(t *testing.T) {
			w, ok := wants[k]
			if !ok {
				t.Fatalf("command kind %q is missing from the table", k)
			}
			give := active("r1", "g1", start, end, withExtension(3600, decision(cat, at(20*time.Minute))))
			var cmd latch.Command
			var env latch.Env
			if !breakGlassKinds[k] {
				cmd, env = standardCommand(t, k)
				env.Flow = testFlow(extendable(0), quorum(2))
			}
			if k == latch.CmdForward || k == latch.CmdAutoApprove {
				cmd, env = standardCommand(t, k) // their own flows
			}
			if breakGlassKinds[k] {
				cmd, env = breakGlassCommand(k)
				env.Flow = testFlow(extendable(0), quorum(2), breakGlass)
			}
			got, err := give.Apply(cmd, env)
			switch {
			case w.code != "":
				if err == nil {
					t.Fatalf("Apply succeeded, want %s", w.code)
				}
				var le *latch.Error
				errors.As(err, &le)
				diff(t, "code", w.code, le.Code)
				return
			case err != nil:
				t.Fatalf("Apply: %v", err)
			case w.noop:
				diff(t, "outcome", latch.Outcome{Request: give, Noop: true}, got)
				return
			}
			diff(t, "status", w.status, got.Request.Status)
			diff(t, "grant op", w.op, got.Grant)
			diff(t, "audit", w.audit, auditTypes(got.Audit))
			diff(t, "effects", w.effects, effectNames(got.Effects))
			diff(t, "ends at", w.endsAt, *got.Request.EndsAt)
			pending := -1
			if got.Request.Extension != nil {
				pending = len(got.Request.Extension.Approvals)
			}
			diff(t, "approvals of the pending extension", w.pending, pending)
		})
	}
}

// deployBot is a bot principal with the admin role, deciding as itself.
var deployBot = &latch.User{ID: "B-deploy", Email: "deploy-bot@bots.example.com", Name: "deploy-bot", Role: latch.RoleAdmin, Kind: latch.KindBot}

// TestApplyDecideExtension: approvers decide a pending extension with the
// flow's policy: the quorum counts, nobody approves twice, the requester
// does not approve their own, and only approvers or admins decide.
func TestApplyDecideExtension(t *testing.T) {
	start, end := at(5*time.Minute), at(65*time.Minute)
	tests := []struct {
		name      string
		flow      *latch.Flow
		prior     []latch.Decision
		kind      latch.CommandKind
		actor     *latch.User
		bot       string       // the bot the decision comes through
		askedBy   *latch.Actor // who asked for the extension, when not ann herself
		wantCode  string
		wantAudit latch.AuditType
		wantEnd   time.Time
		wantData  map[string]any
	}{
		{name: "the bot that asked approves as an approver", flow: testFlow(extendable(0)), kind: latch.CmdApprove, actor: bob,
			bot: "deploy-bot", askedBy: &latch.Actor{Email: ann.Email, Bot: "deploy-bot"}, wantCode: latch.CodeCreatorCannotDecide},
		{name: "the bot that asked approves as itself", flow: testFlow(extendable(0)), kind: latch.CmdApprove, actor: deployBot,
			bot: "deploy-bot", askedBy: &latch.Actor{Email: ann.Email, Bot: "deploy-bot"}, wantCode: latch.CodeCreatorCannotDecide},
		{name: "another bot approves what a bot asked", flow: testFlow(extendable(0)), kind: latch.CmdApprove, actor: bob,
			bot: "chat-bot", askedBy: &latch.Actor{Email: ann.Email, Bot: "deploy-bot"}, wantAudit: latch.AuditExtended, wantEnd: end.Add(time.Hour),
			wantData: map[string]any{"old_ends_at": end, "new_ends_at": end.Add(time.Hour), "added_seconds": int64(3600),
				"approved_by": []string{bob.Email}}},
		{name: "the bot that asked denies", flow: testFlow(extendable(0)), kind: latch.CmdDeny, actor: bob,
			bot: "deploy-bot", askedBy: &latch.Actor{Email: ann.Email, Bot: "deploy-bot"}, wantAudit: latch.AuditExtensionDenied, wantEnd: end,
			wantData: map[string]any{"added_seconds": int64(3600)}},
		{name: "the requester approves their own, self-approval allowed", flow: testFlow(extendable(0), selfApproval, approvers(ann.Email)), kind: latch.CmdApprove,
			actor: ann, wantAudit: latch.AuditExtended, wantEnd: end.Add(time.Hour),
			wantData: map[string]any{"old_ends_at": end, "new_ends_at": end.Add(time.Hour), "added_seconds": int64(3600),
				"approved_by": []string{ann.Email}}},
		{name: "first of two approvals", flow: testFlow(extendable(0), quorum(2)), kind: latch.CmdApprove, actor: bob,
			wantAudit: latch.AuditApprovalAdded, wantEnd: end,
			wantData: map[string]any{"approvals": 1, "quorum": 2, "extension": true}},
		{name: "the quorum is met", flow: testFlow(extendable(0), quorum(2)), prior: []latch.Decision{decision(cat, at(20*time.Minute))},
			kind: latch.CmdApprove, actor: bob, wantAudit: latch.AuditExtended, wantEnd: end.Add(time.Hour),
			wantData: map[string]any{"old_ends_at": end, "new_ends_at": end.Add(time.Hour), "added_seconds": int64(3600),
				"approved_by": []string{cat.Email, bob.Email}}},
		{name: "an admin approves", flow: testFlow(extendable(0)), kind: latch.CmdApprove, actor: dan,
			wantAudit: latch.AuditExtended, wantEnd: end.Add(time.Hour),
			wantData: map[string]any{"old_ends_at": end, "new_ends_at": end.Add(time.Hour), "added_seconds": int64(3600),
				"approved_by": []string{dan.Email}}},
		{name: "approving twice", flow: testFlow(extendable(0), quorum(2)), prior: []latch.Decision{decision(bob, at(20*time.Minute))},
			kind: latch.CmdApprove, actor: bob, wantCode: "already_approved"},
		{name: "the requester approves their own", flow: testFlow(extendable(0)), kind: latch.CmdApprove, actor: ann,
			wantCode: latch.CodeSelfApproval},
		{name: "someone not an approver", flow: testFlow(extendable(0)), kind: latch.CmdApprove, actor: eve,
			wantCode: latch.CodeNotApprover},
		{name: "someone not an approver denies", flow: testFlow(extendable(0)), kind: latch.CmdDeny, actor: eve,
			wantCode: latch.CodeNotApprover},
		{name: "an approver denies", flow: testFlow(extendable(0)), kind: latch.CmdDeny, actor: cat,
			wantAudit: latch.AuditExtensionDenied, wantEnd: end, wantData: map[string]any{"added_seconds": int64(3600)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give := active("r1", "g1", start, end, withExtension(3600, tt.prior...))
			if tt.askedBy != nil {
				give.Extension.By = *tt.askedBy
			}
			cmd := latch.Command{ID: "c1", Kind: tt.kind, RequestID: "r1", Actor: by(tt.actor), At: at(30 * time.Minute)}
			cmd.Actor.Bot = tt.bot
			got, err := give.Apply(cmd, latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: ann})
			if tt.wantCode != "" {
				if err == nil {
					t.Fatalf("Apply succeeded, want %s", tt.wantCode)
				}
				var le *latch.Error
				errors.As(err, &le)
				diff(t, "code", tt.wantCode, le.Code)
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			diff(t, "audit", []latch.AuditType{tt.wantAudit}, auditTypes(got.Audit))
			diff(t, "data", tt.wantData, got.Audit[0].Data)
			diff(t, "ends at", tt.wantEnd, *got.Request.EndsAt)
			diff(t, "status", latch.StatusActive, got.Request.Status)
		})
	}
}

// TestDecideExtendMovesTheLease: an extension granted moves the request's
// lease on its grant, the grant's wake-up, and — when the grant's end moves
// later — asks for the grant to be sent to its target again with the new
// end. So does a second request whose lease keeps the grant open longer.
func TestDecideExtendMovesTheLease(t *testing.T) {
	start, end := at(5*time.Minute), at(65*time.Minute)
	later := end.Add(30 * time.Minute)
	extend := latch.Command{ID: "c1", Kind: latch.CmdExtend, RequestID: "r1", Actor: by(ann), Duration: 1800, At: at(time.Hour)}
	tests := []struct {
		name        string
		state       latch.State
		cmd         latch.Command
		wantLeases  []latch.Lease
		wantEffects []latch.Effect
		wantCode    string
	}{
		{
			name: "the grant's only lease",
			state: latch.State{Flow: testFlow(extendable(time.Hour)), Request: ptr(active("r1", "g1", start, end)),
				Grant: ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end)))), Actor: ann, Requester: ann},
			cmd:        extend,
			wantLeases: []latch.Lease{lease("r1", 5400, start, later)},
			wantEffects: []latch.Effect{
				notify("c1/0", "r1", latch.AuditExtended, at(time.Hour)),
				{ID: "c1/1", Kind: latch.EffectRegrant, GrantID: "g1", At: later, CreatedAt: at(time.Hour)},
				wake("c1/2", "g1", later, at(time.Hour)),
			},
		},
		{
			name: "another lease holds the grant longer: its end does not move",
			state: latch.State{Flow: testFlow(extendable(time.Hour)), Request: ptr(active("r1", "g1", start, end)),
				Grant:    ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end), lease("r2", 7200, start, at(125*time.Minute))))),
				Requests: requests(active("r2", "g1", start, at(125*time.Minute))), Actor: ann, Requester: ann},
			cmd:        extend,
			wantLeases: []latch.Lease{lease("r1", 5400, start, later), lease("r2", 7200, start, at(125*time.Minute))},
			wantEffects: []latch.Effect{
				notify("c1/0", "r1", latch.AuditExtended, at(time.Hour)),
				wake("c1/1", "g1", later, at(time.Hour)),
			},
		},
		{
			name: "the last approval of a pending extension",
			state: latch.State{Flow: testFlow(extendable(0)), Request: ptr(active("r1", "g1", start, end, withExtension(1800))),
				Grant: ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end)))), Actor: bob, Requester: ann},
			cmd:        latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(time.Hour)},
			wantLeases: []latch.Lease{lease("r1", 5400, start, later)},
			wantEffects: []latch.Effect{
				notify("c1/0", "r1", latch.AuditExtended, at(time.Hour)),
				{ID: "c1/1", Kind: latch.EffectRegrant, GrantID: "g1", At: later, CreatedAt: at(time.Hour)},
				wake("c1/2", "g1", later, at(time.Hour)),
			},
		},
		{
			name: "a pending extension leaves the grant alone",
			state: latch.State{Flow: testFlow(extendable(0)), Request: ptr(active("r1", "g1", start, end)),
				Grant: ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end)))), Actor: ann, Requester: ann},
			cmd:         extend,
			wantEffects: []latch.Effect{notify("c1/0", "r1", latch.AuditExtensionRequested, at(time.Hour))},
		},
		{
			name: "a grant whose revoke has begun",
			state: latch.State{Flow: testFlow(extendable(time.Hour)), Request: ptr(active("r1", "g1", start, end)),
				Grant: ptr(grant("g1", latch.GrantDeescalating, leases(lease("r1", 3600, start, end)))), Actor: ann, Requester: ann},
			cmd:      extend,
			wantCode: "grant_not_active",
		},
		{
			name: "a second request keeps the grant open longer",
			state: latch.State{Flow: testFlow(noHooks), Request: ptr(pending("r2", durationSecs(7200))),
				OpenGrant: ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end)))),
				Requests:  requests(active("r1", "g1", start, end)), Actor: bob, Requester: ann},
			cmd:        latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r2", Actor: by(bob), At: at(time.Hour)},
			wantLeases: []latch.Lease{lease("r1", 3600, start, end), lease("r2", 7200, at(time.Hour), at(3*time.Hour))},
			wantEffects: []latch.Effect{
				notify("c1/0", "r2", latch.AuditApproved, at(time.Hour)),
				{ID: "c1/1", Kind: latch.EffectRegrant, GrantID: "g1", At: at(3 * time.Hour), CreatedAt: at(time.Hour)},
				notify("c1/2", "r2", latch.AuditEscalated, at(time.Hour)),
				wake("c1/3", "g1", end, at(time.Hour)),
			},
		},
		{
			name: "a lease that joined while escalating ends later: the escalation is sent again",
			state: latch.State{Flow: testFlow(noHooks),
				Grant: ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, end),
					lease("r2", 7200, time.Time{}, at(125*time.Minute))))),
				Requests: requests(escalating("r1", "g1"), escalating("r2", "g1", durationSecs(7200)))},
			cmd:        latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: start},
			wantLeases: []latch.Lease{lease("r1", 3600, start, end), lease("r2", 7200, start, at(125*time.Minute))},
			wantEffects: []latch.Effect{
				{ID: "c1/0", Kind: latch.EffectRegrant, GrantID: "g1", At: at(125 * time.Minute), CreatedAt: start},
				notify("c1/1", "r1", latch.AuditEscalated, start),
				notify("c1/2", "r2", latch.AuditEscalated, start),
				wake("c1/3", "g1", end, start),
			},
		},
		{
			name: "one lease escalated tells the target nothing more",
			state: latch.State{Flow: testFlow(noHooks),
				Grant:    ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, end)))),
				Requests: requests(escalating("r1", "g1"))},
			cmd:        latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: start},
			wantLeases: []latch.Lease{lease("r1", 3600, start, end)},
			wantEffects: []latch.Effect{
				notify("c1/0", "r1", latch.AuditEscalated, start),
				wake("c1/1", "g1", end, start),
			},
		},
		{
			name: "a second request ending sooner tells the target nothing",
			state: latch.State{Flow: testFlow(noHooks), Request: ptr(pending("r2", durationSecs(60))),
				OpenGrant: ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end)))),
				Requests:  requests(active("r1", "g1", start, end)), Actor: bob, Requester: ann},
			cmd:        latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r2", Actor: by(bob), At: at(time.Hour)},
			wantLeases: []latch.Lease{lease("r1", 3600, start, end), lease("r2", 60, at(time.Hour), at(61*time.Minute))},
			wantEffects: []latch.Effect{
				notify("c1/0", "r2", latch.AuditApproved, at(time.Hour)),
				notify("c1/1", "r2", latch.AuditEscalated, at(time.Hour)),
				wake("c1/2", "g1", at(61*time.Minute), at(time.Hour)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := latch.Decide(tt.state, tt.cmd)
			if tt.wantCode != "" {
				wantKindCode(t, err, latch.KindConflict, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			diff(t, "effects", tt.wantEffects, got.Effects)
			var gotLeases []latch.Lease
			for _, g := range got.Grants {
				gotLeases = append(gotLeases, g.Leases...)
			}
			diff(t, "leases", tt.wantLeases, gotLeases)
		})
	}
}
