package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/escalator/github/githubfake"
	"github.com/latchhq/latch/pkg/latch"
)

// rig is an escalator talking to a fake GitHub, with its rate-limit waits
// recorded instead of slept.
type rig struct {
	f     *githubfake.GitHub
	e     *Escalator
	mu    sync.Mutex
	waits []time.Duration
}

func newRig(t *testing.T, f *githubfake.GitHub, cfg map[string]any, env map[string]string) *rig {
	t.Helper()
	r := &rig{f: f}
	if cfg == nil {
		cfg = map[string]any{"org": "acme", "token_env": "GITHUB_TOKEN"}
	}
	if _, ok := cfg["api_url"]; !ok {
		cfg["api_url"] = f.URL
	}
	if env == nil {
		env = map[string]string{"GITHUB_TOKEN": "github_pat_good"}
	}
	e, err := New(cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, f.Client,
		WithClock(latch.ClockFunc(f.Now)),
		WithSleep(func(_ context.Context, d time.Duration) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.waits = append(r.waits, d)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	return r
}

func repoGrant(login, repo, perm string) latch.GrantSpec {
	return latch.GrantSpec{GrantID: "gr_1", User: latch.SpecUser{Email: login + "@acme.example", Identity: login},
		Target: latch.Target{ID: "t", Settings: map[string]any{"repo": repo, "permission": perm}}}
}

func teamGrant(login, team string) latch.GrantSpec {
	return latch.GrantSpec{GrantID: "gr_2", User: latch.SpecUser{Email: login + "@acme.example", Identity: login},
		Target: latch.Target{ID: "t", Settings: map[string]any{"team": team}}}
}

func mustCheck(t *testing.T, e *Escalator, g latch.GrantSpec, want bool) {
	t.Helper()
	held, err := e.Check(t.Context(), g)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if held != want {
		t.Fatalf("check = %v, want %v", held, want)
	}
}

func code(err error) string { return latch.ErrorCodeOf(err) }

// A member of the organisation is added as a direct collaborator at once;
// granting again changes nothing; the revoke removes them; revoking again
// succeeds; Check follows each step.
func TestRepoGrantRepeatRevoke(t *testing.T) {
	f := githubfake.New(t)
	f.Members["jdoe"] = nil
	f.Repos["api"] = map[string]string{}
	r := newRig(t, f, nil, nil)
	g := repoGrant("jdoe", "api", "push")
	ctx := t.Context()

	mustCheck(t, r.e, g, false)
	out, err := r.e.GrantWithOutput(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if out["result"] != "added" || out["repository"] != "acme/api" {
		t.Errorf("output %v, want added to acme/api", out)
	}
	if f.Repos["api"]["jdoe"] != "push" {
		t.Fatalf("collaborators %v, want jdoe with push", f.Repos["api"])
	}
	mustCheck(t, r.e, g, true)

	puts := f.Count("PUT ")
	out, err = r.e.GrantWithOutput(ctx, g)
	if err != nil || out["result"] != "already_held" {
		t.Fatalf("repeat grant: %v %v, want already_held", out, err)
	}
	if f.Count("PUT ") != puts {
		t.Errorf("a repeat grant called PUT again")
	}

	if err := r.e.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Repos["api"]["jdoe"]; ok {
		t.Fatalf("jdoe is still a collaborator")
	}
	mustCheck(t, r.e, g, false)
	if err := latch.ConfirmRevoked(ctx, r.e, g); err != nil {
		t.Fatalf("confirm revoked: %v", err)
	}
	if err := r.e.Revoke(ctx, g); err != nil {
		t.Fatalf("repeat revoke: %v", err)
	}
}

// A revoke is confirmed for a person who keeps access through a team: the
// check counts only the direct collaborator Latch added.
func TestRevokeConfirmedDespiteTeamAccess(t *testing.T) {
	f := githubfake.New(t)
	f.Members["jdoe"] = nil
	f.Repos["api"] = map[string]string{}
	f.TeamAccess["api"] = map[string]string{"jdoe": "admin"}
	r := newRig(t, f, nil, nil)
	g := repoGrant("jdoe", "api", "push")
	if err := r.e.Grant(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	if f.Repos["api"]["jdoe"] != "push" {
		t.Fatalf("collaborators %v, want jdoe added directly", f.Repos["api"])
	}
	if err := r.e.Revoke(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	if err := latch.ConfirmRevoked(t.Context(), r.e, g); err != nil {
		t.Fatalf("confirm revoked: %v", err)
	}
}

func TestGraphQLURL(t *testing.T) {
	for give, want := range map[string]string{
		"https://api.github.com/":            "https://api.github.com/graphql",
		"https://github.example.com/api/v3/": "https://github.example.com/api/graphql",
		"http://127.0.0.1:8080/ghe/api/v3/":  "http://127.0.0.1:8080/ghe/api/graphql",
	} {
		u, err := url.Parse(give)
		if err != nil {
			t.Fatal(err)
		}
		if got := graphqlURL(u); got != want {
			t.Errorf("graphqlURL(%s) = %s, want %s", give, got, want)
		}
	}
}

// The rate-limit wait ends with ctx.
func TestSleepCtxEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx on a cancelled context: %v", err)
	}
}

func FuzzValidateConfig(f *testing.F) {
	f.Add("acme", "GITHUB_TOKEN", "api", "push", "")
	f.Add("acme", "", "", "", "Platform Oncall")
	f.Fuzz(func(t *testing.T, org, tokenEnv, repo, perm, team string) {
		cfg := map[string]any{"org": org, "token_env": tokenEnv}
		targets := []latch.Target{{ID: "t", Settings: map[string]any{"repo": repo, "permission": perm, "team": team}}}
		if ValidateConfig(cfg, targets) != nil {
			return
		}
		// What passes is safe in a URL path.
		for _, s := range []string{org, repo, team} {
			if strings.ContainsAny(s, "/?#%") || s == ".." {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

// An outside collaborator is invited (201): the grant counts as made, Check
// sees the invitation, and the revoke cancels it even when GitHub leaves it
// pending after the collaborator is removed.
func TestPendingInvitationCountsAndIsCancelled(t *testing.T) {
	f := githubfake.New(t)
	f.Repos["api"] = map[string]string{}
	f.AsyncCancel = true
	r := newRig(t, f, nil, nil)
	g := repoGrant("outsider", "api", "triage")

	out, err := r.e.GrantWithOutput(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	if out["result"] != "invited" || out["invitation_url"] != "https://github.example.com/acme/api/invitations" {
		t.Errorf("output %v, want invited with the invitation's URL", out)
	}
	if len(f.Invitations["api"]) != 1 || f.Invitations["api"][0].Permission != "triage" {
		t.Fatalf("invitations %v, want one with triage", f.Invitations["api"])
	}
	mustCheck(t, r.e, g, true)
	// A pending invitation with less than the target's permission is not it.
	mustCheck(t, r.e, repoGrant("outsider", "api", "push"), false)

	if err := r.e.Revoke(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	if len(f.Invitations["api"]) != 0 {
		t.Fatalf("invitations %v left after the revoke", f.Invitations["api"])
	}
	if f.Count("DELETE /api/v3/repos/acme/api/invitations/") != 1 {
		t.Errorf("the invitation was not cancelled with DELETE …/invitations/{id}")
	}
	mustCheck(t, r.e, g, false)
}

// Check reads every page of the direct collaborators, and access through a
// team (not a direct collaborator) does not count.
func TestCheckAcrossPagesDirectOnly(t *testing.T) {
	f := githubfake.New(t)
	f.PageSize = 7
	f.Repos["api"] = map[string]string{}
	for i := range 30 {
		f.Repos["api"][fmt.Sprintf("dev%02d", i)] = "pull"
	}
	f.Repos["api"]["zed"] = "maintain"
	f.TeamAccess["api"] = map[string]string{"teamonly": "admin"}
	r := newRig(t, f, nil, nil)

	mustCheck(t, r.e, repoGrant("zed", "api", "push"), true)
	mustCheck(t, r.e, repoGrant("zed", "api", "admin"), false)
	if n := f.Count("GET /api/v3/repos/acme/api/collaborators"); n < 5 {
		t.Errorf("%d pages read, want all 5", n)
	}
	mustCheck(t, r.e, repoGrant("teamonly", "api", "pull"), false)
	mustCheck(t, r.e, repoGrant("nobody", "api", "pull"), false)
	// A repository that is gone (GitHub's 404, as for one the token cannot
	// see) is not "not held": the check fails, retryably.
	if held, err := r.e.Check(t.Context(), repoGrant("zed", "gone", "pull")); err == nil || latch.IsPermanent(err) || code(err) != CodeNotVisible || held {
		t.Errorf("check on a missing repository: %v %v, want retryable %s", held, err, CodeNotVisible)
	}
}

// A repository or team the token cannot see (every endpoint answers 404, as
// for a GitHub App no longer given the repository, or a secret team) makes
// the revoke and the check fail retryably, naming the repository or team and
// the fix, rather than count the person as removed while they stay.
func TestRevokeCheckInvisibleTarget(t *testing.T) {
	f := githubfake.New(t)
	f.Members["jdoe"] = nil
	f.Repos["api"] = map[string]string{"jdoe": "push"}
	f.Teams["oncall"] = map[string]githubfake.Membership{"jdoe": {Role: "member", State: "active"}}
	f.HiddenRepos["api"], f.HiddenTeams["oncall"] = true, true
	r := newRig(t, f, nil, nil)
	ctx := t.Context()

	for _, c := range []struct {
		g    latch.GrantSpec
		name string
	}{{repoGrant("jdoe", "api", "push"), "acme/api"}, {teamGrant("jdoe", "oncall"), "team oncall"}} {
		err := r.e.Revoke(ctx, c.g)
		if err == nil || latch.IsPermanent(err) || code(err) != CodeNotVisible || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), "again") {
			t.Errorf("revoke on invisible %s: %v, want retryable %s naming it and the fix", c.name, err, CodeNotVisible)
		}
		held, err := r.e.Check(ctx, c.g)
		if err == nil || latch.IsPermanent(err) || code(err) != CodeNotVisible || held {
			t.Errorf("check on invisible %s: %v %v, want retryable %s", c.name, held, err, CodeNotVisible)
		}
		if err := latch.ConfirmRevoked(ctx, r.e, c.g); err == nil {
			t.Errorf("revoke of %s confirmed while it cannot be seen", c.name)
		}
	}
	if f.Repos["api"]["jdoe"] != "push" || f.Teams["oncall"]["jdoe"].State != "active" {
		t.Fatalf("the fake changed what it hid")
	}

	// Seen again, the revoke removes the person and the check confirms it.
	f.Lock()
	f.HiddenRepos["api"], f.HiddenTeams["oncall"] = false, false
	f.Unlock()
	for _, g := range []latch.GrantSpec{repoGrant("jdoe", "api", "push"), teamGrant("jdoe", "oncall")} {
		if err := r.e.Revoke(ctx, g); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, r.e, g, false)
	}

	// A 403 on the repository itself (no rate limit) is not visible either.
	f.Lock()
	f.Throttle = []githubfake.Answer{
		{Status: 404, Body: `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`},
		{Status: 403, Body: `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest","status":"403"}`},
	}
	f.Unlock()
	if err := r.e.Revoke(ctx, repoGrant("jdoe", "api", "push")); latch.IsPermanent(err) || code(err) != CodeNotVisible {
		t.Errorf("revoke with the repository answering 403: %v, want retryable %s", err, CodeNotVisible)
	}
}

// Grant never lowers a direct collaborator's permission, and refuses to
// raise a lower one (the revoke would take it away).
func TestGrantKeepsHigherRefusesLower(t *testing.T) {
	f := githubfake.New(t)
	f.Members["boss"], f.Members["reader"] = nil, nil
	f.Repos["api"] = map[string]string{"boss": "admin", "reader": "pull"}
	r := newRig(t, f, nil, nil)

	out, err := r.e.GrantWithOutput(t.Context(), repoGrant("boss", "api", "push"))
	if err != nil || out["result"] != "already_held" {
		t.Fatalf("grant push to an admin: %v %v, want already_held", out, err)
	}
	if f.Repos["api"]["boss"] != "admin" {
		t.Errorf("boss is now %s, want admin kept", f.Repos["api"]["boss"])
	}
	err = r.e.Grant(t.Context(), repoGrant("reader", "api", "push"))
	if !latch.IsPermanent(err) || code(err) != CodeLowerAccess {
		t.Fatalf("grant push to a reader: %v, want permanent %s", err, CodeLowerAccess)
	}
	if f.Repos["api"]["reader"] != "pull" || f.Count("PUT ") != 0 {
		t.Errorf("reader is now %s after %d PUTs, want pull and none", f.Repos["api"]["reader"], f.Count("PUT "))
	}
}

// Team membership: a member joins active, an outsider pending (counted as
// granted); a maintainer stays a maintainer; revoke and repeat revoke.
func TestTeamMembership(t *testing.T) {
	f := githubfake.New(t)
	f.Members["jdoe"], f.Members["lead"] = nil, nil
	f.Teams["oncall"] = map[string]githubfake.Membership{"lead": {Role: "maintainer", State: "active"}}
	r := newRig(t, f, nil, nil)
	ctx := t.Context()

	g := teamGrant("jdoe", "oncall")
	mustCheck(t, r.e, g, false)
	out, err := r.e.GrantWithOutput(ctx, g)
	if err != nil || out["result"] != "added" {
		t.Fatalf("grant: %v %v", out, err)
	}
	if m := f.Teams["oncall"]["jdoe"]; m != (githubfake.Membership{Role: "member", State: "active"}) {
		t.Fatalf("membership %+v, want an active member", m)
	}
	mustCheck(t, r.e, g, true)

	out, err = r.e.GrantWithOutput(ctx, teamGrant("stranger", "oncall"))
	if err != nil || out["result"] != "invited" {
		t.Fatalf("grant to an outsider: %v %v, want invited", out, err)
	}
	mustCheck(t, r.e, teamGrant("stranger", "oncall"), true)

	if out, err := r.e.GrantWithOutput(ctx, teamGrant("lead", "oncall")); err != nil || out["result"] != "already_held" {
		t.Fatalf("grant to a maintainer: %v %v", out, err)
	}
	if f.Teams["oncall"]["lead"].Role != "maintainer" {
		t.Errorf("the maintainer was demoted")
	}

	for _, login := range []string{"jdoe", "stranger"} {
		if err := r.e.Revoke(ctx, teamGrant(login, "oncall")); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, r.e, teamGrant(login, "oncall"), false)
		if err := r.e.Revoke(ctx, teamGrant(login, "oncall")); err != nil {
			t.Fatalf("repeat revoke (404): %v", err)
		}
	}
	err = r.e.Grant(ctx, teamGrant("jdoe", "nope"))
	if !latch.IsPermanent(err) || code(err) != CodeNotFound {
		t.Errorf("grant to a missing team: %v, want permanent %s", err, CodeNotFound)
	}
}

// A secondary rate limit (403 with Retry-After), a primary one (403 with
// X-RateLimit-Remaining 0 and X-RateLimit-Reset) and a 429 are each waited
// out as GitHub asks (at most MaxRateWait), then retryable; the next try
// goes through.
func TestThrottling(t *testing.T) {
	f := githubfake.New(t)
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return start }
	f.Members["jdoe"] = nil
	f.Repos["api"] = map[string]string{}
	r := newRig(t, f, nil, nil)
	g := repoGrant("jdoe", "api", "pull")
	reset := strconv.FormatInt(start.Add(20*time.Minute).Unix(), 10)
	for _, tt := range []struct {
		name string
		ans  githubfake.Answer
		want time.Duration
	}{
		{"secondary", githubfake.Answer{Status: 403, Header: map[string]string{"Retry-After": "7"},
			Body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`}, 7 * time.Second},
		{"primary", githubfake.Answer{Status: 403, Header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset, "X-RateLimit-Used": "5000"},
			Body: `{"message":"API rate limit exceeded for installation ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"}`}, MaxRateWait},
		{"429", githubfake.Answer{Status: 429, Header: map[string]string{"Retry-After": "3"},
			Body: `{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest"}`}, 3 * time.Second},
		{"primary 429", githubfake.Answer{Status: 429, Header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(start.Add(12*time.Second).Unix(), 10)},
			Body: `{"message":"API rate limit exceeded.","documentation_url":"https://docs.github.com/rest"}`}, 12 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.Throttle = []githubfake.Answer{tt.ans}
			r.waits = nil
			err := r.e.Grant(t.Context(), g)
			if err == nil || latch.IsPermanent(err) || code(err) != CodeRateLimited {
				t.Fatalf("grant: %v, want a retryable %s", err, CodeRateLimited)
			}
			if len(r.waits) != 1 || r.waits[0] != tt.want {
				t.Errorf("waited %v, want %v", r.waits, tt.want)
			}
			if err := r.e.Grant(t.Context(), g); err != nil {
				t.Fatalf("the next try: %v", err)
			}
			if err := r.e.Revoke(t.Context(), g); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An expired or revoked token (401 Bad credentials) is permanent, with the
// fix in the message; 5xx is retryable.
func TestBadTokenAndServerErrors(t *testing.T) {
	f := githubfake.New(t)
	f.Repos["api"] = map[string]string{}
	r := newRig(t, f, nil, map[string]string{"GITHUB_TOKEN": "github_pat_expired"})
	err := r.e.Grant(t.Context(), repoGrant("jdoe", "api", "pull"))
	if !latch.IsPermanent(err) || code(err) != CodeBadCredentials {
		t.Fatalf("grant with an expired token: %v, want permanent %s", err, CodeBadCredentials)
	}
	if msg := latch.ErrorMessageOf(err); !strings.Contains(msg, "Bad credentials") || !strings.Contains(msg, "GITHUB_TOKEN") {
		t.Errorf("message %q does not say what GitHub said and where the new token goes", msg)
	}
	_, err = r.e.Check(t.Context(), repoGrant("jdoe", "api", "pull"))
	if !latch.IsPermanent(err) || code(err) != CodeBadCredentials {
		t.Errorf("check with an expired token: %v", err)
	}

	good := newRig(t, f, nil, nil)
	f.Throttle = []githubfake.Answer{{Status: 502, Body: `{"message":"Server Error"}`}}
	err = good.e.Revoke(t.Context(), repoGrant("jdoe", "api", "pull"))
	if err == nil || latch.IsPermanent(err) || code(err) != CodeUnavailable {
		t.Errorf("revoke on a 502: %v, want a retryable %s", err, CodeUnavailable)
	}
	f.Throttle = []githubfake.Answer{{Status: 403, Body: `{"message":"Resource not accessible by personal access token","documentation_url":"https://docs.github.com/rest/collaborators/collaborators#add-a-repository-collaborator","status":"403"}`}}
	err = good.e.Revoke(t.Context(), repoGrant("jdoe", "api", "pull"))
	if !latch.IsPermanent(err) || code(err) != CodeForbidden || !strings.Contains(latch.ErrorMessageOf(err), "Administration") {
		t.Errorf("revoke forbidden: %v, want permanent %s naming the permission", err, CodeForbidden)
	}
}

// The login is found by a member's verified organisation email, across
// pages; an unknown email is ErrNotFound; credentials that may not read the
// emails give a permanent error naming the command that maps the login.
func TestLookupIdentity(t *testing.T) {
	f := githubfake.New(t)
	f.PageSize = 2
	for i := range 5 {
		f.Members[fmt.Sprintf("m%d", i)] = []string{fmt.Sprintf("m%d@acme.example", i)}
	}
	f.Members["xjane"] = []string{"jane.doe@acme.example", "jd@acme.example"}
	r := newRig(t, f, nil, nil)

	got, err := r.e.LookupIdentity(t.Context(), "JD@acme.example")
	if err != nil || got != "xjane" {
		t.Fatalf("lookup = %q, %v; want xjane", got, err)
	}
	if _, err := r.e.LookupIdentity(t.Context(), "who@acme.example"); !errors.Is(err, latch.ErrNotFound) {
		t.Errorf("unknown email: %v, want ErrNotFound", err)
	}
	if n := f.Count("POST /api/graphql"); n != 3+3 {
		t.Errorf("%d GraphQL pages, want every page read", n)
	}
	f.EmailsForbidden = true
	_, err = r.e.LookupIdentity(t.Context(), "jd@acme.example")
	if !latch.IsPermanent(err) || code(err) != CodeNoIdentity || !strings.Contains(latch.ErrorMessageOf(err), "latch users set-identity jd@acme.example github LOGIN") {
		t.Errorf("forbidden: %v", err)
	}
}

// A GitHub App signs a JWT, buys an installation token once and reuses it
// until near its expiry.
func TestGitHubApp(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	f := githubfake.New(t)
	now := time.Now()
	var mu sync.Mutex
	f.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f.Installation = &githubfake.App{ID: "4242", InstallationID: 77, Key: &key.PublicKey}
	f.Members["jdoe"] = nil
	f.Teams["oncall"] = map[string]githubfake.Membership{}
	// api_url as GitHub Enterprise Server's docs write it, with /api/v3/.
	cfg := map[string]any{"org": "acme", "app_id": 4242, "installation_id": 77, "private_key_env": "GH_APP_KEY", "api_url": f.URL + "/api/v3/"}
	// Kept on one line with \n, as in a JSON secret.
	r := newRig(t, f, cfg, map[string]string{"GH_APP_KEY": strings.ReplaceAll(string(pemKey), "\n", `\n`)})
	g := teamGrant("jdoe", "oncall")
	if err := r.e.Grant(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, r.e, g, true)
	if f.TokensMade != 1 {
		t.Errorf("%d installation tokens made, want 1 reused", f.TokensMade)
	}
	mu.Lock()
	now = now.Add(56 * time.Minute)
	mu.Unlock()
	mustCheck(t, r.e, g, true)
	if f.TokensMade != 2 {
		t.Errorf("%d installation tokens made, want a new one near expiry", f.TokensMade)
	}

	wrong := newRig(t, f, map[string]any{"org": "acme", "app_id": 4242, "installation_id": 78, "private_key_env": "GH_APP_KEY"},
		map[string]string{"GH_APP_KEY": string(pemKey)})
	if err := wrong.e.Grant(t.Context(), g); !latch.IsPermanent(err) || code(err) != CodeBadCredentials {
		t.Errorf("wrong installation: %v, want permanent %s", err, CodeBadCredentials)
	}
}

// Validate asks whether the repository or team exists.
func TestValidate(t *testing.T) {
	f := githubfake.New(t)
	f.Repos["api"] = map[string]string{}
	f.Teams["oncall"] = map[string]githubfake.Membership{}
	r := newRig(t, f, nil, nil)
	for _, tt := range []struct {
		settings map[string]any
		wantCode string
	}{
		{map[string]any{"repo": "api", "permission": "push"}, ""},
		{map[string]any{"team": "oncall"}, ""},
		{map[string]any{"repo": "nope", "permission": "push"}, CodeNotFound},
		{map[string]any{"team": "nope"}, CodeNotFound},
		{map[string]any{"repo": "api"}, CodeBadGrant},
	} {
		err := r.e.Validate(t.Context(), latch.Target{ID: "t", Settings: tt.settings})
		if tt.wantCode == "" {
			if err != nil {
				t.Errorf("%v: %v", tt.settings, err)
			}
			continue
		}
		if !latch.IsPermanent(err) || code(err) != tt.wantCode {
			t.Errorf("%v: %v, want permanent %s", tt.settings, err, tt.wantCode)
		}
	}
}

func TestGrantRefusesBadIdentity(t *testing.T) {
	f := githubfake.New(t)
	f.Repos["api"] = map[string]string{}
	r := newRig(t, f, nil, nil)
	for _, id := range []string{"", "../../orgs/acme", "jane doe"} {
		g := repoGrant("x", "api", "pull")
		g.User.Identity = id
		if err := r.e.Grant(t.Context(), g); !latch.IsPermanent(err) || code(err) != CodeBadGrant {
			t.Errorf("identity %q: %v, want permanent %s", id, err, CodeBadGrant)
		}
	}
	if n := f.Count(""); n != 0 {
		t.Errorf("%d calls to GitHub for bad identities", n)
	}
}

func TestValidateConfig(t *testing.T) {
	repo := func(settings map[string]any) []latch.Target { return []latch.Target{{ID: "t", Settings: settings}} }
	for _, tt := range []struct {
		name    string
		cfg     map[string]any
		targets []latch.Target
		wantErr string
	}{
		{"token", map[string]any{"org": "acme", "token_env": "GITHUB_TOKEN"}, repo(map[string]any{"repo": "api", "permission": "maintain"}), ""},
		{"app", map[string]any{"org": "acme", "app_id": 12, "installation_id": "34", "private_key_env": "K", "api_url": "https://ghe.example.com/api/v3/"}, repo(map[string]any{"team": "oncall"}), ""},
		{"no org", map[string]any{"token_env": "T"}, nil, "org is required"},
		{"no credentials", map[string]any{"org": "acme"}, nil, "token_env is required"},
		{"empty token_env", map[string]any{"org": "acme", "token_env": nil}, nil, "token_env is required"},
		{"both", map[string]any{"org": "acme", "token_env": "T", "app_id": 1, "installation_id": 2, "private_key_env": "K"}, nil, "not both"},
		{"app half", map[string]any{"org": "acme", "app_id": 1}, nil, "installation_id is required"},
		{"secret pasted", map[string]any{"org": "acme", "token_env": "github_pat_11AAAA-xyz"}, nil, "NAME of an environment variable"},
		{"unknown key", map[string]any{"org": "acme", "token_env": "T", "owner": "x"}, nil, `unknown key "owner"`},
		{"bad url", map[string]any{"org": "acme", "token_env": "T", "api_url": "ghe.example.com"}, nil, "api_url"},
		{"read", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{"repo": "api", "permission": "read"}), `calls it "pull"`},
		{"bad permission", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{"repo": "api", "permission": "owner"}), "not one of pull, triage, push, maintain, admin"},
		{"owner/repo", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{"repo": "acme/api", "permission": "push"}), "name alone"},
		{"no repo", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{"permission": "push"}), "settings.repo is required"},
		{"team name", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{"team": "Platform Oncall"}), `did you mean "platform-oncall"`},
		{"team and repo", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{"team": "x", "repo": "api"}), "not both"},
		{"empty", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{}), "needs settings repo and permission"},
		{"unknown setting", map[string]any{"org": "acme", "token_env": "T"}, repo(map[string]any{"team": "x", "role": "maintainer"}), `unknown setting "role"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateConfig(tt.cfg, tt.targets)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

// New reads the secret the config names and says which is missing.
func TestNewNeedsTheSecret(t *testing.T) {
	_, err := New(map[string]any{"org": "acme", "token_env": "GITHUB_TOKEN"}, func(string) (string, bool) { return "", false }, nil)
	if err == nil || !strings.Contains(err.Error(), "GITHUB_TOKEN") {
		t.Errorf("New without the token: %v, want an error naming GITHUB_TOKEN", err)
	}
	_, err = New(map[string]any{"org": "acme", "app_id": 1, "installation_id": 2, "private_key_env": "K"},
		func(string) (string, bool) { return "not a key", true }, nil)
	if err == nil || !strings.Contains(err.Error(), "PEM") || strings.Contains(err.Error(), "not a key") {
		t.Errorf("New with a bad key: %v, want an error that does not quote the value", err)
	}
}
