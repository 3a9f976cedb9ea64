package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing/signingtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	secretEnv = "LATCH_TEST_WEBHOOK_SECRET"
	secret    = "s3cr3t-for-tests-only"
)

// now is the escalator's clock and the receiver's, so signatures verify
// without the real time.
var now = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

// newReceiver starts a fake webhook endpoint that checks signatures made
// with secret at now; it answers 204 until told otherwise.
func newReceiver(tb testing.TB) *signingtest.Receiver {
	tb.Helper()
	return signingtest.NewReceiver(tb, []byte(secret), func() time.Time { return now })
}

func env(name string) (string, bool) {
	if name == secretEnv {
		return secret, true
	}
	return "", false
}

func newEscalator(tb testing.TB, config map[string]any, opts ...webhook.Option) *webhook.Escalator {
	tb.Helper()
	opts = append([]webhook.Option{webhook.WithClock(latch.ClockFunc(func() time.Time { return now }))}, opts...)
	e, err := webhook.New(config, env, nil, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return e
}

func configFor(url string) map[string]any {
	return map[string]any{"url": url, "secret_env": secretEnv}
}

// spec is a grant with every kind of field value; StartsAt is in another
// zone and has nanoseconds, which the wire drops.
func spec() latch.GrantSpec {
	berlin := time.FixedZone("CET", 3600)
	return latch.GrantSpec{
		GrantID:  "gr_01JDQ3M8Z6N9V4C2B7X5K1H0TE",
		StartsAt: time.Date(2026, 11, 25, 10, 30, 0, 123456789, berlin),
		EndsAt:   time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC),
		User:     latch.SpecUser{Email: "ada@example.com", Identity: "ada.lovelace"},
		Target: latch.Target{ID: "prod-admins", Label: "Production admins", Settings: map[string]any{
			"group":   "prod-admins",
			"account": "123456789012",
			"tags":    map[string]any{"team": "platform"},
		}},
		Request: latch.SpecRequest{ID: "req_01JDQ3KZ2W7Y5T3R1P9N8M6L4K", Flow: "prod-access", Fields: latch.Fields{
			"reason":    "Investigate incident 4211",
			"duration":  int64(10800),
			"target_id": "prod-admins",
			"urgent":    true,
			"tickets":   []string{"INC-4211", "INC-4212"},
		}},
	}
}

func TestGrantAndRevokeSendTheDocumentedCall(t *testing.T) {
	tests := []struct {
		name   string
		do     func(*webhook.Escalator, context.Context, latch.GrantSpec) error
		spec   latch.GrantSpec
		action string
		golden string
	}{
		{name: "grant", do: (*webhook.Escalator).Grant, spec: spec(), action: "escalate", golden: "escalate.json"},
		{name: "revoke without scheduled end, settings or fields", do: (*webhook.Escalator).Revoke, spec: func() latch.GrantSpec {
			g := spec()
			g.EndsAt = time.Time{}
			g.Target.Settings = nil
			g.Request.Fields = nil
			return g
		}(), action: "deescalate", golden: "deescalate.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			e := newEscalator(t, map[string]any{
				"url":        rc.URL + "/hooks/latch?tenant=acme",
				"secret_env": secretEnv,
				"headers":    map[string]any{"Authorization": "Bearer static-token", "x-tenant": "acme"},
			})
			if err := tt.do(e, context.Background(), tt.spec); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			calls := rc.Calls()
			if len(calls) != 1 {
				t.Fatalf("receiver got %d calls, want 1", len(calls))
			}
			c := calls[0]
			if c.VerifyErr != nil {
				t.Errorf("signing.Verify: %v", c.VerifyErr)
			}
			if c.Method != http.MethodPost || c.Path != "/hooks/latch?tenant=acme" {
				t.Errorf("got %s %s, want POST /hooks/latch?tenant=acme", c.Method, c.Path)
			}
			wantHeaders := map[string]string{
				"Content-Type":      "application/json",
				"Idempotency-Key":   tt.spec.GrantID + ":" + tt.action,
				"Authorization":     "Bearer static-token",
				"X-Tenant":          "acme",
				"X-Latch-Timestamp": strconv.FormatInt(now.Unix(), 10),
			}
			for k, want := range wantHeaders {
				if got := c.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if ua := c.Header.Get("User-Agent"); !regexp.MustCompile(`^latch/\S+$`).MatchString(ua) {
				t.Errorf("User-Agent = %q, want latch/<version>", ua)
			}
			checkGolden(t, tt.golden, c.Body)

			var p webhook.Payload
			if err := json.Unmarshal(c.Body, &p); err != nil {
				t.Fatalf("the body does not decode into webhook.Payload: %v", err)
			}
			if p.Action != webhook.Action(tt.action) || p.Grant.ID != tt.spec.GrantID {
				t.Errorf("decoded action %q grant %q, want %q %q", p.Action, p.Grant.ID, tt.action, tt.spec.GrantID)
			}
		})
	}
}

