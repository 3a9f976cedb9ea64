// Package okta is the okta strategy: an escalator that grants access by
// adding the grantee's Okta user to an Okta group (PUT
// /api/v1/groups/{groupId}/users/{userId}), revokes it by removing them
// (DELETE, the same path), checks it by listing the user's groups (GET
// /api/v1/users/{userId}/groups, every page by its Link rel="next") and
// validates a target by reading the group (GET /api/v1/groups/{groupId}):
// only groups of type OKTA_GROUP can be changed; an app- or
// directory-mastered group (APP_GROUP) or a built-in one (BUILT_IN) is
// refused with a reason.
//
// The grantee's identity is their Okta user id (00u…): an identity set with
// `latch users set-identity EMAIL okta 00u…`, else what the flow's identity
// rule or get_identity hook gives, else the user whose login, then whose
// primary email, is the grantee's email (LookupIdentity), remembered.
//
// Okta is called with an SSWS API token (token_env) or with scoped OAuth 2.0
// access tokens of a service app (client_id and private_key_env, the client
// credentials grant with a private_key_jwt assertion). Rate limits are
// honoured: a call whose bucket answered X-Rate-Limit-Remaining 0 waits
// for X-Rate-Limit-Reset, and a 429 is waited for and tried again, both
// bounded by the context. See docs/strategies/okta.md.
//
// It is written on net/http rather than github.com/okta/okta-sdk-golang/v5.
// The SDK reads ~/.okta/okta.yaml, ./.okta.yaml and OKTA_* environment
// variables on top of what it is given, caches GET answers unless told not
// to (a check after a revoke must never see a cached membership), refuses
// an http org URL without an OKTA_TESTING_* switch, and its 429 handling
// neither looks at X-Rate-Limit-Remaining nor is bounded by a context
// deadline Latch sets. The five calls Latch makes (and the token request)
// are short; written here they behave exactly as documented and tested
// against a fake of Okta's wire format (package oktafake).
package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Type is the strategy type this package implements, as written in a flow's
// strategy block.
const Type = "okta"

// Timeout bounds one Grant, Revoke, Check or Validate, waits for rate
// limits included.
const Timeout = 2 * time.Minute

// Group types, as Okta's Group object has them.
const (
	GroupTypeOkta    = "OKTA_GROUP" // managed in Okta: the only type Latch changes
	GroupTypeApp     = "APP_GROUP"  // imported from an app or directory (AD, LDAP, Workday, …)
	GroupTypeBuiltIn = "BUILT_IN"   // Everyone and the like
)

// Error codes of the *latch.Error values the escalator returns.
const (
	CodeBadGrant      = "okta_bad_grant"         // no grant id, identity or group id: permanent
	CodeNoSuchUser    = "okta_no_such_user"      // Okta has no such user: permanent
	CodeNoSuchGroup   = "okta_no_such_group"     // Okta has no such group: permanent
	CodeGroupType     = "okta_group_not_okta"    // the group is an APP_GROUP or BUILT_IN: permanent
	CodeAmbiguousUser = "okta_ambiguous_user"    // several users have the email: permanent
	CodeUnauthorized  = "okta_unauthorized"      // the token is invalid or expired: permanent
	CodeForbidden     = "okta_forbidden"         // the token's admin may not do this: permanent
	CodeRejected      = "okta_rejected"          // another 4xx: permanent
	CodeRateLimited   = "okta_rate_limited"      // the rate limit did not reset in time: retryable
	CodeServerError   = "okta_error"             // a 5xx: retryable
	CodeUnreachable   = "okta_unreachable"       // no answer: retryable
	CodePanic         = "okta_panic"             // the escalator panicked: retryable
	CodeBadAnswer     = "okta_unexpected_answer" // an answer Latch cannot read: retryable
)

// Escalator adds and removes Okta users to and from Okta groups. It is safe
// for concurrent use.
type Escalator struct {
	c *client

	mu  sync.Mutex
	ids map[string]string // email → Okta user id, found by LookupIdentity
}

var (
	_ latch.Escalator      = (*Escalator)(nil)
	_ latch.Checker        = (*Escalator)(nil)
	_ latch.Validator      = (*Escalator)(nil)
	_ latch.IdentityLookup = (*Escalator)(nil)
)

// Option changes how New builds an Escalator.
type Option func(*options)

type options struct {
	clock latch.Clock
	sleep func(context.Context, time.Duration) error
}

// WithClock sets the clock rate-limit resets and token lifetimes are
// measured with (the default is latch.SystemClock).
func WithClock(c latch.Clock) Option { return func(o *options) { o.clock = c } }

// WithSleep replaces how the escalator waits for a rate limit's reset (the
// default waits on a timer, or until the context ends).
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}

