// Package tailscale is the tailscale strategy: an escalator that grants
// access by adding the grantee's Tailscale login to a group of the tailnet
// policy file (groups["group:NAME"]), revokes it by taking the login out,
// checks it by reading the group, and validates a target by finding the
// group in the file.
//
// Every change is a read and a conditional write of the whole policy file
// through Tailscale's API: GET /api/v2/tailnet/{tailnet}/acl with Accept:
// application/hujson (the file as people wrote it, and its ETag), then POST
// of the edited HuJSON with If-Match on that ETag. When someone else changed
// the file in between, Tailscale answers 412 Precondition Failed and the
// edit starts again from a fresh read (MaxAttempts in all). The edit itself
// (policy.go) changes only the group's array: every comment, blank line,
// trailing comma and key order outside it is kept byte for byte.
//
// The API is called with tailscale.com/client/tailscale/v2 (its
// PolicyFile().Raw and Set give the raw HuJSON and send If-Match), through
// an http.RoundTripper of this package that turns every answer of 400 or
// more into a *StatusError carrying the status, Tailscale's message and
// Retry-After: the client's own errors lose the status when a body is not
// JSON, and never carry headers. OAuth clients authenticate through the
// client's Auth hook, with the token fetched through the same HTTP client
// (the library's own OAuth helper fetches tokens with http.DefaultClient,
// without a timeout).
//
// The grantee's identity is their Tailscale login: an identity set with
// `latch users set-identity EMAIL tailscale LOGIN`, else what the flow's
// identity rule or get_identity hook gives, else their email
// (LookupIdentity). See docs/strategies/tailscale.md.
package tailscale

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/tailscale/hujson"
	tsclient "tailscale.com/client/tailscale/v2"

	"github.com/latchhq/latch/pkg/env"
	"github.com/latchhq/latch/pkg/escalator/settings"
	"github.com/latchhq/latch/pkg/latch"
)

// Type is the strategy type this package implements, as written in a flow's
// strategy block.
const Type = "tailscale"

// Timeout bounds one Grant, Revoke, Check or Validate, its retries and
// waits included.
const Timeout = time.Minute

// MaxAttempts bounds the reads and writes of one change: a write refused
// because the file changed since it was read (412), or throttled (429), is
// tried again from a fresh read, this many times in all.
const MaxAttempts = 5

// MaxRetryAfter is the longest Retry-After a throttled call waits out
// before trying again; a longer one (or one past the caller's deadline)
// returns a retryable error at once.
const MaxRetryAfter = 30 * time.Second

// DefaultAPIURL is the Tailscale API.
const DefaultAPIURL = "https://api.tailscale.com"

// The keys of the strategy's config block.
const (
	KeyTailnet         = "tailnet"
	KeyTokenEnv        = "token_env"
	KeyClientID        = "client_id"
	KeyClientSecretEnv = "client_secret_env"
	KeyAPIURL          = "api_url"
)

// KeyGroup is the target setting naming the group, without "group:".
const KeyGroup = "group"

const groupPrefix = "group:"

// Error codes of the *latch.Error values the escalator returns.
const (
	CodeUnauthorized  = "tailscale_unauthorized"    // the token or OAuth client was refused (401): permanent
	CodeForbidden     = "tailscale_forbidden"       // the credentials may not read or write the policy file (403): permanent
	CodeNoSuchTailnet = "tailscale_no_such_tailnet" // the API does not know the tailnet (404): permanent
	CodeNoSuchGroup   = "tailscale_no_such_group"   // the policy file has no such group: permanent
	CodeBadPolicy     = "tailscale_bad_policy"      // the policy file does not parse, or its groups are not what they must be: permanent
	CodeRejected      = "tailscale_policy_rejected" // Tailscale refused the edited file (400: e.g. its tests fail): permanent
	CodeBadGrant      = "tailscale_bad_grant"       // no grant id or group: permanent
	CodeBadIdentity   = "tailscale_bad_identity"    // no login, or not one: permanent
	CodeThrottled     = "tailscale_throttled"       // 429 after the waits allowed: retryable
	CodeConflict      = "tailscale_conflict"        // 412 on every attempt: retryable
	CodeUnavailable   = "tailscale_unavailable"     // 5xx, time-outs, no ETag: retryable
	CodePanic         = "tailscale_panic"           // the escalator panicked: retryable
)

