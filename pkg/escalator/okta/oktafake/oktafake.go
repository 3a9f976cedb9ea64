// Package oktafake is an in-memory Okta org speaking the Management API's
// wire format, for tests: the paths the okta escalator calls (group
// membership PUT and DELETE, a user's groups with Link pagination, a group,
// the user search), SSWS and Bearer authorization with Okta's 401 and 403
// error bodies, X-Rate-Limit-* headers on every answer and 429 when a
// window's budget is spent, and the OAuth 2.0 token endpoint checking a
// private_key_jwt client assertion.
package oktafake

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// Group is an Okta group.
type Group struct {
	ID, Type, Name string
}

// User is an Okta user.
type User struct {
	ID, Status, Login, Email string
}

// Okta is a fake org. Set its fields before serving; use its methods after.
type Okta struct {
	// Token is the SSWS API token accepted.
	Token string
	// ReadOnlyToken is an SSWS token accepted for GETs only: a change
	// answers 403 E0000006.
	ReadOnlyToken string
	// ClientID and PublicKey are an OAuth 2.0 service app: the token
	// endpoint accepts its client assertions.
	ClientID  string
	PublicKey *rsa.PublicKey
	// TokenTTL is the access tokens' lifetime (default an hour).
	TokenTTL time.Duration
	// PageSize is the largest page of a list (default 200); a request's
	// limit below it wins.
	PageSize int
	// Limit is each bucket's budget per minute (default 600).
	Limit int
	// Now is the fake's clock (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	url       string
	groups    map[string]Group
	users     map[string]User
	members   map[string][]string // user → group ids, in the order added
	windows   map[string]*window
	throttled int
	calls     []string
	access    map[string]time.Time // access token → expiry
	seenJTI   map[string]bool
	issued    int
}

type window struct {
	end  time.Time
	used int
}

// New returns an empty fake org accepting the SSWS token.
func New(token string) *Okta {
	return &Okta{Token: token}
}

// Serve starts f on 127.0.0.1 until the test ends and returns its URL.
func Serve(tb testing.TB, f *Okta) string {
	tb.Helper()
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	f.mu.Lock()
	f.url = srv.URL
	f.mu.Unlock()
	return srv.URL
}

// AddGroup adds a group.
func (f *Okta) AddGroup(g Group) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	if g.Type == "" {
		g.Type = "OKTA_GROUP"
	}
	f.groups[g.ID] = g
}

// AddUser adds a user.
func (f *Okta) AddUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	if u.Status == "" {
		u.Status = "ACTIVE"
	}
	f.users[u.ID] = u
}

// AddMember puts a user in a group, as an admin would.
func (f *Okta) AddMember(groupID, userID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	if !slices.Contains(f.members[userID], groupID) {
		f.members[userID] = append(f.members[userID], groupID)
	}
}

// Member reports whether a user is in a group.
func (f *Okta) Member(groupID, userID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.members[userID], groupID)
}

// Throttled is how many 429s the fake has answered.
func (f *Okta) Throttled() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.throttled
}

// Calls lists the calls made, as "METHOD /path?query".
func (f *Okta) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// TokensIssued is how many access tokens the token endpoint has issued.
func (f *Okta) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

// ExpireAccessTokens makes every access token issued so far invalid.
func (f *Okta) ExpireAccessTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.access)
}

func (f *Okta) init() {
	if f.groups == nil {
		f.groups, f.users, f.members = map[string]Group{}, map[string]User{}, map[string][]string{}
		f.windows, f.access, f.seenJTI = map[string]*window{}, map[string]time.Time{}, map[string]bool{}
	}
}

func (f *Okta) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

var (
	membershipPath = regexp.MustCompile(`^/api/v1/groups/([^/]+)/users/([^/]+)$`)
	groupPath      = regexp.MustCompile(`^/api/v1/groups/([^/]+)$`)
	userGroupsPath = regexp.MustCompile(`^/api/v1/users/([^/]+)/groups$`)
	searchExpr     = regexp.MustCompile(`^(profile\.login|profile\.email) eq "((?:[^"\\]|\\.)*)"$`)
	escaped        = regexp.MustCompile(`\\(.)`)
	idSegment      = regexp.MustCompile(`/[0-9A-Za-z]{15,}`)
)

