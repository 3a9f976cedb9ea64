package dynamostore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// The document of each item (AttrDoc) is a native DynamoDB map, encoded by
// github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue from the
// storage structs below: one per entity, with dynamodbav tags, converted to
// and from the domain types. The attribute names are the domain's JSON
// names, so an item reads like the API's answer; times are RFC 3339
// strings in UTC, numbers are numbers. The domain types carry no storage
// tags, and renaming a field of theirs does not rename an attribute.
//
// Items written before documents were maps hold the JSON of the entity in
// a string: decode reads both shapes, and rewriting an item (any commit
// that changes it) writes the map. See docs/aws.md, "Item format".
//
// A type without a storage struct here (such as holdToken) is encoded by
// its json tags.

// fieldsItem is latch.Fields as a native map. It decodes into the types
// latch.Fields promises (whole numbers as int64, lists of strings or of
// whole numbers as []string or []int64) by the rules of its JSON decoding.
type fieldsItem latch.Fields

// UnmarshalDynamoDBAttributeValue decodes a map, keeping numbers exact, and
// hands it to latch.Fields' own decoding.
func (f *fieldsItem) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	if _, null := av.(*types.AttributeValueMemberNULL); null {
		*f = nil
		return nil
	}
	var raw map[string]any
	if err := exactNumbers.Decode(av, &raw); err != nil {
		return err
	}
	b, err := json.Marshal(jsonNumbers(raw))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, (*latch.Fields)(f))
}

// jsonNumbers returns v with every attributevalue.Number a json.Number.
func jsonNumbers(v any) any {
	switch x := v.(type) {
	case attributevalue.Number:
		return json.Number(x)
	case map[string]any:
		for k, e := range x {
			x[k] = jsonNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonNumbers(e)
		}
	}
	return v
}

type userRefItem struct {
	ID    string `dynamodbav:"id,omitempty"`
	Email string `dynamodbav:"email"`
}

type actorItem struct {
	Email string `dynamodbav:"email,omitempty"`
	Bot   string `dynamodbav:"bot,omitempty"`
}

type decisionItem struct {
	By     actorItem `dynamodbav:"by"`
	At     time.Time `dynamodbav:"at"`
	Reason string    `dynamodbav:"reason,omitempty"`
}

// extensionItem is a request's pending extension (latch.PendingExtension).
type extensionItem struct {
	Duration  int64          `dynamodbav:"duration_seconds"`
	Reason    string         `dynamodbav:"reason,omitempty"`
	By        actorItem      `dynamodbav:"by"`
	At        time.Time      `dynamodbav:"at"`
	Approvals []decisionItem `dynamodbav:"approvals,omitempty"`
}

func toExtension(x *latch.PendingExtension) *extensionItem {
	if x == nil {
		return nil
	}
	return &extensionItem{Duration: x.Duration, Reason: x.Reason, By: toActor(x.By), At: x.At, Approvals: mapSlice(x.Approvals, toDecision)}
}

func (it *extensionItem) domain() *latch.PendingExtension {
	if it == nil {
		return nil
	}
	return &latch.PendingExtension{Duration: it.Duration, Reason: it.Reason, By: it.By.domain(), At: it.At,
		Approvals: mapSlice(it.Approvals, decisionItem.domain)}
}

type failureItem struct {
	Code      string `dynamodbav:"code"`
	Message   string `dynamodbav:"message"`
	Stage     string `dynamodbav:"stage,omitempty"`
	MaybeHeld bool   `dynamodbav:"maybe_held,omitempty"`
}

type leaseItem struct {
	RequestID string    `dynamodbav:"request_id"`
	Duration  int64     `dynamodbav:"duration_seconds"`
	StartsAt  time.Time `dynamodbav:"starts_at,omitempty"`
	EndsAt    time.Time `dynamodbav:"ends_at,omitempty"`
}

