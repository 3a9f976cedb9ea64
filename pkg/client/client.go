// Package client is a Go client for Latch's JSON API, used by the CLI and
// the end-to-end tests. API errors come back as *latch.Error values with the
// server's code, message and details.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// Client talks to one Latch server.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string
	HTTP    *http.Client
}

// New returns a client for baseURL with a bearer token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: http.DefaultClient}
}

// CreateRequest asks for access on a person's behalf.
func (c *Client) CreateRequest(ctx context.Context, body httpapi.CreateBody) (latch.Request, error) {
	var r latch.Request
	return r, c.do(ctx, http.MethodPost, "/v1/requests", body, &r)
}

// Act approves, denies, revokes, cancels or retries a request as a person.
func (c *Client) Act(ctx context.Context, id, action string, body httpapi.ActionBody) (latch.Request, error) {
	var r latch.Request
	return r, c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/"+url.PathEscape(action), body, &r)
}

// GetRequest reads one request.
func (c *Client) GetRequest(ctx context.Context, id string) (latch.Request, error) {
	var r latch.Request
	return r, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id), nil, &r)
}

// Wait long-polls the request: it answers as soon as the request is settled
// (see httpapi.Settled) or after timeout (at most httpapi.MaxWait), with the
// request as it then is.
func (c *Client) Wait(ctx context.Context, id string, timeout time.Duration) (latch.Request, error) {
	var r latch.Request
	q := url.Values{"timeout": {(timeout + time.Second - 1).Truncate(time.Second).String()}} // whole seconds, rounded up
	return r, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"/wait?"+q.Encode(), nil, &r)
}

// ListRequests lists requests, newest first.
func (c *Client) ListRequests(ctx context.Context, f latch.RequestFilter) ([]latch.Request, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Flow != "" {
		q.Set("flow", f.Flow)
	}
	if f.User != "" {
		q.Set("user", f.User)
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	path := "/v1/requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out httpapi.RequestList
	return out.Requests, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Events reads a request's audit trail.
func (c *Client) Events(ctx context.Context, id string) ([]latch.AuditEvent, error) {
	var out httpapi.EventList
	return out.Events, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"/events", nil, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.send(ctx, method, path, ctype, body, out)
}

// send performs a call with a body of the given content type and decodes a
// JSON answer into out (when out is not nil).
func (c *Client) send(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	resp, err := c.roundTrip(ctx, method, path, ctype, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return apiError(resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) roundTrip(ctx context.Context, method, path, ctype string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

func apiError(status int, data []byte) error {
	var eb httpapi.ErrorBody
	if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Code == "" {
		return &latch.Error{Kind: kindOf(status), Code: "http_" + fmt.Sprint(status),
			Message: fmt.Sprintf("The server answered %d %s.", status, http.StatusText(status))}
	}
	return &latch.Error{Kind: kindOf(status), Code: eb.Error.Code, Message: eb.Error.Message, Details: eb.Error.Details}
}

func kindOf(status int) latch.ErrorKind {
	switch status {
	case http.StatusNotFound:
		return latch.KindNotFound
	case http.StatusConflict:
		return latch.KindConflict
	case http.StatusForbidden:
		return latch.KindForbidden
	case http.StatusUnauthorized:
		return latch.KindUnauthorized
	}
	if status >= 400 && status < 500 {
		return latch.KindInvalid
	}
	return latch.KindInternal
}
