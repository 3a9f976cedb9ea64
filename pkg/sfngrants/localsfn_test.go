package sfngrants_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// This file is Step Functions for the definition tests: an HTTP server
// speaking the service's JSON 1.0 protocol (StartExecution,
// DescribeExecution, SendTaskSuccess) to the real SDK client, which runs
// every execution in aws-local-stepfunctions (_tools/stepfunctions/run.js)
// and hands each Task state to a Go function standing in for Lambda and SQS.

const (
	testRegion          = "eu-west-1"
	testAccount         = "123456789012"
	testStateMachineARN = "arn:aws:states:" + testRegion + ":" + testAccount + ":stateMachine:latch-grants"
)

// needStepFunctionsTool returns node and the runner script, skipping the
// test when either (or the npm package) is missing, unless
// LATCH_REQUIRE_TOOLS is set (as `make test` does), which fails it.
func needStepFunctionsTool(tb testing.TB) (node, script string) {
	tb.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "_tools", "stepfunctions"))
	if err != nil {
		tb.Fatal(err)
	}
	missing := ""
	node, err = exec.LookPath("node")
	switch {
	case err != nil:
		missing = "node is not installed"
	default:
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "aws-local-stepfunctions", "package.json")); err != nil {
			missing = "aws-local-stepfunctions is not installed in _tools/stepfunctions"
		}
	}
	if missing != "" {
		if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
			tb.Fatalf("%s and LATCH_REQUIRE_TOOLS is set; `make tools` installs it", missing)
		}
		tb.Skipf("%s; `make tools` installs it", missing)
	}
	return node, filepath.Join(dir, "run.js")
}

// nodeMsg is one line between run.js and the test.
type nodeMsg struct {
	Type     string          `json:"type"`
	ID       int             `json:"id,omitempty"`
	State    string          `json:"state,omitempty"`
	Resource string          `json:"resource,omitempty"`
	Input    json.RawMessage `json:"input,omitempty"`
	Token    *string         `json:"token,omitempty"`
	Event    string          `json:"event,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"`
	Error    string          `json:"error,omitempty"`
	Cause    string          `json:"cause,omitempty"`
	Status   string          `json:"status,omitempty"`
	Timeout  int64           `json:"timeout_seconds,omitempty"`
}

// taskReply is how a task ends: with Output, or failing with Error (an
// error name) and Cause. A zero reply sends nothing (a callback task whose
// Lambda invocation succeeded waits for its token).
type taskReply struct {
	Output any
	Error  string
	Cause  string
}

// callback is one callback (waitForTaskToken) task.
type callback struct {
	Token   string
	State   string
	Input   json.RawMessage // the task's parameters, with the token in place
	Timeout int64           // its TimeoutSecondsPath, resolved
	Invoked bool            // its Lambda invocation has returned
	Closed  bool            // answered, timed out, or its invocation failed
}

// execution is one execution, run by one run.js process.
type execution struct {
	Name  string
	ARN   string
	Input string
	start time.Time

	cmd     *exec.Cmd
	stdinMu sync.Mutex
	stdin   io.WriteCloser

	// Guarded by localSFN.mu.
	status    string
	events    []nodeMsg // the state events, in order
	callbacks []*callback
	end       nodeMsg
	done      chan struct{}
}

func (ex *execution) send(tb testing.TB, m any) {
	b, err := json.Marshal(m)
	if err != nil {
		tb.Errorf("marshal message to run.js: %v", err)
		return
	}
	ex.stdinMu.Lock()
	defer ex.stdinMu.Unlock()
	if _, err := ex.stdin.Write(append(b, '\n')); err != nil {
		// The execution ended (its run.js exited): a late answer is dropped,
		// as Step Functions drops an answer to a closed task.
		return
	}
}

// localSFN is the Step Functions service of the tests.
type localSFN struct {
	tb         testing.TB
	node       string
	script     string
	definition string
	srv        *httptest.Server
	// task carries out a Task state of ex (Lambda or SQS).
	task func(ex *execution, state, resource string, input json.RawMessage, token string) taskReply

	mu      sync.Mutex
	execs   map[string]*execution // by name
	byARN   map[string]*execution
	tokens  map[string]*execution // callback tokens still open
	closed  map[string]bool       // callback tokens that were open once
	calls   []string              // the API actions called, in order
	closing bool
	wg      sync.WaitGroup
}

func newLocalSFN(tb testing.TB, definition string) *localSFN {
	tb.Helper()
	node, script := needStepFunctionsTool(tb)
	s := &localSFN{tb: tb, node: node, script: script, definition: definition, execs: map[string]*execution{},
		byARN: map[string]*execution{}, tokens: map[string]*execution{}, closed: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.close)
	return s
}