// New returns an Escalator for an okta strategy's config block (see
// ValidateConfig). lookupEnv reads the variable token_env or
// private_key_env names (nil means every lookup fails); New fails, naming
// the variable, when it is unset or empty, or the key cannot be read.
// client makes the calls (nil: one with a 30-second timeout); redirects are
// never followed, so the credential goes only to the org. New does not
// call Okta.
func New(cfg map[string]any, lookupEnv func(string) (string, bool), hclient *http.Client, opts ...Option) (*Escalator, error) {
	o := options{clock: latch.SystemClock, sleep: sleep}
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidateConfig(cfg, nil); err != nil {
		return nil, fmt.Errorf("okta strategy: %w", err)
	}
	c, _ := parseConfig(cfg)
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	var hc http.Client
	if hclient != nil {
		hc = *hclient
	} else {
		hc.Timeout = 30 * time.Second
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	secret := func(name, setting, what string) (string, error) {
		v, err := outbound.SecretFromEnv(lookupEnv, name, setting, what)
		if err == nil && strings.TrimSpace(string(v)) == "" {
			err = fmt.Errorf("environment variable %s (named by %s) is blank; it must hold %s", name, setting, what)
		}
		if err != nil {
			return "", fmt.Errorf("okta strategy: %w", err)
		}
		return strings.TrimSpace(string(v)), nil
	}
	var auth authorizer
	if c.tokenEnv != "" {
		tok, err := secret(c.tokenEnv, KeyTokenEnv, "an Okta API token")
		if err != nil {
			return nil, err
		}
		auth = ssws{token: strings.TrimPrefix(tok, "SSWS "), env: c.tokenEnv}
	} else {
		pemKey, err := secret(c.privateKeyEnv, KeyPrivateKeyEnv, "the service app's private key (PEM)")
		if err != nil {
			return nil, err
		}
		key, err := parsePrivateKey(pemKey)
		if err != nil {
			return nil, fmt.Errorf("okta strategy: environment variable %s (named by %s): %w", c.privateKeyEnv, KeyPrivateKeyEnv, err)
		}
		tokenURL := *c.orgURL
		tokenURL.Path = "/oauth2/v1/token"
		auth = &serviceApp{tokenURL: tokenURL.String(), clientID: c.clientID, keyID: c.keyID, key: key,
			keyEnv: c.privateKeyEnv, http: &hc, clock: o.clock}
	}
	return &Escalator{c: &client{base: c.orgURL, http: &hc, auth: auth, clock: o.clock, sleep: o.sleep}}, nil
}

// group is the part of Okta's Group object Latch reads.
type group struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

// user is the part of Okta's User object Latch reads.
type user struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Profile struct {
		Login string `json:"login"`
		Email string `json:"email"`
	} `json:"profile"`
}

// Grant adds the grantee's Okta user to the target's group. Adding a
// member again succeeds (Okta answers 204 again). A missing user is a
// permanent error with code CodeNoSuchUser whose message names the command
// that sets the right user id; a missing group, CodeNoSuchGroup. Other
// answers are sorted as client.do says.
func (e *Escalator) Grant(ctx context.Context, g latch.GrantSpec) (err error) {
	defer recoverInto(&err, "grant", g.GrantID)
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	uid, gid, err := parts(g)
	if err != nil {
		return err
	}
	resp, err := e.c.do(ctx, http.MethodPut, membershipPath(gid, uid), "", nil, "PUT membership",
		fmt.Sprintf("add user %s to group %s", uid, gid))
	if err != nil {
		return fmt.Errorf("grant %s: %w", g.GrantID, err)
	}
	if resp.status == http.StatusNotFound {
		return e.notFound(ctx, resp, g, uid, gid)
	}
	return nil
}

// Revoke removes the grantee's Okta user from the target's group. A
// membership that is not there (Okta answers 404: the user, the group or
// the membership is gone) counts as removed.
func (e *Escalator) Revoke(ctx context.Context, g latch.GrantSpec) (err error) {
	defer recoverInto(&err, "revoke", g.GrantID)
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	uid, gid, err := parts(g)
	if err != nil {
		return err
	}
	if _, err := e.c.do(ctx, http.MethodDelete, membershipPath(gid, uid), "", nil, "DELETE membership",
		fmt.Sprintf("remove user %s from group %s", uid, gid)); err != nil {
		return fmt.Errorf("revoke %s: %w", g.GrantID, err)
	}
	return nil
}

