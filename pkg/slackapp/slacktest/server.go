package slacktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/latchhq/latch/pkg/slackapp/blockkit"
)

// Token is the bot token the fake accepts until the test calls SetToken.
const Token = "xoxb-latch-test"

// Server is a recording fake of the Slack Web API on 127.0.0.1. It answers
// views.open, views.update, views.publish, chat.postMessage (thread replies included),
// chat.update, chat.postEphemeral, chat.getPermalink, conversations.open, users.info, users.lookupByEmail
// and auth.test in Slack's JSON
// shapes, with HTTP 200 and {"ok":false,"error":...} for failures as Slack
// does, and records every call. Views and messages are checked against
// Block Kit's structure and limits (blockkit.ValidateView and
// blockkit.ValidateMessage) and
// refused as Slack refuses them: invalid_arguments for a view,
// invalid_blocks for a message's blocks. users.info, conversations.open and
// chat.postEphemeral know only the users the test registered with AddUser.
// It is safe for concurrent use.
type Server struct {
	// URL is the Web API's base, ending in "/api/": a method's URL is URL
	// plus its name, as with https://slack.com/api/.
	URL string

	mu       sync.Mutex
	token    string
	calls    []Call
	users    map[string]*User
	views    map[string]map[string]any // id → the view as last set, with id and hash
	homes    map[string]map[string]any // user id → their Home tab
	messages map[string]bool           // channel + "/" + ts
	ims      map[string]string         // user id → D channel id
	channels map[string]string         // #name → C channel id
	posted   []string                  // channel + "/" + ts of each message posted, in order
	fail     map[string][]string       // method → errors to answer, in order
	sockets  chan *websocket.Conn      // Socket Mode connections, as they arrive
	conn     *websocket.Conn           // the Socket Mode connection in use
	allConns []*websocket.Conn
	wsURL    string
	seq      int
	latency  time.Duration
	shown    string     // the id of the view set last
	base     string     // the server's root URL
	answers  []Response // posts to response_urls
}

// Response is a message posted to a response_url the fake handed out.
type Response struct {
	Path string         // the response_url's path, e.g. "/response/commands/1"
	Body map[string]any // the message: text, blocks, response_type, replace_original
	// Problems are what Slack would refuse in it (blockkit.ValidateMessage).
	Problems []string
}

// User is a workspace member as users.info describes one.
type User struct {
	ID                string
	TeamID            string
	Email             string
	Name              string // the handle; defaults to the email's local part
	RealName          string
	Deleted           bool
	IsBot             bool
	IsRestricted      bool // a multi-channel guest
	IsUltraRestricted bool // a single-channel guest
	IsStranger        bool // from another org over Slack Connect; users.info then sends is_stranger
}

// Call is one request the fake received.
type Call struct {
	Method string // e.g. "chat.postMessage"
	Token  string // the bearer token presented, or the token parameter
	// Params are the arguments: form values as strings (the first of each),
	// or a JSON body's fields as decoded by encoding/json.
	Params map[string]any
	// Error is the error the fake answered ("" for ok), and Problems what
	// it found wrong in a view or message it refused.
	Error    string
	Problems []string
}

// Param returns the parameter key as a string: a form value as is, a JSON
// string as is, anything else (a JSON array or object) as its JSON text.
// It is "" when the parameter is absent.
func (c Call) Param(key string) string {
	switch v := c.Params[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Decode decodes the parameter key into v, whether it was sent as a JSON
// field or as a form value holding JSON (as blocks and view are).
func (c Call) Decode(key string, v any) error {
	p, ok := c.Params[key]
	if !ok {
		return fmt.Errorf("%s: no parameter %q", c.Method, key)
	}
	s, isString := p.(string)
	if !isString {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		s = string(b)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%s: parameter %q: %w", c.Method, key, err)
	}
	return nil
}

// NewServer starts a fake Slack Web API and stops it when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		token:    Token,
		users:    map[string]*User{},
		views:    map[string]map[string]any{},
		homes:    map[string]map[string]any{},
		messages: map[string]bool{},
		ims:      map[string]string{},
		channels: map[string]string{},
		fail:     map[string][]string{},
		sockets:  make(chan *websocket.Conn, 16),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serve)
	mux.HandleFunc("/link/", s.serveSocket)
	mux.HandleFunc("POST /response/", s.serveResponse)
	ts := httptest.NewServer(mux)
	tb.Cleanup(ts.Close)
	tb.Cleanup(s.closeSockets) // runs first: the server then has no hijacked connection open
	s.URL = ts.URL + "/api/"
	s.base = ts.URL
	s.wsURL = "ws" + strings.TrimPrefix(ts.URL, "http") + "/link/?ticket=fake"
	return s
}

