// Package github is the github strategy: an escalator that grants access to
// a repository of a GitHub organisation by making the grantee a direct
// collaborator with a permission (pull, triage, push, maintain, admin), or
// to a team by making them a member, and takes it away again. It calls
// GitHub's REST API through github.com/google/go-github, and its GraphQL
// API for the one query REST lacks (members' verified organisation emails,
// for the identity lookup).
//
// Grant is idempotent and never lowers what a person holds: a direct
// collaborator (or pending invitation) with at least the permission, or an
// active or pending team member in any role, is left as they are; a direct
// collaborator with a lower permission is refused (CodeLowerAccess), because
// the revoke removes the collaborator and would take the lower permission
// with it. An invitation GitHub sends instead of adding the person (201)
// counts as granted, and the revoke cancels it. Check answers whether the
// very thing Grant adds is in place (a direct collaborator or invitation
// with at least the permission; an active or pending membership), not the
// access a person has through teams or the organisation's base permission,
// so that a revoke is confirmed even for someone who keeps access another
// way. See docs/strategies/github.md.
//
// Credentials: a token (fine-grained personal access token, or an
// installation token) read from the environment variable token_env, or a
// GitHub App (app_id, private_key_env, installation_id) whose installation
// tokens are made with a JWT signed by hand (auth.go) and kept until shortly
// before they expire. api_url points the client at GitHub Enterprise
// Server (go-github's WithEnterpriseURLs); tests point it at a fake the same
// way.
package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gh "github.com/google/go-github/v78/github"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Timeout bounds one Grant, Revoke, Check, Validate or LookupIdentity, its
// waits for rate limits included.
const Timeout = time.Minute

// maxPages bounds how many pages of 100 a listing reads (collaborators,
// invitations, members).
const maxPages = 200

