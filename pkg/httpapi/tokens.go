package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// tokenRoutes adds the routes that manage bots and their tokens (admins).
func (s *Server) tokenRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/bots", s.admin(s.listBots))
	mux.Handle("POST /v1/bots", s.admin(s.createBot))
	mux.Handle("PATCH /v1/bots/{name}", s.admin(s.updateBot))
	mux.Handle("DELETE /v1/bots/{name}", s.admin(s.deleteBot))
	mux.Handle("GET /v1/tokens", s.admin(s.listTokens))
	mux.Handle("POST /v1/tokens", s.admin(s.issueToken))
	mux.Handle("DELETE /v1/tokens/{id}", s.admin(s.revokeToken))
}

// BotBody is the body of POST /v1/bots: the bot's name and its rules over
// the people it speaks for (CEL; empty: the defaults, see tokens.BotRules).
type BotBody struct {
	Name          string `json:"name"`
	MayRequestFor string `json:"may_request_for,omitempty"`
	MayDecideAs   string `json:"may_decide_as,omitempty"`
}

// BotUpdate is the body of PATCH /v1/bots/{name}: a rule left out stays as
// it is; "" puts it back to its default.
type BotUpdate struct {
	MayRequestFor *string `json:"may_request_for,omitempty"`
	MayDecideAs   *string `json:"may_decide_as,omitempty"`
}

// BotList is the answer of GET /v1/bots.
type BotList struct {
	Bots []latch.User `json:"bots"`
}

func (s *Server) listBots(w http.ResponseWriter, r *http.Request, _ Principal) error {
	bots, err := s.Tokens.Bots(r.Context())
	if err != nil {
		return err
	}
	if bots == nil {
		bots = []latch.User{}
	}
	writeJSON(w, http.StatusOK, BotList{Bots: bots})
	return nil
}

func (s *Server) createBot(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body BotBody
	if err := decode(r, &body); err != nil {
		return err
	}
	u, err := s.Tokens.CreateBot(r.Context(), body.Name, tokens.BotRules{MayRequestFor: body.MayRequestFor, MayDecideAs: body.MayDecideAs})
	if err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditBotCreated, u.Email, botData(u))
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) updateBot(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body BotUpdate
	if err := decode(r, &body); err != nil {
		return err
	}
	u, err := s.Tokens.UpdateBot(r.Context(), r.PathValue("name"), body.MayRequestFor, body.MayDecideAs)
	if err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditBotUpdated, u.Email, botData(u))
	writeJSON(w, http.StatusOK, u)
	return nil
}

// botData is what the admin audit trail records of a bot.
func botData(u latch.User) map[string]any {
	return map[string]any{"bot": u.Name, tokens.RuleMayRequestFor: u.MayRequestFor, tokens.RuleMayDecideAs: u.MayDecideAs}
}

func (s *Server) deleteBot(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := s.Tokens.DeleteBot(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditBotDeleted, "", map[string]any{"bot": r.PathValue("name")})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// TokenBody is the body of POST /v1/tokens. ExpiresIn is written 90d, 12h
// or in whole seconds; empty means the token does not expire.
type TokenBody struct {
	Bot       string   `json:"bot"`
	Label     string   `json:"label"`
	Scopes    []string `json:"scopes"`
	ExpiresIn string   `json:"expires_in"`
}

// TokenView is a token as the API shows it: never its secret or hash.
type TokenView struct {
	ID        string     `json:"id"`
	Label     string     `json:"label"`
	Owner     string     `json:"owner"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func viewToken(t latch.Token) TokenView {
	return TokenView{ID: t.ID, Label: t.Label, Owner: t.Owner, Scopes: t.Scopes, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

// IssuedToken is the answer of POST /v1/tokens: the secret, shown this once,
// and the token's record.
type IssuedToken struct {
	Secret string    `json:"secret"`
	Token  TokenView `json:"token"`
}

// TokenList is the answer of GET /v1/tokens.
type TokenList struct {
	Tokens []TokenView `json:"tokens"`
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body TokenBody
	if err := decode(r, &body); err != nil {
		return err
	}
	var ttl time.Duration
	if body.ExpiresIn != "" {
		d, err := latch.ParseDuration(body.ExpiresIn)
		if n, nerr := strconv.ParseInt(body.ExpiresIn, 10, 64); nerr == nil && n > 0 {
			d, err = time.Duration(n)*time.Second, nil // whole seconds
		}
		if err != nil {
			return latch.Errorf(latch.KindInvalid, "invalid_expiry", "expires_in: %v.", err)
		}
		ttl = d
	}
	secret, t, err := s.Tokens.Issue(r.Context(), tokens.IssueInput{Bot: body.Bot, Label: body.Label, Scopes: body.Scopes, ExpiresIn: ttl})
	if err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditTokenIssued, t.Owner, map[string]any{"token": t.ID, "label": t.Label, "scopes": t.Scopes})
	writeJSON(w, http.StatusCreated, IssuedToken{Secret: secret, Token: viewToken(t)})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ Principal) error {
	ts, err := s.Tokens.List(r.Context())
	if err != nil {
		return err
	}
	out := TokenList{Tokens: make([]TokenView, len(ts))}
	for i, t := range ts {
		out.Tokens[i] = viewToken(t)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := s.Tokens.Revoke(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditTokenRevoked, "", map[string]any{"token": r.PathValue("id")})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
