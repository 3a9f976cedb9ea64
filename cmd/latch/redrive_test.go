package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeSQS speaks the SQS JSON protocol (AWS JSON 1.0: POST /, X-Amz-Target
// AmazonSQS.<Action>, the request's and answer's JSON as the service's API
// reference gives them) for the actions latch admin redrive calls, over
// queues it knows by URL. Errors are answered as SQS answers them: HTTP 400,
// {"__type": "com.amazonaws.sqs#<code>", "message": ...} and the
// x-amzn-query-error header.
type fakeSQS struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	queues map[string]fakeQueue // by name
	calls  []string
	moves  []map[string]any // StartMessageMoveTask requests
	// status is what ListMessageMoveTasks answers, in turn (the last repeats).
	status []string
	// refuseMove, when set, is the code and message StartMessageMoveTask fails with.
	refuseMove [2]string
}

type fakeQueue struct {
	messages int
	dlq      bool
}

const fakeAccount = "123456789012"

func newFakeSQS(t *testing.T) *fakeSQS {
	f := &fakeSQS{t: t, queues: map[string]fakeQueue{"latch-EventsDLQ.fifo": {messages: 3, dlq: true}, "latch-Events.fifo": {}}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_SQS", f.srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	return f
}

func (f *fakeSQS) url(name string) string { return f.srv.URL + "/" + fakeAccount + "/" + name }
func (f *fakeSQS) arn(name string) string { return "arn:aws:sqs:eu-west-1:" + fakeAccount + ":" + name }

func (f *fakeSQS) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
		!strings.HasPrefix(target, "AmazonSQS.") || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.t.Errorf("SQS request %s %s (target %q, type %q) is not signed AWS JSON 1.0", r.Method, r.URL, target, r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.fail(w, "InvalidParameterValue", "AWS.SimpleQueueService.InvalidParameterValue", err.Error())
		return
	}
	str := func(k string) string { s, _ := in[k].(string); return s }
	action := strings.TrimPrefix(target, "AmazonSQS.")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, action)
	byURL := func(u string) (string, bool) {
		name, ok := strings.CutPrefix(u, f.srv.URL+"/"+fakeAccount+"/")
		_, known := f.queues[name]
		return name, ok && known
	}
	byARN := func(a string) (string, bool) {
		name, ok := strings.CutPrefix(a, "arn:aws:sqs:eu-west-1:"+fakeAccount+":")
		_, known := f.queues[name]
		return name, ok && known
	}
	switch action {
	case "GetQueueUrl":
		if _, ok := f.queues[str("QueueName")]; !ok || str("QueueOwnerAWSAccountId") != fakeAccount {
			f.nonExistent(w)
			return
		}
		f.answer(w, map[string]any{"QueueUrl": f.url(str("QueueName"))})
	case "GetQueueAttributes":
		name, ok := byURL(str("QueueUrl"))
		if !ok {
			f.nonExistent(w)
			return
		}
		attrs := map[string]string{}
		names, _ := in["AttributeNames"].([]any)
		for _, n := range names {
			switch n {
			case "QueueArn":
				attrs["QueueArn"] = f.arn(name)
			case "ApproximateNumberOfMessages":
				attrs["ApproximateNumberOfMessages"] = itoa(f.queues[name].messages)
			}
		}
		f.answer(w, map[string]any{"Attributes": attrs})
	case "StartMessageMoveTask":
		f.moves = append(f.moves, in)
		if f.refuseMove[0] != "" {
			f.fail(w, f.refuseMove[0], "AWS.SimpleQueueService."+f.refuseMove[0], f.refuseMove[1])
			return
		}
		name, ok := byARN(str("SourceArn"))
		if !ok {
			f.fail(w, "ResourceNotFoundException", "ResourceNotFoundException", "The resource that you specified for the SourceArn parameter doesn't exist.")
			return
		}
		if !f.queues[name].dlq {
			f.fail(w, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "Source queue must be configured as a Dead Letter Queue.")
			return
		}
		f.answer(w, map[string]any{"TaskHandle": "eyJ0YXNrSWQiOiJkYTE2YmQ0OS1kZGQ0LTQxMjUtODQ5Ni0wZDc2ZDA3OTM5N2UifQ=="})
	case "ListMessageMoveTasks":
		status := "RUNNING"
		if len(f.status) > 0 {
			status = f.status[0]
			if len(f.status) > 1 {
				f.status = f.status[1:]
			}
		}
		e := map[string]any{"TaskHandle": "eyJ0YXNrSWQiOiJkYTE2YmQ0OS1kZGQ0LTQxMjUtODQ5Ni0wZDc2ZDA3OTM5N2UifQ==",
			"SourceArn": str("SourceArn"), "Status": status, "StartedTimestamp": 1764676800000,
			"ApproximateNumberOfMessagesToMove": 3, "ApproximateNumberOfMessagesMoved": 0}
		switch status {
		case "COMPLETED":
			e["ApproximateNumberOfMessagesMoved"] = 3
		case "FAILED":
			e["ApproximateNumberOfMessagesMoved"] = 1
			e["FailureReason"] = "AWS.SimpleQueueService.NonExistentQueue"
		}
		f.answer(w, map[string]any{"Results": []any{e}})
	default:
		f.fail(w, "InvalidAction", "AWS.SimpleQueueService.InvalidAction", "The action "+action+" is not valid for this endpoint.")
	}
}

