package latch_test

import (
	"cmp"
	"errors"
	"fmt"
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
	case latch.CmdExpire, latch.CmdDue, latch.CmdDeescalated:
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
}

// fromPeople are the commands a person gives.
var fromPeople = map[latch.CommandKind]bool{
	latch.CmdApprove: true, latch.CmdDeny: true, latch.CmdCancel: true, latch.CmdRevoke: true, latch.CmdRetry: true,
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
			cmd:      latch.Command{ID: "c1", Kind: "extend", Actor: by(ann), At: at(time.Minute)},
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
