package latch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	DueAt *time.Time `json:"due_at,omitempty"`
	// HeldBefore is whether the target already held the grant's access
	// before Latch's first attempt to grant it (a Checker asked before the
	// first Grant call). It is recorded durably before that call and never
	// decided again: a retry or a re-run after a crash would see Latch's own
	// earlier write as held. True: Latch granted nothing, and its revoke
	// leaves the access in place (it was the person's before Latch). Nil:
	// not checked (an escalator that cannot check, a grant made before the
	// field existed): the access is treated as Latch's and revoked.
	HeldBefore *bool `json:"held_before,omitempty"`
	// ChecksHeld is set on grants made by a version that decides
	// HeldBefore before its first Grant call. A grant without it may have
	// been granted already by an earlier version (an escalation under way
	// at the upgrade), so its runner never decides HeldBefore: what a check
	// would find may be Latch's own access.
	ChecksHeld bool      `json:"checks_held,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	Version    int64     `json:"version"`
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

// LeftInPlace reports whether g's access was the person's before Latch
// (HeldBefore true): Latch granted nothing, and its revoke leaves the access
// in place.
func (g *Grant) LeftInPlace() bool { return g.HeldBefore != nil && *g.HeldBefore }

// keepHeldBefore records a runner's report of access held before Latch
// (Command.HeldBefore) on a grant that recorded none: an answer recorded
// already is never decided again.
func (g *Grant) keepHeldBefore(held *bool) {
	if g.HeldBefore == nil && held != nil {
		v := *held
		g.HeldBefore = &v
	}
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
// grant started (names of secrets, never secrets), the target with its
// settings, and the identity service. A grant that recorded it is escalated
// and revoked with it, whatever the flow says now (RevokeTarget).
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

// RevokeTarget is the flow to escalate and revoke g with, given g's flow as
// loaded now (nil when it is gone), and the name to build (and cache) its
// escalator under. Both runtimes use it for every escalate and revoke.
//
// A grant that recorded its RevokeInfo is always acted on with what it
// recorded: the strategy, its settings and the target's settings as they
// were approved, so that a flow whose target now points elsewhere (another
// group, another account) never sends the grant's revoke there while the
// access approved stays. The flow made from it is named after g's flow,
// has the one target, and is marked Recorded. Its escalator name is the
// flow's own when the loaded flow has the same strategy settings (the
// escalator is shared), else the flow's name and a hash of the recorded
// settings: one escalator per distinct settings, never one per grant.
//
// A grant recorded before RevokeInfo existed is acted on with the loaded
// flow while it has the grant's target. ok is false when neither can act
// (such a grant whose flow or target is gone).
func RevokeTarget(g *Grant, current *Flow) (f *Flow, escalator string, ok bool) {
	ri := g.Revoke
	if ri == nil || ri.Strategy == "" {
		if current != nil && current.Strategy != nil {
			if _, has := current.Target(g.TargetID); has {
				return current, current.Name, true
			}
		}
		return nil, "", false
	}
	f = &Flow{Name: g.Flow, ScheduleDeescalation: true,
		Strategy: &Strategy{Type: ri.Strategy, Config: ri.Config,
			Targets: []Target{{ID: ri.TargetID, Label: ri.TargetLabel, Settings: ri.TargetSettings}}},
		Identity: IdentityConfig{Service: ri.IdentityService},
		File:     "(recorded on grant " + g.ID + ")", Recorded: true}
	recorded := settingsHash(ri.Strategy, ri.Config)
	escalator = g.Flow + "@" + recorded
	if current != nil && current.Strategy != nil && settingsHash(current.Strategy.Type, current.Strategy.Config) == recorded {
		escalator = g.Flow
	}
	return f, escalator, true
}

// settingsHash names a strategy's type and settings (JSON, keys sorted; no
// settings and empty ones alike), short.
func settingsHash(typ string, config map[string]any) string {
	if len(config) == 0 {
		config = nil
	}
	b, err := json.Marshal(struct {
		Type   string         `json:"type"`
		Config map[string]any `json:"config"`
	}{typ, config})
	if err != nil {
		b = []byte(fmt.Sprintf("%s %v", typ, config))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// RevokeFlow is the flow of RevokeTarget, without the escalator name.
func (g *Grant) RevokeFlow(current *Flow) (*Flow, bool) {
	f, _, ok := RevokeTarget(g, current)
	return f, ok
}

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

// EscalatorFlow is f under the escalator name RevokeTarget gave: f itself
// when the name is its own, else a copy so named, which is the escalator
// cache's key (one escalator per distinct recorded settings).
func (f *Flow) EscalatorFlow(name string) *Flow {
	if name == f.Name {
		return f
	}
	c := *f
	c.Name = name
	return &c
}
