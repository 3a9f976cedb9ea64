// Package webhook is the webhook strategy: an escalator that grants and
// revokes access by POSTing a signed JSON description of the grant to a URL
// the customer runs. It is the way to plug anything into Latch.
//
// The wire contract (body, headers, signature, status codes, idempotency) is
// documented in docs/webhook.md; signatures are made with package signing.
package webhook

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
	"runtime/debug"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
)

// Error codes of the *latch.Error values Grant and Revoke return.
const (
	CodeRejected    = "webhook_rejected"    // the receiver answered 4xx (or redirected): permanent
	CodeServerError = "webhook_error"       // the receiver answered 5xx, 408, 425 or 429: retryable
	CodeTimeout     = "webhook_timeout"     // no answer within the timeout: retryable
	CodeUnreachable = "webhook_unreachable" // the connection failed: retryable
	CodeBadGrant    = "webhook_bad_grant"   // the call cannot be made (no grant id, settings not JSON): permanent
	CodePanic       = "webhook_panic"       // the escalator panicked: retryable
)

const (
	// maxErrorText is how much of a response body an error shows.
	maxErrorText = 200
	// maxRead is how much of a response body is read to find that text.
	maxRead = 4 << 10
	// maxDrain is how much more is read and discarded so the connection can
	// be reused; a longer body closes it.
	maxDrain = 64 << 10
)

// modulePath names Latch's module, to find its version in the build info.
const modulePath = "github.com/latchhq/latch"

// Escalator calls a customer's webhook to grant and revoke access. It is safe
// for concurrent use.
//
// Grant and Revoke are idempotent per grant id by contract: every call carries
// an Idempotency-Key header of "<grant id>:<action>", and the receiver must
// treat a repeated key, or a grant that is already in the requested state, as
// success. The escalator never retries: the grant runner owns retries and
// backoff.
type Escalator struct {
	url       string
	host      string
	secret    []byte
	timeout   time.Duration
	headers   http.Header
	client    *http.Client
	clock     latch.Clock
	userAgent string
}

var _ latch.Escalator = (*Escalator)(nil)

// Option changes how New builds an Escalator.
type Option func(*Escalator)

// WithClock makes the escalator sign with the time from c (the default is
// latch.SystemClock).
func WithClock(c latch.Clock) Option { return func(e *Escalator) { e.clock = c } }

// WithVersion sets the version sent in the User-Agent header, "latch/<v>"
// (the default is Latch's module version from the build info, or "dev").
func WithVersion(v string) Option { return func(e *Escalator) { e.userAgent = "latch/" + v } }

// New returns an Escalator for a webhook strategy's config block (see
// ValidateConfig). lookupEnv reads the environment variable named by
// secret_env (nil means os.LookupEnv); New fails, naming the variable, if it
// is unset or empty. client makes the calls (nil means a new default client);
// its redirect policy is replaced so that redirects are never followed, since
// a redirected POST would lose its body or its signature's meaning.
func New(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client, opts ...Option) (*Escalator, error) {
	c, problems := parseConfig(config)
	if len(problems) > 0 {
		return nil, fmt.Errorf("webhook strategy: %s", strings.Join(problems, "; "))
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	secret, ok := lookupEnv(c.secretEnv)
	switch {
	case !ok:
		return nil, fmt.Errorf("webhook strategy: environment variable %s (named by secret_env) is not set; it must hold the signing secret", c.secretEnv)
	case secret == "":
		return nil, fmt.Errorf("webhook strategy: environment variable %s (named by secret_env) is empty; it must hold the signing secret", c.secretEnv)
	}
	var hc http.Client
	if client != nil {
		hc = *client
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e := &Escalator{
		url:       c.url,
		host:      c.host,
		secret:    []byte(secret),
		timeout:   c.timeout,
		headers:   c.headers,
		client:    &hc,
		clock:     latch.SystemClock,
		userAgent: "latch/" + buildVersion(),
	}
	for _, o := range opts {
		o(e)
	}
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

	callCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Cannot build the call to %s grant %s.", action, g.GrantID), Err: err})
	}
	for k, vs := range e.headers {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", e.userAgent)
	req.Header.Set("Idempotency-Key", g.GrantID+":"+string(action))
	signing.Sign(req, body, e.secret, e.clock.Now())

	resp, err := e.client.Do(req)
	if err != nil {
		return e.transportError(ctx, action, g.GrantID, err)
	}
	defer resp.Body.Close()
	head, readErr := io.ReadAll(io.LimitReader(resp.Body, maxRead))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))

	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return nil
	case status >= 300 && status < 400:
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: fmt.Sprintf("The webhook at %s answered %s to %s grant %s, a redirect; Latch does not follow redirects, so set the strategy's url to the final address.",
				e.host, statusText(status), action, g.GrantID)})
	case status >= 400 && status < 500 && !retryable4xx(status):
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: fmt.Sprintf("The webhook at %s refused to %s grant %s: %s%s",
				e.host, action, g.GrantID, statusText(status), answer(head, readErr))})
	}
	return &latch.Error{Kind: latch.KindInternal, Code: CodeServerError,
		Message: fmt.Sprintf("The webhook at %s failed to %s grant %s: %s%s",
			e.host, action, g.GrantID, statusText(status), answer(head, readErr))}
}

// retryable4xx reports whether a 4xx status means "try again later" rather
// than "this will never work".
func retryable4xx(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooEarly || status == http.StatusTooManyRequests
}

// transportError describes a call that got no answer. It is retryable. The
// *url.Error from the client is unwrapped so that the URL (whose query may
// hold a token) is not repeated.
func (e *Escalator) transportError(parent context.Context, action Action, grantID string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if parent.Err() != nil {
		return fmt.Errorf("webhook %s grant %s: %w", action, grantID, parent.Err())
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeTimeout,
			Message: fmt.Sprintf("The webhook at %s did not answer within %s to %s grant %s.",
				e.host, e.timeout, action, grantID),
			Err: err}
	}
	return &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable,
		Message: fmt.Sprintf("Could not reach the webhook at %s to %s grant %s.", e.host, action, grantID),
		Err:     err}
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%d %s", status, t)
	}
	return fmt.Sprintf("%d", status)
}

// answer renders the start of a response body for an error message: the
// "error" (or "message") text of a JSON object, or else the body itself,
// on one line and at most maxErrorText bytes.
func answer(head []byte, readErr error) string {
	text := string(head)
	var obj map[string]any
	if json.Unmarshal(head, &obj) == nil {
		for _, k := range []string{"error", "message"} {
			if s, ok := obj[k].(string); ok && s != "" {
				text = s
				break
			}
		}
	}
	text = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(text, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(text) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	switch {
	case text != "":
		return ": " + text
	case readErr != nil:
		return " (the answer could not be read)"
	}
	return ""
}

// buildVersion is Latch's module version from the build info, or "dev".
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := ""
	if bi.Main.Path == modulePath {
		v = bi.Main.Version
	} else {
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				v = d.Version
			}
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}
