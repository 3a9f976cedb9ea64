package latch_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// t0 is the fixed time every test starts from: the request is created then.
var t0 = time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

const (
	flowName = "prod-access"
	targetID = "prod-admins"
)

// People. Emails are stored normalized, as the user store keeps them.
var (
	ann = &latch.User{ID: "U-ann", Email: "ann@example.com", Role: latch.RoleMember, Kind: latch.KindPerson} // the requester
	bob = &latch.User{ID: "U-bob", Email: "bob@example.com", Role: latch.RoleMember, Kind: latch.KindPerson} // a listed approver
	cat = &latch.User{ID: "U-cat", Email: "cat@example.com", Role: latch.RoleMember, Kind: latch.KindPerson} // a listed approver
	dan = &latch.User{ID: "U-dan", Email: "dan@example.com", Role: latch.RoleAdmin, Kind: latch.KindPerson}  // an admin, not listed
	eve = &latch.User{ID: "U-eve", Email: "eve@example.com", Role: latch.RoleMember, Kind: latch.KindPerson} // nobody in particular
	gus = &latch.User{ID: "U-gus", Email: "gus@partner.example", Role: latch.RoleGuest, Kind: latch.KindPerson}
	fay = &latch.User{ID: "U-fay", Email: "fay@example.com", Role: latch.RoleMember, Kind: latch.KindPerson} // a second requester
)

// by is the command actor for u.
func by(u *latch.User) latch.Actor { return latch.Actor{Email: u.Email} }

// ruleFunc is a fake approval rule.
type ruleFunc func(latch.RuleVars) (bool, error)

func (f ruleFunc) Eval(v latch.RuleVars) (bool, error) { return f(v) }

// allowEmails is a rule that names approvers by email.
func allowEmails(emails ...string) latch.Rule {
	return ruleFunc(func(v latch.RuleVars) (bool, error) {
		for _, e := range emails {
			if v.Approver.Email == e {
				return true, nil
			}
		}
		return false, nil
	})
}

var errRuleBroken = errors.New("no such attribute: approver.team")

// brokenRule always fails.
var brokenRule latch.Rule = ruleFunc(func(latch.RuleVars) (bool, error) { return false, errRuleBroken })

// Hook URLs of the test flow.
var allHooks = latch.Hooks{
	OnRequest:       "https://hooks.example.com/on_request",
	OnApprove:       "https://hooks.example.com/on_approve",
	OnDeny:          "https://hooks.example.com/on_deny",
	AfterEscalate:   "https://hooks.example.com/after_escalate",
	AfterDeescalate: "https://hooks.example.com/after_deescalate",
	GetIdentity:     "https://hooks.example.com/get_identity",
}

