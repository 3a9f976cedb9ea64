// Package hooks calls a flow's hooks: signed JSON POSTs, with the same
// signature scheme as the webhook strategy, at named points of a request's
// life (on_request, on_approve, on_deny, after_escalate, after_deescalate)
// and to find a user's identity (get_identity). docs/hooks.md is the wire
// contract; package outbound makes the calls and classifies their answers.
//
// The caller owns retries: an error marked latch.Permanent is not worth
// retrying; any other error is.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Error codes of the *latch.Error values this package makes. A call that is
// made and fails has one of package outbound's codes (outbound.CodeRejected,
// CodeServerError, CodeTimeout, CodeUnreachable).
const (
	CodeNoHook        = "hook_not_set"        // the flow has no URL for the hook point: permanent
	CodeSecretMissing = "hook_secret_missing" // the variable named by hooks.secret_env is unset or empty: permanent
	CodeBadURL        = "hook_bad_url"        // the hook's URL cannot be called: permanent
	CodeBadAnswer     = "hook_bad_answer"     // a 2xx answer that does not say what the contract asks: permanent
)

// Decisions an on_request hook may answer with (latch.HookAnswer.Decision).
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// DefaultTimeout bounds one hook call when no WithTimeout option is given.
const DefaultTimeout = outbound.DefaultTimeout

// points are the hook points, in the order flows list them.
var points = []string{latch.HookOnRequest, latch.HookOnApprove, latch.HookOnDeny,
	latch.HookAfterEscalate, latch.HookAfterDeescalate, latch.HookGetIdentity}

// Caller calls flows' hooks. It builds the senders of a flow's hooks once,
// on the flow's first call (or in Check), and keeps them while the flow's
// hooks stay the same. It is safe for concurrent use.
type Caller struct {
	lookupEnv func(string) (string, bool)
	client    *http.Client
	clock     latch.Clock
	timeout   time.Duration
	version   string // "" means outbound's default

	mu    sync.Mutex
	flows map[string]*flowSenders // by flow name
}

// flowSenders are one flow's hook senders, by point, built for its hooks as
// they were then.
type flowSenders struct {
	hooks   latch.Hooks
	senders map[string]*outbound.Sender
}

// Option changes how New builds a Caller.
type Option func(*Caller)

// WithClock makes the Caller sign with the time from c (the default is
// latch.SystemClock).
func WithClock(c latch.Clock) Option { return func(h *Caller) { h.clock = c } }

// WithTimeout bounds each hook call (the default is DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(h *Caller) { h.timeout = d } }

// WithVersion sets the version in the User-Agent header, "latch/<v>" (the
// default is the build's version string, pkg/version).
func WithVersion(v string) Option { return func(h *Caller) { h.version = v } }

