package awslambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/escalator/awslambda"
	"github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/latch"
)

const fnARN = "arn:aws:lambda:eu-west-1:123456789012:function:latch-mysql"

// invocation is one call the fake Lambda received.
type invocation struct {
	Function string
	Type     string // X-Amz-Invocation-Type
	Auth     string
	Payload  webhook.Payload
	Raw      string
}

// fakeLambda speaks Lambda's REST invoke API:
// POST /2015-03-31/functions/{FunctionName}/invocations. answer decides the
// reply to the n-th call (from 1).
type fakeLambda struct {
	mu     sync.Mutex
	calls  []invocation
	answer func(n int, w http.ResponseWriter)
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/2015-03-31/functions/", "/invocations"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.EscapedPath(), prefix) || !strings.HasSuffix(r.URL.EscapedPath(), suffix) {
		w.Header().Set("x-amzn-ErrorType", "UnknownOperationException")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"Type":"User","message":"Unknown operation"}`)
		return
	}
	name, err := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), prefix), suffix))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, invocation{Function: name, Type: r.Header.Get("X-Amz-Invocation-Type"),
		Auth: r.Header.Get("Authorization"), Payload: p, Raw: string(body)})
	n := len(f.calls)
	f.mu.Unlock()
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.Header().Set("Content-Type", "application/json")
	f.answer(n, w)
}

func (f *fakeLambda) invocations() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.calls...)
}

// answerJSON answers 200 with body.
func answerJSON(body string) func(int, http.ResponseWriter) {
	return func(_ int, w http.ResponseWriter) { _, _ = io.WriteString(w, body) }
}

// throttled answers as Lambda does when the function's concurrency is used up.
func throttled(w http.ResponseWriter) {
	w.Header().Set("x-amzn-ErrorType", "TooManyRequestsException")
	w.Header().Set("Retry-After", "0")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, `{"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"}`)
}

// unhandled answers as Lambda does when the function threw.
func unhandled(w http.ResponseWriter) {
	w.Header().Set("X-Amz-Function-Error", "Unhandled")
	_, _ = io.WriteString(w, `{"errorMessage":"dial tcp 10.0.0.5:3306: i/o timeout\u001b[2J","errorType":"net.OpError"}`)
}

// start serves f and points the SDK's Lambda endpoint at it, with fake
// credentials and no shared files.
func start(t *testing.T, f *fakeLambda) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLATCH")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "latch-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", srv.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "")
}

func newEscalator(t *testing.T, config map[string]any) *awslambda.Escalator {
	t.Helper()
	if config == nil {
		config = map[string]any{"function_arn": fnARN}
	}
	e, err := awslambda.New(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func spec() latch.GrantSpec {
	return latch.GrantSpec{
		GrantID:  "g-01",
		StartsAt: time.Date(2026, 12, 2, 8, 0, 0, 500, time.UTC),
		EndsAt:   time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC),
		User:     latch.SpecUser{Email: "ana@example.com", Identity: "ana@example.com"},
		Target:   latch.Target{ID: "orders-ro", Settings: map[string]any{"database": "orders", "privileges": []any{"SELECT"}}},
		Request:  latch.SpecRequest{ID: "r-01", Flow: "mysql", Fields: latch.Fields{"reason": "incident 42"}},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestGrantInvokesTheFunctionWithTheWebhookPayload(t *testing.T) {
	f := &fakeLambda{answer: answerJSON(`null`)}
	start(t, f)
	e := newEscalator(t, nil)
	if err := e.Grant(ctx(t), spec()); err != nil {
		t.Fatal(err)
	}
	if err := e.Revoke(ctx(t), spec()); err != nil {
		t.Fatal(err)
	}
	calls := f.invocations()
	if len(calls) != 2 {
		t.Fatalf("%d invocations, want 2", len(calls))
	}
	for i, action := range []webhook.Action{webhook.ActionEscalate, webhook.ActionDeescalate} {
		c := calls[i]
		if c.Function != fnARN {
			t.Errorf("invoked %q, want %q", c.Function, fnARN)
		}
		if c.Type != "RequestResponse" {
			t.Errorf("X-Amz-Invocation-Type %q, want RequestResponse", c.Type)
		}
		// Signed for the function's region, not AWS_REGION's.
		if !strings.Contains(c.Auth, "/eu-west-1/lambda/aws4_request") {
			t.Errorf("Authorization %q is not signed for eu-west-1's lambda", c.Auth)
		}
		want := webhook.NewPayload(action, spec())
		// Compare as JSON: the wire is the contract.
		wantJSON, _ := json.Marshal(want)
		var gotAny, wantAny any
		_ = json.Unmarshal([]byte(c.Raw), &gotAny)
		_ = json.Unmarshal(wantJSON, &wantAny)
		if diff := cmp.Diff(wantAny, gotAny); diff != "" {
			t.Errorf("payload of %s (-want +got):\n%s", action, diff)
		}
	}
	if got := calls[0].Payload.Grant.StartsAt.Format(time.RFC3339Nano); got != "2026-12-02T08:00:00Z" {
		t.Errorf("starts_at %s, want the second", got)
	}
}

func TestRepeatsInvokeAgainWithTheSamePayload(t *testing.T) {
	f := &fakeLambda{answer: answerJSON(`{"body":{"user":"latch_ana"}}`)}
	start(t, f)
	e := newEscalator(t, nil)
	for range 2 {
		if err := e.Grant(ctx(t), spec()); err != nil {
			t.Fatal(err)
		}
	}
	calls := f.invocations()
	if len(calls) != 2 || calls[0].Raw != calls[1].Raw {
		t.Fatalf("repeat: %d calls, payloads %q", len(calls), calls)
	}
	if calls[0].Payload.Grant.ID != "g-01" || calls[0].Payload.Action != webhook.ActionEscalate {
		t.Errorf("payload %+v lacks the grant id and action the function keys repeats on", calls[0].Payload)
	}
}

func TestErrorsAnswerFailsPermanently(t *testing.T) {
	f := &fakeLambda{answer: answerJSON(`{"errors":["database \"orders\" does not exist","user\nname \u202etoo long",{"code":7}],"body":{"x":1}}`)}
	start(t, f)
	e := newEscalator(t, nil)
	out, err := e.GrantWithOutput(ctx(t), spec())
	if err == nil {
		t.Fatal("an errors answer passed")
	}
	if out != nil {
		t.Errorf("a refused grant kept output %v", out)
	}
	if !latch.IsPermanent(err) {
		t.Errorf("%v is not permanent", err)
	}
	var le *latch.Error
	if !errors.As(err, &le) || le.Code != awslambda.CodeRefused {
		t.Fatalf("error %v, want code %s", err, awslambda.CodeRefused)
	}
	want := `The function refused to escalate grant g-01: database "orders" does not exist; user name  too long; {"code":7}`
	if le.Message != want {
		t.Errorf("message\n %q\nwant\n %q", le.Message, want)
	}
}

func TestErrorsAnswerIsBounded(t *testing.T) {
	var many []string
	for range 25 {
		many = append(many, strings.Repeat("é", 2000))
	}
	b, _ := json.Marshal(map[string]any{"errors": many})
	start(t, &fakeLambda{answer: answerJSON(string(b))})
	err := newEscalator(t, nil).Grant(ctx(t), spec())
	var le *latch.Error
	if !errors.As(err, &le) || le.Code != awslambda.CodeRefused {
		t.Fatalf("error %v, want %s", err, awslambda.CodeRefused)
	}
	if n := len([]rune(le.Message)); n > awslambda.MaxMessages*(awslambda.MaxMessage+3)+100 {
		t.Errorf("message of %d characters is not bounded", n)
	}
	if !strings.HasSuffix(le.Message, "(and 15 more)") {
		t.Errorf("message does not say how many were left out: …%s", le.Message[len(le.Message)-40:])
	}
}

func TestEmptyErrorsIsSuccess(t *testing.T) {
	start(t, &fakeLambda{answer: answerJSON(`{"errors":[],"body":{"user":"latch_ana","host":"db.internal"}}`)})
	out, err := newEscalator(t, nil).GrantWithOutput(ctx(t), spec())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"user": "latch_ana", "host": "db.internal"}, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestBodyKeptAsOutput(t *testing.T) {
	tests := []struct {
		name, answer string
		want         map[string]any
		wantCode     string
	}{
		{name: "body", answer: `{"body":{"user":"latch_ana","grants":["SELECT"],"n":2}}`,
			want: map[string]any{"user": "latch_ana", "grants": []any{"SELECT"}, "n": 2.0}},
		{name: "no body", answer: `{"ok":true}`},
		{name: "null", answer: `null`},
		{name: "not an object", answer: `"done"`},
		{name: "body too large", answer: `{"body":{"x":"` + strings.Repeat("a", awslambda.MaxBody) + `"}}`,
			want: map[string]any{"omitted": "the function's body was 4104 bytes; Latch keeps at most 4096"}},
		{name: "body not an object", answer: `{"body":"x"}`, wantCode: awslambda.CodeBadAnswer},
		{name: "errors not a list", answer: `{"errors":"no"}`, wantCode: awslambda.CodeBadAnswer},
		{name: "broken JSON", answer: `{"body":`, wantCode: awslambda.CodeBadAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start(t, &fakeLambda{answer: answerJSON(tt.answer)})
			out, err := newEscalator(t, nil).GrantWithOutput(ctx(t), spec())
			if tt.wantCode != "" {
				var le *latch.Error
				if !errors.As(err, &le) || le.Code != tt.wantCode {
					t.Fatalf("error %v, want code %s", err, tt.wantCode)
				}
				if latch.IsPermanent(err) {
					t.Errorf("a broken answer is permanent; it must be retried (the grant may be in place)")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFunctionErrorIsTransient(t *testing.T) {
	f := &fakeLambda{answer: func(_ int, w http.ResponseWriter) { unhandled(w) }}
	start(t, f)
	err := newEscalator(t, nil).Revoke(ctx(t), spec())
	if err == nil || latch.IsPermanent(err) {
		t.Fatalf("error %v, want a transient one", err)
	}
	var le *latch.Error
	if !errors.As(err, &le) || le.Code != awslambda.CodeFunctionError {
		t.Fatalf("error %v, want code %s", err, awslambda.CodeFunctionError)
	}
	want := "The function failed to deescalate grant g-01 (Unhandled): net.OpError: dial tcp 10.0.0.5:3306: i/o timeout [2J."
	if le.Message != want {
		t.Errorf("message\n %q\nwant\n %q", le.Message, want)
	}
	if n := len(f.invocations()); n != 1 {
		t.Errorf("%d invocations: a function error is retried by the grant runner, not the escalator", n)
	}
}

func TestThrottlingIsRetriedThenTransient(t *testing.T) {
	t.Run("the SDK retries a throttle", func(t *testing.T) {
		f := &fakeLambda{answer: func(n int, w http.ResponseWriter) {
			if n == 1 {
				throttled(w)
				return
			}
			_, _ = io.WriteString(w, `{"body":{"ok":true}}`)
		}}
		start(t, f)
		out, err := newEscalator(t, nil).GrantWithOutput(ctx(t), spec())
		if err != nil {
			t.Fatal(err)
		}
		if len(f.invocations()) != 2 || out["ok"] != true {
			t.Errorf("%d invocations, output %v; want a retry that succeeded", len(f.invocations()), out)
		}
	})
	t.Run("a throttle that lasts is transient", func(t *testing.T) {
		f := &fakeLambda{answer: func(_ int, w http.ResponseWriter) { throttled(w) }}
		start(t, f)
		t.Setenv("AWS_MAX_ATTEMPTS", "1")
		err := newEscalator(t, nil).Grant(ctx(t), spec())
		if err == nil || latch.IsPermanent(err) {
			t.Fatalf("error %v, want a transient one", err)
		}
		if !strings.Contains(err.Error(), "TooManyRequestsException") {
			t.Errorf("error %v does not name the throttle", err)
		}
	})
}

func TestLambdaRefusalIsPermanent(t *testing.T) {
	f := &fakeLambda{answer: func(_ int, w http.ResponseWriter) {
		w.Header().Set("x-amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"Type":"User","Message":"Function not found: `+fnARN+`"}`)
	}}
	start(t, f)
	err := newEscalator(t, nil).Grant(ctx(t), spec())
	if !latch.IsPermanent(err) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("error %v, want a permanent one naming ResourceNotFoundException", err)
	}
}

