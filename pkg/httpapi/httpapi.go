// Package httpapi is Latch's JSON API on /v1: create, read, list and decide
// requests, and read their audit trail. The same handler is served by
// `latch server` and by the API Lambda. Errors are answered as
// {"error":{"code","message","details"}} with a fitting 4xx; a returned 5xx
// means a fault of ours.
package httpapi

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
	"github.com/latchhq/latch/pkg/version"
)

// MaxBodyBytes is the largest request body the API reads.
const MaxBodyBytes = 1 << 20

// Server serves the API.
type Server struct {
	Engine    *engine.Engine
	Directory *identity.Directory
	Tokens    *tokens.Service
	Store     latch.Store
	Feed      latch.AuditFeed // nil when the store has no feed (AWS): GET /v1/audit is then not served
	Queue     latch.Queue
	// Submit, when set, hands a new request to the engine through a queue
	// (the API Lambda): the API checks the request, answers 202 with it as
	// it will be recorded, and the approvals function records it. Nil: the
	// request is recorded before the answer (latch server).
	Submit func(ctx context.Context, in engine.CreateInput) error
	Auth   Authenticator
	Clock  latch.Clock
	Log    *slog.Logger
	// RateLimit applies to each token (the bootstrap token included).
	RateLimit RateLimit
	// Backup, when set, serves GET /v1/backup to admins: a consistent copy
	// of the store (latch server's bbolt file).
	Backup Backuper
	// Ready, when set, proves the service can do its work (latch server:
	// that the store can commit, see CommitProbe); GET /readyz answers 503
	// when it fails. Nil: /readyz answers as /healthz does.
	Ready func(ctx context.Context) error
	// Metrics, when set, is served on GET /metrics without a token.
	Metrics http.Handler
	// Observe, when set, is told of every call once it is answered: its
	// route pattern (see Route), status and duration.
	Observe func(route string, status int, d time.Duration)
	// SlackUsers, when set, lets a new request name its person by Slack
	// user id (user_id, and team_id when several workspaces are
	// connected) instead of user_email.
	SlackUsers SlackUsers
	// Reconcile, when set, serves POST /v1/reconcile to admins: the drift
	// check run now (latch server).
	Reconcile Reconciler

	limiter *limiter
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Clock == nil {
		s.Clock = latch.SystemClock
	}
	s.limiter = &limiter{limit: s.RateLimit, clock: s.Clock, buckets: map[string]*bucket{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, version.Get())
	})
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	mux.Handle("GET /v1/flows", s.scoped(tokens.ScopeRead, s.listFlows))
	mux.Handle("POST /v1/requests", s.scoped(tokens.ScopeWrite, s.createRequest))
	mux.Handle("GET /v1/requests", s.scoped(tokens.ScopeRead, s.listRequests))
	mux.Handle("GET /v1/requests/{id}", s.scoped(tokens.ScopeRead, s.getRequest))
	mux.Handle("GET /v1/requests/{id}/events", s.scoped(tokens.ScopeRead, s.listEvents))
	mux.Handle("GET /v1/requests/{id}/wait", s.scoped(tokens.ScopeRead, s.waitRequest))
	mux.Handle("GET /v1/audit", s.scoped(tokens.ScopeRead, s.listAudit))
	mux.Handle("POST /v1/requests/{id}/{action}", s.authed(s.act))
	mux.Handle("POST /v1/requests/{id}/extend", s.authed(s.extend))
	s.adminRoutes(mux)
	s.tokenRoutes(mux)
	if s.Backup != nil {
		mux.Handle("GET /v1/backup", s.admin(s.backup))
	}
	if s.Reconcile != nil {
		mux.Handle("POST /v1/reconcile", s.admin(s.reconcile))
	}
	mux.HandleFunc("/", s.notRouted(mux))
	return s.access(mux)
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p Principal) error

// scoped serves h to principals holding scope.
func (s *Server) scoped(scope string, h handlerFunc) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p Principal) error {
		if err := needScope(p, scope); err != nil {
			return err
		}
		return h(w, r, p)
	})
}

func needScope(p Principal, scope string) error {
	if p.Has(scope) {
		return nil
	}
	return &latch.Error{Kind: latch.KindForbidden, Code: "missing_scope",
		Message: fmt.Sprintf("This token lacks the %s scope.", scope), Details: map[string]any{"scope": scope}}
}

func (s *Server) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Auth.Authenticate(r)
		if err == nil {
			noteCaller(r, p)
			key := p.TokenID
			if key == "" {
				key = p.Name
			}
			if ok, retry := s.limiter.allow(key); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
				err = rateLimited(retry)
			}
		}
		if err != nil {
			// Refused before the body was read: it is never read.
			closeUnread(w, r)
		} else {
			err = h(w, r, p)
		}
		if err != nil {
			writeError(w, r, s.Log, err)
		}
	})
}

