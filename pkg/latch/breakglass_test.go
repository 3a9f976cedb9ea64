package latch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// breakGlassKinds are the commands of break glass, tested on break-glass
// requests by TestApplyBreakGlassEveryStatus.
var breakGlassKinds = map[latch.CommandKind]bool{latch.CmdBreakGlass: true, latch.CmdReview: true, latch.CmdReviewOverdue: true}

// onlyAnn is a break_glass.allowed rule true for ann alone.
var onlyAnn latch.Rule = ruleFunc(func(v latch.RuleVars) (bool, error) { return v.Requester.Email == ann.Email, nil })

// breakGlass gives the test flow a break_glass allowing ann: broadcast to
// #security, at most an hour, reviewed within two.
func breakGlass(f *latch.Flow) {
	f.BreakGlass = &latch.BreakGlass{Allowed: onlyAnn, AllowedSource: `requester.email == "ann@example.com"`,
		Broadcast: "#security", MaxDuration: time.Hour, ReviewWithin: 2 * time.Hour}
}

// glass makes a request fixture a break glass made at t0, its review due at t0+2h.
func glass(r *latch.Request) {
	r.BreakGlass = &latch.BreakGlassInfo{Reason: "prod is down", ReviewDueAt: at(2 * time.Hour)}
	r.ExpiresAt = nil
}

func reviewed(u *latch.User, t time.Time) reqOpt {
	return func(r *latch.Request) { r.BreakGlass.Review = &latch.Decision{By: by(u), At: t} }
}

func alerts(n int) reqOpt { return func(r *latch.Request) { r.BreakGlass.Alerts = n } }

// breakGlassCommand is the break-glass command k as given by someone
// entitled to it (ann breaks glass, dan reviews), late enough for timers,
// with the test flow offering break glass.
func breakGlassCommand(k latch.CommandKind) (latch.Command, latch.Env) {
	cmd := latch.Command{ID: "c1", Kind: k, RequestID: "r1", At: at(3 * time.Hour)}
	env := latch.Env{Flow: testFlow(breakGlass), Requester: ann}
	switch k {
	case latch.CmdBreakGlass:
		cmd.Actor, cmd.Reason, env.Actor = by(ann), "prod is down", ann
	case latch.CmdReview:
		cmd.Actor, env.Actor = by(dan), dan
	case latch.CmdReviewOverdue:
		cmd.Step = 1
	}
	return cmd, env
}