// Escalator adds and removes logins to and from groups of one tailnet's
// policy file. It is safe for concurrent use.
type Escalator struct {
	client  *tsclient.Client
	auth    string // "token_env NAME" or "OAuth client ID": for messages
	secret  string // the config key of the secret, for messages
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time
	tailnet string
}

var (
	_ latch.Escalator      = (*Escalator)(nil)
	_ latch.Checker        = (*Escalator)(nil)
	_ latch.Validator      = (*Escalator)(nil)
	_ latch.IdentityLookup = (*Escalator)(nil)
)

// Option changes how New builds an Escalator.
type Option func(*Escalator)

// WithSleep replaces how a throttled call waits out Retry-After (the
// default waits on a timer or until ctx ends), e.g. to record the waits in
// tests.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(e *Escalator) { e.sleep = f }
}

// WithClock replaces the clock that turns a Retry-After date into a wait.
func WithClock(now func() time.Time) Option { return func(e *Escalator) { e.now = now } }

// config is a checked strategy config block.
type config struct {
	tailnet, tokenEnv, clientID, clientSecretEnv, apiURL string
}

var knownKeys = []string{KeyAPIURL, KeyClientID, KeyClientSecretEnv, KeyTailnet, KeyTokenEnv}

// New returns an Escalator for a tailscale strategy's config block (see
// ValidateConfig). lookupEnv finds the secret token_env or
// client_secret_env names; client is the HTTP client calls go out with (nil:
// one with a 30-second timeout). New does not call Tailscale.
func New(cfg map[string]any, lookupEnv func(string) (string, bool), client *http.Client, opts ...Option) (*Escalator, error) {
	c, problems := parseConfig(cfg)
	if len(problems) > 0 {
		return nil, fmt.Errorf("tailscale strategy: %w", errors.Join(problems...))
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	base, err := url.Parse(c.apiURL)
	if err != nil {
		return nil, fmt.Errorf("tailscale strategy: api_url: %w", err)
	}
	hc := &http.Client{Transport: &transport{base: client.Transport}, Timeout: client.Timeout,
		CheckRedirect: client.CheckRedirect, Jar: client.Jar}
	ts := &tsclient.Client{BaseURL: base, Tailnet: c.tailnet, HTTP: hc, UserAgent: "latch"}
	e := &Escalator{client: ts, tailnet: c.tailnet, sleep: sleepCtx, now: time.Now}
	if c.tokenEnv != "" {
		token, ok := lookupEnv(c.tokenEnv)
		if !ok || strings.TrimSpace(token) == "" {
			return nil, fmt.Errorf("tailscale strategy: token_env names %s, which is not set: put a Tailscale API access token in it", c.tokenEnv)
		}
		ts.APIKey = strings.TrimSpace(token)
		e.auth, e.secret = "the API access token in "+c.tokenEnv, KeyTokenEnv
	} else {
		secret, ok := lookupEnv(c.clientSecretEnv)
		if !ok || strings.TrimSpace(secret) == "" {
			return nil, fmt.Errorf("tailscale strategy: client_secret_env names %s, which is not set: put the OAuth client's secret in it", c.clientSecretEnv)
		}
		ts.Auth = &oauthClient{id: c.clientID, secret: strings.TrimSpace(secret)}
		e.auth, e.secret = fmt.Sprintf("the OAuth client %s (secret in %s)", c.clientID, c.clientSecretEnv), KeyClientSecretEnv
	}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// ValidateConfig checks a tailscale strategy's config block and targets,
// and returns nil or every problem joined with errors.Join. It does not
// read the environment: New checks the secret is set.
//
// The keys are tailnet (required: the tailnet's name as the admin console's
// General settings show it, or "-" for the credential's own tailnet),
// either token_env (the name of the environment variable holding an API
// access token) or client_id and client_secret_env (an OAuth client and the
// variable holding its secret), and api_url (optional; default
// https://api.tailscale.com). Each target needs an id, unique in the flow,
// and a setting group: the group's name without "group:".
func ValidateConfig(cfg map[string]any, targets []latch.Target) error {
	_, errs := parseConfig(cfg)
	errs = append(errs, settings.Targets(targets, KeyGroup, func(t latch.Target) error {
		_, err := targetGroup(t)
		return err
	})...)
	return errors.Join(errs...)
}

func parseConfig(m map[string]any) (config, []error) {
	var c config
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, settings.UnknownKeys(m, knownKeys)...)
	text := func(key string) (string, bool) {
		s, ok, err := settings.Text(m, key)
		if err != nil {
			bad("%s", err)
		}
		return s, ok
	}

	if s, ok := text(KeyTailnet); !ok || s == "" {
		bad("tailnet is required: the tailnet's name, as in the admin console's General settings (e.g. example.com), or - for the credential's own tailnet")
	} else if strings.ContainsAny(s, "/?#%\\") || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		bad("tailnet %q is not a tailnet name (no spaces, slashes or ?#%%)", s)
	} else {
		c.tailnet = s
	}

	token, hasToken := text(KeyTokenEnv)
	id, hasID := text(KeyClientID)
	secret, hasSecret := text(KeyClientSecretEnv)
	envName := func(key, v string) string {
		if !env.ValidName(v) {
			// Never echo the value: it may be the secret itself, pasted by mistake.
			bad("%s must be the NAME of an environment variable (letters, digits and _, not starting with a digit), not the secret itself", key)
			return ""
		}
		return v
	}
	switch {
	case hasToken && (hasID || hasSecret):
		bad("give either token_env (an API access token) or client_id and client_secret_env (an OAuth client), not both")
	case hasToken:
		c.tokenEnv = envName(KeyTokenEnv, token)
	case hasID || hasSecret:
		if id == "" {
			bad("client_id is required with client_secret_env: the OAuth client's id")
		}
		if secret == "" {
			bad("client_secret_env is required with client_id: the name of the environment variable holding the OAuth client's secret")
		} else {
			c.clientSecretEnv = envName(KeyClientSecretEnv, secret)
		}
		c.clientID = id
	default:
		bad("token_env (the environment variable holding an API access token) or client_id and client_secret_env (an OAuth client with the policy_file scope) is required")
	}

	c.apiURL = DefaultAPIURL
	if s, ok := text(KeyAPIURL); ok {
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "":
			bad("api_url %q must be an http(s) URL such as %s", s, DefaultAPIURL)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			bad("api_url must not hold a user, a query or a fragment")
		default:
			c.apiURL = strings.TrimRight(u.String(), "/")
		}
	}
	return c, errs
}

