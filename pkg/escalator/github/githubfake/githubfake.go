// Package githubfake is a fake GitHub API for tests: GitHub Enterprise
// Server's paths (REST under /api/v3, GraphQL at /api/graphql), JSON
// shapes, Link pagination, rate-limit headers and error bodies, for the
// calls the github escalator makes. It holds one organisation. Its exported
// fields are its state: change them with the lock held (Lock, Unlock) while
// the server runs.
package githubfake

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHub is a GitHub Enterprise Server-shaped API (REST under /api/v3,
// GraphQL at /api/graphql) holding one organisation, speaking GitHub's wire
// format: its paths, JSON shapes, Link pagination, rate-limit headers and
// error bodies. Organisation members are added to a repository or team at
// once; anyone else is invited (201 with a RepositoryInvitation; a pending
// team membership), as GitHub does.
type GitHub struct {
	URL    string       // the server's root: the github strategy's api_url
	Client *http.Client // a client for it

	sync.Mutex
	Org    string
	Tokens map[string]bool // bearer tokens GitHub accepts
	// Members: the organisation's members (login → verified emails on its
	// verified domains).
	Members map[string][]string
	// Repos: name → direct collaborators (login → pull/triage/push/maintain/admin).
	Repos map[string]map[string]string
	// TeamAccess: repo → login → permission through a team (shown only
	// without affiliation=direct).
	TeamAccess  map[string]map[string]string
	Invitations map[string][]Invitation
	Teams       map[string]map[string]Membership
	// HiddenRepos, HiddenTeams: repositories and teams (by name, slug) that
	// exist but the token cannot see: every endpoint of theirs answers 404,
	// as GitHub does for a GitHub App or fine-grained token not given the
	// repository, or a secret team.
	HiddenRepos map[string]bool
	HiddenTeams map[string]bool
	nextID      int64
	PageSize    int // the most one page holds, whatever per_page asks (0: per_page)
	// AsyncCancel: removing a collaborator leaves their invitation pending
	// (GitHub cancels it in the background).
	AsyncCancel bool
	// Throttle: answers given, in order, before any other handling.
	Throttle []Answer
	// EmailsForbidden: GraphQL refuses organizationVerifiedDomainEmails.
	EmailsForbidden bool
	// Installation: a GitHub App's installation, when set.
	Installation *App
	calls        []string // "METHOD path" of every call
	TokensMade   int      // installation tokens made
	Now          func() time.Time
}

// Invitation is a pending repository invitation.
type Invitation struct {
	ID         int64
	Login      string
	Permission string // read, triage, write, maintain, admin
}

// Membership is a team membership: role member or maintainer, state active
// or pending.
type Membership struct{ Role, State string }

// Answer is a canned answer (a rate limit, a 5xx).
type Answer struct {
	Status int
	Header map[string]string
	Body   string
}

// App is a GitHub App's installation: its id (the JWT's issuer), the
// installation's id and the App's public key.
type App struct {
	ID             string
	InstallationID int64
	Key            *rsa.PublicKey
}

// New starts a fake GitHub on 127.0.0.1 (stopped when the test ends) for
// organisation acme, accepting the token github_pat_good.
func New(t testing.TB) *GitHub {
	f := &GitHub{Org: "acme", Tokens: map[string]bool{"github_pat_good": true},
		Members: map[string][]string{}, Repos: map[string]map[string]string{}, TeamAccess: map[string]map[string]string{},
		Invitations: map[string][]Invitation{}, Teams: map[string]map[string]Membership{},
		HiddenRepos: map[string]bool{}, HiddenTeams: map[string]bool{}, nextID: 100, Now: time.Now}
	mux := http.NewServeMux()
	api := "/api/v3"
	mux.HandleFunc("GET "+api+"/repos/{owner}/{repo}", f.getRepo)
	mux.HandleFunc("GET "+api+"/repos/{owner}/{repo}/collaborators", f.listCollaborators)
	mux.HandleFunc("PUT "+api+"/repos/{owner}/{repo}/collaborators/{user}", f.addCollaborator)
	mux.HandleFunc("DELETE "+api+"/repos/{owner}/{repo}/collaborators/{user}", f.removeCollaborator)
	mux.HandleFunc("GET "+api+"/repos/{owner}/{repo}/invitations", f.listInvitations)
	mux.HandleFunc("DELETE "+api+"/repos/{owner}/{repo}/invitations/{id}", f.deleteInvitation)
	mux.HandleFunc("GET "+api+"/orgs/{org}/teams/{slug}", f.getTeam)
	mux.HandleFunc("GET "+api+"/orgs/{org}/teams/{slug}/memberships/{user}", f.getMembership)
	mux.HandleFunc("PUT "+api+"/orgs/{org}/teams/{slug}/memberships/{user}", f.putMembership)
	mux.HandleFunc("DELETE "+api+"/orgs/{org}/teams/{slug}/memberships/{user}", f.deleteMembership)
	mux.HandleFunc("POST "+api+"/app/installations/{id}/access_tokens", f.accessToken)
	mux.HandleFunc("POST /api/graphql", f.graphql)
	srv := httptest.NewServer(f.gate(mux))
	t.Cleanup(srv.Close)
	f.URL, f.Client = srv.URL, srv.Client()
	return f
}

// gate records the call, gives any queued throttle answer, and checks the
// bearer token, as GitHub does before routing.
func (f *GitHub) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		var ans *Answer
		if len(f.Throttle) > 0 {
			ans = &f.Throttle[0]
			f.Throttle = f.Throttle[1:]
		}
		app := f.Installation
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		ok := f.Tokens[auth]
		f.Unlock()
		w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Resource", "core")
		if ans != nil {
			for k, v := range ans.Header {
				w.Header().Set(k, v)
			}
			writeJSON(w, ans.Status, json.RawMessage(ans.Body))
			return
		}
		if strings.HasSuffix(r.URL.Path, "/access_tokens") && app != nil {
			if !f.validJWT(auth, app) {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest"})
				return
			}
		} else if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
			return
		}
		w.Header().Set("X-RateLimit-Remaining", "4999")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(f.Now().Add(time.Hour).Unix(), 10))
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
}