// checkGolden compares body, byte for byte, with the compacted golden file
// (kept indented for people to read). With -update it rewrites the file.
func checkGolden(tb testing.TB, name string, body []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			tb.Fatalf("indent: %v", err)
		}
		out.WriteByte('\n')
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, golden); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if diff := cmp.Diff(want.String(), string(body)); diff != "" {
		tb.Errorf("body differs from %s (-want +got):\n%s", path, diff)
	}
}

func TestUserAgentVersion(t *testing.T) {
	rc := newReceiver(t)
	e := newEscalator(t, configFor(rc.URL), webhook.WithVersion("1.4.2"))
	if err := e.Grant(context.Background(), spec()); err != nil {
		t.Fatal(err)
	}
	if got := rc.Calls()[0].Header.Get("User-Agent"); got != "latch/1.4.2" {
		t.Errorf("User-Agent = %q, want latch/1.4.2", got)
	}
}

func TestAnswers(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name          string
		status        int
		body          string
		header        http.Header
		wantErr       bool
		wantPermanent bool
		wantCode      string
		wantIn        []string
		wantNotIn     []string
	}{
		{name: "200 is success", status: 200, body: `{"ok":true}`},
		{name: "201 is success", status: 201},
		{name: "202 is success", status: 202},
		{name: "204 is success", status: 204},
		{name: "400 is permanent and shows the receiver's error", status: 400, body: `{"error":"unknown group prod-admins"}`,
			wantErr: true, wantPermanent: true, wantCode: webhook.CodeRejected,
			wantIn: []string{"400 Bad Request", "unknown group prod-admins", "127.0.0.1", "escalate"}, wantNotIn: []string{`{"error"`}},
		{name: "403 shows a message field", status: 403, body: `{"message":"user is suspended","code":7}`,
			wantErr: true, wantPermanent: true, wantCode: webhook.CodeRejected, wantIn: []string{"403 Forbidden", "user is suspended"}},
		{name: "404 shows a plain-text body on one line", status: 404, body: "no such\nroute\r\n",
			wantErr: true, wantPermanent: true, wantCode: webhook.CodeRejected, wantIn: []string{"404 Not Found: no such route"}},
		{name: "409 without a body", status: 409,
			wantErr: true, wantPermanent: true, wantCode: webhook.CodeRejected, wantIn: []string{"409 Conflict"}},
		{name: "422 with a huge body shows only its start", status: 422, body: long,
			wantErr: true, wantPermanent: true, wantCode: webhook.CodeRejected, wantIn: []string{"422 Unprocessable Entity", strings.Repeat("x", 200) + "…"},
			wantNotIn: []string{strings.Repeat("x", 201)}},
		{name: "408 is retryable", status: 408, wantErr: true, wantCode: webhook.CodeServerError, wantIn: []string{"408"}},
		{name: "425 is retryable", status: 425, wantErr: true, wantCode: webhook.CodeServerError, wantIn: []string{"425"}},
		{name: "429 is retryable", status: 429, body: `{"error":"slow down"}`, wantErr: true, wantCode: webhook.CodeServerError, wantIn: []string{"429 Too Many Requests", "slow down"}},
		{name: "500 is retryable and shows the body", status: 500, body: `{"error":"database is down"}`,
			wantErr: true, wantCode: webhook.CodeServerError, wantIn: []string{"500 Internal Server Error", "database is down"}},
		{name: "502 is retryable", status: 502, wantErr: true, wantCode: webhook.CodeServerError, wantIn: []string{"502 Bad Gateway"}},
		{name: "503 is retryable", status: 503, wantErr: true, wantCode: webhook.CodeServerError, wantIn: []string{"503"}},
		{name: "a redirect is not followed and is permanent", status: 302, header: http.Header{"Location": {"/elsewhere?token=abc"}},
			wantErr: true, wantPermanent: true, wantCode: webhook.CodeRejected, wantIn: []string{"302 Found", "redirect"}, wantNotIn: []string{"token=abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.Answer(tt.status, tt.body, tt.header)
			e := newEscalator(t, configFor(rc.URL+"/hook?token=query-secret"))
			err := e.Grant(context.Background(), spec())
			if n := len(rc.Calls()); n != 1 {
				t.Errorf("receiver got %d calls, want exactly 1 (no retries, no redirects)", n)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Grant: %v, want nil", err)
				}
				return
			}
			checkErr(t, err, tt.wantPermanent, tt.wantCode, tt.wantIn, append(tt.wantNotIn, "query-secret", secret))
		})
	}
}

