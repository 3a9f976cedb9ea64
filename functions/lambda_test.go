// Package functions_test runs every function's built bootstrap under the
// Lambda Runtime Interface Emulator (aws-lambda-rie, installed by `make
// tools`), against DynamoDB Local and fakes of Slack and the webhook target,
// and checks that each answers an invocation with the event AWS sends it.
package functions_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing/signingtest"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// rie is the emulator's path, relative to this package.
const rie = "../_tools/bin/aws-lambda-rie"

const (
	slackSecret   = "rie-slack-signing-secret"
	adminToken    = "rie-admin-token"
	webhookSecret = "rie-webhook-secret"
)

// needRIE skips the test when the emulator is not installed, unless
// LATCH_REQUIRE_TOOLS is set (as `make test` does), which fails it.
func needRIE(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(rie); err != nil {
		if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
			tb.Fatalf("%s is missing and LATCH_REQUIRE_TOOLS is set; `make tools` installs it", rie)
		}
		tb.Skipf("%s is missing; `make tools` installs it", rie)
	}
}

var builds sync.Map // function name → *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// build compiles functions/<name> for this machine as Lambda builds it
// (-tags lambda.norpc, stripped), once per test process.
func build(tb testing.TB, name string) string {
	tb.Helper()
	v, _ := builds.LoadOrStore(name, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "latch-lambda-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", b.path, "./"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// freePorts returns two distinct free ports: both listeners are open at
// once, so the system cannot hand out the same port twice.
func freePorts(tb testing.TB) (int, int) {
	tb.Helper()
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1]
}

// emulator is one function running under the emulator.
type emulator struct {
	url  string
	logs *bytes.Buffer
	mu   *sync.Mutex
	pid  int // the emulator's process
}

// logged returns what the function and the emulator printed.
func (e emulator) logged() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// start runs the bootstrap under the emulator on 127.0.0.1 with env, and
// stops it when the test ends.
func start(tb testing.TB, bootstrap string, env map[string]string) emulator {
	tb.Helper()
	port, apiPort := freePorts(tb)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=latchlocal", "AWS_SECRET_ACCESS_KEY=latchlocal", "LATCH_LOG_LEVEL=debug"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	e := emulator{url: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port), logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Stdout, cmd.Stderr = lockedWriter{e.mu, e.logs}, lockedWriter{e.mu, e.logs}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	e.pid = cmd.Process.Pid
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("emulator and function output:\n%s", e.logged())
		}
	})
	return e
}

