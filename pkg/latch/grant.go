package latch

import (
	"slices"
	"strings"
	"time"
)

// GrantStatus is where a grant is in its life.
type GrantStatus string

// Grant statuses. Escalating, active and deescalating are open: at most one
// open grant exists per key.
const (
	GrantEscalating   GrantStatus = "escalating"
	GrantActive       GrantStatus = "active"
	GrantDeescalating GrantStatus = "deescalating"
	GrantEnded        GrantStatus = "ended"
	GrantFailed       GrantStatus = "failed"
)

// GrantStatuses lists every grant status, in lifecycle order.
var GrantStatuses = []GrantStatus{GrantEscalating, GrantActive, GrantDeescalating, GrantEnded, GrantFailed}

// Open reports whether a grant in status s still holds or is acquiring access.
func (s GrantStatus) Open() bool {
	return s == GrantEscalating || s == GrantActive || s == GrantDeescalating
}

// Lease is one request's share of a grant. EndsAt is fixed when the lease is
// taken (its request's approval, which asks for the first escalation
// attempt) or, for a lease queued behind a revoke, when its grant starts:
// the end is that moment plus Duration, and no retry, crash or late report
// moves it. It stays zero when the flow does not schedule deescalation.
// StartsAt is set once access is in place.
type Lease struct {
	RequestID string    `json:"request_id"`
	Duration  int64     `json:"duration_seconds"`
	StartsAt  time.Time `json:"starts_at,omitzero"`
	EndsAt    time.Time `json:"ends_at,omitzero"`
}