// checkErr checks an error's retryability, code and person-facing message.
func checkErr(tb testing.TB, err error, permanent bool, code string, in, notIn []string) {
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
	for _, s := range notIn {
		if strings.Contains(err.Error(), s) {
			tb.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestRevokeErrorsNameTheAction(t *testing.T) {
	rc := newReceiver(t)
	rc.Answer(http.StatusBadRequest, `{"error":"not a member"}`, nil)
	e := newEscalator(t, configFor(rc.URL))
	err := e.Revoke(context.Background(), spec())
	checkErr(t, err, true, webhook.CodeRejected, []string{"refused to deescalate grant gr_01JDQ3M8Z6N9V4C2B7X5K1H0TE", "not a member"}, nil)
}

func TestTimeoutIsRetryable(t *testing.T) {
	rc := newReceiver(t)
	rc.Hang(true)
	cfg := configFor(rc.URL)
	cfg["timeout"] = "50ms"
	e := newEscalator(t, cfg)
	err := e.Grant(context.Background(), spec())
	checkErr(t, err, false, webhook.CodeTimeout, []string{"did not answer within 50ms"}, nil)
}

func TestCallerCancellationIsRetryable(t *testing.T) {
	rc := newReceiver(t)
	e := newEscalator(t, configFor(rc.URL))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.Grant(ctx, spec())
	if err == nil || latch.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Grant with a cancelled context: %v, want a retryable error wrapping context.Canceled", err)
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/hook?token=query-secret"
	ln.Close()
	e := newEscalator(t, configFor(url))
	err = e.Revoke(context.Background(), spec())
	checkErr(t, err, false, webhook.CodeUnreachable, []string{"Could not reach the webhook at 127.0.0.1:", "deescalate"}, []string{"query-secret"})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPanicBecomesAnError(t *testing.T) {
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		panic("transport exploded")
	})}
	e, err := webhook.New(configFor("https://hooks.example.com/latch"), env, client)
	if err != nil {
		t.Fatal(err)
	}
	err = e.Grant(context.Background(), spec())
	checkErr(t, err, false, webhook.CodePanic, []string{"escalate grant"}, nil)
	if !strings.Contains(err.Error(), "transport exploded") {
		t.Errorf("error %q does not carry the panic value", err)
	}
}

func TestNewKeepsTheCallersClientUntouched(t *testing.T) {
	client := &http.Client{Timeout: time.Minute}
	if _, err := webhook.New(configFor("https://hooks.example.com/latch"), env, client); err != nil {
		t.Fatal(err)
	}
	if client.CheckRedirect != nil {
		t.Error("New changed the redirect policy of the client it was given")
	}
}

func TestBadGrantsArePermanent(t *testing.T) {
	rc := newReceiver(t)
	e := newEscalator(t, configFor(rc.URL))
	noID := spec()
	noID.GrantID = ""
	checkErr(t, e.Grant(context.Background(), noID), true, webhook.CodeBadGrant, []string{"without an id"}, nil)

	notJSON := spec()
	notJSON.Target.Settings = map[string]any{"ratio": func() {}}
	checkErr(t, e.Grant(context.Background(), notJSON), true, webhook.CodeBadGrant, []string{"cannot be sent as JSON"}, nil)

	if n := len(rc.Calls()); n != 0 {
		t.Errorf("receiver got %d calls for grants that cannot be sent", n)
	}
}

func TestNewSecret(t *testing.T) {
	tests := []struct {
		name      string
		lookupEnv func(string) (string, bool)
		wantErr   string
	}{
		{name: "set", lookupEnv: env},
		{name: "unset", lookupEnv: func(string) (string, bool) { return "", false },
			wantErr: "environment variable " + secretEnv + " (named by secret_env) is not set"},
		{name: "empty", lookupEnv: func(string) (string, bool) { return "", true },
			wantErr: "environment variable " + secretEnv + " (named by secret_env) is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.New(configFor("https://hooks.example.com/latch"), tt.lookupEnv, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewReadsTheProcessEnvironmentByDefault(t *testing.T) {
	t.Setenv(secretEnv, secret)
	if _, err := webhook.New(configFor("https://hooks.example.com/latch"), nil, nil); err != nil {
		t.Fatalf("New with the variable set: %v", err)
	}
}

func TestNewRefusesABadConfig(t *testing.T) {
	_, err := webhook.New(map[string]any{"secret_env": secretEnv}, env, nil)
	if err == nil || !strings.Contains(err.Error(), "url is required") {
		t.Fatalf("New: %v, want the url problem", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	rc := newReceiver(t)
	e := newEscalator(t, configFor(rc.URL))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := spec()
			g.GrantID = "gr_" + strconv.Itoa(i)
			if i%2 == 0 {
				errs <- e.Grant(context.Background(), g)
			} else {
				errs <- e.Revoke(context.Background(), g)
			}
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
	if len(calls) != 16 || len(keys) != 16 {
		t.Errorf("receiver got %d calls with %d distinct idempotency keys, want 16 and 16", len(calls), len(keys))
	}
}

// TestFollowsTheEnd: a webhook receiver is told the grant's end, so Latch
// sends escalate again when it moves later.
func TestFollowsTheEnd(t *testing.T) {
	var esc latch.Escalator = &webhook.Escalator{}
	if !latch.FollowsEnd(esc) {
		t.Error("the webhook escalator does not follow the grant's end")
	}
}
