package latch_test

import (
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// onCallRule is requester.on_call, as the fake rule sees it.
var onCallRule latch.Rule = ruleFunc(func(v latch.RuleVars) (bool, error) { return v.OnCall.Requester, nil })

// autoApproveOnCall sets the flow's auto_approve rule to requester.on_call.
func autoApproveOnCall(f *latch.Flow) {
	f.AutoApprove, f.AutoApproveSource = onCallRule, "requester.on_call"
	f.OnCall = &latch.OnCallConfig{Provider: "pagerduty", ScheduleIDs: []string{"PSCHED1"}, TokenEnv: "PAGERDUTY_TOKEN"}
}

// TestApplyAutoApprove: the flow's auto_approve rule approves a new request
// as the flow when it is true, leaves it to people when it is false, and
// when it cannot be judged (the on-call lookup or the rule failed) records
// why and leaves it to people: a failure never approves.
func TestApplyAutoApprove(t *testing.T) {
	broken := func(f *latch.Flow) { f.AutoApprove, f.AutoApproveSource = brokenRule, "requester.team == 1" }
	tests := []struct {
		name       string
		flow       *latch.Flow
		give       latch.Request
		oncall     latch.OnCall
		wantStatus latch.Status
		wantAudit  []latch.AuditType
		wantData   map[string]any
		noop       bool
	}{
		{name: "the requester on call is approved by the flow", flow: testFlow(autoApproveOnCall), give: pending("r1"),
			oncall: latch.OnCall{Requester: true}, wantStatus: latch.StatusEscalating, wantAudit: []latch.AuditType{latch.AuditApproved}},
		{name: "a requester not on call waits for people", flow: testFlow(autoApproveOnCall), give: pending("r1"), noop: true},
		{name: "a failed lookup waits for people and says why", flow: testFlow(autoApproveOnCall), give: pending("r1"),
			oncall: latch.OnCall{Requester: true, Err: "PagerDuty answered 503"}, wantStatus: latch.StatusPending,
			wantAudit: []latch.AuditType{latch.AuditAutoApproveSkipped},
			wantData:  map[string]any{"reason": "the on-call lookup failed: PagerDuty answered 503", "rule": "requester.on_call"}},
		{name: "a failing rule waits for people and says why", flow: testFlow(broken), give: pending("r1"),
			wantStatus: latch.StatusPending, wantAudit: []latch.AuditType{latch.AuditAutoApproveSkipped},
			wantData: map[string]any{"reason": "the auto_approve rule failed: " + errRuleBroken.Error(), "rule": "requester.team == 1"}},
		{name: "a flow without the rule does nothing", flow: testFlow(), give: pending("r1"), oncall: latch.OnCall{Requester: true}, noop: true},
		{name: "a request decided already is left alone", flow: testFlow(autoApproveOnCall),
			give: pending("r1", status(latch.StatusDenied)), oncall: latch.OnCall{Requester: true}, noop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := latch.Command{ID: "auto_approve/r1", Kind: latch.CmdAutoApprove, RequestID: "r1", At: at(time.Second),
				Source: latch.SourceLatch}
			got, err := tt.give.Apply(cmd, latch.Env{Flow: tt.flow, Requester: ann, OnCall: tt.oncall})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if tt.noop {
				diff(t, "outcome", latch.Outcome{Request: tt.give, Noop: true}, got)
				return
			}
			diff(t, "status", tt.wantStatus, got.Request.Status)
			diff(t, "audit", tt.wantAudit, auditTypes(got.Audit))
			if tt.wantData != nil {
				diff(t, "data", tt.wantData, got.Audit[0].Data)
			}
			if tt.wantStatus == latch.StatusEscalating {
				want := []latch.Decision{{By: latch.Actor{Bot: "auto_approve rule"}, At: at(time.Second), Reason: "auto_approve: requester.on_call"}}
				diff(t, "approvals", want, got.Request.Approvals)
			}
		})
	}
}

// TestApproverOnCallRule: a rule over approver.on_call lets the person on
// call decide, with what the on-call source said for this command.
func TestApproverOnCallRule(t *testing.T) {
	f := testFlow(rule(ruleFunc(func(v latch.RuleVars) (bool, error) { return v.OnCall.Approver, nil })))
	r := pending("r1")
	if err := latch.CanDecide(f, &r, eve, ann, latch.OnCall{Approver: true}); err != nil {
		t.Errorf("eve on call: %v, want allowed", err)
	}
	wantKindCode(t, latch.CanDecide(f, &r, eve, ann, latch.OnCall{}), latch.KindForbidden, latch.CodeNotApprover)
	wantKindCode(t, latch.CanDecide(f, &r, eve, ann, latch.OnCall{Err: "timeout"}), latch.KindForbidden, latch.CodeNotApprover)
}