// groupName is the rule for a group's name here: letters, digits and
// ._- (Tailscale's own examples; the rule keeps the name usable in a
// policy file key without quoting surprises).
var groupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// targetGroup returns the group a target names, without "group:".
func targetGroup(t latch.Target) (string, error) {
	raw, ok := t.Settings[KeyGroup]
	if !ok || raw == nil {
		return "", errors.New("settings.group is required: the name of the policy file group to add the grantee to, without group:")
	}
	s, ok := raw.(string)
	if !ok {
		return "", errors.New("settings.group must be text: a group name such as prod-ssh")
	}
	if strings.HasPrefix(s, groupPrefix) {
		return "", fmt.Errorf("settings.group %q: write the name without the group: prefix (%s)", s, strings.TrimPrefix(s, groupPrefix))
	}
	if !groupName.MatchString(s) {
		return "", fmt.Errorf("settings.group %q is not a group name (1 to 128 letters, digits and ._-, starting with a letter or digit)", s)
	}
	return s, nil
}

// Grant adds the grantee's login to the target's group. A login already in
// the group (exactly) is left as it is and nothing is written. A group
// missing from the policy file is a permanent error with code
// CodeNoSuchGroup (Latch does not create groups); see the package doc and
// classify for the rest.
func (e *Escalator) Grant(ctx context.Context, g latch.GrantSpec) (err error) {
	defer recoverInto(&err, "grant", g.GrantID)
	login, name, err := parts(g)
	if err != nil {
		return err
	}
	err = e.edit(ctx, name, false, func(gr group) bool {
		if gr.has(login) {
			return false
		}
		gr.add(login)
		return true
	})
	if err != nil {
		return fmt.Errorf("grant %s: add %q to group:%s: %w", g.GrantID, login, name, err)
	}
	return nil
}

