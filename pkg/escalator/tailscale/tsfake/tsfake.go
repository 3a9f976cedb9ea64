// Package tsfake is a fake Tailscale API for tests: an http.Handler
// speaking the wire format of the calls the tailscale strategy makes.
//
//   - GET /api/v2/tailnet/{tailnet}/acl: the policy file, as HuJSON byte
//     for byte with Accept: application/hujson (Content-Type
//     application/hujson), else as standard JSON; with an ETag header (a
//     quoted SHA-256 of the file).
//   - POST /api/v2/tailnet/{tailnet}/acl: replaces the file with the body
//     (HuJSON or JSON). With If-Match, only when it names the current ETag
//     (or "ts-default" while the file is the default): otherwise 412
//     {"message":"precondition failed, invalid old hash"}. A body that does
//     not parse is 400 {"message": ...}. The answer is the new file, and its
//     ETag.
//   - POST /api/v2/oauth/token: the OAuth client credentials grant (client
//     id and secret in the form or in Basic auth), answering
//     {"access_token", "token_type": "Bearer", "expires_in": 3600, "scope"},
//     or 401 {"error": "invalid_client", ...}.
//
// Every tailnet call needs an API access token (Basic auth, the token as
// the user name, or Bearer) or an OAuth access token (Bearer): anything
// else is 401 {"message":"API token invalid"}. Another tailnet than the
// fake's is 404 {"message":"tailnet not found"}.
//
// Faults: Throttle answers the next calls 429 with Retry-After and
// {"message":"rate limit exceeded"}; Fail answers them with a status;
// EditBeforeNextWrite makes another writer change the file just before the
// next POST is handled, so that the POST's If-Match no longer matches.
package tsfake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tailscale/hujson"
)

// Call is one request the fake received.
type Call struct {
	Method, Path string
	Header       http.Header
	Body         string
	// Status is what the fake answered.
	Status int
}

// API is the fake. Its zero value is not usable: call New.
type API struct {
	tailnet string

	mu        sync.Mutex
	policy    []byte
	isDefault bool
	tokens    map[string]bool   // API access tokens, and OAuth access tokens issued
	clients   map[string]string // OAuth client id → secret
	issued    int
	throttle  []string // Retry-After of the next throttled answers
	throttleW []string // the same, of the next writes
	fail      []int
	edits     []func([]byte) []byte
	calls     []Call
}

// New returns a fake for tailnet holding the policy file and accepting the
// given API access tokens.
func New(tailnet string, policy []byte, tokens ...string) *API {
	a := &API{tailnet: tailnet, policy: append([]byte(nil), policy...), isDefault: true,
		tokens: map[string]bool{}, clients: map[string]string{}}
	for _, t := range tokens {
		a.tokens[t] = true
	}
	return a
}

// Serve starts a on 127.0.0.1 until the test ends and returns its URL (the
// api_url of a flow).
func Serve(tb testing.TB, a *API) string {
	tb.Helper()
	srv := httptest.NewServer(a)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// AddOAuthClient lets an OAuth client with this id and secret get tokens.
func (a *API) AddOAuthClient(id, secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clients[id] = secret
}

// RevokeToken makes a token invalid, as when it expires or is revoked.
func (a *API) RevokeToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tokens, token)
}

// RevokeOAuthClient deletes an OAuth client and the tokens it was issued.
func (a *API) RevokeOAuthClient(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.clients, id)
	for t := range a.tokens {
		if strings.HasPrefix(t, "tskey-oauth-"+id+"-") {
			delete(a.tokens, t)
		}
	}
}

// Policy returns the policy file as stored.
func (a *API) Policy() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]byte(nil), a.policy...)
}

// SetPolicy replaces the policy file, as a person in the admin console.
func (a *API) SetPolicy(p []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.policy, a.isDefault = append([]byte(nil), p...), false
}

// Throttle answers the next len(retryAfter) calls 429 with these
// Retry-After values ("" sends none).
func (a *API) Throttle(retryAfter ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.throttle = append(a.throttle, retryAfter...)
}