type requestItem struct {
	ID        string         `dynamodbav:"id"`
	Flow      string         `dynamodbav:"flow"`
	Requester userRefItem    `dynamodbav:"requester"`
	CreatedBy actorItem      `dynamodbav:"created_by"`
	Source    string         `dynamodbav:"source"`
	Fields    fieldsItem     `dynamodbav:"fields"`
	Context   map[string]any `dynamodbav:"context,omitempty"`
	TargetID  string         `dynamodbav:"target_id,omitempty"`
	Duration  int64          `dynamodbav:"duration_seconds"`
	Status    string         `dynamodbav:"status"`
	Approvals []decisionItem `dynamodbav:"approvals,omitempty"`
	Decision  *decisionItem  `dynamodbav:"decision,omitempty"`
	Failure   *failureItem   `dynamodbav:"failure,omitempty"`
	Access    string         `dynamodbav:"access,omitempty"`
	GrantID   string         `dynamodbav:"grant_id,omitempty"`
	StartsAt  *time.Time     `dynamodbav:"starts_at,omitempty"`
	EndsAt    *time.Time     `dynamodbav:"ends_at,omitempty"`
	ExpiresAt *time.Time     `dynamodbav:"expires_at,omitempty"`
	Forwarded int            `dynamodbav:"forwarded,omitempty"`
	ForwardAt *time.Time     `dynamodbav:"forward_at,omitempty"`
	Extension *extensionItem `dynamodbav:"extension,omitempty"`
	CreatedAt time.Time      `dynamodbav:"created_at"`
	UpdatedAt time.Time      `dynamodbav:"updated_at"`
	Version   int64          `dynamodbav:"version"`
	EventSeq  int64          `dynamodbav:"event_seq"`

	// ScheduledStart is latch.Request.ScheduledStart.
	ScheduledStart *time.Time `dynamodbav:"scheduled_start,omitempty"`
	// BreakGlass: a request made by breaking glass (latch.BreakGlassInfo).
	BreakGlass *breakGlassItem `dynamodbav:"break_glass,omitempty"`
}

// breakGlassItem is latch.BreakGlassInfo as stored.
type breakGlassItem struct {
	Reason           string        `dynamodbav:"reason"`
	RequestedSeconds int64         `dynamodbav:"requested_seconds,omitempty"`
	ReviewDueAt      time.Time     `dynamodbav:"review_due_at"`
	Review           *decisionItem `dynamodbav:"review,omitempty"`
	Alerts           int           `dynamodbav:"alerts,omitempty"`
}

func toBreakGlass(b *latch.BreakGlassInfo) *breakGlassItem {
	if b == nil {
		return nil
	}
	it := &breakGlassItem{Reason: b.Reason, RequestedSeconds: b.RequestedSeconds, ReviewDueAt: b.ReviewDueAt, Alerts: b.Alerts}
	if b.Review != nil {
		d := toDecision(*b.Review)
		it.Review = &d
	}
	return it
}

func (it *breakGlassItem) domain() *latch.BreakGlassInfo {
	if it == nil {
		return nil
	}
	b := &latch.BreakGlassInfo{Reason: it.Reason, RequestedSeconds: it.RequestedSeconds, ReviewDueAt: it.ReviewDueAt, Alerts: it.Alerts}
	if it.Review != nil {
		d := it.Review.domain()
		b.Review = &d
	}
	return b
}

type grantItem struct {
	ID       string       `dynamodbav:"id"`
	Key      string       `dynamodbav:"key"`
	Flow     string       `dynamodbav:"flow"`
	TargetID string       `dynamodbav:"target_id"`
	User     userRefItem  `dynamodbav:"user"`
	Status   string       `dynamodbav:"status"`
	Leases   []leaseItem  `dynamodbav:"leases"`
	Queued   []leaseItem  `dynamodbav:"queued,omitempty"`
	StartsAt *time.Time   `dynamodbav:"starts_at,omitempty"`
	EndedAt  *time.Time   `dynamodbav:"ended_at,omitempty"`
	Failure  *failureItem `dynamodbav:"failure,omitempty"`
	Revoke   *revokeItem  `dynamodbav:"revoke,omitempty"`
	Identity string       `dynamodbav:"identity,omitempty"`
	DueAt    *time.Time   `dynamodbav:"due_at,omitempty"`
	// HeldBefore: nil (not checked) is left out, so false and true stay
	// apart from it.
	HeldBefore *bool     `dynamodbav:"held_before,omitempty"`
	ChecksHeld bool      `dynamodbav:"checks_held,omitempty"`
	CreatedAt  time.Time `dynamodbav:"created_at"`
	UpdatedAt  time.Time `dynamodbav:"updated_at"`
	Version    int64     `dynamodbav:"version"`
}