// Revoke takes the grantee's login out of the target's group (every
// element equal to it). A login that is not there, or a group that is
// gone, counts as removed, and nothing is written.
func (e *Escalator) Revoke(ctx context.Context, g latch.GrantSpec) (err error) {
	defer recoverInto(&err, "revoke", g.GrantID)
	login, name, err := parts(g)
	if err != nil {
		return err
	}
	err = e.edit(ctx, name, true, func(gr group) bool { return gr.remove(login) > 0 })
	if err != nil {
		return fmt.Errorf("revoke %s: remove %q from group:%s: %w", g.GrantID, login, name, err)
	}
	return nil
}

// Check reports whether the target's group lists the grantee's login now,
// exactly (the same bytes once unquoted: an entry differing in case is
// someone else's, and is never removed by Revoke). A group that is not in
// the file holds nobody.
func (e *Escalator) Check(ctx context.Context, g latch.GrantSpec) (held bool, err error) {
	defer recoverInto(&err, "check", g.GrantID)
	login, name, err := parts(g)
	if err != nil {
		return false, err
	}
	_, _, gr, err := e.read(ctx, name)
	if errors.Is(err, errNoGroup) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check %s: read group:%s: %w", g.GrantID, name, err)
	}
	return gr.has(login), nil
}

// Validate checks that the policy file has the target's group. A missing
// group is a permanent error with code CodeNoSuchGroup whose message says
// how to add it.
func (e *Escalator) Validate(ctx context.Context, t latch.Target) (err error) {
	defer recoverInto(&err, "validate", t.ID)
	name, err := targetGroup(t)
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Target %q: %v.", t.ID, err)})
	}
	_, _, _, err = e.read(ctx, name)
	if errors.Is(err, errNoGroup) {
		return noSuchGroup(e.tailnet, name, err)
	}
	if err != nil {
		return fmt.Errorf("target %q: read group:%s: %w", t.ID, name, err)
	}
	return nil
}

// LookupIdentity is the strategy's lookup by email: the email itself
// (lower-case), which is the Tailscale login of people who sign in with
// their organisation's identity provider. People who sign in with GitHub
// (login@github) or a passkey (name@passkey) need their login set with
// `latch users set-identity EMAIL tailscale LOGIN`.
func (e *Escalator) LookupIdentity(_ context.Context, email string) (string, error) {
	email = latch.NormalizeEmail(email)
	if !latch.ValidEmail(email) {
		return "", latch.ErrNotFound
	}
	return email, nil
}

// read fetches the policy file and finds the group in it. It returns the
// parsed file, its ETag and the group; an error wrapping errNoGroup when
// the group is not there (the file and ETag are still returned).
func (e *Escalator) read(ctx context.Context, name string) (root *hujson.Value, etag string, gr group, err error) {
	for attempt := 1; ; attempt++ {
		raw, err := e.client.PolicyFile().Raw(ctx)
		if err != nil {
			if wait, ok := e.retryAfter(ctx, err, attempt); ok {
				if err := e.sleep(ctx, wait); err != nil {
					return nil, "", group{}, err
				}
				continue
			}
			return nil, "", group{}, e.classify(err)
		}
		v, err := parsePolicy([]byte(raw.HuJSON))
		if err != nil {
			return nil, "", group{}, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadPolicy,
				Message: fmt.Sprintf("The policy file of tailnet %s cannot be read: %v. Correct it in the admin console (Access controls).", e.tailnet, err),
				Err:     err})
		}
		root = &v
		gr, err = findGroup(root, name)
		if err != nil && !errors.Is(err, errNoGroup) {
			return nil, "", group{}, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadPolicy,
				Message: fmt.Sprintf("The policy file of tailnet %s: %v.", e.tailnet, err), Err: err})
		}
		return root, raw.ETag, gr, err
	}
}