// ThrottleWrites answers the next len(retryAfter) POSTs of the policy
// file 429, with these Retry-After values.
func (a *API) ThrottleWrites(retryAfter ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.throttleW = append(a.throttleW, retryAfter...)
}

// Fail answers the next calls with these statuses and a JSON message.
func (a *API) Fail(statuses ...int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = append(a.fail, statuses...)
}

// EditBeforeNextWrite has another writer apply edit to the file just
// before the next POST of the file is handled (one edit per POST, in
// order).
func (a *API) EditBeforeNextWrite(edit func([]byte) []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.edits = append(a.edits, edit)
}

// Calls returns the requests received, in order.
func (a *API) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// CallsOf returns the requests with this method (e.g. "POST") to the
// policy file.
func (a *API) CallsOf(method string) []Call {
	var out []Call
	for _, c := range a.Calls() {
		if c.Method == method && strings.HasSuffix(c.Path, "/acl") {
			out = append(out, c)
		}
	}
	return out
}

// ETag returns the quoted ETag of a policy file.
func ETag(policy []byte) string {
	sum := sha256.Sum256(policy)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	a.serve(rec, r, body)
	a.calls = append(a.calls, Call{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body), Status: rec.status})
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(s int) {
	r.status = s
	r.ResponseWriter.WriteHeader(s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func message(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	if len(a.throttle) > 0 {
		ra := a.throttle[0]
		a.throttle = a.throttle[1:]
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		message(w, http.StatusTooManyRequests, "rate limit exceeded")
		return
	}
	if len(a.fail) > 0 {
		s := a.fail[0]
		a.fail = a.fail[1:]
		message(w, s, strings.ToLower(http.StatusText(s)))
		return
	}
	if r.URL.Path == "/api/v2/oauth/token" {
		a.token(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v2/tailnet/")
	tailnet, res, _ := strings.Cut(rest, "/")
	if !ok || res != "acl" {
		message(w, http.StatusNotFound, "not found")
		return
	}
	if !a.authorized(r) {
		message(w, http.StatusUnauthorized, "API token invalid")
		return
	}
	if tailnet != a.tailnet && tailnet != "-" {
		message(w, http.StatusNotFound, "tailnet not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		a.writePolicy(w, r)
	case http.MethodPost:
		if len(a.throttleW) > 0 {
			if ra := a.throttleW[0]; ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			a.throttleW = a.throttleW[1:]
			message(w, http.StatusTooManyRequests, "rate limit exceeded")
			return
		}
		a.setPolicy(w, r, body)
	default:
		message(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (a *API) authorized(r *http.Request) bool {
	if user, pass, ok := r.BasicAuth(); ok {
		return pass == "" && a.tokens[user] && !strings.HasPrefix(user, "tskey-oauth-")
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && a.tokens[tok]
}

func (a *API) writePolicy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", ETag(a.policy))
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		std, err := hujson.Standardize(append([]byte(nil), a.policy...))
		if err != nil {
			message(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(std)
		return
	}
	w.Header().Set("Content-Type", "application/hujson")
	_, _ = w.Write(a.policy)
}

func (a *API) setPolicy(w http.ResponseWriter, r *http.Request, body []byte) {
	if len(a.edits) > 0 {
		edit := a.edits[0]
		a.edits = a.edits[1:]
		a.policy, a.isDefault = edit(append([]byte(nil), a.policy...)), false
	}
	if m := r.Header.Get("If-Match"); m != "" {
		ok := m == ETag(a.policy) || (m == `"ts-default"` && a.isDefault)
		if !ok {
			message(w, http.StatusPreconditionFailed, "precondition failed, invalid old hash")
			return
		}
	}
	if _, err := hujson.Parse(body); err != nil {
		message(w, http.StatusBadRequest, fmt.Sprintf("parsing policy: %v", err))
		return
	}
	a.policy, a.isDefault = append([]byte(nil), body...), false
	a.writePolicy(w, r)
}

func (a *API) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		message(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if want, ok := a.clients[id]; !ok || want != secret || secret == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "invalid client credentials"})
		return
	}
	a.issued++
	tok := "tskey-oauth-" + id + "-" + strconv.Itoa(a.issued)
	a.tokens[tok] = true
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": "policy_file"})
}
