package sfngrants_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
)

// apiCall is one request the Step Functions endpoint received.
type apiCall struct {
	Action string
	Body   map[string]any
}

// apiAnswer is a scripted answer: an error code (HTTP 400 with that
// __type), or a body.
type apiAnswer struct {
	Code string
	Body map[string]any
}

// fakeAPI is a Step Functions endpoint that answers each action from a
// script (the last answer repeats) and records the requests, checking they
// are the JSON 1.0 protocol the service speaks.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script map[string][]apiAnswer
	calls  []apiCall
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, script: map[string][]apiAnswer{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
			!strings.HasPrefix(target, "AWSStepFunctions.") || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Errorf("request %s %s target %q type %q is not a signed JSON 1.0 call", r.Method, r.URL.Path, target, r.Header.Get("Content-Type"))
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("request body: %v", err)
		}
		action := strings.TrimPrefix(target, "AWSStepFunctions.")
		f.mu.Lock()
		f.calls = append(f.calls, apiCall{Action: action, Body: body})
		a := apiAnswer{Body: map[string]any{}}
		if s := f.script[action]; len(s) > 0 {
			a = s[0]
			if len(s) > 1 {
				f.script[action] = s[1:]
			}
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if a.Code != "" {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + a.Code, "message": a.Code})
			return
		}
		_ = json.NewEncoder(w).Encode(a.Body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) on(action string, answers ...apiAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[action] = answers
}

func (f *fakeAPI) took() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func (f *fakeAPI) actions() []string {
	var out []string
	for _, c := range f.took() {
		out = append(out, c.Action)
	}
	return out
}