// edit reads the policy file, applies change to the group and, when it
// changed something, writes the file back with If-Match on the ETag it
// read, again from a fresh read when Tailscale answers 412 or 429. A
// missing group is fine when missingOK (nothing to change), else
// CodeNoSuchGroup.
func (e *Escalator) edit(ctx context.Context, name string, missingOK bool, change func(group) bool) error {
	var last error
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		root, etag, gr, err := e.read(ctx, name)
		switch {
		case errors.Is(err, errNoGroup) && missingOK:
			return nil
		case errors.Is(err, errNoGroup):
			return noSuchGroup(e.tailnet, name, err)
		case err != nil:
			return err
		}
		if !change(gr) {
			return nil
		}
		if etag == "" {
			// Without an ETag the write could overwrite someone else's.
			return &latch.Error{Kind: latch.KindInternal, Code: CodeUnavailable,
				Message: "Tailscale answered the policy file without an ETag, so it was not written (a proxy may strip the header)."}
		}
		err = e.client.PolicyFile().Set(ctx, string(root.Pack()), etag)
		if err == nil {
			return nil
		}
		last = err
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusPreconditionFailed {
			continue // someone else wrote the file since we read it: read it again
		}
		if wait, ok := e.retryAfter(ctx, err, attempt); ok {
			if err := e.sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		return e.classify(err)
	}
	return e.classify(last)
}

// retryAfter returns how long to wait before trying a throttled call
// again, and false when err is not a 429 or the wait is not allowed (the
// last attempt, too long, or past ctx's deadline).
func (e *Escalator) retryAfter(ctx context.Context, err error, attempt int) (time.Duration, bool) {
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || attempt >= MaxAttempts {
		return 0, false
	}
	wait := se.wait(e.now())
	if wait <= 0 {
		wait = time.Duration(attempt) * time.Second
	}
	if wait > MaxRetryAfter {
		return 0, false
	}
	if dl, ok := ctx.Deadline(); ok && e.now().Add(wait).After(dl) {
		return 0, false
	}
	return wait, true
}

// parts returns the login and group of g, or a permanent error.
func parts(g latch.GrantSpec) (login, name string, err error) {
	bad := func(msg string) error {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant, Message: msg})
	}
	if g.GrantID == "" {
		return "", "", bad("A tailscale grant needs an id.")
	}
	name, err = targetGroup(g.Target)
	if err != nil {
		return "", "", bad(fmt.Sprintf("Grant %s: target %q: %v.", g.GrantID, g.Target.ID, err))
	}
	login = strings.TrimSpace(g.User.Identity)
	if msg := checkLogin(login); msg != "" {
		fix := fmt.Sprintf("latch users set-identity %s %s LOGIN", g.User.Email, Type)
		return "", "", latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadIdentity,
			Message: fmt.Sprintf("%s for %s, so nothing was granted. An admin can set the right login with: %s", msg, g.User.Email, fix),
			Details: map[string]any{"email": g.User.Email, "service": Type, "identity": login, "fix": fix}})
	}
	return login, name, nil
}

// checkLogin returns why login cannot be a Tailscale user login in a group,
// or "".
func checkLogin(login string) string {
	switch {
	case login == "":
		return "Latch does not know the Tailscale login"
	case len(login) > 320 || strings.IndexFunc(login, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return "The Tailscale login is not a login (too long, or with spaces or control characters)"
	case strings.HasPrefix(login, groupPrefix), strings.HasPrefix(login, "tag:"), strings.HasPrefix(login, "autogroup:"):
		return fmt.Sprintf("%q is a group or tag, not a Tailscale login", login)
	case !strings.Contains(login, "@"):
		return fmt.Sprintf("%q is not a Tailscale login (a login has an @: name@example.com, name@github)", login)
	}
	return ""
}

func noSuchGroup(tailnet, name string, cause error) error {
	return latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeNoSuchGroup,
		Message: fmt.Sprintf("The policy file of tailnet %s has no group:%s. Add it under \"groups\" (\"group:%s\": [],) in the admin console, "+
			"or correct the target's group in the flow: Latch does not create groups.", tailnet, name, name),
		Details: map[string]any{"group": name, "tailnet": tailnet}, Err: cause})
}

