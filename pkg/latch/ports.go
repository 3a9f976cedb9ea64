package latch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Change is everything one command changes, written atomically by
// Store.Commit: the requests and grants (each conditioned on the version it
// was read at), the audit events and the outbox effects.
type Change struct {
	// Dedup is the command's ID. Committing a second change with the same
	// Dedup fails with ErrDuplicate and writes nothing.
	Dedup    string
	Requests []Request
	Grants   []Grant
	Audit    []AuditEvent
	Effects  []Effect
}

// Empty reports whether c writes nothing.
func (c *Change) Empty() bool {
	return len(c.Requests) == 0 && len(c.Grants) == 0 && len(c.Audit) == 0 && len(c.Effects) == 0
}

// RequestFilter selects requests for Store.ListRequests. Zero fields match
// everything.
type RequestFilter struct {
	Status Status
	Flow   string
	User   string // requester email
	Limit  int    // at most this many, newest first; 0 means a store default of 100
	// Since and Until bound CreatedAt: at or after Since, before Until.
	// A zero time does not bound.
	Since, Until time.Time
	// Before continues a list: only requests older than it (by CreatedAt,
	// then ID) match. The zero RequestKey does not bound. A page's last
	// request's ListKey continues after that page.
	Before RequestKey
}

// RequestKey is a request's place in the order of lists: newest first by
// CreatedAt, then by ID.
type RequestKey struct {
	CreatedAt time.Time
	ID        string
}

// IsZero reports whether k is the zero RequestKey.
func (k RequestKey) IsZero() bool { return k.ID == "" && k.CreatedAt.IsZero() }

// ListKey returns r's place in the order of lists.
func (r Request) ListKey() RequestKey { return RequestKey{CreatedAt: r.CreatedAt, ID: r.ID} }

// Older reports whether k comes after o in the order of lists (is older).
func (k RequestKey) Older(o RequestKey) bool {
	if c := k.CreatedAt.Compare(o.CreatedAt); c != 0 {
		return c < 0
	}
	return k.ID < o.ID
}

// Match reports whether r matches every field of f but Limit: the check a
// store makes on each request its index yields.
func (f RequestFilter) Match(r Request) bool {
	return (f.Status == "" || r.Status == f.Status) && (f.Flow == "" || r.Flow == f.Flow) &&
		(f.User == "" || NormalizeEmail(r.Requester.Email) == NormalizeEmail(f.User)) &&
		(f.Since.IsZero() || !r.CreatedAt.Before(f.Since)) && (f.Until.IsZero() || r.CreatedAt.Before(f.Until)) &&
		(f.Before.IsZero() || r.ListKey().Older(f.Before))
}

