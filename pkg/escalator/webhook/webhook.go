// Package webhook is the webhook strategy: an escalator that grants and
// revokes access by POSTing a signed JSON description of the grant to a URL
// the customer runs. It is the way to plug anything into Latch.
//
// The wire contract (body, headers, signature, status codes, idempotency) is
// documented in docs/webhook.md. The calls are made, signed and classified
// by package outbound, which hooks and audit destinations share.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Error codes of the *latch.Error values Grant and Revoke return. The codes
// of answers and failed connections are package outbound's, which makes the
// calls.
const (
	CodeRejected    = outbound.CodeRejected    // the receiver answered 4xx (or redirected): permanent
	CodeServerError = outbound.CodeServerError // the receiver answered 5xx, 408, 425 or 429: retryable
	CodeTimeout     = outbound.CodeTimeout     // no answer within the timeout: retryable
	CodeUnreachable = outbound.CodeUnreachable // the connection failed: retryable
	CodeBadGrant    = "webhook_bad_grant"      // the call cannot be made (no grant id, settings not JSON): permanent
	CodePanic       = "webhook_panic"          // the escalator panicked: retryable
)

// Escalator calls a customer's webhook to grant and revoke access. It is safe
// for concurrent use.
//
// Grant and Revoke are idempotent per grant id by contract: every call carries
// an Idempotency-Key header of "<grant id>:<action>", and the receiver must
// treat a repeated key, or a grant that is already in the requested state, as
// success. The escalator never retries: the grant runner owns retries and
// backoff.
type Escalator struct {
	sender  *outbound.Sender
	clock   latch.Clock
	version string // "" means outbound's default
}

var _ latch.Escalator = (*Escalator)(nil)

// Option changes how New builds an Escalator.
type Option func(*Escalator)

// WithClock makes the escalator sign with the time from c (the default is
// latch.SystemClock).
func WithClock(c latch.Clock) Option { return func(e *Escalator) { e.clock = c } }

// WithVersion sets the version sent in the User-Agent header, "latch/<v>"
// (the default is the build's version string, pkg/version).
func WithVersion(v string) Option { return func(e *Escalator) { e.version = v } }

// New returns an Escalator for a webhook strategy's config block (see
// ValidateConfig). lookupEnv reads the environment variable named by
// secret_env (nil means os.LookupEnv); New fails, naming the variable, if it
// is unset or empty. client makes the calls (nil means a new default client);
// its redirect policy is replaced, in a copy, so that redirects are never
// followed, since a redirected POST would lose its body or its signature's
// meaning.
func New(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client, opts ...Option) (*Escalator, error) {
	c, problems := parseConfig(config)
	if len(problems) > 0 {
		return nil, fmt.Errorf("webhook strategy: %s", strings.Join(problems, "; "))
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	secret, err := outbound.SecretFromEnv(lookupEnv, c.secretEnv, "secret_env", "the signing secret")
	if err != nil {
		return nil, fmt.Errorf("webhook strategy: %w", err)
	}
	e := &Escalator{clock: latch.SystemClock}
	for _, o := range opts {
		o(e)
	}
	senderOpts := []outbound.Option{
		outbound.WithTimeout(c.timeout),
		outbound.WithHeaders(c.headers),
		outbound.WithClock(e.clock),
		outbound.WithName("webhook"),
		outbound.WithSetting("the strategy's url"),
	}
	if e.version != "" {
		senderOpts = append(senderOpts, outbound.WithVersion(e.version))
	}
	sender, err := outbound.New(c.url, secret, client, senderOpts...)
	if err != nil {
		return nil, fmt.Errorf("webhook strategy: %w", err)
	}
	e.sender = sender
	return e, nil
}

// Grant asks the receiver to grant g's access (action "escalate").
// It returns nil on a 2xx answer; an error marked latch.Permanent on a 4xx
// (other than 408, 425 and 429) or a redirect, whose message carries the
// status and the start of the receiver's answer; and a plain, retryable error
// on a 5xx, 408, 425 or 429, a timeout or a failed connection. Each error is
// a *latch.Error with one of the Code constants and a message for people,
// except when ctx itself is done: then it wraps ctx.Err(). A panic is
// recovered into an error.
func (e *Escalator) Grant(ctx context.Context, g latch.GrantSpec) error {
	return e.call(ctx, ActionEscalate, g)
}

// FollowsEnd is true: the receiver is told the grant's end (grant.ends_at),
// so when the end of a grant in place moves later (an extension, a second
// request's lease) Latch sends escalate again for the same grant with the
// later end (latch.EndFollower).
func (e *Escalator) FollowsEnd() bool { return true }

// Revoke asks the receiver to take g's access away (action "deescalate").
// Its results are those of Grant.
func (e *Escalator) Revoke(ctx context.Context, g latch.GrantSpec) error {
	return e.call(ctx, ActionDeescalate, g)
}

// call POSTs the payload for action on g and classifies the answer.
func (e *Escalator) call(ctx context.Context, action Action, g latch.GrantSpec) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &latch.Error{Kind: latch.KindInternal, Code: CodePanic,
				Message: fmt.Sprintf("The webhook escalator failed unexpectedly to %s grant %s.", action, g.GrantID),
				Err:     fmt.Errorf("panic: %v", r)}
		}
	}()
	if g.GrantID == "" {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Cannot %s a grant without an id.", action)})
	}
	body, err := json.Marshal(NewPayload(action, g))
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Grant %s cannot be sent as JSON; check the target's settings and the request's fields.", g.GrantID),
			Err:     err})
	}

	_, err = e.sender.Post(ctx, body, g.GrantID+":"+string(action), fmt.Sprintf("%s grant %s", action, g.GrantID))
	return err
}
