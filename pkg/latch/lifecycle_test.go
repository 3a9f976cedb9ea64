package latch_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchhq/latch/pkg/latch"
)

// changeOpts compares changes: a nil and an empty list mean the same.
var changeOpts = []cmp.Option{cmpopts.EquateEmpty()}

// requests indexes requests by id, as State.Requests holds them.
func requests(rs ...latch.Request) map[string]*latch.Request {
	m := make(map[string]*latch.Request, len(rs))
	for _, r := range rs {
		m[r.ID] = &r
	}
	return m
}

// grantIDs returns a NewGrantID that hands out ids in order and fails tb
// when asked for more.
func grantIDs(tb testing.TB, ids ...string) func() string {
	tb.Helper()
	return func() string {
		if len(ids) == 0 {
			tb.Errorf("Decide asked for a new grant id; none expected")
			return "unexpected-grant"
		}
		id := ids[0]
		ids = ids[1:]
		return id
	}
}

// notify, hook, escalate, deescalate and wake are the effects Decide emits,
// with their ids and times.
func notify(id, requestID string, ev latch.AuditType, t time.Time) latch.Effect {
	return latch.Effect{ID: id, Kind: latch.EffectNotify, RequestID: requestID, Event: ev, CreatedAt: t}
}

func hook(id, requestID, point string, t time.Time) latch.Effect {
	return latch.Effect{ID: id, Kind: latch.EffectHook, RequestID: requestID, Hook: point, CreatedAt: t}
}

func escalate(id, grantID, requestID string, t time.Time) latch.Effect {
	return latch.Effect{ID: id, Kind: latch.EffectEscalate, GrantID: grantID, RequestID: requestID, CreatedAt: t}
}

func deescalate(id, grantID, requestID string, t time.Time) latch.Effect {
	return latch.Effect{ID: id, Kind: latch.EffectDeescalate, GrantID: grantID, RequestID: requestID, CreatedAt: t}
}

func wake(id, grantID string, when, t time.Time) latch.Effect {
	return latch.Effect{ID: id, Kind: latch.EffectWake, GrantID: grantID, At: when, CreatedAt: t}
}

// Times of the scenarios: ann's first request r1 (an hour) is approved and
// escalated at 2m and ends at 62m; her second request r2 (half an hour)
// starts at 10m and ends at 40m.
var (
	r1Start, r1End = at(2 * time.Minute), at(62 * time.Minute)
	r2Start, r2End = at(10 * time.Minute), at(40 * time.Minute)
)

func r2opts(opts ...reqOpt) []reqOpt { return append([]reqOpt{durationSecs(1800)}, opts...) }

