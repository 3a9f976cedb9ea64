package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gh "github.com/google/go-github/v78/github"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Error codes of the *latch.Error values the escalator returns.
const (
	CodeBadCredentials = "github_bad_credentials" // the token is wrong, expired or revoked: permanent
	CodeForbidden      = "github_forbidden"       // the token may not do this: permanent
	CodeNotFound       = "github_not_found"       // no such repository, team or user: permanent
	CodeRejected       = "github_rejected"        // GitHub refused the change (422 and other 4xx): permanent
	CodeLowerAccess    = "github_lower_access"    // a direct collaborator with less: refused, permanent
	CodeRateLimited    = "github_rate_limited"    // a primary or secondary rate limit: retryable
	CodeUnavailable    = "github_unavailable"     // 5xx, time-outs, connection failures: retryable
	CodeBadGrant       = "github_bad_grant"       // no grant id, identity or valid target: permanent
	CodeNoIdentity     = "github_no_identity"     // the email lookup is not possible: permanent
	CodePanic          = "github_panic"           // the escalator panicked: retryable
	// CodeNotVisible: a revoke or check met a repository or team the
	// credentials cannot see (404 or 403): retryable, so the revoke stays
	// overdue until the credentials see it again.
	CodeNotVisible = "github_not_visible"
)

// MaxRateWait is the longest the escalator waits, within one call, for a
// rate limit to pass before it returns a retryable error; a longer limit is
// left to Latch's own retries.
const MaxRateWait = 30 * time.Second

// defaultSecondaryWait is the wait after a secondary rate limit without a
// Retry-After (GitHub's advice: at least a minute).
const defaultSecondaryWait = time.Minute

// classify turns an error of a call to GitHub into Latch's terms: 401 is
// permanent with the fix in its message; a primary or secondary rate limit
// (403 or 429 with Retry-After, or X-RateLimit-Remaining 0 with
// X-RateLimit-Reset) waits as GitHub asks, at most MaxRateWait and never
// past ctx, then is retryable; 409, 5xx, time-outs and connection failures
// are retryable; other 4xx are permanent. what says what was being done.
func (e *Escalator) classify(ctx context.Context, err error, what string) error {
	if err == nil || latch.IsPermanent(err) {
		return err
	}
	wrapped := fmt.Errorf("%s: %w", what, err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wrapped
	}
	var rle *gh.RateLimitError
	if errors.As(err, &rle) {
		return e.rateLimited(ctx, wrapped, rle.Rate.Reset.Time.Sub(e.now()), "primary")
	}
	var are *gh.AbuseRateLimitError
	if errors.As(err, &are) {
		wait := defaultSecondaryWait
		if are.RetryAfter != nil {
			wait = *are.RetryAfter
		}
		return e.rateLimited(ctx, wrapped, wait, "secondary")
	}
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeUnavailable,
			Message: fmt.Sprintf("Could not reach GitHub to %s.", what), Err: wrapped}
	}
	status := er.Response.StatusCode
	msg := outbound.Excerpt([]byte(er.Message), nil)
	if wait, ok := e.retryAfter(er.Response); ok && (status == http.StatusTooManyRequests || status == http.StatusForbidden) {
		return e.rateLimited(ctx, wrapped, wait, "secondary")
	}
	if status == http.StatusTooManyRequests {
		return e.rateLimited(ctx, wrapped, defaultSecondaryWait, "secondary")
	}
	switch {
	case status == http.StatusUnauthorized:
		return latch.Permanent(&latch.Error{Kind: latch.KindUnauthorized, Code: CodeBadCredentials,
			Message: fmt.Sprintf("GitHub refused Latch's credentials (401%s) to %s: the token is wrong, expired or revoked. %s", msg, what, e.credentialsFix()),
			Err:     wrapped})
	case status == http.StatusForbidden:
		return latch.Permanent(&latch.Error{Kind: latch.KindForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("GitHub forbade Latch to %s (403%s). %s", what, msg, e.permissionsFix()),
			Err:     wrapped})
	case status == http.StatusNotFound:
		return latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("GitHub found nothing to %s (404): the repository, team or user does not exist in %s, or the token cannot see it.", what, e.cfg.org),
			Err:     wrapped})
	case status == http.StatusConflict || status >= 500:
		return &latch.Error{Kind: latch.KindInternal, Code: CodeUnavailable,
			Message: fmt.Sprintf("GitHub could not %s just now (%d%s).", what, status, msg), Err: wrapped}
	case status >= 400:
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: fmt.Sprintf("GitHub refused to %s (%d%s).", what, status, msg), Err: wrapped})
	}
	return wrapped
}

// retryAfter reads a rate-limit answer's wait: Retry-After (seconds), else
// X-RateLimit-Reset (epoch seconds) when X-RateLimit-Remaining is 0.
func (e *Escalator) retryAfter(r *http.Response) (time.Duration, bool) {
	if s := r.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	if r.Header.Get("X-RateLimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return time.Unix(n, 0).Sub(e.now()), true
		}
	}
	return 0, false
}

// rateLimited waits out a rate limit (at most MaxRateWait, never past ctx)
// and returns a retryable error saying when GitHub allows the next call.
func (e *Escalator) rateLimited(ctx context.Context, err error, wait time.Duration, kind string) error {
	wait = max(wait, 0)
	until := e.now().Add(wait)
	limited := errWithCode(err, until, kind)
	if serr := e.sleep(ctx, min(wait, MaxRateWait)); serr != nil {
		return fmt.Errorf("waiting out GitHub's %s rate limit: %w: %w", kind, serr, limited)
	}
	return limited
}

func errWithCode(cause error, until time.Time, kind string) *latch.Error {
	return &latch.Error{Kind: latch.KindTooMany, Code: CodeRateLimited,
		Message: fmt.Sprintf("GitHub's %s rate limit holds Latch's calls back until %s; Latch tries again.", kind, until.UTC().Format(time.RFC3339)),
		Details: map[string]any{"retry_at": until.UTC().Format(time.RFC3339)}, Err: cause}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Escalator) credentialsFix() string {
	if e.cfg.app() {
		return "Check the GitHub App's app_id, installation_id and private key (private_key_env)."
	}
	return fmt.Sprintf("Create a new token (fine-grained: organisation %s, repository Administration read and write, organisation Members read and write) and put it in %s.", e.cfg.org, e.cfg.tokenEnv)
}

func (e *Escalator) permissionsFix() string {
	who := "The token"
	if e.cfg.app() {
		who = "The GitHub App"
	}
	return who + " needs the repository permission Administration (read and write) for collaborators and the organisation permission Members (read and write) for teams, on " + e.cfg.org + " (docs/strategies/github.md)."
}