// login is GitHub's rule for a user login: letters, digits and single
// hyphens, at most 39, not starting with a hyphen.
var login = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`) })

// Escalator adds and removes GitHub repository collaborators and team
// members in one organisation. It is safe for concurrent use.
type Escalator struct {
	cfg        config
	client     *gh.Client
	graphqlURL string
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
}

var (
	_ latch.Escalator      = (*Escalator)(nil)
	_ latch.Checker        = (*Escalator)(nil)
	_ latch.Validator      = (*Escalator)(nil)
	_ latch.IdentityLookup = (*Escalator)(nil)
	_ latch.OutputGranter  = (*Escalator)(nil)
)

// Option changes how New builds an Escalator.
type Option func(*Escalator)

// WithClock sets the clock rate-limit resets and installation tokens'
// expiries are measured with.
func WithClock(c latch.Clock) Option { return func(e *Escalator) { e.now = c.Now } }

// WithSleep replaces how the escalator waits out a rate limit (the default
// waits d or until ctx is done), e.g. to record the waits in tests.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(e *Escalator) { e.sleep = f }
}

// New returns an Escalator for a github strategy's config block (see
// ValidateConfig). It reads the token, or the GitHub App's private key, from
// the environment variable the config names with lookupEnv, and calls
// GitHub with client (its Transport and Timeout; nil: a 30-second timeout).
// It makes no call to GitHub.
func New(cfg map[string]any, lookupEnv func(string) (string, bool), client *http.Client, opts ...Option) (*Escalator, error) {
	c, problems := parseConfig(cfg)
	if len(problems) > 0 {
		return nil, fmt.Errorf("github strategy: %s", strings.Join(problems, "; "))
	}
	e := &Escalator{cfg: c, now: time.Now, sleep: sleepCtx}
	for _, o := range opts {
		o(e)
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	var src tokenSource
	if c.app() {
		pemKey, err := outbound.SecretFromEnv(lookupEnv, c.privateKeyEnv, "private_key_env", "the GitHub App's private key (PEM)")
		if err != nil {
			return nil, fmt.Errorf("github strategy: %w", err)
		}
		key, err := parsePrivateKey(string(pemKey))
		if err != nil {
			return nil, fmt.Errorf("github strategy: environment variable %s (named by private_key_env): %w", c.privateKeyEnv, err)
		}
		a := &appTokens{appID: c.appID, key: key, installationID: c.installationID, now: e.now}
		if a.client, err = newClient(c, &http.Client{Transport: bearer{jwtSource{a}, base}, Timeout: client.Timeout}); err != nil {
			return nil, err
		}
		src = a
	} else {
		tok, err := outbound.SecretFromEnv(lookupEnv, c.tokenEnv, "token_env", "a GitHub token")
		if err != nil {
			return nil, fmt.Errorf("github strategy: %w", err)
		}
		src = staticToken(strings.TrimSpace(string(tok)))
	}
	hc := *client
	hc.Transport = bearer{src, base}
	var err error
	if e.client, err = newClient(c, &hc); err != nil {
		return nil, err
	}
	e.graphqlURL = graphqlURL(e.client.BaseURL)
	return e, nil
}

// newClient is a go-github client for c's server. Its own rate-limit
// bookkeeping is off: the escalator waits out limits itself (classify), by
// its own clock, and a Lambda's client lives too briefly to learn from.
func newClient(c config, hc *http.Client) (*gh.Client, error) {
	cl := gh.NewClient(hc)
	if c.apiURL != "" {
		root := strings.TrimSuffix(strings.TrimSuffix(c.apiURL, "/"), "/api/v3")
		var err error
		if cl, err = cl.WithEnterpriseURLs(root, root); err != nil {
			return nil, fmt.Errorf("github strategy: api_url: %w", err)
		}
	}
	cl.DisableRateLimitCheck = true
	cl.UserAgent = "latch-escalator-github"
	return cl, nil
}

// graphqlURL is the GraphQL endpoint beside a REST base URL:
// https://api.github.com/graphql, or https://HOST/api/graphql on GitHub
// Enterprise Server.
func graphqlURL(base *url.URL) string {
	u := *base
	if strings.HasSuffix(u.Path, "/api/v3/") {
		u.Path = strings.TrimSuffix(u.Path, "v3/") + "graphql"
		return u.String()
	}
	return u.ResolveReference(&url.URL{Path: "graphql"}).String()
}

// Grant grants g (GrantWithOutput, without the output).
func (e *Escalator) Grant(ctx context.Context, g latch.GrantSpec) error {
	_, err := e.GrantWithOutput(ctx, g)
	return err
}

// GrantWithOutput makes the grantee a direct collaborator of the target's
// repository with its permission (PUT /repos/{org}/{repo}/collaborators/
// {login}), or a member of its team (PUT /orgs/{org}/teams/{slug}/
// memberships/{login}, role member). What is in place already is left as it
// is (see the package doc); a direct collaborator or invitation with a lower
// permission is a permanent CodeLowerAccess error. The output says what
// happened: result "added", "invited" (GitHub sent an invitation, with its
// URL; the grant counts as made) or "already_held".
func (e *Escalator) GrantWithOutput(ctx context.Context, g latch.GrantSpec) (out map[string]any, err error) {
	defer recoverInto(&err, "grant", g.GrantID)
	user, t, err := parts(g)
	if err != nil {
		return nil, err
	}
	if t.Team != "" {
		return e.grantTeam(ctx, g, user, t)
	}
	return e.grantRepo(ctx, g, user, t)
}

func (e *Escalator) grantRepo(ctx context.Context, g latch.GrantSpec, user string, t target) (map[string]any, error) {
	full := e.cfg.org + "/" + t.Repo
	out := map[string]any{"repository": full, "permission": t.Permission}
	want := rank(t.Permission)
	held, err := e.repoAccess(ctx, t.Repo, user)
	if err != nil {
		return nil, e.classify(ctx, err, fmt.Sprintf("read the collaborators of %s for grant %s", full, g.GrantID))
	}
	switch {
	case held.direct >= want || held.invited >= want:
		out["result"] = "already_held"
		return out, nil
	case held.direct > 0 || held.invited > 0:
		have := max(held.direct, held.invited)
		return nil, latch.Permanent(&latch.Error{Kind: latch.KindConflict, Code: CodeLowerAccess,
			Message: fmt.Sprintf("%s is already a direct collaborator of %s (or invited) with %s; Latch does not raise it to %s, because the revoke would remove the collaborator and take the %s they had before with it. Grant it through a team target instead, or remove the direct collaborator first.",
				user, full, Permissions[have-1], t.Permission, Permissions[have-1]),
			Details: map[string]any{"login": user, "repository": full, "held": Permissions[have-1], "wanted": t.Permission}})
	}
	inv, resp, err := e.client.Repositories.AddCollaborator(ctx, e.cfg.org, t.Repo, user, &gh.RepositoryAddCollaboratorOptions{Permission: t.Permission})
	if err != nil {
		return nil, e.classify(ctx, err, fmt.Sprintf("add %s to %s with %s for grant %s", user, full, t.Permission, g.GrantID))
	}
	if resp.StatusCode == http.StatusCreated {
		out["result"] = "invited"
		if u := inv.GetHTMLURL(); strings.HasPrefix(u, "https://") && len(u) <= 512 {
			out["invitation_url"] = u
		}
		return out, nil
	}
	out["result"] = "added"
	return out, nil
}

func (e *Escalator) grantTeam(ctx context.Context, g latch.GrantSpec, user string, t target) (map[string]any, error) {
	out := map[string]any{"team": e.cfg.org + "/" + t.Team}
	state, err := e.membership(ctx, t.Team, user)
	if err != nil {
		return nil, e.classify(ctx, err, fmt.Sprintf("read %s's membership of team %s for grant %s", user, t.Team, g.GrantID))
	}
	if state != "" {
		out["result"] = "already_held"
		return out, nil
	}
	m, _, err := e.client.Teams.AddTeamMembershipBySlug(ctx, e.cfg.org, t.Team, user, &gh.TeamAddTeamMembershipOptions{Role: "member"})
	if err != nil {
		return nil, e.classify(ctx, err, fmt.Sprintf("add %s to team %s for grant %s", user, t.Team, g.GrantID))
	}
	out["result"] = "added"
	if m.GetState() == "pending" {
		out["result"] = "invited"
	}
	return out, nil
}

// Revoke removes what Grant added: the direct collaborator (DELETE
// /repos/{org}/{repo}/collaborators/{login}) and any invitation of theirs
// still pending (GitHub cancels it with the collaborator, but may do so in
// the background), or the team membership, active or pending. What is not
// there counts as removed (404 included) once the repository or team is
// seen (GitHub also answers 404 for what the credentials cannot see): a
// repository or team the credentials cannot see is a retryable
// CodeNotVisible error, so the revoke is retried and becomes overdue rather
// than counted as done.
func (e *Escalator) Revoke(ctx context.Context, g latch.GrantSpec) (err error) {
	defer recoverInto(&err, "revoke", g.GrantID)
	user, t, err := parts(g)
	if err != nil {
		return err
	}
	if t.Team != "" {
		_, err := e.client.Teams.RemoveTeamMembershipBySlug(ctx, e.cfg.org, t.Team, user)
		if status(err) == http.StatusNotFound {
			return e.visible(ctx, t, fmt.Sprintf("remove %s from team %s for grant %s", user, t.Team, g.GrantID))
		}
		if err != nil {
			return e.classify(ctx, err, fmt.Sprintf("remove %s from team %s for grant %s", user, t.Team, g.GrantID))
		}
		return nil
	}
	full := e.cfg.org + "/" + t.Repo
	if _, err := e.client.Repositories.RemoveCollaborator(ctx, e.cfg.org, t.Repo, user); status(err) == http.StatusNotFound {
		if err := e.visible(ctx, t, fmt.Sprintf("remove %s from %s for grant %s", user, full, g.GrantID)); err != nil {
			return err
		}
	} else if err != nil {
		return e.classify(ctx, err, fmt.Sprintf("remove %s from %s for grant %s", user, full, g.GrantID))
	}
	invs, err := e.invitations(ctx, t.Repo, user)
	if err != nil {
		if status(err) == http.StatusNotFound {
			return e.visible(ctx, t, fmt.Sprintf("read the invitations of %s for grant %s", full, g.GrantID))
		}
		return e.classify(ctx, err, fmt.Sprintf("read the invitations of %s for grant %s", full, g.GrantID))
	}
	for _, inv := range invs {
		if _, err := e.client.Repositories.DeleteInvitation(ctx, e.cfg.org, t.Repo, inv.GetID()); err != nil && status(err) != http.StatusNotFound {
			return e.classify(ctx, err, fmt.Sprintf("cancel %s's invitation to %s for grant %s", user, full, g.GrantID))
		}
	}
	return nil
}

// visible confirms, after a 404 in a revoke or check, that the credentials
// still see the target's repository (GET /repos/{org}/{repo}) or team (GET
// /orgs/{org}/teams/{slug}): nil when they do (the 404 was about the
// collaborator, invitation or membership, which is gone). When the
// repository or team itself answers 404 or 403 (a GitHub App or
// fine-grained token no longer given this repository, a secret team, a
// deleted or renamed repository), it is a retryable CodeNotVisible error
// with the fix: what the person holds there cannot be removed or seen, so
// it must not count as removed. Other errors are sorted as for Grant.
func (e *Escalator) visible(ctx context.Context, t target, what string) error {
	var err error
	if t.Team != "" {
		_, _, err = e.client.Teams.GetTeamBySlug(ctx, e.cfg.org, t.Team)
	} else {
		_, _, err = e.client.Repositories.Get(ctx, e.cfg.org, t.Repo)
	}
	if err == nil {
		return nil
	}
	var er *gh.ErrorResponse
	st := status(err)
	if st == http.StatusForbidden && errors.As(err, &er) {
		if _, limited := e.retryAfter(er.Response); limited {
			st = 0
		}
	}
	if st != http.StatusNotFound && st != http.StatusForbidden {
		return e.classify(ctx, err, what)
	}
	who := "Latch's token"
	if e.cfg.app() {
		who = "Latch's GitHub App"
	}
	if t.Team != "" {
		return &latch.Error{Kind: latch.KindForbidden, Code: CodeNotVisible,
			Message: fmt.Sprintf("Could not %s: %s cannot see team %s of %s (GitHub answers %d for it), so Latch can neither remove the membership nor confirm it is gone. Give the credentials sight of the team again (a token's owner must be an organisation owner or, for a secret team, its member; a GitHub App needs the organisation permission Members); Latch keeps trying.",
				what, who, t.Team, e.cfg.org, st),
			Details: map[string]any{"team": e.cfg.org + "/" + t.Team, "status": st}, Err: fmt.Errorf("%s: %w", what, err)}
	}
	full := e.cfg.org + "/" + t.Repo
	return &latch.Error{Kind: latch.KindForbidden, Code: CodeNotVisible,
		Message: fmt.Sprintf("Could not %s: %s cannot see %s (GitHub answers %d for it), so Latch can neither remove the collaborator nor confirm they are gone. Give the credentials access to %s again (a GitHub App: its installation's repository access; a fine-grained token: its repository list); if the repository was deleted or renamed, check its collaborators by hand. Latch keeps trying.",
			what, who, full, st, full),
		Details: map[string]any{"repository": full, "status": st}, Err: fmt.Errorf("%s: %w", what, err)}
}

// Check reports whether what Grant adds is in place: the grantee is a
// direct collaborator of the repository with at least the target's
// permission, or has a pending invitation with it (every page of
// GET /repos/{org}/{repo}/collaborators?affiliation=direct and of its
// invitations); or is an active or pending member of the team. Access
// through a team or the organisation's base permission does not count. A
// repository or team the credentials cannot see (GitHub answers 404 for a
// missing one too) is a retryable CodeNotVisible error, not "not held".
func (e *Escalator) Check(ctx context.Context, g latch.GrantSpec) (held bool, err error) {
	defer recoverInto(&err, "check", g.GrantID)
	user, t, err := parts(g)
	if err != nil {
		return false, err
	}
	if t.Team != "" {
		what := fmt.Sprintf("read %s's membership of team %s for grant %s", user, t.Team, g.GrantID)
		state, err := e.membership(ctx, t.Team, user)
		if err != nil {
			return false, e.classify(ctx, err, what)
		}
		if state == "" {
			return false, e.visible(ctx, t, what)
		}
		return true, nil
	}
	a, err := e.repoAccess(ctx, t.Repo, user)
	if status(err) == http.StatusNotFound {
		return false, e.visible(ctx, t, fmt.Sprintf("read the collaborators of %s/%s for grant %s", e.cfg.org, t.Repo, g.GrantID))
	}
	if err != nil {
		return false, e.classify(ctx, err, fmt.Sprintf("read the collaborators of %s/%s for grant %s", e.cfg.org, t.Repo, g.GrantID))
	}
	want := rank(t.Permission)
	return a.direct >= want || a.invited >= want, nil
}

// Validate checks that the target's repository (GET /repos/{org}/{repo})
// or team (GET /orgs/{org}/teams/{slug}) exists and the credentials can see
// it. A missing one, or a repository that was renamed or moved, is a
// permanent error; other errors are sorted as for Grant.
func (e *Escalator) Validate(ctx context.Context, tg latch.Target) (err error) {
	defer recoverInto(&err, "validate", tg.ID)
	t, err := parseTarget(tg)
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant, Message: err.Error() + "."})
	}
	if t.Team != "" {
		_, _, err := e.client.Teams.GetTeamBySlug(ctx, e.cfg.org, t.Team)
		if status(err) == http.StatusNotFound {
			return latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeNotFound,
				Message: fmt.Sprintf("There is no team %q in %s (or the credentials cannot see it): write the team's slug, as in its URL.", t.Team, e.cfg.org), Err: err})
		}
		return e.classify(ctx, err, fmt.Sprintf("read team %s of %s", t.Team, e.cfg.org))
	}
	r, _, err := e.client.Repositories.Get(ctx, e.cfg.org, t.Repo)
	if status(err) == http.StatusNotFound {
		return latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("There is no repository %s/%s (or the credentials cannot see it).", e.cfg.org, t.Repo), Err: err})
	}
	if err != nil {
		return e.classify(ctx, err, fmt.Sprintf("read repository %s/%s", e.cfg.org, t.Repo))
	}
	if want := e.cfg.org + "/" + t.Repo; !strings.EqualFold(r.GetFullName(), want) {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeNotFound,
			Message: fmt.Sprintf("Repository %s is now %s: correct the target's repo (a grant to the old name would not reach it).", want, clip(r.GetFullName()))})
	}
	return nil
}

// LookupIdentity finds a person's GitHub login by email: the organisation
// member whose verified emails on the organisation's verified domains
// (GraphQL organizationVerifiedDomainEmails, reading every page of
// membersWithRole) include it. It returns latch.ErrNotFound when no member
// has it; a permanent CodeNoIdentity error when the credentials may not
// read those emails (the admin then maps the login by hand:
// `latch users set-identity EMAIL github LOGIN`).
func (e *Escalator) LookupIdentity(ctx context.Context, email string) (id string, err error) {
	defer recoverInto(&err, "look up the login of", email)
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") {
		return "", latch.ErrNotFound
	}
	const query = `query($org: String!, $after: String) {
  organization(login: $org) {
    membersWithRole(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { login organizationVerifiedDomainEmails(login: $org) }
    }
  }
}`
	var after *string
	for range maxPages {
		var page membersPage
		if err := e.graphql(ctx, query, map[string]any{"org": e.cfg.org, "after": after}, &page, email); err != nil {
			return "", err
		}
		if page.Organization == nil {
			return "", latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeNotFound,
				Message: fmt.Sprintf("GitHub has no organisation %s (or the credentials cannot see it).", e.cfg.org)})
		}
		m := page.Organization.MembersWithRole
		for _, n := range m.Nodes {
			for _, addr := range n.Emails {
				if strings.EqualFold(strings.TrimSpace(addr), email) && login().MatchString(n.Login) {
					return n.Login, nil
				}
			}
		}
		if !m.PageInfo.HasNextPage || m.PageInfo.EndCursor == "" {
			return "", latch.ErrNotFound
		}
		cursor := m.PageInfo.EndCursor
		after = &cursor
	}
	return "", latch.ErrNotFound
}

type membersPage struct {
	Organization *struct {
		MembersWithRole struct {
			PageInfo struct {
				HasNextPage bool   `json:"hasNextPage"`
				EndCursor   string `json:"endCursor"`
			} `json:"pageInfo"`
			Nodes []struct {
				Login  string   `json:"login"`
				Emails []string `json:"organizationVerifiedDomainEmails"`
			} `json:"nodes"`
		} `json:"membersWithRole"`
	} `json:"organization"`
}

// graphql posts one query and decodes its data into out. GraphQL's own
// errors (answered with 200) are sorted: FORBIDDEN and INSUFFICIENT_SCOPES
// are permanent (CodeNoIdentity), RATE_LIMITED waits like a REST limit,
// others are retryable.
func (e *Escalator) graphql(ctx context.Context, query string, vars map[string]any, out any, email string) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := e.client.NewRequest(http.MethodPost, e.graphqlURL, json.RawMessage(body))
	if err != nil {
		return err
	}
	var ans struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	resp, err := e.client.Do(ctx, req, &ans)
	what := fmt.Sprintf("look up the GitHub login of %s", email)
	if err != nil {
		return e.classify(ctx, err, what)
	}
	for _, ge := range ans.Errors {
		switch ge.Type {
		case "FORBIDDEN", "INSUFFICIENT_SCOPES":
			fix := fmt.Sprintf("latch users set-identity %s %s LOGIN", email, Type)
			return latch.Permanent(&latch.Error{Kind: latch.KindForbidden, Code: CodeNoIdentity,
				Message: fmt.Sprintf("GitHub does not let Latch read the verified emails of %s's members%s, so it cannot find %s's login. An admin can set it with: %s",
					e.cfg.org, outbound.Excerpt([]byte(ge.Message), nil), email, fix),
				Details: map[string]any{"email": email, "service": Type, "fix": fix}})
		case "RATE_LIMITED":
			wait, ok := e.retryAfter(resp.Response)
			if !ok {
				wait = defaultSecondaryWait
			}
			return e.rateLimited(ctx, fmt.Errorf("%s: GraphQL: %s", what, clip(ge.Message)), wait, "primary")
		}
	}
	if len(ans.Errors) > 0 && (len(ans.Data) == 0 || bytes.Equal(ans.Data, []byte("null"))) {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeUnavailable,
			Message: fmt.Sprintf("GitHub could not answer the query to %s%s.", what, outbound.Excerpt([]byte(ans.Errors[0].Message), nil))}
	}
	if err := json.Unmarshal(ans.Data, out); err != nil {
		return fmt.Errorf("%s: decode GitHub's answer: %w", what, err)
	}
	return nil
}

// repoHeld is what a login holds of a repository directly: the rank of
// their direct collaborator permission and of their best pending
// invitation (0: none).
type repoHeld struct{ direct, invited int }

func (e *Escalator) repoAccess(ctx context.Context, repo, user string) (repoHeld, error) {
	var h repoHeld
	opts := &gh.ListCollaboratorsOptions{Affiliation: "direct", ListOptions: gh.ListOptions{PerPage: 100}}
	for range maxPages {
		users, resp, err := e.client.Repositories.ListCollaborators(ctx, e.cfg.org, repo, opts)
		if err != nil {
			return h, err
		}
		if i := indexLogin(users, user); i >= 0 {
			h.direct = userRank(users[i])
			break
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	invs, err := e.invitations(ctx, repo, user)
	if err != nil {
		return h, err
	}
	for _, inv := range invs {
		h.invited = max(h.invited, max(rank(inv.GetPermissions()), 1))
	}
	return h, nil
}

// invitations lists the login's pending, unexpired invitations to repo.
func (e *Escalator) invitations(ctx context.Context, repo, user string) ([]*gh.RepositoryInvitation, error) {
	var out []*gh.RepositoryInvitation
	opts := &gh.ListOptions{PerPage: 100}
	for range maxPages {
		invs, resp, err := e.client.Repositories.ListInvitations(ctx, e.cfg.org, repo, opts)
		if err != nil {
			return nil, err
		}
		for _, inv := range invs {
			if strings.EqualFold(inv.GetInvitee().GetLogin(), user) && !inv.GetExpired() {
				out = append(out, inv)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// membership is the login's team membership state: "active", "pending", or
// "" for none (404).
func (e *Escalator) membership(ctx context.Context, team, user string) (string, error) {
	m, _, err := e.client.Teams.GetTeamMembershipBySlug(ctx, e.cfg.org, team, user)
	if status(err) == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	switch s := m.GetState(); s {
	case "active", "pending":
		return s, nil
	}
	return "", nil
}

func indexLogin(users []*gh.User, user string) int {
	for i, u := range users {
		if strings.EqualFold(u.GetLogin(), user) {
			return i
		}
	}
	return -1
}

// userRank is a collaborator's permission rank: their role_name when it is
// a base role, else the highest permission set in their permissions; at
// least 1 (a listed collaborator can read).
func userRank(u *gh.User) int {
	if r := rank(u.GetRoleName()); r > 0 {
		return r
	}
	best := 1
	for p, ok := range u.Permissions {
		if ok {
			best = max(best, rank(p))
		}
	}
	return best
}

// status is the HTTP status of a go-github error (0 for none).
func status(err error) int {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// parts returns the grantee's login and the target of g, or a permanent
// error.
func parts(g latch.GrantSpec) (string, target, error) {
	bad := func(msg string) error {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant, Message: msg})
	}
	if g.GrantID == "" {
		return "", target{}, bad("A github grant needs an id.")
	}
	t, err := parseTarget(g.Target)
	if err != nil {
		return "", target{}, bad(fmt.Sprintf("Grant %s: %v.", g.GrantID, err))
	}
	user := strings.TrimSpace(g.User.Identity)
	fix := fmt.Sprintf("latch users set-identity %s %s LOGIN", g.User.Email, Type)
	if user == "" {
		return "", target{}, latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: CodeBadGrant,
			Message: fmt.Sprintf("Latch does not know %s's GitHub login, so nothing was granted. An admin can set it with: %s", g.User.Email, fix),
			Details: map[string]any{"email": g.User.Email, "service": Type, "fix": fix}})
	}
	if !login().MatchString(user) {
		return "", target{}, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("%s's GitHub identity %q is not a GitHub login, so nothing was granted. An admin can correct it with: %s", g.User.Email, clip(user), fix),
			Details: map[string]any{"email": g.User.Email, "service": Type, "fix": fix}})
	}
	return user, t, nil
}

// clip bounds outside text for a message: one line, at most 120 bytes.
func clip(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if len(s) <= 120 {
		return s
	}
	cut := 120
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// recoverInto turns a panic into a retryable error.
func recoverInto(err *error, what, id string) {
	if r := recover(); r != nil {
		*err = &latch.Error{Kind: latch.KindInternal, Code: CodePanic,
			Message: fmt.Sprintf("The github escalator failed unexpectedly to %s %s.", what, id),
			Err:     fmt.Errorf("panic: %v", r)}
	}
}
