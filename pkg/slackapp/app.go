package slackapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/latchhq/latch/pkg/env"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// MaxBody bounds a request body from Slack. Slack's own payloads are far
// smaller; a view submission of a large modal stays under 100 KB.
const MaxBody = 1 << 20

// App is Latch's Slack app: the HTTP handler for Slack's commands,
// interactions, options and events, and the Notifier that posts and updates
// approval messages and DMs requesters. The same App serves `latch server`
// and the Slack ingress Lambda.
type App struct {
	// SigningSecret checks every request (SLACK_SIGNING_SECRET).
	SigningSecret []byte
	// Slack calls the Web API with the bot token (SLACK_BOT_TOKEN).
	Slack *Client
	// Engine judges commands (Check), and holds the flows and users.
	Engine *engine.Engine
	// Store reads requests, identities and message refs.
	Store latch.Store
	// Queue carries people's commands (approve, deny, revoke) to the engine;
	// it must return at once (SQS on AWS; in one process, a queue that
	// handles the command in the background).
	Queue latch.Queue
	// Submit hands a new request to the engine and returns at once.
	Submit func(ctx context.Context, in engine.CreateInput) error
	// Teams are the workspaces the app belongs to; people of any other
	// workspace are Slack Connect users, who are always guests. Empty:
	// the workspace of the bot token (auth.test), learned on first use.
	Teams []string
	// Channel is where approval messages go for flows without
	// approval.channel; empty: such flows' approvers are sent a DM each.
	Channel string
	Clock   latch.Clock
	Log     *slog.Logger
	// After runs work that follows an answer to Slack (the rest of a
	// command or click once Slack has its acknowledgement). Nil runs it in a
	// new goroutine; a host whose process may stop once it has answered
	// (a Lambda) runs it where it survives.
	After func(work func())
	// Defer, when set, hands the work that follows an answer to a queue
	// and returns at once; the queue's consumer runs it with RunJob (on
	// Lambda the Slack function invokes itself with the job, EncodeJob).
	// When Defer fails, the work runs through After instead. Nil: the work
	// runs through After.
	Defer func(ctx context.Context, job Job) error

	once      sync.Once
	seenMu    sync.Mutex
	seen      map[string]seenSubmission // view id + hash → the answer given
	usersMu   sync.Mutex
	users     map[string]cachedPerson // team/user id → who they are
	homeMu    sync.Mutex
	home      []string // learned from auth.test when Teams is empty
	homeEnter string
}

// cachedPerson is a Slack person resolved recently; users.info is asked
// again after personTTL so that role and profile changes are seen.
type cachedPerson struct {
	p  person
	at time.Time
}

const personTTL = 10 * time.Minute

// ackBudget is how long Latch takes to answer Slack: Slack waits 3 seconds
// for the acknowledgement of a command or interaction, and a trigger id
// opens a modal only within 3 seconds. Every Web API call made before the
// answer shares this budget; what is not needed for the answer runs after
// it (After).
const ackBudget = 2500 * time.Millisecond

// RunNow is an App.After for hosts that freeze once they have answered (a
// Lambda behind API Gateway): the work runs at once, before the answer.
// Forms still open within the trigger's 3 seconds (the loading modal is
// opened first); the rest then delays the answer.
func RunNow(work func()) { work() }

// afterBudget bounds work done after the answer.
const afterBudget = 30 * time.Second

// later has job's work done after the answer to Slack: handed to Defer,
// or run through After with a context that outlives the request's but
// keeps its values.
func (a *App) later(ctx context.Context, job Job) {
	if a.Defer != nil {
		err := a.Defer(ctx, job)
		if err == nil {
			return
		}
		a.Log.WarnContext(ctx, "could not queue the work after an answer to Slack: it runs here", "kind", job.Kind, "err", err)
	}
	ctx = context.WithoutCancel(ctx)
	run := func() {
		ctx, cancel := context.WithTimeout(ctx, afterBudget)
		defer cancel()
		if err := a.RunJob(ctx, job); err != nil {
			a.Log.WarnContext(ctx, "the work after an answer to Slack failed", "kind", job.Kind, "err", err)
		}
	}
	if a.After != nil {
		a.After(run)
		return
	}
	go run()
}

// seenSubmission is the answer given to a submitted view, kept so that the
// same submission again (Slack's retry, a double click) gets the same
// answer and creates nothing.
type seenSubmission struct {
	answer map[string]any
	at     time.Time
}

// submissionTTL is how long a submission's answer is remembered.
const submissionTTL = 10 * time.Minute

