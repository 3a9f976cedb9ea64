// Package outbound makes signed JSON POSTs to endpoints customers run, and
// says what their answers mean. It is the one call path of the webhook
// strategy, of flow hooks and of audit destinations that POST to a URL.
//
// Every call is signed with package signing, never follows a redirect, is
// bounded by a timeout and carries an Idempotency-Key. Its answer is
// classified once, here: a 2xx is success; a 3xx, or a 4xx other than 408,
// 425 and 429, is a failure marked latch.Permanent; a 408, 425, 429 or 5xx, a
// timeout or a failed connection is a plain, retryable failure. Failures are
// *latch.Error values with one of the Code constants and a message for people
// that names the endpoint's host, never its path or query (which may hold a
// token).
package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
	"github.com/latchhq/latch/pkg/version"
)

// Error codes of the *latch.Error values Post returns. They say webhook
// because every endpoint called here is a webhook in the general sense; they
// are also the codes of the webhook strategy, and are recorded in failures.
const (
	CodeRejected    = "webhook_rejected"    // the endpoint answered 4xx (or redirected): permanent
	CodeServerError = "webhook_error"       // the endpoint answered 5xx, 408, 425 or 429: retryable
	CodeTimeout     = "webhook_timeout"     // no answer within the timeout: retryable
	CodeUnreachable = "webhook_unreachable" // the connection failed: retryable
)

// DefaultTimeout bounds one call when no WithTimeout option is given.
const DefaultTimeout = 10 * time.Second

// MaxAnswer is how much of a 2xx answer Post reads and returns.
const MaxAnswer = 64 << 10

const (
	// maxErrorText is how much of a response body an error shows.
	maxErrorText = 200
	// maxRead is how much of a failed call's response body is read to find
	// that text.
	maxRead = 4 << 10
	// maxDrain is how much more is read and discarded so the connection can
	// be reused; a longer body closes it.
	maxDrain = 64 << 10
)

// Sender POSTs signed JSON bodies to one URL. It is safe for concurrent use.
type Sender struct {
	url       string
	host      string // for messages: the URL's host, never its path or query
	secret    []byte
	client    *http.Client
	timeout   time.Duration
	headers   http.Header
	clock     latch.Clock
	userAgent string
	name      string // what the endpoint is called in messages
	setting   string // where the URL is set, for the redirect message
}

// Option changes how New builds a Sender.
type Option func(*Sender)