type revokeItem struct {
	Strategy        string         `dynamodbav:"strategy"`
	Config          map[string]any `dynamodbav:"config,omitempty"`
	TargetID        string         `dynamodbav:"target_id"`
	TargetLabel     string         `dynamodbav:"target_label,omitempty"`
	TargetSettings  map[string]any `dynamodbav:"target_settings,omitempty"`
	IdentityService string         `dynamodbav:"identity_service,omitempty"`
}

type auditItem struct {
	ID        string         `dynamodbav:"id"`
	RequestID string         `dynamodbav:"request_id"`
	Seq       int64          `dynamodbav:"seq"`
	Type      string         `dynamodbav:"type"`
	At        time.Time      `dynamodbav:"at"`
	Flow      string         `dynamodbav:"flow"`
	Requester string         `dynamodbav:"requester"`
	Actor     *actorItem     `dynamodbav:"actor,omitempty"` // nil for Latch itself
	TargetID  string         `dynamodbav:"target_id,omitempty"`
	GrantID   string         `dynamodbav:"grant_id,omitempty"`
	Reason    string         `dynamodbav:"reason,omitempty"`
	Source    string         `dynamodbav:"source,omitempty"`
	Fields    fieldsItem     `dynamodbav:"fields,omitempty"`
	Data      map[string]any `dynamodbav:"data,omitempty"`
}

type effectItem struct {
	ID        string    `dynamodbav:"id"`
	Kind      string    `dynamodbav:"kind"`
	RequestID string    `dynamodbav:"request_id,omitempty"`
	GrantID   string    `dynamodbav:"grant_id,omitempty"`
	At        time.Time `dynamodbav:"at,omitempty"`
	Event     string    `dynamodbav:"event,omitempty"`
	Hook      string    `dynamodbav:"hook,omitempty"`
	Step      int       `dynamodbav:"step,omitempty"`
	CreatedAt time.Time `dynamodbav:"created_at"`
}

type userItem struct {
	ID       string            `dynamodbav:"id"`
	Email    string            `dynamodbav:"email"`
	Name     string            `dynamodbav:"name,omitempty"`
	Role     string            `dynamodbav:"role"`
	Kind     string            `dynamodbav:"kind"`
	SlackIDs map[string]string `dynamodbav:"slack_ids,omitempty"`
	// A bot's rules (latch.User.MayRequestFor, MayDecideAs).
	MayRequestFor string    `dynamodbav:"may_request_for,omitempty"`
	MayDecideAs   string    `dynamodbav:"may_decide_as,omitempty"`
	CreatedAt     time.Time `dynamodbav:"created_at"`
	UpdatedAt     time.Time `dynamodbav:"updated_at,omitempty"`
	Version       int64     `dynamodbav:"version"`
}

type identityItem struct {
	Email     string    `dynamodbav:"email"`
	Service   string    `dynamodbav:"service"`
	ID        string    `dynamodbav:"id"`
	Source    string    `dynamodbav:"source"`
	UpdatedAt time.Time `dynamodbav:"updated_at"`
}

type domainItem struct {
	Name      string    `dynamodbav:"name"`
	CreatedAt time.Time `dynamodbav:"created_at"`
}

type tokenItem struct {
	ID        string     `dynamodbav:"id"`
	Hash      string     `dynamodbav:"hash"`
	Label     string     `dynamodbav:"label"`
	Owner     string     `dynamodbav:"owner"`
	Scopes    []string   `dynamodbav:"scopes"`
	CreatedAt time.Time  `dynamodbav:"created_at"`
	ExpiresAt *time.Time `dynamodbav:"expires_at,omitempty"`
	RevokedAt *time.Time `dynamodbav:"revoked_at,omitempty"`
}

type messageRefItem struct {
	RequestID string    `dynamodbav:"request_id"`
	Kind      string    `dynamodbav:"kind"`
	Team      string    `dynamodbav:"team,omitempty"`
	Channel   string    `dynamodbav:"channel"`
	TS        string    `dynamodbav:"ts"`
	PostedAt  time.Time `dynamodbav:"posted_at"`
}

