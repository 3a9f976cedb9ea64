package latch

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flow is a named access workflow: the fields a requester fills in, who may
// approve, what is granted and for how long. Flows are written as YAML files
// (see package flows) and are immutable once loaded.
type Flow struct {
	Name                  string
	Label                 string
	AdditionalHeaderText  string
	Sources               []Source // who may start a request: nil after loading means slack and api
	AllowRevoke           bool
	ScheduleDeescalation  bool
	AllowGuestInteraction bool
	// OmitDecisionMessage turns off the reason box approvers see next to
	// Approve and Deny in Slack (include_decision_message: false).
	OmitDecisionMessage bool
	// VisibleTo is an optional CEL rule over requester (and flow): who is
	// offered the flow and may request it. Nil: every member.
	VisibleTo       Rule
	VisibleToSource string
	Fields          []Field
	Approval        Approval
	Strategy        *Strategy // nil: approval-only; approved is final
	Hooks           Hooks
	Identity        IdentityConfig
	// OnCall names the on-call source rules ask (requester.on_call,
	// approver.on_call); nil when the flow names none.
	OnCall *OnCallConfig
	// AutoApprove is an optional CEL rule over requester, request and flow:
	// a new request it is true for is approved by the flow itself.
	AutoApprove       Rule
	AutoApproveSource string
	// AllowScheduledStart lets a request name when its access starts
	// (starts_at): approved ahead of it, it waits in scheduled until then.
	AllowScheduledStart bool
	// Extension says whether and how a requester may ask for more time on
	// an active grant (extension); nil: extending is refused.
	Extension *Extension
	// BreakGlass lets the people its rule allows grant themselves access at
	// once (break_glass); nil when the flow offers none.
	BreakGlass *BreakGlass

	// File is where the flow was loaded from, for messages.
	File string
	// Recorded: the flow was made by RevokeTarget from what a grant
	// recorded, not loaded from a flow file.
	Recorded bool
}

// Extension is a flow's extension policy: the requester of an active grant
// may ask for more time, up to MaxTotal for the request's whole duration.
// An extension that adds at most AutoWithin is granted at once; any other
// is decided by the flow's approvers, with the same policy as a request.
// AutoWithin 0 (approval: required): approvers decide every extension.
type Extension struct {
	MaxTotal   time.Duration
	AutoWithin time.Duration
}

// Source names where a request comes from.
type Source string

// Sources: where a request, or a command, comes from.
const (
	SourceSlack      Source = "slack"
	SourceAPI        Source = "api"
	SourceSchedule   Source = "schedule"   // a timer: an approval deadline, a lease's end
	SourceLatch      Source = "latch"      // the grant runner's reports; identities Latch learned
	SourceAdmin      Source = "admin"      // an admin's change to users, domains, bots and tokens
	SourceReconciler Source = "reconciler" // the reconciler set something overdue or stuck going again
)

// Approval says who may decide a request and how many must agree.
type Approval struct {
	Channel           string   // the Slack channel approval messages go to
	Approvers         []string // emails, compared case-insensitively
	Rule              Rule     // optional CEL rule over approver, requester, request; nil when unset
	RuleSource        string   // the rule as written
	Quorum            int      // distinct approvers needed; at least 1
	AllowSelfApproval bool
	Timeout           time.Duration // a pending request expires after this; 0 means never
	// Forward lists the later steps a pending request is forwarded to, in
	// order of After (approval.forward).
	Forward []ForwardStep
}

// ForwardStep is one step of an approval's forwarding chain: when a request
// is still pending After its creation (not after the previous step), it is
// posted to Channel and sent to each of DM, and the step's Approvers, DM
// and Rule join those who may decide it.
type ForwardStep struct {
	After      time.Duration
	Channel    string   // a Slack channel, or ""
	Approvers  []string // emails, lower-case
	DM         []string // emails sent the request in a DM; they may decide too
	Rule       Rule     // optional; nil when unset
	RuleSource string
}

// Destination names where a step sends the request, for messages: its
// channel and the people it DMs (or, with neither, its approvers).
func (s ForwardStep) Destination() []string {
	var out []string
	if s.Channel != "" {
		out = append(out, s.Channel)
	}
	out = append(out, s.DMs()...)
	return out
}

// DMs are the people a step sends the request to in a DM: its dm list, or,
// when it names neither a channel nor a dm list, its approvers.
func (s ForwardStep) DMs() []string {
	if len(s.DM) > 0 || s.Channel != "" {
		return s.DM
	}
	return s.Approvers
}

// ForwardDue is when step (1-based) of the forwarding chain falls due for a
// request created at created; false when the flow has no such step.
func (a Approval) ForwardDue(created time.Time, step int) (time.Time, bool) {
	if step < 1 || step > len(a.Forward) {
		return time.Time{}, false
	}
	return created.Add(a.Forward[step-1].After), true
}

