package latch_test

import (
	"errors"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// TestRoleActionMatrix states, for every role and every action, who may do
// it: on their own request, as a listed approver, and as anyone else, on a
// flow that does and one that does not allow guests. "ok" means allowed;
// anything else is the refusal's code.
func TestRoleActionMatrix(t *testing.T) {
	type cell struct{ requester, approver, other string }
	tests := []struct {
		action latch.CommandKind
		role   latch.Role
		guests bool // flow allows guest interaction
		want   cell
	}{
		{latch.CmdApprove, latch.RoleAdmin, false, cell{"self_approval", "ok", "ok"}},
		{latch.CmdApprove, latch.RoleMember, false, cell{"self_approval", "ok", "not_an_approver"}},
		{latch.CmdApprove, latch.RoleGuest, false, cell{"guest_not_allowed", "guest_not_allowed", "guest_not_allowed"}},
		{latch.CmdApprove, latch.RoleGuest, true, cell{"self_approval", "ok", "not_an_approver"}},
		{latch.CmdDeny, latch.RoleAdmin, false, cell{"self_approval", "ok", "ok"}},
		{latch.CmdDeny, latch.RoleMember, false, cell{"self_approval", "ok", "not_an_approver"}},
		{latch.CmdDeny, latch.RoleGuest, false, cell{"guest_not_allowed", "guest_not_allowed", "guest_not_allowed"}},
		{latch.CmdDeny, latch.RoleGuest, true, cell{"self_approval", "ok", "not_an_approver"}},
		{latch.CmdCancel, latch.RoleAdmin, false, cell{"ok", "ok", "ok"}},
		{latch.CmdCancel, latch.RoleMember, false, cell{"ok", "not_requester", "not_requester"}},
		{latch.CmdCancel, latch.RoleGuest, false, cell{"ok", "not_requester", "not_requester"}},
		{latch.CmdRevoke, latch.RoleAdmin, false, cell{"ok", "ok", "ok"}},
		{latch.CmdRevoke, latch.RoleMember, false, cell{"ok", "ok", "not_an_approver"}},
		// A requester may always give up their own access, even as a guest.
		{latch.CmdRevoke, latch.RoleGuest, false, cell{"ok", "guest_not_allowed", "guest_not_allowed"}},
		{latch.CmdRevoke, latch.RoleGuest, true, cell{"ok", "ok", "not_an_approver"}},
		{latch.CmdRetry, latch.RoleAdmin, false, cell{"ok", "ok", "ok"}},
		{latch.CmdRetry, latch.RoleMember, false, cell{"admin_only", "admin_only", "admin_only"}},
		{latch.CmdRetry, latch.RoleGuest, true, cell{"admin_only", "admin_only", "admin_only"}},
	}
	statusFor := map[latch.CommandKind]latch.Status{latch.CmdApprove: latch.StatusPending, latch.CmdDeny: latch.StatusPending,
		latch.CmdCancel: latch.StatusPending, latch.CmdRevoke: latch.StatusActive, latch.CmdRetry: latch.StatusFailed}
	for _, tt := range tests {
		f := testFlow()
		f.AllowGuestInteraction = tt.guests
		f.Approval.Approvers = []string{"listed@example.com"}
		for relation, want := range map[string]string{"requester": tt.want.requester, "approver": tt.want.approver, "other": tt.want.other} {
			email := map[string]string{"requester": "asker@example.com", "approver": "listed@example.com", "other": "someone@example.com"}[relation]
			actor := &latch.User{ID: "U-actor", Email: email, Role: tt.role, Kind: latch.KindPerson}
			asker := &latch.User{ID: "U-asker", Email: "asker@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
			if relation == "requester" {
				asker = actor
			}
			r := req("r1", requester(asker), status(statusFor[tt.action]))
			if tt.action == latch.CmdRevoke {
				r = active("r1", "g1", at(0), at(time.Hour), requester(asker))
			}
			if tt.action == latch.CmdRetry {
				r = req("r1", requester(asker), status(latch.StatusFailed), failed("x", "y", latch.StageEscalate))
			}
			_, err := r.Apply(latch.Command{ID: "c", Kind: tt.action, RequestID: "r1", Actor: latch.Actor{Email: email}, At: at(time.Minute)},
				latch.Env{Flow: f, Actor: actor, Requester: asker})
			got := "ok"
			if err != nil {
				got = latch.ErrorCodeOf(err)
			}
			if got != want {
				t.Errorf("%s by a %s (%s, guests allowed %v) = %s, want %s", tt.action, tt.role, relation, tt.guests, got, want)
			}
		}
	}

	// Requesting: members and admins may; guests never, whatever the flow says.
	for _, tc := range []struct {
		role   latch.Role
		guests bool
		want   string
	}{{latch.RoleAdmin, false, "ok"}, {latch.RoleMember, false, "ok"}, {latch.RoleGuest, false, "guest_cannot_request"}, {latch.RoleGuest, true, "guest_cannot_request"}} {
		f := testFlow()
		f.AllowGuestInteraction = tc.guests
		err := latch.CanRequest(f, &latch.User{Email: "x@example.com", Role: tc.role}, latch.SourceAPI)
		got := "ok"
		if err != nil {
			got = latch.ErrorCodeOf(err)
		}
		if got != tc.want {
			t.Errorf("request by a %s (guests allowed %v) = %s, want %s", tc.role, tc.guests, got, tc.want)
		}
	}
}

// A decision by the flow's own on_request hook needs no approver and meets
// the quorum; without the hook mark the same command from nobody is refused.
func TestHookDecisions(t *testing.T) {
	f := testFlow(quorum(3))
	asker := &latch.User{ID: "U-asker", Email: "asker@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	r := req("r1", requester(asker))
	hookActor := latch.Actor{Bot: "on_request hook"}

	out, err := r.Apply(latch.Command{ID: "h", Kind: latch.CmdApprove, RequestID: "r1", Actor: hookActor, Hook: latch.HookOnRequest, Reason: "on call", At: at(time.Minute)},
		latch.Env{Flow: f, Requester: asker})
	if err != nil || out.Request.Status != latch.StatusEscalating || out.Grant != latch.GrantJoin {
		t.Fatalf("approve by the hook = %s %v, %v; want escalating with a grant", out.Request.Status, out.Grant, err)
	}
	if a := out.Request.Approvals; len(a) != 1 || a[0].By != hookActor || a[0].Reason != "on call" {
		t.Errorf("approvals = %+v, want the hook's", a)
	}
	out, err = r.Apply(latch.Command{ID: "h", Kind: latch.CmdDeny, RequestID: "r1", Actor: hookActor, Hook: latch.HookOnRequest, At: at(time.Minute)},
		latch.Env{Flow: f, Requester: asker})
	if err != nil || out.Request.Status != latch.StatusDenied {
		t.Fatalf("deny by the hook = %s, %v; want denied", out.Request.Status, err)
	}
	if _, err := r.Apply(latch.Command{ID: "x", Kind: latch.CmdApprove, RequestID: "r1", Actor: hookActor, At: at(time.Minute)},
		latch.Env{Flow: f, Requester: asker}); latch.ErrorCodeOf(err) != latch.CodeUnknownUser {
		t.Errorf("the same approval without the hook mark: %v, want unknown_user", err)
	}
}

func TestCanRequestHonoursVisibleTo(t *testing.T) {
	f := testFlow()
	f.VisibleTo = ruleFunc(func(v latch.RuleVars) (bool, error) {
		if v.Flow != f {
			t.Errorf("the rule saw flow %v", v.Flow)
		}
		return v.Requester.Email == "sre@example.com", nil
	})
	if err := latch.CanRequest(f, &latch.User{Email: "sre@example.com", Role: latch.RoleMember}, latch.SourceSlack); err != nil {
		t.Errorf("a person the rule names: %v", err)
	}
	err := latch.CanRequest(f, &latch.User{Email: "dev@example.com", Role: latch.RoleMember}, latch.SourceSlack)
	if latch.ErrorCodeOf(err) != latch.CodeFlowNotOffered || latch.ErrorKindOf(err) != latch.KindForbidden {
		t.Errorf("a person the rule leaves out: %v, want flow_not_offered", err)
	}
	f.VisibleTo = ruleFunc(func(latch.RuleVars) (bool, error) { return false, errors.New("no such key") })
	if err := latch.CanRequest(f, &latch.User{Email: "sre@example.com", Role: latch.RoleMember}, latch.SourceSlack); latch.ErrorCodeOf(err) != latch.CodeRuleError {
		t.Errorf("a failing rule: %v, want rule_error", err)
	}
}

// The principal that created a request for someone else never approves it,
// whoever it names: a bot, as any person or as itself; a person who asked
// for another. Another principal's approval, or the creator's denial, is
// judged as before.
func TestCreatorCannotApprove(t *testing.T) {
	f := testFlow()
	f.Approval.Approvers = []string{"lead@example.com", "ci@bots.invalid"}
	asker := &latch.User{ID: "U-asker", Email: "asker@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	lead := &latch.User{ID: "U-lead", Email: "lead@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	admin := &latch.User{ID: "U-admin", Email: "root@example.com", Role: latch.RoleAdmin, Kind: latch.KindPerson}
	ciUser := &latch.User{ID: "U-ci", Email: "ci@bots.invalid", Name: "ci", Role: latch.RoleMember, Kind: latch.KindBot}
	byBot := func(r *latch.Request) { r.CreatedBy = latch.Actor{Email: asker.Email, Bot: "ci"} }
	byHelper := func(r *latch.Request) { r.CreatedBy = latch.Actor{Email: lead.Email} }
	tests := []struct {
		name    string
		created reqOpt
		kind    latch.CommandKind
		by      latch.Actor
		actor   *latch.User
		want    string
	}{
		{"the bot, as a listed approver", byBot, latch.CmdApprove, latch.Actor{Email: lead.Email, Bot: "ci"}, lead, latch.CodeCreatorCannotDecide},
		{"the bot, as an admin", byBot, latch.CmdApprove, latch.Actor{Email: admin.Email, Bot: "ci"}, admin, latch.CodeCreatorCannotDecide},
		{"the bot, as itself (a listed approver)", byBot, latch.CmdApprove, latch.Actor{Email: ciUser.Email, Bot: "ci"}, ciUser, latch.CodeCreatorCannotDecide},
		{"another bot, as the creating bot", byBot, latch.CmdApprove, latch.Actor{Email: ciUser.Email, Bot: "chatops"}, ciUser, latch.CodeCreatorCannotDecide},
		{"another bot, as a listed approver", byBot, latch.CmdApprove, latch.Actor{Email: lead.Email, Bot: "chatops"}, lead, "ok"},
		{"the approver in person", byBot, latch.CmdApprove, latch.Actor{Email: lead.Email}, lead, "ok"},
		{"the bot denies", byBot, latch.CmdDeny, latch.Actor{Email: lead.Email, Bot: "ci"}, lead, "ok"},
		{"a person who asked for another", byHelper, latch.CmdApprove, latch.Actor{Email: lead.Email}, lead, latch.CodeCreatorCannotDecide},
		{"an admin, for a request the person made", func(*latch.Request) {}, latch.CmdApprove, latch.Actor{Email: admin.Email}, admin, "ok"},
	}
	for _, tt := range tests {
		r := req("r1", requester(asker), tt.created)
		_, err := r.Apply(latch.Command{ID: "c", Kind: tt.kind, RequestID: "r1", Actor: tt.by, At: at(time.Minute)},
			latch.Env{Flow: f, Actor: tt.actor, Requester: asker})
		got := "ok"
		if err != nil {
			got = latch.ErrorCodeOf(err)
			if latch.ErrorKindOf(err) != latch.KindForbidden {
				t.Errorf("%s: kind %s, want forbidden", tt.name, latch.ErrorKindOf(err))
			}
		}
		if got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// An approval rule that fails when it runs is the person's answer, not a
// fault to retry: invalid (422), naming the flow and the rule.
func TestFailingApprovalRuleIsARuleError(t *testing.T) {
	f := testFlow()
	f.Approval.Rule = ruleFunc(func(latch.RuleVars) (bool, error) { return false, errors.New("actual cost limit exceeded") })
	asker := &latch.User{ID: "U-asker", Email: "asker@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	other := &latch.User{ID: "U-o", Email: "someone@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	r := req("r1", requester(asker))
	_, err := r.Apply(latch.Command{ID: "c", Kind: latch.CmdApprove, RequestID: "r1", Actor: latch.Actor{Email: other.Email}, At: at(time.Minute)},
		latch.Env{Flow: f, Actor: other, Requester: asker})
	le, ok := errors.AsType[*latch.Error](err)
	if !ok || le.Code != latch.CodeRuleError || le.Kind != latch.KindInvalid || le.Details["flow"] != f.Name || le.Details["rule"] != "approval.rule" ||
		!errors.Is(err, le.Err) || le.Err == nil {
		t.Fatalf("approve under a failing rule: %v (%+v), want an invalid rule_error naming flow and rule", err, le)
	}
}
