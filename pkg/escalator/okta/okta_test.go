package okta

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/escalator/okta/oktafake"
	"github.com/latchhq/latch/pkg/latch"
)

const (
	testToken = "00abcDEFghiJKLmnoPQRstuVWXyz0123456789ab"
	tokenEnv  = "OKTA_API_TOKEN"
	groupID   = "00g1emaKYZTWRYYRRTSK"
	appGroup  = "00g2appGROUPfromAD01"
	builtIn   = "00g3everyoneBUILTIN1"
	userID    = "00u1ero7vZFVEIYLWPBN"
	otherUser = "00u2ero7vZFVEIYLWPBO"
)

// fakeClock is the escalator's and the fake's clock; sleeping records the
// wait and, when advance is set, moves the clock on by it.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	slept   []time.Duration
	advance bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if c.advance {
		c.t = c.t.Add(d)
	}
	return ctx.Err()
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// setup serves a fake org with one Okta group, an app group, a built-in
// group and two users, and returns an escalator with the SSWS token.
func setup(t *testing.T) (*oktafake.Okta, *Escalator, *fakeClock, string) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 12, 2, 10, 0, 20, 0, time.UTC), advance: true}
	f := oktafake.New(testToken)
	f.Now = clk.Now
	f.AddGroup(oktafake.Group{ID: groupID, Name: "Prod admins"})
	f.AddGroup(oktafake.Group{ID: appGroup, Type: "APP_GROUP", Name: "Domain Admins (AD)"})
	f.AddGroup(oktafake.Group{ID: builtIn, Type: "BUILT_IN", Name: "Everyone"})
	f.AddUser(oktafake.User{ID: userID, Login: "jane.doe@example.com", Email: "jane.doe@example.com"})
	f.AddUser(oktafake.User{ID: otherUser, Login: "jdoe", Email: "john.doe@example.com"})
	url := oktafake.Serve(t, f)
	return f, newEscalator(t, url, testToken, clk), clk, url
}