// closeUnread makes the answer to a request whose body will not be read the
// connection's last, sent at once: net/http would otherwise read up to 256
// KiB of the body, before answering or (for a chunked body) after, to reuse
// the connection, at whatever pace the caller sends it. "Connection: close"
// skips the read before the answer; a read deadline in the past ends the one
// after it at once, and the connection is closed. Where there is no
// connection (the API Lambda's buffered answers), nothing changes.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	if err := http.NewResponseController(w).SetReadDeadline(time.Now()); err != nil {
		return
	}
	w.Header().Set("Connection", "close")
}

// SlackUsers finds the person behind a Slack user id.
type SlackUsers interface {
	// SlackUserEmail returns the email of the Slack user userID of team
	// (team may be "" when one workspace is connected), asking Slack
	// (users.info). It returns a *latch.Error of kind invalid when team is
	// needed or not one of Latch's workspaces, not found when Slack knows
	// no such user, and forbidden for a deactivated user or a bot.
	SlackUserEmail(ctx context.Context, team, userID string) (string, error)
}

// CreateBody is the body of POST /v1/requests. The person is named by
// user_email, or by user_id (a Slack user id; team_id too when several
// workspaces are connected).
type CreateBody struct {
	Flow      string         `json:"flow"`
	UserEmail string         `json:"user_email"`
	UserID    string         `json:"user_id,omitempty"`
	TeamID    string         `json:"team_id,omitempty"`
	Fields    map[string]any `json:"fields"`
	Context   map[string]any `json:"context"`
	// StartsAt (RFC 3339) asks for the access to start then rather than on
	// approval, where the flow allows a scheduled start.
	StartsAt string `json:"starts_at,omitempty"`
	// BreakGlass asks for access at once, with no approver, on a flow with
	// break_glass; Reason (required then) says why.
	BreakGlass bool   `json:"break_glass,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// slackPerson fills body.UserEmail from body.UserID, when the body names
// the person that way.
func (s *Server) slackPerson(ctx context.Context, body *CreateBody) error {
	if body.UserID == "" {
		if body.TeamID != "" {
			return latch.Errorf(latch.KindInvalid, "bad_request", "team_id goes with user_id.")
		}
		return nil
	}
	if strings.TrimSpace(body.UserEmail) != "" {
		return latch.Errorf(latch.KindInvalid, "bad_request", "Name the person by user_email or by user_id, not both.")
	}
	if s.SlackUsers == nil {
		return latch.Errorf(latch.KindInvalid, "slack_not_configured", "user_id names a Slack user, but Latch is not connected to Slack; give user_email.")
	}
	email, err := s.SlackUsers.SlackUserEmail(ctx, body.TeamID, body.UserID)
	if err != nil {
		return err
	}
	body.UserEmail = email
	return nil
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body CreateBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := s.slackPerson(r.Context(), &body); err != nil {
		return err
	}
	missing := map[string]any{}
	if strings.TrimSpace(body.Flow) == "" {
		missing["flow"] = "is required"
	}
	if strings.TrimSpace(body.UserEmail) == "" {
		missing["user_email"] = "is required (or user_id): the person the access is for"
	}
	if len(missing) > 0 {
		return &latch.Error{Kind: latch.KindInvalid, Code: "missing_fields",
			Message: "The body must name the flow and the user_email of the person asking.", Details: missing}
	}
	if err := s.botMayRequestFor(r.Context(), p, body.UserEmail); err != nil {
		return err
	}
	in := engine.CreateInput{Flow: body.Flow, UserEmail: body.UserEmail,
		CreatedBy: p.actorFor(body.UserEmail), Source: latch.SourceAPI, Fields: body.Fields, Context: body.Context}
	start, err := startsAt(body.StartsAt)
	if err != nil {
		return err
	}
	in.StartsAt = start
	if body.BreakGlass {
		in.BreakGlass, in.Reason = true, body.Reason
	} else if body.Reason != "" {
		return &latch.Error{Kind: latch.KindInvalid, Code: "bad_request",
			Message: "reason goes with break_glass; a request's reason is one of its fields.", Details: map[string]any{"reason": "is allowed only with break_glass"}}
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if len(key) > 255 {
			return latch.Errorf(latch.KindInvalid, "bad_request", "The Idempotency-Key header is longer than 255 characters.")
		}
		in.ID = idempotentID(p, key)
	}
	req, err := s.create(r.Context(), in)
	if errors.Is(err, engine.ErrExists) {
		// A retry: answer with the request the first call made, if it is
		// the same ask.
		if req, err = s.Store.GetRequest(r.Context(), in.ID); err != nil {
			return err
		}
		if req.Flow != body.Flow || req.Requester.Email != latch.NormalizeEmail(body.UserEmail) {
			return latch.Errorf(latch.KindInvalid, "idempotency_key_reused",
				"The Idempotency-Key %q was used for request %s through flow %q for %s; use a new key for a different request.",
				key, req.ID, req.Flow, req.Requester.Email)
		}
		w.Header().Set("Idempotent-Replayed", "true")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, req)
	return nil
}

// create records the request, or checks it and hands it to Submit.
func (s *Server) create(ctx context.Context, in engine.CreateInput) (latch.Request, error) {
	if s.Submit == nil {
		return s.Engine.Create(ctx, in)
	}
	if in.ID != "" {
		// A retry whose first call was recorded already.
		if _, err := s.Store.GetRequest(ctx, in.ID); err == nil {
			return latch.Request{}, engine.ErrExists
		} else if !errors.Is(err, latch.ErrNotFound) {
			return latch.Request{}, err
		}
	}
	c, err := s.Engine.Prepare(ctx, in)
	if err != nil {
		return latch.Request{}, err
	}
	req := c.Requests[0]
	in.ID = req.ID
	if err := s.Submit(ctx, in); err != nil {
		return latch.Request{}, err
	}
	return req, nil
}

// idempotentID is the request id a principal's idempotency key stands for:
// the same key from the same caller always names the same request.
func idempotentID(p Principal, key string) string {
	caller := p.TokenID
	if caller == "" {
		caller = p.Name
	}
	sum := sha256.Sum256([]byte(caller + "\x00" + key))
	return "req_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))[:26]
}

// ActionBody is the body of POST /v1/requests/{id}/approve|deny|revoke|cancel|retry.
type ActionBody struct {
	As     string `json:"as"`
	Reason string `json:"reason"`
}

var actions = map[string]latch.CommandKind{
	"approve": latch.CmdApprove, "deny": latch.CmdDeny, "revoke": latch.CmdRevoke,
	"cancel": latch.CmdCancel, "retry": latch.CmdRetry,
	"review": latch.CmdReview, // a break glass's reviewer acknowledges it
}

// actionScopes is the scope each action needs: acting as an approver needs
// requests:approve; withdrawing a request one made needs requests:write.
var actionScopes = map[latch.CommandKind]string{
	latch.CmdApprove: tokens.ScopeApprove, latch.CmdDeny: tokens.ScopeApprove, latch.CmdRevoke: tokens.ScopeApprove,
	latch.CmdRetry: tokens.ScopeApprove, latch.CmdCancel: tokens.ScopeWrite,
	latch.CmdReview: tokens.ScopeApprove,
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, p Principal) error {
	kind, ok := actions[r.PathValue("action")]
	if !ok {
		return latch.Errorf(latch.KindNotFound, "route_not_found",
			"There is no action %q; use approve, deny, revoke, cancel, retry or review.", r.PathValue("action"))
	}
	if err := needScope(p, actionScopes[kind]); err != nil {
		return err
	}
	var body ActionBody
	if err := decode(r, &body); err != nil {
		return err
	}
	actor, err := s.actor(r.Context(), p, kind, body.As)
	if err != nil {
		return err
	}
	cmd := latch.Command{ID: engine.NewID("cmd"), Kind: kind, RequestID: r.PathValue("id"),
		Actor: actor, Reason: body.Reason, Source: latch.SourceAPI, At: s.Clock.Now()}
	return s.send(w, r, cmd)
}

// send judges a person's command as the engine will, hands it to the
// queue, and answers 202 with the request as it then stands.
func (s *Server) send(w http.ResponseWriter, r *http.Request, cmd latch.Command) error {
	ctx := context.WithoutCancel(r.Context())
	if err := s.Engine.Check(ctx, cmd); err != nil {
		return err
	}
	if err := s.Queue.Publish(ctx, cmd); err != nil {
		return err
	}
	req, err := s.Store.GetRequest(ctx, cmd.RequestID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, req)
	return nil
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, _ Principal) error {
	req, err := s.request(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

// RequestList is the answer of GET /v1/requests.
type RequestList struct {
	Requests []latch.Request `json:"requests"`
	// Next, when set, continues the list: GET the same list with
	// cursor=Next for the requests after these.
	Next string `json:"next,omitempty"`
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, _ Principal) error {
	q := r.URL.Query()
	f := latch.RequestFilter{Status: latch.Status(q.Get("status")), Flow: q.Get("flow"), User: latch.NormalizeEmail(q.Get("user"))}
	if f.Status != "" && !f.Status.Valid() {
		return latch.Errorf(latch.KindInvalid, "bad_request", "Unknown status %q.", f.Status)
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return latch.Errorf(latch.KindInvalid, "bad_request", "limit must be a whole number from 1 to 1000.")
		}
		f.Limit = n
	}
	if err := listRange(q, &f); err != nil {
		return err
	}
	limit := cmp.Or(f.Limit, 100)
	f.Limit = limit + 1 // one more says whether there is a next page
	reqs, err := s.Store.ListRequests(r.Context(), f)
	if err != nil {
		return err
	}
	list := RequestList{Requests: reqs[:min(len(reqs), limit)]}
	if len(reqs) > limit {
		list.Next = encodeCursor(f, reqs[limit-1].ListKey())
	}
	if list.Requests == nil {
		list.Requests = []latch.Request{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// EventList is the answer of GET /v1/requests/{id}/events.
type EventList struct {
	Events []latch.AuditEvent `json:"events"`
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, _ Principal) error {
	id := r.PathValue("id")
	if _, err := s.request(r.Context(), id); err != nil {
		return err
	}
	evs, err := s.Store.AuditEvents(r.Context(), id)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []latch.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, EventList{Events: evs})
	return nil
}

// FlowView is a flow as the API shows it.
type FlowView struct {
	Name     string       `json:"name"`
	Label    string       `json:"label"`
	Sources  []string     `json:"sources"`
	Fields   []FieldView  `json:"fields"`
	Targets  []TargetView `json:"targets,omitempty"`
	Strategy string       `json:"strategy,omitempty"`
}

// FieldView is a flow field as the API shows it.
type FieldView struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Label         string `json:"label,omitempty"`
	Required      bool   `json:"required"`
	Default       any    `json:"default,omitempty"`
	AllowedValues []any  `json:"allowed_values,omitempty"`
}

// TargetView is a strategy target as the API shows it.
type TargetView struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

func (s *Server) listFlows(w http.ResponseWriter, _ *http.Request, _ Principal) error {
	out := struct {
		Flows []FlowView `json:"flows"`
	}{Flows: []FlowView{}}
	for _, f := range s.Engine.Flows().All() {
		if !f.AllowsSource(latch.SourceAPI) {
			continue
		}
		v := FlowView{Name: f.Name, Label: f.Label, Sources: []string{}, Fields: []FieldView{}}
		for _, src := range []latch.Source{latch.SourceSlack, latch.SourceAPI} {
			if f.AllowsSource(src) {
				v.Sources = append(v.Sources, string(src))
			}
		}
		for _, fl := range f.Fields {
			v.Fields = append(v.Fields, FieldView{Name: fl.Name, Type: string(fl.Type), Label: fl.Label,
				Required: fl.Required, Default: fl.Default, AllowedValues: fl.AllowedValues})
		}
		if f.Strategy != nil {
			v.Strategy = f.Strategy.Type
			for _, t := range f.Strategy.Targets {
				v.Targets = append(v.Targets, TargetView{ID: t.ID, Label: t.Label})
			}
		}
		out.Flows = append(out.Flows, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) request(ctx context.Context, id string) (latch.Request, error) {
	req, err := s.Store.GetRequest(ctx, id)
	if errors.Is(err, latch.ErrNotFound) {
		return req, latch.Errorf(latch.KindNotFound, "request_not_found", "There is no request %q.", id)
	}
	return req, err
}

// actorFor records who acts: the person named, and the bot when a bot's
// token speaks for them.
func (p Principal) actorFor(email string) latch.Actor {
	return latch.Actor{Email: latch.NormalizeEmail(email), Bot: p.Bot}
}

// decode reads one JSON object into v, refusing unknown keys, trailing data
// and bodies over MaxBodyBytes.
func decode(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return latch.Errorf(latch.KindInvalid, "bad_json", "The body must hold exactly one JSON object.")
	}
	return nil
}

func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return latch.Errorf(latch.KindInvalid, "body_too_large", "The body is larger than %d bytes.", MaxBodyBytes)
	case errors.Is(err, io.EOF):
		return latch.Errorf(latch.KindInvalid, "bad_json", "The body is empty; send a JSON object.")
	case errors.As(err, &syntax):
		return latch.Errorf(latch.KindInvalid, "bad_json", "The body is not valid JSON (at byte %d): %v.", syntax.Offset, err)
	case errors.As(err, &typ):
		return latch.Errorf(latch.KindInvalid, "bad_json", "%q must be %s, not a JSON %s.", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return latch.Errorf(latch.KindInvalid, "bad_json", "The body has an unknown key %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return latch.Errorf(latch.KindInvalid, "bad_json", "The body is not valid JSON: %v.", err)
}