// WithTimeout bounds each call, from the request to the end of the answer's
// headers (the default is DefaultTimeout). A duration of zero or less keeps
// the default.
func WithTimeout(d time.Duration) Option {
	return func(s *Sender) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithHeaders adds static headers to every call. Content-Type, User-Agent,
// Idempotency-Key and the signature headers are set by the Sender and
// replace any given here.
func WithHeaders(h http.Header) Option {
	return func(s *Sender) {
		for k, vs := range h {
			s.headers[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
	}
}

// WithClock makes the Sender sign with the time from c (the default is
// latch.SystemClock).
func WithClock(c latch.Clock) Option { return func(s *Sender) { s.clock = c } }

// WithVersion sets the version in the User-Agent header, "latch/<v>" (the
// default is version.UserAgent(): the build's version string).
func WithVersion(v string) Option { return func(s *Sender) { s.userAgent = "latch/" + v } }

// WithName says what the endpoint is called in messages, as in "the <name>
// at hooks.example.com refused to …" (the default is "webhook").
func WithName(name string) Option { return func(s *Sender) { s.name = name } }

// WithSetting names where the URL is configured, for the message about a
// redirect, which tells people to set it to the final address (the default
// is "the URL").
func WithSetting(setting string) Option { return func(s *Sender) { s.setting = setting } }

// New returns a Sender that POSTs to rawURL, an http or https URL with a
// host, signing each body with secret, which must not be empty. client makes
// the calls (nil means SharedClient, which reuses connections); New uses a copy whose redirect
// policy is replaced so that redirects are never followed, since a
// redirected POST would lose its body or its signature's meaning.
func New(rawURL string, secret []byte, client *http.Client, opts ...Option) (*Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not repeated: its query may hold a token.
		return nil, errors.New("outbound: the URL must be http or https and name a host")
	}
	if len(secret) == 0 {
		return nil, errors.New("outbound: the signing secret is empty")
	}
	if client == nil {
		client = SharedClient()
	}
	hc := *client
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &Sender{
		url:       rawURL,
		host:      u.Host,
		secret:    append([]byte(nil), secret...),
		client:    &hc,
		timeout:   DefaultTimeout,
		headers:   http.Header{},
		clock:     latch.SystemClock,
		userAgent: version.UserAgent(),
		name:      "webhook",
		setting:   "the URL",
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// SecretFromEnv reads a signing secret from the environment variable name,
// which setting (such as "hooks.secret_env") names, with lookupEnv. An unset
// or empty variable is an error naming both and saying that the variable
// must hold what.
func SecretFromEnv(lookupEnv func(string) (string, bool), name, setting, what string) ([]byte, error) {
	v, ok := lookupEnv(name)
	switch {
	case !ok:
		return nil, fmt.Errorf("environment variable %s (named by %s) is not set; it must hold %s", name, setting, what)
	case v == "":
		return nil, fmt.Errorf("environment variable %s (named by %s) is empty; it must hold %s", name, setting, what)
	}
	return []byte(v), nil
}

// Host is the host (and port, if given) of the Sender's URL: the only part
// of it that messages show.
func (s *Sender) Host() string { return s.host }

// Post sends body, which must be JSON, signed, with the given
// Idempotency-Key (none when empty). what is the phrase messages use for the
// call, such as "escalate grant gr_1": "Could not reach the webhook at
// hooks.example.com to escalate grant gr_1."
//
// On a 2xx answer it returns the answer's body and nil. It reads at most
// MaxAnswer bytes of it: a longer answer is cut, and a caller that parses it
// finds it malformed. Otherwise it returns an error:
//   - a 3xx (never followed) or a 4xx other than 408, 425 and 429: a
//     *latch.Error with CodeRejected, marked latch.Permanent, whose message
//     carries the status and the start of the answer (its JSON "error" or
//     "message" text, or else its first bytes, on one line);
//   - a 408, 425, 429 or 5xx: a retryable *latch.Error with CodeServerError
//     and the same kind of message;
//   - no answer within the timeout: a retryable *latch.Error with CodeTimeout;
//   - a failed connection: a retryable *latch.Error with CodeUnreachable;
//   - ctx itself done: a retryable error wrapping ctx.Err().
//
// Status gives the HTTP status an error is about.
func (s *Sender) Post(ctx context.Context, body []byte, idempotencyKey, what string) ([]byte, error) {
	callCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, latch.Permanent(fmt.Errorf("%s %s: build the call: %w", s.name, what, err))
	}
	for k, vs := range s.headers {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	signing.Sign(req, body, s.secret, s.clock.Now())

	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.transportError(ctx, what, err)
	}
	defer resp.Body.Close()

	status := resp.StatusCode
	if status >= 200 && status < 300 {
		answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
		if err != nil {
			// The answer was cut off: the call may or may not have taken
			// effect, as with a dropped connection. Worth a retry, never a
			// half-read answer parsed as if whole.
			return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable, Details: map[string]any{"status": status},
				Message: fmt.Sprintf("The %s at %s answered %s to %s, but its answer could not be read.", s.name, s.host, statusText(status), what),
				Err:     err}
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return answer, nil
	}
	head, readErr := io.ReadAll(io.LimitReader(resp.Body, maxRead))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	details := map[string]any{"status": status}
	switch {
	case status >= 300 && status < 400:
		return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected, Details: details,
			Message: fmt.Sprintf("The %s at %s answered %s to %s, a redirect; Latch does not follow redirects, so set %s to the final address.",
				s.name, s.host, statusText(status), what, s.setting)})
	case status >= 400 && status < 500 && !Retryable4xx(status):
		return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected, Details: details,
			Message: fmt.Sprintf("The %s at %s refused to %s: %s%s", s.name, s.host, what, statusText(status), Excerpt(head, readErr))})
	}
	return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeServerError, Details: details,
		Message: fmt.Sprintf("The %s at %s failed to %s: %s%s", s.name, s.host, what, statusText(status), Excerpt(head, readErr))}
}

// Retryable4xx reports whether a 4xx status means "try again later" (408,
// 425, 429) rather than "this will never work".
func Retryable4xx(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooEarly || status == http.StatusTooManyRequests
}

// Status returns the HTTP status of the answer an error from Post is about,
// or 0 when err is not about an answer (nil, a timeout, a failed connection).
func Status(err error) int {
	var e *latch.Error
	if !errors.As(err, &e) {
		return 0
	}
	status, _ := e.Details["status"].(int)
	return status
}

// transportError describes a call that got no answer. It is retryable. The
// *url.Error from the client is unwrapped so that the URL (whose query may
// hold a token) is not repeated.
func (s *Sender) transportError(parent context.Context, what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if parent.Err() != nil {
		return fmt.Errorf("%s %s: %w", s.name, what, parent.Err())
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeTimeout,
			Message: fmt.Sprintf("The %s at %s did not answer within %s to %s.", s.name, s.host, s.timeout, what),
			Err:     err}
	}
	return &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable,
		Message: fmt.Sprintf("Could not reach the %s at %s to %s.", s.name, s.host, what),
		Err:     err}
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%d %s", status, t)
	}
	return fmt.Sprintf("%d", status)
}