// Grant is access of one user to one target, shared by every request (lease)
// that overlaps: it is escalated once, and deescalated when the last lease
// ends. Each period of access is its own grant with its own ID; Key names the
// (flow, target, user) it belongs to.
type Grant struct {
	ID       string      `json:"id"`
	Key      string      `json:"key"`
	Flow     string      `json:"flow"`
	TargetID string      `json:"target_id"`
	User     UserRef     `json:"user"`
	Status   GrantStatus `json:"status"`
	Leases   []Lease     `json:"leases"`
	Queued   []Lease     `json:"queued,omitempty"` // waiting for this grant's revoke to finish, to start the next
	StartsAt *time.Time  `json:"starts_at,omitempty"`
	EndedAt  *time.Time  `json:"ended_at,omitempty"`
	Failure  *Failure    `json:"failure,omitempty"`
	// Revoke is what revoking the grant needs, recorded when the grant
	// starts, so that removing or changing its flow never blocks the revoke.
	// Nil on grants recorded before it existed and on approval-only flows.
	Revoke *RevokeInfo `json:"revoke,omitempty"`
	// Identity is the grantee's id in the target system as the escalator
	// was given it (recorded when the escalation is reported); the revoke
	// takes access away from that id.
	Identity string `json:"identity,omitempty"`
	// DueAt is when the revoke fell due: the lease end, the early revoke,
	// or the failed escalation that sent the grant to deescalating.
	DueAt     *time.Time `json:"due_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Version   int64      `json:"version"`
}

// GrantKey names the access a request asks for: one user on one target of
// one flow. Requests with the same key share a grant.
func GrantKey(flow, targetID, email string) string {
	return flow + "/" + targetID + "/" + NormalizeEmail(email)
}

// NextDue returns the earliest lease end, and false when no lease has one.
func (g *Grant) NextDue() (time.Time, bool) {
	var next time.Time
	for _, l := range g.Leases {
		if !l.EndsAt.IsZero() && (next.IsZero() || l.EndsAt.Before(next)) {
			next = l.EndsAt
		}
	}
	return next, !next.IsZero()
}

// EndsAt returns the latest lease end: when access is due to go, and false
// when some lease has no scheduled end.
func (g *Grant) EndsAt() (time.Time, bool) {
	var last time.Time
	for _, l := range g.Leases {
		if l.EndsAt.IsZero() {
			return time.Time{}, false
		}
		if l.EndsAt.After(last) {
			last = l.EndsAt
		}
	}
	return last, !last.IsZero()
}

// Lease returns the lease of request id.
func (g *Grant) Lease(requestID string) (Lease, bool) {
	i := slices.IndexFunc(g.Leases, func(l Lease) bool { return l.RequestID == requestID })
	if i < 0 {
		return Lease{}, false
	}
	return g.Leases[i], true
}

func (g *Grant) removeLease(requestID string) {
	g.Leases = slices.DeleteFunc(slices.Clone(g.Leases), func(l Lease) bool { return l.RequestID == requestID })
}

// RequestIDs lists the requests holding or queued on the grant.
func (g *Grant) RequestIDs() []string {
	ids := make([]string, 0, len(g.Leases)+len(g.Queued))
	for _, l := range g.Leases {
		ids = append(ids, l.RequestID)
	}
	for _, l := range g.Queued {
		ids = append(ids, l.RequestID)
	}
	return ids
}

func (g *Grant) clone() *Grant {
	c := *g
	c.Leases = slices.Clone(g.Leases)
	c.Queued = slices.Clone(g.Queued)
	return &c
}

// fixEnd sets the lease's end from at, when the flow schedules
// deescalation and the end is not fixed yet.
func (l *Lease) fixEnd(at time.Time, scheduled bool) {
	if scheduled && l.EndsAt.IsZero() {
		l.EndsAt = at.Add(time.Duration(l.Duration) * time.Second)
	}
}

// start records that access is in place at at. An end fixed before (when
// the lease was taken) is kept: a slow or retried escalation does not add
// to the grant.
func (l *Lease) start(at time.Time, scheduled bool) {
	l.StartsAt = at
	l.fixEnd(at, scheduled)
}

// RevokeInfo is what revoking a grant needs besides the grant's own
// identity: the strategy type, its settings as the flow had them when the
// grant started (names of secrets, never secrets), the target, and the
// identity service. Latch revokes with the flow as it is now when it still
// has the grant's strategy type and target; otherwise with this.
type RevokeInfo struct {
	Strategy        string         `json:"strategy"`
	Config          map[string]any `json:"config,omitempty"`
	TargetID        string         `json:"target_id"`
	TargetLabel     string         `json:"target_label,omitempty"`
	TargetSettings  map[string]any `json:"target_settings,omitempty"`
	IdentityService string         `json:"identity_service,omitempty"`
}

// revokeInfo records what revoking a grant of f on target needs; nil for a
// flow without a strategy.
func revokeInfo(f *Flow, targetID string) *RevokeInfo {
	if f == nil || f.Strategy == nil {
		return nil
	}
	t, _ := f.Target(targetID)
	return &RevokeInfo{Strategy: f.Strategy.Type, Config: f.Strategy.Config, TargetID: targetID,
		TargetLabel: t.Label, TargetSettings: t.Settings, IdentityService: f.IdentityService()}
}

// RevokeFlow is the flow to revoke g with, given its flow as loaded now
// (nil when it is gone). The current flow is used while it still has the
// grant's strategy type and target (so that a corrected setting applies);
// otherwise a flow made from what the grant recorded, named after the
// grant's flow, with the one target. It returns false when neither can
// revoke (a grant recorded before RevokeInfo existed, whose flow is gone).
func (g *Grant) RevokeFlow(current *Flow) (*Flow, bool) {
	if current != nil && current.Strategy != nil {
		_, hasTarget := current.Target(g.TargetID)
		if hasTarget && (g.Revoke == nil || g.Revoke.Strategy == current.Strategy.Type) {
			return current, true
		}
	}
	ri := g.Revoke
	if ri == nil || ri.Strategy == "" {
		return nil, false
	}
	return &Flow{Name: g.Flow, ScheduleDeescalation: true,
		Strategy: &Strategy{Type: ri.Strategy, Config: ri.Config,
			Targets: []Target{{ID: ri.TargetID, Label: ri.TargetLabel, Settings: ri.TargetSettings}}},
		Identity: IdentityConfig{Service: ri.IdentityService},
		File:     "(recorded on grant " + g.ID + ")"}, true
}

// Recorded reports whether f was made by RevokeFlow from what a grant
// recorded, rather than loaded from a flow file.
func (f *Flow) Recorded() bool { return strings.HasPrefix(f.File, "(recorded on grant ") }

// NewGrantSpec is what an escalator is told about g, of flow f, at now:
// the grantee, the target, and when access starts and ends — the grant's
// own times once it is in place; before that, from now for the longest
// lease, so that a target that can set its own expiry does. first is the
// request that first asked for the grant (nil when it could not be read).
// Every runtime builds the spec here, so escalators see the same on each.
func NewGrantSpec(f *Flow, g *Grant, first *Request, now time.Time) GrantSpec {
	target, _ := f.Target(g.TargetID)
	spec := GrantSpec{GrantID: g.ID, User: SpecUser{Email: g.User.Email, Identity: g.Identity}, Target: target}
	spec.StartsAt = now
	if g.StartsAt != nil {
		spec.StartsAt = *g.StartsAt
	}
	if end, ok := g.EndsAt(); ok {
		spec.EndsAt = end // fixed when the leases were taken
	} else if g.StartsAt == nil && f.ScheduleDeescalation {
		// Leases taken before ends were fixed at once: from now for the longest.
		var longest int64
		for _, l := range g.Leases {
			longest = max(longest, l.Duration)
		}
		if longest > 0 {
			spec.EndsAt = now.Add(time.Duration(longest) * time.Second)
		}
	}
	if first != nil {
		spec.Request = SpecRequest{ID: first.ID, Flow: first.Flow, Fields: first.Fields}
	}
	return spec
}

// FirstRequestID is the request that first asked for the grant ("" when it
// has no lease).
func (g *Grant) FirstRequestID() string {
	if len(g.Leases) == 0 {
		return ""
	}
	return g.Leases[0].RequestID
}