// client is the SDK's Step Functions client, pointed at s.
func (s *localSFN) client() *sfn.Client {
	return sfn.New(sfn.Options{Region: testRegion, BaseEndpoint: aws.String(s.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
}

func (s *localSFN) srvOpen() bool { return !s.closing }

func (s *localSFN) close() {
	s.srv.Close()
	s.mu.Lock()
	s.closing = true
	var running []*execution
	for _, ex := range s.execs {
		if ex.status == "RUNNING" {
			running = append(running, ex)
		}
	}
	s.mu.Unlock()
	for _, ex := range running {
		// A Hold's timer would keep run.js alive for its whole timeout.
		_ = ex.cmd.Process.Kill()
	}
	s.mu.Lock()
	for _, ex := range s.execs {
		if ex.status == "RUNNING" {
			ex.status = "ABORTED"
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *localSFN) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
		!strings.HasPrefix(target, "AWSStepFunctions.") {
		s.tb.Errorf("Step Functions request %s %s (target %q, type %q) is not JSON 1.0", r.Method, r.URL, target,
			r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		awsError(w, "SerializationException", err.Error())
		return
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	action := strings.TrimPrefix(target, "AWSStepFunctions.")
	s.mu.Lock()
	s.calls = append(s.calls, action)
	s.mu.Unlock()
	switch action {
	case "StartExecution":
		s.startExecution(w, str("stateMachineArn"), str("name"), str("input"))
	case "DescribeExecution":
		s.mu.Lock()
		ex := s.byARN[str("executionArn")]
		var status string
		if ex != nil {
			status = ex.status
		}
		s.mu.Unlock()
		if ex == nil {
			awsError(w, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+str("executionArn")+"'")
			return
		}
		answer(w, map[string]any{"executionArn": ex.ARN, "stateMachineArn": testStateMachineARN, "name": ex.Name,
			"status": status, "startDate": float64(ex.start.UnixMilli()) / 1000, "input": ex.Input})
	case "SendTaskSuccess":
		token, output := str("taskToken"), str("output")
		if !json.Valid([]byte(output)) {
			awsError(w, "InvalidOutput", "the output is not JSON")
			return
		}
		s.mu.Lock()
		ex := s.tokens[token]
		if ex != nil {
			delete(s.tokens, token)
			s.closeCallback(ex, token)
		}
		was := s.closed[token]
		s.mu.Unlock()
		switch {
		case ex != nil:
			ex.send(s.tb, map[string]any{"type": "success", "token": token, "output": json.RawMessage(output)})
			answer(w, map[string]any{})
		case was:
			awsError(w, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
		default:
			awsError(w, "InvalidToken", "Invalid token")
		}
	default:
		awsError(w, "UnknownOperationException", action)
	}
}

func (s *localSFN) startExecution(w http.ResponseWriter, machine, name, input string) {
	if machine != testStateMachineARN {
		awsError(w, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+machine+"'")
		return
	}
	s.mu.Lock()
	if ex, ok := s.execs[name]; ok {
		same := ex.status == "RUNNING" && ex.Input == input
		s.mu.Unlock()
		if same {
			answer(w, map[string]any{"executionArn": ex.ARN, "startDate": float64(ex.start.UnixMilli()) / 1000})
			return
		}
		awsError(w, "ExecutionAlreadyExists", "Execution Already Exists: '"+ex.ARN+"'")
		return
	}
	arn := strings.Replace(testStateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
	ex := &execution{Name: name, ARN: arn, Input: input, start: time.Now(), status: "RUNNING", done: make(chan struct{})}
	s.execs[name] = ex
	s.byARN[arn] = ex
	s.mu.Unlock()
	if err := s.run(ex); err != nil {
		s.tb.Errorf("start run.js for %s: %v", name, err)
	}
	answer(w, map[string]any{"executionArn": arn, "startDate": float64(ex.start.UnixMilli()) / 1000})
}

// run starts run.js for ex and follows its output.
func (s *localSFN) run(ex *execution) error {
	cmd := exec.Command(s.node, s.script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	ex.stdin = stdin
	ex.cmd = cmd
	ex.send(s.tb, map[string]any{"definition": s.definition, "input": json.RawMessage(ex.Input),
		"context": map[string]any{
			"Execution":    map[string]any{"Id": ex.ARN, "Name": ex.Name, "Input": json.RawMessage(ex.Input), "StartTime": ex.start.UTC().Format(time.RFC3339Nano)},
			"StateMachine": map[string]any{"Id": testStateMachineARN, "Name": "latch-grants"},
		}})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var tasks sync.WaitGroup
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		ended := false
		for sc.Scan() {
			var m nodeMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				s.tb.Errorf("run.js %s wrote %q: %v", ex.Name, sc.Text(), err)
				continue
			}
			switch m.Type {
			case "event":
				s.mu.Lock()
				ex.events = append(ex.events, m)
				s.mu.Unlock()
			case "task":
				tasks.Add(1)
				go func() {
					defer tasks.Done()
					s.handleTask(ex, m)
				}()
			case "end":
				ended = true
				s.mu.Lock()
				ex.end = m
				ex.status = m.Status
				for tok, e := range s.tokens {
					if e == ex {
						delete(s.tokens, tok)
						s.closeCallback(ex, tok)
					}
				}
				s.mu.Unlock()
				ex.stdinMu.Lock()
				ex.stdin.Close()
				ex.stdinMu.Unlock()
			}
		}
		tasks.Wait()
		err := cmd.Wait()
		s.mu.Lock()
		if !ended && ex.status == "RUNNING" && s.srvOpen() {
			s.tb.Errorf("run.js for %s stopped without ending the execution: %v\n%s", ex.Name, err, stderr.String())
			ex.status = "FAILED"
		}
		s.mu.Unlock()
		close(ex.done)
	}()
	return nil
}

func (s *localSFN) handleTask(ex *execution, m nodeMsg) {
	token := ""
	var cb *callback
	if strings.HasSuffix(m.Resource, ".waitForTaskToken") {
		if m.Token == nil {
			s.tb.Errorf("%s: callback task %s does not pass $$.Task.Token", ex.Name, m.State)
			ex.send(s.tb, map[string]any{"type": "error", "id": m.ID, "error": "States.Runtime", "cause": "no task token"})
			return
		}
		token = *m.Token
		cb = &callback{Token: token, State: m.State, Input: m.Input, Timeout: m.Timeout}
		s.mu.Lock()
		ex.callbacks = append(ex.callbacks, cb)
		s.tokens[token] = ex
		s.mu.Unlock()
	}
	reply := s.task(ex, m.State, m.Resource, m.Input, token)
	if cb != nil {
		s.mu.Lock()
		cb.Invoked = true
		open := s.tokens[token] == ex
		if reply.Error != "" && open {
			delete(s.tokens, token)
			s.closeCallback(ex, token)
		}
		s.mu.Unlock()
		if reply.Error != "" && open {
			ex.send(s.tb, map[string]any{"type": "error", "id": m.ID, "error": reply.Error, "cause": reply.Cause})
		}
		return
	}
	if reply.Error != "" {
		ex.send(s.tb, map[string]any{"type": "error", "id": m.ID, "error": reply.Error, "cause": reply.Cause})
		return
	}
	ex.send(s.tb, map[string]any{"type": "result", "id": m.ID, "output": reply.Output})
}

// closeCallback marks token's callback closed; s.mu is held.
func (s *localSFN) closeCallback(ex *execution, token string) {
	s.closed[token] = true
	for _, cb := range ex.callbacks {
		if cb.Token == token {
			cb.Closed = true
		}
	}
}

// waiting returns ex's callback task that is waiting for its token (its
// Lambda invocation returned without answering it), if any.
func (s *localSFN) waiting(ex *execution) *callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cb := range ex.callbacks {
		if cb.Invoked && !cb.Closed {
			c := *cb
			return &c
		}
	}
	return nil
}

// timeOut makes the waiting callback task of ex time out, as its
// TimeoutSecondsPath would. It returns false when none is waiting.
func (s *localSFN) timeOut(ex *execution) bool {
	s.mu.Lock()
	var token string
	for _, cb := range ex.callbacks {
		if cb.Invoked && !cb.Closed {
			token = cb.Token
		}
	}
	if token != "" {
		delete(s.tokens, token)
		s.closeCallback(ex, token)
	}
	s.mu.Unlock()
	if token == "" {
		return false
	}
	ex.send(s.tb, map[string]any{"type": "timeout", "token": token})
	return true
}

// callsOf returns how often action was called.
func (s *localSFN) callsOf(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c == action {
			n++
		}
	}
	return n
}

func (s *localSFN) execution(name string) *execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execs[name]
}

func (s *localSFN) executions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.execs {
		names = append(names, n)
	}
	return names
}

// entered returns the states ex entered, in order.
func (s *localSFN) entered(ex *execution) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range ex.events {
		if e.Event == "StateEntered" {
			out = append(out, e.State)
		}
	}
	return out
}

// count returns how many events of kind ex had in state.
func (s *localSFN) count(ex *execution, kind, state string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range ex.events {
		if e.Event == kind && e.State == state {
			n++
		}
	}
	return n
}

// awaitEnd waits for ex to end and returns its last message.
func (s *localSFN) awaitEnd(ex *execution) nodeMsg {
	s.tb.Helper()
	select {
	case <-ex.done:
	case <-time.After(wait):
		s.tb.Fatalf("execution %s did not end within %v; it entered %v", ex.Name, wait, s.entered(ex))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return ex.end
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(v)
}

func awsError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + code, "message": msg})
}

// lambdaError is a function error as Lambda reports it and Step Functions
// names it: the error's Go type name (as aws-lambda-go computes it) and the
// JSON of {errorMessage, errorType} as the cause.
func lambdaError(err error) taskReply {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	typ := t.Name()
	cause, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": typ})
	return taskReply{Error: typ, Cause: string(cause)}
}