// Store keeps Latch's state. Implementations: boltstore (one machine) and
// dynamostore (AWS). Both pass the contract suite in storetest.
//
// Entities written through Commit carry a Version: the caller passes each
// request and grant with the version it read (0 for a new one) and the store
// writes version+1, failing the whole commit if any stored version differs.
type Store interface {
	// GetRequest returns the request with the given id, or ErrNotFound.
	GetRequest(ctx context.Context, id string) (Request, error)
	// ListRequests returns requests matching f, newest first (by CreatedAt,
	// then ID), at most f.Limit. Every combination of f's fields is read
	// from an index: the cost follows what is returned, not the store's size.
	ListRequests(ctx context.Context, f RequestFilter) ([]Request, error)
	// GetGrant returns the grant with the given id, or ErrNotFound.
	GetGrant(ctx context.Context, id string) (Grant, error)
	// OpenGrant returns the open (escalating, active or deescalating) grant
	// for key, or ErrNotFound.
	OpenGrant(ctx context.Context, key string) (Grant, error)
	// ListGrants returns grants in any of the given statuses; every grant
	// when none is given.
	ListGrants(ctx context.Context, statuses ...GrantStatus) ([]Grant, error)
	// AuditEvents returns a request's audit events in order (by Seq).
	AuditEvents(ctx context.Context, requestID string) ([]AuditEvent, error)

	// Commit writes c atomically. It returns ErrDuplicate if a change with
	// c.Dedup was committed before (a change without Dedup is not
	// deduplicated; one with only Dedup records the marker); ErrConflict if
	// any request or grant is not at the version given (or, for version 0,
	// already exists), if an audit event with the same ID exists for its
	// request, or if a grant would be open while another grant holds its key;
	// a KindInvalid error if the change names the same item twice. An effect
	// whose ID exists replaces it. A grant's Key never changes. On error
	// nothing is written.
	Commit(ctx context.Context, c Change) error

	// PendingEffects returns outbox effects not yet marked done, oldest
	// first, at most limit (0 means 100).
	PendingEffects(ctx context.Context, limit int) ([]Effect, error)
	// EffectDone removes an effect from the outbox. Removing one that is not
	// there is not an error.
	EffectDone(ctx context.Context, id string) error

	// GetUser returns the user with the given (normalized) email, or ErrNotFound.
	GetUser(ctx context.Context, email string) (User, error)
	// PutUser creates or updates u, conditioned on u.Version as for Commit;
	// it returns ErrConflict on a version mismatch.
	PutUser(ctx context.Context, u User) error
	// ListUsers returns every user, ordered by email.
	ListUsers(ctx context.Context) ([]User, error)
	// DeleteUser removes the user with the given email and their
	// identities; ErrNotFound if there is none.
	DeleteUser(ctx context.Context, email string) error

	// GetIdentity returns the user's id in service, or ErrNotFound.
	GetIdentity(ctx context.Context, email, service string) (Identity, error)
	// PutIdentity creates or replaces the user's id in id.Service.
	PutIdentity(ctx context.Context, id Identity) error
	// DeleteIdentity removes the user's id in service; ErrNotFound if there is none.
	DeleteIdentity(ctx context.Context, email, service string) error
	// ListIdentities returns the identities of the user with the given email,
	// or of every user when email is "", ordered by email then service.
	ListIdentities(ctx context.Context, email string) ([]Identity, error)

	// ListDomains returns the organisation's email domains, ordered by name.
	ListDomains(ctx context.Context) ([]Domain, error)
	// PutDomain adds a domain; adding one that exists changes nothing.
	PutDomain(ctx context.Context, d Domain) error
	// DeleteDomain removes a domain; ErrNotFound if there is none.
	DeleteDomain(ctx context.Context, name string) error

	// CreateToken stores a new token; ErrConflict if its ID or Hash exists.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// GetToken returns the token with the given id, or ErrNotFound.
	GetToken(ctx context.Context, id string) (Token, error)
	// ListTokens returns every token (revoked and expired ones included),
	// ordered by creation time.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken sets the token's RevokedAt to at (keeping an earlier
	// revocation); ErrNotFound if there is none.
	RevokeToken(ctx context.Context, id string, at time.Time) error

	// AppendAudit records audit events that belong to no request (an
	// admin's change to a role, a domain, a token; an identity learned).
	// Each must have an ID and no RequestID (else a KindInvalid error); an
	// ID that exists is ErrConflict and nothing is written. Stores with an
	// AuditFeed add them to it.
	AppendAudit(ctx context.Context, events ...AuditEvent) error
	// AdminAudit returns the events recorded with AppendAudit whose At is in
	// [from, to), ordered by At then ID.
	AdminAudit(ctx context.Context, from, to time.Time) ([]AuditEvent, error)

	// PutMessageRef records a chat message Latch posted about a request,
	// replacing the ref with the same request, kind and channel.
	PutMessageRef(ctx context.Context, ref MessageRef) error
	// MessageRefs returns the refs recorded for a request, ordered by kind
	// then channel; none is not an error.
	MessageRefs(ctx context.Context, requestID string) ([]MessageRef, error)

	// Close releases the store's resources.
	Close() error
}