func (f *fakeSQS) answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeSQS) nonExistent(w http.ResponseWriter) {
	f.fail(w, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

func (f *fakeSQS) fail(w http.ResponseWriter, code, queryCode, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-query-error", queryCode+";Sender")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
}

func (f *fakeSQS) called(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == action {
			n++
		}
	}
	return n
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// latchCLI runs the command line and returns its exit code, stdout and stderr.
func latchCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := newRoot()
	var stdout, stderr strings.Builder
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	_, err := root.ExecuteContextC(context.Background())
	if err != nil {
		return exitCode(err), stdout.String(), message(err)
	}
	return exitOK, stdout.String(), stderr.String()
}

func TestRedriveDryRun(t *testing.T) {
	f := newFakeSQS(t)
	code, out, errOut := latchCLI(t, "admin", "redrive", "--from", f.url("latch-EventsDLQ.fifo"), "--to", f.url("latch-Events.fifo"), "--dry-run")
	if code != exitOK || !strings.Contains(out, "would move about 3 message(s) from "+f.arn("latch-EventsDLQ.fifo")+" to "+f.arn("latch-Events.fifo")) {
		t.Errorf("exit %d, out %q, err %q", code, out, errOut)
	}
	if n := f.called("StartMessageMoveTask"); n != 0 {
		t.Errorf("a dry run started %d move tasks", n)
	}
}

func TestRedriveMovesAndWaits(t *testing.T) {
	redrivePoll = 0
	t.Cleanup(func() { redrivePoll = 2e9 })
	f := newFakeSQS(t)
	f.status = []string{"RUNNING", "COMPLETED"}
	// --from by ARN (found with GetQueueUrl), --to by URL.
	code, out, errOut := latchCLI(t, "admin", "redrive", "--from", f.arn("latch-EventsDLQ.fifo"), "--to", f.url("latch-Events.fifo"),
		"--max-per-second", "50", "--wait")
	if code != exitOK || !strings.Contains(out, "moving about 3 message(s)") || !strings.Contains(out, "moved 3 message(s)") {
		t.Errorf("exit %d, out %q, err %q", code, out, errOut)
	}
	if len(f.moves) != 1 || f.moves[0]["SourceArn"] != f.arn("latch-EventsDLQ.fifo") ||
		f.moves[0]["DestinationArn"] != f.arn("latch-Events.fifo") || f.moves[0]["MaxNumberOfMessagesPerSecond"] != 50.0 {
		t.Errorf("move requests %v", f.moves)
	}
	if f.called("GetQueueUrl") != 1 || f.called("ListMessageMoveTasks") != 2 {
		t.Errorf("calls %v", f.calls)
	}

	// Without --to, SQS moves each message to its source queue: no
	// destination is sent.
	f.status = []string{"COMPLETED"}
	if code, out, errOut := latchCLI(t, "admin", "redrive", "--from", f.url("latch-EventsDLQ.fifo")); code != exitOK ||
		!strings.Contains(out, "to each message's source queue") {
		t.Errorf("exit %d, out %q, err %q", code, out, errOut)
	}
	if len(f.moves) != 2 || f.moves[1]["DestinationArn"] != nil {
		t.Errorf("move request %v, want no DestinationArn", f.moves[len(f.moves)-1])
	}
}

func TestRedriveErrors(t *testing.T) {
	redrivePoll = 0
	t.Cleanup(func() { redrivePoll = 2e9 })
	f := newFakeSQS(t)
	dlq, events := f.url("latch-EventsDLQ.fifo"), f.url("latch-Events.fifo")
	for _, tt := range []struct {
		name   string
		args   []string
		status []string
		refuse [2]string
		code   int
		says   string
	}{
		{name: "no --from", args: []string{"--to", events}, code: exitUsage, says: "--from is required"},
		{name: "not a queue", args: []string{"--from", "latch-EventsDLQ"}, code: exitUsage, says: "neither a queue URL"},
		{name: "not an SQS ARN", args: []string{"--from", "arn:aws:sns:eu-west-1:123456789012:topic"}, code: exitUsage, says: "not an SQS queue ARN"},
		{name: "rate", args: []string{"--from", dlq, "--max-per-second", "900"}, code: exitUsage, says: "1 to 500"},
		{name: "same queue", args: []string{"--from", dlq, "--to", dlq}, code: exitUsage, says: "the same queue"},
		{name: "no such queue", args: []string{"--from", f.url("nope")}, code: exitNotFound, says: "The specified queue does not exist."},
		{name: "no such queue by ARN", args: []string{"--from", f.arn("nope")}, code: exitNotFound, says: "The specified queue does not exist."},
		{name: "not a dead-letter queue", args: []string{"--from", events, "--to", dlq}, code: exitConflict,
			says: "Source queue must be configured as a Dead Letter Queue."},
		{name: "a move already running", args: []string{"--from", dlq, "--to", events}, code: exitConflict,
			refuse: [2]string{"UnsupportedOperation", "There is already a task running. Only one active task is allowed for a source queue arn at a given time."},
			says:   "only one active task"},
		{name: "the move fails", args: []string{"--from", dlq, "--to", events, "--wait"}, status: []string{"FAILED"}, code: exitError,
			says: "failed after 1 message(s): AWS.SimpleQueueService.NonExistentQueue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.status, f.refuseMove = tt.status, tt.refuse
			f.mu.Unlock()
			f.mu.Lock()
			f.queues["latch-Events.fifo"] = fakeQueue{}
			if tt.name == "not a dead-letter queue" {
				f.queues["latch-Events.fifo"] = fakeQueue{messages: 2}
			}
			f.mu.Unlock()
			code, _, errOut := latchCLI(t, append([]string{"admin", "redrive"}, tt.args...)...)
			if code != tt.code || !strings.Contains(strings.ToLower(errOut), strings.ToLower(tt.says)) {
				t.Errorf("exit %d, error %q; want exit %d saying %q", code, errOut, tt.code, tt.says)
			}
		})
	}
}