func newEscalator(t *testing.T, url, token string, clk *fakeClock) *Escalator {
	t.Helper()
	env := func(name string) (string, bool) { return token, name == tokenEnv }
	e, err := New(map[string]any{KeyOrgURL: url, KeyTokenEnv: tokenEnv}, env, nil, WithClock(clk), WithSleep(clk.Sleep))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func spec(uid, gid string) latch.GrantSpec {
	return latch.GrantSpec{GrantID: "gr_1", User: latch.SpecUser{Email: "jane.doe@example.com", Identity: uid},
		Target: latch.Target{ID: "prod", Settings: map[string]any{KeyGroupID: gid}}}
}

func wantCode(t *testing.T, err error, code string, permanent bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := latch.ErrorCodeOf(err); got != code {
		t.Errorf("code %q (%v), want %q", got, err, code)
	}
	if latch.IsPermanent(err) != permanent {
		t.Errorf("permanent = %v, want %v: %v", latch.IsPermanent(err), permanent, err)
	}
}

func check(t *testing.T, e *Escalator, g latch.GrantSpec) bool {
	t.Helper()
	held, err := e.Check(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

func TestGrantRevokeAndCheck(t *testing.T) {
	f, e, _, _ := setup(t)
	ctx := context.Background()
	g := spec(userID, groupID)
	if check(t, e, g) {
		t.Fatal("held before the grant")
	}
	for i := range 2 { // granting again succeeds
		if err := e.Grant(ctx, g); err != nil {
			t.Fatalf("grant %d: %v", i+1, err)
		}
		if !f.Member(groupID, userID) || !check(t, e, g) {
			t.Fatalf("grant %d: the user is not in the group", i+1)
		}
	}
	for i := range 2 { // revoking what is gone succeeds (Okta answers 404)
		if err := e.Revoke(ctx, g); err != nil {
			t.Fatalf("revoke %d: %v", i+1, err)
		}
		if f.Member(groupID, userID) || check(t, e, g) {
			t.Fatalf("revoke %d: the user is still in the group", i+1)
		}
	}
	if err := latch.ConfirmRevoked(ctx, e, g); err != nil {
		t.Errorf("ConfirmRevoked after the revoke: %v", err)
	}
	wantCalls := []string{
		"GET /api/v1/users/" + userID + "/groups?limit=200",
		"PUT /api/v1/groups/" + groupID + "/users/" + userID,
		"GET /api/v1/users/" + userID + "/groups?limit=200",
	}
	if diff := cmp.Diff(wantCalls, f.Calls()[:3]); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// Check answers for the one membership: another group of the user, or the
// user in the group from before Latch (which the framework's "held before"
// precheck reads with Check), each counts exactly.
func TestCheckIsExact(t *testing.T) {
	f, e, _, _ := setup(t)
	f.AddGroup(oktafake.Group{ID: "00g9otherGROUPxxxxxx", Name: "Other"})
	f.AddMember("00g9otherGROUPxxxxxx", userID)
	if check(t, e, spec(userID, groupID)) {
		t.Error("a membership of another group counts as the grant's")
	}
	f.AddMember(groupID, otherUser)
	if !check(t, e, spec(otherUser, groupID)) {
		t.Error("a membership from before Latch is not seen")
	}
	// A user Okta does not have holds nothing.
	if check(t, e, spec("00u0000000000000gone", groupID)) {
		t.Error("a missing user holds the group")
	}
}

func TestCheckAcrossPages(t *testing.T) {
	f, e, _, _ := setup(t)
	f.PageSize = 2
	ids := []string{"00g0000000000000000a", "00g0000000000000000b", "00g0000000000000000c", "00g0000000000000000d"}
	for _, id := range ids {
		f.AddGroup(oktafake.Group{ID: id, Name: id})
		f.AddMember(id, userID)
	}
	f.AddMember(groupID, userID) // the fifth group: on the third page
	if !check(t, e, spec(userID, groupID)) {
		t.Fatal("the group on the last page is not found")
	}
	var pages []string
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "GET /api/v1/users/"+userID+"/groups") {
			pages = append(pages, c)
		}
	}
	want := []string{
		"GET /api/v1/users/" + userID + "/groups?limit=200",
		"GET /api/v1/users/" + userID + "/groups?after=00g0000000000000000b&limit=2",
		"GET /api/v1/users/" + userID + "/groups?after=00g0000000000000000d&limit=2",
	}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if check(t, e, spec(userID, "00g0000000000notheld")) {
		t.Error("a group on no page is held")
	}
}

func TestGrantToMissingUserOrGroup(t *testing.T) {
	_, e, _, _ := setup(t)
	ctx := context.Background()
	err := e.Grant(ctx, spec("00u0000000000000gone", groupID))
	wantCode(t, err, CodeNoSuchUser, true)
	if !strings.Contains(latch.ErrorMessageOf(err), "latch users set-identity jane.doe@example.com okta") {
		t.Errorf("message %q does not say how to set the user id", latch.ErrorMessageOf(err))
	}
	wantCode(t, e.Grant(ctx, spec(userID, "00g00000000000000gone")), CodeNoSuchGroup, true)
	wantCode(t, e.Grant(ctx, spec("", groupID)), CodeNoSuchUser, true)
	wantCode(t, e.Grant(ctx, spec("jane.doe@example.com", groupID)), CodeNoSuchUser, true)
	wantCode(t, e.Grant(ctx, spec(userID, "Prod admins")), CodeBadGrant, true)
}

func TestLookupIdentity(t *testing.T) {
	f, e, _, _ := setup(t)
	ctx := context.Background()
	f.AddUser(oktafake.User{ID: "00u3emailONLYxxxxxxx", Login: "sam", Email: "sam@example.com"})
	f.AddUser(oktafake.User{ID: "00u4twinAxxxxxxxxxxx", Login: "twin-a", Email: "twins@example.com"})
	f.AddUser(oktafake.User{ID: "00u5twinBxxxxxxxxxxx", Login: "twin-b", Email: "twins@example.com"})
	f.AddUser(oktafake.User{ID: "00u6gonexxxxxxxxxxxx", Login: "gone", Email: "left@example.com", Status: "DEPROVISIONED"})
	tests := []struct {
		name     string
		email    string
		want     string
		wantCode string
		searches []string
	}{
		{name: "by login", email: "Jane.Doe@example.com", want: userID,
			searches: []string{`profile.login eq "jane.doe@example.com"`}},
		{name: "by email when no login matches", email: "sam@example.com", want: "00u3emailONLYxxxxxxx",
			searches: []string{`profile.login eq "sam@example.com"`, `profile.email eq "sam@example.com"`}},
		{name: "nobody", email: "nobody@example.com", wantCode: "not_found"},
		{name: "a deprovisioned user is nobody", email: "left@example.com", wantCode: "not_found"},
		{name: "two users with the email", email: "twins@example.com", wantCode: CodeAmbiguousUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.Calls())
			got, err := e.LookupIdentity(ctx, tt.email)
			if tt.wantCode != "" {
				if latch.ErrorCodeOf(err) != tt.wantCode {
					t.Fatalf("got %q, %v; want %s", got, err, tt.wantCode)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			var searches []string
			for _, c := range f.Calls()[before:] {
				searches = append(searches, strings.TrimPrefix(c, "GET /api/v1/users?"))
			}
			for i, s := range tt.searches {
				if i >= len(searches) || !strings.Contains(searches[i], "search="+strings.NewReplacer(" ", "+", `"`, "%22", "@", "%40").Replace(s)) {
					t.Errorf("searches %v, want %v", searches, tt.searches)
					break
				}
			}
			// Remembered: a second lookup calls Okta no more.
			n := len(f.Calls())
			if again, err := e.LookupIdentity(ctx, tt.email); err != nil || again != tt.want || len(f.Calls()) != n {
				t.Errorf("second lookup: %q, %v, %d calls; want %q from memory", again, err, len(f.Calls())-n, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for give, want := range map[string]string{
		`jane@example.com`:   `jane@example.com`,
		`"jane"@example.com`: `\"jane\"@example.com`,
		`a\b@example.com`:    `a\\b@example.com`,
	} {
		if got := quote(give); got != want {
			t.Errorf("quote(%s) = %s, want %s", give, got, want)
		}
	}
}

// A 429 is waited for until X-Rate-Limit-Reset, then the call is made
// again and succeeds.
func TestRateLimited429ThenSuccess(t *testing.T) {
	f, e, clk, _ := setup(t)
	f.Spend(http.MethodPut, "/api/v1/groups/"+groupID+"/users/"+userID) // other callers spent the minute
	if err := e.Grant(context.Background(), spec(userID, groupID)); err != nil {
		t.Fatal(err)
	}
	if f.Throttled() != 1 || !f.Member(groupID, userID) {
		t.Errorf("throttled %d, member %v; want one 429 and then the grant", f.Throttled(), f.Member(groupID, userID))
	}
	// The clock was at 10:00:20; the window resets at 10:01:00.
	if diff := cmp.Diff([]time.Duration{40 * time.Second}, clk.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

// An answer with X-Rate-Limit-Remaining 0 makes the next call of its bucket
// wait for the reset first: Okta never has to answer 429.
func TestRateLimitRemainingZeroWaits(t *testing.T) {
	f, e, clk, _ := setup(t)
	f.Limit = 1
	g := spec(userID, groupID)
	check(t, e, g) // spends the minute's one call
	if len(clk.Slept()) != 0 {
		t.Fatalf("waited %v before any limit was spent", clk.Slept())
	}
	check(t, e, g)
	if f.Throttled() != 0 {
		t.Errorf("Okta answered 429 %d times; the escalator should have waited", f.Throttled())
	}
	if diff := cmp.Diff([]time.Duration{40 * time.Second}, clk.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	// Another bucket (the group read) does not wait.
	if err := e.Validate(context.Background(), g.Target); err != nil {
		t.Fatal(err)
	}
	if len(clk.Slept()) != 1 {
		t.Errorf("waits %v: another bucket waited", clk.Slept())
	}
}

// A limit that does not reset (every try answers 429) ends, after a few
// tries, in a retryable error; so does a reset later than the context's end.
func TestRateLimitGivesUp(t *testing.T) {
	f, e, clk, _ := setup(t)
	clk.advance = false // the minute never ends
	f.Spend(http.MethodPut, "/api/v1/groups/"+groupID+"/users/"+userID)
	err := e.Grant(context.Background(), spec(userID, groupID))
	wantCode(t, err, CodeRateLimited, false)
	if f.Throttled() != rateLimitAttempts {
		t.Errorf("%d tries, want %d", f.Throttled(), rateLimitAttempts)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := f.Throttled()
	err = e.Grant(ctx, spec(userID, groupID))
	wantCode(t, err, CodeRateLimited, false)
	if f.Throttled() != n {
		t.Errorf("a call was made although the reset is after the context's end")
	}
}

func TestInvalidTokenIsPermanentWithTheFix(t *testing.T) {
	f, _, clk, url := setup(t)
	e := newEscalator(t, url, "00expiredTOKENxxxxxxxxxxxxxxxxxxxxxxxxxx", clk)
	for name, call := range map[string]func() error{
		"grant":    func() error { return e.Grant(context.Background(), spec(userID, groupID)) },
		"revoke":   func() error { return e.Revoke(context.Background(), spec(userID, groupID)) },
		"check":    func() error { _, err := e.Check(context.Background(), spec(userID, groupID)); return err },
		"validate": func() error { return e.Validate(context.Background(), spec(userID, groupID).Target) },
	} {
		err := call()
		wantCode(t, err, CodeUnauthorized, true)
		msg := latch.ErrorMessageOf(err)
		for _, want := range []string{"E0000011", "Invalid token provided", "create a new token", tokenEnv} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: message %q lacks %q", name, msg, want)
			}
		}
		if strings.Contains(err.Error(), "00expiredTOKEN") {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
	if f.Member(groupID, userID) {
		t.Error("granted with a bad token")
	}

	// A token whose admin may not change groups: 403, permanent, naming the role.
	f.ReadOnlyToken = "00readONLYtokenxxxxxxxxxxxxxxxxxxxxxxxxx"
	ro := newEscalator(t, url, f.ReadOnlyToken, clk)
	err := ro.Grant(context.Background(), spec(userID, groupID))
	wantCode(t, err, CodeForbidden, true)
	if msg := latch.ErrorMessageOf(err); !strings.Contains(msg, "okta.groups.members.manage") || !strings.Contains(msg, "E0000006") {
		t.Errorf("message %q does not name the permission needed", msg)
	}
}

func TestServerErrorsAreRetryable(t *testing.T) {
	f, _, clk, _ := setup(t)
	failing := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errorCode":"E0000009","errorSummary":"Internal Server Error","errorLink":"E0000009","errorId":"oae1","errorCauses":[]}`))
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	e := newEscalator(t, srv.URL, testToken, clk)
	wantCode(t, e.Grant(context.Background(), spec(userID, groupID)), CodeServerError, false)
	srv.Close()
	wantCode(t, e.Revoke(context.Background(), spec(userID, groupID)), CodeUnreachable, false)
}

func TestValidate(t *testing.T) {
	_, e, _, _ := setup(t)
	target := func(gid string) latch.Target {
		return latch.Target{ID: "t", Settings: map[string]any{KeyGroupID: gid}}
	}
	if err := e.Validate(context.Background(), target(groupID)); err != nil {
		t.Errorf("an OKTA_GROUP: %v", err)
	}
	for gid, want := range map[string][]string{
		appGroup: {"APP_GROUP", "Domain Admins (AD)", "OKTA_GROUP"},
		builtIn:  {"BUILT_IN", "Everyone"},
	} {
		err := e.Validate(context.Background(), target(gid))
		wantCode(t, err, CodeGroupType, true)
		for _, w := range want {
			if !strings.Contains(latch.ErrorMessageOf(err), w) {
				t.Errorf("%s: message %q lacks %q", gid, latch.ErrorMessageOf(err), w)
			}
		}
	}
	wantCode(t, e.Validate(context.Background(), target("00g00000000000000gone")), CodeNoSuchGroup, true)
	wantCode(t, e.Validate(context.Background(), target("Prod admins")), CodeBadGrant, true)
}

func TestServiceApp(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 2, 10, 0, 20, 0, time.UTC), advance: true}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f := oktafake.New("")
	f.Now, f.ClientID, f.PublicKey = clk.Now, "0oa1serviceAPPxxxxxx", &key.PublicKey
	f.AddGroup(oktafake.Group{ID: groupID, Name: "Prod admins"})
	f.AddUser(oktafake.User{ID: userID, Login: "jane.doe@example.com", Email: "jane.doe@example.com"})
	url := oktafake.Serve(t, f)
	build := func(clientID string) *Escalator {
		t.Helper()
		env := func(name string) (string, bool) { return pemKey, name == "OKTA_PRIVATE_KEY" }
		e, err := New(map[string]any{KeyOrgURL: url, KeyClientID: clientID, KeyPrivateKeyEnv: "OKTA_PRIVATE_KEY", KeyKeyID: "kid-1"},
			env, nil, WithClock(clk), WithSleep(clk.Sleep))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := build(f.ClientID)
	ctx := context.Background()
	g := spec(userID, groupID)
	if err := e.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if !check(t, e, g) || f.TokensIssued() != 1 {
		t.Fatalf("held %v, tokens %d; want the grant made with one access token", f.Member(groupID, userID), f.TokensIssued())
	}
	// An access token Okta no longer accepts is replaced once.
	f.ExpireAccessTokens()
	if err := e.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if f.Member(groupID, userID) || f.TokensIssued() != 2 {
		t.Errorf("member %v, tokens %d; want the revoke made with a second token", f.Member(groupID, userID), f.TokensIssued())
	}
	// An app Okta does not know: permanent, with the fix.
	err = build("0oa9unknownAPPxxxxxx").Grant(ctx, g)
	wantCode(t, err, CodeUnauthorized, true)
	if msg := latch.ErrorMessageOf(err); !strings.Contains(msg, "invalid_client") || !strings.Contains(msg, "OKTA_PRIVATE_KEY") {
		t.Errorf("message %q lacks the reason or the fix", msg)
	}
}

func TestNewReadsTheCredential(t *testing.T) {
	cfg := map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: tokenEnv}
	for name, env := range map[string]func(string) (string, bool){
		"unset": func(string) (string, bool) { return "", false },
		"empty": func(string) (string, bool) { return " ", true },
	} {
		_, err := New(cfg, env, nil)
		if err == nil || !strings.Contains(err.Error(), tokenEnv) || !strings.Contains(err.Error(), "token_env") {
			t.Errorf("%s: %v, want an error naming %s and token_env", name, err, tokenEnv)
		}
	}
	_, err := New(map[string]any{KeyOrgURL: "https://example.okta.com", KeyClientID: "0oa1", KeyPrivateKeyEnv: "K"},
		func(string) (string, bool) { return "not a key", true }, nil)
	if err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("a bad key: %v, want an error about PEM", err)
	}
}

func TestValidateConfig(t *testing.T) {
	ok := func(gid string) []latch.Target {
		return []latch.Target{{ID: "t", Settings: map[string]any{KeyGroupID: gid}}}
	}
	tests := []struct {
		name    string
		cfg     map[string]any
		targets []latch.Target
		wantErr []string
	}{
		{name: "token", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: "OKTA_API_TOKEN"}, targets: ok(groupID)},
		{name: "service app", cfg: map[string]any{KeyOrgURL: "https://example.okta.com/", KeyClientID: "0oa1b2c3", KeyPrivateKeyEnv: "K", KeyKeyID: "k1"}},
		{name: "loopback http", cfg: map[string]any{KeyOrgURL: "http://127.0.0.1:8080", KeyTokenEnv: "T"}},
		{name: "no org", cfg: map[string]any{KeyTokenEnv: "T"}, wantErr: []string{"org_url is required"}},
		{name: "plain http", cfg: map[string]any{KeyOrgURL: "http://example.okta.com", KeyTokenEnv: "T"}, wantErr: []string{"must start with https://"}},
		{name: "a path", cfg: map[string]any{KeyOrgURL: "https://example.okta.com/api/v1", KeyTokenEnv: "T"}, wantErr: []string{"no path"}},
		{name: "no credential", cfg: map[string]any{KeyOrgURL: "https://example.okta.com"}, wantErr: []string{"token_env is required"}},
		{name: "both", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: "T", KeyClientID: "0oa1", KeyPrivateKeyEnv: "K"},
			wantErr: []string{"not both"}},
		{name: "half an app", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyClientID: "0oa1"}, wantErr: []string{"go together"}},
		{name: "the token itself", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: "00ab-cd_ef"},
			wantErr: []string{"must be the NAME"}},
		{name: "unknown key", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: "T", "domain": "x"}, wantErr: []string{`unknown key "domain"`}},
		{name: "a group name", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: "T"}, targets: ok("Prod admins"),
			wantErr: []string{"not an Okta group id"}},
		{name: "no group", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: "T"}, targets: []latch.Target{{ID: "t"}},
			wantErr: []string{"settings.group_id is required"}},
		{name: "unknown setting", cfg: map[string]any{KeyOrgURL: "https://example.okta.com", KeyTokenEnv: "T"},
			targets: []latch.Target{{ID: "t", Settings: map[string]any{KeyGroupID: groupID, "role": "x"}}}, wantErr: []string{`unknown setting "role"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateConfig(tt.cfg, tt.targets)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	h := http.Header{}
	h.Add("Link", `<https://example.okta.com/api/v1/users/00u1/groups?limit=2>; rel="self"`)
	h.Add("Link", `<https://example.okta.com/api/v1/users/00u1/groups?after=00g2&limit=2>; rel="next"`)
	if got := nextLink(h); got != "https://example.okta.com/api/v1/users/00u1/groups?after=00g2&limit=2" {
		t.Errorf("next = %q", got)
	}
	if got := nextLink(http.Header{"Link": {`<https://example.okta.com/x>; rel="self"`}}); got != "" {
		t.Errorf("next without one = %q", got)
	}
}

// A next link to another origin is not followed: the token goes only to
// the org.
func TestNextLinkToAnotherOriginIsRefused(t *testing.T) {
	var leaked bool
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { leaked = true }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "<"+other.URL+`/api/v1/users/00u1/groups?after=x>; rel="next"`)
		_, _ = w.Write([]byte(`[{"id":"00g0000000000000000a","type":"OKTA_GROUP","profile":{"name":"a"}}]`))
	}))
	defer srv.Close()
	e := newEscalator(t, srv.URL, testToken, &fakeClock{})
	_, err := e.Check(context.Background(), spec(userID, groupID))
	if err == nil || leaked {
		t.Errorf("check: %v, leaked %v; want an error and no call elsewhere", err, leaked)
	}
	var le *latch.Error
	if !errors.As(err, &le) {
		t.Errorf("error %v is not a *latch.Error", err)
	}
}