func toUserRef(u latch.UserRef) userRefItem { return userRefItem(u) }
func (u userRefItem) domain() latch.UserRef { return latch.UserRef(u) }
func toActor(a latch.Actor) actorItem       { return actorItem(a) }
func (a actorItem) domain() latch.Actor     { return latch.Actor(a) }
func toLease(l latch.Lease) leaseItem       { return leaseItem(l) }
func (l leaseItem) domain() latch.Lease     { return latch.Lease(l) }
func toDomain(d latch.Domain) domainItem    { return domainItem(d) }
func (d domainItem) domain() latch.Domain   { return latch.Domain(d) }
func toMessageRef(m latch.MessageRef) messageRefItem {
	return messageRefItem(m)
}
func (m messageRefItem) domain() latch.MessageRef { return latch.MessageRef(m) }

func toDecision(d latch.Decision) decisionItem {
	return decisionItem{By: toActor(d.By), At: d.At, Reason: d.Reason}
}

func (d decisionItem) domain() latch.Decision {
	return latch.Decision{By: d.By.domain(), At: d.At, Reason: d.Reason}
}

func toFailure(f *latch.Failure) *failureItem {
	if f == nil {
		return nil
	}
	return &failureItem{Code: f.Code, Message: f.Message, Stage: f.Stage, MaybeHeld: f.MaybeHeld}
}

func (f *failureItem) domain() *latch.Failure {
	if f == nil {
		return nil
	}
	return &latch.Failure{Code: f.Code, Message: f.Message, Stage: f.Stage, MaybeHeld: f.MaybeHeld}
}

