// Package client is a Go client for Latch's JSON API, used by the CLI and
// the end-to-end tests. API errors come back as *latch.Error values with the
// server's code, message and details.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// Client talks to one Latch server.
//
// A call refused with 429 is tried again as the answer's Retry-After says. A
// call that failed on the way (the connection dropped, a 502/503/504, any
// 5xx) is tried again when repeating it cannot do a thing twice: a GET, PUT
// or DELETE, or a POST with an Idempotency-Key (CreateRequest always sends
// one). Waits grow exponentially with jitter, bounded by Retry.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string
	HTTP    *http.Client
	Retry   Retry
	// OnRetry, when set, is told of each call that will be tried again and
	// how long the client waits first.
	OnRetry func(method, path string, err error, wait time.Duration)
}

// Retry bounds how often and how long a call is tried.
type Retry struct {
	Attempts int           // tries in all, the first included; 1 or less: no retries
	Base     time.Duration // the first backoff; each retry doubles it, with full jitter
	Max      time.Duration // the longest single wait, Retry-After included
}

// DefaultRetry is New's policy: 5 tries, backoffs of up to 0.25s, 0.5s, 1s,
// 2s, and never a wait over 30s.
var DefaultRetry = Retry{Attempts: 5, Base: 250 * time.Millisecond, Max: 30 * time.Second}

// NoRetry tries each call once.
var NoRetry = Retry{Attempts: 1}

// New returns a client for baseURL with a bearer token and DefaultRetry.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: http.DefaultClient, Retry: DefaultRetry}
}

// CreateRequest asks for access on a person's behalf, with a new
// Idempotency-Key so that a retried call cannot make a second request.
func (c *Client) CreateRequest(ctx context.Context, body httpapi.CreateBody) (latch.Request, error) {
	return c.CreateRequestWithKey(ctx, NewIdempotencyKey(), body)
}

// CreateRequestWithKey asks for access with the given Idempotency-Key: the
// same key from the same token always names the same request, however often
// the call is made (the server answers a repeat with the first request).
func (c *Client) CreateRequestWithKey(ctx context.Context, key string, body httpapi.CreateBody) (latch.Request, error) {
	var r latch.Request
	b, err := json.Marshal(body)
	if err != nil {
		return r, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	return r, c.call(ctx, http.MethodPost, "/v1/requests", h, b, &r)
}

// NewIdempotencyKey returns a random key for CreateRequestWithKey.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "latch-" + hex.EncodeToString(b[:])
}

// ListFlows lists the flows that can be requested through the API.
func (c *Client) ListFlows(ctx context.Context) ([]httpapi.FlowView, error) {
	var out struct {
		Flows []httpapi.FlowView `json:"flows"`
	}
	return out.Flows, c.do(ctx, http.MethodGet, "/v1/flows", nil, &out)
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

// ListRequests lists requests, newest first: the first page of at most
// f.Limit (the server's default when 0). ListRequestsPage gives the cursor
// of the next; AllRequests follows them.
func (c *Client) ListRequests(ctx context.Context, f latch.RequestFilter) ([]latch.Request, error) {
	page, err := c.ListRequestsPage(ctx, f, "")
	return page.Requests, err
}

// ListRequestsPage returns one page of the requests f selects, newest
// first, at most f.Limit: the first when cursor is "", else the one after
// the page whose Next it is. The page's Next is "" on the last page.
func (c *Client) ListRequestsPage(ctx context.Context, f latch.RequestFilter, cursor string) (httpapi.RequestList, error) {
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
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	path := "/v1/requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out httpapi.RequestList
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// AllRequests returns every request f selects, newest first, reading
// pages of f.Limit (the server's most, 1000, when 0) and following each
// page's cursor.
func (c *Client) AllRequests(ctx context.Context, f latch.RequestFilter) ([]latch.Request, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	var all []latch.Request
	cursor := ""
	for {
		page, err := c.ListRequestsPage(ctx, f, cursor)
		if err != nil {
			return all, err
		}
		all = append(all, page.Requests...)
		if page.Next == "" {
			return all, nil
		}
		cursor = page.Next
	}
}

// Events reads a request's audit trail.
func (c *Client) Events(ctx context.Context, id string) ([]latch.AuditEvent, error) {
	var out httpapi.EventList
	return out.Events, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"/events", nil, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	h := http.Header{}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = b
		h.Set("Content-Type", "application/json")
	}
	return c.call(ctx, method, path, h, body, out)
}

// send performs a call with a body of the given content type and decodes a
// JSON answer into out (when out is not nil).
func (c *Client) send(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = io.ReadAll(body); err != nil {
			return err
		}
	}
	h := http.Header{}
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	return c.call(ctx, method, path, h, b, out)
}

// call performs a call, trying again as the Client's doc says, and decodes a
// JSON answer into out (when out is not nil).
func (c *Client) call(ctx context.Context, method, path string, h http.Header, body []byte, out any) error {
	data, err := c.exchange(ctx, method, path, h, body, 16<<20)
	if err != nil || out == nil || len(data) == 0 {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// exchange performs a call with retries and returns the body of a 2xx
// answer (at most limit bytes), or the error of the last try.
func (c *Client) exchange(ctx context.Context, method, path string, h http.Header, body []byte, limit int64) ([]byte, error) {
	attempts := max(c.Retry.Attempts, 1)
	repeatable := method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete ||
		h.Get("Idempotency-Key") != ""
	for try := 1; ; try++ {
		status, retryAfter, data, err := c.once(ctx, method, path, h, body, limit)
		if err == nil && status < 300 {
			return data, nil
		}
		if err == nil {
			err = apiError(status, data)
		}
		retry := false
		switch {
		case ctx.Err() != nil:
		case status == http.StatusTooManyRequests:
			retry = true // refused before it was read: always safe
		case status >= 500 || status == 0:
			retry = repeatable
		}
		if !retry || try >= attempts {
			return nil, err
		}
		wait := c.backoff(try, retryAfter)
		if c.OnRetry != nil {
			c.OnRetry(method, path, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// backoff is how long to wait before try+1: what Retry-After asks, or an
// exponential backoff with full jitter, never over Retry.Max.
func (c *Client) backoff(try int, retryAfter time.Duration) time.Duration {
	limit := c.Retry.Max
	if limit <= 0 {
		limit = DefaultRetry.Max
	}
	if retryAfter > 0 {
		// A little jitter on top, so that clients refused together do not
		// all come back in the same instant.
		return min(retryAfter+time.Duration(mrand.Int64N(int64(100*time.Millisecond))), limit)
	}
	base := c.Retry.Base
	if base <= 0 {
		base = DefaultRetry.Base
	}
	ceiling := min(base<<(try-1), limit)
	return time.Duration(mrand.Int64N(int64(ceiling))) + 1
}

// once performs one try. A status of 0 means no answer came.
func (c *Client) once(ctx context.Context, method, path string, h http.Header, body []byte, limit int64) (status int, retryAfter time.Duration, data []byte, err error) {
	resp, err := c.roundTrip(ctx, method, path, h, body)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), data, nil
}

// roundTrip sends one try and returns the answer unread: the caller closes
// its body.
func (c *Client) roundTrip(ctx context.Context, method, path string, h http.Header, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
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

// parseRetryAfter reads Retry-After as seconds or an HTTP date (0 when
// absent or unreadable).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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
	case http.StatusTooManyRequests:
		return latch.KindTooMany
	}
	if status >= 400 && status < 500 {
		return latch.KindInvalid
	}
	return latch.KindInternal
}