func (f *Okta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
	w.Header().Set("Date", f.now().UTC().Format(http.TimeFormat))
	if r.URL.Path == "/oauth2/v1/token" {
		f.token(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v1/") {
		f.fail(w, http.StatusNotFound, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	readOnly, ok := f.authorized(r)
	if !ok {
		f.fail(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return
	}
	if !f.rateLimit(w, r) {
		return
	}
	if readOnly && r.Method != http.MethodGet {
		f.fail(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return
	}
	switch m := membershipPath.FindStringSubmatch(r.URL.Path); {
	case m != nil && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		f.membership(w, r, m[1], m[2])
		return
	}
	if m := groupPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		g, ok := f.groups[m[1]]
		if !ok {
			f.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+m[1]+" (UserGroup)")
			return
		}
		f.json(w, http.StatusOK, f.groupJSON(g))
		return
	}
	if m := userGroupsPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		if _, ok := f.users[m[1]]; !ok {
			f.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+m[1]+" (User)")
			return
		}
		var all []any
		var ids []string
		for _, gid := range f.members[m[1]] {
			all = append(all, f.groupJSON(f.groups[gid]))
			ids = append(ids, gid)
		}
		f.page(w, r, all, ids)
		return
	}
	if r.URL.Path == "/api/v1/users" && r.Method == http.MethodGet {
		f.search(w, r)
		return
	}
	f.fail(w, http.StatusNotFound, "E0000022", "The endpoint does not support the provided HTTP method")
}

// authorized checks the Authorization header: SSWS with Token or
// ReadOnlyToken, or Bearer with an unexpired access token.
func (f *Okta) authorized(r *http.Request) (readOnly, ok bool) {
	h := r.Header.Get("Authorization")
	switch {
	case f.Token != "" && h == "SSWS "+f.Token:
		return false, true
	case f.ReadOnlyToken != "" && h == "SSWS "+f.ReadOnlyToken:
		return true, true
	case strings.HasPrefix(h, "Bearer "):
		exp, ok := f.access[strings.TrimPrefix(h, "Bearer ")]
		return false, ok && f.now().Before(exp)
	}
	return false, false
}

// rateLimit counts the call in its bucket (method and path shape) and sets
// the X-Rate-Limit-* headers; when the window's budget is spent it answers
// 429 and returns false.
func (f *Okta) rateLimit(w http.ResponseWriter, r *http.Request) bool {
	limit := f.Limit
	if limit <= 0 {
		limit = 600
	}
	bucket := r.Method + " " + idSegment.ReplaceAllString(r.URL.Path, "/{id}")
	now := f.now()
	win := f.windows[bucket]
	if win == nil || !now.Before(win.end) {
		win = &window{end: now.Truncate(time.Minute).Add(time.Minute)}
		f.windows[bucket] = win
	}
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(win.end.Unix(), 10))
	if win.used >= limit {
		f.throttled++
		h.Set("X-Rate-Limit-Remaining", "0")
		f.fail(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		return false
	}
	win.used++
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(limit-win.used))
	return true
}

// Spend uses up the budget of the bucket of method on a path shaped like
// path (ids replaced), as other callers of the org would.
func (f *Okta) Spend(method, path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	limit := f.Limit
	if limit <= 0 {
		limit = 600
	}
	bucket := method + " " + idSegment.ReplaceAllString(path, "/{id}")
	now := f.now()
	f.windows[bucket] = &window{end: now.Truncate(time.Minute).Add(time.Minute), used: limit}
}