// mapSlice converts each element of s with f, keeping nil nil.
func mapSlice[T, U any](s []T, f func(T) U) []U {
	if s == nil {
		return nil
	}
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

func toRequest(r latch.Request) requestItem {
	it := requestItem{
		ID: r.ID, Flow: r.Flow, Requester: toUserRef(r.Requester), CreatedBy: toActor(r.CreatedBy),
		Source: string(r.Source), Fields: fieldsItem(r.Fields), Context: r.Context, TargetID: r.TargetID,
		Duration: r.Duration, Status: string(r.Status), Approvals: mapSlice(r.Approvals, toDecision),
		Failure: toFailure(r.Failure), Access: string(r.Access), GrantID: r.GrantID, StartsAt: r.StartsAt, EndsAt: r.EndsAt,
		ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Version: r.Version,
		EventSeq: r.EventSeq, Forwarded: r.Forwarded, ForwardAt: r.ForwardAt,
	}
	it.Extension = toExtension(r.Extension)
	if r.Decision != nil {
		d := toDecision(*r.Decision)
		it.Decision = &d
	}
	it.ScheduledStart = r.ScheduledStart
	it.BreakGlass = toBreakGlass(r.BreakGlass)
	return it
}

func (it requestItem) domain() latch.Request {
	r := latch.Request{
		ID: it.ID, Flow: it.Flow, Requester: it.Requester.domain(), CreatedBy: it.CreatedBy.domain(),
		Source: latch.Source(it.Source), Fields: latch.Fields(it.Fields), Context: it.Context, TargetID: it.TargetID,
		Duration: it.Duration, Status: latch.Status(it.Status),
		Approvals: mapSlice(it.Approvals, decisionItem.domain), Failure: it.Failure.domain(),
		Access: latch.AccessState(it.Access), GrantID: it.GrantID, StartsAt: it.StartsAt, EndsAt: it.EndsAt, ExpiresAt: it.ExpiresAt,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, Version: it.Version, EventSeq: it.EventSeq,
		Forwarded: it.Forwarded, ForwardAt: it.ForwardAt,
	}
	r.ScheduledStart = it.ScheduledStart
	r.Extension = it.Extension.domain()
	if it.Decision != nil {
		d := it.Decision.domain()
		r.Decision = &d
	}
	r.BreakGlass = it.BreakGlass.domain()
	return r
}

func toGrant(g latch.Grant) grantItem {
	return grantItem{
		ID: g.ID, Key: g.Key, Flow: g.Flow, TargetID: g.TargetID, User: toUserRef(g.User),
		Status: string(g.Status), Leases: mapSlice(g.Leases, toLease), Queued: mapSlice(g.Queued, toLease),
		StartsAt: g.StartsAt, EndedAt: g.EndedAt, Failure: toFailure(g.Failure),
		Revoke: (*revokeItem)(g.Revoke), Identity: g.Identity, DueAt: g.DueAt, HeldBefore: g.HeldBefore,
		ChecksHeld: g.ChecksHeld, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, Version: g.Version,
	}
}

func (it grantItem) domain() latch.Grant {
	return latch.Grant{
		ID: it.ID, Key: it.Key, Flow: it.Flow, TargetID: it.TargetID, User: it.User.domain(),
		Status: latch.GrantStatus(it.Status), Leases: mapSlice(it.Leases, leaseItem.domain),
		Queued: mapSlice(it.Queued, leaseItem.domain), StartsAt: it.StartsAt, EndedAt: it.EndedAt,
		Failure: it.Failure.domain(), Revoke: (*latch.RevokeInfo)(it.Revoke), Identity: it.Identity, DueAt: it.DueAt,
		HeldBefore: it.HeldBefore, ChecksHeld: it.ChecksHeld, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, Version: it.Version,
	}
}

// toAudit leaves out an audit event's empty maps (as its JSON did): the
// audit function reads the item from the table's stream, and DynamoDB
// Local's stream shows an empty map as {}, without its type.
func toAudit(e latch.AuditEvent) auditItem {
	it := auditItem{
		ID: e.ID, RequestID: e.RequestID, Seq: e.Seq, Type: string(e.Type), At: e.At, Flow: e.Flow,
		Requester: e.Requester, TargetID: e.TargetID, GrantID: e.GrantID,
		Reason: e.Reason, Source: string(e.Source),
	}
	if !e.Actor.IsSystem() {
		a := toActor(e.Actor)
		it.Actor = &a
	}
	if len(e.Fields) > 0 {
		it.Fields = fieldsItem(e.Fields)
	}
	if len(e.Data) > 0 {
		it.Data = e.Data
	}
	return it
}

func (it auditItem) domain() latch.AuditEvent {
	e := latch.AuditEvent{
		ID: it.ID, RequestID: it.RequestID, Seq: it.Seq, Type: latch.AuditType(it.Type), At: it.At,
		Flow: it.Flow, Requester: it.Requester, TargetID: it.TargetID,
		GrantID: it.GrantID, Reason: it.Reason, Source: latch.Source(it.Source), Fields: latch.Fields(it.Fields),
		Data: it.Data,
	}
	if it.Actor != nil {
		e.Actor = it.Actor.domain()
	}
	return e
}

func toEffect(e latch.Effect) effectItem {
	return effectItem{
		ID: e.ID, Kind: string(e.Kind), RequestID: e.RequestID, GrantID: e.GrantID, At: e.At,
		Event: string(e.Event), Hook: e.Hook, Step: e.Step, CreatedAt: e.CreatedAt,
	}
}

func (it effectItem) domain() latch.Effect {
	return latch.Effect{
		ID: it.ID, Kind: latch.EffectKind(it.Kind), RequestID: it.RequestID, GrantID: it.GrantID,
		At: it.At, Event: latch.AuditType(it.Event), Hook: it.Hook, Step: it.Step, CreatedAt: it.CreatedAt,
	}
}

func toUser(u latch.User) userItem {
	return userItem{
		ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Kind: string(u.Kind),
		SlackIDs: u.SlackIDs, MayRequestFor: u.MayRequestFor, MayDecideAs: u.MayDecideAs,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Version: u.Version,
	}
}

func (it userItem) domain() latch.User {
	return latch.User{
		ID: it.ID, Email: it.Email, Name: it.Name, Role: latch.Role(it.Role), Kind: latch.UserKind(it.Kind),
		SlackIDs: it.SlackIDs, MayRequestFor: it.MayRequestFor, MayDecideAs: it.MayDecideAs,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, Version: it.Version,
	}
}

func toIdentity(id latch.Identity) identityItem { return identityItem(id) }
func (it identityItem) domain() latch.Identity  { return latch.Identity(it) }

func toToken(t latch.Token) tokenItem {
	return tokenItem(t)
}
func (it tokenItem) domain() latch.Token { return latch.Token(it) }

// marshalDoc encodes an entity as the native map of its item's document.
func marshalDoc(doc any) (types.AttributeValue, error) {
	var s any
	switch d := doc.(type) {
	case latch.Request:
		s = toRequest(d)
	case latch.Grant:
		s = toGrant(d)
	case latch.AuditEvent:
		s = toAudit(d)
	case latch.Effect:
		s = toEffect(d)
	case latch.User:
		s = toUser(d)
	case latch.Identity:
		s = toIdentity(d)
	case latch.Domain:
		s = toDomain(d)
	case latch.Token:
		s = toToken(d)
	case latch.MessageRef:
		s = toMessageRef(d)
	default:
		return jsonTagged.Encode(doc)
	}
	return encoder.Encode(s)
}

// unmarshalDoc decodes the native map of an item's document into v, a
// pointer to an entity.
func unmarshalDoc(av types.AttributeValue, v any) error {
	switch p := v.(type) {
	case *latch.Request:
		return unmarshalInto(av, p, requestItem.domain)
	case *latch.Grant:
		return unmarshalInto(av, p, grantItem.domain)
	case *latch.AuditEvent:
		return unmarshalInto(av, p, auditItem.domain)
	case *latch.Effect:
		return unmarshalInto(av, p, effectItem.domain)
	case *latch.User:
		return unmarshalInto(av, p, userItem.domain)
	case *latch.Identity:
		return unmarshalInto(av, p, identityItem.domain)
	case *latch.Domain:
		return unmarshalInto(av, p, domainItem.domain)
	case *latch.Token:
		return unmarshalInto(av, p, tokenItem.domain)
	case *latch.MessageRef:
		return unmarshalInto(av, p, messageRefItem.domain)
	default:
		return jsonTaggedDecoder.Decode(av, v)
	}
}

func unmarshalInto[S, D any](av types.AttributeValue, p *D, domain func(S) D) error {
	var s S
	if err := decoder.Decode(av, &s); err != nil {
		return err
	}
	*p = domain(s)
	return nil
}

// encoder and decoder convert the storage structs; a zero time tagged
// omitempty is left out, as the JSON documents' omitzero did. jsonTagged
// and jsonTaggedDecoder encode and decode the documents of types without a
// storage struct by their json tags.
var (
	encoder = attributevalue.NewEncoder(func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	decoder = attributevalue.NewDecoder()
	// exactNumbers decodes numbers as attributevalue.Number, not float64.
	exactNumbers = attributevalue.NewDecoder(func(o *attributevalue.DecoderOptions) { o.UseNumber = true })

	jsonTagged = attributevalue.NewEncoder(func(o *attributevalue.EncoderOptions) {
		o.TagKey, o.OmitEmptyTime = "json", true
	})
	jsonTaggedDecoder = attributevalue.NewDecoder(func(o *attributevalue.DecoderOptions) { o.TagKey = "json" })
)

// decodeDoc decodes an item's document into v: a native map (what item
// writes) or, for an item written before documents were maps, a string
// holding the entity's JSON.
func decodeDoc(it map[string]types.AttributeValue, v any) error {
	switch doc := it[AttrDoc].(type) {
	case *types.AttributeValueMemberM:
		if err := unmarshalDoc(doc, v); err != nil {
			return fmt.Errorf("decode %s: %w", pkOf(it), err)
		}
		return nil
	case *types.AttributeValueMemberS:
		if err := json.Unmarshal([]byte(doc.Value), v); err != nil {
			return fmt.Errorf("decode %s (a JSON document): %w", pkOf(it), err)
		}
		return nil
	case nil:
		return fmt.Errorf("item %s has no document", pkOf(it))
	default:
		return fmt.Errorf("item %s: its document is a %T, not a map", pkOf(it), doc)
	}
}

// DecodeAudit returns the audit event an item of the table holds (as a
// stream record's image shows it, converted to the SDK's attribute values):
// its document is a native map or, for an item written before documents
// were maps, a string holding the event's JSON. Errors name the item's
// partition key.
func DecodeAudit(it map[string]types.AttributeValue) (latch.AuditEvent, error) {
	var e latch.AuditEvent
	if err := decodeDoc(it, &e); err != nil {
		return latch.AuditEvent{}, err
	}
	return e, nil
}
