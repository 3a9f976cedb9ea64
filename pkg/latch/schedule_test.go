package latch_test

import (
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

func scheduledFor(t time.Time) reqOpt { return func(r *latch.Request) { r.ScheduledStart = ptr(t) } }

func allowStart(f *latch.Flow) { f.AllowScheduledStart = true }

// scheduledReq is the test request asking to start at start, approved by
// bob at t0+1m and waiting for its start.
func scheduledReq(id string, start time.Time, opts ...reqOpt) latch.Request {
	base := []reqOpt{status(latch.StatusScheduled), noExpiry, approvedBy(decision(bob, at(time.Minute))),
		scheduledFor(start), seq(3)}
	return req(id, append(base, opts...)...)
}

func TestApplyScheduledStart(t *testing.T) {
	start := at(2 * time.Hour)
	approve := func(when time.Time) latch.Command {
		return latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: when}
	}
	tests := []struct {
		name     string
		flow     *latch.Flow
		give     latch.Request
		cmd      latch.Command
		actor    *latch.User
		want     latch.Outcome
		wantKind latch.ErrorKind
		wantCode string
	}{
		{
			name:  "approved before its start, a request waits in scheduled with a timer for the start",
			flow:  testFlow(allowStart),
			give:  pending("r1", scheduledFor(start)),
			cmd:   approve(at(10 * time.Minute)),
			actor: bob,
			want: latch.Outcome{
				Request: pending("r1", scheduledFor(start), status(latch.StatusScheduled), noExpiry,
					approvedBy(decision(bob, at(10*time.Minute)))),
				Audit: []latch.AuditEvent{{Type: latch.AuditApproved, Actor: by(bob)},
					{Type: latch.AuditScheduled, Actor: by(bob), Data: map[string]any{"starts_at": start}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApproved},
					{Kind: latch.EffectHook, Hook: latch.HookOnApprove},
					{Kind: latch.EffectNotify, Event: latch.AuditScheduled}, {Kind: latch.EffectStart, At: start}},
			},
		},
		{
			name:  "approved at its start, a request is escalated at once",
			flow:  testFlow(allowStart),
			give:  pending("r1", scheduledFor(start)),
			cmd:   approve(start),
			actor: bob,
			want: latch.Outcome{
				Request: pending("r1", scheduledFor(start), status(latch.StatusEscalating), noExpiry,
					approvedBy(decision(bob, start))),
				Audit: []latch.AuditEvent{{Type: latch.AuditApproved, Actor: by(bob)}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApproved},
					{Kind: latch.EffectHook, Hook: latch.HookOnApprove}},
				Grant: latch.GrantJoin,
			},
		},
		{
			name:  "an approval short of the quorum leaves it pending, no timer",
			flow:  testFlow(allowStart, quorum(2)),
			give:  pending("r1", scheduledFor(start)),
			cmd:   approve(at(10 * time.Minute)),
			actor: bob,
			want: latch.Outcome{
				Request: pending("r1", scheduledFor(start), approvedBy(decision(bob, at(10*time.Minute)))),
				Audit: []latch.AuditEvent{{Type: latch.AuditApprovalAdded, Actor: by(bob),
					Data: map[string]any{"approvals": 1, "quorum": 2}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditApprovalAdded}},
			},
		},
		{
			name: "the start timer before the start changes nothing",
			flow: testFlow(allowStart),
			give: scheduledReq("r1", start),
			cmd:  latch.StartCommand("r1", start.Add(-time.Second)),
			want: latch.Outcome{Request: scheduledReq("r1", start), Noop: true},
		},
		{
			name: "the start timer at the start escalates",
			flow: testFlow(allowStart),
			give: scheduledReq("r1", start),
			cmd:  latch.StartCommand("r1", start),
			want: latch.Outcome{Request: scheduledReq("r1", start, status(latch.StatusEscalating)), Grant: latch.GrantJoin},
		},
		{
			name: "the start timer a second before the window's end escalates",
			flow: testFlow(allowStart),
			give: scheduledReq("r1", start),
			cmd:  latch.StartCommand("r1", start.Add(time.Hour-time.Second)),
			want: latch.Outcome{Request: scheduledReq("r1", start, status(latch.StatusEscalating)), Grant: latch.GrantJoin},
		},
		{
			name: "the start timer at the window's end expires the request, granting nothing",
			flow: testFlow(allowStart),
			give: scheduledReq("r1", start),
			cmd:  latch.StartCommand("r1", start.Add(time.Hour)),
			want: latch.Outcome{
				Request: scheduledReq("r1", start, status(latch.StatusExpired)),
				Audit: []latch.AuditEvent{{Type: latch.AuditExpired, Source: latch.SourceSchedule, Data: map[string]any{"reason": "scheduled_window_passed",
					"starts_at": start, "ends_at": start.Add(time.Hour)}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditExpired}},
			},
		},
		{
			name: "the start timer a day late expires the request",
			flow: testFlow(allowStart),
			give: scheduledReq("r1", start),
			cmd:  latch.StartCommand("r1", start.Add(24*time.Hour)),
			want: latch.Outcome{
				Request: scheduledReq("r1", start, status(latch.StatusExpired)),
				Audit: []latch.AuditEvent{{Type: latch.AuditExpired, Source: latch.SourceSchedule, Data: map[string]any{"reason": "scheduled_window_passed",
					"starts_at": start, "ends_at": start.Add(time.Hour)}}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditExpired}},
			},
		},
		{
			name: "on a flow with no scheduled end, a late start still escalates",
			flow: testFlow(allowStart, noSchedule),
			give: scheduledReq("r1", start),
			cmd:  latch.StartCommand("r1", start.Add(24*time.Hour)),
			want: latch.Outcome{Request: scheduledReq("r1", start, status(latch.StatusEscalating)), Grant: latch.GrantJoin},
		},
		{
			name: "the start timer of a cancelled request changes nothing",
			flow: testFlow(allowStart),
			give: scheduledReq("r1", start, status(latch.StatusCancelled)),
			cmd:  latch.StartCommand("r1", start),
			want: latch.Outcome{Request: scheduledReq("r1", start, status(latch.StatusCancelled)), Noop: true},
		},
		{
			name:  "an admin cancels a scheduled request",
			flow:  testFlow(allowStart),
			give:  scheduledReq("r1", start),
			cmd:   latch.Command{ID: "c1", Kind: latch.CmdCancel, RequestID: "r1", Actor: by(dan), At: at(time.Hour)},
			actor: dan,
			want: latch.Outcome{
				Request: scheduledReq("r1", start, status(latch.StatusCancelled), decided(decision(dan, at(time.Hour)))),
				Audit:   []latch.AuditEvent{{Type: latch.AuditCancelled, Actor: by(dan)}},
				Effects: []latch.Effect{{Kind: latch.EffectNotify, Event: latch.AuditCancelled}},
			},
		},
		{
			name:     "an approver may not cancel a scheduled request",
			flow:     testFlow(allowStart),
			give:     scheduledReq("r1", start),
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdCancel, RequestID: "r1", Actor: by(bob), At: at(time.Hour)},
			actor:    bob,
			wantKind: latch.KindForbidden,
			wantCode: latch.CodeNotRequester,
		},
		{
			name:     "a scheduled request cannot be revoked: it holds nothing yet",
			flow:     testFlow(allowStart),
			give:     scheduledReq("r1", start),
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(ann), At: at(time.Hour)},
			actor:    ann,
			wantKind: latch.KindConflict,
			wantCode: "not_active",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.give.Apply(tt.cmd, latch.Env{Flow: tt.flow, Actor: tt.actor, Requester: ann})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			if err != nil {
				return
			}
			diff(t, "outcome", tt.want, got)
		})
	}
}