func TestDecide(t *testing.T) {
	approval := func(u *latch.User, tm time.Time) latch.Decision { return latch.Decision{By: by(u), At: tm} }
	tests := []struct {
		name        string
		flow        *latch.Flow
		state       func() latch.State // without Flow and NewGrantID
		newGrantIDs []string
		cmd         latch.Command
		want        latch.Change
	}{
		{
			name: "approve meeting the quorum starts a grant and asks for escalation",
			flow: testFlow(quorum(2)),
			state: func() latch.State {
				return latch.State{Request: ptr(pending("r1", approvedBy(approval(bob, at(5*time.Minute))), seq(2))), Actor: cat, Requester: ann}
			},
			newGrantIDs: []string{"g1"},
			cmd:         latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(cat), Source: latch.SourceSlack, At: at(10 * time.Minute)},
			want: latch.Change{
				Dedup: "c1",
				Requests: []latch.Request{pending("r1", status(latch.StatusEscalating), noExpiry, inGrant("g1"), seq(3), updated(at(10*time.Minute)),
					approvedBy(approval(bob, at(5*time.Minute)), approval(cat, at(10*time.Minute))))},
				// The end is fixed now, when the first escalation attempt is asked for.
				Grants: []latch.Grant{grant("g1", latch.GrantEscalating, grantCreated(at(10*time.Minute)), recorded,
					leases(lease("r1", 3600, time.Time{}, at(70*time.Minute))))},
				Audit: []latch.AuditEvent{event(pending("r1"), 3, latch.AuditApproved, at(10*time.Minute), actor(cat), evSource(latch.SourceSlack))},
				Effects: []latch.Effect{
					notify("c1/0", "r1", latch.AuditApproved, at(10*time.Minute)),
					hook("c1/1", "r1", latch.HookOnApprove, at(10*time.Minute)),
					escalate("c1/2", "g1", "r1", at(10*time.Minute)),
				},
			},
		},
		{
			name: "approve short of the quorum records the approval and touches no grant",
			flow: testFlow(quorum(2)),
			state: func() latch.State {
				return latch.State{Request: ptr(pending("r1")), Actor: bob, Requester: ann}
			},
			cmd: latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(5 * time.Minute)},
			want: latch.Change{
				Dedup:    "c1",
				Requests: []latch.Request{pending("r1", seq(2), updated(at(5*time.Minute)), approvedBy(approval(bob, at(5*time.Minute))))},
				Audit: []latch.AuditEvent{event(pending("r1"), 2, latch.AuditApprovalAdded, at(5*time.Minute), actor(bob),
					evData(map[string]any{"approvals": 1, "quorum": 2}))},
				Effects: []latch.Effect{notify("c1/0", "r1", latch.AuditApprovalAdded, at(5*time.Minute))},
			},
		},
		{
			name: "escalated starts every lease and wakes at the earliest end",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{}), lease("r2", 1800, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1"), escalating("r2", "g1", r2opts()...)),
				}
			},
			cmd: latch.Command{ID: "c2", Kind: latch.CmdEscalated, GrantID: "g1", At: r2Start},
			want: latch.Change{
				Dedup: "c2",
				Requests: []latch.Request{
					escalating("r1", "g1", status(latch.StatusActive), window(r2Start, r2Start.Add(time.Hour)), seq(3), updated(r2Start)),
					escalating("r2", "g1", r2opts(status(latch.StatusActive), window(r2Start, r2End), seq(3), updated(r2Start))...),
				},
				Grants: []latch.Grant{grant("g1", latch.GrantActive, grantStarted(r2Start), grantUpdated(r2Start),
					leases(lease("r1", 3600, r2Start, r2Start.Add(time.Hour)), lease("r2", 1800, r2Start, r2End)))},
				Audit: []latch.AuditEvent{
					event(escalating("r1", "g1"), 3, latch.AuditEscalated, r2Start, evData(map[string]any{"starts_at": r2Start, "ends_at": r2Start.Add(time.Hour)})),
					event(escalating("r2", "g1"), 3, latch.AuditEscalated, r2Start, evData(map[string]any{"starts_at": r2Start, "ends_at": r2End})),
				},
				Effects: []latch.Effect{
					notify("c2/0", "r1", latch.AuditEscalated, r2Start),
					hook("c2/1", "r1", latch.HookAfterEscalate, r2Start),
					notify("c2/2", "r2", latch.AuditEscalated, r2Start),
					hook("c2/3", "r2", latch.HookAfterEscalate, r2Start),
					wake("c2/4", "g1", r2End, r2Start),
				},
			},
		},
		{
			name: "without schedule_deescalation leases have no end and nothing wakes",
			flow: testFlow(noSchedule, noHooks),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1")),
				}
			},
			cmd: latch.Command{ID: "c2", Kind: latch.CmdEscalated, GrantID: "g1", At: r1Start},
			want: latch.Change{
				Dedup:    "c2",
				Requests: []latch.Request{escalating("r1", "g1", status(latch.StatusActive), window(r1Start, time.Time{}), seq(3), updated(r1Start))},
				Grants: []latch.Grant{grant("g1", latch.GrantActive, grantStarted(r1Start), grantUpdated(r1Start),
					leases(lease("r1", 3600, r1Start, time.Time{})))},
				Audit:   []latch.AuditEvent{event(escalating("r1", "g1"), 3, latch.AuditEscalated, r1Start, evData(map[string]any{"starts_at": r1Start}))},
				Effects: []latch.Effect{notify("c2/0", "r1", latch.AuditEscalated, r1Start)},
			},
		},
		{
			name: "a second request approved while the grant is escalating shares it",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Request:   ptr(pending("r2", r2opts()...)),
					OpenGrant: ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Requests:  requests(escalating("r1", "g1")),
					Actor:     bob, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c3", Kind: latch.CmdApprove, RequestID: "r2", Actor: by(bob), At: at(time.Minute)},
			want: latch.Change{
				Dedup: "c3",
				Requests: []latch.Request{pending("r2", r2opts(status(latch.StatusEscalating), noExpiry, inGrant("g1"), seq(2),
					updated(at(time.Minute)), approvedBy(approval(bob, at(time.Minute))))...)},
				Grants: []latch.Grant{grant("g1", latch.GrantEscalating,
					leases(lease("r1", 3600, time.Time{}, time.Time{}), lease("r2", 1800, time.Time{}, at(31*time.Minute))))},
				Audit: []latch.AuditEvent{event(pending("r2"), 2, latch.AuditApproved, at(time.Minute), actor(bob))},
				Effects: []latch.Effect{
					notify("c3/0", "r2", latch.AuditApproved, at(time.Minute)),
					hook("c3/1", "r2", latch.HookOnApprove, at(time.Minute)),
				},
			},
		},
		{
			name: "a request approved while the grant is active is active at once with its own lease",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Request:   ptr(pending("r2", r2opts()...)),
					OpenGrant: ptr(grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests:  requests(active("r1", "g1", r1Start, r1End)),
					Actor:     bob, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c3", Kind: latch.CmdApprove, RequestID: "r2", Actor: by(bob), At: r2Start},
			want: latch.Change{
				Dedup: "c3",
				Requests: []latch.Request{pending("r2", r2opts(status(latch.StatusActive), noExpiry, inGrant("g1"), seq(3), updated(r2Start),
					approvedBy(approval(bob, r2Start)), window(r2Start, r2End))...)},
				Grants: []latch.Grant{grant("g1", latch.GrantActive, grantStarted(r1Start), grantUpdated(r2Start),
					leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))},
				Audit: []latch.AuditEvent{
					event(pending("r2"), 2, latch.AuditApproved, r2Start, actor(bob)),
					event(pending("r2"), 3, latch.AuditEscalated, r2Start, evGrant("g1"), evData(map[string]any{"starts_at": r2Start, "ends_at": r2End})),
				},
				Effects: []latch.Effect{
					notify("c3/0", "r2", latch.AuditApproved, r2Start),
					hook("c3/1", "r2", latch.HookOnApprove, r2Start),
					notify("c3/2", "r2", latch.AuditEscalated, r2Start),
					hook("c3/3", "r2", latch.HookAfterEscalate, r2Start),
					wake("c3/4", "g1", r2End, r2Start),
				},
			},
		},
		{
			name: "a request approved while the grant is being revoked queues its lease",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Request:   ptr(pending("r2", r2opts()...)),
					OpenGrant: ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests:  requests(deescalating("r1", "g1", r1Start, r1End)),
					Actor:     bob, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c3", Kind: latch.CmdApprove, RequestID: "r2", Actor: by(bob), At: at(50 * time.Minute)},
			want: latch.Change{
				Dedup: "c3",
				Requests: []latch.Request{pending("r2", r2opts(status(latch.StatusEscalating), noExpiry, seq(2), updated(at(50*time.Minute)),
					approvedBy(approval(bob, at(50*time.Minute))))...)},
				Grants: []latch.Grant{grant("g1", latch.GrantDeescalating, grantStarted(r1Start), grantUpdated(at(50*time.Minute)),
					leases(lease("r1", 3600, r1Start, r1End)), queued(lease("r2", 1800, time.Time{}, time.Time{})))},
				Audit: []latch.AuditEvent{event(pending("r2"), 2, latch.AuditApproved, at(50*time.Minute), actor(bob))},
				Effects: []latch.Effect{
					notify("c3/0", "r2", latch.AuditApproved, at(50*time.Minute)),
					hook("c3/1", "r2", latch.HookOnApprove, at(50*time.Minute)),
				},
			},
		},
		{
			name: "revoking one of two leases ends that request and the grant stays active",
			flow: testFlow(),
			state: func() latch.State {
				g := grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))
				return latch.State{
					Request:   ptr(active("r1", "g1", r1Start, r1End)),
					Grant:     ptr(g),
					OpenGrant: ptr(g),
					Requests:  requests(active("r2", "g1", r2Start, r2End, r2opts()...)),
					Actor:     ann, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c4", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(ann), Reason: "done", Source: latch.SourceAPI, At: at(20 * time.Minute)},
			want: latch.Change{
				Dedup: "c4",
				Requests: []latch.Request{active("r1", "g1", r1Start, at(20*time.Minute), status(latch.StatusEnded), seq(5), updated(at(20*time.Minute)),
					decided(latch.Decision{By: by(ann), At: at(20 * time.Minute), Reason: "done"}))},
				Grants: []latch.Grant{grant("g1", latch.GrantActive, grantStarted(r1Start), grantUpdated(at(20*time.Minute)),
					leases(lease("r2", 1800, r2Start, r2End)))},
				Audit: []latch.AuditEvent{
					event(active("r1", "g1", r1Start, r1End), 4, latch.AuditReleased, at(20*time.Minute), actor(ann),
						evSource(latch.SourceAPI), func(e *latch.AuditEvent) { e.Reason = "done" }),
					event(active("r1", "g1", r1Start, r1End), 5, latch.AuditLeaseEnded, at(20*time.Minute), evSource(latch.SourceAPI)),
				},
				Effects: []latch.Effect{
					notify("c4/0", "r1", latch.AuditDeescalated, at(20*time.Minute)),
					wake("c4/1", "g1", r2End, at(20*time.Minute)),
				},
			},
		},
		{
			name: "revoking the last lease starts the revoke of the grant",
			flow: testFlow(),
			state: func() latch.State {
				g := grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))
				return latch.State{
					Request: ptr(active("r1", "g1", r1Start, r1End)),
					Grant:   ptr(g), OpenGrant: ptr(g),
					Actor: bob, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c4", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(bob), At: at(20 * time.Minute)},
			want: latch.Change{
				Dedup: "c4",
				Requests: []latch.Request{active("r1", "g1", r1Start, r1End, status(latch.StatusDeescalating), seq(4), updated(at(20*time.Minute)),
					decided(decision(bob, at(20*time.Minute))))},
				Grants: []latch.Grant{grant("g1", latch.GrantDeescalating, grantStarted(r1Start), grantUpdated(at(20*time.Minute)),
					grantDue(at(20*time.Minute)), leases(lease("r1", 3600, r1Start, r1End)))},
				Audit:   []latch.AuditEvent{event(active("r1", "g1", r1Start, r1End), 4, latch.AuditRevoked, at(20*time.Minute), actor(bob))},
				Effects: []latch.Effect{deescalate("c4/0", "g1", "r1", at(20*time.Minute))},
			},
		},
		{
			name: "revoking a lease when the other's time has also come revokes the grant for both",
			flow: testFlow(),
			state: func() latch.State {
				g := grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))
				return latch.State{
					Request:  ptr(active("r1", "g1", r1Start, r1End)),
					Grant:    ptr(g),
					Requests: requests(active("r2", "g1", r2Start, r2End, r2opts()...)),
					Actor:    ann, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c4", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(ann), At: r2End},
			want: latch.Change{
				Dedup: "c4",
				Requests: []latch.Request{
					active("r1", "g1", r1Start, r1End, status(latch.StatusDeescalating), seq(4), updated(r2End), decided(decision(ann, r2End))),
					active("r2", "g1", r2Start, r2End, r2opts(status(latch.StatusDeescalating), updated(r2End))...),
				},
				Grants: []latch.Grant{grant("g1", latch.GrantDeescalating, grantStarted(r1Start), grantUpdated(r2End), grantDue(r2End),
					leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))},
				Audit:   []latch.AuditEvent{event(active("r1", "g1", r1Start, r1End), 4, latch.AuditReleased, r2End, actor(ann))},
				Effects: []latch.Effect{deescalate("c4/0", "g1", "r1", r2End)},
			},
		},
		{
			name: "due ends only the leases whose time has come",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))),
					Requests: requests(active("r1", "g1", r1Start, r1End), active("r2", "g1", r2Start, r2End, r2opts()...)),
				}
			},
			cmd: latch.Command{ID: "c5", Kind: latch.CmdDue, GrantID: "g1", At: r2End},
			want: latch.Change{
				Dedup:    "c5",
				Requests: []latch.Request{active("r2", "g1", r2Start, r2End, r2opts(status(latch.StatusEnded), seq(4), updated(r2End))...)},
				Grants: []latch.Grant{grant("g1", latch.GrantActive, grantStarted(r1Start), grantUpdated(r2End),
					leases(lease("r1", 3600, r1Start, r1End)))},
				Audit: []latch.AuditEvent{event(active("r2", "g1", r2Start, r2End), 4, latch.AuditLeaseEnded, r2End)},
				Effects: []latch.Effect{
					notify("c5/0", "r2", latch.AuditDeescalated, r2End),
					wake("c5/1", "g1", r1End, r2End),
				},
			},
		},
		{
			name: "due with every lease due revokes the grant and every request with it",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))),
					Requests: requests(active("r1", "g1", r1Start, r1End), active("r2", "g1", r2Start, r2End, r2opts()...)),
				}
			},
			cmd: latch.Command{ID: "c5", Kind: latch.CmdDue, GrantID: "g1", At: r1End.Add(time.Second)},
			want: latch.Change{
				Dedup: "c5",
				Requests: []latch.Request{
					active("r1", "g1", r1Start, r1End, status(latch.StatusDeescalating), updated(r1End.Add(time.Second))),
					active("r2", "g1", r2Start, r2End, r2opts(status(latch.StatusDeescalating), updated(r1End.Add(time.Second)))...),
				},
				// Due at the lease end, not at the late due report.
				Grants: []latch.Grant{grant("g1", latch.GrantDeescalating, grantStarted(r1Start), grantUpdated(r1End.Add(time.Second)), grantDue(r1End),
					leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))},
				Effects: []latch.Effect{deescalate("c5/0", "g1", "r1", r1End.Add(time.Second))},
			},
		},
		{
			name: "a stale due changes nothing",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(active("r1", "g1", r1Start, r1End)),
				}
			},
			cmd:  latch.Command{ID: "c5", Kind: latch.CmdDue, GrantID: "g1", At: r2End},
			want: latch.Change{Dedup: "c5"},
		},
		{
			name: "due for a grant already being revoked changes nothing",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End)),
				}
			},
			cmd:  latch.Command{ID: "c5", Kind: latch.CmdDue, GrantID: "g1", At: r1End},
			want: latch.Change{Dedup: "c5"},
		},
		{
			name: "deescalated ends the grant and every leased request",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant: ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start),
						leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End), deescalating("r2", "g1", r2Start, r2End, r2opts()...)),
				}
			},
			cmd: latch.Command{ID: "c6", Kind: latch.CmdDeescalated, GrantID: "g1", At: at(63 * time.Minute)},
			want: latch.Change{
				Dedup: "c6",
				Requests: []latch.Request{
					active("r1", "g1", r1Start, r1End, status(latch.StatusEnded), seq(4), updated(at(63*time.Minute))),
					active("r2", "g1", r2Start, r2End, r2opts(status(latch.StatusEnded), seq(4), updated(at(63*time.Minute)))...),
				},
				Grants: []latch.Grant{grant("g1", latch.GrantEnded, grantStarted(r1Start), grantEnded(at(63*time.Minute)), grantUpdated(at(63*time.Minute)),
					leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))},
				Audit: []latch.AuditEvent{
					event(active("r1", "g1", r1Start, r1End), 4, latch.AuditDeescalated, at(63*time.Minute)),
					event(active("r2", "g1", r2Start, r2End), 4, latch.AuditDeescalated, at(63*time.Minute)),
				},
				Effects: []latch.Effect{
					hook("c6/0", "r1", latch.HookAfterDeescalate, at(63*time.Minute)),
					notify("c6/1", "r1", latch.AuditDeescalated, at(63*time.Minute)),
					hook("c6/2", "r2", latch.HookAfterDeescalate, at(63*time.Minute)),
					notify("c6/3", "r2", latch.AuditDeescalated, at(63*time.Minute)),
				},
			},
		},
		{
			name: "deescalated starts a new grant for the queued leases",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant: ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start),
						leases(lease("r1", 3600, r1Start, r1End)), queued(lease("r2", 1800, time.Time{}, time.Time{})))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End), escalating("r2", "", r2opts()...)),
				}
			},
			newGrantIDs: []string{"g2"},
			cmd:         latch.Command{ID: "c6", Kind: latch.CmdDeescalated, GrantID: "g1", At: at(63 * time.Minute)},
			want: latch.Change{
				Dedup: "c6",
				Requests: []latch.Request{
					active("r1", "g1", r1Start, r1End, status(latch.StatusEnded), seq(4), updated(at(63*time.Minute))),
					escalating("r2", "g2", r2opts(updated(at(63*time.Minute)))...),
				},
				Grants: []latch.Grant{
					grant("g1", latch.GrantEnded, grantStarted(r1Start), grantEnded(at(63*time.Minute)), grantUpdated(at(63*time.Minute)),
						leases(lease("r1", 3600, r1Start, r1End))),
					// The queued lease's end counts from its grant's start.
					grant("g2", latch.GrantEscalating, grantCreated(at(63*time.Minute)), recorded, leases(lease("r2", 1800, time.Time{}, at(93*time.Minute)))),
				},
				Audit: []latch.AuditEvent{event(active("r1", "g1", r1Start, r1End), 4, latch.AuditDeescalated, at(63*time.Minute))},
				Effects: []latch.Effect{
					hook("c6/0", "r1", latch.HookAfterDeescalate, at(63*time.Minute)),
					notify("c6/1", "r1", latch.AuditDeescalated, at(63*time.Minute)),
					escalate("c6/2", "g2", "", at(63*time.Minute)),
				},
			},
		},
		{
			name: "escalation failed fails the grant and every leased request",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{}), lease("r2", 1800, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1"), escalating("r2", "g1", r2opts()...)),
				}
			},
			cmd: latch.Command{ID: "c7", Kind: latch.CmdEscalationFailed, GrantID: "g1", At: at(3 * time.Minute),
				Failure: &latch.Failure{Code: "no_identity", Message: "ann has no AWS user."}},
			want: latch.Change{
				Dedup: "c7",
				Requests: []latch.Request{
					escalating("r1", "g1", failed("no_identity", "ann has no AWS user.", latch.StageEscalate), access(latch.AccessRevoked), seq(3), updated(at(3*time.Minute))),
					escalating("r2", "g1", r2opts(failed("no_identity", "ann has no AWS user.", latch.StageEscalate), access(latch.AccessRevoked), seq(3), updated(at(3*time.Minute)))...),
				},
				Grants: []latch.Grant{grant("g1", latch.GrantFailed, grantUpdated(at(3*time.Minute)),
					grantFailure("no_identity", "ann has no AWS user.", latch.StageEscalate),
					leases(lease("r1", 3600, time.Time{}, time.Time{}), lease("r2", 1800, time.Time{}, time.Time{})))},
				Audit: []latch.AuditEvent{
					event(escalating("r1", "g1"), 3, latch.AuditFailed, at(3*time.Minute),
						evData(map[string]any{"code": "no_identity", "message": "ann has no AWS user.", "stage": latch.StageEscalate, "access": "revoked"})),
					event(escalating("r2", "g1"), 3, latch.AuditFailed, at(3*time.Minute),
						evData(map[string]any{"code": "no_identity", "message": "ann has no AWS user.", "stage": latch.StageEscalate, "access": "revoked"})),
				},
				Effects: []latch.Effect{
					notify("c7/0", "r1", latch.AuditFailed, at(3*time.Minute)),
					notify("c7/1", "r2", latch.AuditFailed, at(3*time.Minute)),
				},
			},
		},
		{
			name: "deescalation failed keeps the grant deescalating, records the revoke overdue and revokes again",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start), grantDue(r1End), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End)),
				}
			},
			cmd: latch.Command{ID: "c8", Kind: latch.CmdDeescalationFailed, GrantID: "g1", At: at(70 * time.Minute),
				Failure: &latch.Failure{Code: "throttled", Message: "The target API refused."}},
			want: latch.Change{
				Dedup: "c8",
				Requests: []latch.Request{active("r1", "g1", r1Start, r1End, status(latch.StatusDeescalating),
					seq(4), updated(at(70*time.Minute)))},
				Grants: []latch.Grant{grant("g1", latch.GrantDeescalating, grantStarted(r1Start), grantUpdated(at(70*time.Minute)), grantDue(r1End),
					grantFailure("throttled", "The target API refused.", latch.StageDeescalate), leases(lease("r1", 3600, r1Start, r1End)))},
				Audit: []latch.AuditEvent{event(active("r1", "g1", r1Start, r1End), 4, latch.AuditRevokeOverdue, at(70*time.Minute),
					evData(map[string]any{"code": "throttled", "last_error": "The target API refused.", "due_at": r1End, "retrying": true}))},
				Effects: []latch.Effect{
					deescalate("c8/0", "g1", "", at(70*time.Minute)),
					notify("c8/1", "r1", latch.AuditRevokeOverdue, at(70*time.Minute)),
				},
			},
		},
		{
			name: "an admin's retry of a failed revoke revokes the grant again",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Request: ptr(active("r1", "g1", r1Start, r1End, failed("throttled", "slow down", latch.StageDeescalate), seq(4))),
					Grant: ptr(grant("g1", latch.GrantFailed, grantStarted(r1Start), grantFailure("throttled", "slow down", latch.StageDeescalate),
						leases(lease("r1", 3600, r1Start, r1End)))),
					Actor: dan, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c9", Kind: latch.CmdRetry, RequestID: "r1", Actor: by(dan), At: at(80 * time.Minute)},
			want: latch.Change{
				Dedup: "c9",
				Requests: []latch.Request{active("r1", "g1", r1Start, r1End, status(latch.StatusDeescalating), seq(5),
					updated(at(80*time.Minute)))},
				Grants: []latch.Grant{grant("g1", latch.GrantDeescalating, grantStarted(r1Start), grantUpdated(at(80*time.Minute)),
					grantDue(at(80*time.Minute)), leases(lease("r1", 3600, r1Start, r1End)))},
				Audit: []latch.AuditEvent{event(active("r1", "g1", r1Start, r1End), 5, latch.AuditRetried, at(80*time.Minute), actor(dan),
					evData(map[string]any{"stage": latch.StageDeescalate}))},
				Effects: []latch.Effect{deescalate("c9/0", "g1", "r1", at(80*time.Minute))},
			},
		},
		{
			name: "deescalated after a retried revoke ends every request on the grant",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant: ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start),
						leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End, seq(5)),
						active("r2", "g1", r2Start, r2End, r2opts(failed("throttled", "slow down", latch.StageDeescalate), seq(4))...)),
				}
			},
			cmd: latch.Command{ID: "c10", Kind: latch.CmdDeescalated, GrantID: "g1", At: at(90 * time.Minute)},
			want: latch.Change{
				Dedup: "c10",
				Requests: []latch.Request{
					active("r1", "g1", r1Start, r1End, status(latch.StatusEnded), seq(6), updated(at(90*time.Minute))),
					active("r2", "g1", r2Start, r2End, r2opts(status(latch.StatusEnded), seq(5), updated(at(90*time.Minute)))...),
				},
				Grants: []latch.Grant{grant("g1", latch.GrantEnded, grantStarted(r1Start), grantEnded(at(90*time.Minute)), grantUpdated(at(90*time.Minute)),
					leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))},
				Audit: []latch.AuditEvent{
					event(active("r1", "g1", r1Start, r1End), 6, latch.AuditDeescalated, at(90*time.Minute)),
					event(active("r2", "g1", r2Start, r2End), 5, latch.AuditDeescalated, at(90*time.Minute)),
				},
				Effects: []latch.Effect{
					hook("c10/0", "r1", latch.HookAfterDeescalate, at(90*time.Minute)),
					notify("c10/1", "r1", latch.AuditDeescalated, at(90*time.Minute)),
					hook("c10/2", "r2", latch.HookAfterDeescalate, at(90*time.Minute)),
					notify("c10/3", "r2", latch.AuditDeescalated, at(90*time.Minute)),
				},
			},
		},
		{
			name: "an admin's retry of a failed escalation starts a new grant",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Request: ptr(escalating("r1", "g1", failed("no_identity", "ann has no AWS user.", latch.StageEscalate), seq(3))),
					Grant: ptr(grant("g1", latch.GrantFailed, grantFailure("no_identity", "ann has no AWS user.", latch.StageEscalate),
						leases(lease("r1", 3600, time.Time{}, time.Time{})))),
					Actor: dan, Requester: ann,
				}
			},
			newGrantIDs: []string{"g2"},
			cmd:         latch.Command{ID: "c11", Kind: latch.CmdRetry, RequestID: "r1", Actor: by(dan), At: at(30 * time.Minute)},
			want: latch.Change{
				Dedup:    "c11",
				Requests: []latch.Request{escalating("r1", "g2", seq(4), updated(at(30*time.Minute)))},
				Grants: []latch.Grant{grant("g2", latch.GrantEscalating, grantCreated(at(30*time.Minute)), recorded,
					leases(lease("r1", 3600, time.Time{}, at(90*time.Minute))))},
				Audit: []latch.AuditEvent{event(escalating("r1", ""), 4, latch.AuditRetried, at(30*time.Minute), actor(dan),
					evData(map[string]any{"stage": latch.StageEscalate}))},
				Effects: []latch.Effect{escalate("c11/0", "g2", "r1", at(30*time.Minute))},
			},
		},
		{
			name: "expire ends a pending request",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{Request: ptr(pending("r1")), Requester: ann}
			},
			cmd: latch.Command{ID: "create/r1/0", Kind: latch.CmdExpire, RequestID: "r1", At: at(time.Hour)},
			want: latch.Change{
				Dedup:    "create/r1/0",
				Requests: []latch.Request{pending("r1", status(latch.StatusExpired), noExpiry, seq(2), updated(at(time.Hour)))},
				Audit:    []latch.AuditEvent{event(pending("r1"), 2, latch.AuditExpired, at(time.Hour))},
				Effects:  []latch.Effect{notify("create/r1/0/0", "r1", latch.AuditExpired, at(time.Hour))},
			},
		},
		{
			name: "revoking while the grant is already being revoked leaves the request to end with it",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Request: ptr(active("r1", "g1", r1Start, r1End)),
					Grant: ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start),
						leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))),
					Requests: requests(deescalating("r2", "g1", r2Start, r2End, r2opts()...)),
					Actor:    ann, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c14", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(ann), At: r2End},
			want: latch.Change{
				Dedup: "c14",
				Requests: []latch.Request{active("r1", "g1", r1Start, r1End, status(latch.StatusDeescalating), seq(4), updated(r2End),
					decided(decision(ann, r2End)))},
				Audit: []latch.AuditEvent{event(active("r1", "g1", r1Start, r1End), 4, latch.AuditReleased, r2End, actor(ann))},
			},
		},
		{
			name: "a retried revoke whose grant is already being revoked again asks nothing more",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Request: ptr(active("r2", "g1", r2Start, r2End, r2opts(failed("throttled", "slow down", latch.StageDeescalate), seq(4))...)),
					Grant: ptr(grant("g1", latch.GrantDeescalating, grantStarted(r1Start),
						leases(lease("r1", 3600, r1Start, r1End), lease("r2", 1800, r2Start, r2End)))),
					Requests: requests(deescalating("r1", "g1", r1Start, r1End, seq(5))),
					Actor:    dan, Requester: ann,
				}
			},
			cmd: latch.Command{ID: "c15", Kind: latch.CmdRetry, RequestID: "r2", Actor: by(dan), At: at(80 * time.Minute)},
			want: latch.Change{
				Dedup:    "c15",
				Requests: []latch.Request{active("r2", "g1", r2Start, r2End, r2opts(status(latch.StatusDeescalating), seq(5), updated(at(80*time.Minute)))...)},
				Audit: []latch.AuditEvent{event(active("r2", "g1", r2Start, r2End), 5, latch.AuditRetried, at(80*time.Minute), actor(dan),
					evData(map[string]any{"stage": latch.StageDeescalate}))},
			},
		},
		{
			name: "a lease whose request is not loaded still starts with the grant",
			flow: testFlow(noHooks),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantEscalating, leases(lease("r1", 3600, time.Time{}, time.Time{}), lease("gone", 600, time.Time{}, time.Time{})))),
					Requests: requests(escalating("r1", "g1")),
				}
			},
			cmd: latch.Command{ID: "c16", Kind: latch.CmdEscalated, GrantID: "g1", At: r1Start},
			want: latch.Change{
				Dedup:    "c16",
				Requests: []latch.Request{escalating("r1", "g1", status(latch.StatusActive), window(r1Start, r1End), seq(3), updated(r1Start))},
				Grants: []latch.Grant{grant("g1", latch.GrantActive, grantStarted(r1Start), grantUpdated(r1Start),
					leases(lease("r1", 3600, r1Start, r1End), lease("gone", 600, r1Start, r1Start.Add(10*time.Minute))))},
				Audit: []latch.AuditEvent{event(escalating("r1", "g1"), 3, latch.AuditEscalated, r1Start,
					evData(map[string]any{"starts_at": r1Start, "ends_at": r1End}))},
				Effects: []latch.Effect{
					notify("c16/0", "r1", latch.AuditEscalated, r1Start),
					wake("c16/1", "g1", r1Start.Add(10*time.Minute), r1Start),
				},
			},
		},
		{
			name: "an escalation failure reported for an active grant changes nothing",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(active("r1", "g1", r1Start, r1End)),
				}
			},
			cmd:  latch.Command{ID: "c17", Kind: latch.CmdEscalationFailed, GrantID: "g1", At: r1Start},
			want: latch.Change{Dedup: "c17"},
		},
		{
			name: "a deescalation failure reported for an active grant changes nothing",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(active("r1", "g1", r1Start, r1End)),
				}
			},
			cmd:  latch.Command{ID: "c18", Kind: latch.CmdDeescalationFailed, GrantID: "g1", At: r1Start},
			want: latch.Change{Dedup: "c18"},
		},
		{
			name: "a repeated escalated report changes nothing",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantActive, grantStarted(r1Start), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(active("r1", "g1", r1Start, r1End)),
				}
			},
			cmd:  latch.Command{ID: "c12", Kind: latch.CmdEscalated, GrantID: "g1", At: at(5 * time.Minute)},
			want: latch.Change{Dedup: "c12"},
		},
		{
			name: "a repeated deescalated report changes nothing",
			flow: testFlow(),
			state: func() latch.State {
				return latch.State{
					Grant:    ptr(grant("g1", latch.GrantEnded, grantStarted(r1Start), grantEnded(r1End), leases(lease("r1", 3600, r1Start, r1End)))),
					Requests: requests(active("r1", "g1", r1Start, r1End, status(latch.StatusEnded))),
				}
			},
			cmd:  latch.Command{ID: "c13", Kind: latch.CmdDeescalated, GrantID: "g1", At: r1End},
			want: latch.Change{Dedup: "c13"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state()
			s.Flow = tt.flow
			s.NewGrantID = grantIDs(t, tt.newGrantIDs...)
			got, err := latch.Decide(s, tt.cmd)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			diff(t, "change", tt.want, got, changeOpts...)
			if got.Empty() != (len(tt.want.Requests)+len(tt.want.Grants)+len(tt.want.Audit)+len(tt.want.Effects) == 0) {
				t.Errorf("Empty() = %v", got.Empty())
			}
			// Decide works on copies: the state it was given is as it was.
			fresh := tt.state()
			diff(t, "request given", fresh.Request, s.Request)
			diff(t, "grant given", fresh.Grant, s.Grant)
			diff(t, "open grant given", fresh.OpenGrant, s.OpenGrant)
			diff(t, "requests given", fresh.Requests, s.Requests)
		})
	}
}

