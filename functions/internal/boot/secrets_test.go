package boot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing/signingtest"
	"github.com/latchhq/latch/pkg/strategies"
)

// fakeSecrets is Secrets Manager's GetSecretValue as the SDK speaks it:
// AWS JSON 1.1 (X-Amz-Target: secretsmanager.GetSecretValue), errors as
// {"__type": ..., "message": ...}.
type fakeSecrets struct {
	mu     sync.Mutex
	values map[string]string // ARN → SecretString
	calls  map[string]int
	down   bool
}

func newFakeSecrets(t *testing.T, values map[string]string) (*fakeSecrets, *httptest.Server) {
	f := &fakeSecrets{values: values, calls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeSecrets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(status int, typ, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		fail(http.StatusBadRequest, "UnknownOperationException", "not GetSecretValue over JSON 1.1")
		return
	}
	var in struct{ SecretId string }
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		fail(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[in.SecretId]++
	if f.down {
		fail(http.StatusBadRequest, "InvalidRequestException", "the service is having a bad day")
		return
	}
	v, ok := f.values[in.SecretId]
	if !ok {
		fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": in.SecretId, "SecretString": v,
		"VersionId": "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})
}

func (f *fakeSecrets) set(arn, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[arn] = v
}

func (f *fakeSecrets) reads(arn string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[arn]
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	botTokenARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:latch/slack/bot-token-AbCdEf"
	hooksARN    = "arn:aws:secretsmanager:us-east-1:000000000000:secret:latch/hooks-AbCdEf"
)

// testEnv is a function's Env whose Secrets Manager is srv, reached through
// the SDK's endpoint setting, with a settable clock.
func testEnv(t *testing.T, srv *httptest.Server, vars map[string]string) (*Env, *clock) {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	e, err := NewEnv(slog.New(slog.DiscardHandler), cfg, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	e.cache.now = c.Now
	e.Strategies = strategies.All() // as the escalator and reconciler functions set it (each its own)
	return e, c
}

// A rotated secret reaches a warm function within the TTL, not before, and
// without a read of Secrets Manager per use; a failed read keeps the
// earlier value.
func TestSecretRotationWithinTTL(t *testing.T) {
	sm, srv := newFakeSecrets(t, map[string]string{botTokenARN: "xoxb-first", hooksARN: `{"HOOK_SECRET":"one"}`})
	env, clk := testEnv(t, srv, map[string]string{"SLACK_BOT_TOKEN_ARN": botTokenARN, "LATCH_HOOKS_SECRETS_ARN": hooksARN})
	ctx := t.Context()
	secret := func() string {
		t.Helper()
		v, err := env.Secret(ctx, "SLACK_BOT_TOKEN")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	lookup, err := env.LookupEnv(ctx, "LATCH_HOOKS_SECRETS_ARN")
	if err != nil {
		t.Fatal(err)
	}
	hook := func() string { v, _ := lookup("HOOK_SECRET"); return v }

	if got := secret(); got != "xoxb-first" {
		t.Fatalf("Secret = %q", got)
	}
	sm.set(botTokenARN, "xoxb-second")
	sm.set(hooksARN, `{"HOOK_SECRET":"two"}`)
	clk.add(DefaultSecretsTTL - time.Second)
	if got, h := secret(), hook(); got != "xoxb-first" || h != "one" {
		t.Errorf("within the TTL: %q, %q; want the cached first values", got, h)
	}
	if n := sm.reads(botTokenARN); n != 1 {
		t.Errorf("Secrets Manager read %d times within the TTL, want 1", n)
	}
	clk.add(2 * time.Second)
	if got, h := secret(), hook(); got != "xoxb-second" || h != "two" {
		t.Errorf("after the TTL: %q, %q; want the rotated values", got, h)
	}

	// Secrets Manager fails: the known value is kept.
	sm.mu.Lock()
	sm.down = true
	sm.mu.Unlock()
	clk.add(DefaultSecretsTTL)
	if got := secret(); got != "xoxb-second" {
		t.Errorf("with Secrets Manager down: %q, want the earlier value", got)
	}
	// A secret never read cannot be made up.
	if _, err := testEnvSecret(t, srv, "arn:aws:secretsmanager:us-east-1:000000000000:secret:other"); err == nil {
		t.Error("a secret that was never read, with Secrets Manager down: no error")
	}
}

func testEnvSecret(t *testing.T, srv *httptest.Server, arn string) (string, error) {
	env, _ := testEnv(t, srv, map[string]string{"X_ARN": arn})
	return env.Secret(t.Context(), "X")
}

// The grouped secret of the deployment: every value of the Slack app and
// the API in one JSON secret, rotated together.
func TestAppSecretsGrouped(t *testing.T) {
	const appARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:latch/app-AbCdEf"
	sm, srv := newFakeSecrets(t, map[string]string{appARN: `{"SLACK_BOT_TOKEN":"REPLACE_ME","SLACK_SIGNING_SECRET":"REPLACE_ME","LATCH_ADMIN_TOKEN":"adm-1"}`})
	env, clk := testEnv(t, srv, map[string]string{"LATCH_APP_SECRETS_ARN": appARN})
	slack := (&Parts{Env: env}).Slack(true)
	if slack == nil {
		t.Fatal("no Slack with LATCH_APP_SECRETS_ARN set")
	}
	if _, err := slack.App(t.Context()); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("placeholders: %v, want ErrNotConfigured", err)
	}
	if v, err := env.Secret(t.Context(), "LATCH_ADMIN_TOKEN"); err != nil || v != "adm-1" {
		t.Errorf("admin token %q, %v", v, err)
	}
	sm.set(appARN, `{"SLACK_BOT_TOKEN":"xoxb-1","SLACK_SIGNING_SECRET":"8f742231b10e8888abcd99yyyzzz85a5","LATCH_ADMIN_TOKEN":"adm-2"}`)
	clk.add(DefaultSecretsTTL)
	app, err := slack.App(t.Context())
	if err != nil || app == nil || app.Slack.Token != "xoxb-1" || string(app.SigningSecret) != "8f742231b10e8888abcd99yyyzzz85a5" {
		t.Errorf("configured: %+v, %v", app, err)
	}
	if v, _ := env.Secret(t.Context(), "LATCH_ADMIN_TOKEN"); v != "adm-2" {
		t.Errorf("rotated admin token %q", v)
	}
	if n := sm.reads(appARN); n != 2 {
		t.Errorf("the app secret was read %d times, want once per TTL (2)", n)
	}
}

// A warm escalator signs with the rotated webhook secret once the TTL has
// passed (before, it kept the key it was built with until Lambda recycled
// it).
func TestEscalatorSignsWithTheRotatedSecret(t *testing.T) {
	const strategyARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:latch/integrations-AbCdEf"
	sm, srv := newFakeSecrets(t, map[string]string{strategyARN: `{"LATCH_WEBHOOK_SECRET":"old-secret-0123456789"}`})
	env, clk := testEnv(t, srv, map[string]string{"LATCH_STRATEGY_SECRETS_ARN": strategyARN})
	target := signingtest.NewReceiver(t, []byte("new-secret-9876543210"), nil)
	lookup, err := env.LookupEnv(t.Context(), "LATCH_STRATEGY_SECRETS_ARN")
	if err != nil {
		t.Fatal(err)
	}
	forFlow := liveEscalators(env, lookup)
	flow := &latch.Flow{Name: "prod", Strategy: &latch.Strategy{Type: "webhook",
		Config: map[string]any{"url": target.URL, "secret_env": "LATCH_WEBHOOK_SECRET"}, Targets: []latch.Target{{ID: "db"}}}}
	spec := latch.GrantSpec{GrantID: "grt_1", User: latch.SpecUser{Email: "ann@example.com", Identity: "ann"}, Target: latch.Target{ID: "db"}}
	// signed calls the escalator and reports whether the target could
	// verify its signature with the new secret.
	signed := func() bool {
		t.Helper()
		esc, err := forFlow(flow)
		if err != nil {
			t.Fatal(err)
		}
		if err := esc.Grant(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
		calls := target.Calls()
		return calls[len(calls)-1].VerifyErr == nil
	}
	if signed() {
		t.Fatal("before the rotation, the call is signed with the new secret")
	}
	sm.set(strategyARN, `{"LATCH_WEBHOOK_SECRET":"new-secret-9876543210"}`)
	clk.add(DefaultSecretsTTL - time.Second)
	if signed() {
		t.Error("within the TTL, the call is already signed with the new secret")
	}
	clk.add(time.Second)
	if !signed() {
		t.Error("after the rotation and the TTL, the call is not signed with the new secret")
	}
}

// Live builds again exactly when a secret it uses has changed.
func TestLiveRebuildsOnRotation(t *testing.T) {
	sm, srv := newFakeSecrets(t, map[string]string{botTokenARN: "xoxb-first"})
	env, clk := testEnv(t, srv, map[string]string{"SLACK_BOT_TOKEN_ARN": botTokenARN})
	builds := 0
	live := &Live[string]{Env: env, Secrets: []string{"SLACK_BOT_TOKEN"}, Build: func(ctx context.Context) (string, error) {
		builds++
		return env.Secret(ctx, "SLACK_BOT_TOKEN")
	}}
	get := func() string {
		t.Helper()
		v, err := live.Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	get()
	clk.add(DefaultSecretsTTL)
	if got := get(); got != "xoxb-first" || builds != 1 {
		t.Errorf("unchanged secret: %q after %d builds, want 1 build", got, builds)
	}
	sm.set(botTokenARN, "xoxb-second")
	clk.add(DefaultSecretsTTL)
	if got := get(); got != "xoxb-second" || builds != 2 {
		t.Errorf("rotated secret: %q after %d builds, want xoxb-second after 2", got, builds)
	}
}

// The Slack notifier of a warm function: while the bot token is the
// placeholder, a notification is a transient ErrNotConfigured (kept in the
// outbox); once the operator puts the token, the next use after the TTL
// has an app with it; a second rotation gives another app.
func TestSlackNotifierFollowsTheBotToken(t *testing.T) {
	sm, srv := newFakeSecrets(t, map[string]string{botTokenARN: Placeholder})
	env, clk := testEnv(t, srv, map[string]string{"SLACK_BOT_TOKEN_ARN": botTokenARN})
	slack := (&Parts{Env: env}).Slack(false)
	if slack == nil {
		t.Fatal("no Slack with SLACK_BOT_TOKEN_ARN set")
	}
	ctx := t.Context()
	err := slack.Notify(ctx, latch.AuditRequested, latch.Request{ID: "req_1"})
	if !errors.Is(err, ErrNotConfigured) || latch.IsPermanent(err) {
		t.Fatalf("Notify with the placeholder: %v, want a transient ErrNotConfigured", err)
	}
	for i, token := range []string{"xoxb-first", "xoxb-second"} {
		sm.set(botTokenARN, token)
		clk.add(DefaultSecretsTTL)
		app, err := slack.App(ctx)
		if err != nil || app == nil {
			t.Fatalf("rotation %d: App = %v, %v", i, app, err)
		}
		if app.Slack.Token != token {
			t.Errorf("rotation %d: the app posts with %q, want %q", i, app.Slack.Token, token)
		}
	}
	sm.set(botTokenARN, SlackOff)
	clk.add(DefaultSecretsTTL)
	if err := slack.Notify(ctx, latch.AuditRequested, latch.Request{ID: "req_1"}); err != nil {
		t.Errorf("Notify with Slack off: %v, want nil (dropped)", err)
	}
}

// The Slack function of a deployment whose Slack values are not put yet
// answers 503 (Slack retries) rather than failing to start.
func TestSlackHandlerNotConfigured(t *testing.T) {
	const appARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:latch/app-AbCdEf"
	_, srv := newFakeSecrets(t, map[string]string{appARN: `{"SLACK_BOT_TOKEN":"REPLACE_ME","SLACK_SIGNING_SECRET":"REPLACE_ME","LATCH_ADMIN_TOKEN":"a"}`})
	env, _ := testEnv(t, srv, map[string]string{"LATCH_APP_SECRETS_ARN": appARN})
	h := (&Parts{Env: env}).Slack(true).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader("command=%2Flatch")))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
}

// The engine keeps a notification in the outbox while Slack is not
// configured (before, the function had no notifier and the engine marked it
// done); with Slack turned off it is done.
func TestNotificationWaitsForSlack(t *testing.T) {
	sm, srv := newFakeSecrets(t, map[string]string{botTokenARN: Placeholder})
	env, clk := testEnv(t, srv, map[string]string{"SLACK_BOT_TOKEN_ARN": botTokenARN})
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	slack := (&Parts{Env: env}).Slack(false) // the app is never built here: no store needed
	eng, err := engine.New(engine.Config{Store: store, Flows: engine.NewFlowSet(nil), Runner: edgeRunner{}, Scheduler: edgeRunner{},
		Notifier: slack, Log: env.Log, Clock: latch.ClockFunc(clk.Now)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	at := clk.Now().Add(-time.Hour)
	r := latch.Request{ID: "req_1", Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"}, Status: latch.StatusPending,
		CreatedAt: at, UpdatedAt: at}
	if err := store.Commit(ctx, latch.Change{Requests: []latch.Request{r},
		Effects: []latch.Effect{{ID: "req_1/notify", Kind: latch.EffectNotify, RequestID: "req_1", Event: latch.AuditRequested, CreatedAt: at}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.DispatchPending(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if pending, err := store.PendingEffects(ctx, 0); err != nil || len(pending) != 1 {
		t.Fatalf("with Slack not configured the outbox holds %v (%v), want the notification", pending, err)
	}
	sm.set(botTokenARN, SlackOff)
	clk.add(DefaultSecretsTTL)
	if _, err := eng.DispatchPending(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if pending, err := store.PendingEffects(ctx, 0); err != nil || len(pending) != 0 {
		t.Errorf("with Slack off the outbox holds %v (%v), want nothing", pending, err)
	}
}

// The reconciler's escalators read the token an okta flow names from the
// integrations secret (its drift check of okta flows needs it), and only
// from there or the environment.
func TestReconcilerEscalatorsReadTheIntegrationsSecret(t *testing.T) {
	flow := &latch.Flow{Name: "okta", Strategy: &latch.Strategy{Type: "okta",
		Config:  map[string]any{"org_url": "https://example.okta.com", "token_env": "OKTA_API_TOKEN"},
		Targets: []latch.Target{{ID: "g", Settings: map[string]any{"group_id": "00g1emaKYZTWRYYRRTSK"}}}}}
	_, srv := newFakeSecrets(t, map[string]string{hooksARN: `{"OKTA_API_TOKEN":"00tokenFROMtheSECRET"}`})
	env, _ := testEnv(t, srv, map[string]string{"LATCH_HOOKS_SECRETS_ARN": hooksARN})
	forFlow, err := Escalators(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	esc, err := forFlow(flow)
	if err != nil {
		t.Fatalf("the okta escalator is not built from the integrations secret: %v", err)
	}
	if _, ok := esc.(latch.Checker); !ok {
		t.Error("the okta escalator cannot check")
	}
	bare, _ := testEnv(t, srv, map[string]string{})
	forFlow, err = Escalators(t.Context(), bare)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forFlow(flow); err == nil || !strings.Contains(err.Error(), "OKTA_API_TOKEN") {
		t.Errorf("without the secret: %v, want an error naming OKTA_API_TOKEN", err)
	}
}
