package hooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/hooks"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
	"github.com/latchhq/latch/pkg/signing/signingtest"
)

const (
	secretEnv = "LATCH_TEST_HOOK_SECRET"
	secret    = "hook-secret-for-tests-only"
)

// now is the caller's clock and the receiver's, so signatures verify without
// the real time.
var now = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func env(name string) (string, bool) {
	if name == secretEnv {
		return secret, true
	}
	return "", false
}

// newReceiver starts a fake hook endpoint that checks signatures made with
// secret at now; it answers 200 with no body until told otherwise.
func newReceiver(tb testing.TB) *signingtest.Receiver {
	tb.Helper()
	rc := signingtest.NewReceiver(tb, []byte(secret), func() time.Time { return now })
	rc.Answer(http.StatusOK, "", nil)
	return rc
}

// only returns the one call rc got, with a good signature.
func only(tb testing.TB, rc *signingtest.Receiver) signingtest.Call {
	tb.Helper()
	calls := rc.Calls()
	if len(calls) != 1 {
		tb.Fatalf("hook got %d calls, want 1", len(calls))
	}
	if calls[0].VerifyErr != nil {
		tb.Errorf("signing.Verify: %v", calls[0].VerifyErr)
	}
	return calls[0]
}

func newCaller(opts ...hooks.Option) *hooks.Caller {
	opts = append([]hooks.Option{hooks.WithClock(latch.ClockFunc(func() time.Time { return now }))}, opts...)
	return hooks.New(env, nil, opts...)
}

// flow has every hook point at base + "/" + point, and the get_identity
// hook in service vault.
func flow(base string) *latch.Flow {
	at := func(p string) string { return base + "/" + p + "?token=query-secret" }
	return &latch.Flow{Name: "prod", File: "flows/prod.yaml", Strategy: &latch.Strategy{Type: "webhook"},
		Identity: latch.IdentityConfig{Service: "vault"},
		Hooks: latch.Hooks{SecretEnv: secretEnv, OnRequest: at("on_request"), OnApprove: at("on_approve"), OnDeny: at("on_deny"),
			AfterEscalate: at("after_escalate"), AfterDeescalate: at("after_deescalate"), GetIdentity: at("get_identity")}}
}

func request() latch.Request {
	return latch.Request{ID: "req_1", Flow: "prod", Status: latch.StatusPending, Version: 3,
		Requester: latch.UserRef{ID: "usr_1", Email: "bob@example.com"}, Fields: latch.Fields{"reason": "deploy"}}
}

var bob = latch.User{ID: "usr_1", Email: "bob@example.com", Name: "Bob", Role: latch.RoleMember, Kind: latch.KindPerson}

