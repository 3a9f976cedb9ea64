package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
	"github.com/latchhq/latch/pkg/version"
)

const (
	// maxBody bounds what is read of one answer (a page of 200 groups is
	// well under it).
	maxBody = 4 << 20
	// rateLimitAttempts is how often one call is made while Okta answers
	// 429, waiting for the reset in between, before the error goes to
	// Latch's own retries.
	rateLimitAttempts = 3
	// MaxRateLimitWait caps one wait for a rate limit's reset. Okta's
	// windows are a minute long; a reset further away is waited for in
	// steps, each followed by a call.
	MaxRateLimitWait = 65 * time.Second
)

// authorizer gives the Authorization header of the calls.
type authorizer interface {
	// header returns the header's value.
	header(ctx context.Context) (string, error)
	// refused is told that Okta refused the header (401); it reports
	// whether a new one is worth a try (an OAuth access token may have
	// expired early).
	refused(value string) bool
	// fix says how to mend a refused credential.
	fix() string
}

// client makes the calls of the Management API the escalator needs, with
// the org's credential, honouring rate limits.
type client struct {
	base  *url.URL
	http  *http.Client
	auth  authorizer
	clock latch.Clock
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	limits map[string]time.Time // bucket → the reset of a spent rate limit
}

// response is a 2xx or 404 answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// oktaError is the body of Okta's error answers.
type oktaError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorID      string `json:"errorId"`
}

// do makes one call: method on path (or on next, a full URL of the org from
// a Link header, when set) with query, in rate-limit bucket, and returns
// the answer when it is a 2xx or a 404. Other answers are errors:
//   - 401: the credential is refused (after one fresh OAuth token): a
//     permanent CodeUnauthorized whose message says how to fix it;
//   - 403: a permanent CodeForbidden naming the role or scopes needed;
//   - 429: waited for (X-Rate-Limit-Reset, bounded by ctx) and tried again,
//     up to rateLimitAttempts; then a retryable CodeRateLimited;
//   - 5xx, a time-out, a failed connection: a retryable CodeServerError or
//     CodeUnreachable;
//   - another 4xx or a 3xx: a permanent CodeRejected.
func (c *client) do(ctx context.Context, method, path, next string, query url.Values, bucket, what string) (*response, error) {
	target, err := c.url(path, next, query)
	if err != nil {
		return nil, err
	}
	retriedAuth := false
	for attempt := 1; ; attempt++ {
		if err := c.waitForLimit(ctx, bucket, what); err != nil {
			return nil, err
		}
		authz, err := c.auth.header(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, target, nil)
		if err != nil {
			return nil, latch.Permanent(fmt.Errorf("okta: %s: %w", what, err))
		}
		req.Header.Set("Authorization", authz)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", version.UserAgent())
		if method == http.MethodPut {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, c.transportError(ctx, what, err)
		}
		body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		c.noteLimit(bucket, resp)

		switch status := resp.StatusCode; {
		case status >= 200 && status < 300 || status == http.StatusNotFound:
			if readErr != nil {
				return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable,
					Message: fmt.Sprintf("Okta answered %s to %s, but its answer could not be read.", statusText(status), what), Err: readErr}
			}
			return &response{status: status, header: resp.Header, body: body}, nil
		case status == http.StatusUnauthorized:
			if !retriedAuth && c.auth.refused(authz) {
				retriedAuth = true
				attempt--
				continue
			}
			return nil, latch.Permanent(&latch.Error{Kind: latch.KindUnauthorized, Code: CodeUnauthorized,
				Message: fmt.Sprintf("Okta refused Latch's credential (%s) to %s. %s", summary(body, status), what, c.auth.fix()),
				Details: map[string]any{"status": status}})
		case status == http.StatusForbidden:
			return nil, latch.Permanent(&latch.Error{Kind: latch.KindForbidden, Code: CodeForbidden,
				Message: fmt.Sprintf("Okta does not allow Latch's credential to %s (%s). %s", what, summary(body, status), forbiddenFix),
				Details: map[string]any{"status": status}})
		case status == http.StatusTooManyRequests:
			if attempt < rateLimitAttempts {
				continue // waitForLimit waits for the reset noted
			}
			return nil, &latch.Error{Kind: latch.KindTooMany, Code: CodeRateLimited,
				Message: fmt.Sprintf("Okta's rate limit held back the call to %s %d times; Latch tries again later.", what, attempt),
				Details: map[string]any{"status": status}}
		case status >= 500:
			return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeServerError,
				Message: fmt.Sprintf("Okta failed to %s: %s; Latch tries again.", what, summary(body, status)), Details: map[string]any{"status": status}}
		default:
			return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
				Message: fmt.Sprintf("Okta refused to %s: %s.", what, summary(body, status)), Details: map[string]any{"status": status}})
		}
	}
}

