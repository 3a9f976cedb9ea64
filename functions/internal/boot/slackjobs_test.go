package boot

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchhq/latch/functions/internal/lambdainvoke"
	"github.com/latchhq/latch/pkg/apigw"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
	"github.com/latchhq/latch/pkg/strategies"
	"github.com/latchhq/latch/pkg/tokens"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

const (
	slackTeam    = "T0LATCH"
	slackSigning = "8f742231b10e8888abcd99yyyzzz85a5"
	annSlackID   = "U0ANN"
	annEmail     = "ann@example.com"
	functionName = "Latch-Slack1A2B3C4D-x9Y8z7W6v5U4"
)

// deployFlow can be requested from Slack and the API; bob approves it.
const deployFlow = `name: deploy
allow_revoke: true
fields:
  - {name: reason, type: string, required: true}
approval:
  approvers: [bob@example.com]
`

// testParts are the parts of a function over a table of DynamoDB Local,
// with deployFlow and the domain example.com.
func testParts(t *testing.T, env *Env) *Parts {
	t.Helper()
	f, err := flows.Parse("deploy.yaml", []byte(deployFlow), strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	store := dynamotest.NewStore(t)
	dir := &identity.Directory{Store: store, Clock: latch.SystemClock}
	if _, err := dir.AddDomain(t.Context(), "example.com"); err != nil {
		t.Fatal(err)
	}
	return &Parts{Env: env, Store: store, Flows: engine.NewFlowSet([]*latch.Flow{f}), Directory: dir, Users: Users(store, dir)}
}

// fakeLambda is Lambda's Invoke as the SDK speaks it (REST JSON: POST
// /2015-03-31/functions/{FunctionName}/invocations, the invocation type in
// X-Amz-Invocation-Type, the payload as the body); an asynchronous
// invocation is answered 202 with no body, as Lambda does once it has
// queued the event.
type fakeLambda struct {
	mu          sync.Mutex
	invocations []invocation
}

type invocation struct {
	Function, Type string
	Payload        []byte
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/"), "/invocations")
	if r.Method != http.MethodPost || !ok || !strings.HasPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/") {
		w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"Type":"User","message":"Unknown operation"}`)
		return
	}
	name, _ = url.PathUnescape(name)
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.invocations = append(f.invocations, invocation{Function: name, Type: r.Header.Get("X-Amz-Invocation-Type"), Payload: body})
	f.mu.Unlock()
	w.Header().Set("X-Amzn-RequestId", "7f2a0c3e-1b4d-4e5f-8a9b-0c1d2e3f4a5b")
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeLambda) take() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.invocations
	f.invocations = nil
	return out
}

// slackEvent is the API Gateway (HTTP API, payload 2.0) event of a request
// from Slack to route, signed with secret now.
func slackEvent(t *testing.T, secret, route, contentType string, body []byte) json.RawMessage {
	t.Helper()
	ts, sig := slacktest.Sign([]byte(secret), time.Now(), body)
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "POST " + route, RawPath: route,
		Headers: map[string]string{"content-type": contentType, "x-slack-request-timestamp": ts, "x-slack-signature": sig,
			"content-length": strconv.Itoa(len(body)), "host": "abc123.execute-api.us-east-1.amazonaws.com", "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost, Path: route, Protocol: "HTTP/1.1", SourceIP: "3.89.0.1"}},
		Body: string(body)}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The Slack function answers a command before any Web API call but the
// views.open it needs, and hands the rest to itself as an asynchronous
// invocation; run from that invocation's payload, the job finishes the
// work (the form replaces the loading modal). A job not made with the
// signing secret is dropped.
func TestSlackFunctionHandsItsWorkToItself(t *testing.T) {
	lam := &fakeLambda{}
	lamSrv := httptest.NewServer(lam)
	t.Cleanup(lamSrv.Close)
	sl := slacktest.NewServer(t)
	sl.AddUser(annSlackID, slackTeam, annEmail)
	env, _ := testEnv(t, lamSrv, map[string]string{"SLACK_BOT_TOKEN": slacktest.Token, "SLACK_SIGNING_SECRET": slackSigning,
		"SLACK_API_URL": sl.URL, "SLACK_TEAM_IDS": slackTeam, "LATCH_SLACK_DEFER": "invoke", "AWS_LAMBDA_FUNCTION_NAME": functionName})
	parts := testParts(t, env)
	slack := parts.Slack(true)
	slack.Invoker = lambdainvoke.Async(env.AWS) // as functions/slack sets it
	eng, err := parts.EdgeEngine()
	if err != nil {
		t.Fatal(err)
	}
	slack.Engine = eng
	handle := slack.LambdaHandler(apigw.Handler(slack.Handler()))
	ctx := t.Context()

	out, err := handle(ctx, slackEvent(t, slackSigning, "/slack/commands", "application/x-www-form-urlencoded",
		slacktest.Command(slackTeam, annSlackID, "req deploy")))
	if err != nil {
		t.Fatal(err)
	}
	if resp := out.(events.APIGatewayV2HTTPResponse); resp.StatusCode != http.StatusOK {
		t.Fatalf("the command was answered %d %s", resp.StatusCode, resp.Body)
	}
	if got := methods(sl.Calls()); !slices.Equal(got, []string{"views.open"}) {
		t.Errorf("Web API calls by the answer %v, want only the loading modal's views.open", got)
	}
	invs := lam.take()
	if len(invs) != 1 || invs[0].Function != functionName || invs[0].Type != "Event" || !slackapp.IsJob(invs[0].Payload) {
		t.Fatalf("invocations %+v, want one asynchronous invocation of %s with a job", invs, functionName)
	}

	n := len(sl.Calls())
	if out, err := handle(ctx, invs[0].Payload); err != nil || out != nil {
		t.Fatalf("the job's invocation: %v, %v", out, err)
	}
	if got := methods(sl.Calls()[n:]); !slices.Equal(got, []string{"users.info", "views.update"}) {
		t.Errorf("Web API calls by the job %v, want users.info then views.update", got)
	}
	if v := sl.ShownView(t); v["callback_id"] != "latch_request" {
		t.Errorf("after the job the modal shows %v, want the request form", v["callback_id"])
	}

	// A job made by someone without the signing secret does nothing.
	forger := &slackapp.App{SigningSecret: []byte("not-the-signing-secret")}
	forged, err := forger.EncodeJob(slackapp.Job{Kind: slackapp.JobCommand, Body: slacktest.Command(slackTeam, annSlackID, "whoami")})
	if err != nil {
		t.Fatal(err)
	}
	n = len(sl.Calls())
	if _, err := handle(ctx, forged); err != nil {
		t.Errorf("a forged job: %v, want it dropped without a retry", err)
	}
	if got := methods(sl.Calls()[n:]); len(got) != 0 || len(sl.Responses()) != 0 {
		t.Errorf("a forged job made Web API calls %v", got)
	}
}

// noQueue is an events queue nobody reads; the test sends no command.
type noQueue struct{}

func (noQueue) Publish(context.Context, latch.Command) error { return nil }

func methods(calls []slacktest.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Method
	}
	return out
}

// The API function resolves a request's person named by Slack user id
// through users.info with the bot token of the app secret, read through
// the secrets' cache: before the token is put, user_id is refused as
// slack_not_configured; once it is put (and the cache has read it), the
// request is made for the person's Latch user.
func TestAPICreateBySlackUserID(t *testing.T) {
	const appARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:latch/app-AbCdEf"
	sm, smSrv := newFakeSecrets(t, map[string]string{appARN: `{"SLACK_BOT_TOKEN":"REPLACE_ME","SLACK_SIGNING_SECRET":"REPLACE_ME","LATCH_ADMIN_TOKEN":"adm-1"}`})
	sl := slacktest.NewServer(t)
	sl.AddUser(annSlackID, slackTeam, annEmail)
	env, clk := testEnv(t, smSrv, map[string]string{"LATCH_APP_SECRETS_ARN": appARN, "SLACK_API_URL": sl.URL, "SLACK_TEAM_IDS": slackTeam})
	parts := testParts(t, env)
	eng, err := parts.EdgeEngine()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var submitted []engine.CreateInput
	submit := func(_ context.Context, in engine.CreateInput) error {
		mu.Lock()
		defer mu.Unlock()
		submitted = append(submitted, in)
		return nil
	}
	// As functions/api makes its server.
	toks := &tokens.Service{Store: parts.Store, Clock: latch.SystemClock}
	srv := httptest.NewServer(Serve(parts.API(eng, func(admin string, slack *Slack) http.Handler {
		api := &httpapi.Server{Engine: eng, Directory: parts.Directory, Tokens: toks, Store: parts.Store, Queue: noQueue{}, Submit: submit,
			Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(admin), Service: toks}, Log: env.Log}
		if slack != nil {
			api.SlackUsers = slack
		}
		return api.Handler()
	})))
	t.Cleanup(srv.Close)
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/requests", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer adm-1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Error.Code
	}
	const create = `{"flow":"deploy","user_id":"U0ANN","team_id":"T0LATCH","fields":{"reason":"release 42"}}`

	if status, out := post(create); status != http.StatusUnprocessableEntity || out != "slack_not_configured" {
		t.Errorf("user_id before the bot token is put: %d %v, want 422 slack_not_configured", status, out)
	}
	sm.set(appARN, `{"SLACK_BOT_TOKEN":"`+slacktest.Token+`","SLACK_SIGNING_SECRET":"`+slackSigning+`","LATCH_ADMIN_TOKEN":"adm-1"}`)
	clk.add(DefaultSecretsTTL)
	status, out := post(create)
	if status != http.StatusAccepted {
		t.Fatalf("user_id with the bot token: %d %v, want 202", status, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(submitted) != 1 || submitted[0].UserEmail != annEmail {
		t.Fatalf("submitted %+v, want one request for %s", submitted, annEmail)
	}
	if got := methods(sl.CallsTo("users.info")); len(got) != 1 {
		t.Errorf("users.info called %d times, want once", len(got))
	}
	if status, out := post(`{"flow":"deploy","user_id":"U0NOBODY","fields":{"reason":"x"}}`); status != http.StatusNotFound || out != "unknown_slack_user" {
		t.Errorf("an unknown Slack user: %d %v, want 404 unknown_slack_user", status, out)
	}
}