// testFlow is a flow granting one target, approved by one of bob and cat
// (written in mixed case, as people write flow files), with every hook set,
// a one-hour approval timeout, and both revoke and scheduled deescalation.
// Options adjust it.
func testFlow(opts ...func(*latch.Flow)) *latch.Flow {
	f := &latch.Flow{
		Name:                 flowName,
		Label:                "Production access",
		AllowRevoke:          true,
		ScheduleDeescalation: true,
		Approval: latch.Approval{
			Channel:   "#access",
			Approvers: []string{"Bob@Example.com", "CAT@example.COM"},
			Quorum:    1,
			Timeout:   time.Hour,
		},
		Strategy: &latch.Strategy{Type: "webhook", Targets: []latch.Target{{ID: targetID, Label: "Prod admins"}}},
		Hooks:    allHooks,
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

func quorum(n int) func(*latch.Flow) { return func(f *latch.Flow) { f.Approval.Quorum = n } }

func selfApproval(f *latch.Flow) { f.Approval.AllowSelfApproval = true }

func guests(f *latch.Flow) { f.AllowGuestInteraction = true }

func noRevoke(f *latch.Flow) { f.AllowRevoke = false }

func noSchedule(f *latch.Flow) { f.ScheduleDeescalation = false }

func approvalOnly(f *latch.Flow) { f.Strategy = nil }

// extendable lets the requester extend up to 8 hours in all, extensions of
// at most auto granted at once (0: approvers decide every one).
func extendable(auto time.Duration) func(*latch.Flow) {
	return func(f *latch.Flow) { f.Extension = &latch.Extension{MaxTotal: 8 * time.Hour, AutoWithin: auto} }
}

func noHooks(f *latch.Flow) { f.Hooks = latch.Hooks{} }

func rule(r latch.Rule) func(*latch.Flow) { return func(f *latch.Flow) { f.Approval.Rule = r } }

func approvers(emails ...string) func(*latch.Flow) {
	return func(f *latch.Flow) { f.Approval.Approvers = emails }
}

// reqOpt adjusts a request fixture.
type reqOpt func(*latch.Request)

// req is a request as Create leaves it: ann asks for an hour of prod-admins
// at t0 and it expires at t0+1h. Options move it along.
func req(id string, opts ...reqOpt) latch.Request {
	r := latch.Request{
		ID:        id,
		Flow:      flowName,
		Requester: latch.UserRef{ID: ann.ID, Email: ann.Email},
		CreatedBy: by(ann),
		Source:    latch.SourceSlack,
		Fields:    latch.Fields{"reason": "incident 42", latch.FieldNameTarget: targetID},
		TargetID:  targetID,
		Duration:  3600,
		Status:    latch.StatusPending,
		ExpiresAt: ptr(at(time.Hour)),
		CreatedAt: t0,
		UpdatedAt: t0,
		Version:   1,
		EventSeq:  1,
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func status(s latch.Status) reqOpt { return func(r *latch.Request) { r.Status = s } }

func inGrant(id string) reqOpt { return func(r *latch.Request) { r.GrantID = id } }

func seq(n int64) reqOpt { return func(r *latch.Request) { r.EventSeq = n } }

func updated(t time.Time) reqOpt { return func(r *latch.Request) { r.UpdatedAt = t } }

func noExpiry(r *latch.Request) { r.ExpiresAt = nil }

func durationSecs(n int64) reqOpt { return func(r *latch.Request) { r.Duration = n } }

func requester(u *latch.User) reqOpt {
	return func(r *latch.Request) {
		r.Requester = latch.UserRef{ID: u.ID, Email: u.Email}
		r.CreatedBy = by(u)
	}
}

// window sets when access started and is due to end; a zero end leaves
// EndsAt unset.
func window(start, end time.Time) reqOpt {
	return func(r *latch.Request) {
		r.StartsAt = ptr(start)
		r.EndsAt = nil
		if !end.IsZero() {
			r.EndsAt = ptr(end)
		}
	}
}

func endsAt(t time.Time) reqOpt { return func(r *latch.Request) { r.EndsAt = ptr(t) } }

func approvedBy(ds ...latch.Decision) reqOpt { return func(r *latch.Request) { r.Approvals = ds } }

func decided(d latch.Decision) reqOpt { return func(r *latch.Request) { r.Decision = &d } }

func failed(code, msg, stage string) reqOpt {
	return func(r *latch.Request) {
		r.Status = latch.StatusFailed
		r.Failure = &latch.Failure{Code: code, Message: msg, Stage: stage}
	}
}

func noFailure(r *latch.Request) { r.Failure = nil }

func access(a latch.AccessState) reqOpt { return func(r *latch.Request) { r.Access = a } }

// decision is u's decision at t.
func decision(u *latch.User, t time.Time) latch.Decision { return latch.Decision{By: by(u), At: t} }

// Request fixtures in each status, as the lifecycle leaves them. Approved
// requests of the test flow went through bob.
func pending(id string, opts ...reqOpt) latch.Request { return req(id, opts...) }

func escalating(id, grantID string, opts ...reqOpt) latch.Request {
	base := []reqOpt{status(latch.StatusEscalating), noExpiry, approvedBy(decision(bob, at(time.Minute))), inGrant(grantID), seq(2)}
	return req(id, append(base, opts...)...)
}

func active(id, grantID string, start, end time.Time, opts ...reqOpt) latch.Request {
	base := []reqOpt{status(latch.StatusActive), noExpiry, approvedBy(decision(bob, at(time.Minute))), inGrant(grantID),
		window(start, end), seq(3)}
	return req(id, append(base, opts...)...)
}

func deescalating(id, grantID string, start, end time.Time, opts ...reqOpt) latch.Request {
	return active(id, grantID, start, end, append([]reqOpt{status(latch.StatusDeescalating)}, opts...)...)
}

// grantOpt adjusts a grant fixture.
type grantOpt func(*latch.Grant)

// grant is ann's grant of prod-admins, created at t0+1m.
func grant(id string, s latch.GrantStatus, opts ...grantOpt) latch.Grant {
	g := latch.Grant{
		ID:        id,
		Key:       latch.GrantKey(flowName, targetID, ann.Email),
		Flow:      flowName,
		TargetID:  targetID,
		User:      latch.UserRef{ID: ann.ID, Email: ann.Email},
		Status:    s,
		CreatedAt: at(time.Minute),
		UpdatedAt: at(time.Minute),
		Version:   1,
	}
	for _, o := range opts {
		o(&g)
	}
	return g
}

func leases(ls ...latch.Lease) grantOpt { return func(g *latch.Grant) { g.Leases = ls } }

func queued(ls ...latch.Lease) grantOpt { return func(g *latch.Grant) { g.Queued = ls } }

func grantStarted(t time.Time) grantOpt { return func(g *latch.Grant) { g.StartsAt = ptr(t) } }

func grantEnded(t time.Time) grantOpt { return func(g *latch.Grant) { g.EndedAt = ptr(t) } }

func grantUpdated(t time.Time) grantOpt { return func(g *latch.Grant) { g.UpdatedAt = t } }

func grantCreated(t time.Time) grantOpt {
	return func(g *latch.Grant) { g.CreatedAt, g.UpdatedAt, g.Version = t, t, 0 }
}

// recorded is what the grant records when it starts: what its revoke
// needs, from testFlow, and that this version decides held_before.
func recorded(g *latch.Grant) {
	g.Revoke = &latch.RevokeInfo{Strategy: "webhook", TargetID: targetID, TargetLabel: "Prod admins", IdentityService: "webhook"}
	g.ChecksHeld = true
}

func grantDue(t time.Time) grantOpt { return func(g *latch.Grant) { g.DueAt = ptr(t) } }

func grantFailure(code, msg, stage string) grantOpt {
	return func(g *latch.Grant) { g.Failure = &latch.Failure{Code: code, Message: msg, Stage: stage} }
}

// lease is a lease of request id for secs seconds; start and end are set
// when not zero.
func lease(id string, secs int64, start, end time.Time) latch.Lease {
	return latch.Lease{RequestID: id, Duration: secs, StartsAt: start, EndsAt: end}
}

// evOpt adjusts an expected audit event.
type evOpt func(*latch.AuditEvent)

// event is the audit event Decide records as r's seq-th, of type typ, at t.
// It is by Latch itself unless an option says otherwise.
func event(r latch.Request, s int64, typ latch.AuditType, t time.Time, opts ...evOpt) latch.AuditEvent {
	e := latch.AuditEvent{
		ID:        latch.AuditEventID(r.ID, s),
		RequestID: r.ID,
		Seq:       s,
		Type:      typ,
		At:        t,
		Flow:      r.Flow,
		Requester: r.Requester.Email,
		TargetID:  r.TargetID,
		GrantID:   r.GrantID,
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func actor(u *latch.User) evOpt { return func(e *latch.AuditEvent) { e.Actor = by(u) } }

func evGrant(id string) evOpt { return func(e *latch.AuditEvent) { e.GrantID = id } }

func evData(d map[string]any) evOpt { return func(e *latch.AuditEvent) { e.Data = d } }

func evSource(s latch.Source) evOpt { return func(e *latch.AuditEvent) { e.Source = s } }

func ptr[T any](v T) *T { return &v }

// wantKindCode fails tb unless err is an *latch.Error of the given kind and
// code; an empty code wants no error.
func wantKindCode(tb testing.TB, err error, kind latch.ErrorKind, code string) {
	tb.Helper()
	if code == "" {
		if err != nil {
			tb.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("want %s error %q, got none", kind, code)
	}
	var le *latch.Error
	if !errors.As(err, &le) {
		tb.Fatalf("want a *latch.Error %s/%s, got %T: %v", kind, code, err, err)
	}
	if le.Kind != kind || le.Code != code {
		tb.Fatalf("error = %s/%s (%v), want %s/%s", le.Kind, le.Code, err, kind, code)
	}
	if le.Message == "" {
		tb.Errorf("error %s has no message for people", code)
	}
}

// diff fails tb with a readable diff when got and want differ.
func diff(tb testing.TB, what string, want, got any, opts ...cmp.Option) {
	tb.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		tb.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
