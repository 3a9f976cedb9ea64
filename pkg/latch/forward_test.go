package latch_test

import (
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// forwarding gives the test flow a forwarding chain: after 15 minutes to
// #sre-leads, where eve may decide too; after 30 minutes to fay in a DM.
// Both steps count from the request's creation, and come before the
// flow's one-hour timeout.
func forwarding(f *latch.Flow) {
	f.Approval.Forward = []latch.ForwardStep{
		{After: 15 * time.Minute, Channel: "#sre-leads", Approvers: []string{eve.Email}},
		{After: 30 * time.Minute, DM: []string{fay.Email}},
	}
}

func forwardedTo(step int, next *time.Time) reqOpt {
	return func(r *latch.Request) { r.Forwarded, r.ForwardAt = step, next }
}

// TestApplyForward is the forwarding schedule on a fake clock: each step is
// reached once, in order, at its time counted from the request, or at once
// when the step before could not be delivered.
func TestApplyForward(t *testing.T) {
	undeliverable := &latch.Failure{Code: "undeliverable", Message: "step 1: channel_not_found"}
	tests := []struct {
		name    string
		give    latch.Request
		step    int
		at      time.Time
		failure *latch.Failure
		want    latch.Outcome
	}{
		{
			name: "step 1 before its time is a no-op",
			give: pending("r1", forwardedTo(0, ptr(at(15*time.Minute)))),
			step: 1, at: at(15*time.Minute - time.Second),
			want: latch.Outcome{Request: pending("r1", forwardedTo(0, ptr(at(15*time.Minute)))), Noop: true},
		},
		{
			name: "step 1 at its time is reached and step 2 is scheduled",
			give: pending("r1", forwardedTo(0, ptr(at(15*time.Minute)))),
			step: 1, at: at(15 * time.Minute),
			want: latch.Outcome{
				Request: pending("r1", forwardedTo(1, ptr(at(30*time.Minute)))),
				Audit: []latch.AuditEvent{{Type: latch.AuditForwarded,
					Data: map[string]any{"step": 1, "channel": "#sre-leads", "approvers": []string{eve.Email}}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditForwarded},
					{Kind: latch.EffectForward, At: at(30 * time.Minute), Step: 2}},
			},
		},
		{
			name: "the last step is reached and nothing more is scheduled",
			give: pending("r1", forwardedTo(1, ptr(at(30*time.Minute)))),
			step: 2, at: at(31 * time.Minute),
			want: latch.Outcome{
				Request: pending("r1", forwardedTo(2, nil)),
				Audit: []latch.AuditEvent{{Type: latch.AuditForwarded,
					Data: map[string]any{"step": 2, "dm": []string{fay.Email}}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditForwarded}},
			},
		},
		{
			name: "a step reached already is a no-op (a timer fired twice)",
			give: pending("r1", forwardedTo(1, ptr(at(30*time.Minute)))),
			step: 1, at: at(20 * time.Minute),
			want: latch.Outcome{Request: pending("r1", forwardedTo(1, ptr(at(30*time.Minute)))), Noop: true},
		},
		{
			name: "a step is not skipped: step 2 before step 1 is a no-op",
			give: pending("r1", forwardedTo(0, ptr(at(15*time.Minute)))),
			step: 2, at: at(40 * time.Minute),
			want: latch.Outcome{Request: pending("r1", forwardedTo(0, ptr(at(15*time.Minute)))), Noop: true},
		},
		{
			name: "a step the flow does not have is a no-op",
			give: pending("r1", forwardedTo(2, nil)),
			step: 3, at: at(50 * time.Minute),
			want: latch.Outcome{Request: pending("r1", forwardedTo(2, nil)), Noop: true},
		},
		{
			name: "an undeliverable step moves to the next at once",
			give: pending("r1", forwardedTo(1, ptr(at(30*time.Minute)))),
			step: 2, at: at(16 * time.Minute), failure: undeliverable,
			want: latch.Outcome{
				Request: pending("r1", forwardedTo(2, nil)),
				Audit: []latch.AuditEvent{{Type: latch.AuditForwarded,
					Data: map[string]any{"step": 2, "dm": []string{fay.Email}, "undeliverable": undeliverable.Message}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditForwarded}},
			},
		},
		{
			name: "a decided request is not forwarded",
			give: pending("r1", status(latch.StatusDenied), noExpiry),
			step: 1, at: at(20 * time.Minute),
			want: latch.Outcome{Request: pending("r1", status(latch.StatusDenied), noExpiry), Noop: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := latch.ForwardCommand("r1", tt.step, tt.at)
			cmd.Failure = tt.failure
			got, err := tt.give.Apply(cmd, latch.Env{Flow: testFlow(forwarding)})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for i := range tt.want.Audit {
				tt.want.Audit[i].Source = latch.SourceSchedule
			}
			diff(t, "outcome", tt.want, got)
		})
	}
}

// TestDecisionsStopForwarding: a decided request keeps no forwarding time,
// so neither a timer re-armed at start nor the AWS sweep forwards it.
func TestDecisionsStopForwarding(t *testing.T) {
	give := pending("r1", forwardedTo(1, ptr(at(30*time.Minute))))
	cmds := []struct {
		cmd   latch.Command
		actor *latch.User
	}{
		{latch.Command{ID: "c", Kind: latch.CmdApprove, Actor: by(eve), At: at(20 * time.Minute)}, eve},
		{latch.Command{ID: "c", Kind: latch.CmdDeny, Actor: by(bob), At: at(20 * time.Minute)}, bob},
		{latch.Command{ID: "c", Kind: latch.CmdCancel, Actor: by(ann), At: at(20 * time.Minute)}, ann},
		{latch.Command{ID: "c", Kind: latch.CmdExpire, At: at(time.Hour)}, nil},
	}
	for _, c := range cmds {
		t.Run(string(c.cmd.Kind), func(t *testing.T) {
			got, err := give.Apply(c.cmd, latch.Env{Flow: testFlow(forwarding), Actor: c.actor, Requester: ann})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got.Noop || got.Request.ForwardAt != nil || got.Request.ExpiresAt != nil {
				t.Errorf("after %s: noop %v, forward_at %v, expires_at %v; want both times cleared", c.cmd.Kind,
					got.Noop, got.Request.ForwardAt, got.Request.ExpiresAt)
			}
		})
	}
}

// TestForwardPolicy: a step's approvers, dm people and rule may decide once
// the request has reached the step, and not before; the original
// approvers still may.
func TestForwardPolicy(t *testing.T) {
	backupRule := func(f *latch.Flow) {
		forwarding(f)
		f.Approval.Forward[1].Rule = allowEmails(gus.Email, "hal@example.com")
	}
	hal := &latch.User{ID: "U-hal", Email: "hal@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}
	failing := func(f *latch.Flow) {
		forwarding(f)
		f.Approval.Forward[0].Rule = brokenRule
	}
	tests := []struct {
		name     string
		flow     *latch.Flow
		reached  int
		actor    *latch.User
		wantCode string // "" allowed
		wantKind latch.ErrorKind
	}{
		{name: "a step's approver may not decide before the step", flow: testFlow(forwarding), reached: 0, actor: eve,
			wantCode: latch.CodeNotApprover, wantKind: latch.KindForbidden},
		{name: "a step's approver decides once the step is reached", flow: testFlow(forwarding), reached: 1, actor: eve},
		{name: "an original approver still decides after forwarding", flow: testFlow(forwarding), reached: 2, actor: bob},
		{name: "a later step's dm person may not decide at an earlier step", flow: testFlow(forwarding), reached: 1, actor: fay,
			wantCode: latch.CodeNotApprover, wantKind: latch.KindForbidden},
		{name: "a step's dm person decides once the step is reached", flow: testFlow(forwarding), reached: 2, actor: fay},
		{name: "an earlier step's approver still decides at a later step", flow: testFlow(forwarding), reached: 2, actor: eve},
		{name: "a step's rule allows once the step is reached", flow: testFlow(backupRule), reached: 2, actor: hal},
		{name: "a step's rule does not allow before the step", flow: testFlow(backupRule), reached: 1, actor: hal,
			wantCode: latch.CodeNotApprover, wantKind: latch.KindForbidden},
		{name: "a failing step rule does not stop a step approver", flow: testFlow(failing), reached: 1, actor: eve},
		{name: "a failing step rule is a rule error for anyone else", flow: testFlow(failing), reached: 1, actor: hal,
			wantCode: latch.CodeRuleError, wantKind: latch.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pending("r1", forwardedTo(tt.reached, nil))
			err := latch.CanDecide(tt.flow, &r, tt.actor, ann, latch.OnCall{})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("CanDecide: %v, want allowed", err)
				}
				return
			}
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
		})
	}
}

// TestCreateSchedulesTheFirstStep: a request of a flow with a forwarding
// chain records when its first step falls due and asks for its timer.
func TestCreateSchedulesTheFirstStep(t *testing.T) {
	c, err := latch.Create(testFlow(forwarding), latch.NewRequest{ID: "r1", Flow: flowName, Requester: ann,
		Source: latch.SourceSlack, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "forward_at", ptr(at(15*time.Minute)), c.Requests[0].ForwardAt)
	var fwd []latch.Effect
	for _, e := range c.Effects {
		if e.Kind == latch.EffectForward {
			e.ID, e.CreatedAt = "", time.Time{}
			fwd = append(fwd, e)
		}
	}
	diff(t, "forward effects", []latch.Effect{{Kind: latch.EffectForward, RequestID: "r1", At: at(15 * time.Minute), Step: 1}}, fwd)
}