// ResponseURL is a response_url served by the fake, named name (e.g.
// "commands/1"), for payloads to carry in place of
// https://hooks.slack.com/...; posts to it are kept (Responses).
func (s *Server) ResponseURL(name string) string { return s.base + "/response/" + name }

// Responses returns the messages posted to the fake's response_urls, in
// order.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.answers...)
}

// serveResponse takes a message posted to a response_url as Slack does:
// JSON with text and optional blocks; it answers 200 "ok", or 400
// invalid_blocks (with what was wrong kept in Problems) for a message Slack
// would refuse.
func (s *Server) serveResponse(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	text, _ := body["text"].(string)
	problems := blockkit.ValidateMessage(text, body["blocks"])
	if text == "" && body["blocks"] == nil {
		problems = append(problems, "no text")
	}
	s.mu.Lock()
	s.answers = append(s.answers, Response{Path: r.URL.Path, Body: body, Problems: problems})
	s.mu.Unlock()
	if len(problems) > 0 {
		http.Error(w, "invalid_blocks", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = w.Write([]byte("ok"))
}

// ShownView returns the view set last by views.open or views.update (as
// the fake echoes it, with its id and hash), failing the test when none
// was.
func (s *Server) ShownView(tb testing.TB) map[string]any {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.views[s.shown]
	if !ok {
		tb.Fatalf("no view was opened")
	}
	return maps.Clone(v)
}

// SetToken changes the bot token the fake accepts.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// AddUser registers a workspace member, a full member of teamID; their
// name is the email's local part. UpdateUser changes the rest.
func (s *Server) AddUser(id, teamID, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, _, _ := strings.Cut(email, "@")
	s.users[id] = &User{ID: id, TeamID: teamID, Email: email, Name: name, RealName: name}
}

// UpdateUser changes a registered user, e.g. to make them a guest:
// UpdateUser("U1", func(u *slacktest.User) { u.IsRestricted = true }).
// It panics if no user has that id, a mistake in the test.
func (s *Server) UpdateUser(id string, f func(*User)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		panic("slacktest: UpdateUser of unknown user " + id)
	}
	f(u)
}

// FailNext makes the next call of method answer {"ok":false,"error":code}
// (e.g. "expired_trigger_id", "channel_not_found", "ratelimited").
// Failures queue up, each answering one call.
func (s *Server) FailNext(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = append(s.fail[method], code)
}

// Calls returns every call received so far, in order, refused ones
// (bad token, injected failure) included.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the calls of one method, in order.
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ChannelID returns the id the fake gives the channel called name (without
// "#"): Slack answers chat.postMessage to "#name" with the channel's id.
func (s *Server) ChannelID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channelID(name)
}

func (s *Server) channelID(name string) string {
	id, ok := s.channels[name]
	if !ok {
		id = fmt.Sprintf("C%08d", s.next())
		s.channels[name] = id
	}
	return id
}

// MessageTS returns the ts of the first message posted to channel (an id),
// or "" when there is none.
func (s *Server) MessageTS(channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.posted {
		if ts, ok := strings.CutPrefix(p, channel+"/"); ok {
			return ts
		}
	}
	return ""
}

// IM returns the id of the DM channel conversations.open opened with
// user, or "" when none was opened.
func (s *Server) IM(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ims[user]
}

// Posts returns the texts of the chat.postMessage calls to channel, in order.
func (s *Server) Posts(channel string) []string {
	var out []string
	for _, c := range s.CallsTo("chat.postMessage") {
		if c.Param("channel") == channel {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

type answer map[string]any

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	params, token, err := readParams(w, r)
	if err != nil {
		writeAnswer(w, failure("invalid_form_data"))
		return
	}
	s.mu.Lock()
	c := Call{Method: method, Token: token, Params: params}
	a := s.answer(c)
	if ok, _ := a["ok"].(bool); !ok {
		c.Error, _ = a["error"].(string)
		if md, ok := a["response_metadata"].(answer); ok {
			c.Problems, _ = md["messages"].([]string)
		}
	}
	s.calls = append(s.calls, c) // recorded as it arrives
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the caller gave up
		}
	}
	writeAnswer(w, a)
}

// SetLatency makes every Web API call take d before it is answered, as a
// slow Slack would (calls are recorded when they arrive).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Refused returns the calls the fake refused as Slack would refuse their
// payload (invalid_blocks, invalid_arguments, msg_too_long...), in order.
func (s *Server) Refused() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(c.Problems) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// readParams reads a call's arguments and token as Slack accepts them: a
// JSON body with a bearer token, or form values (body or query) with a
// bearer token or a token parameter.
func readParams(w http.ResponseWriter, r *http.Request) (map[string]any, string, error) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	params := map[string]any{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&params)
		if err != nil && !errors.Is(err, io.EOF) { // an empty body is no arguments
			return nil, token, err
		}
		if params == nil {
			params = map[string]any{}
		}
		return params, token, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return nil, token, err
	}
	for k, v := range r.Form {
		params[k] = v[0]
	}
	if token == "" {
		if t, ok := params["token"].(string); ok {
			token = t
		}
	}
	return params, token, nil
}

