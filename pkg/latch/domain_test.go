package latch_test

import (
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		give        latch.Status
		wantValid   bool
		wantFinal   bool
		wantDecided bool
	}{
		{give: latch.StatusPending, wantValid: true},
		{give: latch.StatusApproved, wantValid: true, wantFinal: true, wantDecided: true},
		{give: latch.StatusScheduled, wantValid: true, wantDecided: true},
		{give: latch.StatusEscalating, wantValid: true, wantDecided: true},
		{give: latch.StatusActive, wantValid: true, wantDecided: true},
		{give: latch.StatusDeescalating, wantValid: true, wantDecided: true},
		{give: latch.StatusEnded, wantValid: true, wantFinal: true, wantDecided: true},
		{give: latch.StatusDenied, wantValid: true, wantFinal: true, wantDecided: true},
		{give: latch.StatusCancelled, wantValid: true, wantFinal: true, wantDecided: true},
		{give: latch.StatusExpired, wantValid: true, wantFinal: true, wantDecided: true},
		{give: latch.StatusFailed, wantValid: true, wantFinal: true, wantDecided: true},
		{give: "Pending", wantDecided: true},
		{give: "", wantDecided: true},
	}
	if len(tests)-2 != len(latch.Statuses) {
		t.Fatalf("the table covers %d statuses, latch.Statuses has %d", len(tests)-2, len(latch.Statuses))
	}
	for _, tt := range tests {
		t.Run(string(tt.give), func(t *testing.T) {
			diff(t, "valid", tt.wantValid, tt.give.Valid())
			diff(t, "final", tt.wantFinal, tt.give.Final())
			diff(t, "decided", tt.wantDecided, tt.give.Decided())
		})
	}
}

func TestCommandKindGrantLevel(t *testing.T) {
	want := map[latch.CommandKind]bool{
		latch.CmdApprove: false, latch.CmdDeny: false, latch.CmdCancel: false, latch.CmdRevoke: false,
		latch.CmdExpire: false, latch.CmdRetry: false, latch.CmdForward: false, latch.CmdAutoApprove: false,
		latch.CmdExtend:    false,
		latch.CmdEscalated: true, latch.CmdEscalationFailed: true, latch.CmdDue: true, latch.CmdDeescalated: true,
		latch.CmdDeescalationFailed: true, latch.CmdOverdue: true,
		latch.CmdStart:      false,
		latch.CmdBreakGlass: false, latch.CmdReview: false, latch.CmdReviewOverdue: false,
	}
	got := map[latch.CommandKind]bool{}
	for _, k := range latch.CommandKinds {
		got[k] = k.GrantLevel()
	}
	diff(t, "grant level", want, got)
}

func TestRoleValid(t *testing.T) {
	tests := []struct {
		give latch.Role
		want bool
	}{
		{give: latch.RoleAdmin, want: true},
		{give: latch.RoleMember, want: true},
		{give: latch.RoleGuest, want: true},
		{give: "Admin"},
		{give: ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.give), func(t *testing.T) {
			diff(t, "valid", tt.want, tt.give.Valid())
		})
	}
}

func TestEmails(t *testing.T) {
	tests := []struct {
		give       string
		wantNormal string
		wantValid  bool
	}{
		{give: "ann@example.com", wantNormal: "ann@example.com", wantValid: true},
		{give: " Ann@Example.COM\n", wantNormal: "ann@example.com"},
		{give: "a@b", wantNormal: "a@b", wantValid: true},
		{give: "ann", wantNormal: "ann"},
		{give: "@example.com", wantNormal: "@example.com"},
		{give: "ann@", wantNormal: "ann@"},
		{give: "ann@@example.com", wantNormal: "ann@@example.com"},
		{give: "a@b@c", wantNormal: "a@b@c"},
		{give: "ann smith@example.com", wantNormal: "ann smith@example.com"},
		{give: "<ann@example.com>", wantNormal: "<ann@example.com>"},
		{give: "ann@example.com,bob@example.com", wantNormal: "ann@example.com,bob@example.com"},
		{give: "", wantNormal: ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			diff(t, "normalized", tt.wantNormal, latch.NormalizeEmail(tt.give))
			diff(t, "valid", tt.wantValid, latch.ValidEmail(tt.give))
		})
	}
}

func TestActorIsSystem(t *testing.T) {
	tests := []struct {
		name string
		give latch.Actor
		want bool
	}{
		{name: "nobody is Latch", want: true},
		{name: "a person", give: latch.Actor{Email: "ann@example.com"}},
		{name: "a bot for a person", give: latch.Actor{Email: "ann@example.com", Bot: "ci"}},
		{name: "a bot alone", give: latch.Actor{Bot: "ci"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "system", tt.want, tt.give.IsSystem())
		})
	}
}

func TestRequestHelpers(t *testing.T) {
	r := pending("r1", durationSecs(5400), approvedBy(latch.Decision{By: latch.Actor{Email: "Bob@Example.com"}}))
	diff(t, "grant duration", 90*time.Minute, r.GrantDuration())
	tests := []struct {
		give string
		want bool
	}{
		{give: "bob@example.com", want: true},
		{give: "BOB@EXAMPLE.COM", want: true},
		{give: "cat@example.com"},
		{give: ""},
	}
	for _, tt := range tests {
		t.Run("approved by "+tt.give, func(t *testing.T) {
			diff(t, "approved", tt.want, r.ApprovedBy(tt.give))
		})
	}
}

func TestChangeEmpty(t *testing.T) {
	tests := []struct {
		name string
		give latch.Change
		want bool
	}{
		{name: "nothing but a dedup key", give: latch.Change{Dedup: "c1"}, want: true},
		{name: "a request", give: latch.Change{Requests: []latch.Request{{ID: "r1"}}}},
		{name: "a grant", give: latch.Change{Grants: []latch.Grant{{ID: "g1"}}}},
		{name: "an audit event", give: latch.Change{Audit: []latch.AuditEvent{{ID: "r1/000001"}}}},
		{name: "an effect", give: latch.Change{Effects: []latch.Effect{{ID: "c1/0"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "empty", tt.want, tt.give.Empty())
		})
	}
}

func TestAuditEventID(t *testing.T) {
	tests := []struct {
		id   string
		seq  int64
		want string
	}{
		{id: "r1", seq: 1, want: "r1/000001"},
		{id: "r1", seq: 42, want: "r1/000042"},
		{id: "r1", seq: 1234567, want: "r1/1234567"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			diff(t, "id", tt.want, latch.AuditEventID(tt.id, tt.seq))
		})
	}
}

func TestClockFunc(t *testing.T) {
	c := latch.ClockFunc(func() time.Time { return t0 })
	diff(t, "now", t0, c.Now())
}