// Rule is a compiled boolean expression (CEL, see package policy). Eval must
// be safe for concurrent use and must not do I/O.
type Rule interface {
	Eval(vars RuleVars) (bool, error)
}

// RuleVars is what a rule sees.
type RuleVars struct {
	Approver  *User
	Requester *User
	Request   *Request
	Flow      *Flow
	OnCall    OnCall
}

// OnCallConfig is a flow's on-call source (oncall in flow files).
type OnCallConfig struct {
	Provider    string   // "pagerduty"
	ScheduleIDs []string // the schedules whose on-call people count
	TokenEnv    string   // the environment variable holding the API token
}

// OnCall is what a flow's on-call source said about the approver and the
// requester of one command, as rules see it (approver.on_call,
// requester.on_call). A lookup that failed leaves both false and says why
// in Err: a failure never makes anyone on call.
type OnCall struct {
	Approver, Requester bool
	Err                 string
}

// Strategy is the kind of target and the escalator that grants and revokes it.
type Strategy struct {
	Type    string         // "webhook", "aws_iam", ...
	Config  map[string]any // type-specific settings (url, secret_env, ...)
	Targets []Target
}

// Target is one thing access can be granted to.
type Target struct {
	ID       string
	Label    string
	Settings map[string]any
}

// IdentityConfig says how a flow finds a grantee's id in the target system.
// The discovery order is: the identity stored for (user, Service); else Rule,
// or the get_identity hook; else the strategy's own lookup by email, when
// LookupByEmail is set and the strategy has one; else the grant fails with
// identity_not_found. Whatever a rule, hook or lookup finds is stored.
type IdentityConfig struct {
	Service       string       // the identity map's service name; ServiceFor gives the default
	Rule          IdentityRule // optional CEL rule: the id from the user
	RuleSource    string
	LookupByEmail bool // use the strategy's own lookup by email (for webhook: the email itself)
}

// IdentityRule is a compiled string expression over a user (CEL, see
// package policy). Eval must be safe for concurrent use and do no I/O; it
// returns ErrEmptyIdentity when the rule gives an empty string.
type IdentityRule interface {
	Eval(user *User) (string, error)
}

// ErrEmptyIdentity is returned by IdentityRule.Eval when the rule gives an
// empty string: an empty identity never names anyone, so the next step of
// the discovery order is tried.
var ErrEmptyIdentity = errors.New("the identity rule gave an empty string")

// IdentityService is the service name under which the flow's grantees'
// identities are kept: the flow's identity.service, else the strategy type.
func (f *Flow) IdentityService() string {
	if f.Identity.Service != "" {
		return f.Identity.Service
	}
	if f.Strategy != nil {
		return f.Strategy.Type
	}
	return ""
}

// Hooks name the webhooks or Lambdas called at points of a request's life.
// Each is empty when unset. SecretEnv names the environment variable holding
// the secret the calls are signed with.
type Hooks struct {
	SecretEnv       string
	OnRequest       string
	OnApprove       string
	OnDeny          string
	AfterEscalate   string
	AfterDeescalate string
	GetIdentity     string
}

// Hook points, as named in flow files and in EffectHook effects.
const (
	HookOnRequest       = "on_request"
	HookOnApprove       = "on_approve"
	HookOnDeny          = "on_deny"
	HookAfterEscalate   = "after_escalate"
	HookAfterDeescalate = "after_deescalate"
	HookGetIdentity     = "get_identity"
	// HookAutoApprove marks an approval made by the flow's auto_approve
	// rule (Command.Hook): the flow decides, as with an on_request hook.
	HookAutoApprove = "auto_approve"
)

// HookAnswer is what a hook may answer to on_request: approve or deny the
// request, or leave it to the approvers (Decision empty).
type HookAnswer struct {
	Decision string `json:"decision,omitempty"` // "approve", "deny" or ""
	Reason   string `json:"reason,omitempty"`
}

// URL returns the URL configured for a hook point, or "".
func (h Hooks) URL(point string) string {
	switch point {
	case HookOnRequest:
		return h.OnRequest
	case HookOnApprove:
		return h.OnApprove
	case HookOnDeny:
		return h.OnDeny
	case HookAfterEscalate:
		return h.AfterEscalate
	case HookAfterDeescalate:
		return h.AfterDeescalate
	case HookGetIdentity:
		return h.GetIdentity
	}
	return ""
}

// FieldType is the type of a request field.
type FieldType string