func writeAnswer(w http.ResponseWriter, a answer) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(a)
}

func failure(code string) answer { return answer{"ok": false, "error": code} }

// refusal is Slack's answer to a payload it will not take: the error, and
// what was wrong in response_metadata.messages.
func refusal(code string, problems []string) answer {
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = "[ERROR] " + p
	}
	return answer{"ok": false, "error": code, "response_metadata": answer{"messages": msgs}}
}

// checkMessage validates a chat call's text and blocks as Slack does:
// unparseable or invalid blocks are invalid_blocks, text too long is
// msg_too_long.
func checkMessage(c Call) (answer, bool) {
	var blocks any
	if c.Params["blocks"] != nil {
		if err := c.Decode("blocks", &blocks); err != nil {
			return refusal("invalid_blocks_format", []string{err.Error()}), false
		}
	}
	if problems := blockkit.ValidateMessage(c.Param("text"), blocks); len(problems) > 0 {
		code := "invalid_blocks"
		if blocks == nil {
			code = "msg_too_long"
		}
		return refusal(code, problems), false
	}
	return nil, true
}

// answer is called with s.mu held.
func (s *Server) answer(c Call) answer {
	method, token := c.Method, c.Token
	if token == "" {
		return failure("not_authed")
	}
	if method == "apps.connections.open" {
		if token != AppToken {
			return failure("invalid_auth") // needs the app-level token, not the bot token
		}
		return answer{"ok": true, "url": s.wsURL}
	}
	if token != s.token {
		return failure("invalid_auth")
	}
	if q := s.fail[method]; len(q) > 0 {
		s.fail[method] = q[1:]
		return failure(q[0])
	}
	switch method {
	case "views.open":
		return s.viewsOpen(c)
	case "views.update":
		return s.viewsUpdate(c)
	case "views.publish":
		return s.viewsPublish(c)
	case "chat.postMessage":
		return s.postMessage(c)
	case "chat.update":
		return s.chatUpdate(c)
	case "chat.postEphemeral":
		return s.postEphemeral(c)
	case "chat.getPermalink":
		return s.permalink(c)
	case "conversations.open":
		return s.conversationsOpen(c)
	case "users.info":
		return s.usersInfo(c)
	case "users.lookupByEmail":
		return s.lookupByEmail(c)
	case "auth.test":
		return s.authTest()
	}
	return failure("unknown_method")
}

func (s *Server) next() int {
	s.seq++
	return s.seq
}

func (s *Server) ts() string { return fmt.Sprintf("1700000000.%06d", s.next()) }