// remembered returns the answer given to the submission key, if any.
func (a *App) remembered(key string) (map[string]any, bool) {
	a.seenMu.Lock()
	defer a.seenMu.Unlock()
	now := a.Clock.Now()
	for k, v := range a.seen {
		if now.Sub(v.at) > submissionTTL {
			delete(a.seen, k)
		}
	}
	s, ok := a.seen[key]
	return s.answer, ok
}

func (a *App) remember(key string, answer map[string]any) {
	a.seenMu.Lock()
	defer a.seenMu.Unlock()
	a.seen[key] = seenSubmission{answer: answer, at: a.Clock.Now()}
}

// person is a Slack user and the Latch user they are.
type person struct {
	slack   SlackUser
	user    latch.User
	connect bool // from another organisation over Slack Connect
}

// NewApp is the app with the bot token and the settings the environment
// gives besides the secrets: SLACK_API_URL (default Slack's), SLACK_TEAM_IDS
// (the app's workspaces) and LATCH_SLACK_CHANNEL (the approval channel of
// flows that name none). The caller sets the rest.
func NewApp(getenv func(string) string, botToken string) *App {
	return &App{Slack: &Client{BaseURL: getenv("SLACK_API_URL"), Token: botToken},
		Teams: env.List(getenv("SLACK_TEAM_IDS")), Channel: getenv("LATCH_SLACK_CHANNEL")}
}

func (a *App) init() {
	a.once.Do(func() {
		if a.Clock == nil {
			a.Clock = latch.SystemClock
		}
		if a.Log == nil {
			a.Log = slog.New(slog.DiscardHandler)
		}
		a.users = map[string]cachedPerson{}
		a.seen = map[string]seenSubmission{}
	})
}

// Handler serves POST /slack/commands, /slack/interactions, /slack/options
// and /slack/events. Every request is verified (signature, age, size)
// before anything reads it.
func (a *App) Handler() http.Handler {
	a.init()
	return Verify(a.SigningSecret, a.Clock, MaxBody, a.routes())
}

// routes serves Slack's calls once they are trusted: verified (HTTP), or
// arrived over Latch's own Socket Mode connection.
func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", a.serveCommand)
	mux.HandleFunc("POST /slack/interactions", a.serveInteraction)
	mux.HandleFunc("POST /slack/options", a.serveOptions)
	mux.HandleFunc("POST /slack/events", a.serveEvent)
	return http.MaxBytesHandler(mux, MaxBody)
}

// writeJSON answers Slack with a JSON body.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ephemeral is an answer to a slash command only its user sees.
func ephemeral(text string) map[string]any {
	return map[string]any{"response_type": "ephemeral", "text": text}
}