// checkErr checks an error's retryability, code and person-facing message.
func checkErr(tb testing.TB, err error, permanent bool, code string, in ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatal("got nil, want an error")
	}
	if got := latch.IsPermanent(err); got != permanent {
		tb.Errorf("IsPermanent = %v, want %v (error: %v)", got, permanent, err)
	}
	if got := latch.ErrorCodeOf(err); got != code {
		tb.Errorf("code = %q, want %q (error: %v)", got, code, err)
	}
	msg := latch.ErrorMessageOf(err)
	for _, s := range in {
		if !strings.Contains(msg, s) {
			tb.Errorf("message %q does not contain %q", msg, s)
		}
	}
	for _, s := range []string{"query-secret", secret} {
		if strings.Contains(err.Error(), s) {
			tb.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestCallHookSendsTheDocumentedCall(t *testing.T) {
	for _, point := range []string{latch.HookOnRequest, latch.HookOnApprove, latch.HookOnDeny, latch.HookAfterEscalate, latch.HookAfterDeescalate} {
		t.Run(point, func(t *testing.T) {
			rc := newReceiver(t)
			r := request()
			if _, err := newCaller(hooks.WithVersion("1.4.2")).CallHook(context.Background(), flow(rc.URL), point, r); err != nil {
				t.Fatalf("CallHook: %v", err)
			}
			c := only(t, rc)
			if c.Path != "/"+point+"?token=query-secret" {
				t.Errorf("called %s, want the %s hook's URL", c.Path, point)
			}
			for k, want := range map[string]string{
				"Content-Type":      "application/json",
				"User-Agent":        "latch/1.4.2",
				"Idempotency-Key":   "req_1:" + point + ":3",
				"X-Latch-Timestamp": strconv.FormatInt(now.Unix(), 10),
			} {
				if got := c.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			wantReq, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"hook":"` + point + `","flow":"prod","request":` + string(wantReq) + `}`
			if diff := cmp.Diff(want, string(c.Body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOnRequestAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		answer   string
		want     latch.HookAnswer
		wantCode string
		wantIn   string
	}{
		{name: "approve", status: 200, answer: `{"decision":"approve","reason":"on call"}`, want: latch.HookAnswer{Decision: "approve", Reason: "on call"}},
		{name: "deny", status: 200, answer: ` {"decision":"deny"}` + "\n", want: latch.HookAnswer{Decision: "deny"}},
		{name: "an empty object leaves it to the approvers", status: 200, answer: `{}`},
		{name: "an empty body leaves it to the approvers", status: 204},
		{name: "unknown fields are ignored", status: 200, answer: `{"ok":true}`},
		{name: "another decision is a bad answer", status: 200, answer: `{"decision":"maybe"}`,
			wantCode: hooks.CodeBadAnswer, wantIn: `answered the decision "maybe"; answer {} to leave the request to the approvers`},
		{name: "text is a bad answer", status: 200, answer: `yes`, wantCode: hooks.CodeBadAnswer, wantIn: "not a JSON object"},
		{name: "a JSON array is a bad answer", status: 200, answer: `[{"decision":"approve"}]`, wantCode: hooks.CodeBadAnswer, wantIn: "not a JSON object"},
		{name: "a reason that is not text is a bad answer", status: 200, answer: `{"decision":"approve","reason":7}`, wantCode: hooks.CodeBadAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.Answer(tt.status, tt.answer, nil)
			got, err := newCaller().CallHook(context.Background(), flow(rc.URL), latch.HookOnRequest, request())
			if tt.wantCode != "" {
				checkErr(t, err, true, tt.wantCode, "The on_request hook at 127.0.0.1:", tt.wantIn)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CallHook = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestTheAnswersOfOtherPointsAreNotRead(t *testing.T) {
	rc := newReceiver(t)
	rc.Answer(http.StatusOK, `{"decision":"approve"} and then some text`, nil)
	got, err := newCaller().CallHook(context.Background(), flow(rc.URL), latch.HookOnApprove, request())
	if err != nil || got != (latch.HookAnswer{}) {
		t.Fatalf("CallHook(on_approve) = %+v, %v; want a zero answer and no error", got, err)
	}
}

func TestCallHookFailures(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		answer    string
		header    http.Header
		permanent bool
		code      string
		wantIn    []string
	}{
		{name: "a 5xx is retryable", status: 503, answer: `{"error":"down for maintenance"}`, code: outbound.CodeServerError,
			wantIn: []string{"The on_approve hook at 127.0.0.1:", "failed to handle request req_1: 503 Service Unavailable: down for maintenance"}},
		{name: "a 429 is retryable", status: 429, code: outbound.CodeServerError, wantIn: []string{"429 Too Many Requests"}},
		{name: "a 4xx is permanent and shows the hook's error", status: 403, answer: `{"error":"bad key"}`, permanent: true, code: outbound.CodeRejected,
			wantIn: []string{"The on_approve hook at 127.0.0.1:", "refused to handle request req_1: 403 Forbidden: bad key"}},
		{name: "a 404 is permanent outside get_identity", status: 404, permanent: true, code: outbound.CodeRejected, wantIn: []string{"404 Not Found"}},
		{name: "a redirect is not followed and names the setting", status: 307, header: http.Header{"Location": {"/elsewhere"}}, permanent: true, code: outbound.CodeRejected,
			wantIn: []string{"a redirect", `set hooks.on_approve of flow "prod" to the final address`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.Answer(tt.status, tt.answer, tt.header)
			_, err := newCaller().CallHook(context.Background(), flow(rc.URL), latch.HookOnApprove, request())
			checkErr(t, err, tt.permanent, tt.code, tt.wantIn...)
			if n := len(rc.Calls()); n != 1 {
				t.Errorf("hook got %d calls, want exactly 1 (the caller owns retries)", n)
			}
		})
	}
}

func TestAPointWithoutAURLIsAPermanentError(t *testing.T) {
	rc := newReceiver(t)
	f := flow(rc.URL)
	f.Hooks.OnDeny = ""
	_, err := newCaller().CallHook(context.Background(), f, latch.HookOnDeny, request())
	checkErr(t, err, true, hooks.CodeNoHook, `Flow "prod" has no on_deny hook.`)
	_, err = newCaller().CallHook(context.Background(), f, "on_lunch", request())
	checkErr(t, err, true, hooks.CodeNoHook, "no on_lunch hook")
	f.Hooks.GetIdentity = ""
	_, err = newCaller().GetIdentity(context.Background(), f, bob)
	checkErr(t, err, true, hooks.CodeNoHook, "no get_identity hook")
	if n := len(rc.Calls()); n != 0 {
		t.Errorf("hook got %d calls, want none", n)
	}
}

func TestGetIdentity(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		answer    string
		want      string
		permanent bool
		wantCode  string
		wantIn    string
	}{
		{name: "an identity", status: 200, answer: `{"identity":"bob-vault"}`, want: "bob-vault"},
		{name: "an identity is trimmed", status: 200, answer: `{"identity":" bob-vault\n"}`, want: "bob-vault"},
		{name: "unknown fields are ignored", status: 200, answer: `{"identity":"bob-vault","source":"ldap"}`, want: "bob-vault"},
		{name: "an empty identity is none", status: 200, answer: `{"identity":""}`},
		{name: "a blank identity is none", status: 200, answer: `{"identity":"  "}`},
		{name: "a missing identity is none", status: 200, answer: `{}`},
		{name: "a null identity is none", status: 200, answer: `{"identity":null}`},
		{name: "an empty answer is none", status: 204},
		{name: "a 404 is none", status: 404, answer: `{"error":"no such user"}`},
		{name: "text is a bad answer", status: 200, answer: `bob-vault`, permanent: true, wantCode: hooks.CodeBadAnswer,
			wantIn: `The get_identity hook at 127.0.0.1:`},
		{name: "a JSON string is a bad answer", status: 200, answer: `"bob-vault"`, permanent: true, wantCode: hooks.CodeBadAnswer,
			wantIn: `answered something that is not a JSON object; answer {"identity":"<the person's id>"}`},
		{name: "broken JSON is a bad answer", status: 200, answer: `{"identity":"bob`, permanent: true, wantCode: hooks.CodeBadAnswer, wantIn: "not a JSON object"},
		{name: "a number is a bad answer", status: 200, answer: `{"identity":42}`, permanent: true, wantCode: hooks.CodeBadAnswer,
			wantIn: "answered an identity that is not a string"},
		{name: "an object is a bad answer", status: 200, answer: `{"identity":{"id":"bob"}}`, permanent: true, wantCode: hooks.CodeBadAnswer,
			wantIn: "not a string"},
		{name: "a 4xx is permanent", status: 403, answer: `{"error":"bad key"}`, permanent: true, wantCode: outbound.CodeRejected,
			wantIn: "The get_identity hook at 127.0.0.1:"},
		{name: "a 400 is permanent", status: 400, permanent: true, wantCode: outbound.CodeRejected,
			wantIn: "refused to find the identity of bob@example.com in vault: 400 Bad Request"},
		{name: "a 5xx is retryable", status: 500, wantCode: outbound.CodeServerError, wantIn: "failed to find the identity of bob@example.com in vault: 500"},
		{name: "a 429 is retryable", status: 429, wantCode: outbound.CodeServerError, wantIn: "429 Too Many Requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.Answer(tt.status, tt.answer, nil)
			got, err := newCaller().GetIdentity(context.Background(), flow(rc.URL), bob)
			c := only(t, rc)
			if c.Path != "/get_identity?token=query-secret" || c.Header.Get("Idempotency-Key") != "get_identity:prod:bob@example.com" {
				t.Errorf("called %s with Idempotency-Key %q", c.Path, c.Header.Get("Idempotency-Key"))
			}
			want := `{"hook":"get_identity","flow":"prod","service":"vault",` +
				`"user":{"id":"usr_1","email":"bob@example.com","name":"Bob","role":"member","kind":"person"}}`
			if diff := cmp.Diff(want, string(c.Body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if tt.wantCode != "" {
				checkErr(t, err, tt.permanent, tt.wantCode, tt.wantIn)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("GetIdentity = %q, %v; want %q, nil", got, err, tt.want)
			}
		})
	}
}

func TestGetIdentityAsksForTheFlowsService(t *testing.T) {
	rc := newReceiver(t)
	f := flow(rc.URL)
	f.Identity.Service = ""
	if _, err := newCaller().GetIdentity(context.Background(), f, latch.User{Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Service string            `json:"service"`
		User    map[string]string `json:"user"`
	}
	if err := json.Unmarshal(only(t, rc).Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Service != "webhook" {
		t.Errorf("service = %q, want the strategy type, the flow's default identity service", body.Service)
	}
	if diff := cmp.Diff(map[string]string{"id": "", "email": "ann@example.com", "name": "", "role": "", "kind": ""}, body.User); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	rc := newReceiver(t)
	rc.Hang(true)
	h := newCaller(hooks.WithTimeout(50 * time.Millisecond))
	_, err := h.GetIdentity(context.Background(), flow(rc.URL), bob)
	checkErr(t, err, false, outbound.CodeTimeout, "The get_identity hook at 127.0.0.1:", "did not answer within 50ms")
	_, err = h.CallHook(context.Background(), flow(rc.URL), latch.HookOnRequest, request())
	checkErr(t, err, false, outbound.CodeTimeout, "The on_request hook at 127.0.0.1:", "did not answer within 50ms to handle request req_1.")
}

func TestUnreachableIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = newCaller().CallHook(context.Background(), flow("http://"+addr), latch.HookAfterEscalate, request())
	checkErr(t, err, false, outbound.CodeUnreachable, "Could not reach the after_escalate hook at "+addr+" to handle request req_1.")
}

func TestCallerCancellationIsRetryable(t *testing.T) {
	rc := newReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newCaller().CallHook(ctx, flow(rc.URL), latch.HookOnRequest, request())
	if err == nil || latch.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("CallHook with a cancelled context: %v, want a retryable error wrapping context.Canceled", err)
	}
}

func TestCheck(t *testing.T) {
	good := flow("https://hooks.example.com")
	unset := flow("https://hooks.example.com")
	unset.Name, unset.File, unset.Hooks.SecretEnv = "unset", "flows/unset.yaml", "NOT_SET"
	empty := flow("https://hooks.example.com")
	empty.Name, empty.File, empty.Hooks.SecretEnv = "empty", "flows/empty.yaml", "EMPTY"
	noHooks := &latch.Flow{Name: "plain", File: "flows/plain.yaml"}
	onlySecret := &latch.Flow{Name: "secret-only", File: "flows/secret-only.yaml", Hooks: latch.Hooks{SecretEnv: "NOT_SET"}}
	lookupEnv := func(name string) (string, bool) {
		if name == "EMPTY" {
			return "", true
		}
		return env(name)
	}
	h := hooks.New(lookupEnv, nil)

	if err := h.Check([]*latch.Flow{good, noHooks, onlySecret}); err != nil {
		t.Errorf("Check of flows that can call their hooks: %v", err)
	}
	err := h.Check([]*latch.Flow{good, unset, noHooks, empty})
	if err == nil {
		t.Fatal("Check with missing secrets: nil, want an error")
	}
	for _, want := range []string{
		`flow "unset" (flows/unset.yaml): environment variable NOT_SET (named by hooks.secret_env) is not set`,
		`flow "empty" (flows/empty.yaml): environment variable EMPTY (named by hooks.secret_env) is empty`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `"prod"`) || strings.Contains(err.Error(), "plain") {
		t.Errorf("Check = %q names a flow that is fine", err)
	}

	rc := newReceiver(t)
	calling := flow(rc.URL)
	calling.Hooks.SecretEnv = "NOT_SET"
	_, err = h.GetIdentity(context.Background(), calling, bob)
	checkErr(t, err, true, hooks.CodeSecretMissing, `The hooks of flow "prod" cannot be called: environment variable NOT_SET`)
	_, err = h.CallHook(context.Background(), calling, latch.HookOnRequest, request())
	checkErr(t, err, true, hooks.CodeSecretMissing, "NOT_SET")
	if n := len(rc.Calls()); n != 0 {
		t.Errorf("hook got %d calls without a secret, want none", n)
	}
}

func TestCheckRefusesAURLThatCannotBeCalled(t *testing.T) {
	f := flow("https://hooks.example.com")
	f.Hooks.OnDeny = "ftp://hooks.example.com/deny"
	err := hooks.New(env, nil).Check([]*latch.Flow{f})
	if err == nil || !strings.Contains(err.Error(), `flow "prod" (flows/prod.yaml): hooks.on_deny: the URL must be http or https`) {
		t.Fatalf("Check = %v, want it to name the flow, its file and the hook", err)
	}
	_, err = hooks.New(env, nil).CallHook(context.Background(), f, latch.HookOnRequest, request())
	checkErr(t, err, true, hooks.CodeBadURL, "hooks.on_deny")
}

func TestSendersAreBuiltOncePerFlow(t *testing.T) {
	rc := newReceiver(t)
	var lookups atomic.Int32
	h := hooks.New(func(name string) (string, bool) {
		lookups.Add(1)
		return env(name)
	}, nil, hooks.WithClock(latch.ClockFunc(func() time.Time { return now })))
	f := flow(rc.URL)
	if err := h.Check([]*latch.Flow{f}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := h.CallHook(context.Background(), f, latch.HookOnApprove, request()); err != nil {
			t.Fatal(err)
		}
		if _, err := h.GetIdentity(context.Background(), f, bob); err != nil {
			t.Fatal(err)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("the secret was read %d times for one flow, want once", n)
	}

	// The same flow, reloaded with other hooks, gets new senders.
	other := newReceiver(t)
	reloaded := flow(other.URL)
	if _, err := h.CallHook(context.Background(), reloaded, latch.HookOnApprove, request()); err != nil {
		t.Fatal(err)
	}
	if n := len(other.Calls()); n != 1 {
		t.Errorf("the reloaded flow's hook got %d calls, want 1", n)
	}
	if n := lookups.Load(); n != 2 {
		t.Errorf("the secret was read %d times for a flow and its reload, want twice", n)
	}
}

func TestConcurrentCalls(t *testing.T) {
	rc := newReceiver(t)
	rc.Answer(http.StatusOK, `{"identity":"someone"}`, nil)
	h := newCaller()
	flows := []*latch.Flow{flow(rc.URL), flow(rc.URL + "/b")}
	flows[1].Name = "staging"
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := flows[i%2]
			if i%4 < 2 {
				r := request()
				r.ID = "req_" + strconv.Itoa(i)
				_, err := h.CallHook(context.Background(), f, latch.HookAfterEscalate, r)
				errs <- err
				return
			}
			id, err := h.GetIdentity(context.Background(), f, latch.User{Email: "u" + strconv.Itoa(i) + "@example.com"})
			if err == nil && id != "someone" {
				err = errors.New("GetIdentity = " + id)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	calls := rc.Calls()
	keys := map[string]bool{}
	for _, c := range calls {
		if c.VerifyErr != nil {
			t.Errorf("signature: %v", c.VerifyErr)
		}
		keys[c.Header.Get("Idempotency-Key")] = true
	}
	if len(calls) != 32 || len(keys) != 32 {
		t.Errorf("hooks got %d calls with %d distinct idempotency keys, want 32 and 32", len(calls), len(keys))
	}
}