// invoke sends one event and returns the function's answer. The first
// invocation also starts the function; it is retried while the emulator
// itself is not yet listening.
func (e emulator) invoke(tb testing.TB, event any) []byte {
	tb.Helper()
	body, err := json.Marshal(event)
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post(e.url, "application/json", bytes.NewReader(body))
		if err != nil {
			if time.Now().After(deadline) {
				tb.Fatalf("the emulator did not answer: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			tb.Fatalf("invoke: HTTP %d: %s", resp.StatusCode, out)
		}
		return out
	}
}

// deployment is what the functions of one test share: a table on DynamoDB
// Local, a flows directory, fakes of Slack and the webhook target, and the
// environment the CDK app would set (with plain values for the secrets).
type deployment struct {
	store  *dynamostore.Store
	slack  *slacktest.Server
	target *signingtest.Receiver
	sqs    *fakeSQS
	env    map[string]string
}

// fakeSQS answers SendMessage in the SQS JSON protocol (AWS JSON 1.0,
// X-Amz-Target AmazonSQS.SendMessage) and records the bodies sent: the grant
// tasks send their reports to the events queue themselves.
type fakeSQS struct {
	url    string
	mu     sync.Mutex
	bodies []string
}

func newFakeSQS(t testing.TB) *fakeSQS {
	f := &fakeSQS{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ QueueUrl, MessageBody string }
		if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessage" || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"not supported by this fake"}`)
			return
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, in.MessageBody)
		n := len(f.bodies)
		f.mu.Unlock()
		sum := md5.Sum([]byte(in.MessageBody))
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_ = json.NewEncoder(w).Encode(map[string]string{"MD5OfMessageBody": hex.EncodeToString(sum[:]),
			"MessageId": fmt.Sprintf("5fea7756-0ea4-451a-a703-a558b933e27%d", n%10), "SequenceNumber": fmt.Sprintf("188494964604676961%02d", n%100)})
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// sent returns the bodies sent so far.
func (f *fakeSQS) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

func newDeployment(t testing.TB) *deployment {
	needRIE(t)
	endpoint := dynamotest.Endpoint(t)
	client := dynamotest.NewClient(endpoint)
	table := dynamotest.TableName(t)
	if err := dynamostore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	d := &deployment{store: dynamostore.New(client, table), slack: slacktest.NewServer(t),
		target: signingtest.NewReceiver(t, []byte(webhookSecret), nil), sqs: newFakeSQS(t)}
	flowsDir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(flowsDir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("deploy.yaml", `name: deploy
sources: [api]
fields:
  - {name: service, type: string, required: true}
approval:
  channel: "#deploys"
  approvers: [lead@example.com]
`)
	write("prod.yaml", `name: prod
strategy:
  type: webhook
  url: `+d.target.URL+`
  secret_env: LATCH_WEBHOOK_SECRET
  targets: [{id: db}]
approval:
  approvers: [lead@example.com]
`)
	d.env = map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": endpoint,
		"AWS_ENDPOINT_URL_SQS":      d.sqs.url,
		"AWS_ENDPOINT_URL_SFN":      "http://127.0.0.1:1",
		"LATCH_TABLE":               table,
		"LATCH_FLOWS_DIR":           flowsDir,
		"LATCH_DOMAINS":             "example.com",
		"LATCH_EVENTS_QUEUE_URL":    "http://127.0.0.1:1/000000000000/Events.fifo",
		"LATCH_STATE_MACHINE_ARN":   "arn:aws:states:us-east-1:000000000000:stateMachine:Grants",
		"LATCH_ESCALATOR_ARNS":      `{"webhook":"arn:aws:lambda:us-east-1:000000000000:function:escalator-webhook"}`,
		"LATCH_STRATEGY":            "webhook",
		"LATCH_WEBHOOK_SECRET":      webhookSecret,
		"LATCH_ADMIN_TOKEN":         adminToken,
		"SLACK_SIGNING_SECRET":      slackSecret,
		"SLACK_BOT_TOKEN":           slacktest.Token,
		"SLACK_API_URL":             d.slack.URL,
		"SLACK_TEAM_IDS":            slacktest.Team,
		"LATCH_AUDIT_STDOUT":        "true",
	}
	return d
}

func (d *deployment) run(t testing.TB, name string) emulator {
	return start(t, build(t, name), d.env)
}

// apiEvent is an API Gateway HTTP API (payload 2.0) event.
func apiEvent(method, path string, headers map[string]string, body []byte) map[string]any {
	h := map[string]string{"host": "abc123.execute-api.us-east-1.amazonaws.com"}
	for k, v := range headers {
		h[k] = v
	}
	return map[string]any{"version": "2.0", "routeKey": method + " " + path, "rawPath": path, "rawQueryString": "",
		"headers": h, "isBase64Encoded": true, "body": base64.StdEncoding.EncodeToString(body),
		"requestContext": map[string]any{"accountId": "000000000000", "apiId": "abc123", "domainName": h["host"],
			"http":      map[string]any{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
			"requestId": "req-1", "routeKey": method + " " + path, "stage": "$default", "time": "25/Nov/2026:12:00:00 +0000", "timeEpoch": 1795608000000}}
}

type apiAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func TestAPIFunction(t *testing.T) {
	d := newDeployment(t)
	e := d.run(t, "api")
	var a apiAnswer
	if err := json.Unmarshal(e.invoke(t, apiEvent("GET", "/v1/flows", map[string]string{"authorization": "Bearer " + adminToken}, nil)), &a); err != nil {
		t.Fatal(err)
	}
	if a.StatusCode != http.StatusOK || !strings.Contains(a.Body, `"deploy"`) {
		t.Errorf("GET /v1/flows: %d %s", a.StatusCode, a.Body)
	}
	if err := json.Unmarshal(e.invoke(t, apiEvent("GET", "/v1/flows", nil, nil)), &a); err != nil || a.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d %s, want 401", a.StatusCode, a.Body)
	}
}

func TestSlackFunction(t *testing.T) {
	d := newDeployment(t)
	e := d.run(t, "slack")
	body := []byte(`{"token":"legacy","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	ts, sig := slacktest.Sign([]byte(slackSecret), time.Now(), body)
	var a apiAnswer
	out := e.invoke(t, apiEvent("POST", "/slack/events", map[string]string{"content-type": "application/json",
		"x-slack-request-timestamp": ts, "x-slack-signature": sig}, body))
	if err := json.Unmarshal(out, &a); err != nil || a.StatusCode != http.StatusOK || !strings.Contains(a.Body, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") {
		t.Errorf("url_verification: %s", out)
	}
	out = e.invoke(t, apiEvent("POST", "/slack/events", map[string]string{"content-type": "application/json",
		"x-slack-request-timestamp": ts, "x-slack-signature": "v0=" + strings.Repeat("0", 64)}, body))
	if err := json.Unmarshal(out, &a); err != nil || a.StatusCode != http.StatusUnauthorized {
		t.Errorf("a bad signature: %s, want 401", out)
	}
}

// sqsRecord is one record of an SQS FIFO batch as Lambda delivers it.
func sqsRecord(t *testing.T, m events.Message, n int) map[string]any {
	body, err := events.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"messageId": fmt.Sprintf("059f36b4-87a3-44ab-83d2-66197512b8%02d", n), "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
		"body": string(body), "attributes": map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1795608000000",
			"SequenceNumber": fmt.Sprintf("1886999964869010%04d", n), "MessageGroupId": m.OrderKey(), "SenderId": "AIDAIENQZJOLO23YVJ4VO",
			"MessageDeduplicationId": m.ID, "ApproximateFirstReceiveTimestamp": "1795608000001"},
		"messageAttributes": map[string]any{}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3", "eventSource": "aws:sqs",
		"eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:Events.fifo", "awsRegion": "us-east-1"}
}

func TestApprovalsFunction(t *testing.T) {
	d := newDeployment(t)
	e := d.run(t, "approvals")
	create := events.FromCreate(events.Create{RequestID: "req_01jdq3m8z6n9v4c2b7x5k1rie0", Flow: "deploy", UserEmail: "dev@example.com",
		Source: latch.SourceAPI, Fields: map[string]any{"service": "web"}}, time.Now())
	out := e.invoke(t, map[string]any{"Records": []any{sqsRecord(t, create, 1)}})
	var a struct {
		Failures []map[string]string `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &a); err != nil || len(a.Failures) != 0 {
		t.Fatalf("answer %s, want no failures", out)
	}
	r, err := d.store.GetRequest(context.Background(), "req_01jdq3m8z6n9v4c2b7x5k1rie0")
	if err != nil || r.Status != latch.StatusPending || r.Requester.Email != "dev@example.com" {
		t.Fatalf("the request in DynamoDB: %+v, %v", r, err)
	}
	if posts := d.slack.Posts("#deploys"); len(posts) != 1 {
		t.Errorf("approval messages posted: %v, want one in #deploys", posts)
	}
}

// seedGrant writes an escalating grant of the prod flow and its request.
func (d *deployment) seedGrant(t *testing.T) latch.Grant {
	now := time.Now().UTC()
	r := latch.Request{ID: "req_01jdq3m8z6n9v4c2b7x5k1rie1", Flow: "prod", Requester: latch.UserRef{Email: "dev@example.com"},
		Source: latch.SourceAPI, Fields: latch.Fields{"target_id": "db"}, TargetID: "db", Duration: 3600, Status: latch.StatusEscalating,
		GrantID: "grt_01jdq3m8z6n9v4c2b7x5k1rie1", CreatedAt: now, UpdatedAt: now}
	g := latch.Grant{ID: r.GrantID, Key: latch.GrantKey("prod", "db", "dev@example.com"), Flow: "prod", TargetID: "db",
		User: r.Requester, Status: latch.GrantEscalating, Leases: []latch.Lease{{RequestID: r.ID, Duration: 3600}},
		CreatedAt: now, UpdatedAt: now}
	if err := d.store.Commit(context.Background(), latch.Change{Requests: []latch.Request{r}, Grants: []latch.Grant{g}}); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestEscalatorFunction(t *testing.T) {
	d := newDeployment(t)
	g := d.seedGrant(t)
	e := d.run(t, "escalator-webhook")
	out := e.invoke(t, map[string]any{"grant_id": g.ID, "action": "escalate"})
	var a struct {
		Report *struct{ ID, Body string } `json:"report"`
	}
	if err := json.Unmarshal(out, &a); err != nil || a.Report == nil || !strings.Contains(a.Report.Body, `"type":"escalated"`) {
		t.Fatalf("answer %s, want an escalated report", out)
	}
	if sent := d.sqs.sent(); len(sent) != 1 || sent[0] != a.Report.Body {
		t.Errorf("sent to the events queue %q, want the escalated report", sent)
	}
	calls := d.target.Calls()
	if len(calls) != 1 || calls[0].VerifyErr != nil || !strings.Contains(string(calls[0].Body), g.ID) {
		t.Errorf("webhook calls %+v, want one signed call about the grant", calls)
	}
}

func TestGrantTasksFunction(t *testing.T) {
	d := newDeployment(t)
	g := d.seedGrant(t)
	e := d.run(t, "granttasks")
	cause := `{"errorMessage":"webhook answered 403","errorType":"PermanentError"}`
	out := e.invoke(t, map[string]any{"grant_id": g.ID, "action": "escalation_failed", "error": map[string]string{"Error": "PermanentError", "Cause": cause}})
	if !strings.Contains(string(out), "escalation_failed") || !strings.Contains(string(out), g.ID) {
		t.Errorf("answer %s, want an escalation_failed report of the grant", out)
	}
	if sent := d.sqs.sent(); len(sent) != 1 || !strings.Contains(sent[0], `"type":"escalation_failed"`) {
		t.Errorf("sent to the events queue %q, want the escalation_failed report", sent)
	}
}

func TestAuditFunction(t *testing.T) {
	d := newDeployment(t)
	e := d.run(t, "audit")
	stream, err := os.ReadFile("../pkg/audit/streamship/testdata/stream.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(stream, &ev); err != nil {
		t.Fatal(err)
	}
	out := e.invoke(t, ev)
	if !strings.Contains(string(out), `"batchItemFailures"`) || strings.Contains(string(out), "itemIdentifier") {
		t.Errorf("answer %s, want no failures", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.logged(), `"schema_version":1`) {
		if time.Now().After(deadline) {
			t.Fatal("the audit events did not reach the function's log (the stdout destination)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReconcilerFunction(t *testing.T) {
	d := newDeployment(t)
	e := d.run(t, "reconciler")
	out := e.invoke(t, map[string]any{"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
		"source": "aws.events", "account": "000000000000", "time": "2026-11-25T12:00:00Z", "region": "us-east-1",
		"resources": []string{"arn:aws:events:us-east-1:000000000000:rule/ReconcilerSchedule"}, "detail": map[string]any{}})
	var rep map[string]int
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	if _, ok := rep["Effects"]; !ok {
		t.Errorf("answer %s, want the reconciler's report", out)
	}
}
