package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// CreateBot makes a bot.
func (c *Client) CreateBot(ctx context.Context, name string) (latch.User, error) {
	var u latch.User
	return u, c.do(ctx, http.MethodPost, "/v1/bots", httpapi.BotBody{Name: name}, &u)
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
