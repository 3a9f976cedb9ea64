package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// brokenRuleFlow's approval rule fails whenever it runs for an approver
// whose email has no "+".
const brokenRuleFlow = `name: fragile
fields:
  - {name: service, type: string, required: true}
approval:
  rule: 'approver.email.split("+")[1] == "ops"'
`

// authzAPI is the API of latch server as cmd/latch wires it (new users'
// roles by the organisation's domains, example.com), over a store of its
// own, with the deploy and fragile flows.
type authzAPI struct {
	url   string
	store *boltstore.Store
	logs  *syncBuf
}

func newAuthzAPI(t *testing.T) *authzAPI {
	t.Helper()
	var dir *identity.Directory
	eng, store, queue := newEngineWith(t, func(st latch.Store) *engine.Users {
		dir = &identity.Directory{Store: st, Clock: latch.SystemClock}
		return &engine.Users{Store: st, Clock: latch.SystemClock, RoleFor: dir.RoleFor}
	}, approvalFlow, brokenRuleFlow)
	if err := store.PutDomain(context.Background(), latch.Domain{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	toks := &tokens.Service{Store: store, Clock: latch.SystemClock}
	logs := &syncBuf{}
	api := &httpapi.Server{Engine: eng, Directory: dir, Store: store, Feed: store, Queue: queue, Tokens: toks,
		Auth:      &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(adminSecret), Service: toks},
		Log:       slog.New(slog.NewJSONHandler(logs, nil)),
		Backup:    store,
		Reconcile: func(context.Context, bool) (any, error) { return map[string]any{}, nil },
		Metrics:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") })}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &authzAPI{url: srv.URL, store: store, logs: logs}
}

const adminSecret = "admin-secret-token"

// call makes one API call as token and returns the status and the error
// code (or, for a success, the body as a map).
func (a *authzAPI) call(t *testing.T, token, method, path, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	code := ""
	if e, ok := m["error"].(map[string]any); ok {
		code, _ = e["code"].(string)
	}
	return resp.StatusCode, code, m
}

// bot creates a bot with rules (a BotBody as JSON, without the name) and
// issues it a token with scopes.
func (a *authzAPI) bot(t *testing.T, name, rules string, scopes ...string) string {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal([]byte(rules), &body); err != nil {
		t.Fatal(err)
	}
	body["name"] = name
	b, _ := json.Marshal(body)
	if st, code, _ := a.call(t, adminSecret, http.MethodPost, "/v1/bots", string(b)); st != http.StatusCreated {
		t.Fatalf("create bot %s: %d %s", name, st, code)
	}
	tb, _ := json.Marshal(httpapi.TokenBody{Bot: name, Label: "test", Scopes: scopes})
	st, code, out := a.call(t, adminSecret, http.MethodPost, "/v1/tokens", string(tb))
	if st != http.StatusCreated {
		t.Fatalf("issue a token to %s: %d %s", name, st, code)
	}
	return out["secret"].(string)
}

// create makes a pending deploy (or fragile) request for person as token.
func (a *authzAPI) create(t *testing.T, token, flow, person string) string {
	t.Helper()
	st, code, out := a.call(t, token, http.MethodPost, "/v1/requests",
		`{"flow":"`+flow+`","user_email":"`+person+`","fields":{"service":"api"}}`)
	if st != http.StatusAccepted {
		t.Fatalf("create a %s request for %s: %d %s", flow, person, st, code)
	}
	return out["id"].(string)
}

// route is one of the API's routes, called so that a principal allowed to
// call it changes nothing: want is the status its handler then answers.
type route struct {
	pattern string // as the handler registers it
	path    string
	body    string // "{as}" is replaced by whom the principal acts as
	need    string // the scope it needs; "" for none, "public" for no token at all
	want    int
}

var routes = []route{
	{"GET /healthz", "/healthz", "", "public", 200},
	{"GET /readyz", "/readyz", "", "public", 200},
	{"GET /v1/info", "/v1/info", "", "public", 200},
	{"GET /metrics", "/metrics", "", "public", 200},
	{"GET /v1/whoami", "/v1/whoami", "", "", 200},
	{"GET /v1/flows", "/v1/flows", "", tokens.ScopeRead, 200},
	{"POST /v1/requests", "/v1/requests", `{"flow":"nope","user_email":"alice@example.com"}`, tokens.ScopeWrite, 404},
	{"GET /v1/requests", "/v1/requests", "", tokens.ScopeRead, 200},
	{"GET /v1/requests/{id}", "/v1/requests/req_nope", "", tokens.ScopeRead, 404},
	{"GET /v1/requests/{id}/events", "/v1/requests/req_nope/events", "", tokens.ScopeRead, 404},
	{"GET /v1/requests/{id}/wait", "/v1/requests/req_nope/wait?timeout=0s", "", tokens.ScopeRead, 404},
	{"GET /v1/audit", "/v1/audit", "", tokens.ScopeRead, 200},
	{"POST /v1/requests/{id}/{action}", "/v1/requests/req_nope/approve", `{"as":"{as}"}`, tokens.ScopeApprove, 404},
	{"POST /v1/requests/{id}/{action}", "/v1/requests/req_nope/deny", `{"as":"{as}"}`, tokens.ScopeApprove, 404},
	{"POST /v1/requests/{id}/{action}", "/v1/requests/req_nope/revoke", `{"as":"{as}"}`, tokens.ScopeApprove, 404},
	{"POST /v1/requests/{id}/{action}", "/v1/requests/req_nope/retry", `{"as":"{as}"}`, tokens.ScopeApprove, 404},
	{"POST /v1/requests/{id}/{action}", "/v1/requests/req_nope/cancel", `{"as":"{as}"}`, tokens.ScopeWrite, 404},
	{"POST /v1/requests/{id}/extend", "/v1/requests/req_nope/extend", `{"as":"{as}","duration":"1h"}`, tokens.ScopeWrite, 404},
	{"GET /v1/users", "/v1/users", "", tokens.ScopeAdmin, 200},
	{"GET /v1/users/export", "/v1/users/export", "", tokens.ScopeAdmin, 200},
	{"POST /v1/users/import", "/v1/users/import", "not,a,header\n", tokens.ScopeAdmin, 422},
	{"GET /v1/users/{email}", "/v1/users/nobody@example.com", "", tokens.ScopeAdmin, 404},
	{"PUT /v1/users/{email}/role", "/v1/users/nobody@example.com/role", `{"role":"boss"}`, tokens.ScopeAdmin, 422},
	{"PUT /v1/users/{email}/identities/{service}", "/v1/users/nobody@example.com/identities/okta", `{"id":""}`, tokens.ScopeAdmin, 422},
	{"DELETE /v1/users/{email}/identities/{service}", "/v1/users/nobody@example.com/identities/okta", "", tokens.ScopeAdmin, 404},
	{"GET /v1/domains", "/v1/domains", "", tokens.ScopeAdmin, 200},
	{"POST /v1/domains", "/v1/domains", `{"domain":"not a domain"}`, tokens.ScopeAdmin, 422},
	{"DELETE /v1/domains/{domain}", "/v1/domains/nope.example", "", tokens.ScopeAdmin, 404},
	{"GET /v1/bots", "/v1/bots", "", tokens.ScopeAdmin, 200},
	{"POST /v1/bots", "/v1/bots", `{"name":"Bad Name"}`, tokens.ScopeAdmin, 422},
	{"PATCH /v1/bots/{name}", "/v1/bots/nope", `{"may_decide_as":""}`, tokens.ScopeAdmin, 404},
	{"DELETE /v1/bots/{name}", "/v1/bots/nope", "", tokens.ScopeAdmin, 404},
	{"GET /v1/tokens", "/v1/tokens", "", tokens.ScopeAdmin, 200},
	{"POST /v1/tokens", "/v1/tokens", `{"bot":"nope","label":"x","scopes":["requests:read"]}`, tokens.ScopeAdmin, 404},
	{"DELETE /v1/tokens/{id}", "/v1/tokens/tok_nope", "", tokens.ScopeAdmin, 404},
	{"GET /v1/backup", "/v1/backup", "", tokens.ScopeAdmin, 200},
	{"POST /v1/reconcile", "/v1/reconcile", "", tokens.ScopeAdmin, 200},
}

// TestEveryRouteByEveryPrincipal calls every route as no one, the
// bootstrap admin and a bot holding each scope: a principal without the
// route's scope is refused 403 missing_scope (401 without a token), one
// with it reaches the handler. The routes are those the package registers.
func TestEveryRouteByEveryPrincipal(t *testing.T) {
	a := newAuthzAPI(t)
	type principal struct {
		name, token, as string
		scopes          []string
	}
	principals := []principal{
		{name: "no token"},
		{name: "bootstrap admin", token: adminSecret, as: "lead@example.com", scopes: tokens.AllScopes},
	}
	for _, sc := range tokens.AllScopes {
		name := strings.NewReplacer(":", "-").Replace(sc)
		principals = append(principals, principal{name: "bot with " + sc, token: a.bot(t, name, `{}`, sc),
			as: tokens.BotEmail(name), scopes: []string{sc}})
	}
	for _, rt := range routes {
		method, _, _ := strings.Cut(rt.pattern, " ")
		for _, p := range principals {
			st, code, _ := a.call(t, p.token, method, rt.path, strings.ReplaceAll(rt.body, "{as}", p.as))
			want, wantCode := rt.want, ""
			switch {
			case rt.need == "public":
			case p.token == "":
				want, wantCode = http.StatusUnauthorized, "missing_token"
			case rt.need != "" && !slices.Contains(p.scopes, rt.need) && !slices.Contains(p.scopes, tokens.ScopeAdmin):
				want, wantCode = http.StatusForbidden, "missing_scope"
			}
			if st != want || (wantCode != "" && code != wantCode) {
				t.Errorf("%s %s as %s = %d %s, want %d %s", method, rt.path, p.name, st, code, want, wantCode)
			}
		}
	}

	// Every route the package registers is in the table.
	re := regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+ [^"]+)"`)
	files, _ := filepath.Glob("*.go")
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if !slices.ContainsFunc(routes, func(r route) bool { return r.pattern == m[1] }) {
				t.Errorf("%s registers %s, which the table does not call", file, m[1])
			}
		}
	}
}

// TestWhoMayDecide judges each decision a principal may send — as a
// person, as an admin, as itself — for bots of each policy and for the
// bootstrap admin, on requests a bot made for alice. The impersonation
// case comes first: a bot holding requests:write and requests:approve
// requests for one person and approves as another.
func TestWhoMayDecide(t *testing.T) {
	a := newAuthzAPI(t)
	if st, code, _ := a.call(t, adminSecret, http.MethodPut, "/v1/users/root@example.com/role", `{"role":"admin"}`); st != http.StatusOK {
		t.Fatalf("make root an admin: %d %s", st, code)
	}
	all := []string{tokens.ScopeRead, tokens.ScopeWrite, tokens.ScopeApprove}
	ci := a.bot(t, "ci", `{}`, all...)
	chatops := a.bot(t, "chatops", `{"may_decide_as":"person.email in [\"lead@example.com\", \"root@example.com\"]"}`, all...)
	reader := a.bot(t, "reader", `{"may_decide_as":"true"}`, tokens.ScopeRead)
	flaky := a.bot(t, "flaky", `{"may_decide_as":"person.email.split(\"+\")[1] == \"ops\""}`, all...)
	tokenOf := map[string]string{"ci": ci, "chatops": chatops, "reader": reader, "flaky": flaky, "admin": adminSecret}

	tests := []struct {
		name          string
		creator       string // who made the request for alice
		by, action    string
		as            string // "" : the principal itself
		want          int
		wantCode      string
		wantStatus    latch.Status // after an accepted command
		wantNoRecords []string     // emails the call must not have recorded
	}{
		{"impersonation: the creating bot approves as another person", "ci", "ci", "approve", "lead@example.com", 403, latch.CodeBotMayNotDecideAs, "", nil},
		{"the creating bot approves as an unknown person", "ci", "ci", "approve", "ghost@example.com", 403, latch.CodeBotMayNotDecideAs, "", []string{"ghost@example.com"}},
		{"the creating bot approves as itself", "ci", "ci", "approve", "", 403, latch.CodeCreatorCannotDecide, "", nil},
		{"a creating bot its rule lets decide as the approver", "chatops", "chatops", "approve", "lead@example.com", 403, latch.CodeCreatorCannotDecide, "", nil},
		{"another bot as the approver its rule allows", "ci", "chatops", "approve", "lead@example.com", 202, "", latch.StatusApproved, nil},
		{"another bot as an admin its rule allows", "ci", "chatops", "approve", "root@example.com", 202, "", latch.StatusApproved, nil},
		{"another bot as the requester, whom its rule leaves out", "ci", "chatops", "approve", "alice@example.com", 403, latch.CodeBotMayNotDecideAs, "", nil},
		{"another bot as itself, not an approver", "ci", "chatops", "approve", "", 403, latch.CodeNotApprover, "", nil},
		{"a bot without requests:approve", "ci", "reader", "approve", "lead@example.com", 403, "missing_scope", "", nil},
		{"a bot whose rule fails when it runs", "ci", "flaky", "approve", "newcomer@example.com", 422, latch.CodeRuleError, "", []string{"newcomer@example.com"}},
		{"the bootstrap admin as the approver", "ci", "admin", "approve", "lead@example.com", 202, "", latch.StatusApproved, nil},
		{"the bootstrap admin as the requester", "ci", "admin", "approve", "alice@example.com", 403, latch.CodeSelfApproval, "", nil},
		{"the bootstrap admin as a stranger", "ci", "admin", "approve", "stranger@example.com", 403, latch.CodeNotApprover, "", []string{"stranger@example.com"}},
		{"the bootstrap admin as an outsider", "ci", "admin", "approve", "mallory@elsewhere.test", 403, latch.CodeGuestNotAllowed, "", []string{"mallory@elsewhere.test"}},
		{"the creating bot denies as the approver", "ci", "ci", "deny", "lead@example.com", 403, latch.CodeBotMayNotDecideAs, "", nil},
		{"the creating bot denies as itself", "ci", "ci", "deny", "", 403, latch.CodeNotApprover, "", nil},
		{"another bot denies as the approver", "ci", "chatops", "deny", "lead@example.com", 202, "", latch.StatusDenied, nil},
		{"the creating bot cancels as the requester", "ci", "ci", "cancel", "alice@example.com", 202, "", latch.StatusCancelled, nil},
		{"the creating bot cancels as itself", "ci", "ci", "cancel", "", 403, latch.CodeNotRequester, "", nil},
		{"a bot cancels as someone outside its may_request_for", "ci", "ci", "cancel", "eve@elsewhere.test", 403, latch.CodeBotMayNotRequestFor, "", []string{"eve@elsewhere.test"}},
		{"a bot revokes as the requester (pending: nothing to revoke)", "ci", "ci", "revoke", "alice@example.com", 409, "not_active", "", nil},
		{"a bot retries as an admin", "ci", "ci", "retry", "root@example.com", 403, latch.CodeBotMayNotDecideAs, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := a.create(t, tokenOf[tt.creator], "deploy", "alice@example.com")
			body := `{}`
			if tt.as != "" {
				body = `{"as":"` + tt.as + `"}`
			}
			st, code, out := a.call(t, tokenOf[tt.by], http.MethodPost, "/v1/requests/"+id+"/"+tt.action, body)
			if st != tt.want || code != tt.wantCode {
				t.Fatalf("%s = %d %s, want %d %s", tt.action, st, code, tt.want, tt.wantCode)
			}
			if tt.wantStatus != "" {
				_, _, now := a.call(t, adminSecret, http.MethodGet, "/v1/requests/"+id, "")
				if now["status"] != string(tt.wantStatus) {
					t.Errorf("status after %s = %v, want %s (answer %v)", tt.action, now["status"], tt.wantStatus, out)
				}
			}
			for _, email := range tt.wantNoRecords {
				if _, err := a.store.GetUser(context.Background(), email); !errors.Is(err, latch.ErrNotFound) {
					t.Errorf("the refused call recorded %s (GetUser: %v)", email, err)
				}
			}
		})
	}
	// Whom an accepted decision names is recorded, as before.
	if _, err := a.store.GetUser(context.Background(), "lead@example.com"); err != nil {
		t.Errorf("the approver of an accepted decision was not recorded: %v", err)
	}
}

// TestWhoMayBeRequestedFor: a bot creates requests only for the people
// its may_request_for allows (by default the organisation's domains), and
// a refusal records nobody.
func TestWhoMayBeRequestedFor(t *testing.T) {
	a := newAuthzAPI(t)
	ci := a.bot(t, "ci", `{}`, tokens.ScopeWrite)
	outsiders := a.bot(t, "outsiders", `{"may_request_for":"person.email.endsWith(\"@elsewhere.test\")"}`, tokens.ScopeWrite)
	flaky := a.bot(t, "flaky", `{"may_request_for":"person.email.split(\"+\")[1] == \"ops\""}`, tokens.ScopeWrite)
	for _, tt := range []struct {
		name, token, person string
		want                int
		wantCode            string
	}{
		{"default: a person of the domain", ci, "alice@example.com", 202, ""},
		{"default: a person of a subdomain", ci, "bob@eng.example.com", 202, ""},
		{"default: a person elsewhere", ci, "eve@elsewhere.test", 403, latch.CodeBotMayNotRequestFor},
		{"default: a bot", ci, "ci@bots.invalid", 403, latch.CodeBotMayNotRequestFor},
		{"a rule: whom it names", outsiders, "carol@elsewhere.test", 403, latch.CodeGuestCannotRequest},
		{"a rule: whom it leaves out", outsiders, "dave@example.com", 403, latch.CodeBotMayNotRequestFor},
		{"a rule that fails when it runs", flaky, "frank@example.com", 422, latch.CodeRuleError},
		{"the bootstrap admin, for anyone", adminSecret, "gina@example.com", 202, ""},
	} {
		st, code, _ := a.call(t, tt.token, http.MethodPost, "/v1/requests",
			`{"flow":"deploy","user_email":"`+tt.person+`","fields":{"service":"api"}}`)
		if st != tt.want || code != tt.wantCode {
			t.Errorf("%s: %d %s, want %d %s", tt.name, st, code, tt.want, tt.wantCode)
		}
		if tt.want != 202 && tt.wantCode != latch.CodeGuestCannotRequest {
			if _, err := a.store.GetUser(context.Background(), tt.person); !errors.Is(err, latch.ErrNotFound) && tt.person != "ci@bots.invalid" {
				t.Errorf("%s: the refusal recorded %s (%v)", tt.name, tt.person, err)
			}
		}
	}
}

// A rule that fails when it runs answers 422 rule_error naming the flow and
// the rule; the cause is in the log, for admins, and not in the answer.
func TestFailingRuleIsARuleError(t *testing.T) {
	a := newAuthzAPI(t)
	id := a.create(t, adminSecret, "fragile", "alice@example.com")
	st, code, out := a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/approve", `{"as":"lead@example.com"}`)
	e, _ := out["error"].(map[string]any)
	details, _ := e["details"].(map[string]any)
	msg, _ := e["message"].(string)
	if st != http.StatusUnprocessableEntity || code != latch.CodeRuleError || details["flow"] != "fragile" || details["rule"] != "approval.rule" ||
		!strings.Contains(msg, "fragile") || strings.Contains(msg, "index out of bounds") {
		t.Errorf("approve under a failing rule = %d %v, want 422 rule_error naming flow fragile and approval.rule, without the cause", st, out)
	}
	if logs := a.logs.String(); !strings.Contains(logs, "a rule failed when it ran") || !strings.Contains(logs, "index out of bounds") {
		t.Errorf("the log does not hold the rule's failure:\n%s", logs)
	}
	_, _, now := a.call(t, adminSecret, http.MethodGet, "/v1/requests/"+id, "")
	if now["status"] != string(latch.StatusPending) {
		t.Errorf("status = %v, want pending", now["status"])
	}
}

// A bot's rules are checked when they are set: a rule that does not
// compile is 400 invalid_rule naming the rule and the reason.
func TestBotRulesAreCheckedWhenSet(t *testing.T) {
	a := newAuthzAPI(t)
	for _, tt := range []struct{ method, path, body, rule string }{
		{http.MethodPost, "/v1/bots", `{"name":"ci","may_request_for":"person.email.endsWith(\"@example.com\""}`, "may_request_for"},
		{http.MethodPost, "/v1/bots", `{"name":"ci","may_decide_as":"person.mail == \"x\""}`, "may_decide_as"},
	} {
		st, code, out := a.call(t, adminSecret, tt.method, tt.path, tt.body)
		e, _ := out["error"].(map[string]any)
		details, _ := e["details"].(map[string]any)
		if st != http.StatusBadRequest || code != "invalid_rule" || details["rule"] != tt.rule || details["reason"] == "" {
			t.Errorf("%s %s = %d %v, want 400 invalid_rule naming %s", tt.method, tt.body, st, out, tt.rule)
		}
	}
	a.bot(t, "ci", `{}`, tokens.ScopeRead)
	if st, code, _ := a.call(t, adminSecret, http.MethodPatch, "/v1/bots/ci", `{"may_decide_as":"person.email.endsWith("}`); st != 400 || code != "invalid_rule" {
		t.Errorf("PATCH with a bad rule = %d %s, want 400 invalid_rule", st, code)
	}
	st, _, out := a.call(t, adminSecret, http.MethodPatch, "/v1/bots/ci", `{"may_decide_as":"person.role == \"admin\""}`)
	if st != 200 || out["may_decide_as"] != `person.role == "admin"` || out["may_request_for"] != nil {
		t.Errorf("PATCH = %d %v, want the rule set and may_request_for left at its default", st, out)
	}
	_, _, list := a.call(t, adminSecret, http.MethodGet, "/v1/bots", "")
	if bots, _ := list["bots"].([]any); len(bots) != 1 || bots[0].(map[string]any)["may_decide_as"] != `person.role == "admin"` {
		t.Errorf("GET /v1/bots = %v", list)
	}
}
