package latch

import (
	"slices"
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

// Lease is one request's share of a grant. StartsAt and EndsAt are set once
// access is in place; EndsAt stays zero when the flow does not schedule
// deescalation.
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
	ID        string      `json:"id"`
	Key       string      `json:"key"`
	Flow      string      `json:"flow"`
	TargetID  string      `json:"target_id"`
	User      UserRef     `json:"user"`
	Status    GrantStatus `json:"status"`
	Leases    []Lease     `json:"leases"`
	Queued    []Lease     `json:"queued,omitempty"` // waiting for this grant's revoke to finish, to start the next
	StartsAt  *time.Time  `json:"starts_at,omitempty"`
	EndedAt   *time.Time  `json:"ended_at,omitempty"`
	Failure   *Failure    `json:"failure,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	Version   int64       `json:"version"`
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

func (l *Lease) start(at time.Time, scheduled bool) {
	l.StartsAt = at
	if scheduled {
		l.EndsAt = at.Add(time.Duration(l.Duration) * time.Second)
	}
}

// NewGrantSpec is what an escalator is told about g, of flow f, at now:
// the grantee, the target, and when access starts and ends — the grant's
// own times once it is in place; before that, from now for the longest
// lease, so that a target that can set its own expiry does. first is the
// request that first asked for the grant (nil when it could not be read).
// Every runtime builds the spec here, so escalators see the same on each.
func NewGrantSpec(f *Flow, g *Grant, first *Request, now time.Time) GrantSpec {
	target, _ := f.Target(g.TargetID)
	spec := GrantSpec{GrantID: g.ID, User: SpecUser{Email: g.User.Email}, Target: target}
	if g.StartsAt != nil {
		spec.StartsAt = *g.StartsAt
		if end, ok := g.EndsAt(); ok {
			spec.EndsAt = end
		}
	} else {
		spec.StartsAt = now
		var longest int64
		for _, l := range g.Leases {
			longest = max(longest, l.Duration)
		}
		if f.ScheduleDeescalation && longest > 0 {
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