// MessageRef is a chat message Latch posted about a request (the approval
// message in a Slack channel), kept so that every later change updates the
// same message in place. RequestID, Kind, Channel and TS are required.
type MessageRef struct {
	RequestID string    `json:"request_id"`
	Kind      string    `json:"kind"`           // what the message is for, e.g. "approval"
	Team      string    `json:"team,omitempty"` // the Slack workspace, where known
	Channel   string    `json:"channel"`        // the channel's id
	TS        string    `json:"ts"`             // Slack's id of the message
	PostedAt  time.Time `json:"posted_at"`
}

// Queue carries commands to the engine, ordered per request (or grant).
type Queue interface {
	// Publish hands cmd to the engine. It returns once the command is
	// accepted: durably enqueued (SQS), or, in one process, handled.
	Publish(ctx context.Context, cmd Command) error
}

// GrantRunner runs grant lifecycles: it calls the escalator, retries, waits
// for lease ends, and reports back through the Queue with CmdEscalated,
// CmdEscalationFailed, CmdDue, CmdDeescalated and CmdDeescalationFailed.
// Every method is idempotent per grant id and returns once the work is
// started (not finished).
type GrantRunner interface {
	// Escalate grants access for the grant with the given id.
	Escalate(ctx context.Context, grantID string) error
	// Deescalate revokes access for the grant, retrying every error with
	// backoff for a long time before reporting failure.
	Deescalate(ctx context.Context, grantID string) error
	// Wake sends CmdDue for the grant at (or soon after) at, replacing any
	// earlier wake-up for it.
	Wake(ctx context.Context, grantID string, at time.Time) error
}

// DeescalateHandoff is an optional ability of a GrantRunner: starting a
// revoke with the grant the engine has just committed deescalating, and the
// grant's first request (nil when the engine did not load it), instead of
// reading them again from the store. The engine hands over only what it
// committed itself; the outbox's replay and every other path call
// Deescalate, which reads. g is at the version the store holds after the
// commit; the runner acts on it only while it is the current one (a
// hand-off that comes after the grant moved on changes nothing), and reads
// the grant again for every retry. Like Deescalate, it returns once the work
// is started. The local runner has it.
type DeescalateHandoff interface {
	DeescalateGrant(ctx context.Context, g Grant, first *Request) error
}

// Scheduler sends a command at a given time.
type Scheduler interface {
	// At publishes cmd at (or soon after) at. A later call for the same
	// cmd.ID replaces the earlier one.
	At(ctx context.Context, at time.Time, cmd Command) error
}

// Escalator grants and revokes access in one kind of target system. Both
// methods are idempotent, keyed by the grant id: granting twice, or revoking
// what is not there, succeeds. An error wrapped with Permanent is not retried.
type Escalator interface {
	Grant(ctx context.Context, g GrantSpec) error
	Revoke(ctx context.Context, g GrantSpec) error
}

// Checker is an optional ability of an Escalator: whether the access of the
// grant g is in place at the target now. Where an escalator has it, a
// revoke is done only when the revoke succeeded and a check then says the
// access is gone (ConfirmRevoked); an error is retried like a failed revoke.
type Checker interface {
	Check(ctx context.Context, g GrantSpec) (held bool, err error)
}

// Validator is an optional ability of an Escalator: whether a flow's
// target exists in the target system (an IAM group, a permission set).
// `latch server` and `latch flows validate` call it when flows load (not
// `latch flows validate --offline`). It returns nil when the target is
// usable; an error marked Permanent when it is not (with a message a person
// can act on); any other error when the target system could not be asked.
type Validator interface {
	Validate(ctx context.Context, t Target) error
}