// TestApplyBreakGlassEveryStatus runs each break-glass command, as given by
// someone entitled to and late enough for timers, against a break-glass
// request in every status.
func TestApplyBreakGlassEveryStatus(t *testing.T) {
	granted := func(audit latch.AuditType) map[latch.Status]acted {
		m := map[latch.Status]acted{}
		for _, s := range []latch.Status{latch.StatusApproved, latch.StatusEscalating, latch.StatusActive,
			latch.StatusDeescalating, latch.StatusEnded, latch.StatusFailed} {
			m[s] = acted{s, latch.GrantNone, []latch.AuditType{audit}, []string{"notify:" + string(audit)}}
		}
		return m
	}
	table := map[latch.CommandKind]map[latch.Status]acted{
		// Granted at once: no approval, no hook, no approver asked.
		latch.CmdBreakGlass: {latch.StatusPending: {latch.StatusEscalating, latch.GrantJoin,
			[]latch.AuditType{latch.AuditBreakGlass}, []string{"notify:break_glass"}}},
		// Reviewed whatever became of the access since, once it was granted
		// (never granted: not_granted); the request does not move.
		latch.CmdReview: granted(latch.AuditBreakGlassReviewed),
		// Alerted only once access was granted: a break glass cancelled,
		// denied or expired before that granted nothing to review.
		latch.CmdReviewOverdue: granted(latch.AuditBreakGlassReviewOverdue),
	}
	for k := range breakGlassKinds {
		for _, s := range latch.Statuses {
			t.Run(fmt.Sprintf("%s/%s", s, k), func(t *testing.T) {
				give := requestIn(t, s)
				glass(&give)
				cmd, env := breakGlassCommand(k)
				got, err := give.Apply(cmd, env)
				want, acts := table[k][s]
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
				case k == latch.CmdReview:
					wantKindCode(t, err, latch.KindConflict, "not_granted")
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

// TestApplyBreakGlass covers who may break glass and review, and when the
// missing-review alert is raised and repeated.
func TestApplyBreakGlass(t *testing.T) {
	tests := []struct {
		name      string
		flow      *latch.Flow
		give      latch.Request
		cmd       latch.Command
		actor     *latch.User
		wantKind  latch.ErrorKind
		wantCode  string
		wantNoop  bool
		want      latch.Status
		wantAudit latch.AuditEvent // Type, Actor, Reason, Data compared
	}{
		{
			name: "the person the rule allows is granted at once", flow: testFlow(breakGlass), give: pending("r1", glass),
			cmd:   latch.Command{Kind: latch.CmdBreakGlass, Actor: by(ann), Reason: "prod is down", Source: latch.SourceAPI},
			actor: ann, want: latch.StatusEscalating,
			wantAudit: latch.AuditEvent{Type: latch.AuditBreakGlass, Actor: by(ann), Reason: "prod is down", Source: latch.SourceAPI,
				Data: map[string]any{"broadcast": "#security", "review_due_at": at(2 * time.Hour), "max_duration_seconds": int64(3600)}},
		},
		{
			name: "an approval-only flow approves at once", flow: testFlow(breakGlass, approvalOnly), give: pending("r1", glass),
			cmd: latch.Command{Kind: latch.CmdBreakGlass, Actor: by(ann)}, actor: ann, want: latch.StatusApproved,
			wantAudit: latch.AuditEvent{Type: latch.AuditBreakGlass, Actor: by(ann),
				Data: map[string]any{"broadcast": "#security", "review_due_at": at(2 * time.Hour), "max_duration_seconds": int64(3600)}},
		},
		{
			name: "a flow whose rule changed since withdraws it", flow: testFlow(breakGlass, func(f *latch.Flow) {
				f.BreakGlass.Allowed = ruleFunc(func(latch.RuleVars) (bool, error) { return false, nil })
			}), give: pending("r1", glass), cmd: latch.Command{Kind: latch.CmdBreakGlass, Actor: by(ann)}, actor: ann,
			want: latch.StatusCancelled,
			wantAudit: latch.AuditEvent{Type: latch.AuditCancelled,
				Reason: `ann@example.com may not break glass on flow "prod-access" (its break_glass.allowed rule); ask for access the usual way.`,
				Data:   map[string]any{"code": latch.CodeBreakGlassNotAllowed}},
		},
		{
			name: "a flow whose rule fails now leaves it for later", flow: testFlow(breakGlass, func(f *latch.Flow) { f.BreakGlass.Allowed = brokenRule }),
			give: pending("r1", glass), cmd: latch.Command{Kind: latch.CmdBreakGlass, Actor: by(ann)}, actor: ann,
			wantKind: latch.KindInvalid, wantCode: latch.CodeRuleError,
		},
		{
			name: "a request that was not a break glass is not granted by one", flow: testFlow(breakGlass), give: pending("r1"),
			cmd: latch.Command{Kind: latch.CmdBreakGlass, Actor: by(ann)}, actor: ann, wantNoop: true,
		},
		{
			name: "an approver reviews", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(bob), Reason: "checked the incident"}, actor: bob, want: latch.StatusActive,
			wantAudit: latch.AuditEvent{Type: latch.AuditBreakGlassReviewed, Actor: by(bob), Reason: "checked the incident",
				Data: map[string]any{"review_due_at": at(2 * time.Hour)}},
		},
		{
			name: "an admin reviews late", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass, status(latch.StatusEnded)),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(dan), At: at(5 * time.Hour)}, actor: dan, want: latch.StatusEnded,
			wantAudit: latch.AuditEvent{Type: latch.AuditBreakGlassReviewed, Actor: by(dan),
				Data: map[string]any{"review_due_at": at(2 * time.Hour), "late": true}},
		},
		{
			name: "the requester may not review their own", flow: testFlow(breakGlass, selfApproval), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(ann)}, actor: ann, wantKind: latch.KindForbidden, wantCode: latch.CodeSelfReview,
		},
		{
			name: "an admin who broke glass may not review it", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass, requester(dan)),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(dan)}, actor: dan, wantKind: latch.KindForbidden, wantCode: latch.CodeSelfReview,
		},
		{
			name: "somebody else may not review", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(eve)}, actor: eve, wantKind: latch.KindForbidden, wantCode: latch.CodeNotReviewer,
		},
		{
			name: "a guest may not review", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(gus)}, actor: gus, wantKind: latch.KindForbidden, wantCode: latch.CodeGuestNotAllowed,
		},
		{
			name: "a review is given once", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass, reviewed(bob, at(time.Hour))),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(cat)}, actor: cat, wantKind: latch.KindConflict, wantCode: latch.CodeAlreadyReviewed,
		},
		{
			name: "a request that was not a break glass has no review", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour)),
			cmd: latch.Command{Kind: latch.CmdReview, Actor: by(dan)}, actor: dan, wantKind: latch.KindConflict, wantCode: latch.CodeNotBreakGlass,
		},
		{
			name: "the first alert comes at the review's due time", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReviewOverdue, Step: 1, At: at(2 * time.Hour), Source: latch.SourceReconciler}, want: latch.StatusActive,
			wantAudit: latch.AuditEvent{Type: latch.AuditBreakGlassReviewOverdue, Source: latch.SourceReconciler,
				Data: map[string]any{"review_due_at": at(2 * time.Hour), "alert": 1}},
		},
		{
			name: "no alert before it", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReviewOverdue, Step: 1, At: at(2*time.Hour - time.Second)}, wantNoop: true,
		},
		{
			name: "the first alert is raised once", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass, alerts(1)),
			cmd: latch.Command{Kind: latch.CmdReviewOverdue, Step: 1, At: at(3 * time.Hour)}, wantNoop: true,
		},
		{
			name: "the second alert waits a day after the first", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass, alerts(1)),
			cmd: latch.Command{Kind: latch.CmdReviewOverdue, Step: 2, At: at(26*time.Hour - time.Second)}, wantNoop: true,
		},
		{
			name: "the second alert comes a day after the first", flow: testFlow(breakGlass),
			give: active("r1", "g1", t0, at(time.Hour), glass, alerts(1), status(latch.StatusEnded)),
			cmd:  latch.Command{Kind: latch.CmdReviewOverdue, Step: 2, At: at(26 * time.Hour)}, want: latch.StatusEnded,
			wantAudit: latch.AuditEvent{Type: latch.AuditBreakGlassReviewOverdue,
				Data: map[string]any{"review_due_at": at(2 * time.Hour), "alert": 2}},
		},
		{
			name: "a late alert stands for those missed", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReviewOverdue, Step: 2, At: at(30 * time.Hour)}, want: latch.StatusActive,
			wantAudit: latch.AuditEvent{Type: latch.AuditBreakGlassReviewOverdue,
				Data: map[string]any{"review_due_at": at(2 * time.Hour), "alert": 2}},
		},
		{
			name: "an alert is not raised before its time", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass),
			cmd: latch.Command{Kind: latch.CmdReviewOverdue, Step: 3, At: at(30 * time.Hour)}, wantNoop: true,
		},
		{
			name: "no alert once reviewed", flow: testFlow(breakGlass), give: active("r1", "g1", t0, at(time.Hour), glass, reviewed(dan, at(3*time.Hour))),
			cmd: latch.Command{Kind: latch.CmdReviewOverdue, Step: 1, At: at(4 * time.Hour)}, wantNoop: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := tt.cmd
			cmd.ID, cmd.RequestID = "c1", tt.give.ID
			if cmd.At.IsZero() {
				cmd.At = at(90 * time.Minute)
			}
			requester := ann
			if tt.give.Requester.Email == dan.Email {
				requester = dan
			}
			got, err := tt.give.Apply(cmd, latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: requester})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			if err != nil {
				return
			}
			if tt.wantNoop {
				diff(t, "outcome", latch.Outcome{Request: tt.give, Noop: true}, got)
				return
			}
			diff(t, "status", tt.want, got.Request.Status)
			if len(got.Audit) != 1 {
				t.Fatalf("audit = %v, want one event", auditTypes(got.Audit))
			}
			diff(t, "audit", tt.wantAudit, got.Audit[0])
			if tt.give.BreakGlass.Reason != got.Request.BreakGlass.Reason {
				t.Errorf("the reason changed: %q", got.Request.BreakGlass.Reason)
			}
			switch cmd.Kind {
			case latch.CmdReview:
				diff(t, "review", &latch.Decision{By: cmd.Actor, At: cmd.At, Reason: cmd.Reason}, got.Request.BreakGlass.Review)
				if tt.give.BreakGlass.Review != nil {
					t.Error("the given request was changed")
				}
			case latch.CmdReviewOverdue:
				diff(t, "alerts", cmd.Step, got.Request.BreakGlass.Alerts)
			case latch.CmdBreakGlass:
				if got.Request.ExpiresAt != nil || len(got.Request.Approvals) != 0 {
					t.Errorf("granted with expiry %v and approvals %v", got.Request.ExpiresAt, got.Request.Approvals)
				}
			}
		})
	}
}

