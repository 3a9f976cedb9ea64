package slackapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/slackapp/blockkit"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

var signingSecret = []byte("8f742231b10e8888abcd99yyyzzz85a5")

// The workspace, its people and a Slack Connect stranger.
const (
	team       = slacktest.Team
	otherTeam  = "T0OTHERORG"
	annID      = "U0ANN" // requester
	bobID      = "U0BOB" // the listed approver
	carID      = "U0CAR" // a member who approves nothing
	strangerID = "U0EXT" // from another organisation, over Slack Connect
	ann        = "ann@example.com"
	bob        = "bob@example.com"
	car        = "car@example.com"
	stranger   = "sam@partner.example"
)

// prodFlow has every field type, two targets, and is approved by bob in
// #access-requests.
const prodFlow = `name: prod-access
label: Production access
additional_header_text: "Access is logged. See <https://wiki.example.com/prod|the runbook>."
allow_revoke: true
schedule_deescalation: true
fields:
  - {name: reason, type: string, label: Why do you need access?, required: true}
  - {name: duration, type: duration, allowed_values: [30m, 1h, 4h], default: 1h}
  - {name: ticket, type: int, label: Ticket number}
  - {name: break_glass, type: bool, label: Break glass}
  - {name: regions, type: "list[int]", label: Port numbers}
  - {name: hosts, type: "list[string]"}
  - {name: buddy, type: slack_user}
  - {name: watchers, type: "list[slack_user]"}
approval:
  channel: "#access-requests"
  approvers: [bob@example.com]
  timeout: 1h
strategy:
  type: webhook
  url: http://127.0.0.1:9/hook
  targets:
    - {id: prod-db, label: Production database}
    - {id: prod-k8s, label: Production cluster}
`

// apiFlow cannot be requested from Slack.
const apiFlow = `name: deploy
sources: [api]
allow_revoke: true
approval:
  approvers: [bob@example.com]
`

// guestFlow lets guests act; approval-only.
const guestFlow = `name: partner-approval
label: Partner approval
allow_revoke: true
allow_guest_interaction: true
fields:
  - {name: reason, type: string, required: true}
approval:
  channel: C0PARTNERS
  approvers: [sam@partner.example]
`

// escalator records grants and revokes.
type escalator struct {
	mu      sync.Mutex
	granted []string
	revoked []string
	refuse  string // when set, Grant fails for good with this message
}

func (e *escalator) Grant(_ context.Context, g latch.GrantSpec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refuse != "" {
		return latch.Permanent(errors.New(e.refuse))
	}
	e.granted = append(e.granted, g.Target.ID+"/"+g.User.Email)
	return nil
}

func (e *escalator) Revoke(_ context.Context, g latch.GrantSpec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revoked = append(e.revoked, g.Target.ID+"/"+g.User.Email)
	return nil
}

func (e *escalator) counts() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.granted), len(e.revoked)
}

// rig is the Slack app over a real engine, embedded store and local
// runtime, talking to a fake Slack.
type rig struct {
	t     testing.TB
	slack *slacktest.Server
	app   *slackapp.App
	eng   *engine.Engine
	store *boltstore.Store
	esc   *escalator
	url   string // the app's handler
	// pending counts the app's work after its answers to Slack; the rig
	// waits for it after each command and interaction, so tests read
	// what the work did.
	pending sync.WaitGroup
	seq     int
}

func newRig(t testing.TB, flowTexts ...string) *rig {
	t.Helper()
	if len(flowTexts) == 0 {
		flowTexts = []string{prodFlow, apiFlow, guestFlow}
	}
	var loaded []*latch.Flow
	for i, text := range flowTexts {
		f, err := flows.Parse("flow"+string(rune('a'+i))+".yaml", []byte(text), flows.Options{})
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, f)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, slack: slacktest.NewServer(t), store: store, esc: &escalator{}}
	r.slack.AddUser(annID, team, ann)
	r.slack.AddUser(bobID, team, bob)
	r.slack.AddUser(carID, team, car)
	r.slack.AddUser(strangerID, otherTeam, stranger)

	clock := latch.SystemClock
	flowSet := engine.NewFlowSet(loaded)
	queue := local.NewQueue(func(ctx context.Context, cmd latch.Command) error { return r.eng.Handle(ctx, cmd) })
	timers := local.NewTimers(ctx, queue, clock, nil)
	runner := local.NewRunner(ctx, local.RunnerConfig{Store: store, Flows: flowSet,
		Escalator: func(*latch.Flow) (latch.Escalator, error) { return r.esc, nil },
		Queue:     queue, Timers: timers, Clock: clock})
	t.Cleanup(func() { cancel(); timers.Close(); runner.Wait() })
	r.app = &slackapp.App{SigningSecret: signingSecret, Slack: &slackapp.Client{BaseURL: r.slack.URL, Token: slacktest.Token},
		Store: store, Queue: queue, Clock: clock}
	r.eng, err = engine.New(engine.Config{Store: store, Flows: flowSet, Clock: clock, Runner: runner, Scheduler: timers, Notifier: r.app})
	if err != nil {
		t.Fatal(err)
	}
	r.app.Engine = r.eng
	r.app.After = func(work func()) {
		r.pending.Go(work)
	}
	r.app.Submit = func(ctx context.Context, in engine.CreateInput) error {
		_, err := r.eng.Create(ctx, in)
		return err
	}
	srv := httptest.NewServer(r.app.Handler())
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// post sends body to the app's route signed as Slack signs it now.
func (r *rig) post(route, contentType string, body []byte) (int, []byte) {
	r.t.Helper()
	return slacktest.Post(r.t, r.url+route, signingSecret, contentType, body)
}