// url builds the address of a call. A next link must be on the org's own
// origin: the credential goes nowhere else.
func (c *client) url(path, next string, query url.Values) (string, error) {
	if next != "" {
		u, err := url.Parse(next)
		if err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host {
			return "", &latch.Error{Kind: latch.KindInternal, Code: CodeServerError,
				Message: "Okta's next-page link points away from the org; Latch does not follow it."}
		}
		return u.String(), nil
	}
	u := *c.base
	u.RawPath = ""
	u.Path = path
	u.RawQuery = query.Encode()
	return u.String(), nil
}

// noteLimit remembers a spent rate limit: an answer with
// X-Rate-Limit-Remaining 0 (or a 429) and an X-Rate-Limit-Reset. The reset
// is Okta's clock (epoch seconds); it is taken relative to the answer's Date
// when there is one, so that a skewed local clock waits neither too long
// nor too little.
func (c *client) noteLimit(bucket string, resp *http.Response) {
	remaining := resp.Header.Get("X-Rate-Limit-Remaining")
	if resp.StatusCode != http.StatusTooManyRequests && remaining != "0" {
		return
	}
	now := c.clock.Now()
	wait := time.Second // a 429 without a reset: a short pause
	if secs, err := strconv.ParseInt(resp.Header.Get("X-Rate-Limit-Reset"), 10, 64); err == nil {
		reset := time.Unix(secs, 0)
		ref := now
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			ref = d
		}
		wait = reset.Sub(ref)
	}
	if wait <= 0 {
		if resp.StatusCode != http.StatusTooManyRequests {
			return
		}
		wait = time.Second
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limits == nil {
		c.limits = map[string]time.Time{}
	}
	c.limits[bucket] = now.Add(min(wait, MaxRateLimitWait))
}

// waitForLimit waits until the bucket's spent rate limit resets, if it is.
// When ctx would end first it does not wait: the call fails at once with a
// retryable CodeRateLimited.
func (c *client) waitForLimit(ctx context.Context, bucket, what string) error {
	c.mu.Lock()
	reset, ok := c.limits[bucket]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	wait := reset.Sub(c.clock.Now())
	if wait > 0 {
		// The context's deadline is on the real clock: compared as time left.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return &latch.Error{Kind: latch.KindTooMany, Code: CodeRateLimited,
				Message: fmt.Sprintf("Okta's rate limit for calls to %s resets in %s, later than Latch can wait; Latch tries again later.", what, wait.Round(time.Second))}
		}
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("okta: wait for the rate limit to %s: %w", what, err)
		}
	}
	c.mu.Lock()
	if c.limits[bucket].Equal(reset) {
		delete(c.limits, bucket)
	}
	c.mu.Unlock()
	return nil
}

// transportError describes a call that got no answer: retryable. The
// *url.Error is unwrapped so that the URL is not repeated.
func (c *client) transportError(ctx context.Context, what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("okta: %s: %w", what, ctx.Err())
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable,
			Message: fmt.Sprintf("Okta at %s did not answer in time to %s; Latch tries again.", c.base.Host, what), Err: err}
	}
	return &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable,
		Message: fmt.Sprintf("Could not reach Okta at %s to %s; Latch tries again.", c.base.Host, what), Err: err}
}

// summary is an error answer in a line: its status, Okta's errorCode and
// errorSummary (bounded), or the start of the body.
func summary(body []byte, status int) string {
	var e oktaError
	if json.Unmarshal(body, &e) == nil && e.ErrorSummary != "" {
		s := outbound.Excerpt([]byte(e.ErrorSummary), nil)
		if code := oneLine(e.ErrorCode); code != "" && len(code) <= 32 {
			return fmt.Sprintf("%s, %s%s", statusText(status), code, s)
		}
		return statusText(status) + s
	}
	return statusText(status) + outbound.Excerpt(body, nil)
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%d %s", status, t)
	}
	return strconv.Itoa(status)
}

// nextLink returns the URL of a Link header's rel="next", or "". Okta sends
// one Link header per relation: <https://…/api/v1/users/00u…/groups?after=…>; rel="next".
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(val, `"`) == "next" {
					return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(target), "<"), ">")
				}
			}
		}
	}
	return ""
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
