// Package hooks calls a flow's hooks: signed JSON POSTs, with the same
// signature scheme as the webhook strategy, at named points of a request's
// life (on_request, on_approve, on_deny, after_escalate, after_deescalate)
// and to find a user's identity (get_identity). docs/hooks.md is the wire
// contract. The caller owns retries: an error marked latch.Permanent is not
// worth retrying; any other error is.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
)

// Timeout bounds one hook call.
const Timeout = 10 * time.Second

const maxAnswer = 64 << 10

// Caller calls hooks. It is safe for concurrent use.
type Caller struct {
	lookupEnv func(string) (string, bool)
	client    *http.Client
	clock     latch.Clock
}

// Option changes a Caller.
type Option func(*Caller)

// WithClock sets the clock used to sign calls.
func WithClock(c latch.Clock) Option { return func(h *Caller) { h.clock = c } }

// New returns a Caller that reads hook secrets with lookupEnv (nil:
// os.LookupEnv) and calls with client (nil: a client with Timeout). Redirects
// are never followed.
func New(lookupEnv func(string) (string, bool), client *http.Client, opts ...Option) *Caller {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	c := &http.Client{Timeout: Timeout}
	if client != nil {
		cp := *client
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	h := &Caller{lookupEnv: lookupEnv, client: c, clock: latch.SystemClock}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Check makes sure every flow with a hook has its signing secret set. The
// error names the flow, its file and the variable.
func (h *Caller) Check(flows []*latch.Flow) error {
	var errs []error
	for _, f := range flows {
		if f.Hooks == (latch.Hooks{SecretEnv: f.Hooks.SecretEnv}) {
			continue // no hook URL
		}
		if _, err := h.secret(f); err != nil {
			errs = append(errs, fmt.Errorf("flow %q (%s): %w", f.Name, f.File, err))
		}
	}
	return errors.Join(errs...)
}

func (h *Caller) secret(f *latch.Flow) ([]byte, error) {
	if f.Hooks.SecretEnv == "" {
		return nil, errors.New("hooks.secret_env is not set")
	}
	v, ok := h.lookupEnv(f.Hooks.SecretEnv)
	if !ok || v == "" {
		return nil, fmt.Errorf("the hook secret variable %s is not set", f.Hooks.SecretEnv)
	}
	return []byte(v), nil
}

// CallHook calls the flow's hook at point with the request, as
// {"hook","flow","request"}, and returns its answer: a 2xx answer may be
// empty or {"decision":"approve"|"deny","reason":"..."} (only on_request's
// decision is acted on). An answer that is not JSON, or names another
// decision, is a Permanent error.
func (h *Caller) CallHook(ctx context.Context, f *latch.Flow, point string, r latch.Request) (latch.HookAnswer, error) {
	var a latch.HookAnswer
	u := f.Hooks.URL(point)
	if u == "" {
		return a, latch.Permanent(fmt.Errorf("flow %q has no %s hook", f.Name, point))
	}
	body, err := json.Marshal(map[string]any{"hook": point, "flow": f.Name, "request": r})
	if err != nil {
		return a, latch.Permanent(fmt.Errorf("encode %s hook body: %w", point, err))
	}
	_, answer, err := h.post(ctx, f, u, body, fmt.Sprintf("%s:%s:%d", r.ID, point, r.Version), fmt.Sprintf("call the %s hook of request %s", point, r.ID))
	if err != nil || len(bytes.TrimSpace(answer)) == 0 {
		return a, err
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		return a, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: "hook_bad_answer",
			Message: fmt.Sprintf("The %s hook of flow %q answered with something that is not a JSON object: %v.", point, f.Name, err)})
	}
	if a.Decision != "" && a.Decision != "approve" && a.Decision != "deny" {
		return latch.HookAnswer{}, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: "hook_bad_answer",
			Message: fmt.Sprintf("The %s hook of flow %q answered decision %q; use approve, deny or leave it out.", point, f.Name, a.Decision)})
	}
	return a, nil
}

// identityBody is what a get_identity hook is sent.
type identityBody struct {
	Hook    string       `json:"hook"`
	Flow    string       `json:"flow"`
	Service string       `json:"service"`
	User    identityUser `json:"user"`
}

