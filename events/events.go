// Package events holds the versioned messages that pass between Latch's
// functions: the commands on the "events" queue (SQS FIFO on AWS, in-process
// in latch server), the new requests the Slack and API edges hand to the
// approvals function through that queue (type create), and the grant tasks
// the runner (Step Functions) is given and reports back from.
//
// Every message is one JSON object, an envelope of version ("v"), type, id
// and time, with the type's fields beside them:
//
//	{"v":1,"type":"approve","id":"cmd_01…","at":"2026-11-25T09:30:00Z",
//	 "request_id":"req_01…","actor":{"email":"grace@example.com"},"source":"slack"}
//
// testdata/<type>.json holds a sample of every type.
//
// # Versioning
//
// Messages outlive deployments: a message written by one build may be read by
// the next, from a queue, a dead-letter queue or a running state machine. So
// version 1 is frozen from Latch's first release on: from then, its types,
// its fields and their meanings never change, and no type or field is added
// to it (Unmarshal refuses unknown types and fields, so an older build would
// refuse such a message). Until that release no build had been deployed, no
// message of version 1 could be in flight, and version 1 was still being
// shaped: the create type was added to it then, before the freeze. A change
// after the first release is a new version, added side by side: its own
// struct and validation, selected by "v", with readers for both kept until no
// message of the old version can still be in flight. Readers of a new version
// are deployed everywhere before any writer emits it. Unmarshal refuses a
// version it does not know, so a build never misreads a message it does not
// understand: it fails loudly, and the message waits in the dead-letter queue.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// Version is the message version this package writes, and the only one it
// reads.
const Version = 1

// MaxSize is the largest message Unmarshal reads, in bytes: SQS's limit.
const MaxSize = 256 << 10

// Errors returned by Unmarshal, Marshal and Validate, wrapped with details;
// test with errors.Is. A message that fails with any of them will never be
// read, however often it is retried.
var (
	// ErrVersion: the message's version is missing or not one this build reads.
	ErrVersion = errors.New("unsupported message version")
	// ErrType: the message's type is missing or unknown.
	ErrType = errors.New("unknown message type")
	// ErrInvalid: the message is not well-formed JSON, has unknown fields,
	// or lacks (or has) fields its type requires (or forbids).
	ErrInvalid = errors.New("invalid message")
)

// Type names a message. Every latch.CommandKind is a type of the same name;
// TypeCreate and TypeGrantTask are the ones that are not commands.
type Type string

// Message types.
const (
	TypeApprove            = Type(latch.CmdApprove)
	TypeDeny               = Type(latch.CmdDeny)
	TypeCancel             = Type(latch.CmdCancel)
	TypeRevoke             = Type(latch.CmdRevoke)
	TypeExpire             = Type(latch.CmdExpire)
	TypeEscalated          = Type(latch.CmdEscalated)
	TypeEscalationFailed   = Type(latch.CmdEscalationFailed)
	TypeDue                = Type(latch.CmdDue)
	TypeDeescalated        = Type(latch.CmdDeescalated)
	TypeDeescalationFailed = Type(latch.CmdDeescalationFailed)
	TypeRetry              = Type(latch.CmdRetry)
	TypeOverdue            = Type(latch.CmdOverdue)
	TypeForward            = Type(latch.CmdForward)
	TypeAutoApprove        = Type(latch.CmdAutoApprove)
	TypeStart              = Type(latch.CmdStart)
	// TypeExtend: the requester asks for duration_seconds more on the
	// active grant (added to version 1 before the first release).
	TypeExtend        = Type(latch.CmdExtend)
	TypeBreakGlass    = Type(latch.CmdBreakGlass)
	TypeReview        = Type(latch.CmdReview)
	TypeReviewOverdue = Type(latch.CmdReviewOverdue)
	// TypeCreate hands a new request, checked at the edge, to the one
	// writer of request state.
	TypeCreate Type = "create"
	// TypeGrantTask asks the grant runner to escalate or deescalate a grant.
	TypeGrantTask Type = "grant_task"
)

// Types lists every message type of version 1.
var Types = []Type{TypeApprove, TypeDeny, TypeCancel, TypeRevoke, TypeExpire, TypeEscalated,
	TypeEscalationFailed, TypeDue, TypeDeescalated, TypeDeescalationFailed, TypeRetry, TypeOverdue, TypeForward, TypeAutoApprove, TypeCreate, TypeGrantTask, TypeStart, TypeExtend,
	TypeBreakGlass, TypeReview, TypeReviewOverdue}