// TestCreateBreakGlass checks a break glass as it is asked for: recorded
// pending, with its reason and review time, and nothing sent to approvers;
// capped at the flow's max_duration; refused without a reason, on a flow
// without break_glass, and to people its rule leaves out.
func TestCreateBreakGlass(t *testing.T) {
	tests := []struct {
		name         string
		flow         *latch.Flow
		user         *latch.User
		reason       string
		duration     string
		wantKind     latch.ErrorKind
		wantCode     string
		wantSecs     int64
		wantAskedFor int64
	}{
		{name: "within the maximum", flow: fieldsFlow(breakGlass), user: ann, reason: "prod is down", duration: "30m", wantSecs: 1800},
		{name: "longer than the maximum is capped", flow: fieldsFlow(breakGlass), user: ann, reason: "prod is down", duration: "4h",
			wantSecs: 3600, wantAskedFor: 4 * 3600},
		{name: "no reason", flow: fieldsFlow(breakGlass), user: ann, reason: "  ", duration: "30m",
			wantKind: latch.KindInvalid, wantCode: latch.CodeReasonRequired},
		{name: "a flow without break_glass", flow: fieldsFlow(), user: ann, reason: "prod is down", duration: "30m",
			wantKind: latch.KindInvalid, wantCode: latch.CodeBreakGlassNotOffered},
		{name: "a person the rule leaves out", flow: fieldsFlow(breakGlass), user: eve, reason: "prod is down", duration: "30m",
			wantKind: latch.KindForbidden, wantCode: latch.CodeBreakGlassNotAllowed},
		{name: "a broken rule", flow: fieldsFlow(breakGlass, func(f *latch.Flow) { f.BreakGlass.Allowed = brokenRule }), user: ann,
			reason: "prod is down", duration: "30m", wantKind: latch.KindInvalid, wantCode: latch.CodeRuleError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := latch.Create(tt.flow, latch.NewRequest{ID: "r1", Flow: flowName, Requester: tt.user, Source: latch.SourceAPI,
				Fields: map[string]any{"reason": "incident 42", "duration": tt.duration}, At: t0, BreakGlass: true, Reason: tt.reason})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			if err != nil {
				return
			}
			if len(got.Requests) != 1 {
				t.Fatalf("requests = %d, want 1", len(got.Requests))
			}
			r := got.Requests[0]
			diff(t, "status", latch.StatusPending, r.Status)
			diff(t, "duration", tt.wantSecs, r.Duration)
			diff(t, "break glass", &latch.BreakGlassInfo{Reason: tt.reason, RequestedSeconds: tt.wantAskedFor,
				ReviewDueAt: at(2 * time.Hour)}, r.BreakGlass)
			if r.ExpiresAt != nil || r.ForwardAt != nil {
				t.Errorf("expires %v, forwards %v; want neither", r.ExpiresAt, r.ForwardAt)
			}
			diff(t, "audit", []latch.AuditType{latch.AuditRequested}, auditTypes(got.Audit))
			diff(t, "audit reason", tt.reason, got.Audit[0].Reason)
			if len(got.Effects) != 0 {
				t.Errorf("effects = %v, want none: no approver is asked", effectNames(got.Effects))
			}
		})
	}
}