// command runs a slash command as user, in Slack's form shape.
func (r *rig) command(userID, userTeam, text string) (int, map[string]any) {
	r.t.Helper()
	form, err := url.ParseQuery(string(slacktest.Command(userTeam, userID, text)))
	if err != nil {
		r.t.Fatal(err)
	}
	r.seq++
	form.Set("response_url", r.slack.ResponseURL(fmt.Sprintf("commands/%d", r.seq)))
	status, body := r.post("/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()))
	r.pending.Wait()
	return status, r.checked(r.decode(body))
}

// checked fails the test when an answer to Slack holds a view or message
// Slack would refuse, and returns the answer.
func (r *rig) checked(answer map[string]any) map[string]any {
	r.t.Helper()
	if v, ok := answer["view"].(map[string]any); ok {
		if p := blockkit.ValidateView(v); len(p) > 0 {
			r.t.Errorf("the answer's view would be refused by Slack: %v", p)
		}
	}
	if s, ok := answer["text"].(string); ok {
		if p := blockkit.ValidateMessage(s, answer["blocks"]); len(p) > 0 {
			r.t.Errorf("the answer's message would be refused by Slack: %v", p)
		}
	}
	return answer
}

func (r *rig) decode(body []byte) map[string]any {
	r.t.Helper()
	var out map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			r.t.Fatalf("answer %q: %v", body, err)
		}
	}
	return out
}

// interact posts an interaction payload as Slack does.
func (r *rig) interact(payload map[string]any) (int, map[string]any) {
	r.t.Helper()
	if _, ok := payload["response_url"]; ok {
		r.seq++
		payload["response_url"] = r.slack.ResponseURL(fmt.Sprintf("actions/%d", r.seq))
	}
	status, body := r.post("/slack/interactions", "application/x-www-form-urlencoded", slacktest.Form(r.t, payload))
	r.pending.Wait()
	return status, r.checked(r.decode(body))
}

// shown returns the view the app showed last (views.open or views.update),
// once the app's work after its answers is done.
func (r *rig) shown() map[string]any {
	r.t.Helper()
	r.pending.Wait()
	return r.slack.ShownView(r.t)
}

// responses returns the texts posted to the commands' and clicks'
// response_urls, failing the test for any Slack would refuse.
func (r *rig) responses() []string {
	r.t.Helper()
	var out []string
	for _, resp := range r.slack.Responses() {
		if len(resp.Problems) > 0 {
			r.t.Errorf("Slack would refuse a response: %v", resp.Problems)
		}
		s, _ := resp.Body["text"].(string)
		out = append(out, s)
	}
	return out
}

func submission(userID, userTeam string, v map[string]any, values map[string]map[string]any) map[string]any {
	return slacktest.Submission(userTeam, userID, v, values)
}

func click(userID, userTeam, action, requestID, channel, ts, reason string) map[string]any {
	return slacktest.Click(userTeam, userID, action, requestID, channel, ts, reason)
}

// blocksOf returns a view's blocks.
func blocksOf(v map[string]any) []map[string]any {
	var out []map[string]any
	for _, b := range v["blocks"].([]any) {
		out = append(out, b.(map[string]any))
	}
	return out
}

// block returns the block with the given id.
func block(tb testing.TB, blocks []map[string]any, id string) map[string]any {
	tb.Helper()
	for _, b := range blocks {
		if b["block_id"] == id {
			return b
		}
	}
	tb.Fatalf("no block %q", id)
	return nil
}

// messageBlocks decodes the blocks a chat call sent.
func messageBlocks(tb testing.TB, c slacktest.Call) []map[string]any {
	tb.Helper()
	var blocks []map[string]any
	if err := c.Decode("blocks", &blocks); err != nil {
		tb.Fatal(err)
	}
	return blocks
}

func actionIDs(blocks []map[string]any) []string { return slacktest.ActionIDs(blocks) }

// text joins every text in blocks, for assertions on what people read.
func text(blocks []map[string]any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(blocks)
	return b.String()
}

// eventually fails the test unless cond becomes true within 10 seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requests returns every request in the store.
func (r *rig) requests() []latch.Request {
	r.t.Helper()
	rs, err := r.store.ListRequests(context.Background(), latch.RequestFilter{})
	if err != nil {
		r.t.Fatal(err)
	}
	return rs
}

// dmsTo returns the texts of the DMs sent to the Slack user id.
func (r *rig) dmsTo(userID string) []string {
	im := r.slack.IM(userID)
	if im == "" {
		return nil
	}
	return r.slack.Posts(im)
}

func containsAll(s string, parts ...string) bool {
	return !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(s, p) })
}