func readBody(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

// serveEvent answers the Events API: the url_verification handshake, and
// an acknowledgement of every other event. Latch subscribes to
// app_home_opened (it then publishes the person's Home tab, after the
// answer), and to app_uninstalled and tokens_revoked, which it logs as
// errors.
func (a *App) serveEvent(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ev, err := ParseEvent(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if ev.Type == EventURLVerification {
		writeJSON(w, map[string]string{"challenge": ev.Challenge})
		return
	}
	var inner struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(ev.Event, &inner)
	switch inner.Type {
	case "app_home_opened":
		if _, ok := homeOpened(ev); ok {
			a.later(r.Context(), Job{Kind: JobEvent, Body: body})
		}
	case "app_uninstalled", "tokens_revoked":
		a.Log.Error("the Slack app was uninstalled or its tokens revoked: Latch can no longer post to Slack; reinstall it and set SLACK_BOT_TOKEN",
			"event", inner.Type, "team", ev.TeamID)
	default:
		a.Log.Debug("slack event acknowledged", "type", ev.Type, "event", inner.Type, "event_id", ev.EventID)
	}
	w.WriteHeader(http.StatusOK)
}

// homeOpened returns the person who opened the app's Home tab, when ev
// says that someone did.
func homeOpened(ev *Event) (string, bool) {
	var inner struct {
		Type string `json:"type"`
		User string `json:"user"`
		Tab  string `json:"tab"`
	}
	_ = json.Unmarshal(ev.Event, &inner)
	return inner.User, inner.Type == "app_home_opened" && inner.Tab == "home" && inner.User != ""
}

// homeTeams returns the app's workspaces and its Enterprise Grid org (if
// any): Teams as configured, else the bot token's, asked of auth.test once.
func (a *App) homeTeams(ctx context.Context) ([]string, string, error) {
	if len(a.Teams) > 0 {
		return a.Teams, "", nil
	}
	a.homeMu.Lock()
	defer a.homeMu.Unlock()
	if len(a.home) > 0 {
		return a.home, a.homeEnter, nil
	}
	info, err := a.Slack.AuthTest(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("learn the app's workspace: %w", err)
	}
	if info.TeamID == "" {
		return nil, "", errors.New("learn the app's workspace: auth.test named no team; set SLACK_TEAM_IDS")
	}
	a.home, a.homeEnter = []string{info.TeamID}, info.EnterpriseID
	return a.home, a.homeEnter, nil
}

// cached returns the person behind a Slack user id when they were resolved
// recently, without asking Slack.
func (a *App) cached(team, userID string) (person, bool) {
	a.usersMu.Lock()
	c, ok := a.users[team+"/"+userID]
	a.usersMu.Unlock()
	if ok && a.Clock.Now().Sub(c.at) < personTTL {
		return c.p, true
	}
	return person{}, false
}

// resolve finds the Latch user behind a Slack user id, creating them on
// first contact from their Slack profile. Slack Connect users (another
// organisation's people) and the workspace's own guests are guests.
func (a *App) resolve(ctx context.Context, team, userID string) (person, error) {
	key := team + "/" + userID
	if p, ok := a.cached(team, userID); ok {
		return p, nil
	}
	su, err := a.Slack.UserInfo(ctx, userID)
	if err != nil {
		return person{}, fmt.Errorf("look up Slack user %s: %w", userID, err)
	}
	if su.Deleted || su.IsBot {
		return person{}, latch.Errorf(latch.KindForbidden, latch.CodeUnknownUser, "Latch acts only for people with an active Slack account.")
	}
	if su.Profile.Email == "" {
		return person{}, latch.Errorf(latch.KindForbidden, latch.CodeUnknownUser,
			"Slack did not share your email address with Latch, so Latch cannot tell who you are. Ask an admin to check that the app has the users:read.email scope.")
	}
	home, enterprise, err := a.homeTeams(ctx)
	if err != nil {
		return person{}, err
	}
	p := person{slack: su}
	p.connect = su.IsStranger || !slices.Contains(home, su.TeamID) &&
		(enterprise == "" || su.EnterpriseUser == nil || su.EnterpriseUser.EnterpriseID != enterprise)
	name := su.Profile.RealName
	if name == "" {
		name = su.RealName
	}
	if team == "" {
		team = su.TeamID
	}
	p.user, err = a.Engine.Users().ResolveSlack(ctx, engine.SlackPerson{Email: su.Profile.Email, Name: name,
		Team: team, UserID: userID, Guest: p.connect || su.IsRestricted || su.IsUltraRestricted})
	if err != nil {
		return person{}, err
	}
	a.usersMu.Lock()
	a.users[key] = cachedPerson{p: p, at: a.Clock.Now()}
	a.usersMu.Unlock()
	return p, nil
}

// forget drops a cached person, so that the next contact reads them again.
func (a *App) forget(team, userID string) {
	a.usersMu.Lock()
	delete(a.users, team+"/"+userID)
	a.usersMu.Unlock()
}

// SlackUserEmail returns the email of the Latch user behind the Slack user
// userID of team, as the API's user_id and team_id name them: it asks
// Slack (users.info) unless the person was resolved lately, and records
// them as on their first contact in Slack. team may be "" when the app
// belongs to one workspace. It returns a *latch.Error of kind invalid when
// team is needed or is not one of the app's workspaces, not found when
// Slack knows no such user, and forbidden for a deactivated user, a bot or
// a profile without an email.
func (a *App) SlackUserEmail(ctx context.Context, team, userID string) (string, error) {
	a.init()
	if !slackUserID.MatchString(userID) {
		return "", latch.Errorf(latch.KindInvalid, "bad_request", "user_id %q is not a Slack user id (U… or W…).", clipPlain(userID, 40))
	}
	home, _, err := a.homeTeams(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case team == "" && len(home) > 1:
		return "", latch.Errorf(latch.KindInvalid, "team_id_required", "Latch is connected to several Slack workspaces (%s): give team_id with user_id.", strings.Join(home, ", "))
	case team != "" && !slices.Contains(home, team):
		return "", latch.Errorf(latch.KindInvalid, "unknown_team", "team_id %q is not one of Latch's Slack workspaces (%s).", clipPlain(team, 40), strings.Join(home, ", "))
	}
	p, err := a.resolve(ctx, team, userID)
	if err != nil {
		if ErrorCode(err) == "user_not_found" {
			return "", latch.Errorf(latch.KindNotFound, "unknown_slack_user", "Slack knows no user %s.", userID)
		}
		return "", err
	}
	return p.user.Email, nil
}