func TestNextReviewAlert(t *testing.T) {
	tests := []struct {
		name   string
		alerts int
		review bool
		now    time.Time
		want   int
		wantOK bool
	}{
		{name: "before the review is due", now: at(2*time.Hour - time.Nanosecond)},
		{name: "when it is due", now: at(2 * time.Hour), want: 1, wantOK: true},
		{name: "after the first, before a day passed", alerts: 1, now: at(26*time.Hour - time.Nanosecond)},
		{name: "a day after the first", alerts: 1, now: at(26 * time.Hour), want: 2, wantOK: true},
		{name: "three days late, none raised", now: at(2*time.Hour + 3*24*time.Hour), want: 4, wantOK: true},
		{name: "reviewed", review: true, now: at(40 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &latch.BreakGlassInfo{ReviewDueAt: at(2 * time.Hour), Alerts: tt.alerts}
			if tt.review {
				b.Review = &latch.Decision{By: by(dan), At: at(time.Hour)}
			}
			n, ok := b.NextReviewAlert(tt.now)
			if n != tt.want || ok != tt.wantOK {
				t.Errorf("NextReviewAlert = %d, %v; want %d, %v", n, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// A break glass joins the grant like an approval: a new grant is escalated
// with the lease capped as Create capped it; one already active takes the
// lease, and the request is active at once.
func TestDecideBreakGlass(t *testing.T) {
	cmd := latch.BreakGlassCommand(pending("r2", glass, durationSecs(3600)), at(time.Minute))
	t.Run("no grant open", func(t *testing.T) {
		c, err := latch.Decide(latch.State{Flow: testFlow(breakGlass), Request: ptr(pending("r2", glass, durationSecs(3600))),
			Actor: ann, Requester: ann, NewGrantID: func() string { return "g9" }}, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Requests) != 1 || c.Requests[0].Status != latch.StatusEscalating || c.Requests[0].GrantID != "g9" {
			t.Fatalf("requests %+v, want r2 escalating on g9", c.Requests)
		}
		if len(c.Grants) != 1 || c.Grants[0].Leases[0].Duration != 3600 || c.Grants[0].Status != latch.GrantEscalating {
			t.Errorf("grants %+v, want g9 escalating with r2's hour", c.Grants)
		}
		diff(t, "effects", []string{"notify:break_glass", "escalate"}, effectNames(c.Effects))
		diff(t, "audit", []latch.AuditType{latch.AuditBreakGlass}, auditTypes(c.Audit))
	})
	t.Run("a grant active already", func(t *testing.T) {
		g := grant("g1", latch.GrantActive, leases(lease("r1", 3600, at(time.Minute), at(61*time.Minute))), grantStarted(at(time.Minute)))
		r1 := active("r1", "g1", at(time.Minute), at(61*time.Minute))
		c, err := latch.Decide(latch.State{Flow: testFlow(breakGlass), Request: ptr(pending("r2", glass, durationSecs(3600))),
			OpenGrant: &g, Requests: map[string]*latch.Request{"r1": &r1}, Actor: ann, Requester: ann,
			NewGrantID: func() string { return "g9" }}, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if c.Requests[0].Status != latch.StatusActive || c.Requests[0].EndsAt == nil || !c.Requests[0].EndsAt.Equal(at(61*time.Minute)) {
			t.Errorf("r2 = %s until %v, want active at once until an hour from now", c.Requests[0].Status, c.Requests[0].EndsAt)
		}
		diff(t, "audit", []latch.AuditType{latch.AuditBreakGlass, latch.AuditEscalated}, auditTypes(c.Audit))
	})
}