// Field types.
const (
	FieldString     FieldType = "string"
	FieldInt        FieldType = "int"
	FieldBool       FieldType = "bool"
	FieldDuration   FieldType = "duration"
	FieldStrings    FieldType = "list[string]"
	FieldInts       FieldType = "list[int]"
	FieldSlackUser  FieldType = "slack_user"
	FieldSlackUsers FieldType = "list[slack_user]"
)

// FieldTypes lists every field type, in documentation order.
var FieldTypes = []FieldType{FieldString, FieldInt, FieldBool, FieldDuration, FieldStrings, FieldInts, FieldSlackUser, FieldSlackUsers}

// Special field names, as in Sym.
const (
	FieldNameDuration = "duration"  // the grant's length
	FieldNameTarget   = "target_id" // which of the strategy's targets
)

// Field is one input a requester fills in. Default and AllowedValues hold
// normalized values (see Field.Normalize).
type Field struct {
	Name          string
	Type          FieldType
	Label         string
	Required      bool
	Default       any
	AllowedValues []any
	Min, Max      *int64 // bounds: the value for int, seconds for duration
}

// Normalize converts a raw input value (from JSON, YAML or a Slack form) into
// the field's canonical Go type: string, int64, bool, int64 seconds for
// durations, []string or []int64. It returns a person-readable error naming the
// field when the value does not fit.
func (f Field) Normalize(v any) (any, error) {
	out, err := f.normalize(v)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	if len(f.AllowedValues) > 0 && !slices.ContainsFunc(f.AllowedValues, func(a any) bool { return equalValue(a, out) }) {
		return nil, fmt.Errorf("field %q: %s is not one of the allowed values (%s)", f.Name, FormatValue(f.Type, out), f.formatAllowed())
	}
	if err := f.checkBounds(out); err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	return out, nil
}

func (f Field) formatAllowed() string {
	parts := make([]string, len(f.AllowedValues))
	for i, a := range f.AllowedValues {
		parts[i] = FormatValue(f.Type, a)
	}
	return strings.Join(parts, ", ")
}

func (f Field) checkBounds(v any) error {
	n, ok := v.(int64)
	if !ok {
		return nil
	}
	show := func(x int64) string { return FormatValue(f.Type, x) }
	if f.Min != nil && n < *f.Min {
		return fmt.Errorf("%s is less than the minimum %s", show(n), show(*f.Min))
	}
	if f.Max != nil && n > *f.Max {
		return fmt.Errorf("%s is more than the maximum %s", show(n), show(*f.Max))
	}
	return nil
}

func (f Field) normalize(v any) (any, error) {
	switch f.Type {
	case FieldString, FieldSlackUser:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", describe(v))
		}
		return s, nil
	case FieldInt:
		return toInt(v)
	case FieldBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			p, err := strconv.ParseBool(b)
			if err != nil {
				return nil, fmt.Errorf("want true or false, got %q", b)
			}
			return p, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", describe(v))
	case FieldDuration:
		switch d := v.(type) {
		case string:
			dur, err := ParseDuration(d)
			if err != nil {
				return nil, err
			}
			return int64(dur / time.Second), nil
		default:
			n, err := toInt(v)
			if err != nil {
				return nil, fmt.Errorf("want a duration such as 30m, 4h, 1d or whole seconds, got %s", describe(v))
			}
			if n.(int64) <= 0 {
				return nil, fmt.Errorf("a duration must be positive, got %d seconds", n)
			}
			return n, nil
		}
	case FieldStrings, FieldSlackUsers:
		list, ok := toList(v)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %s", describe(v))
		}
		out := make([]string, 0, len(list))
		for i, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %s", i, describe(e))
			}
			out = append(out, s)
		}
		return out, nil
	case FieldInts:
		list, ok := toList(v)
		if !ok {
			return nil, fmt.Errorf("want a list of whole numbers, got %s", describe(v))
		}
		out := make([]int64, 0, len(list))
		for i, e := range list {
			n, err := toInt(e)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, n.(int64))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown field type %q", f.Type)
}

func toList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case []int64:
		out := make([]any, len(l))
		for i, n := range l {
			out[i] = n
		}
		return out, true
	}
	return nil, false
}

func toInt(v any) (any, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case float64:
		if n != float64(int64(n)) {
			return nil, fmt.Errorf("want a whole number, got %v", n)
		}
		return int64(n), nil
	case interface{ Int64() (int64, error) }: // json.Number
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("want a whole number, got %v", n)
		}
		return i, nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want a whole number, got %q", n)
		}
		return i, nil
	}
	return nil, fmt.Errorf("want a whole number, got %s", describe(v))
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the text %q", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case float64, int, int64:
		return fmt.Sprintf("the number %v", v)
	case []any, []string, []int64:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y)
	case []int64:
		y, ok := b.([]int64)
		return ok && slices.Equal(x, y)
	}
	return a == b
}