// classify turns a failed call into the error Latch acts on: permanent for
// refused credentials (401, 403), an unknown tailnet (404) and a file
// Tailscale refuses (400 and other 4xx); retryable for throttling (429),
// conflicts (412, 409), 5xx, time-outs and transport failures.
func (e *Escalator) classify(err error) error {
	if err == nil || latch.IsPermanent(err) {
		return err
	}
	var le *latch.Error
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *StatusError
	if !errors.As(err, &se) {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeUnavailable,
			Message: "Tailscale could not be reached; it is tried again.", Err: err}
	}
	switch {
	case se.Status == http.StatusUnauthorized && (se.OAuth || e.secret == KeyClientSecretEnv):
		return latch.Permanent(&latch.Error{Kind: latch.KindUnauthorized, Code: CodeUnauthorized,
			Message: fmt.Sprintf("Tailscale refused %s (%s). Create a new secret for the OAuth client (admin console, Settings, "+
				"Trust credentials), and put it in the secret named by %s.", e.auth, se.Message, e.secret),
			Details: map[string]any{"status": se.Status, "tailnet": e.tailnet}, Err: err})
	case se.Status == http.StatusUnauthorized:
		return latch.Permanent(&latch.Error{Kind: latch.KindUnauthorized, Code: CodeUnauthorized,
			Message: fmt.Sprintf("Tailscale refused %s (%s): it has expired (API access tokens last at most 90 days) or was revoked. "+
				"Create a new API access token (admin console, Settings, Keys) and put it in the secret named by %s, "+
				"or use an OAuth client with the policy_file scope (client_id, client_secret_env), which does not expire.", e.auth, se.Message, e.secret),
			Details: map[string]any{"status": se.Status, "tailnet": e.tailnet}, Err: err})
	case se.Status == http.StatusForbidden:
		return latch.Permanent(&latch.Error{Kind: latch.KindForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("Tailscale does not let %s change the policy file of tailnet %s (%s). Use an OAuth client with the "+
				"policy_file scope, or an API access token of an Owner, Admin or Network admin.", e.auth, e.tailnet, se.Message),
			Details: map[string]any{"status": se.Status, "tailnet": e.tailnet}, Err: err})
	case se.Status == http.StatusNotFound:
		return latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeNoSuchTailnet,
			Message: fmt.Sprintf("Tailscale does not know tailnet %q (%s): correct tailnet in the flow's strategy.", e.tailnet, se.Message),
			Details: map[string]any{"status": se.Status, "tailnet": e.tailnet}, Err: err})
	case se.Status == http.StatusTooManyRequests:
		return &latch.Error{Kind: latch.KindTooMany, Code: CodeThrottled,
			Message: "Tailscale is throttling Latch's calls; they are tried again.", Err: err}
	case se.Status == http.StatusPreconditionFailed, se.Status == http.StatusConflict:
		return &latch.Error{Kind: latch.KindConflict, Code: CodeConflict,
			Message: fmt.Sprintf("The policy file of tailnet %s kept changing while Latch edited it; it is tried again.", e.tailnet), Err: err}
	case se.Status >= 500, se.Status == http.StatusRequestTimeout:
		return &latch.Error{Kind: latch.KindInternal, Code: CodeUnavailable,
			Message: fmt.Sprintf("Tailscale answered %d; it is tried again.", se.Status), Err: err}
	}
	return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
		Message: fmt.Sprintf("Tailscale refused the change to the policy file of tailnet %s (%d: %s).", e.tailnet, se.Status, se.Message),
		Details: map[string]any{"status": se.Status, "tailnet": e.tailnet}, Err: err})
}

// recoverInto turns a panic into a retryable error.
func recoverInto(err *error, what, id string) {
	if r := recover(); r != nil {
		*err = &latch.Error{Kind: latch.KindInternal, Code: CodePanic,
			Message: fmt.Sprintf("The tailscale escalator failed unexpectedly to %s %s.", what, id),
			Err:     fmt.Errorf("panic: %v", r)}
	}
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