func (s *Server) viewsOpen(c Call) answer {
	if c.Param("trigger_id") == "" {
		return failure("invalid_arguments")
	}
	var view map[string]any
	if err := c.Decode("view", &view); err != nil || view == nil {
		return failure("invalid_arguments")
	}
	if problems := blockkit.ValidateView(view); len(problems) > 0 {
		return refusal("invalid_arguments", problems)
	}
	id := fmt.Sprintf("V%08d", s.next())
	return answer{"ok": true, "view": s.storeView(id, view)}
}

func (s *Server) viewsUpdate(c Call) answer {
	id := c.Param("view_id")
	if id == "" && c.Param("external_id") != "" {
		for vid, v := range s.views {
			if v["external_id"] == c.Param("external_id") {
				id = vid
			}
		}
		if id == "" {
			return failure("not_found")
		}
	}
	if id == "" {
		return failure("invalid_arguments")
	}
	old, ok := s.views[id]
	if !ok {
		return failure("not_found")
	}
	if h := c.Param("hash"); h != "" && h != old["hash"] {
		return failure("hash_conflict")
	}
	var view map[string]any
	if err := c.Decode("view", &view); err != nil || view == nil {
		return failure("invalid_arguments")
	}
	if problems := blockkit.ValidateView(view); len(problems) > 0 {
		return refusal("invalid_arguments", problems)
	}
	return answer{"ok": true, "view": s.storeView(id, view)}
}

// viewsPublish answers views.publish: the user's Home tab, kept by user id
// (HomeView).
func (s *Server) viewsPublish(c Call) answer {
	user := c.Param("user_id")
	if _, ok := s.users[user]; !ok {
		return failure("user_not_found")
	}
	var view map[string]any
	if err := c.Decode("view", &view); err != nil || view == nil || view["type"] != "home" {
		return failure("invalid_arguments")
	}
	if problems := blockkit.ValidateView(view); len(problems) > 0 {
		return refusal("invalid_arguments", problems)
	}
	s.homes[user] = view
	return answer{"ok": true, "view": view}
}

// HomeView returns the Home tab last published for user, or nil.
func (s *Server) HomeView(user string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.homes[user]
}

// storeView keeps view under id with a fresh hash and returns it as Slack
// echoes it.
func (s *Server) storeView(id string, view map[string]any) map[string]any {
	out := maps.Clone(view)
	out["id"] = id
	out["hash"] = fmt.Sprintf("1700000000.%08x", s.next())
	out["root_view_id"] = id
	out["state"] = map[string]any{"values": map[string]any{}}
	for _, k := range []string{"callback_id", "private_metadata", "external_id"} {
		if _, ok := out[k]; !ok {
			out[k] = ""
		}
	}
	s.views[id] = out
	s.shown = id
	return out
}

func (s *Server) postMessage(c Call) answer {
	channel := c.Param("channel")
	if channel == "" {
		return failure("channel_not_found")
	}
	if name, ok := strings.CutPrefix(channel, "#"); ok {
		// Slack takes a channel's name and answers with its id.
		channel = s.channelID(name)
	}
	if c.Param("text") == "" && c.Param("blocks") == "" && c.Param("attachments") == "" {
		return failure("no_text")
	}
	if a, ok := checkMessage(c); !ok {
		return a
	}
	if tt := c.Param("thread_ts"); tt != "" && !s.messages[channel+"/"+tt] {
		return failure("thread_not_found") // a reply to no message of this channel
	}
	ts := s.ts()
	s.messages[channel+"/"+ts] = true
	s.posted = append(s.posted, channel+"/"+ts)
	msg := answer{"type": "message", "text": c.Param("text"), "bot_id": "B0LATCH", "ts": ts}
	addBlocks(msg, c)
	if tt := c.Param("thread_ts"); tt != "" {
		msg["thread_ts"] = tt
	}
	return answer{"ok": true, "channel": channel, "ts": ts, "message": msg}
}

func (s *Server) chatUpdate(c Call) answer {
	channel, ts := c.Param("channel"), c.Param("ts")
	if channel == "" {
		return failure("channel_not_found")
	}
	if !s.messages[channel+"/"+ts] {
		return failure("message_not_found")
	}
	if a, ok := checkMessage(c); !ok {
		return a
	}
	msg := answer{"text": c.Param("text")}
	addBlocks(msg, c)
	return answer{"ok": true, "channel": channel, "ts": ts, "text": c.Param("text"), "message": msg}
}