func (f *Okta) membership(w http.ResponseWriter, r *http.Request, gid, uid string) {
	g, gok := f.groups[gid]
	if !gok {
		f.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+gid+" (UserGroup)")
		return
	}
	if _, ok := f.users[uid]; !ok {
		f.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+uid+" (User)")
		return
	}
	if g.Type != "OKTA_GROUP" {
		f.fail(w, http.StatusBadRequest, "E0000060", "Unsupported operation.")
		return
	}
	switch r.Method {
	case http.MethodPut:
		if !slices.Contains(f.members[uid], gid) {
			f.members[uid] = append(f.members[uid], gid)
		}
	case http.MethodDelete:
		i := slices.Index(f.members[uid], gid)
		if i < 0 {
			// Okta answers 404 for a membership that is not there.
			f.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+uid+" (GroupMembership)")
			return
		}
		f.members[uid] = slices.Delete(f.members[uid], i, i+1)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Okta) search(w http.ResponseWriter, r *http.Request) {
	m := searchExpr.FindStringSubmatch(r.URL.Query().Get("search"))
	if m == nil {
		f.fail(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.")
		return
	}
	value := escaped.ReplaceAllString(m[2], "$1")
	var ids []string
	for id, u := range f.users {
		if (m[1] == "profile.login" && strings.EqualFold(u.Login, value)) || (m[1] == "profile.email" && strings.EqualFold(u.Email, value)) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	all := make([]any, len(ids))
	for i, id := range ids {
		all[i] = f.userJSON(f.users[id])
	}
	f.page(w, r, all, ids)
}

// page answers one page of items (whose ids are ids, in order), starting
// after the query's after and at most its limit long, with a Link
// rel="self" and, when more follow, rel="next".
func (f *Okta) page(w http.ResponseWriter, r *http.Request, items []any, ids []string) {
	size := f.PageSize
	if size <= 0 {
		size = 200
	}
	q := r.URL.Query()
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n < size {
		size = n
	}
	start := 0
	if after := q.Get("after"); after != "" {
		start = slices.Index(ids, after) + 1
	}
	end := min(start+size, len(items))
	self := f.url + r.URL.Path + "?" + q.Encode()
	w.Header().Add("Link", "<"+self+`>; rel="self"`)
	if end < len(items) {
		nq := url.Values{"after": {ids[end-1]}, "limit": {strconv.Itoa(size)}}
		if s := q.Get("search"); s != "" {
			nq.Set("search", s)
		}
		w.Header().Add("Link", "<"+f.url+r.URL.Path+"?"+nq.Encode()+`>; rel="next"`)
	}
	out := items[start:end]
	if out == nil {
		out = []any{}
	}
	f.json(w, http.StatusOK, out)
}

func (f *Okta) groupJSON(g Group) map[string]any {
	return map[string]any{
		"id": g.ID, "created": "2024-01-10T09:00:00.000Z", "lastUpdated": "2024-01-10T09:00:00.000Z",
		"lastMembershipUpdated": "2024-01-10T09:00:00.000Z", "objectClass": []string{"okta:user_group"},
		"type": g.Type, "profile": map[string]any{"name": g.Name, "description": nil},
		"_links": map[string]any{"users": map[string]string{"href": f.url + "/api/v1/groups/" + g.ID + "/users"}},
	}
}

func (f *Okta) userJSON(u User) map[string]any {
	return map[string]any{
		"id": u.ID, "status": u.Status, "created": "2024-01-10T09:00:00.000Z", "activated": nil,
		"profile": map[string]any{"login": u.Login, "email": u.Email, "firstName": "Test", "lastName": "User"},
		"_links":  map[string]any{"self": map[string]string{"href": f.url + "/api/v1/users/" + u.ID}},
	}
}

func (f *Okta) json(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers Okta's error body.
func (f *Okta) fail(w http.ResponseWriter, status int, code, summary string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `SSWS realm="api"`)
	}
	f.json(w, status, map[string]any{"errorCode": code, "errorSummary": summary, "errorLink": code,
		"errorId": fmt.Sprintf("oae%013d", len(f.calls)), "errorCauses": []any{}})
}

// token is POST /oauth2/v1/token: the client credentials grant with a
// private_key_jwt client assertion.
func (f *Okta) token(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(status int, code, desc string) {
		f.json(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		oauthErr(http.StatusBadRequest, "invalid_request", "The request must be a form POST.")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", "The form cannot be read.")
		return
	}
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "The grant_type is not supported.")
		return
	case r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		oauthErr(http.StatusUnauthorized, "invalid_client", "The client_assertion_type is invalid.")
		return
	}
	claims, err := f.verify(r.PostForm.Get("client_assertion"))
	if err != nil {
		oauthErr(http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		if s != "okta.groups.manage" && s != "okta.users.read" {
			oauthErr(http.StatusBadRequest, "invalid_scope", "The following scopes are not allowed: "+s)
			return
		}
	}
	f.seenJTI[claims.JTI] = true
	ttl := f.TokenTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	f.issued++
	at := fmt.Sprintf("eyJfake.access.%d", f.issued)
	f.access[at] = f.now().Add(ttl)
	f.json(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(ttl / time.Second),
		"access_token": at, "scope": r.PostForm.Get("scope")})
}

type assertionClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat"`
	JTI string `json:"jti"`
}

func (f *Okta) verify(jwt string) (assertionClaims, error) {
	var c assertionClaims
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || f.PublicKey == nil {
		return c, errors.New("The client_assertion token is invalid.")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return c, errors.New("The client_assertion token is malformed.")
	}
	var head struct{ Alg string }
	if json.Unmarshal(hb, &head) != nil || head.Alg != "RS256" || json.Unmarshal(cb, &c) != nil {
		return c, errors.New("The client_assertion token has an invalid header or claims.")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(f.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return c, errors.New("The client_assertion signature is invalid.")
	}
	now := f.now().Unix()
	switch {
	case c.Iss != f.ClientID || c.Sub != f.ClientID:
		return c, errors.New("The client_assertion token has an invalid issuer or subject.")
	case c.Aud != f.url+"/oauth2/v1/token":
		return c, errors.New("The audience [aud] claim in client_assertion is invalid.")
	case c.Exp <= now || c.Exp > now+3600:
		return c, errors.New("The client_assertion token is expired or lives longer than an hour.")
	case c.JTI == "" || f.seenJTI[c.JTI]:
		return c, errors.New("The client_assertion token has already been used.")
	}
	return c, nil
}
