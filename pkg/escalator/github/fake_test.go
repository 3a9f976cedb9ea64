package github

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

// fakeGitHub is a GitHub Enterprise Server-shaped API (REST under /api/v3,
// GraphQL at /api/graphql) holding one organisation, speaking GitHub's wire
// format: its paths, JSON shapes, Link pagination, rate-limit headers and
// error bodies. Organisation members are added to a repository or team at
// once; anyone else is invited (201 with a RepositoryInvitation; a pending
// team membership), as GitHub does.
type fakeGitHub struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	org     string
	tokens  map[string]bool // bearer tokens GitHub accepts
	members map[string][]string
	// repos: name → direct collaborators (login → pull/triage/push/maintain/admin).
	repos map[string]map[string]string
	// teamAccess: repo → login → permission through a team (shown only
	// without affiliation=direct).
	teamAccess  map[string]map[string]string
	invitations map[string][]fakeInvitation
	teams       map[string]map[string]fakeMembership
	nextID      int64
	pageSize    int // the most one page holds, whatever per_page asks (0: per_page)
	// asyncCancel: removing a collaborator leaves their invitation pending
	// (GitHub cancels it in the background).
	asyncCancel bool
	// throttle: answers given, in order, before any other handling.
	throttle []fakeAnswer
	// emailsForbidden: GraphQL refuses organizationVerifiedDomainEmails.
	emailsForbidden bool
	// app: a GitHub App's installation, when set.
	app       *fakeApp
	calls     []string // "METHOD path" of every call
	tokenMade int
	now       func() time.Time
}

type fakeInvitation struct {
	ID         int64
	Login      string
	Permission string // read, triage, write, maintain, admin
}

type fakeMembership struct{ Role, State string }

type fakeAnswer struct {
	Status int
	Header map[string]string
	Body   string
}

type fakeApp struct {
	ID             string
	InstallationID int64
	Key            *rsa.PublicKey
}