// FormatValue renders a normalized field value for people: durations as 30m,
// 4h, 1d; lists comma-separated.
func FormatValue(t FieldType, v any) string {
	switch x := v.(type) {
	case int64:
		if t == FieldDuration {
			return FormatDuration(time.Duration(x) * time.Second)
		}
		return strconv.FormatInt(x, 10)
	case []string:
		return strings.Join(x, ", ")
	case []int64:
		parts := make([]string, len(x))
		for i, n := range x {
			parts[i] = strconv.FormatInt(n, 10)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// ParseDuration reads a duration written as a whole number followed by s, m,
// h or d ("30m", "4h", "1d"), or a Go duration of whole numbers ("1h30m"). It
// must be positive.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if strings.Contains(t, ".") {
		return 0, fmt.Errorf("%q is not a duration (write 30m, 4h or 1d)", s)
	}
	if strings.HasSuffix(t, "d") {
		n, err := strconv.ParseInt(strings.TrimSuffix(t, "d"), 10, 64)
		if err == nil && n > 0 && n < 100000 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
		return 0, fmt.Errorf("%q is not a duration (write 30m, 4h or 1d)", s)
	}
	d, err := time.ParseDuration(t)
	if err != nil || d <= 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a duration (write 30m, 4h or 1d)", s)
	}
	return d, nil
}

// FormatDuration writes d in the largest whole unit, a form ParseDuration
// reads back: 1d, 4h, 30m, 90s. A fraction of a second, which ParseDuration
// refuses, is written as Go writes it.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// AllowsSource reports whether a request may come from src.
func (f *Flow) AllowsSource(src Source) bool {
	if f.Sources == nil {
		return true
	}
	return slices.Contains(f.Sources, src)
}

// Field returns the field named name.
func (f *Flow) Field(name string) (Field, bool) {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl, true
		}
	}
	return Field{}, false
}

// Target returns the strategy's target with the given id.
func (f *Flow) Target(id string) (Target, bool) {
	if f.Strategy == nil {
		return Target{}, false
	}
	for _, t := range f.Strategy.Targets {
		if t.ID == id {
			return t, true
		}
	}
	return Target{}, false
}

// DefaultDuration is the grant length when a flow has no duration field.
const DefaultDuration = time.Hour

// NormalizeFields checks raw input against the flow's fields and returns
// normalized values, defaults filled in, the target chosen and the grant
// duration. Unknown fields, missing required fields and bad values are each a
// KindInvalid *Error whose Details map field names to reasons.
func (f *Flow) NormalizeFields(raw map[string]any) (fields map[string]any, targetID string, dur time.Duration, err error) {
	problems := map[string]any{}
	fields = map[string]any{}
	for name := range raw {
		if _, ok := f.Field(name); !ok && name != FieldNameTarget {
			problems[name] = "unknown field"
		}
	}
	for _, fl := range f.Fields {
		v, present := raw[fl.Name]
		if present && isEmpty(v) {
			present = false
		}
		switch {
		case present:
			nv, err := fl.Normalize(v)
			if err != nil {
				problems[fl.Name] = strings.TrimPrefix(err.Error(), fmt.Sprintf("field %q: ", fl.Name))
				continue
			}
			fields[fl.Name] = nv
		case fl.Default != nil:
			fields[fl.Name] = fl.Default
		case fl.Required:
			problems[fl.Name] = "is required"
		}
	}
	if f.Strategy != nil {
		tv, _ := raw[FieldNameTarget].(string)
		if tf, ok := fields[FieldNameTarget].(string); ok {
			tv = tf
		}
		switch {
		case tv != "":
			if _, ok := f.Target(tv); !ok {
				problems[FieldNameTarget] = fmt.Sprintf("%q is not a target of this flow", tv)
			}
			targetID = tv
		case len(f.Strategy.Targets) == 1:
			targetID = f.Strategy.Targets[0].ID
		default:
			problems[FieldNameTarget] = "is required: this flow has several targets"
		}
		if targetID != "" && problems[FieldNameTarget] == nil {
			fields[FieldNameTarget] = targetID
		}
	}
	dur = DefaultDuration
	if d, ok := fields[FieldNameDuration].(int64); ok {
		dur = time.Duration(d) * time.Second
	}
	if len(problems) > 0 {
		names := make([]string, 0, len(problems))
		for n := range problems {
			names = append(names, n)
		}
		slices.Sort(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s: %s", n, problems[n])
		}
		return nil, "", 0, &Error{Kind: KindInvalid, Code: "invalid_fields",
			Message: "Some fields are not valid: " + strings.Join(parts, "; ") + ".", Details: problems}
	}
	return fields, targetID, dur, nil
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	}
	return false
}