func TestQualifiedFunctionAndRegionSetting(t *testing.T) {
	f := &fakeLambda{answer: answerJSON(`{}`)}
	start(t, f)
	e := newEscalator(t, map[string]any{"function_arn": fnARN + ":prod", "region": "eu-west-1"})
	if err := e.Grant(ctx(t), spec()); err != nil {
		t.Fatal(err)
	}
	if c := f.invocations(); len(c) != 1 || c[0].Function != fnARN+":prod" {
		t.Errorf("invocations %+v, want the alias", c)
	}
}

func TestGrantWithoutID(t *testing.T) {
	f := &fakeLambda{answer: answerJSON(`{}`)}
	start(t, f)
	g := spec()
	g.GrantID = ""
	if err := newEscalator(t, nil).Grant(ctx(t), g); !latch.IsPermanent(err) {
		t.Errorf("error %v, want permanent", err)
	}
	if len(f.invocations()) != 0 {
		t.Errorf("a grant without an id was sent")
	}
}

func TestValidateConfig(t *testing.T) {
	targets := []latch.Target{{ID: "orders-ro"}}
	tests := []struct {
		name    string
		give    map[string]any
		targets []latch.Target
		wantErr []string
	}{
		{name: "minimal", give: map[string]any{"function_arn": fnARN}},
		{name: "alias and cross-account role", give: map[string]any{"function_arn": fnARN + ":prod",
			"role_arn": "arn:aws:iam::210987654321:role/latch-invoke", "external_id": "latch-prod", "region": "eu-west-1"}},
		{name: "version", give: map[string]any{"function_arn": fnARN + ":7"}},
		{name: "missing", give: map[string]any{}, wantErr: []string{"function_arn is required"}},
		{name: "a name, not an ARN", give: map[string]any{"function_arn": "latch-mysql"}, wantErr: []string{`function_arn "latch-mysql" is not a Lambda function ARN`}},
		{name: "not text", give: map[string]any{"function_arn": 7}, wantErr: []string{"function_arn (a int) is not"}},
		{name: "bad role", give: map[string]any{"function_arn": fnARN, "role_arn": "admin"}, wantErr: []string{"role_arn"}},
		{name: "unknown key", give: map[string]any{"function_arn": fnARN, "url": "x"}, wantErr: []string{`unknown key "url"`}},
		{name: "no targets", give: map[string]any{"function_arn": fnARN}, targets: []latch.Target{}, wantErr: []string{"at least one target"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := targets
			if tt.targets != nil {
				ts = tt.targets
			}
			err := awslambda.ValidateConfig(tt.give, ts)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ValidateConfig: %v", err)
				}
				return
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("ValidateConfig: %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestFollowsTheEnd: the customer's function is told the grant's end, so
// Latch invokes escalate again when it moves later.
func TestFollowsTheEnd(t *testing.T) {
	var esc latch.Escalator = &awslambda.Escalator{}
	if !latch.FollowsEnd(esc) {
		t.Error("the aws_lambda escalator does not follow the grant's end")
	}
}