// TestDecideErrors checks that a refused command surfaces from Decide as the
// request transition refused it, and that Decide refuses a state it cannot
// judge.
func TestDecideErrors(t *testing.T) {
	start, end := r1Start, r1End
	tests := []struct {
		name     string
		state    latch.State
		cmd      latch.Command
		wantKind latch.ErrorKind
		wantCode string
	}{
		{
			name:     "the requester approving their own request",
			state:    latch.State{Request: ptr(pending("r1")), Actor: ann, Requester: ann},
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(ann), At: at(time.Minute)},
			wantKind: latch.KindForbidden, wantCode: latch.CodeSelfApproval,
		},
		{
			name: "approving an active request",
			state: latch.State{Request: ptr(active("r1", "g1", start, end)), Actor: bob, Requester: ann,
				Grant: ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end))))},
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(bob), At: at(10 * time.Minute)},
			wantKind: latch.KindConflict, wantCode: "not_pending",
		},
		{
			name: "revoking by someone who is not an approver",
			state: latch.State{Request: ptr(active("r1", "g1", start, end)), Actor: eve, Requester: ann,
				Grant: ptr(grant("g1", latch.GrantActive, leases(lease("r1", 3600, start, end))))},
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(eve), At: at(10 * time.Minute)},
			wantKind: latch.KindForbidden, wantCode: latch.CodeNotApprover,
		},
		{
			name:     "approving with a rule that fails",
			state:    latch.State{Flow: testFlow(rule(brokenRule)), Request: ptr(pending("r1")), Actor: eve, Requester: ann},
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(eve), At: at(time.Minute)},
			wantKind: latch.KindInvalid, wantCode: latch.CodeRuleError,
		},
		{
			name:     "a member retrying",
			state:    latch.State{Request: ptr(escalating("r1", "g1", failed("x", "y", latch.StageEscalate))), Actor: ann, Requester: ann},
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdRetry, RequestID: "r1", Actor: by(ann), At: at(time.Minute)},
			wantKind: latch.KindForbidden, wantCode: latch.CodeAdminOnly,
		},
		{
			name:     "cancelling someone else's request",
			state:    latch.State{Request: ptr(pending("r1")), Actor: bob, Requester: ann},
			cmd:      latch.Command{ID: "c1", Kind: latch.CmdCancel, RequestID: "r1", Actor: by(bob), At: at(time.Minute)},
			wantKind: latch.KindForbidden, wantCode: latch.CodeNotRequester,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state
			if s.Flow == nil {
				s.Flow = testFlow()
			}
			s.NewGrantID = grantIDs(t)
			got, err := latch.Decide(s, tt.cmd)
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			diff(t, "change", latch.Change{}, got, changeOpts...)

			_, applyErr := s.Request.Apply(tt.cmd, latch.Env{Flow: s.Flow, Actor: s.Actor, Requester: s.Requester})
			var de, ae *latch.Error
			if !errors.As(err, &de) || !errors.As(applyErr, &ae) {
				t.Fatalf("Decide's error %v or Apply's %v is not a *latch.Error", err, applyErr)
			}
			diff(t, "error from Decide and from Apply", *ae, *de, cmpopts.EquateErrors())
		})
	}

	t.Run("a request command without a request", func(t *testing.T) {
		_, err := latch.Decide(latch.State{Flow: testFlow()}, latch.Command{ID: "c1", Kind: latch.CmdApprove, At: t0})
		if err == nil {
			t.Fatal("Decide succeeded")
		}
	})
	t.Run("a grant command without a grant", func(t *testing.T) {
		_, err := latch.Decide(latch.State{Flow: testFlow()}, latch.Command{ID: "c1", Kind: latch.CmdDue, At: t0})
		if err == nil {
			t.Fatal("Decide succeeded")
		}
	})
	t.Run("revoke whose grant is not loaded", func(t *testing.T) {
		s := latch.State{Flow: testFlow(), Request: ptr(active("r1", "g1", start, end)), Actor: ann, Requester: ann}
		_, err := latch.Decide(s, latch.Command{ID: "c1", Kind: latch.CmdRevoke, RequestID: "r1", Actor: by(ann), At: at(10 * time.Minute)})
		if err == nil {
			t.Fatal("Decide succeeded")
		}
	})
}