func (f *GitHub) repo(w http.ResponseWriter, r *http.Request) (string, map[string]string, bool) {
	name := r.PathValue("repo")
	c, ok := f.Repos[name]
	if r.PathValue("owner") != f.Org || !ok || f.HiddenRepos[name] {
		notFound(w)
		return "", nil, false
	}
	return name, c, true
}

func (f *GitHub) repoJSON(name string) map[string]any {
	return map[string]any{"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name, "full_name": f.Org + "/" + name,
		"private": true, "owner": map[string]any{"login": f.Org, "id": 9919, "type": "Organization"},
		"html_url": "https://github.example.com/" + f.Org + "/" + name}
}

func userJSON(login string) map[string]any {
	return map[string]any{"login": login, "id": len(login) * 1000, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false,
		"html_url": "https://github.example.com/" + login}
}

// Permissions are GitHub's repository permissions, weakest first.
var Permissions = []string{"pull", "triage", "push", "maintain", "admin"}

func rank(p string) int { return slices.Index(Permissions, p) + 1 }

// permissions is the permissions object and role_name of a collaborator.
func permissions(p string) (map[string]bool, string) {
	r := slices.Index(Permissions, p) + 1
	perms := map[string]bool{}
	for i, name := range Permissions {
		perms[name] = r >= i+1
	}
	role := map[string]string{"pull": "read", "push": "write"}[p]
	if role == "" {
		role = p
	}
	return perms, role
}

func (f *GitHub) getRepo(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	if name, _, ok := f.repo(w, r); ok {
		writeJSON(w, http.StatusOK, f.repoJSON(name))
	}
}