// New returns a Caller that reads the hooks' signing secrets with lookupEnv
// (nil means os.LookupEnv) and makes calls with client (nil means a new
// default client). Redirects are never followed; the client given is not
// changed.
func New(lookupEnv func(string) (string, bool), client *http.Client, opts ...Option) *Caller {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	h := &Caller{lookupEnv: lookupEnv, client: client, clock: latch.SystemClock, timeout: DefaultTimeout,
		flows: map[string]*flowSenders{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Check makes sure that every flow with a hook can call it: that the
// variable named by its hooks.secret_env is set and not empty, and that its
// hook URLs can be called. It returns nil or every problem, joined with
// errors.Join, each naming the flow, its file and, for a secret, the
// variable. Flows without hook URLs are skipped.
func (h *Caller) Check(flows []*latch.Flow) error {
	var errs []error
	for _, f := range flows {
		if !hasHooks(f.Hooks) {
			continue
		}
		if _, err := h.sendersFor(f); err != nil {
			errs = append(errs, fmt.Errorf("flow %q (%s): %s", f.Name, f.File, reason(err)))
		}
	}
	return errors.Join(errs...)
}

// hasHooks reports whether any hook point has a URL.
func hasHooks(hk latch.Hooks) bool {
	for _, p := range points {
		if hk.URL(p) != "" {
			return true
		}
	}
	return false
}

// reason is the detail of a sendersFor error, without the lead-in the
// messages of calls have.
func reason(err error) string {
	var e *latch.Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Err.Error()
	}
	return latch.ErrorMessageOf(err)
}

// sendersFor returns f's senders, building and keeping them on first use or
// when f's hooks changed. Its errors are Permanent *latch.Error values with
// CodeSecretMissing or CodeBadURL; a failure is not kept, so a later call
// tries again.
func (h *Caller) sendersFor(f *latch.Flow) (*flowSenders, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fs := h.flows[f.Name]; fs != nil && fs.hooks == f.Hooks {
		return fs, nil
	}
	secret, err := h.secret(f.Hooks.SecretEnv)
	if err != nil {
		return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeSecretMissing,
			Message: fmt.Sprintf("The hooks of flow %q cannot be called: %v.", f.Name, err), Err: err})
	}
	fs := &flowSenders{hooks: f.Hooks, senders: map[string]*outbound.Sender{}}
	for _, p := range points {
		u := f.Hooks.URL(p)
		if u == "" {
			continue
		}
		opts := []outbound.Option{
			outbound.WithClock(h.clock),
			outbound.WithTimeout(h.timeout),
			outbound.WithName(p + " hook"),
			outbound.WithSetting(fmt.Sprintf("hooks.%s of flow %q", p, f.Name)),
		}
		if h.version != "" {
			opts = append(opts, outbound.WithVersion(h.version))
		}
		s, err := outbound.New(u, secret, h.client, opts...)
		if err != nil {
			err = fmt.Errorf("hooks.%s: %s", p, strings.TrimPrefix(err.Error(), "outbound: "))
			return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadURL,
				Message: fmt.Sprintf("The %s hook of flow %q cannot be called: %v.", p, f.Name, err), Err: err})
		}
		fs.senders[p] = s
	}
	h.flows[f.Name] = fs
	return fs, nil
}

// secret reads the variable named by hooks.secret_env.
func (h *Caller) secret(name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("hooks.secret_env is not set; hook calls are signed with the secret in the environment variable it names")
	}
	return outbound.SecretFromEnv(h.lookupEnv, name, "hooks.secret_env", "the hooks' signing secret")
}

// sender returns the sender of f's hook at point. Its errors are Permanent
// *latch.Error values: CodeNoHook when f has no URL for point, and those of
// sendersFor.
func (h *Caller) sender(f *latch.Flow, point string) (*outbound.Sender, error) {
	if f.Hooks.URL(point) == "" {
		return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeNoHook,
			Message: fmt.Sprintf("Flow %q has no %s hook.", f.Name, point)})
	}
	fs, err := h.sendersFor(f)
	if err != nil {
		return nil, err
	}
	return fs.senders[point], nil
}

// pointBody is what the hooks of a request's life are sent.
type pointBody struct {
	Hook    string        `json:"hook"`
	Flow    string        `json:"flow"`
	Request latch.Request `json:"request"`
}

// CallHook calls f's hook at point (on_request, on_approve, on_deny,
// after_escalate, after_deescalate) with the request, as
// {"hook","flow","request"} with Idempotency-Key
// "<request id>:<point>:<request version>", and returns its answer.
//
// Only on_request's answer is read: an empty body, {} or an object without a
// decision leave the request to the approvers; {"decision":"approve" or
// "deny","reason":"…"} decides it. An answer that is not a JSON object, or
// names another decision, is a Permanent *latch.Error with CodeBadAnswer.
// The answers of the other points are not read and give a zero HookAnswer.
//
// A point without a URL is a Permanent error with CodeNoHook, and a missing
// secret one with CodeSecretMissing; a call that fails has the error
// outbound.Sender.Post describes (3xx and 4xx other than 408, 425 and 429
// permanent; the rest retryable).
func (h *Caller) CallHook(ctx context.Context, f *latch.Flow, point string, r latch.Request) (latch.HookAnswer, error) {
	s, err := h.sender(f, point)
	if err != nil {
		return latch.HookAnswer{}, err
	}
	body, err := json.Marshal(pointBody{Hook: point, Flow: f.Name, Request: r})
	if err != nil {
		return latch.HookAnswer{}, latch.Permanent(fmt.Errorf("encode the %s hook's call for request %s: %w", point, r.ID, err))
	}
	answer, err := s.Post(ctx, body, fmt.Sprintf("%s:%s:%d", r.ID, point, r.Version), "handle request "+r.ID)
	if err != nil || point != latch.HookOnRequest {
		return latch.HookAnswer{}, err
	}
	return decision(s, point, answer)
}