// OutputGranter is an optional ability of an Escalator: a Grant that also
// returns what the target said about the grant (an account name, a link),
// kept in the escalated audit event's data as "output". The output is
// outside data: the escalator bounds it, and it must hold no secret, since
// the audit trail keeps it for good. Nil means nothing to keep.
type OutputGranter interface {
	GrantWithOutput(ctx context.Context, g GrantSpec) (output map[string]any, err error)
}

// GrantWithOutput grants g with esc, with its output when esc is an
// OutputGranter.
func GrantWithOutput(ctx context.Context, esc Escalator, g GrantSpec) (map[string]any, error) {
	if og, ok := esc.(OutputGranter); ok {
		return og.GrantWithOutput(ctx, g)
	}
	return nil, esc.Grant(ctx, g)
}

// ErrStillHeld is returned (wrapped) by ConfirmRevoked when the target still
// holds the access after a revoke that succeeded.
var ErrStillHeld = errors.New("the target still holds the access after the revoke")

// ConfirmRevoked checks, after a successful revoke of g, that the access is
// gone, when esc is a Checker: it returns nil when it is (or esc cannot
// check), ErrStillHeld when it is not, or the check's error. Both runtimes
// call it, so a strategy that can check is confirmed on each.
func ConfirmRevoked(ctx context.Context, esc Escalator, g GrantSpec) error {
	c, ok := esc.(Checker)
	if !ok {
		return nil
	}
	held, err := c.Check(ctx, g)
	switch {
	case err != nil:
		return fmt.Errorf("check after revoking grant %s: %w", g.GrantID, err)
	case held:
		return fmt.Errorf("grant %s: %w", g.GrantID, ErrStillHeld)
	}
	return nil
}

// Checks reports whether esc can check its access (is a Checker): a revoke
// confirmed by ConfirmRevoked is then verified.
func Checks(esc Escalator) bool {
	_, ok := esc.(Checker)
	return ok
}

// IdentityLookup is an optional ability of an Escalator: finding a person's
// id in the target system by email (e.g. an Okta user search). It returns
// ErrNotFound when the target has no such person.
type IdentityLookup interface {
	LookupIdentity(ctx context.Context, email string) (string, error)
}

// GrantSpec is everything an escalator is told about one grant.
type GrantSpec struct {
	GrantID  string
	StartsAt time.Time
	EndsAt   time.Time // zero when there is no scheduled end
	User     SpecUser
	Target   Target
	Request  SpecRequest
}

// SpecUser is the grantee.
type SpecUser struct {
	Email    string
	Identity string // the user's id in the target system
}

// SpecRequest is the request that (first) asked for the grant.
type SpecRequest struct {
	ID     string
	Flow   string
	Fields Fields
}

// OnCallSource answers whether a person is on call in the schedules of a
// flow's on-call source. A person the source does not know is not on call
// (false, nil); an error means the answer is unknown (the source failed).
type OnCallSource interface {
	OnCall(ctx context.Context, email string) (bool, error)
}

// Notifier tells people what happened to a request (Slack messages, DMs).
// It is best-effort: an error is logged and retried from the outbox, never
// undoes a change.
type Notifier interface {
	Notify(ctx context.Context, event AuditType, r Request) error
}

// AuditFeed is an optional ability of a Store: every audit event in the
// order it was committed, and a saved position per reader, so that audit
// destinations receive each event in order and resume where they stopped.
// The embedded store has it; on AWS the DynamoDB stream plays this part.
type AuditFeed interface {
	// AuditAfter returns up to limit events committed after position after
	// (0: from the start), in commit order, with their positions.
	AuditAfter(ctx context.Context, after uint64, limit int) ([]FeedEvent, error)
	// FeedCursor returns the saved position of reader name (0 if none).
	FeedCursor(ctx context.Context, name string) (uint64, error)
	// SetFeedCursor saves the position of reader name.
	SetFeedCursor(ctx context.Context, name string, pos uint64) error
}

// FeedEvent is an audit event and its position in the feed.
type FeedEvent struct {
	Pos   uint64
	Event AuditEvent
}