// addBlocks echoes the call's blocks, when it sent any that decode, in msg.
func addBlocks(msg answer, c Call) {
	if c.Params["blocks"] == nil {
		return
	}
	var blocks any
	if c.Decode("blocks", &blocks) == nil {
		msg["blocks"] = blocks
	}
}

// permalink answers chat.getPermalink for a message the fake holds.
func (s *Server) permalink(c Call) answer {
	channel, ts := c.Param("channel"), c.Param("message_ts")
	if !s.messages[channel+"/"+ts] {
		return failure("message_not_found")
	}
	return answer{"ok": true, "channel": channel, "permalink": Permalink(channel, ts)}
}

// Permalink is the link chat.getPermalink gives to the message at ts in
// channel.
func Permalink(channel, ts string) string {
	return "https://example.slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")
}

func (s *Server) postEphemeral(c Call) answer {
	if c.Param("channel") == "" {
		return failure("channel_not_found")
	}
	user := c.Param("user")
	if _, ok := s.users[user]; !ok {
		return failure("user_not_in_channel")
	}
	if a, ok := checkMessage(c); !ok {
		return a
	}
	return answer{"ok": true, "message_ts": s.ts()}
}

func (s *Server) conversationsOpen(c Call) answer {
	if ch := c.Param("channel"); ch != "" {
		return answer{"ok": true, "channel": answer{"id": ch}}
	}
	users := c.Param("users")
	if users == "" {
		return failure("users_list_not_supplied")
	}
	for _, u := range strings.Split(users, ",") {
		if _, ok := s.users[strings.TrimSpace(u)]; !ok {
			return failure("user_not_found")
		}
	}
	id, ok := s.ims[users]
	alreadyOpen := ok
	if !ok {
		id = fmt.Sprintf("D%08d", s.next())
		s.ims[users] = id
	}
	a := answer{"ok": true, "channel": answer{"id": id}}
	if c.Param("return_im") == "true" { // a form's "true" or JSON's true
		a["no_op"], a["already_open"] = alreadyOpen, alreadyOpen
	}
	return a
}

// lookupByEmail answers users.lookupByEmail: users_not_found unless a
// registered user has the email (compared case-insensitively, as Slack does).
func (s *Server) lookupByEmail(c Call) answer {
	email := c.Param("email")
	if email == "" {
		return failure("invalid_arguments")
	}
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) && !u.IsStranger {
			return answer{"ok": true, "user": userJSON(u)}
		}
	}
	return failure("users_not_found")
}

// authTest answers auth.test for the bot token: the workspace is Team.
func (s *Server) authTest() answer {
	return answer{"ok": true, "url": "https://example.slack.com/", "team": "Example", "user": "latch",
		"team_id": Team, "user_id": "U0LATCHBOT", "bot_id": "B0LATCH", "is_enterprise_install": false}
}

// Team is the workspace the fake's bot token belongs to (auth.test).
const Team = "T0LATCH"

func (s *Server) usersInfo(c Call) answer {
	u, ok := s.users[c.Param("user")]
	if !ok {
		return failure("user_not_found")
	}
	return answer{"ok": true, "user": userJSON(u)}
}

// userJSON is a user as users.info describes one.
func userJSON(u *User) answer {
	profile := answer{
		"email":                   u.Email,
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.Name,
		"display_name_normalized": u.Name,
		"team":                    u.TeamID,
	}
	user := answer{
		"id":                  u.ID,
		"team_id":             u.TeamID,
		"name":                u.Name,
		"real_name":           u.RealName,
		"deleted":             u.Deleted,
		"is_bot":              u.IsBot,
		"is_app_user":         false,
		"is_admin":            false,
		"is_owner":            false,
		"is_restricted":       u.IsRestricted,
		"is_ultra_restricted": u.IsUltraRestricted,
		"tz":                  "Europe/London",
		"profile":             profile,
	}
	if u.IsStranger {
		user["is_stranger"] = true
	}
	return user
}