// decision reads an on_request hook's answer.
func decision(s *outbound.Sender, point string, answer []byte) (latch.HookAnswer, error) {
	answer = bytes.TrimSpace(answer)
	if len(answer) == 0 {
		return latch.HookAnswer{}, nil
	}
	const want = `answer {} to leave the request to the approvers, or {"decision":"approve" or "deny","reason":"…"}`
	var a latch.HookAnswer
	if answer[0] != '{' || json.Unmarshal(answer, &a) != nil {
		return latch.HookAnswer{}, badAnswer(s, point, answer, "something that is not a JSON object of the expected form", want)
	}
	if a.Decision != "" && a.Decision != DecisionApprove && a.Decision != DecisionDeny {
		return latch.HookAnswer{}, badAnswer(s, point, nil, fmt.Sprintf("the decision %q", a.Decision), want)
	}
	return a, nil
}

// badAnswer is the Permanent error of a 2xx answer that breaks the contract:
// what the hook answered, and what it should have.
func badAnswer(s *outbound.Sender, point string, answer []byte, got, want string) error {
	if len(answer) >= outbound.MaxAnswer {
		got += fmt.Sprintf(" (or longer than the %d KiB Latch reads)", outbound.MaxAnswer>>10)
	}
	return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadAnswer,
		Message: fmt.Sprintf("The %s hook at %s answered %s; %s.", point, s.Host(), got, want)})
}

// identityBody is what a get_identity hook is sent.
type identityBody struct {
	Hook    string       `json:"hook"`
	Flow    string       `json:"flow"`
	Service string       `json:"service"`
	User    identityUser `json:"user"`
}

// identityUser is the person a get_identity hook is asked about.
type identityUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	Kind  string `json:"kind"`
}

// GetIdentity asks f's get_identity hook for u's id in the flow's identity
// service, as {"hook","flow","service","user"} with Idempotency-Key
// "get_identity:<flow>:<email>".
//
// A 2xx answer {"identity":"<id>"} gives the id, with surrounding spaces
// trimmed. A 2xx answer that is empty, or whose identity is missing, null or
// empty, or a 404, means the hook knows no identity for u: it returns "" and
// nil. A 2xx answer that is not a JSON object, or whose identity is not a
// string, is a Permanent *latch.Error with CodeBadAnswer saying what was
// wrong. Other errors are those of CallHook.
func (h *Caller) GetIdentity(ctx context.Context, f *latch.Flow, u latch.User) (string, error) {
	s, err := h.sender(f, latch.HookGetIdentity)
	if err != nil {
		return "", err
	}
	service := f.IdentityService()
	body, err := json.Marshal(identityBody{Hook: latch.HookGetIdentity, Flow: f.Name, Service: service,
		User: identityUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Kind: string(u.Kind)}})
	if err != nil {
		return "", latch.Permanent(fmt.Errorf("encode the get_identity hook's call for %s: %w", u.Email, err))
	}
	what := "find the identity of " + u.Email
	if service != "" {
		what += " in " + service
	}
	answer, err := s.Post(ctx, body, "get_identity:"+f.Name+":"+u.Email, what)
	if outbound.Status(err) == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	answer = bytes.TrimSpace(answer)
	if len(answer) == 0 {
		return "", nil
	}
	const want = `answer {"identity":"<the person's id>"}, or {} or a 404 when you do not know them`
	var out struct {
		Identity json.RawMessage `json:"identity"`
	}
	if answer[0] != '{' || json.Unmarshal(answer, &out) != nil {
		return "", badAnswer(s, latch.HookGetIdentity, answer, "something that is not a JSON object", want)
	}
	if len(out.Identity) == 0 || string(out.Identity) == "null" {
		return "", nil
	}
	var id string
	if err := json.Unmarshal(out.Identity, &id); err != nil {
		return "", badAnswer(s, latch.HookGetIdentity, nil, "an identity that is not a string", want)
	}
	return strings.TrimSpace(id), nil
}
