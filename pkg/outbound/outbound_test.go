package outbound_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
	"github.com/latchhq/latch/pkg/signing/signingtest"
	"github.com/latchhq/latch/pkg/version"
)

const secret = "s3cr3t-for-tests-only"

// now is the sender's clock and the receiver's, so signatures verify
// without the real time.
var now = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

var clock = latch.ClockFunc(func() time.Time { return now })

// newReceiver starts a fake endpoint that checks signatures made with
// secret at now; it answers 204 until told otherwise.
func newReceiver(tb testing.TB) *signingtest.Receiver {
	tb.Helper()
	return signingtest.NewReceiver(tb, []byte(secret), clock)
}

func newSender(tb testing.TB, url string, opts ...outbound.Option) *outbound.Sender {
	tb.Helper()
	opts = append([]outbound.Option{outbound.WithClock(clock)}, opts...)
	s, err := outbound.New(url, []byte(secret), nil, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

func TestPostSendsASignedCall(t *testing.T) {
	rc := newReceiver(t)
	rc.Answer(http.StatusOK, `{"identity":"ada"}`, nil)
	s := newSender(t, rc.URL+"/hooks/latch?tenant=acme",
		outbound.WithVersion("1.4.2"),
		outbound.WithHeaders(http.Header{"x-tenant": {"acme"}, "Content-Type": {"text/plain"}}))
	body := []byte(`{"hook":"get_identity","user":{"email":"ada@example.com"}}`)

	answer, err := s.Post(context.Background(), body, "usr_1:get_identity", "find ada")
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if string(answer) != `{"identity":"ada"}` {
		t.Errorf("answer = %q, want the receiver's body", answer)
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
	if diff := cmp.Diff(string(body), string(c.Body)); diff != "" {
		t.Errorf("body (-sent +received):\n%s", diff)
	}
	want := map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "latch/1.4.2",
		"Idempotency-Key":   "usr_1:get_identity",
		"X-Tenant":          "acme",
		"X-Latch-Timestamp": strconv.FormatInt(now.Unix(), 10),
	}
	for k, v := range want {
		if got := c.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want just %q", k, got, v)
		}
	}
}

func TestPostDefaults(t *testing.T) {
	rc := newReceiver(t)
	s := newSender(t, rc.URL)
	if _, err := s.Post(context.Background(), []byte(`{}`), "", "test"); err != nil {
		t.Fatal(err)
	}
	c := rc.Calls()[0]
	if ua := c.Header.Get("User-Agent"); !regexp.MustCompile(`^latch/\S+$`).MatchString(ua) || ua != version.UserAgent() {
		t.Errorf("User-Agent = %q, want %q (latch/<version>, as latch version prints it)", ua, version.UserAgent())
	}
	if _, ok := c.Header["Idempotency-Key"]; ok {
		t.Errorf("Idempotency-Key = %q, want none for an empty key", c.Header.Get("Idempotency-Key"))
	}
	if s.Host() != strings.TrimPrefix(rc.URL, "http://") {
		t.Errorf("Host = %q, want the URL's host and port", s.Host())
	}
}

func TestAnswers(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name          string
		status        int
		body          string
		header        http.Header
		wantAnswer    string
		wantErr       bool
		wantPermanent bool
		wantCode      string
		wantIn        []string
		wantNotIn     []string
	}{
		{name: "200 is success and gives the answer", status: 200, body: `{"ok":true}`, wantAnswer: `{"ok":true}`},
		{name: "201 is success", status: 201, body: "created", wantAnswer: "created"},
		{name: "202 is success", status: 202},
		{name: "204 is success with no answer", status: 204},
		{name: "400 is permanent and shows the receiver's error", status: 400, body: `{"error":"unknown group prod-admins"}`,
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected,
			wantIn: []string{"The webhook at 127.0.0.1:", "refused to escalate grant gr_1: 400 Bad Request: unknown group prod-admins"}, wantNotIn: []string{`{"error"`}},
		{name: "401 is permanent", status: 401, body: `{"error":"bad signature"}`,
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected, wantIn: []string{"401 Unauthorized: bad signature"}},
		{name: "403 shows a message field", status: 403, body: `{"message":"user is suspended","code":7}`,
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected, wantIn: []string{"403 Forbidden: user is suspended"}},
		{name: "an empty error field falls back to message", status: 403, body: `{"error":"","message":"try later"}`,
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected, wantIn: []string{"403 Forbidden: try later"}},
		{name: "404 shows a plain-text body on one line", status: 404, body: "no such\nroute\r\n",
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected, wantIn: []string{"404 Not Found: no such route"}},
		{name: "409 without a body", status: 409,
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected, wantIn: []string{"409 Conflict"}},
		{name: "a 4xx unknown to net/http shows its number", status: 499,
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected, wantIn: []string{"refused to escalate grant gr_1: 499"}},
		{name: "422 with a huge body shows only its start", status: 422, body: long,
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected,
			wantIn: []string{"422 Unprocessable Entity", strings.Repeat("x", 200) + "…"}, wantNotIn: []string{strings.Repeat("x", 201)}},
		{name: "408 is retryable", status: 408, wantErr: true, wantCode: outbound.CodeServerError, wantIn: []string{"408 Request Timeout"}},
		{name: "425 is retryable", status: 425, wantErr: true, wantCode: outbound.CodeServerError, wantIn: []string{"425 Too Early"}},
		{name: "429 is retryable", status: 429, body: `{"error":"slow down"}`,
			wantErr: true, wantCode: outbound.CodeServerError, wantIn: []string{"failed to escalate grant gr_1: 429 Too Many Requests: slow down"}},
		{name: "500 is retryable and shows the body", status: 500, body: `{"error":"database is down"}`,
			wantErr: true, wantCode: outbound.CodeServerError, wantIn: []string{"500 Internal Server Error: database is down"}},
		{name: "502 is retryable", status: 502, wantErr: true, wantCode: outbound.CodeServerError, wantIn: []string{"502 Bad Gateway"}},
		{name: "503 is retryable", status: 503, wantErr: true, wantCode: outbound.CodeServerError, wantIn: []string{"503 Service Unavailable"}},
		{name: "a redirect is not followed and is permanent", status: 302, header: http.Header{"Location": {"/elsewhere?token=abc"}},
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected,
			wantIn: []string{"answered 302 Found to escalate grant gr_1, a redirect", "set the URL to the final address"}, wantNotIn: []string{"token=abc", "elsewhere"}},
		{name: "a permanent redirect is not followed either", status: 308, header: http.Header{"Location": {"https://elsewhere.example.com/"}},
			wantErr: true, wantPermanent: true, wantCode: outbound.CodeRejected, wantIn: []string{"308 Permanent Redirect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.Answer(tt.status, tt.body, tt.header)
			s := newSender(t, rc.URL+"/hook?token=query-secret")
			answer, err := s.Post(context.Background(), []byte(`{}`), "gr_1:escalate", "escalate grant gr_1")
			if n := len(rc.Calls()); n != 1 {
				t.Errorf("receiver got %d calls, want exactly 1 (no retries, no redirects)", n)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Post: %v, want nil", err)
				}
				if string(answer) != tt.wantAnswer {
					t.Errorf("answer = %q, want %q", answer, tt.wantAnswer)
				}
				return
			}
			if answer != nil {
				t.Errorf("answer = %q, want none with an error", answer)
			}
			checkErr(t, err, tt.wantPermanent, tt.wantCode, tt.wantIn, append(tt.wantNotIn, "query-secret", "/hook", secret))
			if got := outbound.Status(err); got != tt.status {
				t.Errorf("Status = %d, want %d", got, tt.status)
			}
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

func TestNameAndSettingAreUsedInMessages(t *testing.T) {
	rc := newReceiver(t)
	rc.Answer(http.StatusMovedPermanently, "", http.Header{"Location": {"/moved"}})
	s := newSender(t, rc.URL, outbound.WithName("on_request hook"), outbound.WithSetting(`hooks.on_request of flow "prod"`))
	_, err := s.Post(context.Background(), []byte(`{}`), "", "handle request req_1")
	checkErr(t, err, true, outbound.CodeRejected, []string{
		"The on_request hook at 127.0.0.1:",
		"answered 301 Moved Permanently to handle request req_1, a redirect",
		`so set hooks.on_request of flow "prod" to the final address`,
	}, nil)
}

func TestALongAnswerIsCut(t *testing.T) {
	rc := newReceiver(t)
	rc.Answer(http.StatusOK, strings.Repeat("a", outbound.MaxAnswer+10_000), nil)
	s := newSender(t, rc.URL)
	answer, err := s.Post(context.Background(), []byte(`{}`), "", "test")
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if len(answer) != outbound.MaxAnswer {
		t.Errorf("answer has %d bytes, want MaxAnswer (%d)", len(answer), outbound.MaxAnswer)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	rc := newReceiver(t)
	rc.Hang(true)
	s := newSender(t, rc.URL+"/hook?token=query-secret", outbound.WithTimeout(50*time.Millisecond))
	_, err := s.Post(context.Background(), []byte(`{}`), "", "escalate grant gr_1")
	checkErr(t, err, false, outbound.CodeTimeout,
		[]string{"The webhook at 127.0.0.1:", "did not answer within 50ms to escalate grant gr_1."}, []string{"query-secret"})
	if outbound.Status(err) != 0 {
		t.Errorf("Status = %d, want 0 for a call without an answer", outbound.Status(err))
	}
}

func TestTheClientsOwnTimeoutIsATimeout(t *testing.T) {
	rc := newReceiver(t)
	rc.Hang(true)
	s, err := outbound.New(rc.URL, []byte(secret), &http.Client{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Post(context.Background(), []byte(`{}`), "", "test")
	checkErr(t, err, false, outbound.CodeTimeout, []string{"did not answer"}, nil)
}

func TestCallerCancellationIsRetryable(t *testing.T) {
	rc := newReceiver(t)
	s := newSender(t, rc.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Post(ctx, []byte(`{}`), "", "escalate grant gr_1")
	if err == nil || latch.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Post with a cancelled context: %v, want a retryable error wrapping context.Canceled", err)
	}
	var le *latch.Error
	if errors.As(err, &le) {
		t.Errorf("Post with a cancelled context: %v, want no *latch.Error: the endpoint did nothing wrong", err)
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/hook?token=query-secret"
	ln.Close()
	s := newSender(t, url)
	_, err = s.Post(context.Background(), []byte(`{}`), "", "deescalate grant gr_1")
	checkErr(t, err, false, outbound.CodeUnreachable,
		[]string{"Could not reach the webhook at " + ln.Addr().String() + " to deescalate grant gr_1."}, []string{"query-secret", "/hook"})
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		secret string
		want   string
	}{
		{name: "another scheme", url: "ftp://files.example.com/x?token=t0k", secret: secret, want: "http or https"},
		{name: "no host", url: "https:///path?token=t0k", secret: secret, want: "name a host"},
		{name: "not a URL", url: "https://exa mple.com/?token=t0k", secret: secret, want: "http or https"},
		{name: "an empty secret", url: "https://hooks.example.com/x", want: "secret is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := outbound.New(tt.url, []byte(tt.secret), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "t0k") {
				t.Errorf("New: %v repeats the URL's query", err)
			}
		})
	}
}

func TestNewKeepsTheCallersClientUntouched(t *testing.T) {
	client := &http.Client{Timeout: time.Minute}
	if _, err := outbound.New("https://hooks.example.com/latch", []byte(secret), client); err != nil {
		t.Fatal(err)
	}
	if client.CheckRedirect != nil {
		t.Error("New changed the redirect policy of the client it was given")
	}
}

func TestNewCopiesTheSecretAndHeaders(t *testing.T) {
	rc := newReceiver(t)
	key := []byte(secret)
	headers := http.Header{"X-Tenant": {"acme"}}
	s, err := outbound.New(rc.URL, key, nil, outbound.WithClock(clock), outbound.WithHeaders(headers))
	if err != nil {
		t.Fatal(err)
	}
	key[0] = 'X'
	headers.Set("X-Tenant", "other")
	if _, err := s.Post(context.Background(), []byte(`{}`), "", "test"); err != nil {
		t.Fatal(err)
	}
	c := rc.Calls()[0]
	if c.VerifyErr != nil || c.Header.Get("X-Tenant") != "acme" {
		t.Errorf("after the caller changed its secret and headers: signature %v, X-Tenant %q; want the values given to New",
			c.VerifyErr, c.Header.Get("X-Tenant"))
	}
}

func TestStatusOfOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("plain"), &latch.Error{Code: "x"}, latch.ErrNotFound} {
		if got := outbound.Status(err); got != 0 {
			t.Errorf("Status(%v) = %d, want 0", err, got)
		}
	}
}

func TestConcurrentPosts(t *testing.T) {
	rc := newReceiver(t)
	s := newSender(t, rc.URL)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Post(context.Background(), []byte(`{"n":`+strconv.Itoa(i)+`}`), "key-"+strconv.Itoa(i), "test")
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
	if len(calls) != 16 || len(keys) != 16 {
		t.Errorf("receiver got %d calls with %d distinct idempotency keys, want 16 and 16", len(calls), len(keys))
	}
}

// A 2xx answer cut off mid-body is a dropped connection: retryable, never a
// half-read answer handed back as if whole.
func TestACutOffAnswerIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"identity":`))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection before the rest
	}))
	defer srv.Close()
	answer, err := newSender(t, srv.URL).Post(context.Background(), []byte(`{}`), "k", "ask")
	if err == nil || latch.IsPermanent(err) || latch.ErrorCodeOf(err) != outbound.CodeUnreachable || answer != nil {
		t.Fatalf("Post = %q, %v (permanent %v); want no answer and a retryable %s", answer, err, latch.IsPermanent(err), outbound.CodeUnreachable)
	}
}