// Check reports whether the grantee's Okta user is a member of the
// target's group now: the very membership Grant adds, not access the user
// may have by other routes (a group rule, an app assignment). It reads the
// user's groups, page by page, and stops at the group. A user Okta does not
// have holds nothing.
func (e *Escalator) Check(ctx context.Context, g latch.GrantSpec) (held bool, err error) {
	defer recoverInto(&err, "check", g.GrantID)
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	uid, gid, err := parts(g)
	if err != nil {
		return false, err
	}
	path := "/api/v1/users/" + url.PathEscape(uid) + "/groups"
	query, next := url.Values{"limit": {"200"}}, ""
	for {
		resp, err := e.c.do(ctx, http.MethodGet, path, next, query, "GET user groups", fmt.Sprintf("list the groups of user %s", uid))
		if err != nil {
			return false, fmt.Errorf("check %s: %w", g.GrantID, err)
		}
		if resp.status == http.StatusNotFound {
			return false, nil
		}
		var page []group
		if err := json.Unmarshal(resp.body, &page); err != nil {
			return false, badAnswer("the groups of user "+uid, err)
		}
		for _, gr := range page {
			if gr.ID == gid {
				return true, nil
			}
		}
		if next = nextLink(resp.header); next == "" || len(page) == 0 {
			return false, nil
		}
	}
}

// Validate checks that the target's group exists and is an OKTA_GROUP. A
// missing group is a permanent error with code CodeNoSuchGroup; a group of
// another type (APP_GROUP: mastered by an app or a directory, whose
// memberships Okta will not change or the source would undo; BUILT_IN)
// is a permanent error with code CodeGroupType naming the type.
func (e *Escalator) Validate(ctx context.Context, t latch.Target) (err error) {
	defer recoverInto(&err, "validate", t.ID)
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	gid, err := targetGroup(t)
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Target %q: %v.", t.ID, err)})
	}
	resp, err := e.c.do(ctx, http.MethodGet, "/api/v1/groups/"+url.PathEscape(gid), "", nil, "GET group", "read group "+gid)
	if err != nil {
		return fmt.Errorf("target %q: %w", t.ID, err)
	}
	if resp.status == http.StatusNotFound {
		return latch.Permanent(noSuchGroup(gid, nil))
	}
	var gr group
	if err := json.Unmarshal(resp.body, &gr); err != nil {
		return badAnswer("group "+gid, err)
	}
	if gr.Type != GroupTypeOkta {
		why := "its members come from an app or a directory (Active Directory, LDAP, an HR system), which would undo any change"
		if gr.Type == GroupTypeBuiltIn {
			why = "it is built into Okta (such as Everyone) and its membership is Okta's own"
		}
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeGroupType,
			Message: fmt.Sprintf("Target %q: Okta group %s (%q) is of type %s: %s. Latch changes only groups of type %s; "+
				"pick an Okta-mastered group, or grant through the source system.", t.ID, gid, oneLine(gr.Profile.Name), oneLine(gr.Type), why, GroupTypeOkta),
			Details: map[string]any{"group_id": gid, "type": gr.Type}})
	}
	return nil
}

// LookupIdentity finds the Okta user id of the person with email: the user
// whose login is the email, else the one whose primary email is (GET
// /api/v1/users?search=profile.login eq "…", then profile.email eq "…").
// An answer is remembered for the life of the escalator (the engine also
// stores it with the user). It returns latch.ErrNotFound when Okta has no
// such user, and a permanent CodeAmbiguousUser error when several users
// have the email and none has it as login.
func (e *Escalator) LookupIdentity(ctx context.Context, email string) (id string, err error) {
	defer recoverInto(&err, "look up", "an identity")
	email = strings.ToLower(strings.TrimSpace(email))
	if !latch.ValidEmail(email) {
		return "", latch.ErrNotFound
	}
	e.mu.Lock()
	id, ok := e.ids[email]
	e.mu.Unlock()
	if ok {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	for _, attr := range []string{"profile.login", "profile.email"} {
		users, err := e.search(ctx, attr, email)
		if err != nil {
			return "", err
		}
		var found []string
		for _, u := range users {
			if u.ID != "" && u.Status != "DEPROVISIONED" {
				found = append(found, u.ID)
			}
		}
		switch {
		case len(found) == 1:
			e.mu.Lock()
			if e.ids == nil {
				e.ids = map[string]string{}
			}
			e.ids[email] = found[0]
			e.mu.Unlock()
			return found[0], nil
		case len(found) > 1:
			return "", latch.Permanent(&latch.Error{Kind: latch.KindConflict, Code: CodeAmbiguousUser,
				Message: fmt.Sprintf("%d Okta users have %s as %s; set the right one with: latch users set-identity %s %s 00u…",
					len(found), email, attr, email, Type),
				Details: map[string]any{"email": email, "service": Type}})
		}
	}
	return "", latch.ErrNotFound
}

// search lists the users whose attr equals value (at most one page: a
// login is unique, and more than a page of users sharing an email is
// ambiguous either way).
func (e *Escalator) search(ctx context.Context, attr, value string) ([]user, error) {
	q := url.Values{"search": {fmt.Sprintf(`%s eq "%s"`, attr, quote(value))}, "limit": {"10"}}
	resp, err := e.c.do(ctx, http.MethodGet, "/api/v1/users", "", q, "GET users", "search users by "+attr)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", attr, err)
	}
	if resp.status == http.StatusNotFound {
		return nil, nil
	}
	var users []user
	if err := json.Unmarshal(resp.body, &users); err != nil {
		return nil, badAnswer("the user search", err)
	}
	return users, nil
}

