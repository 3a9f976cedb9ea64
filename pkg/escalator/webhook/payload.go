package webhook

import (
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// Action says what the receiver is asked to do.
type Action string

// Actions.
const (
	ActionEscalate   Action = "escalate"   // grant the access
	ActionDeescalate Action = "deescalate" // take the access away
)

// Payload is the JSON body of every call, as documented in docs/webhook.md.
// Receivers written in Go may decode into it. Latch may add fields in future;
// receivers must ignore fields they do not know.
type Payload struct {
	Action  Action         `json:"action"`
	Grant   PayloadGrant   `json:"grant"`
	Request PayloadRequest `json:"request"`
}

// PayloadGrant is the grant to escalate or deescalate. Times are RFC 3339 in
// UTC, to the second; EndsAt is null when the access has no scheduled end,
// and StartsAt is null when it is not known.
type PayloadGrant struct {
	ID       string        `json:"id"`
	StartsAt *time.Time    `json:"starts_at"`
	EndsAt   *time.Time    `json:"ends_at"`
	User     PayloadUser   `json:"user"`
	Target   PayloadTarget `json:"target"`
}

// PayloadUser is the grantee.
type PayloadUser struct {
	Email    string `json:"email"`
	Identity string `json:"identity"` // the user's id in the target system
}

// PayloadTarget is the flow's target, with its settings as written in the
// flow ({} when it has none).
type PayloadTarget struct {
	ID       string         `json:"id"`
	Settings map[string]any `json:"settings"`
}

// PayloadRequest is the request that (first) asked for the grant, with its
// field values ({} when it has none): durations in seconds, lists as arrays.
type PayloadRequest struct {
	ID     string         `json:"id"`
	Flow   string         `json:"flow"`
	Fields map[string]any `json:"fields"`
}

// NewPayload returns the body sent to ask for action on g.
func NewPayload(action Action, g latch.GrantSpec) Payload {
	settings := g.Target.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	fields := map[string]any(g.Request.Fields)
	if fields == nil {
		fields = map[string]any{}
	}
	return Payload{
		Action: action,
		Grant: PayloadGrant{
			ID:       g.GrantID,
			StartsAt: wireTime(g.StartsAt),
			EndsAt:   wireTime(g.EndsAt),
			User:     PayloadUser{Email: g.User.Email, Identity: g.User.Identity},
			Target:   PayloadTarget{ID: g.Target.ID, Settings: settings},
		},
		Request: PayloadRequest{ID: g.Request.ID, Flow: g.Request.Flow, Fields: fields},
	}
}

// wireTime is t in UTC to the second, or nil when t is zero.
func wireTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}