func newFakeGitHub(t testing.TB) *fakeGitHub {
	f := &fakeGitHub{t: t, org: "acme", tokens: map[string]bool{"github_pat_good": true},
		members: map[string][]string{}, repos: map[string]map[string]string{}, teamAccess: map[string]map[string]string{},
		invitations: map[string][]fakeInvitation{}, teams: map[string]map[string]fakeMembership{}, nextID: 100, now: time.Now}
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
	f.srv = httptest.NewServer(f.gate(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// gate records the call, gives any queued throttle answer, and checks the
// bearer token, as GitHub does before routing.
func (f *fakeGitHub) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		var ans *fakeAnswer
		if len(f.throttle) > 0 {
			ans = &f.throttle[0]
			f.throttle = f.throttle[1:]
		}
		app := f.app
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		ok := f.tokens[auth]
		f.mu.Unlock()
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
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(f.now().Add(time.Hour).Unix(), 10))
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

func (f *fakeGitHub) repo(w http.ResponseWriter, r *http.Request) (string, map[string]string, bool) {
	name := r.PathValue("repo")
	c, ok := f.repos[name]
	if r.PathValue("owner") != f.org || !ok {
		notFound(w)
		return "", nil, false
	}
	return name, c, true
}

func (f *fakeGitHub) repoJSON(name string) map[string]any {
	return map[string]any{"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name, "full_name": f.org + "/" + name,
		"private": true, "owner": map[string]any{"login": f.org, "id": 9919, "type": "Organization"},
		"html_url": "https://github.example.com/" + f.org + "/" + name}
}

func userJSON(login string) map[string]any {
	return map[string]any{"login": login, "id": len(login) * 1000, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false,
		"html_url": "https://github.example.com/" + login}
}

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

func (f *fakeGitHub) getRepo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name, _, ok := f.repo(w, r); ok {
		writeJSON(w, http.StatusOK, f.repoJSON(name))
	}
}

func (f *fakeGitHub) listCollaborators(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, direct, ok := f.repo(w, r)
	if !ok {
		return
	}
	all := map[string]string{}
	if aff := r.URL.Query().Get("affiliation"); aff != "direct" && aff != "outside" {
		for l, p := range f.teamAccess[name] {
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
func (f *fakeGitHub) page(w http.ResponseWriter, r *http.Request, list []any) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	if f.pageSize > 0 {
		per = min(per, f.pageSize)
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

func (f *fakeGitHub) addCollaborator(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
	if _, member := f.members[user]; member || direct[user] != "" {
		direct[user] = body.Permission
		w.WriteHeader(http.StatusNoContent)
		return
	}
	invs := f.invitations[name]
	for i := range invs {
		if invs[i].Login == user {
			invs[i].Permission = invitationPermission(body.Permission)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	f.nextID++
	inv := fakeInvitation{ID: f.nextID, Login: user, Permission: invitationPermission(body.Permission)}
	f.invitations[name] = append(invs, inv)
	writeJSON(w, http.StatusCreated, f.invitationJSON(name, inv))
}

func (f *fakeGitHub) invitationJSON(repo string, inv fakeInvitation) map[string]any {
	return map[string]any{"id": inv.ID, "node_id": "MDEwOlJlcG9JbnZpdGF0aW9uMQ==", "repository": f.repoJSON(repo),
		"invitee": userJSON(inv.Login), "inviter": userJSON("latch-bot"), "permissions": inv.Permission,
		"created_at": "2026-11-30T10:00:00Z", "expired": false,
		"url":      fmt.Sprintf("https://github.example.com/api/v3/user/repository_invitations/%d", inv.ID),
		"html_url": "https://github.example.com/" + f.org + "/" + repo + "/invitations"}
}

func (f *fakeGitHub) removeCollaborator(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, direct, ok := f.repo(w, r)
	if !ok {
		return
	}
	user := r.PathValue("user")
	delete(direct, user)
	if !f.asyncCancel {
		f.invitations[name] = slices.DeleteFunc(f.invitations[name], func(i fakeInvitation) bool { return i.Login == user })
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeGitHub) listInvitations(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, _, ok := f.repo(w, r)
	if !ok {
		return
	}
	var list []any
	for _, inv := range f.invitations[name] {
		list = append(list, f.invitationJSON(name, inv))
	}
	f.page(w, r, list)
}

func (f *fakeGitHub) deleteInvitation(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, _, ok := f.repo(w, r)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	before := len(f.invitations[name])
	f.invitations[name] = slices.DeleteFunc(f.invitations[name], func(i fakeInvitation) bool { return i.ID == id })
	if len(f.invitations[name]) == before {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeGitHub) team(w http.ResponseWriter, r *http.Request) (map[string]fakeMembership, bool) {
	m, ok := f.teams[r.PathValue("slug")]
	if r.PathValue("org") != f.org || !ok {
		notFound(w)
		return nil, false
	}
	return m, true
}

func (f *fakeGitHub) getTeam(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.team(w, r); ok {
		slug := r.PathValue("slug")
		writeJSON(w, http.StatusOK, map[string]any{"id": 1, "node_id": "MDQ6VGVhbTE=", "name": slug, "slug": slug,
			"privacy": "closed", "permission": "pull", "organization": map[string]any{"login": f.org}})
	}
}

func (f *fakeGitHub) membershipJSON(r *http.Request, m fakeMembership) map[string]any {
	return map[string]any{"url": fmt.Sprintf("https://github.example.com/api/v3/organizations/1/team/1/memberships/%s", r.PathValue("user")),
		"role": m.Role, "state": m.State}
}

func (f *fakeGitHub) getMembership(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
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

func (f *fakeGitHub) putMembership(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
	m := fakeMembership{Role: body.Role, State: "pending"}
	if _, member := f.members[user]; member {
		m.State = "active"
	}
	if old, ok := team[user]; ok {
		m.State = old.State
	}
	team[user] = m
	writeJSON(w, http.StatusOK, f.membershipJSON(r, m))
}

func (f *fakeGitHub) deleteMembership(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
func (f *fakeGitHub) validJWT(tok string, app *fakeApp) bool {
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
	now := f.now().Unix()
	return c.Iss == app.ID && c.Iat <= now && c.Exp > now && c.Exp-c.Iat <= 600
}

func (f *fakeGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.app == nil || r.PathValue("id") != strconv.FormatInt(f.app.InstallationID, 10) {
		notFound(w)
		return
	}
	f.tokenMade++
	tok := fmt.Sprintf("ghs_installation%d", f.tokenMade)
	f.tokens[tok] = true
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": f.now().Add(time.Hour).UTC().Format(time.RFC3339),
		"permissions": map[string]string{"administration": "write", "members": "write"}, "repository_selection": "all"})
}

var firstArg = regexp.MustCompile(`membersWithRole\(first:\s*(\d+)`)

func (f *fakeGitHub) graphql(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if req.Variables["org"] != f.org {
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"organization": nil},
			"errors": []any{map[string]any{"type": "NOT_FOUND", "path": []string{"organization"},
				"message": fmt.Sprintf("Could not resolve to an Organization with the login of '%v'.", req.Variables["org"])}}})
		return
	}
	if f.emailsForbidden {
		writeJSON(w, http.StatusOK, map[string]any{"data": nil, "errors": []any{map[string]any{"type": "FORBIDDEN",
			"path":    []any{"organization", "membersWithRole", "nodes", 0, "organizationVerifiedDomainEmails"},
			"message": "Resource not accessible by personal access token"}}})
		return
	}
	first := 100
	if m := firstArg.FindStringSubmatch(req.Query); m != nil {
		first, _ = strconv.Atoi(m[1])
	}
	if f.pageSize > 0 {
		first = min(first, f.pageSize)
	}
	logins := sortedKeys((f.members))
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
		emails := f.members[l]
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

// count is how many calls were "METHOD path-prefix…".
func (f *fakeGitHub) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}