func (f *GitHub) listCollaborators(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	name, direct, ok := f.repo(w, r)
	if !ok {
		return
	}
	all := map[string]string{}
	if aff := r.URL.Query().Get("affiliation"); aff != "direct" && aff != "outside" {
		for l, p := range f.TeamAccess[name] {
			all[l] = p
		}
	}
	for l, p := range direct {
		if rank(p) > rank(all[l]) {
			all[l] = p
		}
	}
	var list []any
	for _, l := range sortedKeys((all)) {
		u := userJSON(l)
		u["permissions"], u["role_name"] = permissions(all[l])
		list = append(list, u)
	}
	f.page(w, r, list)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// page answers one page of list (page and per_page, default 30, at most
// 100), with GitHub's Link header.
func (f *GitHub) page(w http.ResponseWriter, r *http.Request, list []any) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	if f.PageSize > 0 {
		per = min(per, f.PageSize)
	}
	n, _ := strconv.Atoi(q.Get("page"))
	n = max(n, 1)
	last := max((len(list)+per-1)/per, 1)
	start, end := min((n-1)*per, len(list)), min(n*per, len(list))
	link := func(p int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		v := r.URL.Query()
		v.Set("page", strconv.Itoa(p))
		u.RawQuery = v.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if n > 1 {
		links = append(links, link(n-1, "prev"), link(1, "first"))
	}
	if n < last {
		links = append(links, link(n+1, "next"), link(last, "last"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	out := list[start:end]
	if out == nil {
		out = []any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func invitationPermission(p string) string {
	if s, ok := map[string]string{"pull": "read", "push": "write"}[p]; ok {
		return s
	}
	return p
}

func (f *GitHub) addCollaborator(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	name, direct, ok := f.repo(w, r)
	if !ok {
		return
	}
	var body struct {
		Permission string `json:"permission"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if body.Permission == "" {
		body.Permission = "push"
	}
	if !slices.Contains(Permissions, body.Permission) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
			"errors": []any{map[string]string{"resource": "Repository", "field": "permission", "code": "invalid"}}})
		return
	}
	user := r.PathValue("user")
	if strings.HasPrefix(user, "ghost") {
		notFound(w)
		return
	}
	if _, member := f.Members[user]; member || direct[user] != "" {
		direct[user] = body.Permission
		w.WriteHeader(http.StatusNoContent)
		return
	}
	invs := f.Invitations[name]
	for i := range invs {
		if invs[i].Login == user {
			invs[i].Permission = invitationPermission(body.Permission)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	f.nextID++
	inv := Invitation{ID: f.nextID, Login: user, Permission: invitationPermission(body.Permission)}
	f.Invitations[name] = append(invs, inv)
	writeJSON(w, http.StatusCreated, f.invitationJSON(name, inv))
}

func (f *GitHub) invitationJSON(repo string, inv Invitation) map[string]any {
	return map[string]any{"id": inv.ID, "node_id": "MDEwOlJlcG9JbnZpdGF0aW9uMQ==", "repository": f.repoJSON(repo),
		"invitee": userJSON(inv.Login), "inviter": userJSON("latch-bot"), "permissions": inv.Permission,
		"created_at": "2026-11-30T10:00:00Z", "expired": false,
		"url":      fmt.Sprintf("https://github.example.com/api/v3/user/repository_invitations/%d", inv.ID),
		"html_url": "https://github.example.com/" + f.Org + "/" + repo + "/invitations"}
}

func (f *GitHub) removeCollaborator(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	name, direct, ok := f.repo(w, r)
	if !ok {
		return
	}
	user := r.PathValue("user")
	delete(direct, user)
	if !f.AsyncCancel {
		f.Invitations[name] = slices.DeleteFunc(f.Invitations[name], func(i Invitation) bool { return i.Login == user })
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *GitHub) listInvitations(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	name, _, ok := f.repo(w, r)
	if !ok {
		return
	}
	var list []any
	for _, inv := range f.Invitations[name] {
		list = append(list, f.invitationJSON(name, inv))
	}
	f.page(w, r, list)
}

func (f *GitHub) deleteInvitation(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	name, _, ok := f.repo(w, r)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	before := len(f.Invitations[name])
	f.Invitations[name] = slices.DeleteFunc(f.Invitations[name], func(i Invitation) bool { return i.ID == id })
	if len(f.Invitations[name]) == before {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *GitHub) team(w http.ResponseWriter, r *http.Request) (map[string]Membership, bool) {
	m, ok := f.Teams[r.PathValue("slug")]
	if r.PathValue("org") != f.Org || !ok || f.HiddenTeams[r.PathValue("slug")] {
		notFound(w)
		return nil, false
	}
	return m, true
}

func (f *GitHub) getTeam(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	if _, ok := f.team(w, r); ok {
		slug := r.PathValue("slug")
		writeJSON(w, http.StatusOK, map[string]any{"id": 1, "node_id": "MDQ6VGVhbTE=", "name": slug, "slug": slug,
			"privacy": "closed", "permission": "pull", "organization": map[string]any{"login": f.Org}})
	}
}

func (f *GitHub) membershipJSON(r *http.Request, m Membership) map[string]any {
	return map[string]any{"url": fmt.Sprintf("https://github.example.com/api/v3/organizations/1/team/1/memberships/%s", r.PathValue("user")),
		"role": m.Role, "state": m.State}
}

func (f *GitHub) getMembership(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	team, ok := f.team(w, r)
	if !ok {
		return
	}
	m, ok := team[r.PathValue("user")]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, f.membershipJSON(r, m))
}

func (f *GitHub) putMembership(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	team, ok := f.team(w, r)
	if !ok {
		return
	}
	var body struct {
		Role string `json:"role"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	if body.Role == "" {
		body.Role = "member"
	}
	user := r.PathValue("user")
	if strings.HasPrefix(user, "ghost") {
		notFound(w)
		return
	}
	m := Membership{Role: body.Role, State: "pending"}
	if _, member := f.Members[user]; member {
		m.State = "active"
	}
	if old, ok := team[user]; ok {
		m.State = old.State
	}
	team[user] = m
	writeJSON(w, http.StatusOK, f.membershipJSON(r, m))
}

func (f *GitHub) deleteMembership(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	team, ok := f.team(w, r)
	if !ok {
		return
	}
	user := r.PathValue("user")
	if _, ok := team[user]; !ok {
		notFound(w)
		return
	}
	delete(team, user)
	w.WriteHeader(http.StatusNoContent)
}

// validJWT checks an App JWT: RS256 over header.claims with the App's key,
// iss the App's id, not expired, lifetime at most ten minutes.
func (f *GitHub) validJWT(tok string, app *App) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(app.Key, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Iat, Exp int64
		Iss      string
	}
	if json.Unmarshal(raw, &c) != nil {
		return false
	}
	now := f.Now().Unix()
	return c.Iss == app.ID && c.Iat <= now && c.Exp > now && c.Exp-c.Iat <= 600
}

func (f *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	if f.Installation == nil || r.PathValue("id") != strconv.FormatInt(f.Installation.InstallationID, 10) {
		notFound(w)
		return
	}
	f.TokensMade++
	tok := fmt.Sprintf("ghs_installation%d", f.TokensMade)
	f.Tokens[tok] = true
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": f.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"permissions": map[string]string{"administration": "write", "members": "write"}, "repository_selection": "all"})
}

var firstArg = regexp.MustCompile(`membersWithRole\(first:\s*(\d+)`)

func (f *GitHub) graphql(w http.ResponseWriter, r *http.Request) {
	f.Lock()
	defer f.Unlock()
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if req.Variables["org"] != f.Org {
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"organization": nil},
			"errors": []any{map[string]any{"type": "NOT_FOUND", "path": []string{"organization"},
				"message": fmt.Sprintf("Could not resolve to an Organization with the login of '%v'.", req.Variables["org"])}}})
		return
	}
	if f.EmailsForbidden {
		writeJSON(w, http.StatusOK, map[string]any{"data": nil, "errors": []any{map[string]any{"type": "FORBIDDEN",
			"path":    []any{"organization", "membersWithRole", "nodes", 0, "organizationVerifiedDomainEmails"},
			"message": "Resource not accessible by personal access token"}}})
		return
	}
	first := 100
	if m := firstArg.FindStringSubmatch(req.Query); m != nil {
		first, _ = strconv.Atoi(m[1])
	}
	if f.PageSize > 0 {
		first = min(first, f.PageSize)
	}
	logins := sortedKeys((f.Members))
	start := 0
	if after, ok := req.Variables["after"].(string); ok {
		n, err := strconv.Atoi(strings.TrimPrefix(after, "cursor:"))
		if err != nil {
			writeJSON(w, http.StatusOK, map[string]any{"data": nil, "errors": []any{map[string]any{"message": "`" + after + "` does not appear to be a valid cursor."}}})
			return
		}
		start = n
	}
	end := min(start+first, len(logins))
	var nodes []any
	for _, l := range logins[start:end] {
		emails := f.Members[l]
		if emails == nil {
			emails = []string{}
		}
		nodes = append(nodes, map[string]any{"login": l, "organizationVerifiedDomainEmails": emails})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"organization": map[string]any{"membersWithRole": map[string]any{
		"pageInfo": map[string]any{"hasNextPage": end < len(logins), "endCursor": fmt.Sprintf("cursor:%d", end)},
		"nodes":    nodes,
	}}}})
}

// Count is how many calls were "METHOD path-prefix…".
func (f *GitHub) Count(prefix string) int {
	f.Lock()
	defer f.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}