func (f *fakeAPI) client() *sfn.Client {
	return sfn.New(sfn.Options{Region: testRegion, BaseEndpoint: aws.String(f.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
}

// grantStore is a GrantReader over a map.
type grantStore map[string]latch.Grant

func (s grantStore) GetGrant(_ context.Context, id string) (latch.Grant, error) {
	g, ok := s[id]
	if !ok {
		return latch.Grant{}, latch.ErrNotFound
	}
	return g, nil
}

var fixedNow = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func newTestRunner(t *testing.T, api *fakeAPI, grants grantStore, tokens *sfngrants.MemoryTokens) *sfngrants.Runner {
	t.Helper()
	r, err := sfngrants.NewRunner(sfngrants.RunnerConfig{SFN: api.client(), StateMachineARN: testStateMachineARN,
		Grants: grants, Tokens: tokens, Clock: latch.ClockFunc(func() time.Time { return fixedNow }),
		Escalator: func(_ context.Context, g latch.Grant) (string, error) {
			if g.Flow != flowName {
				return "", errors.New("unknown flow")
			}
			return escalatorFunction, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunnerEscalate(t *testing.T) {
	api := newFakeAPI(t)
	grants := grantStore{"grt_1": {ID: "grt_1", Flow: flowName, Status: latch.GrantEscalating, Version: 1}}
	r := newTestRunner(t, api, grants, &sfngrants.MemoryTokens{})
	api.on("StartExecution", apiAnswer{Body: map[string]any{"executionArn": "x", "startDate": 1.7e9}},
		apiAnswer{Code: "ExecutionAlreadyExists"})

	if err := r.Escalate(context.Background(), "grt_1"); err != nil {
		t.Fatal(err)
	}
	calls := api.took()
	if len(calls) != 1 || calls[0].Action != "StartExecution" {
		t.Fatalf("calls %v", calls)
	}
	b := calls[0].Body
	if b["stateMachineArn"] != testStateMachineARN || b["name"] != "grt_1" {
		t.Errorf("StartExecution %v", b)
	}
	var in sfngrants.Input
	if err := json.Unmarshal([]byte(b["input"].(string)), &in); err != nil {
		t.Fatal(err)
	}
	if in != (sfngrants.Input{GrantID: "grt_1", Escalator: escalatorFunction, Start: sfngrants.StartEscalate}) {
		t.Errorf("input %+v", in)
	}
	api.on("DescribeExecution", apiAnswer{Body: map[string]any{"status": "RUNNING"}}, apiAnswer{Body: map[string]any{"status": "FAILED"}})
	// Its execution is running: nothing more to start.
	if err := r.Escalate(context.Background(), "grt_1"); err != nil {
		t.Errorf("ExecutionAlreadyExists, running: %v; the grant has its execution, which is not an error", err)
	}
	if got := api.actions(); strings.Join(got[1:], ",") != "StartExecution,DescribeExecution" {
		t.Errorf("calls %v, want a start and a look at the execution", got)
	}
	// Its execution ended while the grant is still escalating (its report
	// was lost): another escalates again, named with the hour.
	api.on("StartExecution", apiAnswer{Code: "ExecutionAlreadyExists"}, apiAnswer{Body: map[string]any{"executionArn": "y", "startDate": 1.7e9}},
		apiAnswer{Code: "ExecutionLimitExceeded"})
	if err := r.Escalate(context.Background(), "grt_1"); err != nil {
		t.Errorf("ExecutionAlreadyExists, failed: %v", err)
	}
	calls = api.took()
	if last := calls[len(calls)-1]; last.Action != "StartExecution" || last.Body["name"] != "grt_1-h"+itoa(fixedNow.Unix()/3600) {
		t.Errorf("calls %v, want a new execution named with the hour", calls)
	}
	if err := r.Escalate(context.Background(), "grt_1"); err == nil || !strings.Contains(err.Error(), "ExecutionLimitExceeded") {
		t.Errorf("ExecutionLimitExceeded: %v, want an error to retry", err)
	}
	grants["grt_1"] = latch.Grant{ID: "grt_1", Flow: flowName, Status: latch.GrantActive, Version: 2}
	before := len(api.took())
	if err := r.Escalate(context.Background(), "grt_1"); err != nil || len(api.took()) != before {
		t.Errorf("escalating an active grant: %v; want nothing done", err)
	}
	if err := r.Escalate(context.Background(), "grt_missing"); !errors.Is(err, latch.ErrNotFound) {
		t.Errorf("unknown grant: %v", err)
	}
}

func TestRunnerDeescalate(t *testing.T) {
	const id = "grt_2"
	execARN := "arn:aws:states:" + testRegion + ":" + testAccount + ":execution:latch-grants:" + id
	for _, tt := range []struct {
		name    string
		status  latch.GrantStatus
		token   string
		api     map[string][]apiAnswer
		actions []string
		start   string // the name of the (last) execution started, if any
		// describe is the execution looked at, when not the grant's own.
		describe string
		wantErr  bool
	}{
		{name: "not deescalating", status: latch.GrantActive, token: "tok", actions: nil},
		{name: "current hold", status: latch.GrantDeescalating, token: "tok", actions: []string{"SendTaskSuccess"}},
		{name: "stale token, execution running", status: latch.GrantDeescalating, token: "tok",
			api:     map[string][]apiAnswer{"SendTaskSuccess": {{Code: "TaskTimedOut"}}, "DescribeExecution": {{Body: map[string]any{"status": "RUNNING"}}}},
			actions: []string{"SendTaskSuccess", "DescribeExecution"}},
		{name: "no token yet, execution running", status: latch.GrantDeescalating,
			api:     map[string][]apiAnswer{"DescribeExecution": {{Body: map[string]any{"status": "RUNNING"}}}},
			actions: []string{"DescribeExecution"}},
		{name: "invalid token, execution succeeded: its report was lost", status: latch.GrantDeescalating, token: "tok",
			api:     map[string][]apiAnswer{"SendTaskSuccess": {{Code: "InvalidToken"}}, "DescribeExecution": {{Body: map[string]any{"status": "SUCCEEDED"}}}},
			actions: []string{"SendTaskSuccess", "DescribeExecution", "StartExecution"}, start: id + "-revoke-v7"},
		{name: "execution failed", status: latch.GrantDeescalating, token: "tok",
			api:     map[string][]apiAnswer{"SendTaskSuccess": {{Code: "TaskDoesNotExist"}}, "DescribeExecution": {{Body: map[string]any{"status": "FAILED"}}}},
			actions: []string{"SendTaskSuccess", "DescribeExecution", "StartExecution"}, start: id + "-revoke-v7"},
		{name: "execution timed out", status: latch.GrantDeescalating, token: "tok",
			api:     map[string][]apiAnswer{"SendTaskSuccess": {{Code: "TaskTimedOut"}}, "DescribeExecution": {{Body: map[string]any{"status": "TIMED_OUT"}}}},
			actions: []string{"SendTaskSuccess", "DescribeExecution", "StartExecution"}, start: id + "-revoke-v7"},
		{name: "no execution", status: latch.GrantDeescalating,
			api:     map[string][]apiAnswer{"DescribeExecution": {{Code: "ExecutionDoesNotExist"}}},
			actions: []string{"DescribeExecution", "StartExecution"}, start: id + "-revoke-v7"},
		{name: "revoke over", status: latch.GrantDeescalating, token: sfngrants.RevokeOver,
			actions: []string{"StartExecution"}, start: id + "-revoke-v7"},
		{name: "revoke over, started before and running", status: latch.GrantDeescalating, token: sfngrants.RevokeOver,
			api: map[string][]apiAnswer{"StartExecution": {{Code: "ExecutionAlreadyExists"}},
				"DescribeExecution": {{Body: map[string]any{"status": "RUNNING"}}}},
			actions: []string{"StartExecution", "DescribeExecution"}, start: id + "-revoke-v7", describe: id + "-revoke-v7"},
		{name: "revoke over, started before and ended", status: latch.GrantDeescalating, token: sfngrants.RevokeOver,
			api: map[string][]apiAnswer{"StartExecution": {{Code: "ExecutionAlreadyExists"}, {Body: map[string]any{"executionArn": "z", "startDate": 1.7e9}}},
				"DescribeExecution": {{Body: map[string]any{"status": "SUCCEEDED"}}}},
			actions: []string{"StartExecution", "DescribeExecution", "StartExecution"}, start: id + "-revoke-v7-h" + itoa(fixedNow.Unix()/3600),
			describe: id + "-revoke-v7"},
		{name: "send fails", status: latch.GrantDeescalating, token: "tok",
			api:     map[string][]apiAnswer{"SendTaskSuccess": {{Code: "KmsAccessDeniedException"}}},
			actions: []string{"SendTaskSuccess"}, wantErr: true},
		{name: "describe fails", status: latch.GrantDeescalating,
			api:     map[string][]apiAnswer{"DescribeExecution": {{Code: "InvalidArn"}}},
			actions: []string{"DescribeExecution"}, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			for a, s := range tt.api {
				api.on(a, s...)
			}
			tokens := &sfngrants.MemoryTokens{}
			if tt.token != "" {
				_ = tokens.PutHoldToken(context.Background(), id, tt.token, "", fixedNow)
			}
			r := newTestRunner(t, api, grantStore{id: {ID: id, Flow: flowName, Status: tt.status, Version: 7}}, tokens)
			err := r.Deescalate(context.Background(), id)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Deescalate: %v, want error %v", err, tt.wantErr)
			}
			if got := api.actions(); strings.Join(got, ",") != strings.Join(tt.actions, ",") {
				t.Fatalf("calls %v, want %v", got, tt.actions)
			}
			started := ""
			for _, c := range api.took() {
				switch c.Action {
				case "SendTaskSuccess":
					if c.Body["taskToken"] != tt.token || c.Body["output"] != `{"action":"deescalate"}` {
						t.Errorf("SendTaskSuccess %v", c.Body)
					}
				case "DescribeExecution":
					want := execARN
					if tt.describe != "" {
						want = strings.TrimSuffix(execARN, id) + tt.describe
					}
					if c.Body["executionArn"] != want {
						t.Errorf("DescribeExecution %v, want %s", c.Body, want)
					}
				case "StartExecution":
					var in sfngrants.Input
					_ = json.Unmarshal([]byte(c.Body["input"].(string)), &in)
					if in.Start != sfngrants.StartRevoke || in.GrantID != id || in.Escalator != escalatorFunction {
						t.Errorf("StartExecution %v, want a revoke of %s", c.Body, id)
					}
					started = c.Body["name"].(string)
				}
			}
			if started != tt.start {
				t.Errorf("started %q, want %q", started, tt.start)
			}
		})
	}
}

func TestRunnerWake(t *testing.T) {
	const id = "grt_3"
	at := fixedNow.Add(90*time.Minute + 300*time.Millisecond)
	for _, tt := range []struct {
		name    string
		token   string
		until   string // the end the current Hold waits until
		at      time.Time
		answer  []apiAnswer
		calls   int
		wantErr bool
	}{
		{name: "current hold", token: "tok", calls: 1},
		{name: "current hold, waiting for another end", token: "tok", until: "2026-11-25T10:00:00Z", calls: 1},
		// The usual wake-up after the escalation is recorded: the Hold after
		// the escalate already waits until that end, and is left alone.
		{name: "current hold, waiting for that end already", token: "tok", until: "2026-11-25T11:00:00.3Z", calls: 0},
		// An end that has passed is answered all the same: the Hold then
		// reports it at once instead of at its timeout.
		{name: "waiting for that end, which has passed", token: "tok", until: "2026-11-25T09:00:00Z",
			at: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), calls: 1},
		{name: "no hold yet", calls: 0},
		{name: "revoke over", token: sfngrants.RevokeOver, calls: 0},
		{name: "stale token", token: "tok", answer: []apiAnswer{{Code: "TaskTimedOut"}}, calls: 1},
		{name: "send fails", token: "tok", answer: []apiAnswer{{Code: "KmsThrottlingException"}}, calls: 1, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.on("SendTaskSuccess", tt.answer...)
			tokens := &sfngrants.MemoryTokens{}
			if tt.token != "" {
				_ = tokens.PutHoldToken(context.Background(), id, tt.token, tt.until, fixedNow)
			}
			r := newTestRunner(t, api, grantStore{}, tokens)
			wakeAt := at
			if !tt.at.IsZero() {
				wakeAt = tt.at
			}
			err := r.Wake(context.Background(), id, wakeAt)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Wake: %v", err)
			}
			calls := api.took()
			if len(calls) != tt.calls {
				t.Fatalf("calls %v", calls)
			}
			if tt.calls == 0 {
				return
			}
			var a sfngrants.Answer
			if err := json.Unmarshal([]byte(calls[0].Body["output"].(string)), &a); err != nil {
				t.Fatal(err)
			}
			// 90m0.3s rounds up: the Hold never ends before the lease does.
			want := sfngrants.Hold{Until: "2026-11-25T11:00:00.3Z", Seconds: 5401}
			if !tt.at.IsZero() {
				want = sfngrants.Hold{Until: tt.until, Seconds: 1}
			}
			if a.Action != sfngrants.AnswerHold || a.Hold == nil || *a.Hold != want {
				t.Errorf("answer %+v (hold %+v), want hold %+v", a, a.Hold, want)
			}
		})
	}
}

func TestNewRunnerChecks(t *testing.T) {
	api := newFakeAPI(t)
	base := sfngrants.RunnerConfig{SFN: api.client(), StateMachineARN: testStateMachineARN, Grants: grantStore{},
		Tokens: &sfngrants.MemoryTokens{}, Escalator: func(context.Context, latch.Grant) (string, error) { return "", nil }}
	if _, err := sfngrants.NewRunner(base); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "arn:aws:states:eu-west-1:123456789012:execution:latch-grants:x",
		"arn:aws:lambda:eu-west-1:123456789012:function:f"} {
		c := base
		c.StateMachineARN = bad
		if _, err := sfngrants.NewRunner(c); err == nil {
			t.Errorf("NewRunner accepted state machine ARN %q", bad)
		}
	}
	c := base
	c.Tokens = nil
	if _, err := sfngrants.NewRunner(c); err == nil {
		t.Error("NewRunner accepted no Tokens")
	}
}

// An id that cannot name an execution is refused before any call.
func TestRunnerRefusesBadExecutionName(t *testing.T) {
	api := newFakeAPI(t)
	id := "grt/" + strings.Repeat("x", 90)
	r := newTestRunner(t, api, grantStore{id: {ID: id, Flow: flowName, Status: latch.GrantEscalating}}, &sfngrants.MemoryTokens{})
	if err := r.Escalate(context.Background(), id); err == nil {
		t.Error("Escalate accepted a grant id that cannot name an execution")
	}
	if len(api.took()) != 0 {
		t.Errorf("calls %v", api.took())
	}
}