// Valid reports whether t is a known message type.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// IsCommand reports whether t carries a latch.Command.
func (t Type) IsCommand() bool { return t.Valid() && t != TypeGrantTask && t != TypeCreate }

// Action is what a grant task asks of the runner.
type Action string

// Grant task actions.
const (
	ActionEscalate   Action = "escalate"   // grant the access
	ActionDeescalate Action = "deescalate" // take the access away
)

// Actor is who gave a command: a person, and the bot acting on the person's
// behalf where there was one. It is absent for commands from Latch itself.
type Actor struct {
	Email string `json:"email,omitempty"`
	Bot   string `json:"bot,omitempty"`
}

// Failure says why granting or revoking failed. Stage is "escalate" or
// "deescalate", or empty. MaybeHeld is set on an escalation failure that was
// not a refusal: the target may hold the access all the same.
type Failure struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Stage     string `json:"stage,omitempty"`
	MaybeHeld bool   `json:"maybe_held,omitempty"`
}

// Message is one version 1 message: the envelope (Version, Type, ID, At) and
// the fields of its type. Which fields a type requires, allows and forbids:
//
//	approve, deny, cancel, revoke, retry   request_id, actor.email; grant_id, reason, source allowed
//	expire                                 request_id; grant_id, actor, reason, source allowed
//	forward                                request_id, step (from 1); failure (the step before was undeliverable), source allowed
//	auto_approve                           request_id; source allowed
//	start                                  request_id (a scheduled request's start came); source allowed
//	extend                                 request_id, actor.email, duration_seconds (positive); grant_id, reason, source allowed
//	escalated                              grant_id; identity, output, held_before, request_id, actor, reason, source allowed
//	due                                    grant_id; request_id, actor, reason, source allowed
//	deescalated                            grant_id; verified, held_before, request_id, actor, reason, source allowed
//	escalation_failed, deescalation_failed grant_id, failure; request_id, actor, reason, source allowed
//	overdue                                grant_id; failure (the last error), request_id, actor, reason, source allowed
//	create                                 request_id, flow, user_email, source; created_by, fields, context, starts_at, break_glass allowed; reason with break_glass
//	break_glass                            request_id, actor.email, reason; source allowed
//	review                                 request_id, actor.email; grant_id, reason, source allowed
//	review_overdue                         request_id, step (the alert, from 1); source allowed
//	grant_task                             grant_id, action; nothing else
//
// Flow, UserEmail, CreatedBy, Fields, Context, StartsAt and BreakGlass belong to create alone.
//
// ID is the dedup key: a message delivered twice acts once.
type Message struct {
	Version   int            `json:"v"`
	Type      Type           `json:"type"`
	ID        string         `json:"id"`
	At        time.Time      `json:"at"`
	RequestID string         `json:"request_id,omitempty"`
	Flow      string         `json:"flow,omitempty"`
	UserEmail string         `json:"user_email,omitempty"`
	CreatedBy *Actor         `json:"created_by,omitempty"`
	GrantID   string         `json:"grant_id,omitempty"`
	Action    Action         `json:"action,omitempty"`
	Actor     *Actor         `json:"actor,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Source    string         `json:"source,omitempty"`
	Fields    map[string]any `json:"fields,omitempty"`
	Context   map[string]any `json:"context,omitempty"`
	Failure   *Failure       `json:"failure,omitempty"`
	Identity  string         `json:"identity,omitempty"`
	Verified  bool           `json:"verified,omitempty"`
	Output    map[string]any `json:"output,omitempty"`
	// HeldBefore is, on escalated and deescalated, whether the target held
	// the access before Latch's first grant attempt
	// (latch.Command.HeldBefore).
	HeldBefore *bool `json:"held_before,omitempty"`
	Step       int   `json:"step,omitempty"`
	// StartsAt is, on create, the scheduled start the request asks for
	// (latch.NewRequest.StartsAt).
	StartsAt *time.Time `json:"starts_at,omitempty"`
	// Duration is, on extend, the time asked for, in seconds.
	Duration int64 `json:"duration_seconds,omitempty"`
	// BreakGlass is, on create, a request made by breaking glass (its
	// reason in Reason).
	BreakGlass bool `json:"break_glass,omitempty"`
}

// keys are Message's JSON names, in order.
var (
	keys = []string{"v", "type", "id", "at", "request_id", "flow", "user_email", "created_by", "grant_id", "action",
		"actor", "reason", "source", "fields", "context", "failure", "identity", "verified", "output", "held_before",
		"step", "starts_at", "duration_seconds", "break_glass"}
	actorKeys   = []string{"email", "bot"}
	failureKeys = []string{"code", "message", "stage", "maybe_held"}
)

// FromCommand returns the message that carries cmd. A system command (zero
// Actor) has no actor.
func FromCommand(cmd latch.Command) Message {
	m := Message{
		Version:   Version,
		Type:      Type(cmd.Kind),
		ID:        cmd.ID,
		At:        cmd.At,
		RequestID: cmd.RequestID,
		GrantID:   cmd.GrantID,
		Reason:    cmd.Reason,
		Source:    string(cmd.Source),
		Identity:  cmd.Identity,
		Verified:  cmd.Verified,
		Output:    cmd.Output,
		Step:      cmd.Step,
		Duration:  cmd.Duration,
	}
	m.HeldBefore = cmd.HeldBefore
	if !cmd.Actor.IsSystem() {
		m.Actor = &Actor{Email: cmd.Actor.Email, Bot: cmd.Actor.Bot}
	}
	if cmd.Failure != nil {
		m.Failure = &Failure{Code: cmd.Failure.Code, Message: cmd.Failure.Message, Stage: cmd.Failure.Stage,
			MaybeHeld: cmd.Failure.MaybeHeld}
	}
	return m
}

// Create is a new request as an edge hands it to the approvals function:
// what engine.CreateInput holds. RequestID is the id the edge chose (and
// told the person); CreatedBy is zero when the user submitted it themself.
// Fields and Context travel as JSON: numbers arrive as float64, lists as
// []any, objects as map[string]any, as from any JSON body.
type Create struct {
	RequestID string
	Flow      string
	UserEmail string
	CreatedBy latch.Actor
	Source    latch.Source
	Fields    map[string]any
	Context   map[string]any
	// StartsAt is the scheduled start asked for; nil: on approval.
	StartsAt *time.Time
	// BreakGlass and Reason: see engine.CreateInput.
	BreakGlass bool
	Reason     string
}

// CreateID is the id of the create message for a request: its dedup key, the
// same for every attempt to create that request.
func CreateID(requestID string) string { return "create/" + requestID }

// FromCreate returns the create message for c, given at at, with id
// CreateID(c.RequestID). A zero CreatedBy has no created_by.
func FromCreate(c Create, at time.Time) Message {
	m := Message{
		Version:   Version,
		Type:      TypeCreate,
		ID:        CreateID(c.RequestID),
		At:        at,
		RequestID: c.RequestID,
		Flow:      c.Flow,
		UserEmail: c.UserEmail,
		Source:    string(c.Source),
		Fields:    c.Fields,
		Context:   c.Context,
	}
	if c.BreakGlass {
		m.BreakGlass, m.Reason = true, c.Reason
	}
	if !c.CreatedBy.IsSystem() {
		m.CreatedBy = &Actor{Email: c.CreatedBy.Email, Bot: c.CreatedBy.Bot}
	}
	m.StartsAt = c.StartsAt
	return m
}

// Create returns the new request m carries. It fails with ErrType for a
// message of another type, and as Validate does for an invalid message.
func (m Message) Create() (Create, error) {
	if err := m.Validate(); err != nil {
		return Create{}, err
	}
	if m.Type != TypeCreate {
		return Create{}, fmt.Errorf("events: %w: %s is not %s", ErrType, m.Type, TypeCreate)
	}
	c := Create{
		RequestID: m.RequestID,
		Flow:      m.Flow,
		UserEmail: m.UserEmail,
		Source:    latch.Source(m.Source),
		Fields:    m.Fields,
		Context:   m.Context,
		StartsAt:  m.StartsAt,
	}
	c.BreakGlass, c.Reason = m.BreakGlass, m.Reason
	if m.CreatedBy != nil {
		c.CreatedBy = latch.Actor{Email: m.CreatedBy.Email, Bot: m.CreatedBy.Bot}
	}
	return c, nil
}

// GrantTask returns the message asking the grant runner to act on a grant.
// id is its dedup key (the outbox effect's id, say).
func GrantTask(id, grantID string, action Action, at time.Time) Message {
	return Message{Version: Version, Type: TypeGrantTask, ID: id, At: at, GrantID: grantID, Action: action}
}

// Command returns the command m carries. It fails with ErrType for a create
// or a grant task, and as Validate does for an invalid message.
func (m Message) Command() (latch.Command, error) {
	if err := m.Validate(); err != nil {
		return latch.Command{}, err
	}
	if !m.Type.IsCommand() {
		return latch.Command{}, fmt.Errorf("events: %w: %s is not a command", ErrType, m.Type)
	}
	cmd := latch.Command{
		ID:        m.ID,
		Kind:      latch.CommandKind(m.Type),
		RequestID: m.RequestID,
		GrantID:   m.GrantID,
		Reason:    m.Reason,
		Source:    latch.Source(m.Source),
		At:        m.At,
		Identity:  m.Identity,
		Verified:  m.Verified,
		Output:    m.Output,
		Step:      m.Step,
		Duration:  m.Duration,
	}
	cmd.HeldBefore = m.HeldBefore
	if m.Actor != nil {
		cmd.Actor = latch.Actor{Email: m.Actor.Email, Bot: m.Actor.Bot}
	}
	if m.Failure != nil {
		cmd.Failure = &latch.Failure{Code: m.Failure.Code, Message: m.Failure.Message, Stage: m.Failure.Stage,
			MaybeHeld: m.Failure.MaybeHeld}
	}
	return cmd, nil
}

// OrderKey is what m must be ordered with: its request for a create and for
// request-level commands (so a request is created before any command on it is
// handled), its grant for grant-level commands and grant tasks. It is the SQS
// FIFO message group.
func (m Message) OrderKey() string {
	if m.Type == TypeCreate || m.Type.IsCommand() && !latch.CommandKind(m.Type).GrantLevel() {
		return m.RequestID
	}
	return m.GrantID
}

// need says whether a type requires, allows or forbids a field.
type need int

const (
	forbidden need = iota
	allowed
	required
)

// rule is what one type needs.
type rule struct {
	request, grant, actor, failure, action, reason, source need
	identity                                               need // identity, output and held_before
	verified                                               need // verified, and held_before
	create                                                 need // flow and user_email
	extra                                                  need // created_by, fields and context
	step                                                   need
	duration                                               need // duration_seconds
	stage                                                  string
}

var rules = map[Type]rule{
	TypeApprove:            person,
	TypeDeny:               person,
	TypeCancel:             person,
	TypeRevoke:             person,
	TypeRetry:              person,
	TypeExpire:             {request: required, grant: allowed, actor: allowed, reason: allowed, source: allowed},
	TypeEscalated:          withIdentity(grantReport),
	TypeDue:                grantReport,
	TypeDeescalated:        withVerified(grantReport),
	TypeEscalationFailed:   withFailure(grantReport, latch.StageEscalate),
	TypeDeescalationFailed: withFailure(grantReport, latch.StageDeescalate),
	TypeOverdue:            overdue,
	TypeForward:            {request: required, step: required, failure: allowed, source: allowed},
	TypeAutoApprove:        {request: required, source: allowed},
	TypeStart:              {request: required, source: allowed},
	TypeBreakGlass:         {request: required, actor: required, reason: required, source: allowed},
	TypeReview:             person,
	TypeReviewOverdue:      {request: required, step: required, source: allowed},
	TypeCreate:             {request: required, source: required, create: required, extra: allowed},
	TypeGrantTask:          {grant: required, action: required},
	TypeExtend:             {request: required, grant: allowed, actor: required, reason: allowed, source: allowed, duration: required},
}

var (
	person      = rule{request: required, grant: allowed, actor: required, reason: allowed, source: allowed}
	grantReport = rule{request: allowed, grant: required, actor: allowed, reason: allowed, source: allowed}
	overdue     = rule{request: allowed, grant: required, actor: allowed, reason: allowed, source: allowed, failure: allowed}
)

func withVerified(r rule) rule {
	r.verified = allowed
	return r
}

func withIdentity(r rule) rule {
	r.identity = allowed
	return r
}

// personal reports whether r is the rule of a person's command.
func (r rule) personal() bool { return r.actor == required }

func withFailure(r rule, stage string) rule {
	r.failure, r.stage = required, stage
	return r
}

// Validate checks m against version 1: the envelope, and the fields its type
// requires and forbids. Errors wrap ErrVersion, ErrType or ErrInvalid and
// name the message and the field.
func (m Message) Validate() error {
	if m.Version != Version {
		if m.Version == 0 {
			return fmt.Errorf("events: %w: the message has no version (\"v\"); this build reads version %d", ErrVersion, Version)
		}
		return fmt.Errorf("events: %w: version %d; this build reads version %d only", ErrVersion, m.Version, Version)
	}
	if m.Type == "" {
		return fmt.Errorf("events: %w: the message has no type", ErrType)
	}
	r, ok := rules[m.Type]
	if !ok {
		return fmt.Errorf("events: %w %q (version %d knows %s)", ErrType, m.Type, Version, typeList())
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	check := func(name string, n need, present bool) {
		switch {
		case n == required && !present:
			bad("%s is required", name)
		case n == forbidden && present:
			bad("%s is not allowed", name)
		}
	}
	if strings.TrimSpace(m.ID) == "" {
		bad("id is required")
	}
	if m.At.IsZero() {
		bad("at is required")
	} else if y := m.At.UTC().Year(); y < 1 || y > 9999 {
		bad("at is out of range (years 1 to 9999 in UTC)")
	}
	check("request_id", r.request, m.RequestID != "")
	check("grant_id", r.grant, m.GrantID != "")
	check("action", r.action, m.Action != "")
	check("actor", r.actor, m.Actor != nil)
	check("failure", r.failure, m.Failure != nil)
	if m.Type == TypeCreate {
		// A break glass carries its reason; no other create does.
		switch {
		case m.BreakGlass && strings.TrimSpace(m.Reason) == "":
			bad("reason is required with break_glass")
		case !m.BreakGlass && m.Reason != "":
			bad("reason is not allowed without break_glass")
		}
	} else {
		check("reason", r.reason, m.Reason != "")
	}
	check("break_glass", cmpNeed(m.Type == TypeCreate), m.BreakGlass)
	check("source", r.source, m.Source != "")
	check("flow", r.create, m.Flow != "")
	check("user_email", r.create, m.UserEmail != "")
	check("created_by", r.extra, m.CreatedBy != nil)
	check("fields", r.extra, m.Fields != nil)
	check("context", r.extra, m.Context != nil)
	check("starts_at", r.extra, m.StartsAt != nil)
	check("identity", r.identity, m.Identity != "")
	check("verified", r.verified, m.Verified)
	check("output", r.identity, m.Output != nil)
	check("held_before", max(r.identity, r.verified), m.HeldBefore != nil)
	check("step", r.step, m.Step != 0)
	check("duration_seconds", r.duration, m.Duration != 0)
	if m.Duration < 0 {
		bad("duration_seconds must be positive")
	}
	if m.Step < 0 {
		bad("step must be at least 1")
	}

	if m.Action != "" && r.action != forbidden && m.Action != ActionEscalate && m.Action != ActionDeescalate {
		bad("action %q is not %q or %q", m.Action, ActionEscalate, ActionDeescalate)
	}
	if a := m.Actor; a != nil && r.actor != forbidden {
		switch {
		case a.Email == "" && r.actor == required:
			bad("actor.email is required: a person gives this command")
		case a.Email == "" && a.Bot == "":
			bad("actor is empty; leave it out for Latch itself")
		case a.Email != "" && !latch.ValidEmail(a.Email):
			bad("actor.email %q is not an email address", a.Email)
		}
	}
	if c := m.CreatedBy; c != nil && r.extra != forbidden {
		switch {
		case c.Email == "" && c.Bot == "":
			bad("created_by is empty; leave it out when the user submitted the request")
		case c.Email != "" && !latch.ValidEmail(c.Email):
			bad("created_by.email %q is not an email address", c.Email)
		}
	}
	if m.Flow != "" && r.create != forbidden && strings.TrimSpace(m.Flow) == "" {
		bad("flow is blank")
	}
	if m.UserEmail != "" && r.create != forbidden && !latch.ValidEmail(m.UserEmail) {
		bad("user_email %q is not an email address", m.UserEmail)
	}
	if f := m.Failure; f != nil && r.failure != forbidden {
		if f.Code == "" {
			bad("failure.code is required")
		}
		if f.Message == "" {
			bad("failure.message is required")
		}
		if f.Stage != "" && f.Stage != r.stage {
			bad("failure.stage %q does not match %s (want %q or nothing)", f.Stage, m.Type, r.stage)
		}
		if f.MaybeHeld && m.Type != TypeEscalationFailed {
			bad("failure.maybe_held is only for %s", TypeEscalationFailed)
		}
	}
	if m.Source != "" && r.source != forbidden {
		// People's commands and new requests come from Slack or the API;
		// the others from Latch itself: a timer, the grant runner, the
		// reconciler.
		want := []latch.Source{latch.SourceSlack, latch.SourceAPI}
		if m.Type != TypeCreate && !rules[m.Type].personal() {
			want = []latch.Source{latch.SourceSchedule, latch.SourceLatch, latch.SourceReconciler}
		}
		if !slices.Contains(want, latch.Source(m.Source)) {
			bad("source %q is not one of %v", m.Source, want)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("events: %w: %s message %q: %s", ErrInvalid, m.Type, m.ID, strings.Join(problems, "; "))
	}
	return nil
}

// cmpNeed is allowed when ok, forbidden otherwise.
func cmpNeed(ok bool) need {
	if ok {
		return allowed
	}
	return forbidden
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Marshal validates m and returns its JSON, with At in UTC.
func Marshal(m Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	m.At = m.At.UTC()
	return json.Marshal(m)
}

// Unmarshal reads a message strictly: the version first (ErrVersion if it is
// missing or unknown), then the type (ErrType), then every field (ErrInvalid
// for malformed JSON, a field of the wrong JSON type or spelled differently,
// an unknown field, trailing data, or a field its type requires or forbids).
func Unmarshal(data []byte) (Message, error) {
	if len(data) > MaxSize {
		return Message{}, fmt.Errorf("events: %w: %d bytes, more than the %d allowed", ErrInvalid, len(data), MaxSize)
	}
	raw, err := object(data, "message")
	if err != nil {
		return Message{}, err
	}
	var m Message
	if v, ok := raw["v"]; ok {
		if err := json.Unmarshal(v, &m.Version); err != nil {
			return Message{}, fmt.Errorf("events: %w: \"v\" must be a whole number, got %s", ErrVersion, clip(v))
		}
	}
	if m.Version != Version {
		return Message{}, m.Validate()
	}
	if t, ok := raw["type"]; ok {
		if err := json.Unmarshal(t, &m.Type); err != nil {
			return Message{}, fmt.Errorf("events: %w: \"type\" must be text, got %s", ErrType, clip(t))
		}
	}
	if !m.Type.Valid() {
		return Message{}, m.Validate()
	}
	if err := exactKeys(raw, keys, "message"); err != nil {
		return Message{}, err
	}
	for _, nested := range []struct {
		name string
		keys []string
	}{{"actor", actorKeys}, {"created_by", actorKeys}, {"failure", failureKeys}} {
		if v, ok := raw[nested.name]; ok && !isNull(v) {
			o, err := object(v, nested.name)
			if err != nil {
				return Message{}, err
			}
			if err := exactKeys(o, nested.keys, nested.name); err != nil {
				return Message{}, err
			}
		}
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, fmt.Errorf("events: %w: %s message: %v", ErrInvalid, m.Type, err)
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// object decodes one JSON object into its raw members, refusing anything
// after it.
func object(data []byte, what string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("events: %w: %s is not a JSON object: %v", ErrInvalid, what, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("events: %w: %s is null, not a JSON object", ErrInvalid, what)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("events: %w: data after the %s's closing brace", ErrInvalid, what)
	}
	return raw, nil
}

// exactKeys refuses members not named exactly as in known (encoding/json
// alone would accept "Type" for "type").
func exactKeys(raw map[string]json.RawMessage, known []string, what string) error {
	var unknown []string
	for k := range raw {
		if !slices.Contains(known, k) {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("events: %w: %s has unknown field %s (the fields are %s)", ErrInvalid, what,
		strings.Join(unknown, ", "), strings.Join(known, ", "))
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// clip renders a raw JSON value for an error message, shortened.
func clip(v json.RawMessage) string {
	const max = 40
	s := strings.Join(strings.Fields(string(v)), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