// quote escapes a value for a double-quoted string of Okta's search
// expression: a backslash and a double quote are preceded by a backslash.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

func membershipPath(gid, uid string) string {
	return "/api/v1/groups/" + url.PathEscape(gid) + "/users/" + url.PathEscape(uid)
}

// parts returns the Okta user and group ids of g, or a permanent error.
func parts(g latch.GrantSpec) (uid, gid string, err error) {
	bad := func(msg string) error {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant, Message: msg})
	}
	if g.GrantID == "" {
		return "", "", bad("An okta grant needs an id.")
	}
	gid, err = targetGroup(g.Target)
	if err != nil {
		return "", "", bad(fmt.Sprintf("Grant %s: target %q: %v.", g.GrantID, g.Target.ID, err))
	}
	uid = strings.TrimSpace(g.User.Identity)
	if uid == "" || !oktaID.MatchString(uid) {
		return "", "", latch.Permanent(noSuchUser(g.User.Email, uid, nil))
	}
	return uid, gid, nil
}

// notFound sorts a 404 to PUT membership into a missing group or a missing
// user, each permanent: Okta's summary names the resource ("Not found:
// Resource not found: 00u… (User)"); when it does not, the group is read.
func (e *Escalator) notFound(ctx context.Context, resp *response, g latch.GrantSpec, uid, gid string) error {
	var oe oktaError
	_ = json.Unmarshal(resp.body, &oe)
	cause := errors.New(summary(resp.body, resp.status))
	switch {
	case strings.Contains(oe.ErrorSummary, gid) || strings.Contains(oe.ErrorSummary, "(UserGroup)"):
		return latch.Permanent(noSuchGroup(gid, cause))
	case strings.Contains(oe.ErrorSummary, uid) || strings.Contains(oe.ErrorSummary, "(User)"):
		return latch.Permanent(noSuchUser(g.User.Email, uid, cause))
	}
	gr, err := e.c.do(ctx, http.MethodGet, "/api/v1/groups/"+url.PathEscape(gid), "", nil, "GET group", "read group "+gid)
	if err != nil {
		return fmt.Errorf("grant %s: %w", g.GrantID, err)
	}
	if gr.status == http.StatusNotFound {
		return latch.Permanent(noSuchGroup(gid, cause))
	}
	return latch.Permanent(noSuchUser(g.User.Email, uid, cause))
}

func noSuchUser(email, uid string, cause error) *latch.Error {
	fix := fmt.Sprintf("latch users set-identity %s %s 00u…", email, Type)
	what := fmt.Sprintf("There is no Okta user %q for %s, so nothing was granted.", uid, email)
	if uid == "" {
		what = fmt.Sprintf("Latch does not know %s's Okta user id, so nothing was granted.", email)
	} else if !oktaID.MatchString(uid) {
		what = fmt.Sprintf("%q is not an Okta user id (00u…) for %s, so nothing was granted.", uid, email)
	}
	return &latch.Error{Kind: latch.KindNotFound, Code: CodeNoSuchUser,
		Message: what + " An admin can set the right Okta user id with: " + fix,
		Details: map[string]any{"email": email, "service": Type, "identity": uid, "fix": fix}, Err: cause}
}

func noSuchGroup(gid string, cause error) *latch.Error {
	return &latch.Error{Kind: latch.KindNotFound, Code: CodeNoSuchGroup,
		Message: fmt.Sprintf("There is no Okta group %s: correct the target's group_id in the flow (the group's id, from its Admin Console address).", gid),
		Details: map[string]any{"group_id": gid}, Err: cause}
}

func badAnswer(what string, err error) error {
	return &latch.Error{Kind: latch.KindInternal, Code: CodeBadAnswer,
		Message: fmt.Sprintf("Okta's answer about %s could not be read; Latch tries again.", what), Err: err}
}

// recoverInto turns a panic into a retryable error.
func recoverInto(err *error, what, id string) {
	if r := recover(); r != nil {
		*err = &latch.Error{Kind: latch.KindInternal, Code: CodePanic,
			Message: fmt.Sprintf("The okta escalator failed unexpectedly to %s %s.", what, id),
			Err:     fmt.Errorf("panic: %v", r)}
	}
}