type identityUser struct {
	ID    string `json:"id,omitempty"`
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	Role  string `json:"role,omitempty"`
	Kind  string `json:"kind,omitempty"`
}

// GetIdentity asks the flow's get_identity hook for u's id in the flow's
// identity service. A 2xx answer {"identity":"<id>"} gives the id; an empty
// or missing identity, or a 404, means the hook knows none ("", nil). A
// malformed 2xx answer is a Permanent error saying what was wrong.
func (h *Caller) GetIdentity(ctx context.Context, f *latch.Flow, u latch.User) (string, error) {
	if f.Hooks.GetIdentity == "" {
		return "", latch.Permanent(fmt.Errorf("flow %q has no get_identity hook", f.Name))
	}
	body, err := json.Marshal(identityBody{Hook: latch.HookGetIdentity, Flow: f.Name, Service: f.IdentityService(),
		User: identityUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Kind: string(u.Kind)}})
	if err != nil {
		return "", latch.Permanent(err)
	}
	status, answer, err := h.post(ctx, f, f.Hooks.GetIdentity, body, "get_identity:"+f.Name+":"+u.Email, "ask the get_identity hook about "+u.Email)
	if status == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var out struct {
		Identity *json.RawMessage `json:"identity"`
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return "", latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: "hook_bad_answer",
			Message: fmt.Sprintf("The get_identity hook of flow %q answered with something that is not a JSON object: %v.", f.Name, err)})
	}
	if out.Identity == nil || string(*out.Identity) == "null" {
		return "", nil
	}
	var id string
	if err := json.Unmarshal(*out.Identity, &id); err != nil {
		return "", latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: "hook_bad_answer",
			Message: fmt.Sprintf("The get_identity hook of flow %q answered an identity that is not a string.", f.Name)})
	}
	return strings.TrimSpace(id), nil
}

// post sends a signed JSON body and classifies the answer: 2xx is success;
// 3xx and 4xx other than 408, 425 and 429 are Permanent; the rest, timeouts
// and connection errors are retryable. It returns the status and, on 2xx,
// the answer's body.
func (h *Caller) post(ctx context.Context, f *latch.Flow, target string, body []byte, idemKey, what string) (int, []byte, error) {
	secret, err := h.secret(f)
	if err != nil {
		return 0, nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: "hook_secret_missing",
			Message: fmt.Sprintf("Cannot %s: %v.", what, err)})
	}
	host := target
	if u, err := url.Parse(target); err == nil {
		host = u.Host
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, latch.Permanent(fmt.Errorf("%s: %w", what, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "latch")
	req.Header.Set("Idempotency-Key", idemKey)
	signing.Sign(req, body, secret, h.clock.Now())
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return 0, nil, &latch.Error{Kind: latch.KindInternal, Code: "hook_timeout",
				Message: fmt.Sprintf("The hook at %s did not answer within %s when Latch tried to %s.", host, Timeout, what), Err: err}
		}
		return 0, nil, &latch.Error{Kind: latch.KindInternal, Code: "hook_unreachable",
			Message: fmt.Sprintf("Could not reach the hook at %s to %s.", host, what), Err: err}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return s, answer, nil
	case s == http.StatusRequestTimeout || s == http.StatusTooEarly || s == http.StatusTooManyRequests || s >= 500:
		return s, nil, &latch.Error{Kind: latch.KindInternal, Code: "hook_failed",
			Message: fmt.Sprintf("The hook at %s answered %d when Latch tried to %s.", host, s, what)}
	default:
		return s, nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: "hook_refused",
			Message: fmt.Sprintf("The hook at %s refused to %s: %d%s.", host, what, s, excerpt(answer))})
	}
}

func excerpt(b []byte) string {
	var obj map[string]any
	text := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &obj) == nil {
		for _, k := range []string{"error", "message"} {
			if s, ok := obj[k].(string); ok && s != "" {
				text = s
				break
			}
		}
	}
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 200 {
		text = strings.ToValidUTF8(text[:200], "") + "…"
	}
	if text == "" {
		return ""
	}
	return " " + text
}