// TestStoryScheduledStart follows scheduled requests through Decide: the
// lease's end counts from the start asked for, however late the timer
// fires; a cancelled one never asks for a grant.
func TestStoryScheduledStart(t *testing.T) {
	start := at(2 * time.Hour)
	t.Run("a late start still ends an hour after the start asked for", func(t *testing.T) {
		w := newWorld(t, fieldsFlow(allowStart), ann, bob)
		c, err := latch.Create(w.flow, latch.NewRequest{ID: "r1", Flow: flowName, Requester: ann, Source: latch.SourceAPI,
			Fields: map[string]any{"reason": "change window"}, At: t0, StartsAt: ptr(start)})
		if err != nil {
			t.Fatal(err)
		}
		w.commit(c)
		w.do(latch.Command{ID: "a1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(time.Minute)})
		diff(t, "status after approval", latch.StatusScheduled, w.status("r1"))
		if len(w.grants) != 0 {
			t.Fatalf("a scheduled request took a grant before its start: %v", w.grants)
		}
		c = w.do(latch.StartCommand("r1", start.Add(7*time.Minute))) // the server was down at the start
		diff(t, "status at start", latch.StatusEscalating, w.status("r1"))
		diff(t, "effects at start", []string{"escalate"}, effectNames(c.Effects))
		g := w.grants[w.reqs["r1"].GrantID]
		l, _ := g.Lease("r1")
		diff(t, "lease end", start.Add(time.Hour), l.EndsAt)
		w.do(latch.Command{ID: "e1", Kind: latch.CmdEscalated, GrantID: g.ID, At: start.Add(8 * time.Minute)})
		diff(t, "request end", ptr(start.Add(time.Hour)), w.reqs["r1"].EndsAt)
		diff(t, "audit", []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditScheduled, latch.AuditEscalated},
			w.types("r1"))
	})
	t.Run("a start that joins an active grant ends from the start asked for", func(t *testing.T) {
		w := newWorld(t, fieldsFlow(allowStart), ann, bob)
		w.create("r0", ann, "4h", t0)
		w.do(latch.Command{ID: "a0", Kind: latch.CmdApprove, RequestID: "r0", Actor: by(bob), At: t0})
		w.do(latch.Command{ID: "e0", Kind: latch.CmdEscalated, GrantID: "g1", At: t0})
		c, err := latch.Create(w.flow, latch.NewRequest{ID: "r1", Flow: flowName, Requester: ann, Source: latch.SourceAPI,
			Fields: map[string]any{"reason": "change window"}, At: t0, StartsAt: ptr(start)})
		if err != nil {
			t.Fatal(err)
		}
		w.commit(c)
		w.do(latch.Command{ID: "a1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(time.Minute)})
		w.do(latch.StartCommand("r1", start.Add(time.Minute)))
		diff(t, "status", latch.StatusActive, w.status("r1"))
		diff(t, "request end", ptr(start.Add(time.Hour)), w.reqs["r1"].EndsAt)
	})
	t.Run("a cancelled scheduled request never asks for a grant", func(t *testing.T) {
		w := newWorld(t, fieldsFlow(allowStart), ann, bob)
		c, err := latch.Create(w.flow, latch.NewRequest{ID: "r1", Flow: flowName, Requester: ann, Source: latch.SourceAPI,
			Fields: map[string]any{"reason": "change window"}, At: t0, StartsAt: ptr(start)})
		if err != nil {
			t.Fatal(err)
		}
		w.commit(c)
		w.do(latch.Command{ID: "a1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(time.Minute)})
		w.do(latch.Command{ID: "x1", Kind: latch.CmdCancel, RequestID: "r1", Actor: by(ann), At: at(time.Hour)})
		c, err = latch.Decide(w.load(latch.StartCommand("r1", start)), latch.StartCommand("r1", start))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Empty() {
			t.Errorf("the start of a cancelled request changed %+v", c)
		}
		for _, e := range w.effects {
			if e.Kind == latch.EffectEscalate || e.Kind == latch.EffectDeescalate {
				t.Errorf("effect %s asked of the target", e.Kind)
			}
		}
		diff(t, "audit", []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditScheduled, latch.AuditCancelled},
			w.types("r1"))
	})
}

func TestCheckStart(t *testing.T) {
	now := t0
	tests := []struct {
		name     string
		flow     *latch.Flow
		give     *time.Time
		want     *time.Time
		wantCode string
	}{
		{name: "none asked for", flow: testFlow(), give: nil, want: nil},
		{name: "an hour ahead", flow: testFlow(allowStart), give: ptr(at(time.Hour)), want: ptr(at(time.Hour))},
		{name: "in another zone, kept in UTC", flow: testFlow(allowStart),
			give: ptr(at(time.Hour).In(time.FixedZone("CET", 3600))), want: ptr(at(time.Hour))},
		{name: "90 days ahead", flow: testFlow(allowStart), give: ptr(at(latch.MaxStartAhead)), want: ptr(at(latch.MaxStartAhead))},
		{name: "a second more than 90 days ahead", flow: testFlow(allowStart), give: ptr(at(latch.MaxStartAhead + time.Second)),
			wantCode: latch.CodeInvalidStartsAt},
		{name: "now is no schedule", flow: testFlow(allowStart), give: ptr(now), want: nil},
		{name: "within the skew is now", flow: testFlow(allowStart), give: ptr(at(-30 * time.Second)), want: nil},
		{name: "in the past beyond the skew", flow: testFlow(allowStart), give: ptr(at(-2 * time.Minute)),
			wantCode: latch.CodeInvalidStartsAt},
		{name: "the flow does not allow it", flow: testFlow(), give: ptr(at(time.Hour)),
			wantCode: latch.CodeScheduledStartNotAllowed},
		{name: "an approval-only flow", flow: testFlow(allowStart, approvalOnly), give: ptr(at(time.Hour)),
			wantCode: latch.CodeScheduledStartNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := latch.CheckStart(tt.flow, tt.give, now)
			if tt.wantCode != "" {
				wantKindCode(t, err, latch.KindInvalid, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("CheckStart: %v", err)
			}
			diff(t, "start", tt.want, got)
			if got != nil && got.Location() != time.UTC {
				t.Errorf("start in %v, want UTC", got.Location())
			}
		})
	}

	t.Run("Create records the start and says so in the requested event", func(t *testing.T) {
		c, err := latch.Create(fieldsFlow(allowStart), latch.NewRequest{ID: "r1", Flow: flowName, Requester: ann,
			Source: latch.SourceAPI, Fields: map[string]any{"reason": "x"}, At: t0, StartsAt: ptr(at(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "scheduled start", ptr(at(time.Hour)), c.Requests[0].ScheduledStart)
		diff(t, "requested data", map[string]any{"starts_at": at(time.Hour)}, c.Audit[0].Data)
	})
	t.Run("Create refuses a start the flow does not allow", func(t *testing.T) {
		_, err := latch.Create(fieldsFlow(), latch.NewRequest{ID: "r1", Flow: flowName, Requester: ann,
			Source: latch.SourceAPI, Fields: map[string]any{"reason": "x"}, At: t0, StartsAt: ptr(at(time.Hour))})
		wantKindCode(t, err, latch.KindInvalid, latch.CodeScheduledStartNotAllowed)
	})
}
