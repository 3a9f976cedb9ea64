package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// CreateBot makes a bot with the default rules.
func (c *Client) CreateBot(ctx context.Context, name string) (latch.User, error) {
	return c.CreateBotWith(ctx, httpapi.BotBody{Name: name})
}

// CreateBotWith makes a bot with the rules body gives.
func (c *Client) CreateBotWith(ctx context.Context, body httpapi.BotBody) (latch.User, error) {
	var u latch.User
	return u, c.do(ctx, http.MethodPost, "/v1/bots", body, &u)
}

// UpdateBot changes a bot's rules.
func (c *Client) UpdateBot(ctx context.Context, name string, body httpapi.BotUpdate) (latch.User, error) {
	var u latch.User
	return u, c.do(ctx, http.MethodPatch, "/v1/bots/"+url.PathEscape(name), body, &u)
}

// ListBots lists the bots.
func (c *Client) ListBots(ctx context.Context) ([]latch.User, error) {
	var out httpapi.BotList
	return out.Bots, c.do(ctx, http.MethodGet, "/v1/bots", nil, &out)
}

// DeleteBot revokes a bot's tokens and deletes it.
func (c *Client) DeleteBot(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/bots/"+url.PathEscape(name), nil, nil)
}

// IssueToken makes a token for a bot; the answer holds its secret, shown once.
func (c *Client) IssueToken(ctx context.Context, body httpapi.TokenBody) (httpapi.IssuedToken, error) {
	var out httpapi.IssuedToken
	return out, c.do(ctx, http.MethodPost, "/v1/tokens", body, &out)
}

// ListTokens lists every token (never a secret).
func (c *Client) ListTokens(ctx context.Context) ([]httpapi.TokenView, error) {
	var out httpapi.TokenList
	return out.Tokens, c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
}

// RevokeToken ends a token at once.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}
